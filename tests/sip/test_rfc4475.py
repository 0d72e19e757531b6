"""RFC 4475 torture tests against the message layer, from the byte-exact files in tests/sip/rfc4475/.

Valid messages (§3.1.1, §3.2.1, §3.4.1 and the application-layer cases of
§3.3) must parse and expose their typed headers; invalid ones (§3.1.2, and
§3.3.1/3.3.8/3.3.9, which RFC 4475 says to answer with 400) must raise
SipParseError with a reason that names the fault.  Where RFC 4475 allows a
liberal element to accept an invalid message, the decision is written next to
the case.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from ims.sip.errors import SipParseError
from ims.sip.headers import Via
from ims.sip.message import Request, Response, parse_message
from ims.sip.multipart import parse_multipart
from ims.sip.uri import AbsoluteURI, SipURI, TelURI

DATA = Path(__file__).parent / "rfc4475"


def load(name: str) -> bytes:
    return (DATA / f"{name}.dat").read_bytes()


# Section -> file, for the messages a parser must accept.
VALID_FILES = {
    "3.1.1.1-wsinv": "wsinv", "3.1.1.2-intmeth": "intmeth", "3.1.1.3-esc01": "esc01",
    "3.1.1.4-escnull": "escnull", "3.1.1.5-esc02": "esc02", "3.1.1.6-lwsdisp": "lwsdisp",
    "3.1.1.7-longreq": "longreq", "3.1.1.8-dblreq": "dblreq", "3.1.1.9-semiuri": "semiuri",
    "3.1.1.10-transports": "transports", "3.1.1.11-mpart01": "mpart01", "3.1.1.12-unreason": "unreason",
    "3.1.1.13-noreason": "noreason", "3.2.1-badbranch": "badbranch", "3.4.1-inv2543": "inv2543",
}
# §3.3: syntactically valid; the element above the parser refuses them (416, 420, 415, 483...).
APP_LAYER_FILES = {
    "3.3.2-unkscm": "unkscm", "3.3.3-novelsc": "novelsc", "3.3.4-unksm2": "unksm2", "3.3.5-bext01": "bext01",
    "3.3.6-invut": "invut", "3.3.7-regaut01": "regaut01", "3.3.10-bcast": "bcast", "3.3.11-zeromf": "zeromf",
    "3.3.12-cparam01": "cparam01", "3.3.13-cparam02": "cparam02", "3.3.14-regescrt": "regescrt",
    "3.3.15-sdp01": "sdp01",
}
VALID = {key: load(name) for key, name in VALID_FILES.items()}
APP_LAYER_VALID = {key: load(name) for key, name in APP_LAYER_FILES.items()}

# Section -> (file, fragment of the reason, status).  Each decision follows the RFC 4475 text.
INVALID_SPEC: dict[str, tuple[str, str, int]] = {
    # "syntactically invalid ... should respond with a 400"
    "3.1.2.1-badinv01": ("badinv01", "Bad Via header: empty value between commas", 400),
    # over UDP "should respond with a 400 Bad Request"
    "3.1.2.2-clerr": ("clerr", "Content-Length 9999 exceeds body of 154 bytes", 400),
    # "should respond with an error"
    "3.1.2.3-ncl": ("ncl", "Bad Content-Length header: '-999'", 400),
    # "should respond with a 400 Bad Request due to the CSeq error"
    "3.1.2.4-scalar02": ("scalar02", "Bad CSeq header", 400),
    # a response: "will simply discard it" - the parse error is the signal to drop
    "3.1.2.5-scalarlg": ("scalarlg", "Bad CSeq header", 400),
    # "should return a 400"; we do not infer the missing quote
    "3.1.2.6-quotbal": ("quotbal", "Bad To header: unterminated quoted display name", 400),
    # "reasonable always to reject ... with a 400"
    "3.1.2.7-ltgtruri": ("ltgtruri", "Request-URI: Bad URI: enclosed in <>", 400),
    # "should respond with a 400"
    "3.1.2.8-lwsruri": ("lwsruri", "Bad request line: whitespace inside the Request-URI", 400),
    # "acceptable to reject this request as malformed": we are strict
    "3.1.2.9-lwsstart": ("lwsstart", "Bad request line: more than one SP between elements", 400),
    "3.1.2.10-trws": ("trws", "Bad request line: whitespace after the SIP-Version", 400),
    # "acceptable ... to reject with a 400"; §19.1.1 forbids headers in a Request-URI
    "3.1.2.11-escruri": ("escruri", "Request-URI must not contain escaped headers", 400),
    # "acceptable to reject": Date is checked when present since we stamp and compare it
    "3.1.2.12-baddate": ("baddate", "Bad Date header", 400),
    # "reasonable ... to respond with a 400"; we do not infer the brackets
    "3.1.2.13-regbadct": ("regbadct", "Bad Contact header: URI with '?' or ',' must be in <>", 400),
    # "reasonable to reject this request with a 400"
    "3.1.2.14-badaspec": ("badaspec", "Bad To header: spaces inside <>", 400),
    # "reasonable always to reject this kind of error with a 400"
    "3.1.2.15-baddn": ("baddn", "Bad From header: display name with non-token characters must be quoted", 400),
    # "should respond ... with a 505 Version Not Supported"
    "3.1.2.16-badvers": ("badvers", "Unsupported SIP version 'SIP/7.0'", 505),
    # "will respond with a 400 Bad Request"
    "3.1.2.17-mismatch01": ("mismatch01", "CSeq method 'INVITE' does not match request method 'OPTIONS'", 400),
    # "should respond with a 501 Not Implemented" (400 also acceptable): 501 for unknown methods
    "3.1.2.18-mismatch02": ("mismatch02", "CSeq method 'INVITE' does not match request method 'NEWMETHOD'", 501),
    # a response with a code > 699: "should simply drop it"
    "3.1.2.19-bigcode": ("bigcode", "Bad status code '4294967301'", 400),
    # §3.3.1 "should respond with a 400": Call-ID, From, To (and Max-Forwards) are missing
    "3.3.1-insuf": ("insuf", "Missing Call-ID header", 400),
    # §3.3.8 "respond with a 400 Bad Request": single-valued fields repeated
    "3.3.8-multi01": ("multi01", "header appears 2 times", 400),
    # §3.3.9 "should respond with a 400": no way to know the body length
    "3.3.9-mcl01": ("mcl01", "Conflicting Content-Length headers", 400),
}
INVALID = {key: (load(name), fragment) for key, (name, fragment, _) in INVALID_SPEC.items()}


def test_every_file_is_covered() -> None:
    names = {p.stem for p in DATA.glob("*.dat")}
    used = set(VALID_FILES.values()) | set(APP_LAYER_FILES.values()) | {n for n, _, _ in INVALID_SPEC.values()}
    assert names == used and len(names) == 49


@pytest.mark.parametrize("key", sorted(VALID_FILES) + sorted(APP_LAYER_FILES))
def test_valid_messages_parse_and_expose_typed_headers(key: str) -> None:
    raw = VALID.get(key) or APP_LAYER_VALID[key]
    msg = parse_message(raw)
    # Every typed accessor a transaction or proxy touches.
    assert msg.vias and msg.top_via.host and msg.call_id and msg.cseq.seq >= 0
    assert msg.from_.uri is not None and msg.to.uri is not None
    msg.contacts, msg.routes, msg.record_routes, msg.max_forwards  # noqa: B018
    msg.require, msg.proxy_require, msg.supported, msg.authorization  # noqa: B018
    assert msg.content_length == len(msg.body)
    # Unmodified: the exact bytes back (dblreq and mpart01 included).
    assert msg.to_bytes() == (raw if key != "3.1.1.8-dblreq" else raw[: raw.index(b"\r\n\r\n") + 4])
    copy = msg.copy()
    copy.set("Max-Forwards", "1")
    assert parse_message(copy.to_bytes()).max_forwards == 1


@pytest.mark.parametrize("key", sorted(INVALID_SPEC))
def test_invalid_messages_raise_a_reason_and_status(key: str) -> None:
    _, fragment, status = INVALID_SPEC[key]
    with pytest.raises(SipParseError) as info:
        parse_message(INVALID[key][0])
    assert fragment in info.value.reason, info.value.reason
    assert info.value.status == status


def test_3_1_1_1_wsinv_short_tortuous_invite() -> None:
    msg = parse_message(VALID["3.1.1.1-wsinv"])
    assert isinstance(msg, Request) and msg.method == "INVITE"
    uri = msg.uri
    assert isinstance(uri, SipURI) and uri.params == {"unknownparam": None}
    assert msg.to.uri == SipURI.parse("sip:vivekg@chair-dnrc.example.com") and msg.to.tag == "1918181833n"
    assert msg.from_.display_name == 'J Rosenberg \\"' and msg.from_.tag == "98asjd8"
    assert msg.max_forwards == 68 and (msg.cseq.seq, msg.cseq.method) == (9, "INVITE")  # leading zeros
    assert msg.call_id == "wsinv.ndaksdj@192.0.2.1" and msg.content_length == 150
    assert [(v.transport, v.host, v.branch) for v in msg.vias] == [
        ("UDP", "192.0.2.2", "390skdjuw"), ("TCP", "spindle.example.com", "z9hG4bK9ikj8"),
        ("UDP", "192.168.255.111", "z9hG4bK30239")]
    (contact,) = msg.contacts
    assert contact.address is not None and contact.address.display_name == 'Quoted string ""'
    assert contact.q == 0.33 and contact.params == {"newparam": "newvalue", "secondparam": None, "q": "0.33"}
    assert msg.get("NewFangledHeader") == "newfangled value continued newfangled value"
    assert msg.get("UnknownHeaderWithUnusualValue") == ";;,,;;,;"  # unknown: kept verbatim, never split
    assert msg.get("subject") == "" and msg.get("s") == ""
    assert msg.routes[0].uri.params == {"lr": None, "unknownwith": "value", "unknown-no-value": None}
    assert msg.media_type == "application/sdp" and msg.body.startswith(b"v=0\r\n")


def test_3_1_1_2_intmeth_wide_range_of_valid_characters() -> None:
    msg = parse_message(VALID["3.1.1.2-intmeth"])
    assert isinstance(msg, Request) and msg.method == "!interesting-Method0123456789_*+`.%indeed'~"
    uri = msg.uri
    assert isinstance(uri, SipURI) and uri.host == "example.com" and uri.params == {}
    assert uri.user == "1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*"
    assert uri.password == "&it+has=1,weird!*pas$wo~d_too.(doesn't-it)"
    assert msg.top_via.branch == "z9hG4bK-.!%66*_+`'~"
    assert msg.to.display_name == "BEL:\x07 NUL:\x00 DEL:\x7f"  # quoted-pairs of control characters
    assert msg.from_.display_name == "token1~` token2'+_ token3*%!.-"
    assert msg.from_.params["fromparam''~+*_!.-%"] == '"работающий"'
    assert msg.from_.tag == "_token~1'+`*%!-."
    assert msg.call_id == "intmeth.word%ZK-!.*_+'@word`~)(><:\\/\"][?}{"
    assert msg.cseq.method == msg.method and msg.max_forwards == 255
    assert msg.get("extensionHeader-!.%*+_`'~").encode("utf-8", "surrogateescape") == \
        b"\xef\xbb\xbf\xe5\xa4\xa7\xe5\x81\x9c\xe9\x9b\xbb"


def test_3_1_1_3_esc01_escaped_uris_compare_unescaped() -> None:
    msg = parse_message(VALID["3.1.1.3-esc01"])
    assert msg.uri.user == "sips%3Auser%40example.com"  # type: ignore[union-attr]
    assert msg.to.uri == SipURI.parse("sip:user@example.com")  # %75se%72 == user (§19.1.4)
    assert msg.from_.uri.user == "I%20have%20spaces"  # type: ignore[union-attr]
    uri = msg.contacts[0].uri
    assert uri == SipURI.parse("sip:caller@host5.example.net;lr;name=value%2541")
    assert uri != SipURI.parse("sip:caller@host5.example.net;lr;name=valueA")  # never unescaped twice


def test_3_1_1_4_escnull_two_distinct_contacts() -> None:
    msg = parse_message(VALID["3.1.1.4-escnull"])
    a, b = (c.uri for c in msg.contacts)
    assert a.user == "%00" and b.user == "%00%00" and a != b
    assert msg.to.uri.aor == "sip:null-\x00-null@example.com"  # type: ignore[union-attr]


def test_3_1_1_5_esc02_percent_is_not_an_escape_in_method_or_header_name() -> None:
    msg = parse_message(VALID["3.1.1.5-esc02"])
    assert isinstance(msg, Request) and msg.method == "RE%47IST%45R" and msg.cseq.method == "RE%47IST%45R"
    assert msg.to.display_name == "%Z%45" and msg.top_via.branch == "z9hG4bK209%fzsnel234"
    assert [c.uri.host for c in msg.contacts] == ["host1.example.com", "host3.example.com"]
    assert msg.get("C%6Fntact") == "<sip:alias2@host2.example.com>"


def test_3_1_1_6_lwsdisp_no_lws_before_laquot() -> None:
    msg = parse_message(VALID["3.1.1.6-lwsdisp"])
    assert msg.from_.display_name == "caller" and msg.from_.tag == "323"


def test_3_1_1_7_longreq_long_values_and_many_vias() -> None:
    msg = parse_message(VALID["3.1.1.7-longreq"])
    assert len(msg.vias) == 34
    assert [v.host for v in msg.vias[:33]] == [f"sip{i}.example.com" for i in range(33, 0, -1)]
    last = msg.vias[-1]
    assert last.received == "192.0.2.5" and last.branch == "very" + "long" * 50 + "branchvalue"
    assert msg.to.display_name == "I have a user name of " + "extreme" * 10 + " proportion"
    assert msg.to.uri.port == 6000 and len(msg.to.uri.params) == 3  # type: ignore[union-attr]
    assert msg.from_.tag == "12" + "982" * 50 + "424"
    assert msg.call_id == "longreq.one" + "really" * 20 + "longcallid"
    assert msg.contacts[0].uri.user == "amazinglylongcallername" * 5


def test_3_1_1_8_dblreq_extra_datagram_octets_are_discarded_18_3() -> None:
    raw = VALID["3.1.1.8-dblreq"]
    msg = parse_message(raw)
    assert isinstance(msg, Request) and msg.method == "REGISTER" and msg.body == b""
    assert b"INVITE" not in msg.to_bytes()
    with pytest.raises(SipParseError, match="less than"):
        parse_message(raw, datagram=False)  # on a stream the framer, not the parser, splits messages


def test_3_1_1_9_semiuri_semicolon_in_user_part() -> None:
    msg = parse_message(VALID["3.1.1.9-semiuri"])
    uri = msg.uri  # type: ignore[union-attr]
    assert isinstance(uri, SipURI) and uri.user == "user;par=u%40example.net" and uri.params == {}
    assert msg.get_all("accept") == ["application/sdp", "application/pkcs7-mime", "multipart/mixed",
                                     "multipart/signed", "message/sip", "message/sipfrag"]


def test_3_1_1_10_transports_extension_transport() -> None:
    msg = parse_message(VALID["3.1.1.10-transports"])
    assert [v.transport for v in msg.vias] == ["UDP", "SCTP", "TLS", "UNKNOWN", "TCP"]
    assert msg.call_id == "transports.kijh4akdnaqjkwendsasfdj"


def test_3_1_1_11_mpart01_binary_multipart_body() -> None:
    msg = parse_message(VALID["3.1.1.11-mpart01"])
    assert msg.content_length == 553 == len(msg.body)
    parts = parse_multipart(msg.content_type or "", msg.body)
    assert [p.media_type for p in parts] == ["text/plain", "application/octet-stream"]
    assert parts[0].body == b"Hello"
    der = parts[1].body
    assert der[:4] == b"\x30\x82\x01\x52" and len(der) == 0x152 + 4 and b"\x00" in der
    assert parts[1].headers["content-transfer-encoding"] == "binary"


def test_3_1_1_12_unreason_utf8_reason_phrase() -> None:
    msg = parse_message(VALID["3.1.1.12-unreason"])
    assert isinstance(msg, Response) and msg.status == 200
    assert msg.reason == "= 2**3 * 5**2 но сто девяносто девять - простое"


def test_3_1_1_13_noreason_empty_reason_phrase() -> None:
    msg = parse_message(VALID["3.1.1.13-noreason"])
    assert isinstance(msg, Response) and msg.status == 100 and msg.reason == ""


def test_3_2_1_badbranch_magic_cookie_alone_is_syntactically_valid() -> None:
    assert parse_message(VALID["3.2.1-badbranch"]).top_via.branch == "z9hG4bK"


def test_3_4_1_inv2543_rfc2543_syntax() -> None:
    msg = parse_message(VALID["3.4.1-inv2543"])
    via = msg.top_via
    assert via.branch is None and via.host == "iftgw.example.com"  # no branch: RFC 2543 peer (§8.2.3.1 note)
    assert msg.max_forwards is None and msg.from_.tag is None
    assert "content-length" not in msg.headers and msg.body.endswith(b"m=audio 49217 RTP/AVP 0\r\n")
    assert msg.record_routes[0].uri.maddr == "ss1.example.com"  # type: ignore[union-attr]


def test_3_3_application_layer_cases_parse_with_their_quirks() -> None:
    unkscm = parse_message(APP_LAYER_VALID["3.3.2-unkscm"])
    assert isinstance(unkscm, Request) and isinstance(unkscm.uri, AbsoluteURI)
    assert unkscm.uri.scheme == "nobodyknowsthisscheme"  # the UA answers 416
    novelsc = parse_message(APP_LAYER_VALID["3.3.3-novelsc"])
    assert str(novelsc.uri) == "soap.beep://192.0.2.103:3002"  # type: ignore[union-attr]
    unksm2 = parse_message(APP_LAYER_VALID["3.3.4-unksm2"])
    assert isinstance(unksm2.to.uri, AbsoluteURI) and str(unksm2.from_.uri) == "http://www.example.com"
    assert str(unksm2.contacts[0].uri) == "name:John_Smith"
    bext01 = parse_message(APP_LAYER_VALID["3.3.5-bext01"])
    assert bext01.require == ["nothingsupportsthis", "nothingsupportsthiseither"]  # the UAS answers 420
    assert bext01.proxy_require == ["noproxiessupportthis", "nordoanyproxiessupportthis"]
    invut = parse_message(APP_LAYER_VALID["3.3.6-invut"])
    assert invut.media_type == "application/unknownformat" and len(invut.body) == 40  # 415
    regaut = parse_message(APP_LAYER_VALID["3.3.7-regaut01"])
    (cred,) = regaut.authorization
    assert cred.scheme == "NoOneKnowsThisScheme" and cred.params == {"opaque-data": "here"}
    bcast = parse_message(APP_LAYER_VALID["3.3.10-bcast"])
    assert bcast.vias[1].host == "255.255.255.255"  # a UAC drops a response with more than one Via
    assert parse_message(APP_LAYER_VALID["3.3.11-zeromf"]).max_forwards == 0  # 483 at a proxy
    cparam01 = parse_message(APP_LAYER_VALID["3.3.12-cparam01"]).contacts[0]
    assert cparam01.params == {"unknownparam": None} and cparam01.uri.params == {}  # header parameter
    cparam02 = parse_message(APP_LAYER_VALID["3.3.13-cparam02"]).contacts[0]
    assert cparam02.params == {} and cparam02.uri.params == {"unknownparam": None}  # URI parameter
    regescrt = parse_message(APP_LAYER_VALID["3.3.14-regescrt"]).contacts[0]
    assert regescrt.uri.headers == {"Route": "%3Csip:sip.example.com%3E"}  # the registrar must not bind it
    sdp01 = parse_message(APP_LAYER_VALID["3.3.15-sdp01"])
    assert sdp01.get("accept") == "text/nobodyKnowsThis" and sdp01.media_type == "application/sdp"  # 406


def test_3_1_2_partial_request_carries_what_a_400_needs() -> None:
    for key in ("3.1.2.17-mismatch01", "3.1.2.12-baddate", "3.1.2.2-clerr", "3.1.2.16-badvers",
                "3.1.2.9-lwsstart", "3.1.2.7-ltgtruri", "3.3.8-multi01"):
        with pytest.raises(SipParseError) as info:
            parse_message(INVALID[key][0])
        partial = info.value.partial
        assert isinstance(partial, Request), key
        assert partial.get("via") and partial.get("call-id") and partial.get("cseq"), key


def test_3_1_2_5_and_19_responses_have_no_partial_request() -> None:
    for key in ("3.1.2.5-scalarlg", "3.1.2.19-bigcode"):
        with pytest.raises(SipParseError) as info:
            parse_message(INVALID[key][0])
        assert info.value.partial is None


def test_3_1_2_4_scalar02_values_out_of_range_are_named_one_by_one() -> None:
    raw = INVALID["3.1.2.4-scalar02"][0].replace(b"CSeq: 36893488147419103232", b"CSeq: 5")
    with pytest.raises(SipParseError, match="Max-Forwards"):
        parse_message(raw)
    ok = parse_message(raw.replace(b"Max-Forwards: 300", b"Max-Forwards: 70"))
    with pytest.raises(SipParseError, match="Bad Expires header"):
        ok.expires  # noqa: B018
    assert ok.contacts[0].expires == 2**32 - 1  # clamped: the registrar then applies its maximum


def test_3_1_2_13_bracketed_form_of_regbadct_is_accepted() -> None:
    raw = INVALID["3.1.2.13-regbadct"][0].replace(
        b"Contact: sip:user@example.com?Route=%3Csip:sip.example.com%3E",
        b"Contact: <sip:user@example.com?Route=%3Csip:sip.example.com%3E>")
    assert parse_message(raw).contacts[0].uri.headers == {"Route": "%3Csip:sip.example.com%3E"}


def test_via_parse_of_torture_values() -> None:
    v = Via.parse("SIP  /    2.0   / UDP  192.168.255.111   ; branch= z9hG4bK30239")
    assert (v.protocol, v.transport, v.host, v.branch) == ("SIP/2.0", "UDP", "192.168.255.111", "z9hG4bK30239")
    assert isinstance(parse_message(VALID["3.4.1-inv2543"]).to.uri, SipURI)
    assert not isinstance(parse_message(VALID["3.4.1-inv2543"]).to.uri, TelURI)


# Kept for other tests (properties, CLI): a small well-formed base message.
BASE = VALID["3.1.1.6-lwsdisp"]
