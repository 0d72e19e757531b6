"""SIP requests and responses: parse from bytes, typed access, serialize (RFC 3261 §7, §18.3, §20).

Parsing splits the header block once; a header's value is parsed only when
its accessor is asked and then cached (STYLE.md §8).  The fields every
transaction needs (Via, From, To, Call-ID, CSeq, Max-Forwards,
Content-Length) are checked at parse time so that a malformed message fails
at once with one :class:`SipParseError` naming the fault.  An unmodified
parsed message serializes to exactly the bytes it came from; any change
through the message's methods rebuilds the bytes.

Typed values returned by accessors are views: change a message with
``set``/``add``/``remove`` (or ``message.headers``), not by mutating them.

Not here: transactions (``ims.sip.transaction``), transports (``ims.net``).
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterable
from typing import Any, Generic, TypeVar, overload

from ims.sip.errors import (
    HeaderInjectionError,
    SipParseError,
    SipValueError,
    check_text,
)
from ims.sip.headers import (
    Challenge,
    Contact,
    Credentials,
    CSeq,
    Headers,
    PAccessNetworkInfo,
    PChargingVector,
    SecurityMechanism,
    Via,
    canonical,
    option_tags,
    split_list,
    split_values,
)
from ims.sip.limits import DEFAULT_LIMITS, SipLimits, decimal
from ims.sip.uri import (
    TOKEN_CHARS,
    URI,
    NameAddr,
    Params,
    SipURI,
    parse_params,
    parse_uri,
)

T = TypeVar("T")

_SINGLE = ("call-id", "cseq", "from", "to", "max-forwards", "content-length", "content-type", "expires")

REASONS = {
    100: "Trying", 180: "Ringing", 181: "Call Is Being Forwarded", 182: "Queued",
    183: "Session Progress", 199: "Early Dialog Terminated", 200: "OK", 202: "Accepted",
    204: "No Notification", 300: "Multiple Choices", 301: "Moved Permanently",
    302: "Moved Temporarily", 305: "Use Proxy", 380: "Alternative Service", 400: "Bad Request",
    401: "Unauthorized", 402: "Payment Required", 403: "Forbidden", 404: "Not Found",
    405: "Method Not Allowed", 406: "Not Acceptable", 407: "Proxy Authentication Required",
    408: "Request Timeout", 410: "Gone", 412: "Conditional Request Failed",
    413: "Request Entity Too Large", 414: "Request-URI Too Long", 415: "Unsupported Media Type",
    416: "Unsupported URI Scheme", 420: "Bad Extension", 421: "Extension Required",
    422: "Session Interval Too Small", 423: "Interval Too Brief", 480: "Temporarily Unavailable",
    481: "Call/Transaction Does Not Exist", 482: "Loop Detected", 483: "Too Many Hops",
    484: "Address Incomplete", 485: "Ambiguous", 486: "Busy Here", 487: "Request Terminated",
    488: "Not Acceptable Here", 489: "Bad Event", 491: "Request Pending", 493: "Undecipherable",
    494: "Security Agreement Required", 500: "Server Internal Error", 501: "Not Implemented",
    502: "Bad Gateway", 503: "Service Unavailable", 504: "Server Time-out",
    505: "Version Not Supported", 513: "Message Too Large", 580: "Precondition Failure",
    600: "Busy Everywhere", 603: "Decline", 604: "Does Not Exist Anywhere", 606: "Not Acceptable",
}


# Methods of RFC 3261 and of the extensions this project implements.
KNOWN_METHODS = frozenset({
    "INVITE", "ACK", "OPTIONS", "BYE", "CANCEL", "REGISTER", "PRACK", "SUBSCRIBE", "NOTIFY",
    "PUBLISH", "INFO", "REFER", "MESSAGE", "UPDATE",
})


def new_branch() -> str:
    """A branch with the RFC 3261 magic cookie (§8.1.1.7)."""
    return "z9hG4bK" + secrets.token_hex(8)


def new_tag() -> str:
    return secrets.token_hex(5)


def new_call_id(host: str) -> str:
    return f"{secrets.token_hex(10)}@{host}"


class _Typed(Generic[T]):
    """A typed header accessor: ``parse(raw values)`` on first use, cached on the message under the
    header's canonical name (``SipMessage._touch`` drops it when that header changes)."""

    __slots__ = ("key", "parse")

    def __init__(self, key: str, parse: Callable[[list[str]], T]) -> None:
        self.key = key
        self.parse = parse

    @overload
    def __get__(self, msg: None, owner: type) -> _Typed[T]: ...
    @overload
    def __get__(self, msg: SipMessage, owner: type) -> T: ...

    def __get__(self, msg: SipMessage | None, owner: type) -> T | _Typed[T]:
        if msg is None:
            return self
        cache = msg._cache
        key = self.key
        if key in cache:
            return cache[key]  # type: ignore[no-any-return]
        value = cache[key] = self.parse(msg._headers._idx().get(key) or [])
        return value


def _first(raws: list[str], what: str) -> str:
    if not raws:
        raise SipParseError(f"Missing {what} header")
    return raws[0]


def _listed(raws: list[str]) -> list[str]:
    """Comma-separated values of a list header, every field (§7.3.1)."""
    if len(raws) == 1:
        return split_values(raws[0])
    out: list[str] = []
    for v in raws:
        out.extend(split_values(v))
    return out


def _int(raws: list[str] | None, what: str, limit: int = 2**32 - 1) -> int | None:
    """A header whose value is delta-seconds or another bounded number (ASCII digits only)."""
    if not raws:
        return None
    return decimal(raws[0].strip(" \t"), f"{what} header", limit)


def _seconds_with_params(raws: list[str], what: str) -> tuple[int, Params] | None:
    """``delta-seconds *(SEMI param)``: Session-Expires (RFC 4028 §4), Min-SE, Retry-After (§20.33)."""
    if not raws:
        return None
    v = raws[0]
    if what == "Retry-After" and "(" in v:
        v = v[: v.find("(")] + v[v.rfind(")") + 1 :] if ")" in v else v  # §20.33 [comment]
    num, _, ptext = v.partition(";")
    return decimal(num.strip(" \t"), f"{what} header", 2**32 - 1), parse_params(ptext.strip(), f"{what} parameter")


def _name_addrs(key: str, what: str) -> _Typed[list[NameAddr]]:
    return _Typed(key, lambda raws: [NameAddr.parse(v, what) for v in _listed(raws)])


def _contacts(raws: list[str]) -> list[Contact]:
    out = [Contact.parse(v) for v in _listed(raws)]
    if len(out) > 1 and any(c.is_star for c in out):
        raise SipParseError("Bad Contact header: '*' mixed with other contacts (§10.2.2)")
    return out


def _optional(parse: Callable[[str], T]) -> Callable[[list[str]], T | None]:
    return lambda raws: parse(raws[0]) if raws else None


class SipMessage:
    """Common part of requests and responses."""

    __slots__ = ("_headers", "_body", "_raw", "_cache", "version")

    def __init__(self, headers: Headers | Iterable[tuple[str, str]] | None = None, body: bytes = b"") -> None:
        self._headers = headers if isinstance(headers, Headers) else Headers(headers or ())
        self._body = bytes(body)
        self._raw: bytes | None = None
        self._cache: dict[str, Any] = {}
        self.version = "SIP/2.0"
        if self._body or "content-length" not in self._headers:
            self._headers.set("Content-Length", str(len(self._body)))

    # -- raw header access (every write invalidates the cached bytes) ------
    @property
    def headers(self) -> Headers:
        """The header list; taking it for writing drops cached bytes and values."""
        self._touch()
        return self._headers

    def _touch(self, name: str | None = None) -> None:
        """Drop the cached bytes and the parsed values of header ``name`` (of every header without one).

        Parsed values are cached under the header's canonical name."""
        self._raw = None
        if self._cache:
            if name is None:
                self._cache = {}
            else:
                self._cache.pop(canonical(name), None)

    def get(self, name: str) -> str | None:
        return self._headers.get(name)

    def get_all(self, name: str) -> list[str]:
        return self._headers.get_all(name)

    def set(self, name: str, value: str) -> None:
        self._touch(name)
        self._headers.set(name, value)

    def add(self, name: str, value: str, *, first: bool = False) -> None:
        self._touch(name)
        self._headers.add(name, value, first=first)

    def remove(self, name: str) -> int:
        self._touch(name)
        return self._headers.remove(name)

    def pop_first_value(self, name: str) -> str | None:
        """Remove the first comma-separated value of a list header (top Via, top Route)."""
        self._touch(name)
        return self._headers.pop_first_value(name)

    def __contains__(self, name: str) -> bool:
        return name in self._headers

    @property
    def body(self) -> bytes:
        return self._body

    @body.setter
    def body(self, value: bytes) -> None:
        self._touch("content-length")
        self._body = bytes(value)
        self._headers.set("Content-Length", str(len(self._body)))

    def set_body(self, body: bytes, content_type: str | None) -> None:
        self.body = body
        if content_type:
            self._headers.set("Content-Type", content_type)
        else:
            self._headers.remove("Content-Type")

    # -- typed accessors ----------------------------------------------------
    # Header values parsed on first use and cached under the header's canonical name until that
    # header changes (``_Typed``).
    vias = _Typed("via", lambda raws: [Via.parse(v) for raw in raws for v in split_list(raw, "Via")])
    call_id = _Typed("call-id", lambda raws: _call_id(_first(raws, "Call-ID")))
    cseq = _Typed("cseq", lambda raws: CSeq.parse(_first(raws, "CSeq")))
    from_ = _Typed("from", lambda raws: NameAddr.parse(_first(raws, "From"), "From header"))
    to = _Typed("to", lambda raws: NameAddr.parse(_first(raws, "To"), "To header"))
    contacts = _Typed("contact", _contacts)
    routes = _name_addrs("route", "Route header")
    record_routes = _name_addrs("record-route", "Record-Route header")
    paths = _name_addrs("path", "Path header")
    service_routes = _name_addrs("service-route", "Service-Route header")
    p_asserted_identity = _name_addrs("p-asserted-identity", "P-Asserted-Identity header")
    p_preferred_identity = _name_addrs("p-preferred-identity", "P-Preferred-Identity header")
    p_associated_uri = _name_addrs("p-associated-uri", "P-Associated-URI header")
    max_forwards = _Typed("max-forwards", lambda raws: _int(raws, "Max-Forwards", 255))
    expires = _Typed("expires", lambda raws: _int(raws, "Expires"))
    min_expires = _Typed("min-expires", lambda raws: _int(raws, "Min-Expires"))
    rseq = _Typed("rseq", lambda raws: _int(raws, "RSeq", 2**31 - 1))  # RFC 3262 §7.1: 1 to 2**31 - 1
    _content_length = _Typed("content-length", lambda raws: _int(raws, "Content-Length"))
    require = _Typed("require", lambda raws: option_tags(_listed(raws)))
    supported = _Typed("supported", lambda raws: option_tags(_listed(raws)))
    proxy_require = _Typed("proxy-require", lambda raws: option_tags(_listed(raws)))
    allow = _Typed("allow", lambda raws: [v.upper() for v in _listed(raws)])
    www_authenticate = _Typed(
        "www-authenticate", lambda raws: [Challenge.parse(v, "WWW-Authenticate") for v in raws])
    proxy_authenticate = _Typed(
        "proxy-authenticate", lambda raws: [Challenge.parse(v, "Proxy-Authenticate") for v in raws])
    authorization = _Typed(
        "authorization", lambda raws: [Credentials.parse(v, "Authorization") for v in raws])
    proxy_authorization = _Typed(
        "proxy-authorization", lambda raws: [Credentials.parse(v, "Proxy-Authorization") for v in raws])
    p_access_network_info = _Typed("p-access-network-info", _optional(PAccessNetworkInfo.parse))
    p_charging_vector = _Typed("p-charging-vector", _optional(PChargingVector.parse))
    security_client = _Typed(
        "security-client", lambda raws: [SecurityMechanism.parse(v) for v in _listed(raws)])
    security_server = _Typed(
        "security-server", lambda raws: [SecurityMechanism.parse(v) for v in _listed(raws)])
    security_verify = _Typed(
        "security-verify", lambda raws: [SecurityMechanism.parse(v) for v in _listed(raws)])


    @property
    def retry_after(self) -> int | None:
        """Retry-After seconds (§20.33; its comment and parameters are not kept)."""
        v = _seconds_with_params(self._headers.get_raw("retry-after"), "Retry-After")
        return None if v is None else v[0]

    @property
    def session_expires(self) -> tuple[int, str | None] | None:
        """Session-Expires (RFC 4028 §4): (seconds, refresher 'uac'/'uas' or None)."""
        v = _seconds_with_params(self._headers.get_raw("session-expires"), "Session-Expires")
        if v is None:
            return None
        refresher = v[1].get("refresher")
        return v[0], refresher.lower() if refresher else None

    @property
    def min_se(self) -> int | None:
        """Min-SE seconds (RFC 4028 §5)."""
        v = _seconds_with_params(self._headers.get_raw("min-se"), "Min-SE")
        return None if v is None else v[0]

    @property
    def top_via(self) -> Via:
        vias = self.vias
        if not vias:
            raise SipParseError("Missing Via header")
        return vias[0]

    @property
    def content_length(self) -> int:
        n = self._content_length
        return len(self._body) if n is None else n

    @property
    def content_type(self) -> str | None:
        v = self._headers.get("content-type")
        return v.strip() if v else None

    @property
    def media_type(self) -> str | None:
        """Content-Type without parameters, lower-cased (``application/sdp``)."""
        ct = self.content_type
        return ct.partition(";")[0].strip().lower() if ct else None

    @property
    def p_visited_network_id(self) -> list[str]:
        return [v.strip().strip('"') for v in split_values(",".join(self._headers.get_raw("p-visited-network-id")))]

    @property
    def rack(self) -> tuple[int, int, str] | None:
        """RAck (RFC 3262 §7.2): (response-num, CSeq-num, method)."""
        v = self._headers.get("rack")
        if v is None:
            return None
        parts = v.split()
        if len(parts) != 3 or not _is_token(parts[2]):
            raise SipParseError(f"Bad RAck header: {v[:60]!r}")
        return (decimal(parts[0], "RAck header: response-num", 2**31 - 1),
                decimal(parts[1], "RAck header: CSeq-num", 2**31 - 1), parts[2])

    @property
    def accept(self) -> list[str]:
        """Accept media ranges without their parameters, lower-cased (§20.1)."""
        return [v.partition(";")[0].strip().lower() for v in self._headers.get_all("accept")]

    @property
    def subscription_state(self) -> tuple[str, dict[str, str | None]] | None:
        """Subscription-State (RFC 6665 §8.2.3): (substate, params such as expires/reason)."""
        v = self._headers.get("subscription-state")
        if v is None:
            return None
        state, _, ptext = v.partition(";")
        if not state.strip() or not _is_token(state.strip()):
            raise SipParseError(f"Bad Subscription-State header: {v!r}")
        return state.strip().lower(), parse_params(ptext, "Subscription-State parameter")

    @property
    def event(self) -> str | None:
        v = self._headers.get("event")
        return v.partition(";")[0].strip().lower() if v else None

    # -- serialization ------------------------------------------------------
    def start_line(self) -> str:  # pragma: no cover - overridden
        raise NotImplementedError

    def to_bytes(self) -> bytes:
        if self._raw is not None:
            return self._raw
        parts = [self.start_line()]
        parts.extend(f"{n}: {v}" for n, _, v in self._headers._items)
        parts.append("\r\n")
        raw = "\r\n".join(parts).encode("utf-8", "surrogateescape") + self._body
        self._raw = raw
        return raw

    __bytes__ = to_bytes

    def _copy_into(self, other: SipMessage) -> None:
        other._headers = self._headers.copy()
        other._body = self._body
        other._raw = None
        other._cache = dict(self._cache)  # parsed values are shared views: nobody mutates them
        other.version = self.version

    def __repr__(self) -> str:
        cid = self._headers.get("call-id")
        try:
            line = self.start_line()
        except SipValueError as exc:  # a repr never raises: it is what a log line shows of a bad message
            line = f"<unwritable: {exc.reason}>"
        return f"<{type(self).__name__} {line!r} call-id={cid!r}>"


class Request(SipMessage):
    __slots__ = ("method", "_uri", "_uri_text")

    def __init__(self, method: str, uri: URI | str, headers: Headers | Iterable[tuple[str, str]] | None = None,
                 body: bytes = b"") -> None:
        if not isinstance(method, str) or not _is_token(method):
            raise SipValueError(f"Bad method {str(method)[:40]!r}: not a token", "Request-Line")
        super().__init__(headers, body)
        self.method = method
        self._uri: URI | None = None
        self._uri_text: str | None = None
        self.uri = uri

    @property
    def uri(self) -> URI:
        if self._uri is None:
            self._uri = parse_uri(self._uri_text or "")
        return self._uri

    @uri.setter
    def uri(self, value: URI | str) -> None:
        """A Request-URI with CR, LF, NUL or a blank (it would break the request line) raises
        :class:`HeaderInjectionError`."""
        _check_uri(value if isinstance(value, str) else str(value))
        self._raw = None
        if isinstance(value, str):
            self._uri, self._uri_text = None, value
        else:
            self._uri, self._uri_text = value, None

    def start_line(self) -> str:
        uri = self._uri_text if self._uri is None else str(self._uri)
        line = f"{self.method} {uri} {self.version}"
        if "\r" in line or "\n" in line or "\x00" in line:
            # The method is an attribute and a URI object may be changed in place after they were set:
            # checked again as written.
            raise HeaderInjectionError(f"CR, LF or NUL in the request line: {line[:60]!r} (method or Request-URI)",
                                       "Request-URI")
        return line

    def copy(self) -> Request:
        r = Request.__new__(Request)
        self._copy_into(r)
        r.method = self.method
        r._uri = self._uri.copy() if self._uri is not None else None
        r._uri_text = self._uri_text
        return r


class Response(SipMessage):
    __slots__ = ("_reason", "status")

    def __init__(self, status: int, reason: str | None = None,
                 headers: Headers | Iterable[tuple[str, str]] | None = None, body: bytes = b"") -> None:
        if not isinstance(status, int) or not 100 <= status <= 699:
            raise SipValueError(f"Bad status code {status!r}: not 100 to 699 (§7.2)", "Status-Line")
        super().__init__(headers, body)
        self.status = status
        self.reason = reason if reason is not None else REASONS.get(status, "Unknown")

    @property
    def reason(self) -> str:
        return self._reason

    @reason.setter
    def reason(self, value: str) -> None:
        """A Reason-Phrase with CR, LF or NUL raises :class:`HeaderInjectionError`."""
        self._reason = check_text(value, "Status-Line", "reason phrase")
        self._raw = None

    def start_line(self) -> str:
        return f"{self.version} {self.status} {self._reason}"

    def copy(self) -> Response:
        r = Response.__new__(Response)
        self._copy_into(r)
        r.status = self.status
        r._reason = self._reason
        return r


def _call_id(value: str) -> str:
    v = value.strip()
    if not v or " " in v or "\t" in v:  # §25.1 callid: word may hold <>"[]{}
        raise SipParseError(f"Bad Call-ID header: {value!r}")
    return v


def _is_token(text: str) -> bool:
    return bool(text) and not text.strip(TOKEN_CHARS)


def _check_uri(text: str) -> str:
    if "\r" in text or "\n" in text or "\x00" in text or " " in text or "\t" in text or not text:
        raise HeaderInjectionError(f"Bad Request-URI {text[:60]!r}: empty, or with a blank, CR, LF or NUL",
                                   "Request-URI")
    return text


def parse_message(data: bytes, *, datagram: bool = True, limits: SipLimits = DEFAULT_LIMITS) -> Request | Response:
    """Parse one SIP message; raise :class:`SipParseError` naming the fault.

    With ``datagram`` a body longer than Content-Length is truncated and a
    missing Content-Length means "the rest of the datagram" (§18.3).
    ``limits`` bounds the message, header and body sizes and the header count;
    they are checked before the work they would make expensive.
    """
    if not isinstance(data, bytes):
        data = bytes(data)
    if len(data) > limits.max_message_bytes:
        # §21.5.11 / §18.1.1: the message is larger than this server takes.
        raise SipParseError(f"Message Too Large: {len(data)} bytes, at most {limits.max_message_bytes}", 513)
    start = 0
    while data.startswith(b"\r\n", start):  # §7.5: ignore CRLFs before the start line
        start += 2
    end = data.find(b"\r\n\r\n", start)
    if end < 0:
        if b"\n\n" in data:
            raise SipParseError("Lines end in LF, not CRLF (§7)")
        raise SipParseError("No empty line (CRLF CRLF) after the headers")
    head = data[start:end].decode("utf-8", "surrogateescape")
    lines = head.split("\r\n")
    too_many = len(lines) - 1 > limits.max_headers  # refused below, once a 400 can be built (§21.4.1)
    if end - start > limits.max_header_bytes and max(map(len, lines)) > limits.max_header_bytes:
        raise SipParseError(f"Header line longer than {limits.max_header_bytes} bytes")
    # §7.3.1, §25.1: a line ends only in CRLF (a bare CR or LF could hide a header from one reader and
    # show it to another).  NUL stays legal on input inside a quoted-pair (RFC 4475 §3.1.1.2 intmeth).
    bad_line = None
    if head.count("\r") != len(lines) - 1 or head.count("\n") != len(lines) - 1:
        bad_line = "Bad header line: bare CR or LF inside a line"
    first = lines[0]
    msg: Request | Response
    if first.startswith("SIP/"):
        msg = _response_line(first)
    else:
        try:
            msg = _request_line(first)
        except SipParseError as exc:
            # Still read the headers so that the server can answer with this reason (§8.2 / §21.4.1).
            partial = exc.partial if exc.partial is not None else _bare_request(first)
            read: list[list[str]] = []
            if bad_line is None:
                try:
                    _split_folded(partial, lines[: limits.max_headers + 1], read, limits.max_header_bytes)
                except SipParseError:
                    pass
            partial._headers = Headers._from_parsed(read)
            exc.partial = partial
            raise
    items: list[list[str]] = []
    if bad_line is not None:
        # Checked whether or not lines are folded: a folded line with a bare LF smuggled a header.
        raise SipParseError(bad_line, partial=_partial(msg, items))
    if too_many:
        # Only the first max_headers lines are read, so that the answer can name the fault (bounded work).
        try:
            _split_folded(msg, lines[: limits.max_headers + 1], items, limits.max_header_bytes)
        except SipParseError:
            pass
        raise SipParseError(f"Too many headers: {len(lines) - 1} lines, at most {limits.max_headers}",
                            partial=_partial(msg, items))
    if "\r\n " in head or "\r\n\t" in head:
        _split_folded(msg, lines, items, limits.max_header_bytes)
    else:
        canon = _CANON
        for line in lines[1:]:
            name, colon, value = line.partition(":")
            key = canon.get(name) if colon else None
            if key is None:
                # Blanks before the colon, an unusual spelling or a bad line: the general splitter
                # names the fault (§7.3.1 header = name HCOLON value).
                name = name.rstrip(" \t")
                if not colon or not _is_token(name):
                    _split_folded(msg, lines, [], limits.max_header_bytes)  # raises the precise error
                    raise SipParseError("Bad header line", partial=_partial(msg, items))
                key = canonical(name)
            items.append([name, key, value.strip(" \t")])
    msg._headers = Headers._from_parsed(items)
    body = data[end + 4 :]
    if len(body) > limits.max_body_bytes:
        raise SipParseError(f"Request Entity Too Large: a body of {len(body)} bytes, at most "
                            f"{limits.max_body_bytes}", 413, partial=_partial(msg, items))
    try:
        _check(msg, items)
        cl = msg._content_length
    except SipParseError as exc:
        exc.partial = msg if isinstance(msg, Request) else None
        raise
    if cl is not None:
        if len(body) < cl:
            raise SipParseError(f"Content-Length {cl} exceeds body of {len(body)} bytes",
                                partial=msg if isinstance(msg, Request) else None)
        if len(body) > cl:
            if not datagram:
                raise SipParseError(f"Content-Length {cl} is less than the {len(body)} bytes framed")
            body = body[:cl]  # §18.3: extra datagram bytes are discarded
            msg._body = body
            return _finish(msg, data[start : end + 4] + body)
    msg._body = body
    return _finish(msg, data if start == 0 else data[start:])


# Common spellings -> canonical names without a function call.
_CANON = {n: canonical(n) for n in (
    "Via", "v", "From", "f", "To", "t", "Call-ID", "i", "CSeq", "Contact", "m", "Max-Forwards", "Route",
    "Record-Route", "Content-Type", "c", "Content-Length", "l", "Expires", "Supported", "k", "Require",
    "Proxy-Require", "Allow", "Accept", "User-Agent", "Authorization", "WWW-Authenticate",
    "P-Asserted-Identity", "P-Preferred-Identity", "P-Access-Network-Info", "P-Charging-Vector",
    "Security-Client", "Security-Server", "Security-Verify", "Accept-Contact", "P-Preferred-Service",
    "Session-Expires", "Min-SE", "Path", "Service-Route", "P-Associated-URI", "P-Visited-Network-ID",
    "Event", "Subscription-State", "RSeq", "RAck", "Date", "Server", "Content-Disposition")}


def _split_folded(msg: Request | Response, lines: list[str], items: list[list[str]],
                  max_header_bytes: int = DEFAULT_LIMITS.max_header_bytes) -> None:
    """The general header splitter: folded lines (§7.3.1) and precise errors.

    The continuation lines of a field are collected and joined once (linear however many)."""
    folded: list[str] = []  # the current field's value and its continuations

    def join() -> None:
        value = " ".join(folded)  # §7.3.1: LWS folding is one SP
        if len(value) > max_header_bytes:
            raise SipParseError(f"Bad {items[-1][0][:40]} header: longer than {max_header_bytes} bytes "
                                f"once folded lines are joined", partial=_partial(msg, items[:-1]))
        items[-1][2] = value
        folded.clear()

    for line in lines[1:]:
        if line[:1] in (" ", "\t"):
            if not items:
                raise SipParseError("Header continuation line before any header")
            if not folded:
                folded.append(items[-1][2])
            folded.append(line.strip(" \t"))
            continue
        if folded:
            join()
        colon = line.find(":")
        if colon <= 0:
            raise SipParseError(f"Bad header line without ':': {line[:60]!r}", partial=_partial(msg, items))
        name = line[:colon].rstrip(" \t")
        if not _is_token(name):
            raise SipParseError(f"Bad header name {name[:40]!r}", partial=_partial(msg, items))
        items.append([name, canonical(name), line[colon + 1 :].strip(" \t")])
    if folded:
        join()


def _finish(msg: Request | Response, raw: bytes) -> Request | Response:
    msg._raw = raw
    return msg


def _partial(msg: Request | Response, items: list[list[str]]) -> Request | None:
    if isinstance(msg, Request):
        msg._headers = Headers._from_parsed(items)
        return msg
    return None


def _response_line(line: str) -> Response:
    version, _, rest = line.partition(" ")
    code, _, reason = rest.partition(" ")
    if version.upper() != "SIP/2.0":
        raise SipParseError(f"Unsupported SIP version {version!r} in status line", status=505)
    if len(code) != 3 or not code.isascii() or not code.isdigit() or not 100 <= int(code) <= 699:
        raise SipParseError(f"Bad status code {code[:20]!r} in status line")
    r = Response.__new__(Response)
    r._cache, r._raw, r._body = {}, None, b""
    r.version, r.status, r._reason = version, int(code), reason
    return r


def _bare_request(line: str) -> Request:
    """A request whose start line could not be read: method and URI as far as they go."""
    parts = line.split()
    r = Request.__new__(Request)
    r._cache, r._raw, r._body, r.version = {}, None, b"", "SIP/2.0"
    r.method = parts[0] if parts and _is_token(parts[0]) else "UNKNOWN"
    r._uri_text, r._uri = (parts[1] if len(parts) > 1 else ""), None
    r._headers = Headers()
    return r


def _request_line(line: str) -> Request:
    parts = line.split(" ")
    if len(parts) != 3:
        # §7.1: Method SP Request-URI SP SIP-Version, exactly one SP each (RFC 4475 §3.1.2.8-10).
        if line != line.rstrip(" \t"):
            why = "whitespace after the SIP-Version"
        elif "  " in line or "\t" in line:
            why = "more than one SP between elements"
        elif len(parts) > 3:
            why = "whitespace inside the Request-URI"
        else:
            why = "expected 'Method Request-URI SIP-Version'"
        raise SipParseError(f"Bad request line: {why}: {line[:80]!r}")
    method, uri_text, version = parts
    if not _is_token(method):
        raise SipParseError(f"Bad method {method[:40]!r} in request line")
    r = Request.__new__(Request)
    r._cache, r._raw, r._body = {}, None, b""
    r.method, r.version = method, version
    r._headers = Headers()
    r._uri_text, r._uri = uri_text, None
    if version.upper() != "SIP/2.0":
        raise SipParseError(f"Unsupported SIP version {version!r} in request line", status=505, partial=r)
    try:
        r._uri = parse_uri(uri_text)
    except SipParseError as exc:
        raise SipParseError(f"Request-URI: {exc.reason}", partial=r) from None
    if isinstance(r._uri, SipURI) and r._uri.headers:
        # §19.1.1 table 1: headers are not allowed in a Request-URI (RFC 4475 §3.1.2.11).
        raise SipParseError("Request-URI must not contain escaped headers", partial=r)
    return r


def _check(msg: Request | Response, items: list[list[str]]) -> None:
    """The checks every transaction needs (§8.1.1, §8.2.2; RFC 4475 §3.1.2)."""
    index = msg._headers._idx()
    for key in _SINGLE:
        values = index.get(key)
        if values is not None and len(values) > 1:
            if key != "content-length":
                raise SipParseError(f"{_title(key)} header appears {len(values)} times")
            if len(set(values)) > 1:
                raise SipParseError("Conflicting Content-Length headers")
    for key, what in (("call-id", "Call-ID"), ("cseq", "CSeq"), ("from", "From"), ("to", "To"), ("via", "Via")):
        if key not in index:
            raise SipParseError(f"Missing {what} header")
    msg.vias  # noqa: B018 - parse now to fail early
    msg.from_  # noqa: B018
    msg.to  # noqa: B018
    call_id = msg.call_id
    cseq = msg.cseq
    del call_id
    msg.contacts  # noqa: B018 - RFC 4475 §3.1.2.13: an unbracketed Contact with '?' is an error
    date = msg._headers.get("date")
    if date is not None:
        _check_date(date)
    if isinstance(msg, Request):
        if cseq.method != msg.method:
            # RFC 4475 §3.1.2.18: for a method we do not implement, 501 is the better answer.
            raise SipParseError(f"CSeq method {cseq.method!r} does not match request method {msg.method!r}",
                                status=400 if msg.method in KNOWN_METHODS else 501)
        msg.max_forwards  # noqa: B018


_WKDAY = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTH = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def _check_date(value: str) -> None:
    """§20.17: rfc1123-date, always GMT (RFC 4475 §3.1.2.12)."""
    parts = value.replace(",", " ").split()
    ok = (len(parts) == 6 and parts[0] in _WKDAY and _digits(parts[1]) and parts[2] in _MONTH
          and _digits(parts[3]) and len(parts[4]) == 8 and parts[5] == "GMT")
    if not ok:
        raise SipParseError(f"Bad Date header: {value.strip()!r} is not an RFC 1123 date in GMT")


def _digits(text: str) -> bool:
    return text.isascii() and text.isdigit()


def _title(key: str) -> str:
    return {"call-id": "Call-ID", "cseq": "CSeq"}.get(key, "-".join(p.capitalize() for p in key.split("-")))


def build_response(request: Request, status: int, reason: str | None = None, *,
                   to_tag: str | None = None) -> Response:
    """A response to ``request`` per §8.2.6: Via, From, To, Call-ID, CSeq copied."""
    src = request._headers
    # The values come from the request: parsed (no bare CR/LF) or set through the checked API, so they
    # are copied as they are (an RFC 4475 quoted-pair NUL in a display name is still answered).
    items = [["Via", "via", value] for _, key, value in src._items if key == "via"]
    index = src._idx()
    for key, name in (("from", "From"), ("to", "To"), ("call-id", "Call-ID"), ("cseq", "CSeq")):
        values = index.get(key)
        if values:
            value = values[0]
            if key == "to" and to_tag and status > 100 and ";tag=" not in value.replace(" ", "").lower():
                value = f"{value};tag={check_text(to_tag, 'To', 'tag')}"
            items.append([name, key, value])
    ts = index.get("timestamp")
    if ts and status == 100:  # §8.2.6.1
        items.append(["Timestamp", "timestamp", ts[0]])
    return Response(status, reason, Headers._from_parsed(items))


def canonical_name(name: str) -> str:
    return canonical(name)
