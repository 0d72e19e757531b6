"""The sans-IO Diameter peer (RFC 6733 §5.6, RFC 3539) driven by a fake clock."""

from __future__ import annotations

import time

from ims.diameter import cx
from ims.diameter.codec import FAILED_AVP, ORIGIN_HOST, RESULT_CODE, DiameterMessage, avp
from ims.diameter.constants import (
    CMD_CE, CMD_DP, CMD_DW, CMD_UA, CX_APPLICATION_ID, DIAMETER_NO_COMMON_APPLICATION, DIAMETER_SUCCESS,
)
from ims.diameter.peer import (
    AnswerIn, CloseConnection, Discarded, Failback, Failover, LocalIdentity, Peer, PeerDown, PeerState, PeerUp, RequestIn,
    RequestTimedOut, SendBytes, Watchdog, new_end_to_end,
)

A = LocalIdentity("a.example.net", "example.net")
B = LocalIdentity("b.example.net", "example.net")


def sent(actions: list) -> list[DiameterMessage]:  # type: ignore[type-arg]
    return [a.message for a in actions if isinstance(a, SendBytes)]


def pipe(dst: Peer, actions: list, now: float) -> list:  # type: ignore[type-arg]
    """Deliver the SendBytes among ``actions`` to ``dst``; return what dst did."""
    out = []
    for a in actions:
        if isinstance(a, SendBytes):
            out.extend(dst.receive_data(a.data, now))
    return out


def open_pair(tw: float = 30.0) -> tuple[Peer, Peer]:
    a = Peer(A, initiator=True, tw=tw, tw_jitter=0)
    b = Peer(B, initiator=False, tw=tw, tw_jitter=0)
    a.start(0.0)
    assert a.rfc_state is PeerState.WAIT_CONN_ACK
    cer = a.connected(0.0)
    assert a.rfc_state is PeerState.WAIT_I_CEA and [m.command_code for m in sent(cer)] == [CMD_CE]
    b_out = pipe(b, cer, 0.0)
    assert any(isinstance(x, PeerUp) for x in b_out) and b.rfc_state is PeerState.R_OPEN
    a_out = pipe(a, b_out, 0.0)
    assert any(isinstance(x, PeerUp) for x in a_out) and a.rfc_state is PeerState.I_OPEN
    return a, b


def uar(**kw: object) -> DiameterMessage:
    return cx.UserAuthorizationRequest(origin_host="a.example.net", origin_realm="example.net",
                                       destination_realm="example.net", user_name="u@example.net",
                                       public_identity="sip:u@example.net", visited_network_identifier="example.net",
                                       **kw).to_message()  # type: ignore[arg-type]


def test_5_3_cer_cea_opens_both_sides_with_cx_negotiated() -> None:
    a, b = open_pair()
    assert a.remote_host == "b.example.net" and b.remote_host == "a.example.net"
    assert a.common_apps == b.common_apps == (CX_APPLICATION_ID,)
    assert a.state == b.state == "open"  # the coarse name older callers use


def test_5_3_cer_carries_vendor_specific_application_id_for_cx() -> None:
    a = Peer(A, initiator=True)
    (cer,) = sent(a.connected(0.0))
    vsa = cer.find(260)
    members = {(m.code, m.value) for m in vsa[0].value}
    assert (266, 10415) in members and (258, CX_APPLICATION_ID) in members
    assert cer.get(257) == (1, "127.0.0.1") and cer.origin_host == "a.example.net" and not cer.proxiable


def test_5_3_no_common_application_5010_and_close() -> None:
    a = Peer(LocalIdentity("a.example.net", "example.net", applications=(16777217,)), initiator=True)
    b = Peer(B, initiator=False)
    b_out = pipe(b, a.connected(0.0), 0.0)
    (cea,) = sent(b_out)
    assert cea.result_code == DIAMETER_NO_COMMON_APPLICATION
    assert any(isinstance(x, CloseConnection) for x in b_out) and b.rfc_state is PeerState.CLOSED
    assert not any(isinstance(x, PeerUp) for x in b_out)
    a_out = pipe(a, b_out, 0.0)
    assert any(isinstance(x, CloseConnection) for x in a_out) and a.rfc_state is PeerState.CLOSED


def test_5_6_nothing_but_cer_before_the_capabilities_exchange() -> None:
    b = Peer(B, initiator=False)
    out = b.receive_data(uar().to_bytes(), 0.0)
    (ans,) = sent(out)
    assert ans.result_code == 5012 and not any(isinstance(x, RequestIn) for x in out)


def test_request_answer_matched_by_hop_by_hop_and_end_to_end_kept() -> None:
    a, b = open_pair()
    req = uar()
    delivered = pipe(b, a.send_request(req, 1.0), 1.0)
    (rin,) = [x for x in delivered if isinstance(x, RequestIn)]
    assert rin.message.hop_by_hop == req.hop_by_hop and rin.message.end_to_end == req.end_to_end
    ans = cx.UserAuthorizationAnswer(experimental_result_code=2001, server_name="sip:s").to_message(rin.message)
    got = pipe(a, b.send_answer(ans), 1.1)
    assert [type(x) for x in got] == [AnswerIn] and got[0].hop_by_hop == req.hop_by_hop
    dup = pipe(a, b.send_answer(ans), 1.2)  # a duplicate answer is discarded (§6.2), and said so
    assert [type(x) for x in dup] == [Discarded] and "late or unknown" in dup[0].reason


def test_3_end_to_end_high_12_bits_from_the_clock() -> None:
    now = time.time()
    e2e = new_end_to_end(now)
    assert e2e >> 20 == int(now) & 0xFFF
    assert new_end_to_end(now) != e2e  # the low 20 bits move on


def test_hop_by_hop_ids_differ_per_request() -> None:
    a, _ = open_pair()
    r1, r2 = uar(), uar()
    a.send_request(r1, 0.0)
    a.send_request(r2, 0.0)
    assert r1.hop_by_hop != r2.hop_by_hop


def test_request_timeout() -> None:
    a, _ = open_pair()
    req = uar()
    a.send_request(req, 0.0)
    assert a.next_deadline() == a.request_timeout
    assert a.handle_timers(a.request_timeout - 0.01) == []
    out = a.handle_timers(a.request_timeout + 0.01)
    assert RequestTimedOut(req.hop_by_hop) in out and a.stats["timeouts"] == 1


def test_rfc3539_dwr_after_tw_without_traffic_and_dwa_keeps_okay() -> None:
    a, b = open_pair(tw=6.0)
    assert a.next_deadline() == 6.0
    assert a.handle_timers(5.9) == []
    dwr = a.handle_timers(6.0)
    assert [m.command_code for m in sent(dwr)] == [CMD_DW] and sent(dwr)[0].request
    dwa = pipe(b, dwr, 6.0)
    assert [(m.command_code, m.request, m.result_code) for m in sent(dwa)] == [(CMD_DW, False, DIAMETER_SUCCESS)]
    assert pipe(a, dwa, 6.1) == []
    assert a.watchdog is Watchdog.OKAY and a.is_open
    assert a.next_deadline() == 6.1 + 6.0  # any traffic re-arms Tw


def test_rfc3539_failover_after_missed_dwa_then_down() -> None:
    a, b = open_pair(tw=6.0)
    req = uar()
    a.send_request(req, 5.0)
    assert a.handle_timers(5.5) == []  # nothing due yet
    assert [m.command_code for m in sent(a.handle_timers(6.0))] == [CMD_DW]  # unanswered from here on
    out = a.handle_timers(12.0)
    failover = [x for x in out if isinstance(x, Failover)]
    assert a.watchdog is Watchdog.SUSPECT and failover and a.is_open
    out = a.handle_timers(18.0)
    assert any(isinstance(x, CloseConnection) for x in out) and any(isinstance(x, PeerDown) for x in out)
    assert a.watchdog is Watchdog.DOWN and a.rfc_state is PeerState.CLOSED


def test_rfc3539_pending_request_is_handed_over_on_failover() -> None:
    a, _ = open_pair(tw=6.0)
    a.request_timeout = 100.0
    req = uar()
    a.send_request(req, 1.0)
    a.handle_timers(7.0)  # DWR
    (failover,) = [x for x in a.handle_timers(13.0) if isinstance(x, Failover)]
    assert failover.pending == (req,)


def test_rfc3539_traffic_from_a_suspect_peer_fails_back() -> None:
    a, b = open_pair(tw=6.0)
    dwr = a.handle_timers(6.0)
    a.handle_timers(12.0)
    assert a.watchdog is Watchdog.SUSPECT
    out = pipe(a, pipe(b, dwr, 12.5), 12.5)  # the late DWA
    assert Failback() in out and a.watchdog is Watchdog.OKAY


def test_rfc3539_tw_jitter_within_two_seconds() -> None:
    draws: list[tuple[float, float]] = []

    def rng(lo: float, hi: float) -> float:
        draws.append((lo, hi))
        return hi

    p = Peer(A, initiator=True, tw=30.0, rng=rng)
    assert draws and draws[0] == (-2.0, 2.0) and p.next_deadline() is None
    p.connected(0.0)
    assert p._watchdog_at == 32.0


def test_5_4_dpr_dpa_closes_both_sides() -> None:
    a, b = open_pair()
    dpr = a.disconnect(1.0)
    assert a.rfc_state is PeerState.CLOSING and any(isinstance(x, PeerDown) for x in dpr)
    (dpr_msg,) = sent(dpr)
    assert dpr_msg.command_code == CMD_DP and dpr_msg.get(273) == 0  # Disconnect-Cause REBOOTING
    b_out = pipe(b, dpr, 1.0)
    assert any(isinstance(x, PeerDown) for x in b_out) and b.rfc_state is PeerState.CLOSING
    assert b.disconnect_cause == 0
    a_out = pipe(a, b_out, 1.0)
    assert any(isinstance(x, CloseConnection) for x in a_out) and a.rfc_state is PeerState.CLOSED


def test_5_4_dpr_without_dpa_closes_after_the_timeout() -> None:
    a, _ = open_pair()
    a.disconnect(1.0)
    out = a.handle_timers(1.0 + a.request_timeout)
    assert any(isinstance(x, CloseConnection) for x in out) and a.rfc_state is PeerState.CLOSED


def test_7_invalid_avp_length_5014_with_failed_avp() -> None:
    _, b = open_pair()
    req = uar().to_bytes()
    broken = req[:20] + b"\x00\x00\x01\x07\x40\x00\x00\x03"  # Session-Id with length 3
    broken = broken[:1] + len(broken).to_bytes(3, "big") + broken[4:]
    out = b.receive_data(broken, 1.0)
    (ans,) = sent(out)
    assert ans.result_code == 5014 and not ans.request and ans.hop_by_hop == int.from_bytes(req[12:16], "big")
    (failed,) = ans.find(FAILED_AVP)
    assert failed.value[0].code == 263
    assert not any(isinstance(x, (RequestIn, CloseConnection)) for x in out)  # the connection lives on
    assert b.is_open


def test_7_missing_origin_host_5005_with_failed_avp() -> None:
    _, b = open_pair()
    req = uar()
    req.avps = [x for x in req.avps if x.code != ORIGIN_HOST]
    req.hop_by_hop = 77
    (ans,) = sent(b.receive_data(req.to_bytes(), 1.0))
    assert ans.result_code == 5005 and ans.find(FAILED_AVP)[0].value[0].code == ORIGIN_HOST
    assert ans.session_id == req.session_id and ans.hop_by_hop == 77


def test_7_undecodable_avp_value_5004() -> None:
    _, b = open_pair()
    req = uar()
    raw = bytearray(req.to_bytes())
    name = b"u@example.net"
    i = bytes(raw).index(name)
    raw[i] = 0xFF  # not UTF-8 in User-Name (UTF8String)
    (ans,) = sent(b.receive_data(bytes(raw), 1.0))
    assert ans.result_code == 5004 and ans.find(FAILED_AVP)[0].value[0].code == 1


def test_7_request_for_an_application_not_negotiated_3007() -> None:
    _, b = open_pair()
    req = uar()
    req.application_id = 16777217  # Sh
    (ans,) = sent(b.receive_data(req.to_bytes(), 1.0))
    assert ans.result_code == 3007 and ans.error


def test_framing_length_below_20_closes_after_an_answer() -> None:
    _, b = open_pair()
    header = bytearray(uar().to_bytes()[:20])
    header[1:4] = (8).to_bytes(3, "big")
    out = b.receive_data(bytes(header), 1.0)
    (ans,) = sent(out)
    assert ans.result_code == 5015
    assert any(isinstance(x, CloseConnection) for x in out) and b.rfc_state is PeerState.CLOSED
    assert b.receive_data(uar().to_bytes(), 1.1) == []  # nothing is read after the close


def test_framing_length_above_1_mib_closes() -> None:
    _, b = open_pair()
    out = b.receive_data(b"\x01" + (2 << 20).to_bytes(3, "big"), 1.0)
    assert any(isinstance(x, CloseConnection) for x in out) and any(isinstance(x, PeerDown) for x in out)


def test_framing_split_and_coalesced_reads() -> None:
    a, b = open_pair()
    r1, r2 = uar(), uar()
    data = b"".join(x.data for x in a.send_request(r1, 0.0) + a.send_request(r2, 0.0))  # type: ignore[union-attr]
    out = []
    for i in range(0, len(data), 7):
        out += b.receive_data(data[i:i + 7], 0.0)
    assert [x.message.hop_by_hop for x in out if isinstance(x, RequestIn)] == [r1.hop_by_hop, r2.hop_by_hop]


def test_random_bytes_never_raise() -> None:
    import random
    rnd = random.Random(6733)
    for _ in range(300):
        _, b = open_pair()
        junk = bytes([1]) + bytes(rnd.getrandbits(8) for _ in range(rnd.randrange(3, 80)))
        for action in b.receive_data(junk, 1.0):  # never raises; answers are well formed
            if isinstance(action, SendBytes):
                DiameterMessage.from_bytes(action.data)


def test_codec_round_trip_of_raw_helpers() -> None:
    msg = DiameterMessage(CMD_CE, True, 0, [avp(RESULT_CODE, 1)], 5, 6)
    back = DiameterMessage.from_bytes(msg.to_bytes())
    assert back.request and back.hop_by_hop == 5 and back.end_to_end == 6 and back.get(RESULT_CODE) == 1
    assert CMD_UA == 300


def test_5_3_cer_without_origin_host_is_refused_and_closed() -> None:
    a = Peer(A, initiator=True)
    (cer,) = sent(a.connected(0.0))
    cer.avps = [x for x in cer.avps if x.code != ORIGIN_HOST]
    b = Peer(B, initiator=False)
    out = b.receive_data(cer.to_bytes(), 0.0)
    (cea,) = sent(out)
    assert cea.result_code == 5005 and any(isinstance(x, CloseConnection) for x in out)
    assert not any(isinstance(x, PeerUp) for x in out) and b.rfc_state is PeerState.CLOSED


def test_5_6_transport_lost_while_waiting_for_the_connection() -> None:
    a = Peer(A, initiator=True)
    a.start(0.0)
    assert a.connection_lost(0.1) == [] and a.rfc_state is PeerState.CLOSED
    a2, _ = open_pair()
    assert a2.connection_lost(0.2) == [PeerDown("transport closed")] and not a2.is_open
