"""AMR / AMR-WB RTP payload framing (RFC 4867 §4.3 bandwidth-efficient, §4.4 octet-aligned)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ims.media.amr import (
    AMR_FRAME_BITS, AMR_WB_FRAME_BITS, AmrError, AmrSource, amr_payload, parse_amr_payload,
)

CODECS = [(False, AMR_FRAME_BITS), (True, AMR_WB_FRAME_BITS)]


def bits_to_bytes(bits: str) -> bytes:
    bits += "0" * (-len(bits) % 8)
    return int(bits, 2).to_bytes(len(bits) // 8, "big")


def test_ts26101_ts26201_frame_sizes() -> None:
    assert list(AMR_FRAME_BITS.values()) == [95, 103, 118, 134, 148, 159, 204, 244, 39]
    assert list(AMR_WB_FRAME_BITS.values()) == [132, 177, 253, 285, 317, 365, 397, 461, 477, 40]


@pytest.mark.parametrize(("wideband", "table"), CODECS)
@pytest.mark.parametrize("octet_aligned", [False, True])
def test_rfc4867_4_round_trip_every_frame_type(wideband: bool, table: dict[int, int], octet_aligned: bool) -> None:
    for frame_type, bits in table.items():
        size = (bits + 7) // 8
        speech = bytes((frame_type * 37 + i) & 0xFF for i in range(size - 1)) + bytes(
            [(0xFF << (8 * size - bits)) & 0xFF])                       # padding bits clear
        payload = amr_payload(frame_type, speech, wideband=wideband, octet_aligned=octet_aligned)
        expected_len = 2 + size if octet_aligned else (10 + bits + 7) // 8
        assert len(payload) == expected_len
        assert parse_amr_payload(payload, wideband=wideband, octet_aligned=octet_aligned) == [(frame_type, speech)]


def test_rfc4867_4_3_bandwidth_efficient_bit_layout() -> None:
    # CMR=15 | F=0 FT=8 (SID) Q=1 | 39 speech bits | 7 padding bits.
    speech = bits_to_bytes("1" * 39)
    payload = amr_payload(8, speech, wideband=False, octet_aligned=False)
    assert payload == bits_to_bytes("1111" + "0" + "1000" + "1" + "1" * 39)
    assert len(payload) == 7


def test_rfc4867_4_4_octet_aligned_layout() -> None:
    payload = amr_payload(7, None, wideband=False, octet_aligned=True, cmr=5)
    assert payload[:2] == bytes([0x50, 0b0_0111_100])        # CMR 5 + reserved; F=0 FT=7 Q=1 P=00
    assert payload[2:] == bytes(31)                           # 244 zero bits, padded


def test_volte_payload_sizes() -> None:
    # AMR 12.2 and AMR-WB 12.65 bandwidth-efficient payloads are the familiar 32 and 33 octets.
    assert len(amr_payload(7, wideband=False, octet_aligned=False)) == 32
    assert len(amr_payload(2, wideband=True, octet_aligned=False)) == 33
    assert len(amr_payload(2, wideband=True, octet_aligned=True)) == 34


def test_rfc4867_4_3_2_no_data_and_speech_lost() -> None:
    assert amr_payload(15, wideband=False, octet_aligned=True) == bytes([0xF0, 0x7C])
    assert parse_amr_payload(amr_payload(15, wideband=True, octet_aligned=False),
                             wideband=True, octet_aligned=False) == [(15, b"")]
    assert parse_amr_payload(amr_payload(14, wideband=True, octet_aligned=True),
                             wideband=True, octet_aligned=True) == [(14, b"")]
    with pytest.raises(AmrError, match="reserved"):
        amr_payload(14, wideband=False, octet_aligned=True)


def test_rfc4867_4_4_multi_frame_octet_aligned() -> None:
    frame = bytes(range(31))
    data = bytes([0xF0, 0b1_0111_100, 0b0_1111_100]) + frame      # 12.2 frame then NO_DATA
    assert parse_amr_payload(data, wideband=False, octet_aligned=True) == [(7, frame), (15, b"")]


def test_rfc4867_4_3_multi_frame_bandwidth_efficient() -> None:
    sid = "10" * 19 + "1"                                             # 39 bits
    bits = "0111" + "1" + "1000" + "1" + "0" + "1000" + "0" + sid + sid
    frames = parse_amr_payload(bits_to_bytes(bits), wideband=False, octet_aligned=False)
    assert frames == [(8, bits_to_bytes(sid)), (8, bits_to_bytes(sid))]


def test_speech_is_masked_and_checked() -> None:
    noisy = b"\xff" * 5                                               # SID, 39 bits: last bit is padding
    clean = parse_amr_payload(amr_payload(8, noisy, wideband=False, octet_aligned=True),
                              wideband=False, octet_aligned=True)
    assert clean == [(8, b"\xff" * 4 + b"\xfe")]
    with pytest.raises(AmrError, match="5 octets"):
        amr_payload(8, b"\x00" * 6, wideband=False, octet_aligned=False)
    with pytest.raises(AmrError, match="CMR"):
        amr_payload(7, wideband=False, octet_aligned=False, cmr=8)


@pytest.mark.parametrize(("data", "octet_aligned", "fault"), [
    (b"", True, "empty"),
    (b"\xf0", True, "table of contents"),
    (b"\xf0\xbc", True, "table of contents"),
    (bytes([0xF0, 0x3C]) + bytes(30), True, "needs 31 octets"),
    (bytes([0xF0, 0x3C]) + bytes(32), True, "1 octets after"),
    (bytes([0xF0, 0x5C]), True, "frame type 11"),
    (b"\xf4", False, "too short"),
    (amr_payload(7, wideband=False, octet_aligned=False)[:-1], False, "bits short"),
    (amr_payload(7, wideband=False, octet_aligned=False) + b"\x00", False, "octets after"),
])
def test_rfc4867_malformed_payloads(data: bytes, octet_aligned: bool, fault: str) -> None:
    with pytest.raises(AmrError, match=fault):
        parse_amr_payload(data, wideband=False, octet_aligned=octet_aligned)


@given(st.binary(max_size=80), st.booleans(), st.booleans())
def test_random_bytes_raise_only_amr_error(data: bytes, wideband: bool, octet_aligned: bool) -> None:
    try:
        parse_amr_payload(data, wideband=wideband, octet_aligned=octet_aligned)
    except AmrError:
        pass


@pytest.mark.parametrize(("wideband", "samples"), [(False, 160), (True, 320)])
def test_amr_source_frames(wideband: bool, samples: int) -> None:
    source = AmrSource(2, wideband=wideband, octet_aligned=False, seed=7)
    assert source.samples_per_frame == samples and source.clock_rate == samples * 50
    first, second = source.frame(), source.frame()
    assert first != second
    assert [ft for ft, _ in parse_amr_payload(first, wideband=wideband, octet_aligned=False)] == [2]
    again = AmrSource(2, wideband=wideband, octet_aligned=False, seed=7)
    assert again.frame() == first                                     # reproducible
    with pytest.raises(AmrError):
        AmrSource(9, wideband=wideband, octet_aligned=True)


def test_rfc4867_4_3_toc_walk_is_linear_in_the_payload() -> None:
    """A payload of F-bits set (a ToC that never ends) costs time linear in its length (issue 13)."""
    import time

    def cost(n: int) -> float:
        data = b"\xff" * n
        best = float("inf")
        for _ in range(3):
            t = time.perf_counter()
            with pytest.raises(AmrError, match="bits short"):
                parse_amr_payload(data, wideband=True, octet_aligned=False)
            best = min(best, time.perf_counter() - t)
        return best

    cost(1_000)
    small, large = cost(10_000), cost(100_000)
    assert large / small < 30, f"10 kB: {small * 1e3:.2f} ms, 100 kB: {large * 1e3:.2f} ms (linear is ~10x)"


@settings(max_examples=300)
@given(st.sampled_from([(7, False), (8, True), (2, True), (0, False)]), st.booleans(),
       st.lists(st.tuples(st.integers(0, 80), st.integers(0, 255)), max_size=4), st.integers(0, 3))
def test_mutated_real_payloads_raise_only_amr_error(mode: tuple[int, bool], octet_aligned: bool,
                                                    flips: list[tuple[int, int]], cut: int) -> None:
    frame_type, wideband = mode
    data = bytearray(amr_payload(frame_type, wideband=wideband, octet_aligned=octet_aligned) * 2)
    for pos, value in flips:
        if pos < len(data):
            data[pos] = value
    try:
        frames = parse_amr_payload(bytes(data[:len(data) - cut]), wideband=wideband, octet_aligned=octet_aligned)
    except AmrError:
        return
    assert all(isinstance(ft, int) and isinstance(bits, bytes) for ft, bits in frames)
