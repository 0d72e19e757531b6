"""A handset (ims.net.ue over ims.ue.handset) answers an offer it cannot read with 488, and goes on serving.

RFC 3261 §21.4.26 (488 Not Acceptable Here, with a Warning, §20.43), RFC 3311 §5.2 (an UPDATE's offer)
and RFC 3262 §5 (a PRACK's). The SIP stack is not started: the test feeds the core and collects what the
driver would send.
"""

from __future__ import annotations

from typing import Any

import pytest

from ims.net.ue import Behaviour, Handset
from ims.sip.events import Address, SendMessage
from ims.sip.message import Request, Response, parse_message
from ims.ue import sdp as policy
from ims.ue.handset import ImsHandset, Subscription

DOMAIN = "ims.example.net"
UE = Address("127.0.9.90", 5060)
PCSCF = Address("127.0.9.91", 5060)
GOOD = policy.offer("127.0.9.100", 40000, 1234)
HUGE_PORT = GOOD.replace(b"m=audio 40000", b"m=audio " + b"4" * 4301)


def _handset(**behaviour: Any) -> tuple[Handset, list[Any]]:
    sub = Subscription(f"001@{DOMAIN}", f"sip:alice@{DOMAIN}", DOMAIN, k=bytes(16), opc=bytes(16))
    h = Handset("alice", ImsHandset(sub, UE, PCSCF),
                behaviour=Behaviour(media_enabled=False, auto_answer=False, **behaviour))
    sent: list[Any] = []

    async def execute(actions: list[Any]) -> None:
        sent.extend(actions)

    h.stack.execute = execute  # type: ignore[method-assign]
    return h, sent


def _invite(call_id: str, body: bytes, *, extra: str = "") -> Request:
    msg = parse_message((
        f"INVITE sip:alice@{UE.host}:{UE.port} SIP/2.0\r\nVia: SIP/2.0/UDP {PCSCF.host}:5060;branch=z9hG4bK{call_id}\r\n"
        f"Max-Forwards: 66\r\nFrom: <sip:bob@{DOMAIN}>;tag=b1\r\nTo: <sip:alice@{DOMAIN}>\r\n"
        f"Call-ID: {call_id}\r\nCSeq: 1 INVITE\r\nContact: <sip:bob@127.0.9.101:5060>\r\n{extra}"
        f"Content-Type: application/sdp\r\nContent-Length: {len(body)}\r\n\r\n").encode() + body)
    assert isinstance(msg, Request)
    return msg


async def _deliver(h: Handset, sent: list[Any], msg: Request, now: float) -> list[Response]:
    for a in h.ue.receive(msg, PCSCF, now):
        if isinstance(a, SendMessage):
            sent.append(a)
        else:
            await h._on_event(a)
    return [a.message for a in sent if isinstance(a, SendMessage) and isinstance(a.message, Response)]


@pytest.mark.parametrize("preconditions", [False, True])
async def test_rfc3261_21_4_26_an_unreadable_offer_is_refused_with_488_at_once(preconditions: bool) -> None:
    h, sent = _handset(preconditions=preconditions)
    extra = "Supported: 100rel\r\nRequire: precondition\r\n" if preconditions else ""
    responses = await _deliver(h, sent, _invite("bad1", HUGE_PORT, extra=extra), 1.0)
    assert [r.status for r in responses if r.status > 100] == [488]  # no 180 or 183 first
    assert "m= port has 4301 digits" in responses[-1].reason
    assert h.calls["bad1"].state == "ended" and h.calls["bad1"].status == 488
    # the handset goes on serving: the next INVITE rings
    sent.clear()
    good = policy.offer("127.0.9.100", 40000, 1234, qos_state=("none", "none")) if preconditions else GOOD
    responses = await _deliver(h, sent, _invite("good1", good, extra=extra), 2.0)
    assert [r.status for r in responses if r.status > 100] == [183 if preconditions else 180]


async def test_rfc3311_an_update_with_an_unreadable_offer_gets_488_with_a_warning() -> None:
    h, sent = _handset(preconditions=False)
    await _deliver(h, sent, _invite("c1", GOOD), 1.0)  # rings: an early dialog exists
    rung = next(r for r in (a.message for a in sent if isinstance(a, SendMessage)) if r.status == 180)
    update = parse_message((
        f"UPDATE sip:alice@{UE.host}:{UE.port} SIP/2.0\r\nVia: SIP/2.0/UDP {PCSCF.host}:5060;branch=z9hG4bKu1\r\n"
        f"Max-Forwards: 66\r\nFrom: <sip:bob@{DOMAIN}>;tag=b1\r\nTo: <sip:alice@{DOMAIN}>;tag={rung.to.tag}\r\n"
        f"Call-ID: c1\r\nCSeq: 2 UPDATE\r\nContact: <sip:bob@127.0.9.101:5060>\r\n"
        f"Content-Type: application/sdp\r\nContent-Length: {len(HUGE_PORT)}\r\n\r\n").encode() + HUGE_PORT)
    assert isinstance(update, Request)
    sent.clear()
    responses = await _deliver(h, sent, update, 2.0)
    [refused] = responses
    assert refused.status == 488 and (refused.get("warning") or "").startswith(f'399 {UE.host} "bad SDP: line')
