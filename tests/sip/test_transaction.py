"""The four RFC 3261 §17 state machines, driven with a fake clock."""

from __future__ import annotations

from ims.sip.events import (
    AckReceived, Address, CancelReceived, RequestReceived, ResponseReceived, SendMessage, StrayResponse,
    TimerConfig, TransactionTerminated, TransactionTimeout,
)
from ims.sip.message import Request, build_response, parse_message
from ims.sip.transaction import TransactionLayer, response_destination

UAC = Address("192.0.2.1", 5060)
UAS = Address("192.0.2.2", 5060)


def req(method: str = "OPTIONS", branch: str = "z9hG4bK1", via_host: str = "192.0.2.1") -> Request:
    msg = parse_message((
        f"{method} sip:bob@192.0.2.2 SIP/2.0\r\nVia: SIP/2.0/UDP {via_host}:5060;branch={branch}\r\n"
        "Max-Forwards: 70\r\nFrom: <sip:alice@a.example>;tag=1\r\nTo: <sip:bob@b.example>\r\n"
        f"Call-ID: c1@a\r\nCSeq: 1 {method}\r\nContent-Length: 0\r\n\r\n").encode())
    assert isinstance(msg, Request)
    return msg


def sends(actions: list) -> list:  # type: ignore[type-arg]
    return [a for a in actions if isinstance(a, SendMessage)]


def fire(layer: TransactionLayer, until: float, step: float = 0.01) -> list:  # type: ignore[type-arg]
    out, t = [], 0.0
    while t <= until:
        dl = layer.next_deadline()
        if dl is not None and dl <= t:
            out.extend((t, a) for a in layer.handle_timers(t))
        t = round(t + step, 6)
    return out


def test_17_1_2_2_timer_e_doubles_to_t2_and_timer_f_times_out() -> None:
    layer = TransactionLayer(TimerConfig(t1=0.5, t2=4.0))
    key, acts = layer.send_request(req(), UAS, 0.0)
    assert len(sends(acts)) == 1
    events = fire(layer, 33.0)
    retransmits = [round(t, 2) for t, a in events if isinstance(a, SendMessage)]
    assert retransmits[:5] == [0.5, 1.5, 3.5, 7.5, 11.5]  # E: 0.5, 1, 2, 4, 4...
    assert any(isinstance(a, TransactionTimeout) for _, a in events)
    timeout_at = next(t for t, a in events if isinstance(a, TransactionTimeout))
    assert abs(timeout_at - 32.0) < 0.02  # F = 64*T1
    assert layer.get(key) is None


def test_17_1_2_2_final_response_then_timer_k() -> None:
    layer = TransactionLayer()
    key, _ = layer.send_request(req(), UAS, 0.0)
    resp = build_response(req(), 200, to_tag="x")
    assert [type(a) for a in layer.receive(resp, UAS, 0.1)] == [ResponseReceived]
    assert layer.receive(resp, UAS, 0.2) == []  # retransmitted final absorbed in Completed
    layer.handle_timers(0.1 + 5.0)  # K = T4
    assert layer.get(key) is None


def test_17_1_1_3_invite_client_acks_non_2xx_with_same_branch() -> None:
    layer = TransactionLayer()
    invite = req("INVITE")
    layer.send_request(invite, UAS, 0.0)
    busy = build_response(invite, 486, to_tag="t9")
    acts = layer.receive(busy, UAS, 0.2)
    ack = sends(acts)[0].message
    assert ack.method == "ACK" and ack.top_via.branch == "z9hG4bK1" and ack.to.tag == "t9"
    assert ack.cseq.method == "ACK" and ack.cseq.seq == 1
    again = layer.receive(busy, UAS, 0.3)
    assert sends(again)[0].message.method == "ACK"  # retransmitted 486 -> ACK again


def test_17_1_1_2_timer_b_invite_timeout() -> None:
    layer = TransactionLayer()
    layer.send_request(req("INVITE"), UAS, 0.0)
    events = fire(layer, 33.0, 0.05)
    assert sum(isinstance(a, SendMessage) for _, a in events) == 6  # A at .5 1.5 3.5 7.5 15.5 31.5
    assert any(isinstance(a, TransactionTimeout) for _, a in events)


def test_17_reliable_transport_no_retransmissions() -> None:
    layer = TransactionLayer()
    layer.send_request(req(), Address("192.0.2.2", 5060, "tcp"), 0.0)
    events = fire(layer, 33.0, 0.1)
    assert not any(isinstance(a, SendMessage) for _, a in events)


def test_17_2_1_invite_server_sends_100_after_200ms_and_absorbs_retransmissions() -> None:
    layer = TransactionLayer()
    invite = req("INVITE")
    acts = layer.receive(invite, UAC, 0.0)
    (rr,) = [a for a in acts if isinstance(a, RequestReceived)]
    trying = layer.handle_timers(0.25)
    assert sends(trying)[0].message.status == 100
    assert sends(layer.receive(req("INVITE"), UAC, 0.3))[0].message.status == 100  # resend last provisional
    ringing = build_response(invite, 180, to_tag="b")
    layer.send_response(rr.key, ringing, 0.4)
    assert sends(layer.receive(req("INVITE"), UAC, 0.5))[0].message.status == 180


def test_17_2_1_non_2xx_retransmitted_by_timer_g_until_ack_then_timer_i() -> None:
    layer = TransactionLayer()
    invite = req("INVITE")
    key = layer.receive(invite, UAC, 0.0)[0].key
    layer.send_response(key, build_response(invite, 486, to_tag="b"), 0.1)
    events = fire(layer, 2.0)
    assert [round(t, 2) for t, a in events if isinstance(a, SendMessage)] == [0.6, 1.6]  # G: T1, 2*T1
    ack = req("ACK")
    assert layer.receive(ack, UAC, 2.1) == []  # absorbed by the transaction (Confirmed)
    assert [type(a) for a in layer.handle_timers(2.1 + 5.0)] == [TransactionTerminated]  # Timer I = T4


def test_17_2_1_timer_h_without_ack() -> None:
    layer = TransactionLayer()
    invite = req("INVITE")
    key = layer.receive(invite, UAC, 0.0)[0].key
    layer.send_response(key, build_response(invite, 486, to_tag="b"), 0.0)
    events = fire(layer, 33.0, 0.05)
    assert any(isinstance(a, TransactionTimeout) for _, a in events)


def test_17_2_3_ack_for_2xx_goes_to_the_tu() -> None:
    layer = TransactionLayer()
    invite = req("INVITE")
    key = layer.receive(invite, UAC, 0.0)[0].key
    layer.send_response(key, build_response(invite, 200, to_tag="b"), 0.1)
    ack = req("ACK", branch="z9hG4bKnew")
    assert [type(a) for a in layer.receive(ack, UAC, 0.2)] == [AckReceived]


def test_9_2_cancel_matches_invite_and_is_answered_200() -> None:
    layer = TransactionLayer()
    invite = req("INVITE")
    key = layer.receive(invite, UAC, 0.0)[0].key
    acts = layer.receive(req("CANCEL"), UAC, 0.1)
    assert sends(acts)[0].message.status == 200
    (cancel,) = [a for a in acts if isinstance(a, CancelReceived)]
    assert cancel.key == key
    assert sends(layer.receive(req("CANCEL", branch="z9hG4bKother"), UAC, 0.2))[0].message.status == 481


def test_17_2_3_rfc2543_request_without_cookie_matches_retransmission() -> None:
    layer = TransactionLayer()
    old = req("OPTIONS", branch="oldstyle1")
    key = layer.receive(old, UAC, 0.0)[0].key
    layer.send_response(key, build_response(old, 200, to_tag="b"), 0.1)
    assert sends(layer.receive(req("OPTIONS", branch="oldstyle1"), UAC, 0.2))[0].message.status == 200


def test_17_1_3_stray_response_is_reported() -> None:
    layer = TransactionLayer()
    resp = build_response(req(branch="z9hG4bKunknown"), 200)
    assert [type(a) for a in layer.receive(resp, UAS, 0.0)] == [StrayResponse]


def test_18_2_2_response_destination_uses_received_and_rport() -> None:
    r = build_response(req(), 200)
    r.set("Via", "SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK1;received=192.0.2.9;rport=4444")
    assert response_destination(r) == Address("192.0.2.9", 4444, "udp")
    r.set("Via", "SIP/2.0/UDP 10.0.0.1;branch=z9hG4bK1;maddr=224.0.0.1")
    assert response_destination(r) == Address("224.0.0.1", 5060, "udp")
    tcp_source = Address("192.0.2.7", 40000, "tcp")
    assert response_destination(r, tcp_source) == tcp_source


def test_18_2_1_received_is_stamped_on_requests() -> None:
    layer = TransactionLayer()
    r = req(via_host="10.9.9.9")
    acts = layer.receive(r, Address("192.0.2.50", 7000), 0.0)
    assert acts[0].request.top_via.received == "192.0.2.50"
