"""SIP header fields: the ordered header list and typed header values.

:class:`Headers` keeps headers in wire order with the spelling they arrived
in, looks them up case-insensitively and by compact form (RFC 3261 §7.3.3),
and splits comma-separated lists outside quotes and ``<>`` (§7.3.1).  Typed
values (:class:`Via`, :class:`CSeq`, :class:`Contact`, :class:`Challenge`...)
are parsed only when asked for.  Not here: which headers a message must have
(``ims.sip.message``).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from ims.sip.errors import HeaderInjectionError, SipParseError, check_text
from ims.sip.limits import decimal
from ims.sip.uri import (
    TOKEN_CHARS,
    NameAddr,
    Params,
    format_params,
    only,
    parse_params,
    split_hostport,
)

# §7.3.3 and RFC 3841/3891/3892/4028/3515/3903/6665 compact forms.
COMPACT = {
    "i": "call-id", "m": "contact", "e": "content-encoding", "l": "content-length",
    "c": "content-type", "f": "from", "s": "subject", "k": "supported", "t": "to",
    "v": "via", "o": "event", "u": "allow-events", "r": "refer-to", "b": "referred-by",
    "x": "session-expires", "y": "identity", "a": "accept-contact", "j": "reject-contact",
    "d": "request-disposition",
}

# Headers whose value is a comma-separated list (§7.3.1).  Auth headers are
# not: their parameters contain commas.
LIST_HEADERS = frozenset({
    "via", "contact", "route", "record-route", "path", "service-route", "supported",
    "require", "proxy-require", "unsupported", "allow", "accept", "accept-encoding",
    "accept-language", "allow-events", "p-associated-uri", "p-asserted-identity",
    "p-preferred-identity", "security-client", "security-server", "security-verify",
    "in-reply-to", "content-encoding", "accept-contact", "reject-contact",
    "request-disposition", "p-early-media", "history-info", "reason",
})


@functools.lru_cache(maxsize=4096)
def canonical(name: str) -> str:
    """Lower-case long form of a header name (cached: the same few names recur)."""
    low = name.lower()
    return COMPACT.get(low, low)


@functools.lru_cache(maxsize=1024)
def checked_key(name: str) -> str:
    """``canonical(name)`` of a name given through the API: a token (§7.3.1 field-name), else
    :class:`HeaderInjectionError` (a name with CR, LF, ':' or a blank would forge the header block)."""
    if not isinstance(name, str) or not name or name.strip(TOKEN_CHARS):
        raise HeaderInjectionError(f"Bad header name {str(name)[:40]!r}: not a token", str(name))
    return canonical(name)


def split_values(value: str) -> list[str]:
    """Split ``a, "b,c" <d,e>, f`` on commas outside quotes and angle brackets (empty elements dropped)."""
    if "," not in value:
        v = value.strip()
        return [v] if v else []
    return [v for v in split_values_keep_empty(value) if v]


def split_list(value: str, what: str) -> list[str]:
    """Like :func:`split_values` but an empty element (``a,,b``) is an error (§7.3.1 grammar)."""
    if "," not in value:
        v = value.strip()
        if not v:
            raise SipParseError(f"Bad {what} header: empty value")
        return [v]
    values = split_values_keep_empty(value)
    if not all(values):
        raise SipParseError(f"Bad {what} header: empty value between commas")
    return values


def split_values_keep_empty(value: str) -> list[str]:
    """Comma split outside quotes and ``<>``, keeping empty elements."""
    if '"' not in value:
        # No quoted strings: split at C speed, then rejoin pieces cut inside <...>
        # (a comma is inside when the last '<' or '>' before it is a '<').
        parts = value.split(",")
        if "<" not in value:
            return [p.strip() for p in parts]
        # The pieces of an element cut inside <...> are kept in a list and joined once: linear in
        # the value however many commas an unclosed '<' swallows.
        joined: list[str] = []
        pending: list[str] = []
        inside = False
        for p in parts:
            lt, gt = p.rfind("<"), p.rfind(">")
            if lt != gt:  # both -1 when the piece holds neither: the state carries over
                inside = lt > gt
            if inside:
                pending.append(p)
            elif pending:
                pending.append(p)
                joined.append(",".join(pending).strip())
                pending = []
            else:
                joined.append(p.strip())
        if pending:
            joined.append(",".join(pending).strip())
        return joined
    # Visit only the characters that matter (quotes, escapes, brackets, commas), found at C speed.
    out: list[str] = []
    start = 0
    quoted = angle = False
    skip = -1  # the character after a backslash inside quotes is taken as it is
    for m in _LIST_SPECIAL.finditer(value):
        i = m.start()
        if i == skip:
            continue
        c = value[i]
        if quoted:
            if c == "\\":
                skip = i + 1
            elif c == '"':
                quoted = False
        elif c == '"':
            quoted = True
        elif c == "<":
            angle = True
        elif c == ">":
            angle = False
        elif c == "," and not angle:
            out.append(value[start:i].strip())
            start = i + 1
    out.append(value[start:].strip())
    return out


_LIST_SPECIAL = re.compile(r'[",<>\\]')


class Headers:
    """Ordered header fields; each entry is ``[name as written, canonical name, value]``."""

    __slots__ = ("_items", "_index")

    def __init__(self, items: Iterable[tuple[str, str]] = ()) -> None:
        self._items: list[list[str]] = [[n, checked_key(n), check_text(v, n)] for n, v in items]
        self._index: dict[str, list[str]] | None = None

    @classmethod
    def _from_parsed(cls, items: list[list[str]]) -> Headers:
        h = cls.__new__(cls)
        h._items = items
        h._index = None
        return h

    def _idx(self) -> dict[str, list[str]]:
        """canonical name -> raw values, built once per change (lookups are O(1))."""
        index = self._index
        if index is None:
            index = {}
            for _, k, v in self._items:
                if k in index:
                    index[k].append(v)
                else:
                    index[k] = [v]
            self._index = index
        return index

    def __iter__(self) -> Iterator[tuple[str, str]]:
        return ((n, v) for n, _, v in self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, name: str) -> bool:
        return canonical(name) in self._idx()

    def copy(self) -> Headers:
        return Headers._from_parsed([list(e) for e in self._items])

    def get(self, name: str) -> str | None:
        values = self._idx().get(canonical(name))
        return values[0] if values else None

    def get_raw(self, name: str) -> list[str]:
        """Every field value with this name, not comma-split."""
        return list(self._idx().get(canonical(name), ()))

    def get_all(self, name: str) -> list[str]:
        key = canonical(name)
        values = self._idx().get(key)
        if not values:
            return []
        if key not in LIST_HEADERS:
            return list(values)
        if len(values) == 1:
            return split_values(values[0])
        out: list[str] = []
        for v in values:
            out.extend(split_values(v))
        return out

    def set(self, name: str, value: str) -> None:
        """Replace every field of this name by one, at the first one's place.

        A name that is not a token or a value holding CR, LF or NUL raises :class:`HeaderInjectionError`."""
        key = checked_key(name)
        if "\r" in value or "\n" in value or "\x00" in value:
            check_text(value, name)  # raises
        self._index = None
        for i, e in enumerate(self._items):
            if e[1] == key:
                self._items[i] = [name, key, value]
                self._items[i + 1 :] = [x for x in self._items[i + 1 :] if x[1] != key]
                return
        self._items.append([name, key, value])

    def add(self, name: str, value: str, *, first: bool = False) -> None:
        """Append a field, or with ``first`` put it before the first of its name (Via, Record-Route).

        A name that is not a token or a value holding CR, LF or NUL raises :class:`HeaderInjectionError`."""
        if "\r" in value or "\n" in value or "\x00" in value:
            check_text(value, name)  # raises
        entry = [name, checked_key(name), value]
        self._index = None
        if first:
            for i, e in enumerate(self._items):
                if e[1] == entry[1]:
                    self._items.insert(i, entry)
                    return
            self._items.insert(0, entry)
        else:
            self._items.append(entry)

    def remove(self, name: str) -> int:
        self._index = None
        key = canonical(name)
        before = len(self._items)
        self._items = [e for e in self._items if e[1] != key]
        return before - len(self._items)

    def pop_first_value(self, name: str) -> str | None:
        """Remove the first comma-separated value of a list header (top Via, top Route)."""
        self._index = None
        key = canonical(name)
        for i, e in enumerate(self._items):
            if e[1] == key:
                values = split_values(e[2])
                if not values:
                    del self._items[i]
                    return None
                if len(values) == 1:
                    del self._items[i]
                else:
                    e[2] = ", ".join(values[1:])
                return values[0]
        return None

    def names(self) -> list[str]:
        return [n for n, _, _ in self._items]


# --- typed values ---------------------------------------------------------


# "SIP/2.0/UDP host:port;params" without extra blanks; anything else takes the general path.
_VIA_FAST = re.compile(r"SIP/2\.0/([A-Za-z]+) ([A-Za-z0-9\-.]+|\[[0-9A-Fa-f:.]+\])(?::([0-9]{1,5}))?((?:;[^;,\s][^,\s]*)?)")


@dataclass(eq=False, slots=True)
class Via:
    """``SIP/2.0/UDP host:port;branch=...`` (§20.42, RFC 3581 rport)."""

    transport: str
    host: str
    port: int | None = None
    params: Params = field(default_factory=dict)
    protocol: str = "SIP/2.0"

    @classmethod
    def parse(cls, text: str) -> Via:
        m = _VIA_FAST.fullmatch(text)
        if m is not None:
            transport, host, port, ptext = m.groups()
            if port is None or int(port) <= 65535:
                params = parse_params(ptext[1:], "Via parameter") if ptext else {}
                if "ttl" not in params and "rport" not in params:
                    return cls(transport.upper(), host, int(port) if port else None, params)
                _check_via_numbers(params)
                return cls(transport.upper(), host, int(port) if port else None, params)
        return cls._parse_general(text)

    @classmethod
    def _parse_general(cls, text: str) -> Via:
        tokens = text.split()
        if not tokens:
            raise SipParseError("Bad Via header: empty value")
        # RFC 4475 §3.1.1.1: LWS may surround the '/' separators.
        pieces, idx = [tokens[0]], 1
        slashes = tokens[0].count("/")
        while slashes < 2 or pieces[-1].endswith("/"):
            if idx >= len(tokens) or idx > 8:  # "SIP / 2.0 / UDP": five tokens at most
                raise _bad_via(text)
            pieces.append(tokens[idx])
            slashes += tokens[idx].count("/")
            idx += 1
        proto = "".join(pieces)
        rest = " ".join(tokens[idx:])
        parts = proto.split("/")
        if len(parts) != 3 or not rest:
            raise SipParseError(f"Bad Via header: expected SIP/2.0/TRANSPORT sent-by, got {text.strip()!r}")
        name, version, transport = parts
        if name.upper() != "SIP" or not version or not transport or \
                not only(transport, TOKEN_CHARS):
            raise SipParseError(f"Bad Via header: bad protocol {'/'.join(parts)!r}")
        sent_by, _, ptext = rest.strip().partition(";")
        if not sent_by.strip():
            raise SipParseError("Bad Via header: missing sent-by")
        host, port = split_hostport(sent_by.replace(" ", ""), "Bad Via header")
        params = parse_params(ptext, "Via parameter")
        _check_via_numbers(params)
        return cls(transport.upper(), host, port, params, f"{name.upper()}/{version}")

    @property
    def branch(self) -> str | None:
        return self.params.get("branch")

    @property
    def received(self) -> str | None:
        return self.params.get("received")

    @property
    def rport(self) -> int | bool | None:
        """RFC 3581 §4: None without the parameter, True when asked for (no value), else the port."""
        if "rport" not in self.params:
            return None
        v = self.params["rport"]
        return decimal(v.strip(), "Via header: rport", 65535, digits=5) if v else True

    @property
    def maddr(self) -> str | None:
        return self.params.get("maddr")

    @property
    def ttl(self) -> int | None:
        v = self.params.get("ttl")
        return decimal(v.strip(), "Via header: ttl", 255, digits=3) if v is not None else None

    @property
    def sent_by(self) -> tuple[str, int | None]:
        return self.host, self.port

    def __str__(self) -> str:
        port = f":{self.port}" if self.port is not None else ""
        return f"{self.protocol}/{self.transport} {self.host}{port}{format_params(self.params)}"

    __repr__ = __str__


def _bad_via(text: str) -> SipParseError:
    return SipParseError(f"Bad Via header: expected SIP/2.0/TRANSPORT sent-by, got {text.strip()[:80]!r}")


def _check_via_numbers(params: Params) -> None:
    """§20.42 ttl (0..255) and RFC 3581 rport (a port, or no value) are read at parse time."""
    if "ttl" in params:
        decimal(params["ttl"] or "", "Via header: ttl", 255, digits=3)
    rport = params.get("rport")
    if rport and not (len(rport) <= 5 and rport.isdigit() and rport.isascii() and int(rport) <= 65535):
        decimal(rport, "Via header: rport", 65535, digits=5)  # raises, naming the fault


@dataclass(frozen=True, slots=True)
class CSeq:
    seq: int
    method: str

    @classmethod
    def parse(cls, text: str) -> CSeq:
        parts = text.split()
        if len(parts) != 2:
            raise SipParseError(f"Bad CSeq header: expected 'number METHOD', got {text.strip()!r}")
        num, method = parts
        # §8.1.1.5: the sequence number is below 2**31.
        seq = decimal(num, "CSeq header: sequence number", 2**31 - 1)
        if not only(method, TOKEN_CHARS):
            raise SipParseError(f"Bad CSeq header: bad method {method[:40]!r}")
        return cls(seq, method)

    def __str__(self) -> str:
        return f"{self.seq} {self.method}"


@dataclass(eq=False, slots=True)
class Contact:
    """One Contact value: a name-addr with expires/q/+sip.instance, or ``*``."""

    address: NameAddr | None  # None for '*'

    @classmethod
    def parse(cls, text: str) -> Contact:
        if text.strip() == "*":
            return cls(None)
        return cls(NameAddr.parse(text, "Contact header"))

    @property
    def is_star(self) -> bool:
        return self.address is None

    @property
    def uri(self):  # type: ignore[no-untyped-def]
        if self.address is None:
            raise SipParseError("Contact '*' has no URI")
        return self.address.uri

    @property
    def params(self) -> Params:
        return self.address.params if self.address else {}

    @property
    def expires(self) -> int | None:
        v = self.params.get("expires")
        if v is None:
            return None
        # §10.2.1.1: a larger expiry reads as the largest (RFC 4475 §3.1.2.4 scalar02).
        return decimal(v.strip(), "Contact header: expires", 2**32 - 1, clamp=True)

    @property
    def q(self) -> float | None:
        v = self.params.get("q")
        return None if v is None else qvalue(v, "Contact header")

    @property
    def instance(self) -> str | None:
        v = self.params.get("+sip.instance")
        return v.strip('"') if v else None

    def __str__(self) -> str:
        return "*" if self.address is None else str(self.address)


def qvalue(text: str, what: str) -> float:
    """§20.10 / §25.1 qvalue: ``0`` or ``1``, optionally with up to three decimals, as a float 0..1."""
    v = text.strip()
    head, _, frac = v.partition(".")
    if head not in ("0", "1") or len(frac) > 3 or (frac and not (frac.isascii() and frac.isdigit())) \
            or (head == "1" and frac.strip("0")):
        raise SipParseError(f"Bad {what}: q {v[:20]!r} is not a qvalue (0 to 1, three decimals at most)")
    return float(v)


# One auth-param: name = token or quoted-string (RFC 2617 §1.2), then blanks and an optional comma.
# Possessive quantifiers: a failed match never backtracks, so a value of 64 KB of blanks costs
# linear time (with a lazy token it was quadratic).
_AUTH_PARAM = re.compile(r'[ \t]*+([^=\s",;]++)[ \t]*+=[ \t]*+(?:"((?:[^"\\]|\\.)*+)"|([^,"]*+))[ \t]*+(?:,|$)')
_QUOTED_PAIR = re.compile(r"\\(.)", re.DOTALL)
_QUOTED = re.compile(r'"((?:[^"\\]++|\\.)*+)"', re.DOTALL)


def parse_auth_params(text: str, what: str) -> dict[str, str]:
    """``a="x, y", b=z`` -> dict with quotes removed (RFC 2617 auth-param)."""
    # Fast path: consecutive matches that cover the whole text; anything else is named by the scanner below.
    params: dict[str, str] = {}
    pos, n = 0, len(text)
    match = _AUTH_PARAM.match
    while pos < n:
        m = match(text, pos)
        if m is None or m.end() == pos:
            break
        name, quoted, token = m.groups()
        if quoted is not None:
            params[name.lower()] = _QUOTED_PAIR.sub(r"\1", quoted) if "\\" in quoted else quoted
        else:
            params[name.lower()] = token.strip()
        pos = m.end()
    else:
        return params
    return _scan_auth_params(text, what)


def _scan_auth_params(text: str, what: str) -> dict[str, str]:
    params: dict[str, str] = {}
    i, n = 0, len(text)
    while i < n:
        while i < n and text[i] in " \t,":
            i += 1
        if i >= n:
            break
        eq = text.find("=", i)
        if eq < 0:
            raise SipParseError(f"Bad {what} header: parameter without value at {text[i:i + 40]!r}")
        name = text[i:eq].strip().lower()
        if not name or any(c in name for c in ' ",;'):
            raise SipParseError(f"Bad {what} header: bad parameter name {name!r}")
        i = eq + 1
        while i < n and text[i] in " \t":
            i += 1
        if i < n and text[i] == '"':
            m = _QUOTED.match(text, i)  # one C-level match, not a Python loop per character
            if m is None:
                raise SipParseError(f"Bad {what} header: unterminated quoted value for {name!r}")
            quoted = m.group(1)
            params[name] = _QUOTED_PAIR.sub(r"\1", quoted) if "\\" in quoted else quoted
            i = m.end()
        else:
            j = text.find(",", i)
            j = n if j < 0 else j
            params[name] = text[i:j].strip()
            i = j
    return params


# Directives sent without quotes (RFC 2617 §3.2.1/§3.2.2, RFC 3310).
_UNQUOTED = frozenset({"algorithm", "stale", "nc", "qop_unquoted"})


@dataclass(eq=False, slots=True)
class Challenge:
    """WWW-/Proxy-Authenticate and (Proxy-)Authorization values: scheme + params."""

    scheme: str
    params: dict[str, str] = field(default_factory=dict)

    @classmethod
    def parse(cls, text: str, what: str = "WWW-Authenticate") -> Challenge:
        text = text.strip()
        scheme, _, rest = text.partition(" ")
        if not scheme or "=" in scheme:
            raise SipParseError(f"Bad {what} header: missing auth scheme")
        return cls(scheme, parse_auth_params(rest, what))

    def __str__(self) -> str:
        parts = []
        for k, v in self.params.items():
            if k in _UNQUOTED or (k == "qop" and isinstance(self, Credentials)):
                parts.append(f"{k}={v}")
            else:
                parts.append(f'{k}="{v}"')
        return f"{self.scheme} " + ", ".join(parts)

    def __getitem__(self, key: str) -> str:
        return self.params[key]

    def get(self, key: str, default: str | None = None) -> str | None:
        return self.params.get(key, default)


class Credentials(Challenge):
    """Authorization / Proxy-Authorization value (qop and nc unquoted, §3.2.2)."""

    __slots__ = ()

    @classmethod
    def parse(cls, text: str, what: str = "Authorization") -> Credentials:  # type: ignore[override]
        c = Challenge.parse(text, what)
        return cls(c.scheme, c.params)

    @property
    def nc(self) -> int | None:
        """RFC 2617 §3.2.2 nonce-count: 8 hexadecimal digits, as a number (None when absent)."""
        v = self.params.get("nc")
        if v is None:
            return None
        v = v.strip()
        if len(v) != 8 or not v.isascii() or v.strip("0123456789abcdefABCDEF"):
            raise SipParseError(f"Bad Authorization header: nc {v[:20]!r} is not 8 hexadecimal digits")
        return int(v, 16)


_SECURITY_NUMBERS = {"spi-c": 2**32 - 1, "spi-s": 2**32 - 1, "port-c": 65535, "port-s": 65535}


@dataclass(eq=False, slots=True)
class SecurityMechanism:
    """Security-Client/-Server/-Verify value (RFC 3329 §2.2; TS 33.203 ipsec-3gpp)."""

    mechanism: str
    params: Params = field(default_factory=dict)

    @classmethod
    def parse(cls, text: str) -> SecurityMechanism:
        mech, _, ptext = text.strip().partition(";")
        mech = mech.strip()
        if not mech or not only(mech, TOKEN_CHARS):
            raise SipParseError(f"Bad Security header: bad mechanism {mech[:40]!r}")
        # The numbers (spi-c, port-s, q...) are read when asked for, each fault a SipParseError (400).
        return cls(mech.lower(), parse_params(ptext, "Security parameter"))

    def get_int(self, name: str) -> int | None:
        """A numeric parameter: ``spi-c``/``spi-s`` (32 bits), ``port-c``/``port-s`` (16 bits), or another
        (32 bits) (TS 33.203 annex H)."""
        v = self.params.get(name)
        if v is None:
            return None
        return decimal(v.strip(), f"Security header: {name}", _SECURITY_NUMBERS.get(name, 2**32 - 1))

    @property
    def spi_c(self) -> int | None:
        return self.get_int("spi-c")

    @property
    def spi_s(self) -> int | None:
        return self.get_int("spi-s")

    @property
    def port_c(self) -> int | None:
        return self.get_int("port-c")

    @property
    def port_s(self) -> int | None:
        return self.get_int("port-s")

    @property
    def q(self) -> float | None:
        """RFC 3329 §2.2 preference."""
        v = self.params.get("q")
        return None if v is None else qvalue(v, "Security header")

    def __str__(self) -> str:
        return self.mechanism + format_params(self.params)


@dataclass(eq=False, slots=True)
class PChargingVector:
    """P-Charging-Vector (RFC 7315 §4.6): icid-value, orig-ioi, term-ioi..."""

    params: Params

    @classmethod
    def parse(cls, text: str) -> PChargingVector:
        params = parse_params(text.replace(" ", ""), "P-Charging-Vector parameter")
        if "icid-value" not in params:
            raise SipParseError("Bad P-Charging-Vector header: missing icid-value")
        return cls(params)

    @property
    def icid(self) -> str:
        return (self.params.get("icid-value") or "").strip('"')

    @property
    def orig_ioi(self) -> str | None:
        return self.params.get("orig-ioi")

    @property
    def term_ioi(self) -> str | None:
        return self.params.get("term-ioi")

    def __str__(self) -> str:
        return format_params(self.params)[1:]


@dataclass(eq=False, slots=True)
class PAccessNetworkInfo:
    """P-Access-Network-Info (RFC 7315 §4.4): access type and its parameters."""

    access_type: str
    params: Params

    @classmethod
    def parse(cls, text: str) -> PAccessNetworkInfo:
        access, _, ptext = text.strip().partition(";")
        if not access.strip():
            raise SipParseError("Bad P-Access-Network-Info header: missing access type")
        return cls(access.strip(), parse_params(ptext, "P-Access-Network-Info parameter"))

    @property
    def cell_id(self) -> str | None:
        for k in ("utran-cell-id-3gpp", "eutran-cell-id-3gpp", "nr-cell-id-3gpp"):
            if k in self.params:
                return (self.params[k] or "").strip('"')
        return None

    def __str__(self) -> str:
        return self.access_type + format_params(self.params)


def option_tags(values: list[str]) -> list[str]:
    """Require/Supported/Proxy-Require values, lower-cased tokens."""
    out = []
    for v in values:
        if not v or not only(v, TOKEN_CHARS):
            raise SipParseError(f"Bad option tag {v!r}")
        out.append(v.lower())
    return out
