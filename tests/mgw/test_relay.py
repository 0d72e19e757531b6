"""The IM-MGW relay core (ims.media.relay): contexts, modes, SRTP on one side, PCMU <-> PCMA."""

from __future__ import annotations

import pytest

import array

from ims.media.g711 import alaw_decode, ulaw_decode, ulaw_encode
from ims.media.relay import Relay, RelayError, TermSpec
from ims.media.rtp import RtpPacket, RtpSender
from ims.media.srtp import SrtpSession, sdes_key

UE = ("127.0.9.100", 40000)
PSTN = ("127.0.9.80", 50000)
SUITE = "AES_CM_128_HMAC_SHA1_80"


def pcmu_frame() -> bytes:
    return ulaw_encode(bytes(range(256)) + bytes(64))  # 160 samples of 16-bit PCM


def pair(relay: Relay, a: TermSpec, b: TermSpec):  # type: ignore[no-untyped-def]
    ta = relay.add("", a, "127.0.9.70", 30000)
    tb = relay.add(ta.context, b, "127.0.9.70", 30002)
    return ta, tb


def test_plain_rtp_relayed_unchanged_to_the_other_side() -> None:
    relay = Relay()
    ta, tb = pair(relay, TermSpec(*UE, payload_type=0, encoding="PCMU"), TermSpec(*PSTN, payload_type=0))
    pkt = RtpSender(0, 8000, 1234).next(pcmu_frame(), 160).to_bytes()
    out = relay.rtp_in(ta, pkt, UE, 0.0)
    assert out is not None and out[0] is tb and out[1] == pkt and out[2] == PSTN
    assert ta.counters["packets_in"] == 1 and tb.counters["packets_out"] == 1 and ta.receiver.received == 1


def test_pcmu_to_pcma_transcoded_and_payload_type_rewritten() -> None:
    """G.711 Table 2a: the µ-law payload is mapped to A-law; the outgoing side's payload type is used."""
    relay = Relay()
    ta, tb = pair(relay, TermSpec(*UE, payload_type=0, encoding="PCMU"),
                  TermSpec(*PSTN, payload_type=8, encoding="PCMA"))
    frame = pcmu_frame()
    sent = RtpSender(0, 8000, 99).next(frame, 160)
    out = relay.rtp_in(ta, sent.to_bytes(), UE, 0.0)
    assert out is not None
    got = RtpPacket.parse(out[1])
    assert got.payload_type == 8 and got.sequence == sent.sequence and got.ssrc == 99
    assert got.payload != frame
    before, after = array.array("h", ulaw_decode(frame)), array.array("h", alaw_decode(got.payload))
    assert max(abs(x - y) for x, y in zip(before, after)) <= max(64, max(abs(x) for x in before) // 16)
    assert ta.counters["transcoded"] == 1


def test_srtp_on_the_ims_side_plain_rtp_toward_the_pstn() -> None:
    ue_key = sdes_key(SUITE)
    relay = Relay()
    ta, tb = pair(relay, TermSpec(*UE, payload_type=0, srtp_suite=SUITE, remote_key=ue_key),
                  TermSpec(*PSTN, payload_type=0))
    assert len(ta.local_key) == 30 and not tb.local_key
    ue_tx = SrtpSession(SUITE, ue_key, outbound=True)
    ue_rx = SrtpSession(SUITE, ta.local_key, outbound=False)
    plain = RtpSender(0, 8000, 7).next(pcmu_frame(), 160).to_bytes()
    out = relay.rtp_in(ta, ue_tx.protect(plain), UE, 0.0)
    assert out is not None and out[1] == plain  # unprotected toward the PSTN
    back = RtpSender(0, 8000, 8).next(pcmu_frame(), 160).to_bytes()
    out = relay.rtp_in(tb, back, PSTN, 0.02)
    assert out is not None and out[0] is ta and ue_rx.unprotect(out[1]) == back


def test_srtp_tampered_packet_dropped_and_counted() -> None:
    relay = Relay()
    key = sdes_key(SUITE)
    ta, _ = pair(relay, TermSpec(*UE, payload_type=0, srtp_suite=SUITE, remote_key=key), TermSpec(*PSTN))
    data = bytearray(SrtpSession(SUITE, key, outbound=True).protect(RtpSender(0, 8000, 7).next(b"x" * 160, 160)
                                                                          .to_bytes()))
    data[20] ^= 0xFF
    assert relay.rtp_in(ta, bytes(data), UE, 0.0) is None and ta.counters["auth_failures"] == 1


@pytest.mark.parametrize(("mode_a", "mode_b", "a_to_b", "b_to_a"), [
    ("sendrecv", "sendrecv", True, True),
    ("recvonly", "sendrecv", True, False),   # the gateway only receives from A (H.248.1 §7.1.7)
    ("sendonly", "sendrecv", False, True),   # the gateway only sends toward A
    ("inactive", "sendrecv", False, False),
])
def test_modes(mode_a: str, mode_b: str, a_to_b: bool, b_to_a: bool) -> None:
    relay = Relay()
    ta, tb = pair(relay, TermSpec(*UE, mode=mode_a), TermSpec(*PSTN, mode=mode_b))
    pkt = RtpSender(0, 8000, 1).next(b"\xff" * 160, 160).to_bytes()
    assert (relay.rtp_in(ta, pkt, UE, 0.0) is not None) is a_to_b
    assert (relay.rtp_in(tb, pkt, PSTN, 0.0) is not None) is b_to_a


def test_latching_learns_the_remote_from_the_first_packet() -> None:
    relay = Relay()
    ta, tb = pair(relay, TermSpec(*UE), TermSpec())  # B's address unknown (remote_port 0)
    pkt = RtpSender(0, 8000, 1).next(b"\xff" * 160, 160).to_bytes()
    assert relay.rtp_in(ta, pkt, UE, 0.0) is None and ta.counters["dropped"] == 1  # nowhere to send yet
    assert relay.rtp_in(tb, pkt, ("127.0.9.81", 51000), 0.0) is not None
    assert tb.remote == ("127.0.9.81", 51000) and relay.rtp_in(ta, pkt, UE, 0.0)[2] == ("127.0.9.81", 51000)


def test_telephone_event_payload_type_mapped_or_dropped() -> None:
    relay = Relay()
    ta, tb = pair(relay, TermSpec(*UE, payload_type=0, telephone_event_pt=101),
                  TermSpec(*PSTN, payload_type=0, telephone_event_pt=100))
    dtmf = RtpSender(0, 8000, 1).dtmf(5, 100, payload_type=101)[0].to_bytes()
    out = relay.rtp_in(ta, dtmf, UE, 0.0)
    assert out is not None and RtpPacket.parse(out[1]).payload_type == 100
    relay.modify(tb.id, TermSpec(*PSTN, payload_type=0))
    assert relay.rtp_in(ta, dtmf, UE, 0.0) is None


def test_bad_control_requests_name_the_field() -> None:
    relay = Relay()
    with pytest.raises(RelayError, match="mode"):
        relay.add("", TermSpec(*UE, mode="both"), "h", 1)
    with pytest.raises(RelayError, match="remote_key"):
        relay.add("", TermSpec(*UE, srtp_suite=SUITE, remote_key=b"short"), "h", 1)
    with pytest.raises(RelayError, match="srtp_suite"):
        relay.add("", TermSpec(*UE, srtp_suite="NULL"), "h", 1)
    ta = relay.add("", TermSpec(*UE, encoding="AMR-WB", clock_rate=16000, payload_type=96), "h", 1)
    with pytest.raises(RelayError, match="cannot relay PCMA to AMR-WB"):
        relay.add(ta.context, TermSpec(*PSTN, encoding="PCMA", payload_type=8), "h", 3)
    relay.add(ta.context, TermSpec(*PSTN, encoding="AMR-WB", clock_rate=16000, payload_type=97), "h", 3)
    with pytest.raises(RelayError, match="already has 2"):
        relay.add(ta.context, TermSpec(*PSTN), "h", 5)
    with pytest.raises(RelayError, match="no termination"):
        relay.subtract("t999")


def test_garbage_is_counted_not_raised() -> None:
    relay = Relay()
    ta, _ = pair(relay, TermSpec(*UE), TermSpec(*PSTN))
    assert relay.rtp_in(ta, b"\x00\x01", UE, 0.0) is None and ta.counters["malformed"] == 1


def test_subtracting_the_last_termination_removes_the_context() -> None:
    relay = Relay()
    ta, tb = pair(relay, TermSpec(*UE), TermSpec(*PSTN))
    relay.subtract(ta.id)
    assert ta.context in relay.contexts
    relay.subtract(tb.id)
    assert not relay.contexts and not relay.terms


def test_rfc3550_a2_rtcp_that_is_no_rtcp_is_not_forwarded() -> None:
    """A translator passes valid reports on unchanged and drops bytes that fail the A.2 checks."""
    from ims.media.rtcp import ReceiverReport, serialize_compound

    relay = Relay()
    ta, tb = pair(relay, TermSpec(*UE), TermSpec(*PSTN))
    report = serialize_compound([ReceiverReport(5)])
    out = relay.rtcp_in(ta, report, (UE[0], UE[1] + 1))
    assert out is not None and out[1] == report and out[2] == (PSTN[0], PSTN[1] + 1)
    for junk in (b"", b"\x00" * 8, b"\x80\xc9\x00\x05" + bytes(4), b"\x40\xc8\x00\x00"):
        assert relay.rtcp_in(ta, junk, (UE[0], UE[1] + 1)) is None
    assert ta.counters["malformed"] == 4 and tb.counters["rtcp_out"] == 1


def test_rfc3550_11_no_rtcp_port_above_a_remote_rtp_port_65535() -> None:
    from ims.media.rtcp import ReceiverReport, serialize_compound

    relay = Relay()
    ta, tb = pair(relay, TermSpec(*UE), TermSpec(PSTN[0], 65535))
    assert relay.rtcp_in(ta, serialize_compound([ReceiverReport(5)]), (UE[0], UE[1] + 1)) is None
    assert ta.counters["dropped"] == 1 and tb.counters["rtcp_out"] == 0


def test_symmetric_rtp_latches_onto_the_first_valid_packet_only() -> None:
    """A stray datagram (or one that fails SRTP authentication) must not steer the media elsewhere."""
    from ims.media.rtcp import ReceiverReport, serialize_compound

    key = sdes_key(SUITE)
    relay = Relay()
    ta, tb = pair(relay, TermSpec(payload_type=0, srtp_suite=SUITE, remote_key=key), TermSpec(*PSTN))
    attacker = ("127.0.9.66", 40000)
    assert relay.rtp_in(ta, b"\x80\x00garbage", attacker, 0.0) is None
    forged = SrtpSession(SUITE, sdes_key(SUITE), outbound=True).protect(RtpSender(0, 8000, 1).next(b"x", 160)
                                                                          .to_bytes())
    assert relay.rtp_in(ta, forged, attacker, 0.0) is None
    assert relay.rtcp_in(ta, b"\x80\xc9junk", (attacker[0], attacker[1] + 1)) is None
    assert ta.remote is None
    real = SrtpSession(SUITE, key, outbound=True)
    assert relay.rtp_in(ta, real.protect(RtpSender(0, 8000, 2).next(b"x", 160).to_bytes()), UE, 0.0) is not None
    assert ta.remote == UE
    back = relay.rtp_in(tb, RtpSender(0, 8000, 3).next(b"y", 160).to_bytes(), PSTN, 0.0)
    assert back is not None and back[2] == UE
    assert relay.rtcp_in(tb, serialize_compound([ReceiverReport(3)]), (PSTN[0], PSTN[1] + 1)) is not None
