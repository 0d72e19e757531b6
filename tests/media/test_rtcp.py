"""RTCP compound packets (RFC 3550 §6.4-§6.6), NTP timestamps and the §6.4.1 RTT."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ims.media.rtcp import (
    SDES_CNAME, Bye, RawRtcp, ReceiverReport, ReportBlock, RtcpError, SenderReport, SourceDescription,
    middle32, ntp_now, ntp_to_unix, parse_compound, rtt_seconds, serialize_compound,
)

BLOCK = ReportBlock(ssrc=0x22222222, fraction_lost=51, cumulative_lost=2, highest_seq=0x10005,
                    jitter=37, lsr=0xB7052000, dlsr=0x00054000)


def test_6_1_compound_sr_sdes_bye_round_trip() -> None:
    packets = [
        SenderReport(0x11111111, ntp_now(1_700_000_000.25), 160_000, 500, 80_000, [BLOCK]),
        SourceDescription([(0x11111111, [(SDES_CNAME, b"alice@ims.example")])]),
        Bye([0x11111111], "call ended"),
    ]
    wire = serialize_compound(packets)
    assert parse_compound(wire) == packets
    # §6.4.1: SR with one block is 52 octets, length field 12 (words minus one).
    assert wire[:4] == bytes.fromhex("81 c8 000c")
    sdes = wire[52:]
    # §6.5: CNAME of 17 octets -> 4 + 2 + 17 = 23, one null octet ends the chunk at 24.
    assert sdes[:4] == bytes.fromhex("81 ca 0006")
    assert sdes[8:10] == b"\x01\x11" and sdes[27] == 0
    bye = sdes[28:]
    # §6.6: SSRC, reason length octet, 10 octets of text, padded to 16 octets.
    assert bye[:4] == bytes.fromhex("81 cb 0004")
    assert bye[8:19] == b"\x0acall ended" and bye[19:] == b"\x00"
    assert len(wire) % 4 == 0


def test_6_5_sdes_chunk_ending_on_a_word_gets_four_nulls() -> None:
    wire = serialize_compound([SourceDescription([(1, [(SDES_CNAME, b"ab")])])])
    assert wire == bytes.fromhex("81ca0003 00000001 01026162 00000000")
    assert parse_compound(wire) == [SourceDescription([(1, [(SDES_CNAME, b"ab")])])]


def test_6_5_sdes_several_chunks_and_items() -> None:
    sdes = SourceDescription([(1, [(SDES_CNAME, b"a@b"), (2, b"Alice")]), (2, []), (3, [(SDES_CNAME, b"")])])
    assert parse_compound(serialize_compound([sdes])) == [sdes]


def test_6_4_2_receiver_report_with_negative_cumulative_loss() -> None:
    block = ReportBlock(5, 0, -3, 70000, 12, 0, 0)
    rr = ReceiverReport(0xCAFE, [block, BLOCK])
    wire = serialize_compound([rr])
    assert wire[:4] == bytes.fromhex("82 c9 000d")
    assert wire[12:16] == bytes.fromhex("00 fffffd")         # fraction 0, cumulative -3 in 24 bits
    assert parse_compound(wire) == [rr]


def test_6_6_bye_without_reason_and_with_several_sources() -> None:
    bye = Bye([1, 2, 3])
    wire = serialize_compound([ReceiverReport(1), bye])
    assert wire[8:] == bytes.fromhex("83cb0003 00000001 00000002 00000003")
    assert parse_compound(wire) == [ReceiverReport(1), bye]


def test_unknown_types_survive_as_raw() -> None:
    app = RawRtcp(204, 3, b"\x00\x00\x00\x01name1234")
    fb = RawRtcp(205, 1, bytes(8))
    assert parse_compound(serialize_compound([ReceiverReport(9), app, fb])) == [ReceiverReport(9), app, fb]


def test_6_4_1_profile_specific_extension_is_kept() -> None:
    sr = SenderReport(1, 2, 3, 4, 5, [], b"\x01\x02\x03\x04")
    assert parse_compound(serialize_compound([sr])) == [sr]


def test_a2_padding_on_the_last_packet_is_stripped() -> None:
    # RR with no blocks plus 4 octets of padding: P bit, length 2, last octet counts the padding.
    wire = bytes.fromhex("81cb0001 00000007") + bytes.fromhex("a0c90002 00000009 00000004")
    assert parse_compound(wire) == [Bye([7]), ReceiverReport(9)]


@pytest.mark.parametrize(("wire", "fault"), [
    (b"\x80\xc9", "shorter than its 4-octet header"),
    (bytes.fromhex("40c90001 00000001"), "version 1"),
    (bytes.fromhex("80c90005 00000001"), "runs past the datagram"),
    (bytes.fromhex("81c80001 00000001"), "SR with 1 report blocks"),
    (bytes.fromhex("81c90001 00000001"), "RR with 1 report blocks"),
    (bytes.fromhex("81ca0002 00000001 01056162"), "runs past the end"),
    (bytes.fromhex("81ca0002 00000001 01026162"), "not terminated by a null item"),
    (bytes.fromhex("81ca0003 00000001 01016100 00000000"), "4 octets after the last of 1 SDES chunks"),
    (bytes.fromhex("82cb0001 00000001"), "BYE announces 2 sources"),
    (bytes.fromhex("81cb0002 00000001 09616200"), "reason runs past"),
    (bytes.fromhex("a0c90001 00000001 80c90001 00000001"), "not the last of the compound"),
    (bytes.fromhex("a0c90001 00000009"), "padding count 9"),
    (bytes.fromhex("80c90001 00000001 0000"), "stray octets"),
])
def test_a2_malformed_compounds_name_the_fault(wire: bytes, fault: str) -> None:
    with pytest.raises(RtcpError, match=fault):
        parse_compound(wire)


@pytest.mark.parametrize("packet", [
    ReceiverReport(1, [BLOCK] * 32),
    ReceiverReport(1, [ReportBlock(1, 256, 0, 0, 0, 0, 0)]),
    ReceiverReport(1, [ReportBlock(1, 0, 1 << 23, 0, 0, 0, 0)]),
    ReceiverReport(1 << 32),
    SourceDescription([(1, [(SDES_CNAME, b"x" * 256)])]),
    Bye([1], "x" * 256),
    RawRtcp(204, 0, b"abc"),
])
def test_6_unrepresentable_packets_raise(packet: object) -> None:
    with pytest.raises(RtcpError):
        serialize_compound([packet])  # type: ignore[list-item]


@given(st.binary(max_size=120))
def test_random_bytes_raise_only_rtcp_error(data: bytes) -> None:
    try:
        parse_compound(data)
    except RtcpError:
        pass


@given(st.binary(max_size=60))
def test_random_bodies_behind_a_valid_header_raise_only_rtcp_error(body: bytes) -> None:
    body += bytes(-len(body) % 4)
    for packet_type in (200, 201, 202, 203):
        for count in (0, 1, 2, 31):
            try:
                parse_compound(bytes((0x80 | count, packet_type)) + (len(body) // 4).to_bytes(2, "big") + body)
            except RtcpError:
                pass


_u32 = st.integers(0, 0xFFFFFFFF)
_blocks = st.builds(ReportBlock, _u32, st.integers(0, 255), st.integers(-0x800000, 0x7FFFFF), _u32, _u32, _u32, _u32)


@given(st.lists(st.one_of(
    st.builds(SenderReport, _u32, st.integers(0, (1 << 64) - 1), _u32, _u32, _u32, st.lists(_blocks, max_size=3)),
    st.builds(ReceiverReport, _u32, st.lists(_blocks, max_size=3)),
    st.builds(SourceDescription, st.lists(st.tuples(_u32, st.lists(
        st.tuples(st.integers(1, 255), st.binary(max_size=20)), max_size=3)), max_size=3)),
    st.builds(Bye, st.lists(_u32, max_size=4), st.none() | st.text(max_size=20)),
), min_size=1, max_size=4))
def test_parse_of_serialize_is_identity(packets: list[object]) -> None:
    assert parse_compound(serialize_compound(packets)) == packets  # type: ignore[arg-type]


def test_4_ntp_timestamp_of_unix_time() -> None:
    assert ntp_now(0.0) == 2_208_988_800 << 32
    assert ntp_now(1.5) == ((2_208_988_801 << 32) | 0x80000000)
    assert ntp_to_unix(ntp_now(1_700_000_000.25)) == pytest.approx(1_700_000_000.25, abs=1e-6)
    assert middle32(0x0123456789ABCDEF) == 0x456789AB


def test_6_4_1_rtt_worked_example() -> None:
    # RFC 3550 §6.4.1 figure: A = 0xb710:8000 (46864.500 s), LSR = 0xb705:2000 (46853.125 s),
    # DLSR = 0x0005:4000 (5.250 s) -> RTT = A - LSR - DLSR = 0x0006:2000 = 6.125 s.
    arrival = 0xB7108000 << 16
    assert rtt_seconds(BLOCK, arrival) == 6.125
    assert rtt_seconds(ReportBlock(1, 0, 0, 0, 0, 0, 0), arrival) is None     # no SR received yet
    assert rtt_seconds(ReportBlock(1, 0, 0, 0, 0, 0xB7108000, 0x100), arrival) == 0.0


def test_6_4_1_rtt_from_our_own_sr_through_a_peer() -> None:
    sent = ntp_now(1000.0)
    sr = SenderReport(1, sent, 0, 0, 0)
    # The peer holds our SR for 0.25 s before reporting; the path is 0.05 s each way.
    block = ReportBlock(1, 0, 0, 0, 0, middle32(sr.ntp_timestamp), int(0.25 * 65536))
    assert rtt_seconds(block, ntp_now(1000.35)) == pytest.approx(0.1, abs=1e-4)


def test_rfc3611_2_xr_blocks_are_walked_and_kept() -> None:
    # SSRC, then a receiver reference time block (BT 4, 2 words) and a DLRR block (BT 5, 3 words).
    xr = RawRtcp(207, 0, bytes.fromhex("00000001 04000002 11111111 22222222 05000003 00000002 00000003 00000004"))
    assert parse_compound(serialize_compound([ReceiverReport(1), xr])) == [ReceiverReport(1), xr]
    assert parse_compound(serialize_compound([RawRtcp(207, 0, bytes(4))])) == [RawRtcp(207, 0, bytes(4))]


@pytest.mark.parametrize(("wire", "fault"), [
    (bytes.fromhex("80cf0000"), "XR packet of 0 octets"),
    (bytes.fromhex("80cf0002 00000001 04000002"), "XR report block type 4 of 2 words runs past"),
    (bytes.fromhex("80cf0003 00000001 04000000 0500ffff"), "type 5 of 65535 words"),
    (bytes.fromhex("a0cf0002 00000001 00000002"), "XR report block header truncated"),
    (bytes.fromhex("80cc0001 00000001"), "APP packet of 4 octets"),
    (bytes.fromhex("81cd0001 00000001"), "feedback packet type 205 of 4 octets"),
    (bytes.fromhex("81ce0000"), "feedback packet type 206 of 0 octets"),
])
def test_rfc3611_rfc3550_6_7_rfc4585_6_1_fixed_parts_checked_against_the_packet(wire: bytes, fault: str) -> None:
    with pytest.raises(RtcpError, match=fault):
        parse_compound(wire)
