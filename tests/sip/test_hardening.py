"""Hostile input and API misuse (issue 13): numbers, header injection, limits.

Every number the SIP stack reads is ASCII digits of bounded length (RFC 3261 §25.1 DIGIT is %x30-39;
Python's ``str.isdigit`` also takes '²' and ``int`` refuses more than 4,300 digits), and every fault is
a :class:`SipParseError` naming the header, never a ``ValueError``.  What is set through the API with
CR, LF or NUL is refused with :class:`HeaderInjectionError` (STYLE.md §6a).
"""

from __future__ import annotations

import pytest

from ims.sip import SipLimits
from ims.sip.errors import HeaderInjectionError, SipError, SipParseError, SipValueError
from ims.sip.framing import StreamFramer
from ims.sip.headers import Credentials, Headers, SecurityMechanism, Via
from ims.sip.limits import DEFAULT_LIMITS, decimal
from ims.sip.message import Request, Response, build_response, parse_message
from ims.sip.uri import SipURI, parse_uri

OPTIONS = (b"OPTIONS sip:bob@h.example SIP/2.0\r\nVia: SIP/2.0/UDP a.example;branch=z9hG4bK1\r\n"
           b"From: <sip:a@h.example>;tag=1\r\nTo: <sip:bob@h.example>\r\nCall-ID: c1\r\nCSeq: 1 OPTIONS\r\n"
           b"Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n")
RESPONSE = (b"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP a.example;branch=z9hG4bK1\r\nFrom: <sip:a@h.example>;tag=1\r\n"
            b"To: <sip:bob@h.example>;tag=2\r\nCall-ID: c1\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n")
SUPER2 = "\u00b2"  # '²': str.isdigit() says yes, int() says no
ARABIC3 = "\u0663"  # '٣': str.isdigit() and int() both say yes; SIP says no
HUGE = "9" * 5000  # int() of this raises ValueError (Python's int-string limit)


def _with(header: bytes, base: bytes = OPTIONS) -> bytes:
    return base.replace(b"Content-Length: 0\r\n", header + b"\r\nContent-Length: 0\r\n")


def _bad(data: bytes, *accessors: str) -> SipParseError:
    """The typed error parsing ``data`` (and reading ``accessors``) raises; anything else fails the test."""
    with pytest.raises(SipParseError) as info:
        msg = parse_message(data)
        for name in accessors:
            value = getattr(msg, name)
            for item in value if isinstance(value, list) else [value]:
                for prop in ("rport", "ttl", "expires", "q", "spi_c", "spi_s", "port_c", "port_s", "nc"):
                    if hasattr(type(item), prop):
                        getattr(item, prop)
    assert info.value.status in (400, 413, 513), info.value.status
    return info.value


# --- numbers -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("digit", [SUPER2, ARABIC3, HUGE, "-1", "+1", "1_0", " ", "0x1"])
@pytest.mark.parametrize("header,accessor,name", [
    (b"Max-Forwards: {}", None, "Max-Forwards"),
    (b"Expires: {}", "expires", "Expires"),
    (b"Min-Expires: {}", "min_expires", "Min-Expires"),
    (b"RSeq: {}", "rseq", "RSeq"),
    (b"RAck: {} 1 INVITE", "rack", "RAck"),
    (b"RAck: 1 {} INVITE", "rack", "RAck"),
    (b"Retry-After: {}", "retry_after", "Retry-After"),
    (b"Session-Expires: {};refresher=uac", "session_expires", "Session-Expires"),
    (b"Min-SE: {}", "min_se", "Min-SE"),
    (b"Contact: <sip:a@h>;expires={}", "contacts", "Contact"),
    (b"Contact: <sip:a@h>;q={}", "contacts", "Contact"),
    (b"Security-Client: ipsec-3gpp;spi-c={}", "security_client", "Security header"),
    (b"Security-Server: ipsec-3gpp;port-s={}", "security_server", "Security header"),
    (b"Security-Verify: ipsec-3gpp;spi-s={}", "security_verify", "Security header"),
    (b"Security-Client: digest;q={}", "security_client", "Security header"),
    (b"Authorization: Digest username=\"a\", nc={}", "authorization", "Authorization"),
])
def test_25_1_numbers_are_ascii_digits_of_bounded_length(digit: str, header: bytes, accessor: str | None,
                                                         name: str) -> None:
    data = _with(header.replace(b"{}", digit.encode()))
    if name == "Contact" and b"expires" in header and digit == HUGE:
        # §10.2.1.1 (RFC 4475 scalar02): an overlarge expiry reads as the largest, it is not an error.
        assert parse_message(data).contacts[0].expires == 2**32 - 1
        return
    err = _bad(data, *([accessor] if accessor else []))
    assert name in err.reason


@pytest.mark.parametrize("text,what", [
    (f"SIP/2.0/UDP h;rport={SUPER2}", "rport"), (f"SIP/2.0/UDP h;rport={HUGE}", "rport"),
    (f"SIP/2.0/UDP h;ttl={SUPER2}", "ttl"), (f"SIP/2.0/UDP h;ttl={HUGE}", "ttl"),
    (f"SIP/2.0/UDP h:{SUPER2}", "port"), (f"SIP/2.0/UDP h :{SUPER2}", "port"),
    (f"SIP/2.0/UDP h;ttl=1;rport={ARABIC3}", "rport"), ("SIP/2.0/UDP h;rport=70000", "rport"),
    (f"SIP / 2.0 / UDP h;ttl={HUGE}", "ttl"),
])
def test_20_42_via_numbers_are_checked_when_the_via_is_parsed(text: str, what: str) -> None:
    with pytest.raises(SipParseError, match="Via") as info:
        Via.parse(text)
    assert what in info.value.reason and info.value.status == 400
    err = _bad(OPTIONS.replace(b"Via: SIP/2.0/UDP a.example;branch=z9hG4bK1",
                               f"Via: {text};branch=z9hG4bK1".encode()))
    assert "Via" in err.reason


def test_rfc3581_rport_read_from_a_via_built_by_hand_is_typed() -> None:
    via = Via("UDP", "h", None, {"rport": SUPER2, "ttl": HUGE})
    with pytest.raises(SipParseError, match="rport"):
        via.rport  # noqa: B018
    with pytest.raises(SipParseError, match="ttl"):
        via.ttl  # noqa: B018
    assert Via.parse("SIP/2.0/UDP h;rport").rport is True and Via.parse("SIP/2.0/UDP h;rport=5062").rport == 5062


@pytest.mark.parametrize("cseq", [f"{SUPER2} OPTIONS", f"{HUGE} OPTIONS", f"1{ARABIC3} OPTIONS"])
def test_8_1_1_5_cseq_number(cseq: str) -> None:
    err = _bad(OPTIONS.replace(b"CSeq: 1 OPTIONS", f"CSeq: {cseq}".encode()))
    assert "Bad CSeq header" in err.reason


@pytest.mark.parametrize("uri", [f"sip:bob@h.example:{SUPER2}", f"sip:bob@h.example:{HUGE}",
                                 f"sip:bob@h.example:5{ARABIC3};lr", f"sips:[::1]:{SUPER2}"])
def test_19_1_uri_port(uri: str) -> None:
    with pytest.raises(SipParseError, match="bad port"):
        parse_uri(uri)
    err = _bad(OPTIONS.replace(b"sip:bob@h.example SIP", f"{uri} SIP".encode()))
    assert "Request-URI" in err.reason
    err = _bad(OPTIONS.replace(b"To: <sip:bob@h.example>", f"To: <{uri}>".encode()))
    assert "port" in err.reason


@pytest.mark.parametrize("code", [SUPER2 * 3, ARABIC3 * 3, "2" + SUPER2 + "0", HUGE])
def test_7_2_status_code(code: str) -> None:
    err = _bad(RESPONSE.replace(b"200", code.encode(), 1))
    assert "Bad status code" in err.reason


def test_lazily_parsed_numbers_answer_400_through_build_response() -> None:
    """A core that reads a bad number late gets a SipParseError; the driver answers 400 with its reason."""
    msg = parse_message(_with(f"RSeq: {SUPER2}".encode()))
    assert isinstance(msg, Request)
    with pytest.raises(SipError) as info:
        msg.rseq  # noqa: B018
    resp = build_response(msg, info.value.status, info.value.reason)
    assert resp.to_bytes().startswith(b"SIP/2.0 400 Bad RSeq header")


def test_decimal_helper_bounds() -> None:
    assert decimal("0", "x") == 0 and decimal("4294967295", "x") == 2**32 - 1
    assert decimal("99999999999", "x", 10, clamp=True) == 10 and decimal(HUGE, "x", 7, clamp=True) == 7
    for bad in ("", SUPER2, "4294967296", HUGE, "1 2"):
        with pytest.raises(SipParseError, match="Bad x"):
            decimal(bad, "x")


def test_content_length_of_4301_digits_on_a_stream() -> None:
    data = OPTIONS.replace(b"Content-Length: 0", b"Content-Length: " + b"1" * 4301)
    with pytest.raises(SipParseError, match="Content-Length"):
        StreamFramer().feed(data)
    with pytest.raises(SipParseError, match="Content-Length"):
        parse_message(data, datagram=False)


# --- header injection -------------------------------------------------------------------------------

@pytest.mark.parametrize("bad", ["hi\r\nVia: SIP/2.0/UDP evil;branch=z9hG4bKx", "a\nb", "a\rb", "a\x00b"])
def test_7_3_1_header_values_with_cr_lf_nul_are_refused_when_set(bad: str) -> None:
    m = parse_message(OPTIONS)
    for call in (lambda: m.set("Subject", bad), lambda: m.add("Subject", bad),
                 lambda: m.add("Via", bad, first=True), lambda: m.headers.set("Subject", bad),
                 lambda: Headers([("Subject", bad)]),
                 lambda: Request("OPTIONS", "sip:b@h", [("Subject", bad)])):
        with pytest.raises(HeaderInjectionError) as info:
            call()
        assert "Subject" in info.value.reason or "Via" in info.value.reason
        assert isinstance(info.value, SipError) and isinstance(info.value, ValueError)
    assert parse_message(m.to_bytes()).get_all("via") == ["SIP/2.0/UDP a.example;branch=z9hG4bK1"]


@pytest.mark.parametrize("name", ["Sub ject", "Subject:", "X\r\nVia", "", "X\x00"])
def test_header_names_must_be_tokens(name: str) -> None:
    m = parse_message(OPTIONS)
    with pytest.raises(HeaderInjectionError, match="header name"):
        m.set(name, "x")
    with pytest.raises(HeaderInjectionError):
        m.add(name, "x")


@pytest.mark.parametrize("uri", ["sip:b@h\r\nVia: x", "sip:b@h\n", "sip:b@h\x00", "sip:b@h SIP/2.0\r\nX:", ""])
def test_7_1_request_uri_with_cr_lf_nul_or_blank_is_refused(uri: str) -> None:
    with pytest.raises(HeaderInjectionError, match="Request-URI"):
        Request("OPTIONS", uri)
    req = Request("OPTIONS", "sip:b@h")
    with pytest.raises(HeaderInjectionError, match="Request-URI"):
        req.uri = uri
    assert req.start_line() == "OPTIONS sip:b@h SIP/2.0"


def test_uri_objects_changed_into_injection_are_refused() -> None:
    with pytest.raises(HeaderInjectionError):
        Request("OPTIONS", SipURI(user="a\r\nVia: x", host="h"))
    req = Request("OPTIONS", SipURI(user="b", host="h"))
    req.uri.params["x"] = "\r\nVia: evil"  # type: ignore[union-attr]  # changed in place after it was set
    with pytest.raises(HeaderInjectionError, match="Request-URI"):
        req.to_bytes()


def test_reason_phrase_and_method_are_checked() -> None:
    req = parse_message(OPTIONS)
    assert isinstance(req, Request)
    with pytest.raises(HeaderInjectionError, match="reason phrase"):
        build_response(req, 400, "Bad\r\nVia: SIP/2.0/UDP evil")
    resp = build_response(req, 200)
    with pytest.raises(HeaderInjectionError):
        resp.reason = "OK\r\nX: y"
    assert resp.reason == "OK"
    with pytest.raises(HeaderInjectionError):
        build_response(req, 180, to_tag="1\r\nX: y")
    with pytest.raises(SipValueError, match="method"):
        Request("OPTIONS sip:x SIP/2.0\r\n", "sip:b@h")
    with pytest.raises(SipValueError, match="status"):
        Response(2000)


def test_parse_errors_make_safe_reason_phrases() -> None:
    """A reason quoting the input is one short line: it is sent as the 400's Reason-Phrase."""
    err = SipParseError("Bad X header: " + "a\r\nVia: y" * 100)
    assert "\r" not in err.reason and "\n" not in err.reason and len(err.reason) <= 200
    data = OPTIONS.replace(b"Call-ID: c1", b"Call-ID: " + b"x " * 2000)
    with pytest.raises(SipParseError) as info:
        parse_message(data)
    assert len(info.value.reason) <= 200
    assert build_response(info.value.partial, 400, info.value.reason)  # type: ignore[arg-type]


def test_rfc4475_intmeth_quoted_nul_is_still_answered() -> None:
    """NUL inside a quoted-pair is legal input (RFC 4475 §3.1.1.2): build_response copies it as received."""
    from tests.sip.test_rfc4475 import VALID

    req = parse_message(VALID["3.1.1.2-intmeth"])
    assert isinstance(req, Request)
    resp = build_response(req, 200, to_tag="x")
    assert b"\x00" in resp.to_bytes() and parse_message(resp.to_bytes()).status == 200  # type: ignore[union-attr]


@pytest.mark.parametrize("smuggle", [b"\r\n folded\nVia: SIP/2.0/UDP evil;branch=z9hG4bKx",
                                     b"\r\n folded\rVia: SIP/2.0/UDP evil;branch=z9hG4bKx",
                                     b"\nVia: SIP/2.0/UDP evil;branch=z9hG4bKx\r\n folded"])
def test_7_3_1_folded_lines_with_a_bare_cr_or_lf_are_rejected(smuggle: bytes) -> None:
    """With a folded line in the message the bare-LF check used to be skipped: a second Via was forwarded."""
    data = OPTIONS.replace(b"Subject", b"").replace(b"Max-Forwards: 70", b"Max-Forwards: 70\r\nSubject: a" + smuggle)
    with pytest.raises(SipParseError, match="bare CR or LF"):
        parse_message(data)


# --- limits -----------------------------------------------------------------------------------------

def test_21_5_11_message_too_large() -> None:
    data = _with(b"X-Pad: " + b"p" * 70000)
    with pytest.raises(SipParseError, match="Message Too Large") as info:
        parse_message(data)
    assert info.value.status == 513
    small = SipLimits(max_message_bytes=300)
    with pytest.raises(SipParseError) as info:
        parse_message(_with(b"X-Pad: " + b"p" * 200), limits=small)
    assert info.value.status == 513
    framer = StreamFramer(limits=small)
    with pytest.raises(SipParseError) as info:
        framer.feed(_with(b"X-Pad: " + b"p" * 200))
    assert info.value.status == 513


def test_too_many_headers_and_too_long_a_header() -> None:
    many = _with(b"\r\n".join(b"X-H%d: v" % i for i in range(300)))
    with pytest.raises(SipParseError, match="Too many headers") as info:
        parse_message(many)
    assert info.value.status == 400
    assert parse_message(many, limits=SipLimits(max_headers=400)).get("x-h299") == "v"
    long = _with(b"Subject: " + b"s" * 9000)
    with pytest.raises(SipParseError, match="longer than 8192"):
        parse_message(long)
    folded = _with(b"Subject: s" + b"\r\n " + b"\r\n ".join([b"s" * 100] * 90))
    with pytest.raises(SipParseError, match="Subject header: longer than 8192"):
        parse_message(folded)


def test_21_4_11_body_too_large() -> None:
    body = b"v=0\r\n" * 40
    data = OPTIONS.replace(b"Content-Length: 0", b"Content-Length: %d" % len(body)) + body
    assert parse_message(data).body == body
    with pytest.raises(SipParseError, match="Entity Too Large") as info:
        parse_message(data, limits=SipLimits(max_body_bytes=100))
    assert info.value.status == 413


def test_limits_defaults_and_validation() -> None:
    assert DEFAULT_LIMITS.max_message_bytes == 65535 and DEFAULT_LIMITS.max_multipart_depth == 4
    with pytest.raises(ValueError, match="max_headers"):
        SipLimits(max_headers=0)
    with pytest.raises(AttributeError):
        DEFAULT_LIMITS.max_headers = 3  # type: ignore[misc]


def test_typed_numeric_accessors_read_good_values() -> None:
    msg = parse_message(_with(b"Retry-After: 18000 (in a meeting);duration=3600\r\nSession-Expires: 1800;"
                              b"refresher=UAS\r\nMin-SE: 90\r\nRAck: 776656 1 INVITE\r\nSecurity-Client: "
                              b"ipsec-3gpp;alg=hmac-sha-1-96;spi-c=1111;spi-s=2222;port-c=5062;port-s=5064;q=0.1"))
    assert msg.retry_after == 18000 and msg.session_expires == (1800, "uas") and msg.min_se == 90
    assert msg.rack == (776656, 1, "INVITE")
    sec = msg.security_client[0]
    assert (sec.spi_c, sec.spi_s, sec.port_c, sec.port_s, sec.q) == (1111, 2222, 5062, 5064, 0.1)
    assert SecurityMechanism.parse("digest").spi_c is None


@pytest.mark.parametrize("where", [b"OPTIONS sip:bob\x00x@h.example SIP", b"OPTIONS sip:bob@h.example;a=\x00 SIP",
                                   b"OPTIONS tel:+1\x00;phone-context=x SIP", b"OPTIONS urn:x\x00y SIP"])
def test_19_1_1_nul_in_the_request_uri_is_a_parse_error(where: bytes) -> None:
    """A URI holds no control character: refused on input (400), not later when a copy is written (500)."""
    err = _bad(OPTIONS.replace(b"OPTIONS sip:bob@h.example SIP", where))
    assert err.reason.startswith("Request-URI")


def test_nul_in_a_contact_uri_parameter_is_a_parse_error() -> None:
    for header in (b"Contact: <sip:a@h;x=\x00>", b"Route: <sip:a@h;lr;x=\x00>", b"P-Asserted-Identity: <sip:a@h;\x00>"):
        assert "NUL" in _bad(_with(header), "routes", "p_asserted_identity").reason


def test_rfc7616_digest_over_non_utf8_directives_is_computed_on_the_octets() -> None:
    """Non-UTF-8 bytes in a realm or username reach the digest as the octets sent (fuzz finding F4)."""
    from ims.sip.auth import build_authorization, verify_response

    req = parse_message(_with(b'Authorization: Digest username="al\xffce", realm="r\xfe", nonce="n", uri="sip:h",'
                              b' response="00", qop=auth, nc=00000001, cnonce="c"'))
    creds = req.authorization[0]
    assert verify_response(creds, password=b"pw", method="OPTIONS") is False
    resp = parse_message(_with(b'WWW-Authenticate: Digest realm="r\xfe", nonce="n\xff", qop="auth"', RESPONSE))
    auth = build_authorization(resp.www_authenticate[0], username="a", password=b"pw", method="OPTIONS", uri="sip:h",
                               cnonce="c")
    assert 'realm="r\udcfe"' in auth
    assert verify_response(Credentials.parse(auth), password=b"pw", method="OPTIONS") is True


def test_a_method_assigned_after_construction_is_checked_when_written() -> None:
    req = Request("OPTIONS", "sip:b@h")
    req.method = "OPTIONS sip:evil SIP/2.0\r\nVia: x\r\n\r\nOPTIONS"
    with pytest.raises(HeaderInjectionError, match="method or Request-URI"):
        req.to_bytes()
    assert "unwritable" in repr(req)
