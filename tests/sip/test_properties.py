"""Property tests: parse(serialize(x)) == x, and hostile bytes raise only SipParseError."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from ims.sip.errors import SipParseError
from ims.sip.message import Request, Response, parse_message
from tests.sip.test_rfc4475 import BASE, VALID

token = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-.", min_size=1, max_size=12).filter(
    lambda s: s[0].isalnum())
host = st.builds(lambda a, b: f"{a}.{b}", token, st.sampled_from(["example.com", "example.org", "net"]))
method = st.sampled_from(["INVITE", "REGISTER", "OPTIONS", "BYE", "MESSAGE", "SUBSCRIBE", "X-NEW"])


@st.composite
def requests(draw: st.DrawFn) -> Request:
    m = draw(method)
    user, h = draw(token), draw(host)
    body = draw(st.binary(max_size=200))
    headers = [
        ("Via", f"SIP/2.0/UDP {draw(host)}:{draw(st.integers(1, 65535))};branch=z9hG4bK{draw(token)}"),
        ("From", f"<sip:{draw(token)}@{h}>;tag={draw(token)}"),
        ("To", f'"{draw(st.text(alphabet="abc XYZ", max_size=10))}" <sip:{user}@{h}>'),
        ("Call-ID", f"{draw(token)}@{draw(host)}"),
        ("CSeq", f"{draw(st.integers(0, 2**31 - 1))} {m}"),
        ("Max-Forwards", str(draw(st.integers(0, 255)))),
    ]
    for name in draw(st.lists(st.sampled_from(["X-A", "Subject", "Supported", "P-Custom"]), max_size=4)):
        headers.append((name, draw(token)))
    return Request(m, f"sip:{user}@{h}", headers, body)


@settings(max_examples=200, deadline=None)
@given(requests())
def test_parse_of_serialize_is_identity(req: Request) -> None:
    data = req.to_bytes()
    back = parse_message(data)
    assert isinstance(back, Request)
    assert back.method == req.method and str(back.uri) == str(req.uri)
    assert list(back._headers) == list(req._headers) and back.body == req.body
    assert back.to_bytes() == data


@settings(max_examples=100, deadline=None)
@given(st.integers(100, 699), st.text(alphabet="abcdefgh OK", max_size=20))
def test_response_roundtrip(status: int, reason: str) -> None:
    resp = Response(status, reason, [("Via", "SIP/2.0/UDP h;branch=z9hG4bK1"), ("From", "<sip:a@h>;tag=1"),
                                     ("To", "<sip:b@h>"), ("Call-ID", "c"), ("CSeq", "1 INVITE")])
    back = parse_message(resp.to_bytes())
    assert isinstance(back, Response) and back.status == status and back.reason == reason


@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=600))
def test_random_bytes_raise_only_parse_errors(data: bytes) -> None:
    try:
        parse_message(data)
    except SipParseError:
        pass


@settings(max_examples=500, deadline=None)
@given(st.sampled_from([BASE, *VALID.values()]), st.integers(0, 2000), st.binary(min_size=1, max_size=8))
def test_mutated_messages_raise_only_parse_errors(base: bytes, pos: int, junk: bytes) -> None:
    pos %= len(base)
    data = base[:pos] + junk + base[pos + len(junk):]
    try:
        msg = parse_message(data)
        for name in ("vias", "contacts", "routes", "authorization", "security_client", "p_charging_vector"):
            getattr(msg, name)
    except SipParseError:
        pass
