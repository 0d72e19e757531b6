"""The four RFC 3261 §17 state machines (with RFC 6026 Accepted), driven through the layer with a fake clock.

Time is a float we hand in; ``run_until`` jumps from one deadline of the
layer's timer heap to the next, so every assertion on a retransmission time
is exact.  Each test names the clause it checks.
"""

from __future__ import annotations

from typing import Any

import pytest

from ims.sip.errors import SipError
from ims.sip.events import (
    AckReceived, Address, CancelReceived, RequestReceived, ResponseReceived, SendMessage, StrayResponse,
    TimerConfig, TransactionTerminated, TransactionTimeout, TransportFailure,
)
from ims.sip.message import Request, Response, build_response, parse_message
from ims.sip.transaction import (
    InviteClientTransaction, InviteServerTransaction, NonInviteClientTransaction, NonInviteServerTransaction,
    TransactionLayer, response_destination,
)

UAC = Address("192.0.2.1", 5060)
UAS = Address("192.0.2.2", 5060)
UAS_TCP = Address("192.0.2.2", 5060, "tcp")
UAC_TCP = Address("192.0.2.1", 41000, "tcp")
T = TimerConfig(t1=0.5, t2=4.0, t4=5.0)


def req(method: str = "OPTIONS", branch: str = "z9hG4bK1", via_host: str = "192.0.2.1", *, cseq: int = 1,
        to_tag: str | None = None, transport: str = "UDP", extra: str = "") -> Request:
    to = "<sip:bob@b.example>" + (f";tag={to_tag}" if to_tag else "")
    msg = parse_message((
        f"{method} sip:bob@192.0.2.2 SIP/2.0\r\nVia: SIP/2.0/{transport} {via_host}:5060;branch={branch}\r\n"
        f"Max-Forwards: 70\r\nFrom: <sip:alice@a.example>;tag=1\r\nTo: {to}\r\n{extra}"
        f"Call-ID: c1@a\r\nCSeq: {cseq} {method}\r\nContent-Length: 0\r\n\r\n").encode())
    assert isinstance(msg, Request)
    return msg


def sends(actions: list[Any]) -> list[Any]:
    return [a.message for a in actions if isinstance(a, SendMessage)]


def kinds(actions: list[Any]) -> list[type]:
    return [type(a) for a in actions]


def run_until(layer: TransactionLayer, until: float) -> list[tuple[float, Any]]:
    """Fire every timer due up to ``until``, at its exact deadline; returns (time, action) pairs."""
    out: list[tuple[float, Any]] = []
    while (dl := layer.next_deadline()) is not None and dl <= until:
        out.extend((dl, a) for a in layer.handle_timers(dl))
    return out


def send_times(events: list[tuple[float, Any]]) -> list[float]:
    return [round(t, 6) for t, a in events if isinstance(a, SendMessage)]


def first_time(events: list[tuple[float, Any]], kind: type) -> float:
    return next(round(t, 6) for t, a in events if isinstance(a, kind))


def server_txn(layer: TransactionLayer, request: Request, source: Address = UAC, now: float = 0.0) -> Any:
    (rr,) = [a for a in layer.receive(request, source, now) if isinstance(a, RequestReceived)]
    return rr.key


# ---------------------------------------------------------------- INVITE client (§17.1.1)


def test_17_1_1_2_timer_a_doubles_without_t2_cap_then_timer_b_times_out() -> None:
    layer = TransactionLayer(T)
    key, acts = layer.send_request(req("INVITE"), UAS, 0.0)
    assert len(sends(acts)) == 1 and isinstance(layer.get(key), InviteClientTransaction)
    assert layer.get(key).state == "calling"
    events = run_until(layer, 40.0)
    # A: T1, 2T1, 4T1... and, unlike E and G, not capped at T2 (the 16 s gap).
    assert send_times(events) == [0.5, 1.5, 3.5, 7.5, 15.5, 31.5]
    assert first_time(events, TransactionTimeout) == 32.0  # B = 64*T1
    assert kinds([a for _, a in events if not isinstance(a, SendMessage)]) == [TransactionTimeout,
                                                                               TransactionTerminated]
    assert layer.get(key) is None and layer.next_deadline() is None


def test_17_1_1_2_provisional_moves_calling_to_proceeding_and_stops_timers_a_and_b() -> None:
    layer = TransactionLayer(T)
    invite = req("INVITE")
    key, _ = layer.send_request(invite, UAS, 0.0)
    assert kinds(layer.receive(build_response(invite, 100), UAS, 0.2)) == [ResponseReceived]
    assert layer.get(key).state == "proceeding"
    assert run_until(layer, 100.0) == []  # no retransmission, no Timer B in Proceeding
    ringing = build_response(invite, 180, to_tag="b")
    assert kinds(layer.receive(ringing, UAS, 100.0)) == [ResponseReceived]  # further 1xx go to the TU
    assert layer.get(key).state == "proceeding"


def test_17_1_1_3_non_2xx_completed_acks_with_same_branch_and_timer_d() -> None:
    layer = TransactionLayer(T)
    invite = req("INVITE", extra="Route: <sip:p1.example;lr>\r\nRoute: <sip:p2.example;lr>\r\n")
    key, _ = layer.send_request(invite, UAS, 0.0)
    layer.receive(build_response(invite, 180, to_tag="t9"), UAS, 0.1)
    busy = build_response(invite, 486, to_tag="t9")
    acts = layer.receive(busy, UAS, 0.2)
    assert kinds(acts) == [SendMessage, ResponseReceived]
    (ack,) = sends(acts)
    # §17.1.1.3: same Request-URI, Call-ID, From, one Via equal to the INVITE's top Via,
    # To from the response, CSeq number with method ACK, the INVITE's Route set.
    assert ack.method == "ACK" and str(ack.uri) == str(invite.uri)
    assert ack.get_all("via") == invite.get_all("via") and ack.top_via.branch == "z9hG4bK1"
    assert ack.to.tag == "t9" and ack.from_.tag == "1" and ack.call_id == invite.call_id
    assert (ack.cseq.seq, ack.cseq.method) == (1, "ACK")
    assert [str(r) for r in ack.routes] == ["<sip:p1.example;lr>", "<sip:p2.example;lr>"]
    assert acts[0].dest == UAS
    assert layer.get(key).state == "completed"
    # A retransmitted final response is ACKed again and not passed to the TU.
    again = layer.receive(busy, UAS, 1.0)
    assert kinds(again) == [SendMessage] and sends(again)[0].to_bytes() == ack.to_bytes()
    assert run_until(layer, 32.1) == [] and layer.get(key).state == "completed"
    events = run_until(layer, 33.0)
    assert first_time(events, TransactionTerminated) == 32.2  # D >= 32 s on unreliable transports
    assert layer.get(key) is None


def test_17_1_1_2_non_2xx_in_calling_goes_straight_to_completed() -> None:
    layer = TransactionLayer(T)
    invite = req("INVITE")
    key, _ = layer.send_request(invite, UAS, 0.0)
    acts = layer.receive(build_response(invite, 503), UAS, 0.1)
    assert kinds(acts) == [SendMessage, ResponseReceived] and layer.get(key).state == "completed"
    assert not any(isinstance(a, SendMessage) and a.message.method == "INVITE"
                   for _, a in run_until(layer, 40.0))  # Timer A stopped


def test_17_1_1_2_reliable_transport_no_timer_a_and_timer_d_zero() -> None:
    layer = TransactionLayer(T)
    invite = req("INVITE", transport="TCP")
    key, _ = layer.send_request(invite, UAS_TCP, 0.0)
    assert "A" not in layer.get(key).timers and layer.get(key).timers["B"] == 32.0
    acts = layer.receive(build_response(invite, 404), UAS_TCP, 1.0)
    assert kinds(acts) == [SendMessage, ResponseReceived]
    assert layer.next_deadline() == 1.0  # D = 0: ends at once
    assert kinds(layer.handle_timers(1.0)) == [TransactionTerminated] and layer.get(key) is None


def test_17_1_1_2_reliable_transport_timer_b_still_fires() -> None:
    layer = TransactionLayer(T)
    layer.send_request(req("INVITE", transport="TCP"), UAS_TCP, 0.0)
    events = run_until(layer, 40.0)
    assert send_times(events) == [] and first_time(events, TransactionTimeout) == 32.0


def test_rfc6026_invite_client_accepted_passes_every_2xx_up_until_timer_m() -> None:
    layer = TransactionLayer(T)
    invite = req("INVITE")
    key, _ = layer.send_request(invite, UAS, 0.0)
    ok = build_response(invite, 200, to_tag="fork1")
    acts = layer.receive(ok, UAS, 0.3)
    assert kinds(acts) == [ResponseReceived]  # no ACK from the transaction: the TU ACKs 2xx (§13.2.2.4)
    assert layer.get(key).state == "accepted"
    assert kinds(layer.receive(ok, UAS, 0.8)) == [ResponseReceived]  # retransmission -> TU re-ACKs
    other_fork = build_response(invite, 200, to_tag="fork2")
    assert kinds(layer.receive(other_fork, UAS, 1.0)) == [ResponseReceived]
    assert layer.receive(build_response(invite, 486, to_tag="x"), UAS, 1.1) == []  # late non-2xx: dropped
    events = run_until(layer, 100.0)
    assert send_times(events) == []  # Timers A/B were stopped by the 2xx
    assert first_time(events, TransactionTerminated) == 0.3 + 32.0  # M = 64*T1
    assert kinds(layer.receive(ok, UAS, 40.0)) == [StrayResponse]  # now the UA core's business


def test_17_1_4_transport_error_on_invite_client() -> None:
    layer = TransactionLayer(T)
    key, _ = layer.send_request(req("INVITE"), UAS, 0.0)
    assert kinds(layer.transport_error(key, 0.1)) == [TransportFailure, TransactionTerminated]
    assert layer.get(key) is None and run_until(layer, 40.0) == []
    assert layer.transport_error(key, 0.2) == []  # unknown key: nothing


# ---------------------------------------------------------------- non-INVITE client (§17.1.2)


def test_17_1_2_2_timer_e_doubles_capped_at_t2_then_timer_f() -> None:
    layer = TransactionLayer(T)
    key, acts = layer.send_request(req(), UAS, 0.0)
    assert len(sends(acts)) == 1 and isinstance(layer.get(key), NonInviteClientTransaction)
    assert layer.get(key).state == "trying"
    events = run_until(layer, 40.0)
    times = send_times(events)
    assert times[:6] == [0.5, 1.5, 3.5, 7.5, 11.5, 15.5]  # E: 0.5, 1, 2, 4, then capped at T2 = 4
    assert all(round(b - a, 6) <= T.t2 for a, b in zip(times, times[1:]))
    assert times[-1] == 31.5 and len(times) == 10
    assert first_time(events, TransactionTimeout) == 32.0  # F = 64*T1
    assert layer.get(key) is None


def test_17_1_2_2_t2_cap_with_other_timer_values() -> None:
    layer = TransactionLayer(TimerConfig(t1=0.1, t2=0.4, t4=1.0))
    layer.send_request(req(), UAS, 0.0)
    times = send_times(run_until(layer, 6.4))
    assert times[:5] == [0.1, 0.3, 0.7, 1.1, 1.5]
    assert max(round(b - a, 6) for a, b in zip(times, times[1:])) == 0.4


def test_17_1_2_2_proceeding_retransmits_every_t2_and_f_still_fires() -> None:
    layer = TransactionLayer(T)
    r = req("REGISTER")
    key, _ = layer.send_request(r, UAS, 0.0)
    assert kinds(layer.receive(build_response(r, 100), UAS, 0.1)) == [ResponseReceived]
    assert layer.get(key).state == "proceeding"
    events = run_until(layer, 40.0)
    assert send_times(events)[:3] == [0.5, 4.5, 8.5]  # reset to T2 in Proceeding
    assert first_time(events, TransactionTimeout) == 32.0  # Timer F also fires in Proceeding


def test_17_1_2_2_final_response_completed_absorbs_retransmissions_then_timer_k() -> None:
    layer = TransactionLayer(T)
    r = req()
    key, _ = layer.send_request(r, UAS, 0.0)
    resp = build_response(r, 200, to_tag="x")
    assert kinds(layer.receive(resp, UAS, 0.1)) == [ResponseReceived]
    assert layer.get(key).state == "completed"
    assert layer.receive(resp, UAS, 0.2) == []  # retransmitted final absorbed in Completed
    events = run_until(layer, 40.0)
    assert send_times(events) == []  # E and F stopped
    assert [(t, type(a)) for t, a in events] == [(5.1, TransactionTerminated)]  # K = T4
    assert layer.get(key) is None


def test_17_1_2_2_reliable_transport_no_timer_e_and_timer_k_zero() -> None:
    layer = TransactionLayer(T)
    r = req(transport="TCP")
    key, _ = layer.send_request(r, UAS_TCP, 0.0)
    assert set(layer.get(key).timers) == {"F"}
    layer.receive(build_response(r, 200, to_tag="x"), UAS_TCP, 2.0)
    assert layer.next_deadline() == 2.0 and kinds(layer.handle_timers(2.0)) == [TransactionTerminated]


def test_17_1_4_transport_error_on_non_invite_client() -> None:
    layer = TransactionLayer(T)
    key, _ = layer.send_request(req(), UAS, 0.0)
    assert kinds(layer.transport_error(key, 0.0)) == [TransportFailure, TransactionTerminated]


def test_17_1_4_connection_lost_fails_only_client_transactions_still_waiting_on_it() -> None:
    layer = TransactionLayer(T)
    waiting, _ = layer.send_request(req("INVITE", transport="TCP"), UAS_TCP, 0.0)
    r = req("REGISTER", "z9hG4bK2", transport="TCP")
    answered, _ = layer.send_request(r, UAS_TCP, 0.0)
    layer.receive(build_response(r, 200, to_tag="x"), UAS_TCP, 0.1)  # completed, Timer K pending
    elsewhere, _ = layer.send_request(req("OPTIONS", "z9hG4bK3", transport="TCP"), UAC_TCP, 0.0)
    served = layer.receive(req("MESSAGE", "z9hG4bK4", via_host="192.0.2.2", transport="TCP"), UAS_TCP, 0.0)
    acts = layer.connection_lost(UAS_TCP, 0.2)
    assert kinds(acts) == [TransportFailure, TransactionTerminated] and acts[0].key == waiting
    assert layer.get(waiting) is None and layer.get(answered) is not None and layer.get(elsewhere) is not None
    assert served and len(layer) == 3  # the server transaction is left to answer (§18.2.2 reconnects)
    assert layer.connection_lost(UAS_TCP, 0.3) == []


# ---------------------------------------------------------------- INVITE server (§17.2.1)


def test_17_2_1_100_trying_after_200ms_when_the_tu_is_silent() -> None:
    layer = TransactionLayer(T)
    key = server_txn(layer, req("INVITE"))
    assert isinstance(layer.get(key), InviteServerTransaction) and layer.get(key).state == "proceeding"
    assert layer.next_deadline() == pytest.approx(0.2)
    (trying,) = sends(layer.handle_timers(0.2))
    assert trying.status == 100 and trying.to.tag is None and trying.call_id == "c1@a"


def test_17_2_1_no_100_trying_when_the_tu_answers_within_200ms() -> None:
    layer = TransactionLayer(T)
    invite = req("INVITE")
    key = server_txn(layer, invite)
    layer.send_response(key, build_response(invite, 180, to_tag="b"), 0.1)
    assert [m.status for _, a in run_until(layer, 0.5) for m in sends([a])] == []


def test_17_2_1_proceeding_absorbs_retransmissions_and_resends_last_provisional() -> None:
    layer = TransactionLayer(T)
    invite = req("INVITE")
    key = server_txn(layer, invite)
    assert layer.receive(req("INVITE"), UAC, 0.1) == []  # nothing sent yet: absorbed, not passed to the TU
    layer.handle_timers(0.2)  # 100 Trying
    assert [m.status for m in sends(layer.receive(req("INVITE"), UAC, 0.3))] == [100]
    layer.send_response(key, build_response(invite, 180, to_tag="b"), 0.4)
    acts = layer.receive(req("INVITE"), UAC, 0.5)
    assert kinds(acts) == [SendMessage] and sends(acts)[0].status == 180


def test_17_2_1_non_2xx_timer_g_capped_at_t2_ack_confirms_then_timer_i() -> None:
    layer = TransactionLayer(T)
    invite = req("INVITE")
    key = server_txn(layer, invite)
    layer.send_response(key, build_response(invite, 486, to_tag="b"), 0.0)
    assert layer.get(key).state == "completed"
    events = run_until(layer, 12.0)
    assert send_times(events) == [0.5, 1.5, 3.5, 7.5, 11.5]  # G: T1, 2T1, 4T1, then T2 = 4
    # An INVITE retransmission in Completed gets the final response again.
    assert [m.status for m in sends(layer.receive(req("INVITE"), UAC, 12.1))] == [486]
    ack = req("ACK", to_tag="b")
    assert layer.receive(ack, UAC, 12.2) == []  # absorbed by the transaction, not the TU
    assert layer.get(key).state == "confirmed"
    assert layer.receive(ack, UAC, 12.3) == []  # retransmitted ACK absorbed in Confirmed
    events = run_until(layer, 40.0)
    assert send_times(events) == []  # G stopped, H stopped
    assert [(t, type(a)) for t, a in events] == [(17.2, TransactionTerminated)]  # I = T4


def test_17_2_1_timer_h_fires_without_ack() -> None:
    layer = TransactionLayer(T)
    invite = req("INVITE")
    key = server_txn(layer, invite)
    layer.send_response(key, build_response(invite, 486, to_tag="b"), 0.0)
    events = run_until(layer, 40.0)
    assert first_time(events, TransactionTimeout) == 32.0  # H = 64*T1
    assert len(send_times(events)) == 10 and layer.get(key) is None


def test_17_2_1_reliable_transport_no_timer_g_and_timer_i_zero() -> None:
    layer = TransactionLayer(T)
    invite = req("INVITE", transport="TCP")
    key = server_txn(layer, invite, UAC_TCP)
    acts = layer.send_response(key, build_response(invite, 603, to_tag="b"), 0.0)
    assert acts[0].dest == UAC_TCP  # §18.2.2: the connection the request came on
    assert set(layer.get(key).timers) == {"H"}
    layer.receive(req("ACK", to_tag="b", transport="TCP"), UAC_TCP, 1.0)
    assert layer.next_deadline() == 1.0 and kinds(layer.handle_timers(1.0)) == [TransactionTerminated]


def test_rfc6026_invite_server_accepted_absorbs_invites_forwards_2xx_and_timer_l() -> None:
    layer = TransactionLayer(T)
    invite = req("INVITE")
    key = server_txn(layer, invite)
    ok = build_response(invite, 200, to_tag="b")
    assert [m.status for m in sends(layer.send_response(key, ok, 0.1))] == [200]
    assert layer.get(key).state == "accepted"
    assert layer.receive(req("INVITE"), UAC, 0.2) == []  # retransmitted INVITE absorbed (RFC 6026 §8.5)
    assert [m.status for m in sends(layer.send_response(key, ok, 0.6))] == [200]  # TU's 2xx retransmission
    ack = req("ACK", branch="z9hG4bKack", to_tag="b")
    assert kinds(layer.receive(ack, UAC, 0.7)) == [AckReceived]  # the ACK of a 2xx goes to the TU
    events = run_until(layer, 40.0)
    assert [(t, type(a)) for t, a in events] == [(32.1, TransactionTerminated)]  # L = 64*T1
    # After Timer L a late INVITE retransmission would be a new request: the TU's 2xx is gone.
    assert layer.send_response(key, ok, 41.0) == []


def test_17_2_4_transport_error_on_invite_server() -> None:
    layer = TransactionLayer(T)
    invite = req("INVITE")
    key = server_txn(layer, invite)
    layer.send_response(key, build_response(invite, 500, to_tag="b"), 0.0)
    assert kinds(layer.transport_error(key, 0.1)) == [TransportFailure, TransactionTerminated]
    assert layer.get(key) is None


# ---------------------------------------------------------------- non-INVITE server (§17.2.2)


def test_17_2_2_trying_proceeding_completed_and_timer_j() -> None:
    layer = TransactionLayer(T)
    r = req("REGISTER")
    key = server_txn(layer, r)
    txn = layer.get(key)
    assert isinstance(txn, NonInviteServerTransaction) and txn.state == "trying"
    assert layer.receive(req("REGISTER"), UAC, 0.1) == []  # Trying: retransmission discarded
    assert [m.status for m in sends(layer.send_response(key, build_response(r, 100), 0.2))] == [100]
    assert txn.state == "proceeding"
    assert [m.status for m in sends(layer.receive(req("REGISTER"), UAC, 0.3))] == [100]
    assert [m.status for m in sends(layer.send_response(key, build_response(r, 200, to_tag="x"), 0.4))] == [200]
    assert txn.state == "completed"
    assert [m.status for m in sends(layer.receive(req("REGISTER"), UAC, 0.5))] == [200]
    assert layer.send_response(key, build_response(r, 500), 0.6) == []  # further TU finals are dropped
    events = run_until(layer, 40.0)
    assert [(t, type(a)) for t, a in events] == [(32.4, TransactionTerminated)]  # J = 64*T1


def test_17_2_2_reliable_transport_timer_j_zero() -> None:
    layer = TransactionLayer(T)
    r = req(transport="TCP")
    key = server_txn(layer, r, UAC_TCP)
    layer.send_response(key, build_response(r, 200, to_tag="x"), 3.0)
    assert layer.next_deadline() == 3.0 and kinds(layer.handle_timers(3.0)) == [TransactionTerminated]


# ---------------------------------------------------------------- matching (§17.1.3, §17.2.3)


def test_17_1_3_response_matches_branch_and_cseq_method() -> None:
    layer = TransactionLayer(T)
    invite = req("INVITE")
    ikey, _ = layer.send_request(invite, UAS, 0.0)
    layer.receive(build_response(invite, 180, to_tag="b"), UAS, 0.1)
    ckey, _ = layer.cancel(ikey, 0.2)
    assert ckey != ikey and layer.get(ckey).request.top_via.branch == "z9hG4bK1"  # §9.1: same branch
    cancel_ok = build_response(layer.get(ckey).request, 200, to_tag="b")
    (rr,) = layer.receive(cancel_ok, UAS, 0.3)
    assert isinstance(rr, ResponseReceived) and rr.key == ckey  # CSeq method CANCEL -> the CANCEL txn
    assert layer.get(ikey).state == "proceeding"
    (rr,) = [a for a in layer.receive(build_response(invite, 487, to_tag="b"), UAS, 0.4)
             if isinstance(a, ResponseReceived)]
    assert rr.key == ikey


def test_17_1_3_response_with_unknown_branch_is_stray() -> None:
    layer = TransactionLayer(T)
    resp = build_response(req(branch="z9hG4bKunknown"), 200)
    assert kinds(layer.receive(resp, UAS, 0.0)) == [StrayResponse]


def test_17_2_3_same_branch_different_method_are_different_transactions() -> None:
    layer = TransactionLayer(T)
    k1 = server_txn(layer, req("OPTIONS"))
    k2 = server_txn(layer, req("INFO"))
    assert k1 != k2 and len(layer) == 2


def test_17_2_3_same_branch_different_sent_by_are_different_transactions() -> None:
    layer = TransactionLayer(T)
    k1 = server_txn(layer, req(via_host="192.0.2.1"))
    k2 = server_txn(layer, req(via_host="192.0.2.9"), Address("192.0.2.9", 5060))
    assert k1 != k2


def test_17_2_3_ack_for_2xx_goes_to_the_tu() -> None:
    layer = TransactionLayer(T)
    invite = req("INVITE")
    key = server_txn(layer, invite)
    layer.send_response(key, build_response(invite, 200, to_tag="b"), 0.1)
    ack = req("ACK", branch="z9hG4bKnew", to_tag="b")
    (ev,) = layer.receive(ack, UAC, 0.2)
    assert isinstance(ev, AckReceived) and ev.request is ack and ev.source == UAC
    assert kinds(layer.receive(req("ACK", branch="z9hG4bKnobody"), UAC, 0.3)) == [AckReceived]


def test_9_2_cancel_matches_invite_answered_200_and_reported_once() -> None:
    layer = TransactionLayer(T)
    invite = req("INVITE")
    key = server_txn(layer, invite)
    layer.send_response(key, build_response(invite, 180, to_tag="b"), 0.05)
    acts = layer.receive(req("CANCEL"), UAC, 0.1)
    (ok,) = sends(acts)
    assert ok.status == 200 and ok.cseq.method == "CANCEL" and ok.to.tag == "b"  # same To tag as the 180
    (cancel,) = [a for a in acts if isinstance(a, CancelReceived)]
    assert cancel.key == key and cancel.cancel.method == "CANCEL"
    again = layer.receive(req("CANCEL"), UAC, 0.2)  # CANCEL retransmission: its own txn resends the 200
    assert kinds(again) == [SendMessage] and sends(again)[0].status == 200


def test_9_2_cancel_after_final_response_is_200_without_effect() -> None:
    layer = TransactionLayer(T)
    invite = req("INVITE")
    key = server_txn(layer, invite)
    layer.send_response(key, build_response(invite, 200, to_tag="b"), 0.1)
    acts = layer.receive(req("CANCEL"), UAC, 0.2)
    assert kinds(acts) == [SendMessage] and sends(acts)[0].status == 200
    assert layer.get(key).state == "accepted"


def test_9_2_cancel_for_unknown_transaction_is_481() -> None:
    layer = TransactionLayer(T)
    server_txn(layer, req("INVITE"))
    acts = layer.receive(req("CANCEL", branch="z9hG4bKother"), UAC, 0.2)
    assert kinds(acts) == [SendMessage] and sends(acts)[0].status == 481


def test_9_1_cancel_request_built_from_the_invite() -> None:
    layer = TransactionLayer(T)
    invite = req("INVITE", extra="Route: <sip:p1.example;lr>\r\n")
    key, _ = layer.send_request(invite, UAS, 0.0)
    layer.receive(build_response(invite, 180, to_tag="b"), UAS, 0.1)
    ckey, acts = layer.cancel(key, 0.2)
    ((cancel, dest),) = [(a.message, a.dest) for a in acts if isinstance(a, SendMessage)]
    assert dest == UAS and cancel.method == "CANCEL" and str(cancel.uri) == str(invite.uri)
    assert cancel.get_all("via") == invite.get_all("via")
    assert cancel.to.tag is None and cancel.from_.tag == "1" and cancel.call_id == invite.call_id
    assert (cancel.cseq.seq, cancel.cseq.method) == (1, "CANCEL")
    assert [str(r) for r in cancel.routes] == ["<sip:p1.example;lr>"]
    assert isinstance(layer.get(ckey), NonInviteClientTransaction)
    # Once the INVITE got its final response there is nothing left to cancel.
    layer.receive(build_response(invite, 486, to_tag="b"), UAS, 0.3)
    assert layer.cancel(key, 0.4) == (None, [])


def test_17_2_3_rfc2543_request_without_cookie_matches_retransmissions() -> None:
    layer = TransactionLayer(T)
    old = req("OPTIONS", branch="oldstyle1")
    key = server_txn(layer, old)
    assert key[0] == "s2543"
    layer.send_response(key, build_response(old, 200, to_tag="b"), 0.1)
    assert [m.status for m in sends(layer.receive(req("OPTIONS", branch="oldstyle1"), UAC, 0.2))] == [200]
    # A different CSeq is a new request (no match).
    assert kinds(layer.receive(req("OPTIONS", branch="oldstyle1", cseq=2), UAC, 0.3)) == [RequestReceived]


def test_17_2_3_rfc2543_peer_without_branch_ack_matches_by_to_tag() -> None:
    layer = TransactionLayer(T)
    raw = req("INVITE").to_bytes().replace(b";branch=z9hG4bK1", b"")  # RFC 2543: no branch at all
    invite = parse_message(raw)
    key = server_txn(layer, invite)
    layer.send_response(key, build_response(invite, 404, to_tag="nf"), 0.1)
    retrans = layer.receive(parse_message(raw), UAC, 0.2)
    assert [m.status for m in sends(retrans)] == [404]
    ack_raw = raw.replace(b"INVITE sip", b"ACK sip").replace(b"1 INVITE", b"1 ACK").replace(
        b"<sip:bob@b.example>", b"<sip:bob@b.example>;tag=nf")
    assert layer.receive(parse_message(ack_raw), UAC, 0.3) == []  # matched the INVITE txn
    assert layer.get(key).state == "confirmed"


def test_17_2_3_rfc2543_ack_with_other_to_tag_is_not_absorbed() -> None:
    layer = TransactionLayer(T)
    invite = req("INVITE", branch="2543branch")
    key = server_txn(layer, invite)
    layer.send_response(key, build_response(invite, 486, to_tag="mine"), 0.1)
    ack = req("ACK", branch="2543branch", to_tag="someone-else")
    assert kinds(layer.receive(ack, UAC, 0.2)) == [AckReceived]
    assert layer.get(key).state == "completed"


def test_17_1_duplicate_client_branch_and_ack_are_refused() -> None:
    layer = TransactionLayer(T)
    layer.send_request(req(), UAS, 0.0)
    with pytest.raises(SipError):
        layer.send_request(req(), UAS, 0.1)
    with pytest.raises(SipError):
        layer.send_request(req("ACK", branch="z9hG4bK2"), UAS, 0.1)


def test_on_message_drives_a_state_machine_directly() -> None:
    layer = TransactionLayer(T)
    invite = req("INVITE")
    key, _ = layer.send_request(invite, UAS, 0.0)
    txn = layer.get(key)
    assert kinds(txn.on_message(build_response(invite, 183, to_tag="e"), 0.1)) == [ResponseReceived]
    assert txn.state == "proceeding"
    assert kinds(txn.on_timer("B", 32.0)) == []  # B only counts in Calling


# ---------------------------------------------------------------- timer heap, transport (§18.2)


def test_timer_heap_lazy_deletion_gives_the_live_deadline() -> None:
    layer = TransactionLayer(T)
    invite = req("INVITE")
    key = server_txn(layer, invite)
    layer.send_response(key, build_response(invite, 486, to_tag="b"), 0.0)  # G at 0.5, H at 32
    layer.receive(req("ACK", to_tag="b"), UAC, 0.1)  # G and H disarmed, I at 5.1
    assert layer.next_deadline() == pytest.approx(5.1)
    assert layer.handle_timers(5.0) == [] and layer.get(key) is not None


def test_many_transactions_share_one_heap() -> None:
    layer = TransactionLayer(T)
    for i in range(200):
        layer.send_request(req(branch=f"z9hG4bK{i}"), UAS, i * 0.01)
    assert len(layer) == 200 and layer.next_deadline() == 0.5
    events = run_until(layer, 40.0)
    assert sum(isinstance(a, TransactionTimeout) for _, a in events) == 200 and len(layer) == 0


def test_18_2_2_response_destination_uses_received_rport_and_maddr() -> None:
    r = build_response(req(), 200)
    r.set("Via", "SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK1;received=192.0.2.9;rport=4444")
    assert response_destination(r) == Address("192.0.2.9", 4444, "udp")
    r.set("Via", "SIP/2.0/UDP 10.0.0.1;branch=z9hG4bK1;maddr=224.0.0.1")
    assert response_destination(r) == Address("224.0.0.1", 5060, "udp")
    r.set("Via", "SIP/2.0/UDP 10.0.0.1:5070;branch=z9hG4bK1;received=192.0.2.9")
    assert response_destination(r) == Address("192.0.2.9", 5070, "udp")
    tcp_source = Address("192.0.2.7", 40000, "tcp")
    assert response_destination(r, tcp_source) == tcp_source


def test_18_2_1_received_and_rport_are_stamped_on_requests() -> None:
    layer = TransactionLayer(T)
    r = req(via_host="10.9.9.9")
    acts = layer.receive(r, Address("192.0.2.50", 7000), 0.0)
    assert acts[0].request.top_via.received == "192.0.2.50"
    r2 = parse_message(req(branch="z9hG4bK2").to_bytes().replace(b";branch=z9hG4bK2", b";rport;branch=z9hG4bK2"))
    (rr,) = layer.receive(r2, Address("192.0.2.1", 7001), 0.0)
    assert rr.request.top_via.rport == 7001 and rr.request.top_via.received == "192.0.2.1"
    resp = build_response(rr.request, 200)
    assert response_destination(resp) == Address("192.0.2.1", 7001, "udp")


def test_responses_reach_the_sender_through_send_response() -> None:
    layer = TransactionLayer(T)
    r = req(via_host="10.9.9.9")
    key = server_txn(layer, r, Address("192.0.2.50", 7000))
    (a,) = layer.send_response(key, build_response(r, 200, to_tag="x"), 0.1)
    assert isinstance(a, SendMessage) and a.dest == Address("192.0.2.50", 5060, "udp")
    assert isinstance(a.message, Response)
