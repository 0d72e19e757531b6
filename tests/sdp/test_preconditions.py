"""The segmented QoS precondition state (RFC 3312 §5, §6, §8) as a VoLTE caller and callee run it."""

from __future__ import annotations

from ims.sdp import Precondition, QosPrecondition, make_offer
from ims.sdp.offer_answer import PCMU


def sdp_with(lines: list[Precondition]) -> bytes:
    return make_offer("192.0.2.1", 4000, [PCMU], preconditions=lines).to_bytes()


def test_3312_s6_offerer_and_answerer_reach_met_only_after_both_segments_are_reserved() -> None:
    caller, callee = QosPrecondition(), QosPrecondition()
    offer = sdp_with(caller.lines())  # INVITE: nothing reserved yet, both segments mandatory sendrecv
    assert b"a=curr:qos local none" in offer and b"a=des:qos mandatory remote sendrecv" in offer
    assert callee.on_remote(offer) and not callee.met
    answer = sdp_with(callee.lines(confirm=True))  # 183: asks to be told when the caller's side is up
    assert b"a=conf:qos remote sendrecv" in answer
    caller.on_remote(answer)
    assert caller.confirm_to_peer == "sendrecv" and not caller.met and not caller.update_needed()
    caller.local_reserved()  # the caller's bearer is up
    assert caller.update_needed() and not caller.met  # §6: UPDATE; the callee's segment still unknown
    update = sdp_with(caller.lines())
    assert b"a=curr:qos local sendrecv" in update and not caller.update_needed()
    callee.on_remote(update)
    assert callee.remote.current == "sendrecv" and not callee.met  # its own segment is not up yet
    callee.local_reserved()
    assert callee.met  # §8: now the callee alerts (180)
    caller.on_remote(sdp_with(callee.lines()))  # the UPDATE's 200
    assert caller.met


def test_3312_s5_the_peers_local_is_our_remote() -> None:
    q = QosPrecondition()
    q.on_remote(sdp_with([Precondition("curr", "qos", None, "local", "send"),
                          Precondition("curr", "qos", None, "remote", "sendrecv")]))
    assert q.remote.current == "send" and q.local.current == "none"  # what it says of us is not trusted


def test_3312_s5_optional_strength_does_not_hold_the_session() -> None:
    q = QosPrecondition()
    q.local.strength = q.remote.strength = "optional"
    assert q.met


def test_3312_s5_1_failure_strength_fails_the_precondition() -> None:
    q = QosPrecondition()
    q.local_reserved()
    q.on_remote(sdp_with([Precondition("curr", "qos", None, "local", "none"),
                          Precondition("des", "qos", "failure", "local", "sendrecv")]))
    assert not q.met and "cannot meet" in q.failed


def test_send_and_recv_reserved_separately_add_up() -> None:
    q = QosPrecondition()
    q.local_reserved("send")
    q.local_reserved("recv")
    assert q.local.current == "sendrecv"


def test_sdp_without_preconditions_changes_nothing() -> None:
    q = QosPrecondition()
    assert not q.on_remote(make_offer("192.0.2.1", 4000, [PCMU]).to_bytes()) and not q.on_remote(b"garbage")
    assert q.remote.current == "none"
