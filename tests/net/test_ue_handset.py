"""The handset driver (ims.net.ue): call history and SDP versions per early dialog; two handsets wired to each
other in memory for 100rel (RFC 3262) and preconditions (RFC 3312) interop."""

from __future__ import annotations

from typing import Any

import pytest
import trio

from ims.net import ue as ue_mod
from ims.net.ue import Behaviour, CallRecord, Handset
from ims.sip.events import Address, SendMessage
from ims.sip.message import Request, Response, parse_message
from ims.ue.handset import ImsHandset, Subscription

DOMAIN = "ims.example.net"


def _handset() -> Handset:
    sub = Subscription(f"001@{DOMAIN}", f"sip:alice@{DOMAIN}", DOMAIN, k=bytes(16), opc=bytes(16))
    return Handset("alice", ImsHandset(sub, Address("127.0.9.90", 5060), Address("127.0.9.91", 5060)))


def test_ended_calls_beyond_the_kept_number_are_forgotten(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ue_mod, "KEPT_ENDED_CALLS", 3)
    h = _handset()
    for i in range(6):
        h._keep(CallRecord(f"c{i}", "uac", "sip:bob@x", "ended" if i % 2 else "failed", float(i)))
        h._sdp_version[f"c{i}"] = 1
    h._keep(CallRecord("live", "uac", "sip:bob@x", "confirmed", 6.0))
    assert list(h.calls) == ["c3", "c4", "c5", "live"]  # a call still going is never forgotten
    assert sorted(h._sdp_version) == ["c3", "c4", "c5"]


def test_each_early_dialog_counts_sdp_versions_from_the_invite_offer() -> None:
    """RFC 3264 §8: o= version is one more than the previous SDP sent *in that session*; with a forked
    INVITE each early dialog's previous SDP is the INVITE's offer (version 1)."""
    h = _handset()
    h._sdp_version["call"] = 1  # the INVITE's offer
    assert h._bump("call", "fork-a") == 2
    assert h._bump("call", "fork-b") == 2
    assert h._bump("call", "fork-a") == 3
    h._confirm_version("call", "fork-a")  # fork a answered: the dialog goes on from its version
    assert h._bump("call") == 4
    assert not h._early_version


# -- two handsets wired to each other in memory (no sockets): what each sends goes to the other's core ---------
class _Wire:
    def __init__(self) -> None:
        self.by_addr: dict[tuple[str, int], Handset] = {}
        self.log: list[tuple[str, Request | Response]] = []  # (sender, message)

    def add(self, h: Handset) -> None:
        self.by_addr[(h.ue.local.host, h.ue.local.port)] = h

        async def execute(actions: list[Any]) -> None:
            for a in actions:
                if isinstance(a, SendMessage):
                    msg = parse_message(a.message.to_bytes())
                    self.log.append((h.name, msg))
                    target = self.by_addr.get((a.dest.host, a.dest.port))
                    if target is not None:
                        await target.stack.execute(target.ue.receive(msg, h.ue.local, trio.current_time()))
                else:
                    await h._on_event(a)

        h.stack.execute = execute  # type: ignore[method-assign]

    def sent(self, name: str, start: str) -> list[Request | Response]:
        return [m for n, m in self.log if n == name and m.start_line().startswith(start)]


def _pair(alice_behaviour: Behaviour, bob_behaviour: Behaviour) -> tuple[_Wire, Handset, Handset]:
    a_addr, b_addr = Address("127.0.9.90", 5060), Address("127.0.9.91", 5060)
    alice = Handset("alice", ImsHandset(Subscription(f"001@{DOMAIN}", f"sip:alice@{DOMAIN}", DOMAIN, k=bytes(16),
                                                     opc=bytes(16)), a_addr, b_addr), behaviour=alice_behaviour)
    bob = Handset("bob", ImsHandset(Subscription(f"002@{DOMAIN}", f"sip:bob@{DOMAIN}", DOMAIN, k=bytes(16),
                                                 opc=bytes(16)), b_addr, a_addr), behaviour=bob_behaviour)
    wire = _Wire()
    wire.add(alice)
    wire.add(bob)
    return wire, alice, bob


async def test_rfc3312_6_a_callee_without_preconditions_is_called_again_without_them() -> None:
    """A VoLTE handset (Require: precondition) calls a phone without preconditions: 420 Unsupported:
    precondition, then the same call (Call-ID, CSeq 2) without Require and without a=curr/a=des."""
    wire, alice, bob = _pair(Behaviour(media_enabled=False, preconditions=True),
                             Behaviour(media_enabled=False, preconditions=False, auto_answer=False))
    call_id = await alice.call(f"sip:bob@{DOMAIN}")
    first, second = wire.sent("alice", "INVITE")
    assert "precondition" in first.require and b"a=des:qos" in first.body
    (refused,) = wire.sent("bob", "SIP/2.0 420")
    assert refused.get("unsupported") == "precondition"
    assert second.call_id == call_id and second.cseq.seq == 2
    assert not second.require and b"a=curr" not in second.body and b"a=des" not in second.body
    assert bob.calls[call_id].state == "ringing"
    await bob.answer(call_id)
    rec = alice.calls[call_id]
    assert rec.state == "confirmed" and not rec.preconditions
    assert any("420" in step for step in rec.history)


async def test_rfc3312_6_the_retry_can_be_turned_off() -> None:
    wire, alice, _ = _pair(Behaviour(media_enabled=False, retry_without_preconditions=False),
                             Behaviour(media_enabled=False, preconditions=False, auto_answer=False))
    call_id = await alice.call(f"sip:bob@{DOMAIN}")
    assert len(wire.sent("alice", "INVITE")) == 1
    assert (alice.calls[call_id].state, alice.calls[call_id].status) == ("failed", 420)


async def test_supported_precondition_calls_a_phone_without_them_at_once() -> None:
    """preconditions = "supported" (TS 24.229 §5.1.3.1): Supported, not Require; a callee without
    preconditions answers the offer plainly."""
    wire, alice, bob = _pair(Behaviour(media_enabled=False, preconditions="supported"),
                             Behaviour(media_enabled=False, preconditions=False, auto_answer=False))
    call_id = await alice.call(f"sip:bob@{DOMAIN}")
    (invite,) = wire.sent("alice", "INVITE")
    assert "precondition" in invite.supported and not invite.require
    await bob.answer(call_id)
    assert alice.calls[call_id].state == "confirmed"
    (ok,) = [m for m in wire.sent("bob", "SIP/2.0 200") if m.cseq.method == "INVITE"]
    assert b"a=des" not in ok.body


async def test_rfc3262_3_a_handset_called_with_require_100rel_rings_reliably() -> None:
    """An INVITE requiring 100rel (SIPp's, a softphone's) gets a reliable 180, PRACKed; the 200 carries
    Allow and Supported (RFC 3261 §13.3.1.4)."""
    wire, alice, bob = _pair(Behaviour(media_enabled=False, preconditions=False),
                             Behaviour(media_enabled=False, preconditions=False, auto_answer=False))
    call_id, actions = alice.ue.invite(bob.ue.contact, trio.current_time(), body=b"", extra_headers=[
        ("Require", "100rel")])
    await alice.stack.execute(actions)
    (ringing,) = wire.sent("bob", "SIP/2.0 180")
    assert ringing.get("rseq") == "1" and "100rel" in ringing.require
    assert wire.sent("alice", "PRACK")
    await bob.answer(call_id)
    (ok,) = [m for m in wire.sent("bob", "SIP/2.0 200") if m.cseq.method == "INVITE"]
    assert ok.get("allow") and "100rel" in ok.supported


# -- an INVITE without an offer (SIPp's, some softphones'): the handset makes the offer -------------------------
PEER = Address("127.0.9.91", 5060)
ANSWER = (b"v=0\r\no=- 7 1 IN IP4 127.0.9.91\r\ns=-\r\nc=IN IP4 127.0.9.91\r\nt=0 0\r\n"
          b"m=audio 6000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n")


def _callee() -> tuple[Handset, list[Response]]:
    sub = Subscription(f"001@{DOMAIN}", f"sip:alice@{DOMAIN}", DOMAIN, k=bytes(16), opc=bytes(16))
    h = Handset("alice", ImsHandset(sub, Address("127.0.9.90", 5060), PEER),
                behaviour=Behaviour(media_enabled=False, auto_answer=False))
    sent: list[Response] = []

    async def execute(actions: list[Any]) -> None:
        for a in actions:
            if isinstance(a, SendMessage):
                if isinstance(a.message, Response):
                    sent.append(parse_message(a.message.to_bytes()))  # type: ignore[arg-type]
            else:
                await h._on_event(a)

    h.stack.execute = execute  # type: ignore[method-assign]
    return h, sent


def _req(method: str, cseq: int, *, to_tag: str = "", extra: str = "", body: bytes = b"") -> Request:
    ctype = "Content-Type: application/sdp\r\n" if body else ""
    msg = parse_message((
        f"{method} sip:alice@127.0.9.90:5060 SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP {PEER.host}:5060;branch=z9hG4bK{method}{cseq}\r\n"
        f"Max-Forwards: 70\r\nFrom: <sip:bob@{DOMAIN}>;tag=b1\r\nTo: <sip:alice@{DOMAIN}>"
        f"{';tag=' + to_tag if to_tag else ''}\r\nCall-ID: late-offer\r\nCSeq: {cseq} {method}\r\n"
        f"Contact: <sip:bob@{PEER.host}:5060>\r\n{extra}{ctype}Content-Length: {len(body)}\r\n\r\n").encode() + body)
    assert isinstance(msg, Request)
    return msg


async def test_rfc3264_4_an_invite_without_offer_gets_the_offer_in_the_200_and_the_answer_from_the_ack() -> None:
    h, sent = _callee()
    await h.stack.execute(h.ue.receive(_req("INVITE", 1), PEER, trio.current_time()))
    await h.answer("late-offer")
    ok = sent[-1]
    assert ok.status == 200 and b"m=audio" in ok.body and ok.content_type == "application/sdp"
    await h.stack.execute(h.ue.receive(_req("ACK", 1, to_tag=ok.to.tag or "", body=ANSWER), PEER,
                                       trio.current_time()))
    assert h.calls["late-offer"].state == "confirmed"
    assert h.media["late-offer"].remote_sdp == ANSWER


async def test_rfc3262_5_without_offer_and_requiring_100rel_the_reliable_180_offers_and_the_prack_answers() -> None:
    h, sent = _callee()
    await h.stack.execute(h.ue.receive(_req("INVITE", 1, extra="Require: 100rel\r\n"), PEER, trio.current_time()))
    (ringing,) = [r for r in sent if r.status == 180]
    assert ringing.get("rseq") == "1" and b"m=audio" in ringing.body
    await h.answer("late-offer")
    assert not [r for r in sent if r.status == 200]  # no 2xx before the PRACK of a 1xx with SDP (§3)
    prack = _req("PRACK", 2, to_tag=ringing.to.tag or "", extra="RAck: 1 1 INVITE\r\n", body=ANSWER)
    await h.stack.execute(h.ue.receive(prack, PEER, trio.current_time()))
    prack_ok, invite_ok = [r for r in sent if r.status == 200]
    assert prack_ok.cseq.method == "PRACK" and not prack_ok.body  # it carried the answer: nothing back
    assert invite_ok.cseq.method == "INVITE" and not invite_ok.body  # the offer/answer is done
    assert h.media["late-offer"].remote_sdp == ANSWER
