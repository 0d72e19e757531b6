"""The UA core and SIP extensions: 100rel when required (RFC 3262 §3), Require it does not know (RFC 3261
§8.2.2.3), retrying without what a 420 refused (§8.1.3.5), Allow/Supported in its 2xx (§13.3.1.4, §11.2)."""

from __future__ import annotations

from ims.sip.events import Address
from ims.sip.message import Request, Response
from ims.sip.uacore import (
    CallAnswered,
    CallFailed,
    CallProgress,
    IncomingCall,
    UserAgent,
)
from ims.sip.uri import SipURI
from tests.sip.harness import Net

OFFER = b"v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n"
ANSWER = OFFER.replace(b"10.0.0.1", b"10.0.0.2").replace(b"4000", b"5000")


def _pair() -> tuple[Net, UserAgent, UserAgent]:
    net = Net()
    a_addr, b_addr = Address("10.0.0.1", 5060), Address("10.0.0.2", 5060)
    alice = UserAgent(SipURI.parse("sip:alice@atlanta.example.com"), SipURI.parse("sip:alice@10.0.0.1:5060"), a_addr)
    bob = UserAgent(SipURI.parse("sip:bob@biloxi.example.com"), SipURI.parse("sip:bob@10.0.0.2:5060"), b_addr)
    net.add("alice", a_addr, alice)
    net.add("bob", b_addr, bob)
    return net, alice, bob


def _sent(net: Net, start: str) -> list[bytes]:
    return [data for _, _, data in net.wire if data.startswith(start.encode())]


def _header(data: bytes, name: str) -> str | None:
    for line in data.split(b"\r\n\r\n", 1)[0].split(b"\r\n")[1:]:
        n, _, v = line.decode().partition(":")
        if n.strip().lower() == name.lower():
            return v.strip()
    return None


def _invite(net: Net, alice: UserAgent, *extra: tuple[str, str], body: bytes = OFFER) -> str:
    call_id, acts = alice.invite(SipURI.parse("sip:bob@10.0.0.2"), net.now, body=body,
                                 content_type="application/sdp" if body else None, extra_headers=extra)
    net.run(acts, alice)
    return call_id


def test_rfc3262_3_invite_requiring_100rel_gets_a_reliable_180_retransmitted_until_prack() -> None:
    net, alice, bob = _pair()
    call_id = _invite(net, alice, ("Require", "100rel"))
    net.drop = lambda data: data.startswith(b"PRACK")
    net.run(bob.ringing(call_id, net.now), bob)  # the application asked for a plain 180
    (ringing,) = _sent(net, "SIP/2.0 180")
    assert _header(ringing, "RSeq") == "1" and _header(ringing, "Require") == "100rel"
    net.advance(2.0)  # PRACKs lost: the 180 again at T1, 2*T1...
    assert len(_sent(net, "SIP/2.0 180")) >= 2
    assert [e.reliable for e in net.of("alice", CallProgress)] == [True]  # PRACKed once (its txn retransmits)
    net.drop = None
    net.advance(4.0)  # the PRACK transaction's next retransmission gets through
    sent_180s = len(_sent(net, "SIP/2.0 180"))
    net.advance(10.0)
    assert len(_sent(net, "SIP/2.0 180")) == sent_180s  # acknowledged: no more retransmissions
    assert "rel" not in bob.calls[call_id].extra


def test_rfc3262_3_supported_100rel_only_leaves_the_choice_to_the_application() -> None:
    net, alice, bob = _pair()
    call_id = _invite(net, alice, ("Supported", "100rel"))
    net.run(bob.ringing(call_id, net.now), bob)
    (ringing,) = _sent(net, "SIP/2.0 180")
    assert _header(ringing, "RSeq") is None
    net.run(bob.provisional(call_id, net.now, 183, reliable=True), bob)
    (progress,) = _sent(net, "SIP/2.0 183")
    assert _header(progress, "RSeq") == "1"


def test_rfc3262_3_a_second_reliable_provisional_waits_for_the_prack_of_the_first() -> None:
    net, alice, bob = _pair()
    call_id = _invite(net, alice, ("Require", "100rel"))
    net.drop = lambda data: data.startswith(b"PRACK")
    net.run(bob.provisional(call_id, net.now, 183, body=ANSWER, content_type="application/sdp"), bob)
    net.run(bob.ringing(call_id, net.now), bob)
    assert not _sent(net, "SIP/2.0 180")  # 183 (RSeq 1) not acknowledged yet
    net.drop = None
    net.advance(1.0)  # 183 again -> PRACK (a retransmission of the dropped one) -> 180 with RSeq 2
    (ringing,) = set(_sent(net, "SIP/2.0 180"))
    assert _header(ringing, "RSeq") == "2"
    assert [e.status for e in net.of("alice", CallProgress)] == [183, 180]


def test_rfc3262_3_no_2xx_before_the_prack_of_a_provisional_carrying_sdp() -> None:
    net, alice, bob = _pair()
    call_id = _invite(net, alice, ("Supported", "100rel"))
    net.drop = lambda data: data.startswith(b"PRACK")
    net.run(bob.provisional(call_id, net.now, 183, reliable=True, body=ANSWER, content_type="application/sdp"),
            bob)
    net.run(bob.answer(call_id, net.now), bob)
    assert not _sent(net, "SIP/2.0 200")
    net.drop = None
    net.advance(1.0)
    finals = [(_header(d, "CSeq") or "").split()[1] for d in _sent(net, "SIP/2.0 200")]
    assert finals[:2] == ["PRACK", "INVITE"]  # the PRACK's 200, then the INVITE's
    assert net.of("alice", CallAnswered)


def test_rfc3261_13_3_1_4_the_2xx_to_invite_carries_allow_and_supported() -> None:
    net, alice, bob = _pair()
    call_id = _invite(net, alice)
    net.run(bob.answer(call_id, net.now, body=ANSWER, content_type="application/sdp"), bob)
    (ok,) = set(_sent(net, "SIP/2.0 200"))
    assert "PRACK" in (_header(ok, "Allow") or "") and "INVITE" in (_header(ok, "Allow") or "")
    assert "100rel" in (_header(ok, "Supported") or "")
    net.run(alice.reinvite(call_id, net.now, body=OFFER), alice)  # §14.2: a re-INVITE's 2xx too
    ok2 = [d for d in _sent(net, "SIP/2.0 200") if b"CSeq: 2 INVITE" in d]
    assert ok2 and _header(ok2[0], "Allow") and _header(ok2[0], "Supported")


def test_rfc3261_11_2_options_answered_with_allow_accept_supported() -> None:
    _, _, bob = _pair()
    req = Request("OPTIONS", SipURI.parse("sip:bob@10.0.0.2"), [
        ("Via", "SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKopt1"), ("Max-Forwards", "70"),
        ("From", "<sip:alice@atlanta.example.com>;tag=o1"), ("To", "<sip:bob@biloxi.example.com>"),
        ("Call-ID", "opt1@10.0.0.1"), ("CSeq", "1 OPTIONS")])
    out = bob.receive(req, Address("10.0.0.1", 5060), 0.0)
    (resp,) = [a.message for a in out if isinstance(getattr(a, "message", None), Response)]
    assert resp.status == 200
    assert resp.get("allow") and resp.get("accept") == "application/sdp" and "100rel" in resp.supported


def test_rfc3261_8_2_2_3_a_require_the_ua_does_not_know_gets_420_with_unsupported() -> None:
    net, alice, _ = _pair()
    _invite(net, alice, ("Require", "100rel, foo-unknown"))
    assert not net.of("bob", IncomingCall)
    (failed,) = net.of("alice", CallFailed)
    assert failed.status == 420 and failed.response is not None
    assert failed.response.get("unsupported") == "foo-unknown"


def test_rfc3261_8_1_3_5_a_420_is_retried_without_the_refused_extension() -> None:
    net, alice, bob = _pair()
    bob.supported = ("100rel",)  # a phone without preconditions
    asked: list[list[str]] = []

    def retry(call_id: str, tags: list[str], resp: Response) -> bytes | None:
        asked.append(tags)
        return ANSWER  # stands for the offer without precondition lines

    alice.retry_without = retry
    call_id = _invite(net, alice, ("Require", "precondition"), ("Supported", "100rel"))
    assert asked == [["precondition"]]
    (incoming,) = net.of("bob", IncomingCall)
    assert incoming.call_id == call_id and incoming.request.cseq.seq == 2
    assert "precondition" not in incoming.request.require and incoming.request.body == ANSWER
    assert not net.of("alice", CallFailed)
    net.run(bob.answer(call_id, net.now, body=ANSWER, content_type="application/sdp"), bob)
    assert net.of("alice", CallAnswered)
    assert net.methods() == ["INVITE", "420", "ACK", "INVITE", "200", "ACK"]


def test_rfc3261_8_1_3_5_without_a_retry_the_420_ends_the_call() -> None:
    net, alice, bob = _pair()
    bob.supported = ("100rel",)
    alice.retry_without = lambda call_id, tags, resp: None
    _invite(net, alice, ("Require", "precondition"))
    assert [e.status for e in net.of("alice", CallFailed)] == [420]
