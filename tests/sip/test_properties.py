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


@settings(max_examples=500, deadline=None)
@given(st.text(alphabet='ab=", \\;\t', max_size=16))
def test_auth_param_fast_path_agrees_with_the_scanner(text: str) -> None:
    """The regex fast path of parse_auth_params gives what the character scanner gives, errors included."""
    from ims.sip.headers import _scan_auth_params, parse_auth_params

    def run(fn):  # type: ignore[no-untyped-def]
        try:
            return fn(text, "Authorization")
        except SipParseError as exc:
            return exc.reason
    assert run(parse_auth_params) == run(_scan_auth_params)


name_addr_parts = st.lists(st.sampled_from(
    ['"Al"', '"A\\"l"', "Bob", " ", "\t", "<", ">", "sip:", "sips:", "SIP:", "tel:+1", "u", "@", ":", "5060",
     "99999", "h.example", "[::1]", ";", "lr", "=", "tag", "x", '"', "?", "h=1", ",", "%41"]), max_size=14)


def _mostly(good: str, *faults: str) -> st.SearchStrategy[str]:
    """``good`` four times in five, else one of ``faults``."""
    return st.one_of(st.just(good), st.just(good), st.just(good), st.just(good), st.sampled_from(faults))


# Mostly well-formed name-addrs with a fault here and there, so both paths and their agreement get exercised.
shaped_name_addrs = st.builds(
    lambda *p: "".join(p),
    st.sampled_from(["", " ", '"Al" ', "Bob ", "Bob  Lee\t", '"" ', '"A\\"l" ', "B@d "]), _mostly("<", "", "<<"),
    st.sampled_from(["sip:", "SIP:", "sips:", "Sips:", "sip:", "tel:", "x:"]),
    st.sampled_from(["u@", "u:pw@", "", "%41b@", "u.x-y@", "@", "u s@"]),
    _mostly("h.example", "[::1]", "10.0.0.1", "", "h_x"), st.sampled_from(["", ":5060", ":65535", ":99999", ":"]),
    st.sampled_from(["", ";lr", ";transport=TCP;lr", ";;", ";", ";a=b c", "?h=1"]), _mostly(">", ">>", " >", ""),
    st.sampled_from(["", ";tag=1", ";tag", ";;", ";", " ;q=1", ';+sip.instance="<urn:x>"', "junk", ";a=b ",
                     ",<sip:b@c>", " "]))


@settings(max_examples=1500, deadline=None)
@given(st.one_of(name_addr_parts.map("".join), shaped_name_addrs))
def test_name_addr_fast_path_agrees_with_the_general_parser(text: str) -> None:
    """NameAddr.parse's one-regex path gives what the general parser gives, errors included."""
    from ims.sip.uri import NameAddr


    def run(fn):  # type: ignore[no-untyped-def]
        try:
            na = fn(text, "From header")
        except SipParseError as exc:
            return exc.reason
        return (str(na), na.display_name, na.params, type(na.uri).__name__, str(na.uri))
    assert run(NameAddr.parse) == run(NameAddr._parse_general)


def test_name_addr_fast_path_cases() -> None:
    from ims.sip.uri import NameAddr

    for text in ('<sip:alice@ims.example.net>;tag=1958361234', ' "Alice" <sip:a@h:5060;lr;transport=tcp> ',
                 'Alice  Smith <sips:a:pw@[::1]:5061>;q=0.5;expires=60',
                 '<sip:001010000000001@10.45.0.2:5060>;+sip.instance="<urn:gsma:imei:35846812-345678-0>";audio',
                 '<sip:a@h:70000>', '<sip:a@h;;x>', '<sip:a@h>;', '<sip:a@h>junk'):
        try:
            fast = NameAddr.parse(text, "Contact header")
        except SipParseError as exc:
            with __import__("pytest").raises(SipParseError) as info:
                NameAddr._parse_general(text, "Contact header")
            assert info.value.reason == exc.reason
            continue
        general = NameAddr._parse_general(text, "Contact header")
        assert (str(fast), fast.display_name, fast.params) == (str(general), general.display_name, general.params)


def _split_reference(value: str) -> list[str]:
    """The character-by-character splitter split_values_keep_empty replaced (kept as the reference)."""
    out: list[str] = []
    start = 0
    quoted = angle = False
    i, n = 0, len(value)
    while i < n:
        c = value[i]
        if quoted:
            if c == "\\":
                i += 1
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
        i += 1
    out.append(value[start:].strip())
    return out


@settings(max_examples=1500, deadline=None)
@given(st.text(alphabet='ab,"<>\\ \t;=', max_size=24))
def test_7_3_1_list_splitter_agrees_with_the_character_loop(value: str) -> None:
    from ims.sip.headers import split_values_keep_empty

    assert split_values_keep_empty(value) == _split_reference(value)  # all three paths: plain, <>, quoted
