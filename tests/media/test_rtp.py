"""RTP packets (RFC 3550 §5.1, §5.3.1), the RTP sender and RFC 4733 telephone-events."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ims.media.rtp import DTMF_EVENTS, RtpError, RtpPacket, RtpSender, TelephoneEvent, is_rtcp


def test_rfc3550_5_1_fixed_header_layout() -> None:
    packet = RtpPacket(payload_type=0, sequence=0x1234, timestamp=0xDECAFBAD, ssrc=0xCAFEBABE,
                       payload=b"\xab" * 4, marker=True)
    wire = packet.to_bytes()
    assert wire == bytes.fromhex("80 80 1234 decafbad cafebabe abababab")
    assert RtpPacket.parse(wire) == packet


def test_rfc3550_5_1_csrc_extension_padding_round_trip() -> None:
    packet = RtpPacket(payload_type=8, sequence=65535, timestamp=0xFFFFFFFF, ssrc=1, payload=b"voice",
                       marker=False, csrc=(0x11111111, 0x22222222), extension=(0xBEDE, b"\x10\xff\x00\x00"),
                       padding=3)
    wire = packet.to_bytes()
    # V=2 P=1 X=1 CC=2; then 2 CSRCs, extension header (profile, 1 word), payload, 3 padding octets.
    assert wire[0] == 0b1011_0010
    assert wire[12:20] == bytes.fromhex("11111111 22222222")
    assert wire[20:28] == bytes.fromhex("bede0001 10ff0000")
    assert wire[28:] == b"voice\x00\x00\x03"
    assert RtpPacket.parse(wire) == packet


def test_rfc3550_5_1_fifteen_csrcs() -> None:
    packet = RtpPacket(96, 1, 2, 3, b"x", csrc=tuple(range(15)))
    assert RtpPacket.parse(packet.to_bytes()).csrc == tuple(range(15))


@pytest.mark.parametrize(("wire", "fault"), [
    (b"\x80\x00\x00", "shorter than the 12-octet"),
    (bytes.fromhex("40000001 00000000 00000000"), "version 1"),
    (bytes.fromhex("82000001 00000000 00000000 11111111"), "CSRC count 2"),
    (bytes.fromhex("90000001 00000000 00000000 bede"), "no room for the header extension"),
    (bytes.fromhex("90000001 00000000 00000000 bede0002 00000000"), "extension of 2 words"),
    (bytes.fromhex("a0000001 00000000 00000000 aa00"), "padding count 0"),
    (bytes.fromhex("a0000001 00000000 00000000 aa05"), "padding count 5"),
])
def test_rfc3550_5_1_malformed_packets_name_the_fault(wire: bytes, fault: str) -> None:
    with pytest.raises(RtpError, match=fault):
        RtpPacket.parse(wire)


@pytest.mark.parametrize("packet", [
    RtpPacket(128, 0, 0, 0),
    RtpPacket(0, 65536, 0, 0),
    RtpPacket(0, 0, 1 << 32, 0),
    RtpPacket(0, 0, 0, 0, csrc=tuple(range(16))),
    RtpPacket(0, 0, 0, 0, extension=(1, b"abc")),
    RtpPacket(0, 0, 0, 0, padding=256),
])
def test_rfc3550_5_1_unrepresentable_fields_raise(packet: RtpPacket) -> None:
    with pytest.raises(RtpError):
        packet.to_bytes()


@given(st.binary(max_size=80))
def test_random_bytes_raise_only_rtp_error(data: bytes) -> None:
    try:
        packet = RtpPacket.parse(data)
    except RtpError:
        return
    assert packet.to_bytes() == data or packet.padding  # padding octets other than the count are not kept


_packets = st.builds(
    RtpPacket,
    payload_type=st.integers(0, 127), sequence=st.integers(0, 0xFFFF), timestamp=st.integers(0, 0xFFFFFFFF),
    ssrc=st.integers(0, 0xFFFFFFFF), payload=st.binary(max_size=40), marker=st.booleans(),
    csrc=st.lists(st.integers(0, 0xFFFFFFFF), max_size=15).map(tuple),
    extension=st.none() | st.tuples(st.integers(0, 0xFFFF),
                                    st.binary(max_size=12).map(lambda b: b + bytes(-len(b) % 4))),
    padding=st.integers(0, 255),
)


@given(_packets)
def test_parse_of_serialize_is_identity(packet: RtpPacket) -> None:
    assert RtpPacket.parse(packet.to_bytes()) == packet


def test_rfc5761_4_demultiplexing_by_second_octet() -> None:
    assert is_rtcp(bytes.fromhex("80c8000c"))           # SR, PT 200
    assert is_rtcp(bytes.fromhex("81c90007"))           # RR, PT 201
    assert not is_rtcp(RtpPacket(0, 1, 2, 3).to_bytes())
    assert not is_rtcp(RtpPacket(96, 1, 2, 3, marker=True).to_bytes())   # 0xE0 = 224
    assert not is_rtcp(b"\x80")


def test_rfc3550_5_1_sender_sequence_wraps_and_timestamp_advances() -> None:
    sender = RtpSender(0, 8000, 0x1234, sequence=65534, timestamp=0xFFFFFF00)
    packets = [sender.next(b"\xff" * 160, 160) for _ in range(4)]
    assert [p.sequence for p in packets] == [65534, 65535, 0, 1]
    assert [p.timestamp for p in packets] == [0xFFFFFF00, 0xFFFFFFA0, 0x40, 0xE0]
    assert all(p.ssrc == 0x1234 and p.payload_type == 0 for p in packets)
    assert sender.packets_sent == 4 and sender.octets_sent == 640
    assert sender.last_timestamp == 0xE0 and sender.timestamp == 0x180


def test_rfc3550_5_1_sender_random_initial_values() -> None:
    senders = [RtpSender(0, 8000) for _ in range(8)]
    assert all(0 <= s.ssrc < 1 << 32 and 0 <= s.sequence < 1 << 16 for s in senders)
    assert len({(s.ssrc, s.sequence, s.timestamp) for s in senders}) == 8


def test_rfc4733_2_3_event_payload_layout() -> None:
    event = TelephoneEvent(event=DTMF_EVENTS.index("#"), end=True, volume=10, duration=800)
    assert event.to_bytes() == bytes.fromhex("0b 8a 0320")
    assert TelephoneEvent.parse(bytes.fromhex("0b 8a 0320")) == event
    assert TelephoneEvent.parse(bytes.fromhex("05 4a 00a0")) == TelephoneEvent(5, False, 10, 160)  # R bit ignored
    with pytest.raises(RtpError):
        TelephoneEvent.parse(b"\x01\x02")
    with pytest.raises(RtpError):
        TelephoneEvent(1, False, 64, 0).to_bytes()


def test_rfc4733_3_2_dtmf_event_codes() -> None:
    assert [DTMF_EVENTS.index(c) for c in "0159*#AD"] == [0, 1, 5, 9, 10, 11, 12, 15]


def test_rfc4733_2_5_dtmf_packet_train() -> None:
    sender = RtpSender(0, 8000, 7, sequence=100, timestamp=16000)
    sender.next(b"\xff" * 160, 160)
    train = sender.dtmf(DTMF_EVENTS.index("5"), 100, payload_type=101)
    events = [TelephoneEvent.parse(p.payload) for p in train]
    # §2.5.1.2: one update per 20 ms with the duration so far, all at the event's start timestamp.
    assert [e.duration for e in events] == [160, 320, 480, 640, 800, 800, 800]
    assert [e.end for e in events] == [False] * 4 + [True] * 3       # §2.5.1.4: end packet sent 3 times
    assert all(p.timestamp == 16160 and p.payload_type == 101 and p.ssrc == 7 for p in train)
    assert [p.marker for p in train] == [True] + [False] * 6       # §2.5.1.1: marker on the first
    assert [p.sequence for p in train] == list(range(101, 108))
    assert all(e.event == 5 and e.volume == 10 for e in events)
    # The next audio packet follows the event: timestamp moved on by its 800 samples.
    after = sender.next(b"\xff" * 160, 160)
    assert (after.sequence, after.timestamp) == (108, 16960)
    assert sender.packets_sent == 9


def test_rfc4733_2_5_event_shorter_than_ptime_is_only_end_packets() -> None:
    sender = RtpSender(0, 8000, 7, sequence=0, timestamp=0)
    train = sender.dtmf(1, 10, payload_type=101)
    assert [(p.marker, TelephoneEvent.parse(p.payload).end) for p in train] == [
        (True, True), (False, True), (False, True)]
    assert sender.timestamp == 80


def test_rfc4733_2_5_1_3_overlong_event_refused() -> None:
    sender = RtpSender(0, 8000, 7)
    with pytest.raises(RtpError, match="65535"):
        sender.dtmf(1, 9000, payload_type=101)


def test_sender_emits_the_declared_struct_layout() -> None:
    sender = RtpSender(8, 8000, 0xA, sequence=1, timestamp=2)
    wire = sender.next(b"\xd5" * 160, 160, marker=True).to_bytes()
    assert struct.unpack_from("!BBHII", wire) == (0x80, 0x88, 1, 2, 0xA)
    assert len(wire) == 172
