"""SIP, SIPS and tel URIs and name-addr values (RFC 3261 §19.1, §20.10; RFC 3966).

Parsing is by string splitting (no backtracking regexes), so it is fast and
safe on hostile input; every fault raises :class:`SipParseError` naming it.
Equality of SIP URIs follows the comparison rules of RFC 3261 §19.1.4.
Not here: DNS resolution of hosts (RFC 3263) - the transport layer does it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from urllib.parse import unquote

from ims.sip.errors import SipParseError

Params = dict[str, str | None]

_ALNUM = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
# Character classes as strings: ``not text.strip(CLASS)`` checks membership at C speed.
HOST_CHARS = _ALNUM + "-."
TOKEN_CHARS = _ALNUM + "-.!%*_+`'~"
_TOKEN_CHARS = frozenset(TOKEN_CHARS)
_PARAM_NAME_CHARS = TOKEN_CHARS + "[]/:&+$"


# sip:user:password@host:port;params?headers where the user part is plain (no ';', '?', '@')
# and the host a name or IPv6 reference. Character classes do not overlap: no backtracking.
_SIPURI_FAST = re.compile(
    r"([sS][iI][pP][sS]?):(?:([A-Za-z0-9\-_.!~*'()&=+$,%]+)(?::([A-Za-z0-9\-_.!~*'()&=+$,%]*))?@)?"
    r"([A-Za-z0-9\-.]+|\[[0-9A-Fa-f:.]+\])(?::([0-9]{1,5}))?((?:;[^?@]*)?)(?:\?([^@]*))?")


def only(text: str, chars: str) -> bool:
    """True when every character of ``text`` is in ``chars`` (empty text too)."""
    return not text.strip(chars)
# §19.1.4: these URI parameters, when present in either URI, must match.
_MUST_MATCH = ("user", "ttl", "method", "maddr", "transport")


def _bad(what: str, text: str) -> SipParseError:
    return SipParseError(f"{what}: {text!r}" if len(text) < 120 else f"{what}: {text[:117]!r}...")


def parse_params(text: str, what: str = "parameter") -> Params:
    """``;a=b;c`` (without the leading ';') -> ordered dict; names lower-cased."""
    params: Params = {}
    if not text:
        return params
    if " " not in text and "\t" not in text:
        # The usual case: no blanks to strip around names, values and separators.
        for item in text.split(";"):
            name, eq, value = item.partition("=")
            if not name or name.strip(_PARAM_NAME_CHARS):
                if not item:
                    raise SipParseError(f"Bad {what}: empty parameter (';;' or a trailing ';')")
                raise _bad(f"Bad {what} name", name or item)
            params[name.lower()] = value if eq else None
        return params
    for item in text.split(";"):
        item = item.strip()
        if not item:
            # §25.1: a parameter is never empty; RFC 4475 §3.1.2.1 (badinv01) must be rejected.
            raise SipParseError(f"Bad {what}: empty parameter (';;' or a trailing ';')")
        name, eq, value = item.partition("=")
        name = name.strip()
        if not name or not only(name, _PARAM_NAME_CHARS):
            raise _bad(f"Bad {what} name", name or item)
        params[name.lower()] = value.strip() if eq else None
    return params


def format_params(params: Params) -> str:
    return "".join(f";{k}" if v is None else f";{k}={v}" for k, v in params.items())


def _check_host(host: str, where: str) -> str:
    if not host:
        raise SipParseError(f"{where}: missing host")
    if host[0] == "[":
        if host[-1] != "]" or not only(host[1:-1], "0123456789abcdefABCDEF:."):
            raise _bad(f"{where}: bad IPv6 reference", host)
        return host
    if not only(host, HOST_CHARS):
        raise _bad(f"{where}: bad host", host)
    return host


def split_hostport(text: str, where: str) -> tuple[str, int | None]:
    """``host``, ``host:port``, ``[v6]:port`` -> (host, port)."""
    text = text.strip()
    if text.startswith("["):
        end = text.find("]")
        if end < 0:
            raise _bad(f"{where}: unterminated IPv6 reference", text)
        host, rest = text[: end + 1], text[end + 1 :]
        if rest and not rest.startswith(":"):
            raise _bad(f"{where}: bad host", text)
        port_text = rest[1:] if rest else None
    else:
        host, colon, port_text_ = text.partition(":")
        port_text = port_text_ if colon else None
    port: int | None = None
    if port_text is not None:
        # ASCII digits only: str.isdigit() also takes '²', which int() refuses.
        if not port_text.isascii() or not port_text.isdigit() or len(port_text) > 5 or int(port_text) > 65535:
            raise _bad(f"{where}: bad port", port_text)
        port = int(port_text)
    return _check_host(host, where), port


@dataclass(eq=False, slots=True)
class SipURI:
    scheme: str = "sip"
    user: str | None = None
    password: str | None = None
    host: str = ""
    port: int | None = None
    params: Params = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def parse(cls, text: str) -> SipURI:
        if "\x00" in text or "\r" in text or "\n" in text:
            raise _bad("Bad SIP URI: NUL, CR or LF", text)  # §19.1.1: no URI character is a control
        m = _SIPURI_FAST.fullmatch(text)
        if m is not None:
            # The common shape in one C-level match; anything unusual takes the general path below.
            scheme, user, password, host, port, ptext, htext = m.groups()
            if port is None or int(port) <= 65535:
                headers: dict[str, str] = {}
                if htext:
                    for h in htext.split("&"):
                        if h:
                            k, _, v = h.partition("=")
                            headers[k] = v
                return cls(scheme.lower(), user, password, host, int(port) if port else None,
                           parse_params(ptext[1:], "URI parameter") if ptext else {}, headers)
        return cls._parse_general(text)

    @classmethod
    def _parse_general(cls, text: str) -> SipURI:
        scheme, colon, rest = text.partition(":")
        scheme = scheme.strip().lower()
        if not colon or scheme not in ("sip", "sips"):
            raise _bad("Bad SIP URI: scheme must be sip or sips", text)
        # '@' is never unescaped in a header value, so the first '@' ends the
        # userinfo, which itself may hold '?', ';' and '/' (RFC 4475 §3.1.1.2, §3.1.1.9).
        at = rest.find("@")
        user = password = None
        if at >= 0:
            userinfo, rest = rest[:at], rest[at + 1 :]
            user_, pcolon, pw = userinfo.partition(":")
            if not user_:
                raise _bad("Bad SIP URI: empty user", text)
            if any(c in userinfo for c in " \t<>\""):
                raise _bad("Bad SIP URI: illegal character in user", text)
            user = user_
            password = pw if pcolon else None
        rest, qmark, hdrs = rest.partition("?")
        hostport, _, ptext = rest.partition(";")
        host, port = split_hostport(hostport, "Bad SIP URI")
        params = parse_params(ptext, "URI parameter")
        headers: dict[str, str] = {}
        if qmark:
            for h in hdrs.split("&"):
                if h:
                    k, _, v = h.partition("=")
                    headers[k] = v
        return cls(scheme, user, password, host, port, params, headers)

    def __str__(self) -> str:
        out = [self.scheme, ":"]
        if self.user is not None:
            out.append(self.user)
            if self.password is not None:
                out.append(":" + self.password)
            out.append("@")
        out.append(self.host)
        if self.port is not None:
            out.append(f":{self.port}")
        if self.params:
            out.append(format_params(self.params))
        if self.headers:
            out.append("?" + "&".join(f"{k}={v}" for k, v in self.headers.items()))
        return "".join(out)

    __repr__ = __str__

    @property
    def transport(self) -> str | None:
        t = self.params.get("transport")
        return t.lower() if t else None

    @property
    def lr(self) -> bool:
        return "lr" in self.params

    @property
    def maddr(self) -> str | None:
        return self.params.get("maddr")

    def host_port(self) -> tuple[str, int | None]:
        return self.host, self.port

    @property
    def aor(self) -> str:
        """Address-of-record key: scheme:user@host, lower-cased host (§10.3 step 5)."""
        user = unquote(self.user) + "@" if self.user is not None else ""
        return f"{'sip' if self.scheme == 'sips' else self.scheme}:{user}{self.host.lower()}"

    def copy(self) -> SipURI:
        return SipURI(self.scheme, self.user, self.password, self.host, self.port, dict(self.params), dict(self.headers))

    def __eq__(self, other: object) -> bool:  # RFC 3261 §19.1.4
        if not isinstance(other, SipURI):
            return NotImplemented
        if self.scheme != other.scheme:
            return False
        if _unq(self.user) != _unq(other.user) or _unq(self.password) != _unq(other.password):
            return False
        if self.host.lower() != other.host.lower() or self.port != other.port:
            return False
        pa, pb = _norm_params(self.params), _norm_params(other.params)
        for name in _MUST_MATCH:
            if (name in pa) != (name in pb):
                return False
        for name in pa.keys() & pb.keys():
            if pa[name] != pb[name]:
                return False
        ha = {k.lower(): _unq(v) for k, v in self.headers.items()}
        hb = {k.lower(): _unq(v) for k, v in other.headers.items()}
        return ha == hb

    def __hash__(self) -> int:
        return hash((self.scheme, _unq(self.user), self.host.lower(), self.port))


def _norm_params(params: Params) -> dict[str, str | None]:
    """§19.1.4: parameter names and values compare case-insensitively and unescaped (once)."""
    return {unquote(k).lower(): None if v is None else unquote(v).lower() for k, v in params.items()}


def _unq(text: str | None) -> str | None:
    return None if text is None else unquote(text)


@dataclass(eq=False, slots=True)
class TelURI:
    """tel: URI (RFC 3966): global ``+15551234`` or local with phone-context."""

    number: str
    params: Params = field(default_factory=dict)
    scheme: str = "tel"

    @classmethod
    def parse(cls, text: str) -> TelURI:
        scheme, colon, rest = text.partition(":")
        if not colon or scheme.strip().lower() != "tel" or "\x00" in text or "\r" in text or "\n" in text:
            raise _bad("Bad tel URI", text)
        number, _, ptext = rest.partition(";")
        if not number or not only(number, "0123456789+-.()*#ABCDabcd"):
            raise _bad("Bad tel URI: bad number", text)
        if "+" in number[1:]:
            raise _bad("Bad tel URI: '+' inside the number", text)
        params = parse_params(ptext, "tel URI parameter")
        uri = cls(number, params)
        if not uri.is_global and "phone-context" not in params:
            raise _bad("Bad tel URI: local number without phone-context (RFC 3966 §5.1.5)", text)
        return uri

    @property
    def is_global(self) -> bool:
        return self.number.startswith("+")

    @property
    def phone_context(self) -> str | None:
        return self.params.get("phone-context")

    @property
    def digits(self) -> str:
        """The number without visual separators (RFC 3966 §5.1.1)."""
        return "".join(c for c in self.number if c not in "-.()")

    @property
    def aor(self) -> str:
        return f"tel:{self.digits}"

    def copy(self) -> TelURI:
        return TelURI(self.number, dict(self.params))

    def __str__(self) -> str:
        return f"tel:{self.number}{format_params(self.params)}"

    __repr__ = __str__

    def __eq__(self, other: object) -> bool:  # RFC 3966 §4
        if not isinstance(other, TelURI):
            return NotImplemented
        return self.digits == other.digits and {k: (v or "").lower() for k, v in self.params.items()} == {
            k: (v or "").lower() for k, v in other.params.items()
        }

    def __hash__(self) -> int:
        return hash(self.digits)


@dataclass(eq=False, slots=True)
class AbsoluteURI:
    """Any other URI scheme (``urn:``, ``mailto:``...), kept as text."""

    text: str

    @property
    def scheme(self) -> str:
        return self.text.partition(":")[0].lower()

    @property
    def aor(self) -> str:
        return self.text

    def copy(self) -> AbsoluteURI:
        return AbsoluteURI(self.text)

    def __str__(self) -> str:
        return self.text

    __repr__ = __str__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, AbsoluteURI) and other.text == self.text

    def __hash__(self) -> int:
        return hash(self.text)


URI = SipURI | TelURI | AbsoluteURI


def parse_uri(text: str) -> URI:
    text = text.strip()
    colon = text.find(":")
    if colon <= 0:
        raise _bad("Bad URI: no scheme", text)
    scheme = text[:colon].lower()
    if scheme in ("sip", "sips"):
        return SipURI.parse(text)
    if scheme == "tel":
        return TelURI.parse(text)
    if text[0] == "<":
        raise _bad("Bad URI: enclosed in <> where a bare URI is required", text)
    if not scheme[0].isalpha() or not only(scheme, _ALNUM + "+-."):
        raise _bad("Bad URI scheme", text)
    if any(c in text for c in " \t<>\"\x00\r\n"):
        raise _bad("Bad URI: illegal character", text)
    return AbsoluteURI(text)


# [display-name] <sip:userinfo@hostport;uri-params>;header-params, blanks only between the display name
# and '<' and around the whole; no escapes in the display name, no '?headers' in the URI (those take the
# general path).  The character classes of adjacent parts do not overlap: no backtracking.
_NAMEADDR_FAST = re.compile(
    r"[ \t]*(?:\"([^\"\\\r\n]*)\"[ \t]*|([A-Za-z0-9\-.!%*_+`'~]+(?:[ \t]+[A-Za-z0-9\-.!%*_+`'~]+)*)[ \t]*)?"
    r"<([sS][iI][pP][sS]?):(?:([A-Za-z0-9\-_.!~*'()&=+$,%]+)(?::([A-Za-z0-9\-_.!~*'()&=+$,%]*))?@)?"
    r"([A-Za-z0-9\-.]+|\[[0-9A-Fa-f:.]+\])(?::([0-9]{1,5}))?((?:;[^?@<>\s]*)?)>((?:;[^\r\n]*)?)[ \t]*")


def _unquote_display(text: str) -> str:
    out = []
    i = 0
    while i < len(text):
        c = text[i]
        if c == "\\" and i + 1 < len(text):
            out.append(text[i + 1])
            i += 2
            continue
        out.append(c)
        i += 1
    return "".join(out)


def _quote_display(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


@dataclass(eq=False, slots=True)
class NameAddr:
    """``"Display" <uri>;params`` (From, To, Contact, Route, P-Asserted-Identity...)."""

    uri: URI
    display_name: str | None = None
    params: Params = field(default_factory=dict)

    @classmethod
    def parse(cls, text: str, what: str = "name-addr") -> NameAddr:
        m = _NAMEADDR_FAST.fullmatch(text)
        if m is not None:
            # The common shape (``["Name"] <sip:...>;params``) in one C-level match.
            quoted, token, scheme, user, password, host, port, ptext, htext = m.groups()
            if (port is None or int(port) <= 65535) and "\x00" not in ptext:
                uri = SipURI(scheme.lower(), user, password, host, int(port) if port else None,
                             parse_params(ptext[1:], "URI parameter") if ptext else {}, {})
                return cls(uri, quoted if quoted is not None else token,
                           parse_params(htext[1:], f"{what} parameter") if htext else {})
        return cls._parse_general(text, what)

    @classmethod
    def _parse_general(cls, text: str, what: str) -> NameAddr:
        text = text.strip()
        display: str | None = None
        if not text:
            raise SipParseError(f"Bad {what}: empty value")
        if text[0] == '"':
            i, n = 1, len(text)
            while i < n:
                c = text[i]
                if c == "\\":
                    i += 2
                    continue
                if c == '"':
                    break
                i += 1
            if i >= n:
                raise _bad(f"Bad {what}: unterminated quoted display name", text)
            display = _unquote_display(text[1:i])
            text = text[i + 1 :].lstrip()
            if not text.startswith("<"):
                raise _bad(f"Bad {what}: display name without <URI>", text)
        lt = text.find("<")
        if lt >= 0:
            gt = text.find(">", lt)
            if gt < 0:
                raise _bad(f"Bad {what}: missing '>'", text)
            if display is None:
                token = text[:lt].strip()
                if token and not only(token, TOKEN_CHARS + " \t"):
                    raise _bad(f"Bad {what}: display name with non-token characters must be quoted", token)
                display = token or None
            inner = text[lt + 1 : gt]
            if inner[:1].isspace() or inner[-1:].isspace():
                raise _bad(f"Bad {what}: spaces inside <> around the URI", inner)
            uri = parse_uri(inner)
            rest = text[gt + 1 :].strip()
            if rest and not rest.startswith(";"):
                raise _bad(f"Bad {what}: junk after '>'", rest)
            params = parse_params(rest[1:], f"{what} parameter")
        else:
            # addr-spec: parameters after the URI belong to the header (§20).
            uri_text, _, ptext = text.partition(";")
            uri_text = uri_text.strip()
            if any(c in uri_text for c in ' \t"'):
                raise _bad(f"Bad {what}: URI with spaces must be in <>", text)
            if "?" in uri_text or "," in uri_text:
                raise _bad(f"Bad {what}: URI with '?' or ',' must be in <>", text)
            uri = parse_uri(uri_text)
            params = parse_params(ptext, f"{what} parameter")
        return cls(uri, display, params)

    @property
    def tag(self) -> str | None:
        return self.params.get("tag")

    def copy(self) -> NameAddr:
        return NameAddr(self.uri.copy(), self.display_name, dict(self.params))

    def __str__(self) -> str:
        disp = ""
        if self.display_name is not None:
            d = self.display_name
            disp = (d if d and only(d, TOKEN_CHARS + " ") else _quote_display(d)) + " "
        return f"{disp}<{self.uri}>{format_params(self.params)}"

    __repr__ = __str__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, NameAddr) and self.uri == other.uri and self.params == other.params
