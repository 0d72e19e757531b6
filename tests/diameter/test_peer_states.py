"""Every (peer state, incoming message) pair (RFC 6733 §5.6): nothing raises, every answer we send
decodes, and a message is answered, delivered, acted on or reported as Discarded - never dropped
silently (STYLE §2a, h11-style)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from ims.diameter import cx
from ims.diameter.codec import DISCONNECT_CAUSE, ORIGIN_HOST, ORIGIN_REALM, RESULT_CODE, DiameterMessage, avp
from ims.diameter.constants import CMD_CE, CMD_DP, CMD_DW, CX_APPLICATION_ID
from ims.diameter.peer import (
    Action, AnswerIn, CloseConnection, Discarded, Failback, LocalIdentity, Peer, PeerDown, PeerUp, RequestIn,
    SendBytes,
)

A = LocalIdentity("a.example.net", "example.net", origin_state_id=1)
B = LocalIdentity("b.example.net", "example.net", origin_state_id=1)


def _sent(actions: list[Action]) -> list[bytes]:
    return [a.data for a in actions if isinstance(a, SendBytes)]


def responder_closed() -> Peer:
    return Peer(B, initiator=False, tw_jitter=0)


def initiator_waiting_cea() -> Peer:
    p = Peer(A, initiator=True, tw_jitter=0)
    p.start(0.0)
    p.connected(0.0)
    return p


def _pair() -> tuple[Peer, Peer]:
    """An initiator and a responder after CER/CEA: I-Open and R-Open."""
    a, b = Peer(A, initiator=True, tw_jitter=0), responder_closed()
    a.start(0.0)
    for data in _sent(a.connected(0.0)):
        for reply in _sent(b.receive_data(data, 0.0)):
            a.receive_data(reply, 0.0)
    assert a.is_open and b.is_open
    return a, b


def initiator_open() -> Peer:
    return _pair()[0]


def responder_open() -> Peer:
    return _pair()[1]


def closing_after_our_dpr() -> Peer:
    p = initiator_open()
    p.disconnect(0.0)
    return p


def closing_after_their_dpr() -> Peer:
    p = responder_open()
    dpr = DiameterMessage(CMD_DP, True, 0, [avp(ORIGIN_HOST, "a.example.net"), avp(ORIGIN_REALM, "example.net"),
                                            avp(DISCONNECT_CAUSE, 0)], 77, 78, proxiable=False)
    p.receive_data(dpr.to_bytes(), 0.0)
    return p


STATES: dict[str, Callable[[], Peer]] = {
    "responder-closed": responder_closed, "initiator-wait-cea": initiator_waiting_cea,
    "initiator-open": initiator_open, "responder-open": responder_open,
    "closing-after-our-dpr": closing_after_our_dpr, "closing-after-their-dpr": closing_after_their_dpr,
}


def _origin() -> list[object]:
    return [avp(ORIGIN_HOST, "x.example.net"), avp(ORIGIN_REALM, "example.net")]


def _base(code: int, request: bool, *extra: object) -> bytes:
    return DiameterMessage(code, request, 0, [*_origin(), *extra], 0x1234, 0x5678,  # type: ignore[list-item]
                           proxiable=False).to_bytes()


def _cea(result: int) -> bytes:
    from ims.diameter.codec import vendor_app
    return _base(CMD_CE, False, avp(RESULT_CODE, result), avp(257, "127.0.0.1"), avp(266, 10415),
                 avp(269, "x"), vendor_app(CX_APPLICATION_ID))


def _uar() -> bytes:
    return cx.UserAuthorizationRequest(origin_host="x.example.net", origin_realm="example.net",
                                       destination_realm="example.net", user_name="u", public_identity="sip:u@x",
                                       visited_network_identifier="example.net").to_message().to_bytes()


def _uaa() -> bytes:
    return cx.UserAuthorizationAnswer(origin_host="x.example.net", origin_realm="example.net",
                                      result_code=2001).to_message().to_bytes()


INPUTS: dict[str, Callable[[], bytes]] = {
    "CER": lambda: _sent(Peer(A, initiator=True).connected(0.0))[0],
    "CEA-2001": lambda: _cea(2001), "CEA-5010": lambda: _cea(5010),
    "DWR": lambda: _base(CMD_DW, True), "DWA": lambda: _base(CMD_DW, False, avp(RESULT_CODE, 2001)),
    "DPR": lambda: _base(CMD_DP, True, avp(DISCONNECT_CAUSE, 0)), "DPA": lambda: _base(CMD_DP, False,
                                                                                        avp(RESULT_CODE, 2001)),
    "UAR": _uar, "UAA": _uaa, "unknown-request": lambda: _base(999, True),
    "unknown-answer": lambda: _base(999, False, avp(RESULT_CODE, 2001)),
}

_VISIBLE = (SendBytes, RequestIn, AnswerIn, PeerUp, PeerDown, CloseConnection, Discarded, Failback)


@pytest.mark.parametrize("state", list(STATES))
@pytest.mark.parametrize("message", list(INPUTS))
def test_every_state_and_input_is_answered_delivered_or_discarded_never_raises(state: str, message: str) -> None:
    peer = STATES[state]()
    was = peer.rfc_state
    out = peer.receive_data(INPUTS[message](), 1.0)
    for data in _sent(out):
        DiameterMessage.from_bytes(data)  # what we send decodes
    assert any(isinstance(a, _VISIBLE) for a in out), f"{message} in {was.value} was dropped silently"
    peer.handle_timers(1000.0)  # and the timers after it do not raise either
