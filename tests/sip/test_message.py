"""SIP messages: parse, typed access, serialize, build (RFC 3261 §7, §8.2.6, §18.3, §20)."""

from __future__ import annotations

import pytest

from ims.sip.errors import SipError, SipParseError
from ims.sip.headers import Headers
from ims.sip.message import (
    Request, Response, build_response, new_branch, new_call_id, new_tag, parse_message,
)
from ims.sip.uri import SipURI, TelURI
from tools.bench_sip import INVITE, REGISTER

OPTIONS = (b"OPTIONS sip:bob@biloxi.example.com SIP/2.0\r\n"
           b"Via: SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bKhjhs8ass877\r\n"
           b"Max-Forwards: 70\r\nTo: <sip:bob@biloxi.example.com>\r\n"
           b"From: Alice <sip:alice@atlanta.example.com>;tag=1928301774\r\n"
           b"Call-ID: a84b4c76e66710\r\nCSeq: 63104 OPTIONS\r\nContent-Length: 0\r\n\r\n")


def test_7_unmodified_message_serializes_to_the_same_bytes() -> None:
    for raw in (OPTIONS, INVITE, REGISTER):
        msg = parse_message(raw)
        assert msg.to_bytes() == raw and bytes(msg) == raw


def test_volte_invite_typed_accessors() -> None:
    msg = parse_message(INVITE)
    assert isinstance(msg, Request) and msg.method == "INVITE"
    assert isinstance(msg.uri, TelURI) and msg.uri.phone_context == "ims.example.net"
    assert [v.branch for v in msg.vias] == ["z9hG4bK3f7a91c2e6d84b0f.0", "z9hG4bK1958361234smg.1"]
    assert msg.vias[1].rport == 5060 and msg.vias[1].received == "10.45.0.2"
    assert [r.uri.lr for r in msg.routes] == [True, True]  # type: ignore[union-attr]
    assert msg.routes[1].uri.transport == "udp" and msg.record_routes[0].uri.port == 5060  # type: ignore[union-attr]
    assert msg.from_.tag == "1958361234" and msg.to.tag is None and msg.max_forwards == 69
    (contact,) = msg.contacts
    assert contact.instance == "<urn:gsma:imei:35846812-345678-0>" and "audio" in contact.params
    assert msg.p_asserted_identity[0].uri == SipURI.parse("sip:alice@ims.example.net")
    assert msg.p_access_network_info is not None and msg.p_access_network_info.cell_id == "0010100010019B01"
    assert msg.p_charging_vector is not None and msg.p_charging_vector.orig_ioi == "ims.example"
    assert msg.security_verify[0].get_int("port-s") == 5063
    assert "precondition" in msg.supported and msg.require == ["sec-agree"] == msg.proxy_require
    assert msg.allow[:2] == ["INVITE", "ACK"] and msg.accept == ["application/sdp", "application/3gpp-ims+xml"]
    assert msg.media_type == "application/sdp" and msg.content_length == len(msg.body)


def test_ims_register_typed_accessors() -> None:
    msg = parse_message(REGISTER)
    (cred,) = msg.authorization
    assert cred.params["algorithm"] == "AKAv1-MD5" and cred.params["username"] == "001010000000001@ims.example.net"
    assert msg.security_client[0].params["ealg"] == "null" and msg.expires == 600000
    assert msg.contacts[0].expires == 600000 and msg.www_authenticate == []


def test_headers_not_typed_are_kept_verbatim() -> None:
    raw = OPTIONS.replace(b"Content-Length: 0", b"X-Weird:  ;;,, <a\r\nContent-Length: 0")
    msg = parse_message(raw)
    assert msg.get("x-weird") == ";;,, <a" and msg.to_bytes() == raw


def test_7_3_1_folded_lines_are_unfolded() -> None:
    raw = OPTIONS.replace(b"Max-Forwards: 70", b"Max-Forwards:\r\n  70")
    assert parse_message(raw).max_forwards == 70


def test_18_3_datagram_longer_than_content_length_is_truncated() -> None:
    raw = OPTIONS.replace(b"Content-Length: 0", b"Content-Length: 4") + b"abcdEXTRA"
    msg = parse_message(raw)
    assert msg.body == b"abcd" and msg.to_bytes().endswith(b"\r\n\r\nabcd")
    with pytest.raises(SipParseError, match="less than"):
        parse_message(raw, datagram=False)


def test_18_3_body_shorter_than_content_length_names_both_sizes() -> None:
    raw = OPTIONS.replace(b"Content-Length: 0", b"Content-Length: 200") + b"x" * 150
    with pytest.raises(SipParseError, match="^Content-Length 200 exceeds body of 150 bytes$") as info:
        parse_message(raw)
    assert info.value.status == 400 and isinstance(info.value.partial, Request)


def test_18_3_missing_content_length_in_a_datagram_means_the_rest() -> None:
    raw = OPTIONS.replace(b"Content-Length: 0\r\n", b"") + b"hello"
    assert parse_message(raw).body == b"hello"


@pytest.mark.parametrize("old,new,reason", [
    (b"Call-ID: a84b4c76e66710\r\n", b"", "Missing Call-ID header"),
    (b"CSeq: 63104 OPTIONS", b"CSeq: OPTIONS", "Bad CSeq header"),
    (b"OPTIONS sip:bob@biloxi.example.com SIP/2.0", b"OPTIONS sip:bob@biloxi.example.com:70000 SIP/2.0",
     "Request-URI: Bad SIP URI: bad port: '70000'"),
    (b"Max-Forwards: 70", b"Max-Forwards: many", "Bad Max-Forwards header"),
    (b"To: <sip:bob@biloxi.example.com>", b"To: <sip:bob@biloxi.example.com", "Bad To header: missing '>'"),
    (b"\r\n\r\n", b"\r\nBroken line\r\n\r\n", "Bad header line without ':'"),
    (b"\r\n\r\n", b"\r\nVia\r\n\r\n", "Bad header line without ':'"),  # a known name alone
    (b"\r\n\r\n", b"\r\nBad Name: x\r\n\r\n", "Bad header name 'Bad Name'"),
    (b"Max-Forwards: 70", b"Max-Forwards: 70\nX: y", "bare CR or LF inside a line"),
    (b"Max-Forwards: 70", b"Max-Forwards: 70\rX: y", "bare CR or LF inside a line"),
    (b"Max-Forwards: 70", b"Max-Forwards: 70\r\nMax-Forwards: 69", "Max-Forwards header appears 2 times"),
    (b"Content-Length: 0", b"Content-Length: 0\r\nl: 1", "Conflicting Content-Length headers"),
])
def test_malformed_messages_raise_one_typed_error_naming_the_fault(old: bytes, new: bytes, reason: str) -> None:
    with pytest.raises(SipParseError) as info:
        parse_message(OPTIONS.replace(old, new, 1))
    assert reason in info.value.reason and isinstance(info.value, SipError)


def test_7_lf_only_messages_are_named() -> None:
    with pytest.raises(SipParseError, match="LF, not CRLF"):
        parse_message(OPTIONS.replace(b"\r\n", b"\n"))


def test_7_5_leading_crlf_before_the_start_line_is_ignored() -> None:
    assert parse_message(b"\r\n\r\n" + OPTIONS).to_bytes() == OPTIONS


def test_a_change_drops_the_parsed_values_of_that_header_only() -> None:
    msg = parse_message(INVITE)
    from_, vias = msg.from_, msg.vias
    msg.add("v", "SIP/2.0/UDP 127.0.1.30:5060;branch=z9hG4bKnew", first=True)  # compact name, same header
    assert msg.from_ is from_ and msg.vias is not vias and msg.top_via.branch == "z9hG4bKnew"
    assert msg.pop_first_value("via") is not None and msg.top_via.branch == vias[0].branch
    fwd = msg.copy()
    assert fwd.from_ is from_  # the copy starts with the parsed values (shared views)
    fwd.set("From", "<sip:other@example.com>;tag=9")
    assert fwd.from_.tag == "9" and msg.from_ is from_ and msg.from_.tag == from_.tag
    msg.body = b"x"
    assert msg.content_length == 1 and msg.from_ is from_
    msg.headers.set("From", "<sip:third@example.com>;tag=3")  # raw write access: everything is re-read
    assert msg.from_.tag == "3" and msg.vias is not vias


def test_proxy_like_change_rebuilds_bytes_and_drops_cached_values() -> None:
    msg = parse_message(INVITE)
    top = msg.top_via
    fwd = msg.copy()
    fwd.add("Via", "SIP/2.0/UDP 127.0.1.30:5060;branch=" + new_branch(), first=True)
    fwd.set("Max-Forwards", str((msg.max_forwards or 70) - 1))
    again = parse_message(fwd.to_bytes())
    assert again.max_forwards == 68 and again.vias[1].branch == top.branch and len(again.vias) == 3
    assert again.top_via.host == "127.0.1.30" and msg.to_bytes() == INVITE  # the original is untouched
    assert fwd.max_forwards == 68 and fwd.top_via.host == "127.0.1.30"  # no stale cache


def test_request_uri_is_lazy_and_assignable() -> None:
    msg = parse_message(OPTIONS)
    assert isinstance(msg, Request)
    msg.uri = SipURI.parse("sip:bob@192.0.2.4:5080;transport=tcp")
    assert parse_message(msg.to_bytes()).uri.port == 5080  # type: ignore[union-attr]


def test_building_requests_and_responses() -> None:
    req = Request("MESSAGE", "sip:bob@example.com", [
        ("Via", f"SIP/2.0/UDP 127.0.0.1;branch={new_branch()}"), ("From", f"<sip:a@example.com>;tag={new_tag()}"),
        ("To", "<sip:bob@example.com>"), ("Call-ID", new_call_id("127.0.0.1")), ("CSeq", "1 MESSAGE"),
        ("Content-Type", "text/plain")], b"hi")
    raw = req.to_bytes()
    assert b"Content-Length: 2\r\n\r\nhi" in raw and parse_message(raw).body == b"hi"
    assert Response(486).reason == "Busy Here" and Response(299).reason == "Unknown"
    assert new_branch().startswith("z9hG4bK") and new_call_id("h").endswith("@h") and new_tag() != new_tag()


def test_8_2_6_build_response_copies_the_right_headers() -> None:
    req = parse_message(INVITE.replace(b"Content-Type", b"Timestamp: 54\r\nContent-Type"))
    assert isinstance(req, Request)
    resp = build_response(req, 180, to_tag="ab12")
    assert resp.reason == "Ringing" and resp.to.tag == "ab12" and resp.from_.tag == "1958361234"
    assert [v.branch for v in resp.vias] == [v.branch for v in req.vias]
    assert resp.call_id == req.call_id and resp.cseq == req.cseq and resp.get("content-length") == "0"
    assert resp.get("timestamp") is None and build_response(req, 100).get("timestamp") == "54"  # §8.2.6.1
    assert build_response(req, 100, to_tag="x").to.tag is None  # no tag on 100 Trying
    assert build_response(req, 200).to.tag is None  # no to_tag given: the To is copied as it is
    again = parse_message(build_response(req, 486, "Busy", to_tag="t").to_bytes())
    assert isinstance(again, Response) and (again.status, again.reason, again.to.tag) == (486, "Busy", "t")


def test_partial_request_lets_a_server_answer_400() -> None:
    raw = OPTIONS.replace(b"CSeq: 63104 OPTIONS", b"CSeq: 63104 INVITE")
    with pytest.raises(SipParseError) as info:
        parse_message(raw)
    assert info.value.partial is not None
    resp = build_response(info.value.partial, info.value.status, info.value.reason, to_tag="x")
    back = parse_message(resp.to_bytes())
    assert isinstance(back, Response) and back.status == 400 and back.reason.startswith("CSeq method")


def test_response_without_request_fields_and_header_list_api() -> None:
    msg = parse_message(build_response(parse_message(OPTIONS), 200).to_bytes())  # type: ignore[arg-type]
    assert isinstance(msg, Response) and msg.status == 200
    msg.add("Supported", "path")
    msg.remove("supported")
    assert "supported" not in msg and msg.get_all("via") == [parse_message(OPTIONS).get("via")]
    h = Headers([("X", "1")])
    r = Response(200, None, h)
    assert r.headers is h and r.get("content-length") == "0"


def test_subscription_state_rseq_rack_event() -> None:
    msg = parse_message(OPTIONS.replace(b"Content-Length: 0", b"Subscription-State: active;expires=600\r\n"
                                        b"Event: reg;id=1\r\nRSeq: 988789\r\nRAck: 776656 1 INVITE\r\nContent-Length: 0"))
    assert msg.subscription_state == ("active", {"expires": "600"}) and msg.event == "reg"
    assert msg.rseq == 988789 and msg.rack == (776656, 1, "INVITE")
