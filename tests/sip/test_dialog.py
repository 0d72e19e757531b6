"""Dialogs (RFC 3261 §12, §13.2.2.4): creation on both sides, route sets, CSeq rules, loose and strict routing, forks."""

from __future__ import annotations

import pytest

from ims.sip.dialog import Dialog, DialogSet, uri_address
from ims.sip.errors import SipError
from ims.sip.events import Address
from ims.sip.message import Request, Response, build_response, parse_message
from ims.sip.uri import SipURI, parse_uri

INVITE = (
    "INVITE sip:bob@biloxi.example.com SIP/2.0\r\n"
    "Via: SIP/2.0/UDP ss2.biloxi.example.com;branch=z9hG4bK721e4.1\r\n"
    "Via: SIP/2.0/UDP client.atlanta.example.com:5060;branch=z9hG4bK74bf9;received=192.0.2.101\r\n"
    "Max-Forwards: 69\r\n"
    "Record-Route: <sip:ss2.biloxi.example.com;lr>\r\n"
    "Record-Route: <sip:ss1.atlanta.example.com;lr>\r\n"
    "From: Alice <sip:alice@atlanta.example.com>;tag=9fxced76sl\r\n"
    "To: Bob <sip:bob@biloxi.example.com>\r\n"
    "Call-ID: 2xTb9vxSit55XU7p8@atlanta.example.com\r\n"
    "CSeq: 7 INVITE\r\n"
    "Contact: <sip:alice@client.atlanta.example.com>\r\n"
    "Content-Length: 0\r\n\r\n")


def invite(text: str = INVITE) -> Request:
    msg = parse_message(text.encode())
    assert isinstance(msg, Request)
    return msg


def uac_invite() -> Request:
    """Alice's INVITE as she sent it (one Via, no Record-Route)."""
    return invite(INVITE.replace("Via: SIP/2.0/UDP ss2.biloxi.example.com;branch=z9hG4bK721e4.1\r\n", "")
                  .replace("Record-Route: <sip:ss2.biloxi.example.com;lr>\r\n", "")
                  .replace("Record-Route: <sip:ss1.atlanta.example.com;lr>\r\n", ""))


def response(req: Request, status: int, tag: str | None, *, contact: str | None = "<sip:bob@192.0.2.4>",
             rr: tuple[str, ...] = ("<sip:ss2.biloxi.example.com;lr>", "<sip:ss1.atlanta.example.com;lr>")) -> Response:
    resp = build_response(req, status, to_tag=tag)
    for r in rr:
        resp.add("Record-Route", r)
    if contact:
        resp.add("Contact", contact)
    return resp


# ---------------------------------------------------------------- creation (§12.1)


def test_12_1_2_uac_dialog_from_2xx_reverses_record_route() -> None:
    req = uac_invite()
    d = Dialog.from_uac_response(req, response(req, 200, "314159"))
    assert d.id == ("2xTb9vxSit55XU7p8@atlanta.example.com", "9fxced76sl", "314159")
    assert d.state == "confirmed"
    assert d.route_set == ["<sip:ss1.atlanta.example.com;lr>", "<sip:ss2.biloxi.example.com;lr>"]
    assert str(d.remote_target) == "sip:bob@192.0.2.4"
    assert d.local_seq == 7 and d.remote_seq is None  # §12.1.2: remote sequence number empty
    assert d.secure is False


def test_12_1_2_uac_dialog_needs_to_tag_and_contact() -> None:
    req = uac_invite()
    with pytest.raises(SipError):
        Dialog.from_uac_response(req, response(req, 180, None))
    with pytest.raises(SipError):
        Dialog.from_uac_response(req, response(req, 180, "x", contact=None))


def test_12_1_2_sips_request_uri_makes_a_secure_dialog() -> None:
    req = invite(INVITE.replace("INVITE sip:bob@", "INVITE sips:bob@"))
    assert Dialog.from_uac_response(req, response(req, 200, "t")).secure is True


def test_12_1_1_uas_dialog_keeps_record_route_order() -> None:
    req = invite()
    d = Dialog.from_uas_request(req, "8321234356")
    assert d.id == ("2xTb9vxSit55XU7p8@atlanta.example.com", "8321234356", "9fxced76sl")
    assert d.route_set == ["<sip:ss2.biloxi.example.com;lr>", "<sip:ss1.atlanta.example.com;lr>"]
    assert str(d.remote_target) == "sip:alice@client.atlanta.example.com"
    assert d.remote_seq == 7 and d.local_seq == 0 and d.state == "early" and d.secure is False
    sips = invite(INVITE.replace("INVITE sip:bob@", "INVITE sips:bob@"))
    assert Dialog.from_uas_request(sips, "t", secure_transport=True).secure is True
    assert Dialog.from_uas_request(sips, "t", secure_transport=False).secure is False


def test_12_1_1_uas_dialog_needs_contact() -> None:
    req = invite(INVITE.replace("Contact: <sip:alice@client.atlanta.example.com>\r\n", ""))
    with pytest.raises(SipError) as exc:
        Dialog.from_uas_request(req, "t")
    assert exc.value.status == 400


# ---------------------------------------------------------------- requests within a dialog (§12.2.1)


def test_12_2_1_1_loose_routing_request_uri_is_remote_target() -> None:
    req = invite()
    d = Dialog.from_uas_request(req, "8321234356", state="confirmed")
    bye = d.create_request("BYE")
    assert bye.method == "BYE" and str(bye.uri) == "sip:alice@client.atlanta.example.com"
    assert [str(r) for r in bye.routes] == ["<sip:ss2.biloxi.example.com;lr>", "<sip:ss1.atlanta.example.com;lr>"]
    assert bye.from_.tag == "8321234356" and bye.to.tag == "9fxced76sl"
    assert str(bye.from_.uri) == "sip:bob@biloxi.example.com" and str(bye.to.uri) == "sip:alice@atlanta.example.com"
    assert bye.call_id == req.call_id and str(bye.cseq) == "1 BYE" and bye.max_forwards == 70
    assert str(d.next_hop()) == "sip:ss2.biloxi.example.com;lr"


def test_12_2_1_1_local_cseq_grows_by_one_but_not_for_ack_and_cancel() -> None:
    req = uac_invite()
    ok = response(req, 200, "314159")
    d = Dialog.from_uac_response(req, ok)
    ack = d.create_ack(ok)
    assert str(ack.cseq) == "7 ACK"  # §13.2.2.4: the INVITE's CSeq number
    assert str(d.create_request("INFO").cseq) == "8 INFO"
    assert str(d.create_request("BYE").cseq) == "9 BYE"
    assert d.local_seq == 9


def test_12_2_1_1_strict_router_goes_into_the_request_uri() -> None:
    req = uac_invite()
    ok = response(req, 200, "314159", rr=("<sip:loose.example.com;lr>", "<sip:strict.example.com;method=INVITE>"))
    d = Dialog.from_uac_response(req, ok)
    assert d.route_set == ["<sip:strict.example.com;method=INVITE>", "<sip:loose.example.com;lr>"]
    bye = d.create_request("BYE")
    # The first (strict) route becomes the Request-URI, minus parameters not allowed there
    # (method, §19.1.1); the rest of the route set follows, then the remote target last.
    assert str(bye.uri) == "sip:strict.example.com"
    assert [str(r) for r in bye.routes] == ["<sip:loose.example.com;lr>", "<sip:bob@192.0.2.4>"]
    assert str(d.next_hop()) == "sip:strict.example.com;method=INVITE"
    assert uri_address(d.next_hop()) == Address("strict.example.com", 5060, "udp")


def test_12_2_1_1_no_route_set_sends_to_the_remote_target() -> None:
    req = uac_invite()
    d = Dialog.from_uac_response(req, response(req, 200, "t", rr=(), contact="<sip:bob@192.0.2.4:5070;transport=tcp>"))
    bye = d.create_request("BYE", body=b"hello", content_type="text/plain")
    assert bye.routes == [] and str(bye.uri) == "sip:bob@192.0.2.4:5070;transport=tcp"
    assert bye.body == b"hello" and bye.content_type == "text/plain" and bye.content_length == 5
    assert uri_address(d.next_hop()) == Address("192.0.2.4", 5070, "tcp")


# ---------------------------------------------------------------- requests received in a dialog (§12.2.2)


def _in_dialog(d: Dialog, method: str, seq: int, contact: str | None = None) -> Request:
    extra = f"Contact: {contact}\r\n" if contact else ""
    return invite(
        f"{method} sip:bob@192.0.2.4 SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.101;branch=z9hG4bK{method}{seq}\r\n"
        f"From: <sip:alice@atlanta.example.com>;tag={d.remote_tag}\r\n"
        f"To: <sip:bob@biloxi.example.com>;tag={d.local_tag}\r\nCall-ID: {d.call_id}\r\n"
        f"CSeq: {seq} {method}\r\n{extra}Content-Length: 0\r\n\r\n")


def test_12_2_2_lower_or_equal_cseq_is_rejected_500() -> None:
    d = Dialog.from_uas_request(invite(), "t", state="confirmed")
    for seq in (6, 7):
        with pytest.raises(SipError) as exc:
            d.on_request(_in_dialog(d, "BYE", seq))
        assert exc.value.status == 500 and "CSeq" in exc.value.reason
    d.on_request(_in_dialog(d, "ACK", 7))  # ACK keeps the INVITE's number
    d.on_request(_in_dialog(d, "BYE", 8))
    assert d.remote_seq == 8


def test_12_2_2_uac_dialog_takes_the_first_remote_cseq_whatever_it_is() -> None:
    req = uac_invite()
    d = Dialog.from_uac_response(req, response(req, 200, "t"))
    d.on_request(_in_dialog(d, "BYE", 1))  # remote sequence number was empty
    assert d.remote_seq == 1


def test_12_2_2_target_refresh_updates_the_remote_target() -> None:
    d = Dialog.from_uas_request(invite(), "t", state="confirmed")
    d.on_request(_in_dialog(d, "INVITE", 8, "<sip:alice@192.0.2.55:5080>"))
    assert str(d.remote_target) == "sip:alice@192.0.2.55:5080"
    d.on_request(_in_dialog(d, "INFO", 9, "<sip:alice@192.0.2.66>"))  # INFO is no target refresh
    assert str(d.remote_target) == "sip:alice@192.0.2.55:5080"


def test_12_2_1_2_responses_refresh_target_and_481_ends_the_dialog() -> None:
    req = uac_invite()
    d = Dialog.from_uac_response(req, response(req, 200, "t"))
    reinvite = d.create_request("INVITE")
    d.on_response(response(reinvite, 200, "t", contact="<sip:bob@192.0.2.77>", rr=("<sip:x.example;lr>",)))
    assert str(d.remote_target) == "sip:bob@192.0.2.77"
    assert d.route_set == ["<sip:ss1.atlanta.example.com;lr>", "<sip:ss2.biloxi.example.com;lr>"]  # unchanged
    d.on_response(response(d.create_request("INFO"), 481, "t", contact=None, rr=()))
    assert d.state == "terminated"


# ---------------------------------------------------------------- early dialogs and forks (§12.1.2, §13.2.2.4)


def test_13_2_2_4_early_dialog_confirmed_by_2xx_recomputes_route_set() -> None:
    req = uac_invite()
    ds = DialogSet(req)
    early = ds.on_response(response(req, 180, "b1", rr=("<sip:old.example;lr>",)))
    assert early is not None and early.state == "early" and early.route_set == ["<sip:old.example;lr>"]
    ok = ds.on_response(response(req, 200, "b1", contact="<sip:bob@192.0.2.5>"))
    assert ok is early and early.state == "confirmed" and ds.confirmed is early
    assert early.route_set == ["<sip:ss1.atlanta.example.com;lr>", "<sip:ss2.biloxi.example.com;lr>"]
    assert str(early.remote_target) == "sip:bob@192.0.2.5"


def test_12_1_2_forked_invite_creates_several_early_dialogs() -> None:
    req = uac_invite()
    ds = DialogSet(req)
    assert ds.on_response(build_response(req, 100)) is None  # 100 creates no dialog
    assert ds.on_response(response(req, 180, None)) is None  # neither does a 1xx without To tag
    d1 = ds.on_response(response(req, 180, "fork1", contact="<sip:bob@192.0.2.10>"))
    d2 = ds.on_response(response(req, 183, "fork2", contact="<sip:bob@192.0.2.11>"))
    assert d1 is not None and d2 is not None and d1 is not d2
    assert ds.on_response(response(req, 180, "fork1")) is d1  # same To tag: same dialog
    assert d1.state == d2.state == "early" and set(ds.dialogs) == {"fork1", "fork2"}
    assert d1.id != d2.id and d1.id[:2] == d2.id[:2]
    assert ds.on_response(response(req, 200, "fork2", contact="<sip:bob@192.0.2.11>")) is d2
    assert ds.confirmed is d2 and d2.state == "confirmed"
    # A later 2xx from the other fork makes a confirmed dialog the UA core must ACK and BYE.
    late = ds.on_response(response(req, 200, "fork3", contact="<sip:bob@192.0.2.12>"))
    assert late is not None and late.state == "confirmed" and ds.confirmed is d2
    assert set(map(id, ds.others())) == {id(d1), id(late)}
    assert ds.terminate_others() == [d1] and d1.state == "terminated" and late.state == "confirmed"


def test_13_2_2_3_non_2xx_final_ends_every_early_dialog() -> None:
    req = uac_invite()
    ds = DialogSet(req)
    d1 = ds.on_response(response(req, 180, "f1"))
    d2 = ds.on_response(response(req, 180, "f2"))
    assert ds.on_response(response(req, 486, "f2", contact=None, rr=())) is None
    assert d1 is not None and d2 is not None and d1.state == d2.state == "terminated"
    assert ds.confirmed is None


# ---------------------------------------------------------------- next hop without DNS


def test_uri_address_literals_transport_and_maddr() -> None:
    assert uri_address(SipURI.parse("sip:a@192.0.2.1")) == Address("192.0.2.1", 5060, "udp")
    assert uri_address(SipURI.parse("sips:a@192.0.2.1")) == Address("192.0.2.1", 5061, "tls")
    assert uri_address(SipURI.parse("sip:a@192.0.2.1:5080;transport=tcp")) == Address("192.0.2.1", 5080, "tcp")
    assert uri_address(SipURI.parse("sip:a@h.example;maddr=192.0.2.9")) == Address("192.0.2.9", 5060, "udp")
    assert uri_address(SipURI.parse("sip:a@[2001:db8::1]:5062")) == Address("2001:db8::1", 5062, "udp")
    with pytest.raises(SipError) as exc:
        uri_address(parse_uri("tel:+15551234567"))
    assert exc.value.status == 416
