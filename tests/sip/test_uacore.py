"""Two sans-IO user agents talking directly (no proxy) through real bytes."""

from __future__ import annotations

from ims.sip.events import Address
from ims.sip.uacore import CallAnswered, CallEnded, CallFailed, CallProgress, IncomingCall, UserAgent
from ims.sip.uri import SipURI
from tests.sip.harness import Net


def _pair() -> tuple[Net, UserAgent, UserAgent]:
    net = Net()
    a_addr, b_addr = Address("10.0.0.1", 5060), Address("10.0.0.2", 5060)
    alice = UserAgent(SipURI.parse("sip:alice@atlanta.example.com"), SipURI.parse("sip:alice@10.0.0.1:5060"), a_addr)
    bob = UserAgent(SipURI.parse("sip:bob@biloxi.example.com"), SipURI.parse("sip:bob@10.0.0.2:5060"), b_addr)
    net.add("alice", a_addr, alice)
    net.add("bob", b_addr, bob)
    return net, alice, bob


def test_13_basic_call_invite_180_200_ack_bye() -> None:
    net, alice, bob = _pair()
    call_id, acts = alice.invite(SipURI.parse("sip:bob@10.0.0.2"), net.now, body=b"v=0\r\n", content_type="application/sdp")
    net.run(acts, alice)
    (incoming,) = net.of("bob", IncomingCall)
    assert incoming.request.body == b"v=0\r\n"
    net.run(bob.ringing(call_id, net.now), bob)
    assert [e.status for e in net.of("alice", CallProgress)] == [180]
    net.run(bob.answer(call_id, net.now), bob)
    assert net.of("alice", CallAnswered) and net.of("bob", CallAnswered)
    net.run(alice.bye(call_id, net.now), alice)
    assert net.of("bob", CallEnded)[0].by_remote and not net.of("alice", CallEnded)[0].by_remote
    assert net.methods() == ["INVITE", "180", "200", "ACK", "BYE", "200"]
    assert not alice.calls and not bob.calls


def test_13_3_1_4_uas_retransmits_2xx_until_ack() -> None:
    net, alice, bob = _pair()
    call_id, acts = alice.invite(SipURI.parse("sip:bob@10.0.0.2"), net.now)
    net.run(acts, alice)
    lost = {"n": 0}

    def drop_acks(data: bytes) -> bool:
        if data.startswith(b"ACK") and lost["n"] < 2:
            lost["n"] += 1
            return True
        return False

    net.drop = drop_acks
    net.run(bob.answer(call_id, net.now), bob)
    net.advance(3.0)
    assert net.methods().count("200") >= 3  # original + retransmissions
    assert net.of("bob", CallAnswered)
    assert bob.calls[call_id].state == "confirmed"


def test_busy_callee_486() -> None:
    net, alice, bob = _pair()
    call_id, acts = alice.invite(SipURI.parse("sip:bob@10.0.0.2"), net.now)
    net.run(acts, alice)
    net.run(bob.reject(call_id, 486, net.now), bob)
    assert [e.status for e in net.of("alice", CallFailed)] == [486]
    assert net.methods() == ["INVITE", "486", "ACK"]


def test_9_cancel_before_answer_gives_487() -> None:
    net, alice, bob = _pair()
    call_id, acts = alice.invite(SipURI.parse("sip:bob@10.0.0.2"), net.now)
    net.run(acts, alice)
    net.run(bob.ringing(call_id, net.now), bob)
    net.run(alice.cancel(call_id, net.now), alice)
    assert [e.status for e in net.of("alice", CallFailed)] == [487]
    assert net.of("bob", CallEnded)[0].reason == "cancelled"
    assert net.methods() == ["INVITE", "180", "CANCEL", "200", "487", "ACK"]


def test_invite_timeout_is_408() -> None:
    net, alice, _ = _pair()
    call_id, acts = alice.invite(SipURI.parse("sip:nobody@10.0.0.9"), net.now)
    net.run(acts, alice)
    net.advance(40.0, step=0.5)
    assert [e.status for e in net.of("alice", CallFailed)] == [408]
    assert net.methods().count("INVITE") == 7  # Timer A: 0, .5, 1.5, 3.5, 7.5, 15.5, 31.5 (B at 32)


def test_12_1_2_forked_invite_creates_several_early_dialogs() -> None:
    from ims.sip.dialog import DialogSet
    from ims.sip.message import build_response

    net, alice, _ = _pair()
    call_id, acts = alice.invite(SipURI.parse("sip:bob@10.0.0.2"), net.now)
    invite = acts[0].message
    ds = DialogSet(invite)
    r1 = build_response(invite, 180, to_tag="fork1")
    r1.add("Contact", "<sip:bob@10.0.0.2>")
    r2 = build_response(invite, 183, to_tag="fork2")
    r2.add("Contact", "<sip:bob@10.0.0.3>")
    d1, d2 = ds.on_response(r1), ds.on_response(r2)
    assert d1 is not None and d2 is not None and d1 is not d2
    assert d1.state == d2.state == "early" and set(ds.dialogs) == {"fork1", "fork2"}
    ok = build_response(invite, 200, to_tag="fork2")
    ok.add("Contact", "<sip:bob@10.0.0.3>")
    assert ds.on_response(ok) is d2 and ds.confirmed is d2 and d2.state == "confirmed"
    assert ds.others() == [d1]


def test_12_2_2_lower_cseq_in_dialog_is_500() -> None:
    from ims.sip.dialog import Dialog
    from ims.sip.errors import SipError
    from ims.sip.message import parse_message

    req = parse_message(b"INVITE sip:b@h SIP/2.0\r\nVia: SIP/2.0/UDP a;branch=z9hG4bK1\r\nFrom: <sip:a@h>;tag=1\r\n"
                        b"To: <sip:b@h>\r\nCall-ID: c\r\nCSeq: 5 INVITE\r\nContact: <sip:a@10.0.0.1>\r\n"
                        b"Content-Length: 0\r\n\r\n")
    d = Dialog.from_uas_request(req, "t")
    bye = parse_message(req.to_bytes().replace(b"INVITE sip", b"BYE sip").replace(b"5 INVITE", b"4 BYE"))
    try:
        d.on_request(bye)
    except SipError as exc:
        assert exc.status == 500
    else:
        raise AssertionError("a lower CSeq was accepted")


def test_rfc3262_7_1_rseq_that_is_not_ascii_digits_gets_no_prack() -> None:
    """RSeq is 1*9DIGIT: '1_0' (int() reads 10) and '٣' (int() reads 3) are not numbers; such a reliable
    provisional is ignored, a good one is PRACKed."""
    from ims.sip.message import build_response, parse_message

    for rseq, pracked in (("1_0", False), ("\u0663", False), ("9" * 5000, False), ("7", True)):
        net, alice, _ = _pair()
        _, acts = alice.invite(SipURI.parse("sip:nobody@10.0.0.9"), net.now)
        invite = acts[0].message
        r = build_response(invite, 183, to_tag="b1")
        r.add("Contact", "<sip:bob@10.0.0.2>")
        r.add("Require", "100rel")
        r.add("RSeq", rseq)
        out = alice.receive(parse_message(r.to_bytes()), Address("10.0.0.9", 5060), net.now)
        sent = [a.message.method for a in out if hasattr(a, "message") and hasattr(a.message, "method")]
        assert ("PRACK" in sent) is pracked, (rseq, sent)
