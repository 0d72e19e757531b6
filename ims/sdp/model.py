"""The SDP data model: parse, typed access, serialize (RFC 4566 / RFC 8866).

A :class:`SessionDescription` is a plain dataclass tree (origin, connection,
times, attributes, one :class:`Media` per ``m=`` line) built by
:meth:`SessionDescription.parse` and written back by
:meth:`SessionDescription.to_bytes` in the field order of RFC 4566 §5, with
CRLF line ends.  A well-formed CRLF body serializes to the bytes it came
from; unknown line types and attributes are kept.  Every malformed input
raises :class:`SdpError` naming the line, and nothing else whatever the
input: numbers are ASCII digits of bounded length (20; 64 for o= sess-id)
and a body has at most 2,000 lines; the error carries the SIP answer (488
with a Warning-friendly reason).

The helpers on :class:`Media` read the attributes VoLTE relies on: rtpmap and
fmtp (RFC 4566 §6, RFC 3551 static types), direction, ptime/maxptime,
SDES ``a=crypto`` (RFC 4568) and QoS preconditions (RFC 3312 §5).

Not here: offer/answer decisions (``ims.sdp.offer_answer``), SIP bodies
(``ims.sip.multipart``), sockets of any kind.
"""

from __future__ import annotations

import base64
import binascii
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

T = TypeVar("T")

DIRECTIONS = ("sendrecv", "sendonly", "recvonly", "inactive")

# RFC 3551 §6 table 4: static payload types that need no a=rtpmap line.
STATIC_PAYLOAD_TYPES: dict[int, tuple[str, int]] = {
    0: ("PCMU", 8000), 3: ("GSM", 8000), 4: ("G723", 8000), 8: ("PCMA", 8000),
    9: ("G722", 8000), 13: ("CN", 8000), 18: ("G729", 8000),
}

# RFC 4568 §6.2 / RFC 6188 / RFC 7714: inline key||salt length per crypto suite.
KEY_SALT_LENGTHS = {
    "AES_CM_128_HMAC_SHA1_80": 30, "AES_CM_128_HMAC_SHA1_32": 30, "F8_128_HMAC_SHA1_80": 30,
    "AES_192_CM_HMAC_SHA1_80": 38, "AES_192_CM_HMAC_SHA1_32": 38,
    "AES_256_CM_HMAC_SHA1_80": 46, "AES_256_CM_HMAC_SHA1_32": 46,
    "AEAD_AES_128_GCM": 28, "AEAD_AES_256_GCM": 44,
}

PRECONDITION_KINDS = ("curr", "des", "conf")
STRENGTH_TAGS = ("mandatory", "optional", "none", "failure", "unknown")
STATUS_TYPES = ("e2e", "local", "remote")
DIRECTION_TAGS = ("none", "send", "recv", "sendrecv")


# RFC 3261 §20.43 warn-code 399 "Miscellaneous warning": the SDP could not be read at all.
WARN_MISCELLANEOUS = 399
MAX_DIGITS = 20  # every SDP number fits in 64 bits (NTP times, RFC 8866 §5.9), so 20 digits at most
MAX_SESS_ID_DIGITS = 64  # o= sess-id is kept as text (RFC 8866 §5.2: a numeric string)
_REASON_MAX = 120
MAX_LINES = 2000  # a VoLTE offer has about 40; the SIP layer bounds the body's size, this its line count


def _show(text: str, limit: int = 24) -> str:
    """A short repr of untrusted text for an error message (never the whole 5,000-digit number)."""
    return repr(text) if len(text) <= limit else repr(text[:limit]) + f"... ({len(text)} characters)"


class SdpError(ValueError):
    """Malformed SDP; ``line`` is the 1-based line number of the fault when known.

    It carries the SIP answer to an offer that cannot be read (RFC 3261 §21.4.26): ``status`` 488
    Not Acceptable Here, a ``warning`` code (399) and a ``reason``: the message as printable ASCII
    without quotes or backslashes, at most 120 characters, fit for a reason phrase or the quoted
    warn-text of a Warning header (§20.43).
    """

    status = 488
    warning = WARN_MISCELLANEOUS

    def __init__(self, message: str, line: int | None = None) -> None:
        super().__init__(message)
        self.line = line

    @property
    def reason(self) -> str:
        text = "".join(c if " " <= c <= "~" and c not in "\\\"" else "?" for c in str(self))
        return text if len(text) <= _REASON_MAX else text[:_REASON_MAX - 3] + "..."


def _int(text: str, what: str, *, low: int = 0, high: int | None = None, max_digits: int = MAX_DIGITS) -> int:
    # str.isdigit() alone accepts "²" and int() accepts "+1", " 1", "1_0": check ASCII digits; and
    # bound the length first, since int() refuses more than 4,300 digits with a bare ValueError.
    if not text or not text.isascii() or not text.isdigit():
        raise SdpError(f"{what} is not a number: {_show(text)}")
    if len(text) > max_digits:
        raise SdpError(f"{what} has {len(text)} digits, more than {max_digits}")
    value = int(text)
    if value < low or (high is not None and value > high):
        raise SdpError(f"{what} out of range: {value}")
    return value


def _at(line: int | None, fn: Callable[[], T]) -> T:
    """Run a value parser, prefixing its SdpError with the line it came from."""
    try:
        return fn()
    except SdpError as exc:
        if line is None or exc.line is not None:
            raise
        raise SdpError(f"line {line}: {exc}", line=line) from None


def parse_fmtp(params: str) -> dict[str, str]:
    """``"mode-set=0,2,4;octet-align=1"`` -> ``{"mode-set": "0,2,4", "octet-align": "1"}``.

    Parameter names are case-insensitive (RFC 6838 §4.3) and returned lower-case;
    a parameter without ``=`` (telephone-event's ``0-15``) maps to ``""``.
    """
    out: dict[str, str] = {}
    for part in params.split(";"):
        name, _, value = part.strip().partition("=")
        if name:
            out[name.strip().lower()] = value.strip()
    return out


@dataclass
class Origin:
    """``o=<username> <sess-id> <sess-version> <nettype> <addrtype> <unicast-address>`` (§5.2)."""

    username: str
    sess_id: str
    sess_version: int
    nettype: str = "IN"
    addrtype: str = "IP4"
    address: str = "0.0.0.0"

    def __post_init__(self) -> None:
        self.sess_id = str(self.sess_id)  # numeric string; kept verbatim, ints accepted

    def __str__(self) -> str:
        return (f"{self.username} {self.sess_id} {self.sess_version} "
                f"{self.nettype} {self.addrtype} {self.address}")


@dataclass
class Connection:
    """``c=<nettype> <addrtype> <connection-address>`` (§5.7); a /ttl/count suffix stays in ``address``."""

    nettype: str = "IN"
    addrtype: str = "IP4"
    address: str = "0.0.0.0"

    @classmethod
    def ip(cls, address: str) -> Connection:
        """``IN IP4`` or ``IN IP6`` by the form of the address."""
        return cls("IN", "IP6" if ":" in address else "IP4", address)

    @property
    def host(self) -> str:
        """The address without a multicast /ttl or /count suffix."""
        return self.address.split("/", 1)[0]

    def __str__(self) -> str:
        return f"{self.nettype} {self.addrtype} {self.address}"


@dataclass
class Attribute:
    """``a=<name>:<value>`` (property) or ``a=<name>`` (flag, ``value`` None), §5.13."""

    name: str
    value: str | None = None
    line: int | None = field(default=None, compare=False, repr=False)  # where it was parsed

    def __str__(self) -> str:
        return self.name if self.value is None else f"{self.name}:{self.value}"


@dataclass(frozen=True, slots=True)
class RtpMap:
    """``a=rtpmap:<payload type> <encoding name>/<clock rate>[/<channels>]`` (§6.6)."""

    payload_type: int
    encoding: str
    clock_rate: int
    channels: int | None = None

    @classmethod
    def parse(cls, value: str) -> RtpMap:
        parts = value.split()
        if len(parts) != 2:
            raise SdpError(f"bad a=rtpmap value {_show(value)}: want '<pt> <encoding>/<rate>[/<channels>]'")
        pt = _int(parts[0], "rtpmap payload type", high=127)
        enc = parts[1].split("/")
        if len(enc) not in (2, 3) or not enc[0]:
            raise SdpError(f"bad a=rtpmap encoding {_show(parts[1])}: want '<encoding>/<rate>[/<channels>]'")
        rate = _int(enc[1], "rtpmap clock rate", low=1)
        channels = _int(enc[2], "rtpmap channels", low=1) if len(enc) == 3 else None
        return cls(pt, enc[0], rate, channels)

    def __str__(self) -> str:
        tail = "" if self.channels is None else f"/{self.channels}"
        return f"{self.payload_type} {self.encoding}/{self.clock_rate}{tail}"


@dataclass(frozen=True, slots=True)
class Crypto:
    """``a=crypto:<tag> <crypto-suite> <key-params> [<session-params>]`` (RFC 4568 §9.1)."""

    tag: int
    suite: str
    key_params: str
    session_params: str = ""

    @classmethod
    def parse(cls, value: str) -> Crypto:
        parts = value.split(None, 3)
        if len(parts) < 3:
            raise SdpError(f"bad a=crypto value {_show(value)}: want '<tag> <suite> <key-params>'")
        tag = _int(parts[0], "crypto tag", high=999999999)
        return cls(tag, parts[1], parts[2], parts[3].strip() if len(parts) == 4 else "")

    @classmethod
    def generate(cls, tag: int, suite: str = "AES_CM_128_HMAC_SHA1_80") -> Crypto:
        """A fresh random inline key||salt for ``suite`` (30 bytes for AES_CM_128_*)."""
        key = os.urandom(KEY_SALT_LENGTHS.get(suite, 30))
        return cls(tag, suite, "inline:" + base64.b64encode(key).decode("ascii"))

    def master_key_salt(self) -> bytes:
        """The first inline key||salt, base64-decoded (RFC 4568 §6.1: lifetime and MKI follow '|')."""
        for param in self.key_params.split(";"):
            method, _, info = param.partition(":")
            if method.lower() == "inline":
                text = info.split("|", 1)[0]
                try:
                    key = base64.b64decode(text, validate=True)
                except (binascii.Error, ValueError):
                    raise SdpError(f"a=crypto:{self.tag} key is not base64: {_show(text)}") from None
                want = KEY_SALT_LENGTHS.get(self.suite)
                if want is not None and len(key) != want:
                    raise SdpError(f"a=crypto:{self.tag} {self.suite} key||salt is {len(key)} bytes, want {want}")
                return key
        raise SdpError(f"a=crypto:{self.tag} has no inline key")

    def __str__(self) -> str:
        tail = f" {self.session_params}" if self.session_params else ""
        return f"{self.tag} {self.suite} {self.key_params}{tail}"


@dataclass(frozen=True, slots=True)
class Precondition:
    """One RFC 3312 §5 status line: ``a=curr``, ``a=des`` (with a strength) or ``a=conf``.

    ``str()`` gives the whole attribute, e.g. ``"des:qos mandatory local sendrecv"``.
    """

    kind: str
    type: str = "qos"
    strength: str | None = None
    status_type: str = "e2e"
    direction: str = "none"

    def __post_init__(self) -> None:
        if self.kind not in PRECONDITION_KINDS:
            raise SdpError(f"precondition kind {_show(self.kind)} is not curr, des or conf")
        if (self.kind == "des") != (self.strength is not None):
            raise SdpError("a strength-tag belongs on a=des lines and only there")
        if self.strength is not None and self.strength not in STRENGTH_TAGS:
            raise SdpError(f"bad precondition strength-tag {_show(self.strength)}")
        if self.status_type not in STATUS_TYPES:
            raise SdpError(f"bad precondition status-type {_show(self.status_type)}")
        if self.direction not in DIRECTION_TAGS:
            raise SdpError(f"bad precondition direction-tag {_show(self.direction)}")
        if not self.type or any(c.isspace() for c in self.type):
            raise SdpError(f"bad precondition-type {_show(self.type)}")

    @classmethod
    def parse(cls, text: str) -> Precondition:
        """``"curr:qos local none"`` (an ``a=`` prefix is allowed)."""
        kind, sep, value = text.removeprefix("a=").partition(":")
        if not sep:
            raise SdpError(f"bad precondition {_show(text)}: want '<curr|des|conf>:<type> ...'")
        return cls.from_attribute(kind, value)

    @classmethod
    def from_attribute(cls, kind: str, value: str) -> Precondition:
        parts = value.split()
        if len(parts) != (4 if kind == "des" else 3):
            raise SdpError(f"bad a={kind} value {_show(value)}")
        if kind == "des":
            return cls(kind, parts[0], parts[1], parts[2], parts[3])
        return cls(kind, parts[0], None, parts[1], parts[2])

    @property
    def value(self) -> str:
        strength = f" {self.strength}" if self.strength is not None else ""
        return f"{self.type}{strength} {self.status_type} {self.direction}"

    def attribute(self) -> Attribute:
        return Attribute(self.kind, self.value)

    def __str__(self) -> str:
        return f"{self.kind}:{self.value}"


def _payload_type(fmt: str) -> int | None:
    """An RTP payload type 0-127 from an m= format or a=fmtp format, None for anything else."""
    if 0 < len(fmt) <= 3 and fmt.isascii() and fmt.isdigit() and int(fmt) <= 127:
        return int(fmt)
    return None


def _check_attribute(name: str, value: str | None) -> None:
    """Eager syntax check of the attributes whose values every call reads."""
    if name == "rtpmap":
        RtpMap.parse(value or "")
    elif name == "fmtp":
        if not (value or "").split(None, 1):
            raise SdpError("a=fmtp needs a format")
    elif name in ("ptime", "maxptime"):
        _ptime(value or "", name)


def _ptime(value: str, name: str) -> int:
    whole, dot, frac = value.strip().partition(".")  # RFC 8866 §6.4 allows a decimal value
    if dot and not (frac.isascii() and frac.isdigit()):
        raise SdpError(f"a={name} is not a number: {_show(value)}")
    return _int(whole, f"a={name}")


class _Attributes:
    """get/get_all/add/remove on an ``attributes`` list (session or media level)."""

    attributes: list[Attribute]

    def get(self, name: str) -> str | None:
        """The value of the first ``a=name`` (None if absent or a flag)."""
        for a in self.attributes:
            if a.name == name:
                return a.value
        return None

    def get_all(self, name: str) -> list[str]:
        return [a.value for a in self.attributes if a.name == name and a.value is not None]

    def has(self, name: str) -> bool:
        return any(a.name == name for a in self.attributes)

    def add(self, name: str, value: str | None = None) -> Attribute:
        attr = Attribute(name, value)
        self.attributes.append(attr)
        return attr

    def remove(self, name: str) -> int:
        """Drop every ``a=name``; returns how many there were."""
        before = len(self.attributes)
        self.attributes[:] = [a for a in self.attributes if a.name != name]
        return before - len(self.attributes)

    @property
    def direction(self) -> str:
        """sendrecv, sendonly, recvonly or inactive (RFC 4566 §6: sendrecv when absent)."""
        return next((a.name for a in self.attributes if a.name in DIRECTIONS), "sendrecv")

    @direction.setter
    def direction(self, value: str) -> None:
        if value not in DIRECTIONS:
            raise ValueError(f"direction must be one of {DIRECTIONS}, not {value!r}")
        at = next((i for i, a in enumerate(self.attributes) if a.name in DIRECTIONS), len(self.attributes))
        rest = [a for a in self.attributes[at:] if a.name not in DIRECTIONS]
        self.attributes[at:] = [Attribute(value), *rest]


@dataclass
class Media(_Attributes):
    """One media description: ``m=`` and the i= c= b= k= a= lines under it (§5.14)."""

    media: str
    port: int
    proto: str
    formats: list[str] = field(default_factory=list)
    port_count: int | None = None
    title: str | None = None
    connection: Connection | None = None
    bandwidths: list[tuple[str, int]] = field(default_factory=list)
    key: str | None = None
    attributes: list[Attribute] = field(default_factory=list)
    extra_lines: list[str] = field(default_factory=list)  # unknown line types, verbatim

    @property
    def rejected(self) -> bool:
        """RFC 3264 §6: port 0 marks a rejected (or disabled) stream."""
        return self.port == 0

    def rtpmap(self) -> dict[int, RtpMap]:
        """Payload type -> RtpMap, in m= order; RFC 3551 static types filled in when unmapped."""
        mapped: dict[int, RtpMap] = {}
        for a in self.attributes:
            if a.name == "rtpmap":
                rm = _at(a.line, lambda: RtpMap.parse(a.value or ""))
                mapped.setdefault(rm.payload_type, rm)
        out: dict[int, RtpMap] = {}
        for fmt in self.formats:
            if _payload_type(fmt) is not None:
                pt = int(fmt)
                if pt in mapped:
                    out[pt] = mapped[pt]
                elif pt in STATIC_PAYLOAD_TYPES:
                    out[pt] = RtpMap(pt, *STATIC_PAYLOAD_TYPES[pt])
        for pt, rm in mapped.items():
            out.setdefault(pt, rm)
        return out

    def fmtp(self) -> dict[int, str]:
        """Payload type -> format parameters (the text after ``a=fmtp:<pt> ``)."""
        out: dict[int, str] = {}
        for value in self.get_all("fmtp"):
            fmt, _, params = value.partition(" ")
            pt = _payload_type(fmt)
            if pt is not None:
                out.setdefault(pt, params.strip())
        return out

    def fmtp_params(self, pt: int) -> dict[str, str]:
        return parse_fmtp(self.fmtp().get(pt, ""))

    def _time(self, name: str) -> int | None:
        a = next((a for a in self.attributes if a.name == name), None)
        return None if a is None else _at(a.line, lambda: _ptime(a.value or "", name))

    def _set_time(self, name: str, value: int | None) -> None:
        at = next((i for i, a in enumerate(self.attributes) if a.name == name), None)
        self.remove(name)
        if value is not None:
            self.attributes.insert(len(self.attributes) if at is None else at, Attribute(name, str(value)))

    @property
    def ptime(self) -> int | None:
        return self._time("ptime")

    @ptime.setter
    def ptime(self, value: int | None) -> None:
        self._set_time("ptime", value)

    @property
    def maxptime(self) -> int | None:
        return self._time("maxptime")

    @maxptime.setter
    def maxptime(self, value: int | None) -> None:
        self._set_time("maxptime", value)

    def crypto(self) -> list[Crypto]:
        return [_at(a.line, lambda: Crypto.parse(a.value or "")) for a in self.attributes if a.name == "crypto"]

    def preconditions(self) -> list[Precondition]:
        return [_at(a.line, lambda: Precondition.from_attribute(a.name, a.value or ""))
                for a in self.attributes if a.name in PRECONDITION_KINDS]

    def set_preconditions(self, preconditions: list[Precondition]) -> None:
        """Replace every a=curr/des/conf line, where the first of them was (else at the end)."""
        at = next((i for i, a in enumerate(self.attributes) if a.name in PRECONDITION_KINDS),
                  len(self.attributes))
        before = self.attributes[:at]
        after = [a for a in self.attributes[at:] if a.name not in PRECONDITION_KINDS]
        self.attributes[:] = before + [p.attribute() for p in preconditions] + after

    def effective_direction(self, session: SessionDescription) -> str:
        """The media-level direction, else the session-level one (RFC 4566 §6)."""
        if any(a.name in DIRECTIONS for a in self.attributes):
            return self.direction
        return session.direction

    def connection_address(self, session: SessionDescription) -> str:
        """The address to send to: media-level c= else session-level, without /ttl suffix."""
        conn = self.connection or session.connection
        if conn is None:
            raise SdpError(f"no c= line for the {self.media} stream nor at session level")
        return conn.host

    def lines(self) -> list[str]:
        count = "" if self.port_count is None else f"/{self.port_count}"
        out = [f"m={self.media} {self.port}{count} {self.proto} {' '.join(self.formats)}".rstrip()]
        if self.title is not None:
            out.append(f"i={self.title}")
        if self.connection is not None:
            out.append(f"c={self.connection}")
        out += [f"b={t}:{v}" for t, v in self.bandwidths]
        if self.key is not None:
            out.append(f"k={self.key}")
        out += [f"a={a}" for a in self.attributes]
        return out + self.extra_lines


@dataclass
class SessionDescription(_Attributes):
    """A whole SDP body (§5).  ``repeats`` maps an index into ``times`` to its r= values."""

    version: int = 0
    origin: Origin = field(default_factory=lambda: Origin("-", "0", 0))
    session_name: str = "-"
    information: str | None = None
    uri: str | None = None
    emails: list[str] = field(default_factory=list)
    phones: list[str] = field(default_factory=list)
    connection: Connection | None = None
    bandwidths: list[tuple[str, int]] = field(default_factory=list)
    times: list[tuple[int, int]] = field(default_factory=lambda: [(0, 0)])
    repeats: dict[int, list[str]] = field(default_factory=dict)
    zone: str | None = None
    key: str | None = None
    attributes: list[Attribute] = field(default_factory=list)
    media: list[Media] = field(default_factory=list)
    extra_lines: list[str] = field(default_factory=list)  # unknown line types, verbatim

    @classmethod
    def parse(cls, data: bytes | str) -> SessionDescription:
        """Parse a body with CRLF or LF line ends; raises :class:`SdpError` naming the line."""
        text = bytes(data).decode("utf-8", "surrogateescape") if not isinstance(data, str) else data
        if text.count("\n") > MAX_LINES:  # bounded before any line is split off or parsed
            raise SdpError(f"more than {MAX_LINES} lines")
        lines = [ln[:-1] if ln.endswith("\r") else ln for ln in text.split("\n")]
        while lines and not lines[-1].strip():
            lines.pop()
        return _Parser(lines).run()

    def lines(self) -> list[str]:
        out = [f"v={self.version}", f"o={self.origin}", f"s={self.session_name}"]
        for letter, value in (("i", self.information), ("u", self.uri)):
            if value is not None:
                out.append(f"{letter}={value}")
        out += [f"e={e}" for e in self.emails] + [f"p={p}" for p in self.phones]
        if self.connection is not None:
            out.append(f"c={self.connection}")
        out += [f"b={t}:{v}" for t, v in self.bandwidths]
        for i, (start, stop) in enumerate(self.times):
            out.append(f"t={start} {stop}")
            out += [f"r={r}" for r in self.repeats.get(i, [])]
        for letter, value in (("z", self.zone), ("k", self.key)):
            if value is not None:
                out.append(f"{letter}={value}")
        out += [f"a={a}" for a in self.attributes] + self.extra_lines
        for m in self.media:
            out += m.lines()
        return out

    def to_bytes(self) -> bytes:
        return ("\r\n".join(self.lines()) + "\r\n").encode("utf-8", "surrogateescape")

    def __bytes__(self) -> bytes:
        return self.to_bytes()

    def __str__(self) -> str:
        return "\r\n".join(self.lines()) + "\r\n"


class _Parser:
    """One pass over the lines; strict on v= o= s= (lines 1-3), t= before m=, and m= fields."""

    SESSION_ONLY = "vosuepzrt"

    def __init__(self, lines: list[str]) -> None:
        self.lines = lines
        self.sd = SessionDescription(times=[])
        self.seen: set[str] = set()

    def fail(self, n: int, message: str) -> SdpError:
        return SdpError(f"line {n}: {message}", line=n)

    def run(self) -> SessionDescription:
        sd, lines = self.sd, self.lines
        for n, want in ((1, "v"), (2, "o"), (3, "s")):
            if len(lines) < n:
                raise self.fail(n, f"missing {want}= line")
            if not lines[n - 1].startswith(want + "="):
                raise self.fail(n, f"expected the {want}= line, got {lines[n - 1][:20]!r}")
        if lines[0][2:].strip() != "0":
            raise self.fail(1, f"unsupported SDP version {_show(lines[0][2:])}")
        o = lines[1][2:].split()
        if len(o) != 6:
            raise self.fail(2, f"o= line needs 6 fields, has {len(o)}")
        _at(2, lambda: _int(o[1], "o= sess-id", max_digits=MAX_SESS_ID_DIGITS))  # kept as text
        version = _at(2, lambda: _int(o[2], "o= sess-version"))
        sd.origin = Origin(o[0], o[1], version, o[3], o[4], o[5])
        sd.session_name = lines[2][2:]
        media: Media | None = None
        for n, line in enumerate(lines[3:], start=4):
            if len(line) < 2 or line[1] != "=" or not (line[0].isascii() and line[0].isalpha()):
                raise self.fail(n, f"not a '<type>=<value>' line: {line[:20]!r}")
            kind, value = line[0], line[2:]
            if kind == "m":
                if not sd.times:
                    raise self.fail(n, "t= line missing before the first m= line")
                media = _at(n, lambda: self.media_line(value))
                sd.media.append(media)
                self.seen = set()
            elif media is None:
                self.session_line(n, kind, value, line)
            else:
                self.media_line_attr(n, kind, value, line, media)
        if not sd.times:
            raise self.fail(len(lines) + 1, "missing t= line")
        return sd

    def once(self, n: int, kind: str, where: str) -> None:
        if kind in self.seen:
            raise self.fail(n, f"more than one {kind}= line in the {where}")
        self.seen.add(kind)

    def session_line(self, n: int, kind: str, value: str, line: str) -> None:
        sd = self.sd
        if kind in "vos":
            raise self.fail(n, f"{kind}= may appear only once, on line {'vos'.index(kind) + 1}")
        if kind in "iuczk":
            self.once(n, kind, "session description")
        if kind == "i":
            sd.information = value
        elif kind == "u":
            sd.uri = value
        elif kind == "e":
            sd.emails.append(value)
        elif kind == "p":
            sd.phones.append(value)
        elif kind == "c":
            sd.connection = _at(n, lambda: _connection(value))
        elif kind == "b":
            sd.bandwidths.append(_at(n, lambda: _bandwidth(value)))
        elif kind == "t":
            t = value.split()
            if len(t) != 2:
                raise self.fail(n, f"t= line needs 2 fields, has {len(t)}")
            sd.times.append((_at(n, lambda: _int(t[0], "t= start-time")),
                             _at(n, lambda: _int(t[1], "t= stop-time"))))
        elif kind == "r":
            if not sd.times:
                raise self.fail(n, "r= line before any t= line")
            sd.repeats.setdefault(len(sd.times) - 1, []).append(value)
        elif kind == "z":
            sd.zone = value
        elif kind == "k":
            sd.key = value
        elif kind == "a":
            sd.attributes.append(_at(n, lambda: _attribute(value, n)))
        else:
            sd.extra_lines.append(line)  # RFC 8866 §5: unknown types are ignored; we keep them

    def media_line_attr(self, n: int, kind: str, value: str, line: str, media: Media) -> None:
        if kind in self.SESSION_ONLY:
            raise self.fail(n, f"{kind}= line not allowed in a media description")
        if kind in "ick":
            self.once(n, kind, "media description")
        if kind == "i":
            media.title = value
        elif kind == "c":
            media.connection = _at(n, lambda: _connection(value))
        elif kind == "b":
            media.bandwidths.append(_at(n, lambda: _bandwidth(value)))
        elif kind == "k":
            media.key = value
        elif kind == "a":
            media.attributes.append(_at(n, lambda: _attribute(value, n)))
        else:
            media.extra_lines.append(line)

    @staticmethod
    def media_line(value: str) -> Media:
        f = value.split()
        if len(f) < 4:
            raise SdpError(f"m= line needs at least 4 fields, has {len(f)}")
        port_text, slash, count_text = f[1].partition("/")
        port = _int(port_text, "m= port", high=65535)
        count = _int(count_text, "m= number of ports", low=1) if slash else None
        return Media(f[0], port, f[2], f[3:], port_count=count)


def _connection(value: str) -> Connection:
    f = value.split()
    if len(f) != 3:
        raise SdpError(f"c= line needs 3 fields, has {len(f)}")
    return Connection(f[0], f[1], f[2])


def _bandwidth(value: str) -> tuple[str, int]:
    bwtype, sep, amount = value.strip().partition(":")
    if not sep or not bwtype or any(c.isspace() for c in bwtype):
        raise SdpError(f"bad b= value {_show(value)}: want '<bwtype>:<bandwidth>'")
    return bwtype, _int(amount, f"b={bwtype} bandwidth")


def _attribute(value: str, n: int) -> Attribute:
    name, sep, rest = value.partition(":")
    if not sep:
        name = name.rstrip()  # tolerate "a=sendrecv " (trailing whitespace)
    if not name or any(c.isspace() for c in name):
        raise SdpError(f"bad attribute name {_show(name)}")
    attr = Attribute(name, rest if sep else None, line=n)
    _check_attribute(attr.name, attr.value)
    return attr
