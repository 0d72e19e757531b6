"""G.711 µ-law and A-law (ITU-T G.711 Tables 1 and 2, G.191 reference arithmetic)."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ims.media.g711 import alaw_decode, alaw_encode, alaw_to_ulaw, ulaw_decode, ulaw_encode, ulaw_to_alaw

ALL_CODES = bytes(range(256))


def pcm(*samples: int) -> bytes:
    return struct.pack(f"<{len(samples)}h", *samples)


def linear(data: bytes) -> list[int]:
    return list(struct.unpack(f"<{len(data) // 2}h", data))


def test_g711_zero_encodes_to_the_idle_codes() -> None:
    assert ulaw_encode(pcm(0)) == b"\xff"
    assert alaw_encode(pcm(0)) == b"\xd5"       # even bits inverted: 0x80 ^ 0x55


def test_g711_full_scale_codes() -> None:
    assert ulaw_encode(pcm(32767, -32768)) == b"\x80\x00"
    assert alaw_encode(pcm(32767, -32768)) == b"\xaa\x2a"
    assert linear(ulaw_decode(b"\x80\x00\xff\x7f")) == [32124, -32124, 0, 0]
    assert linear(alaw_decode(b"\xaa\x2a\xd5\x55")) == [32256, -32256, 8, -8]


def test_g711_table_2a_ulaw_segment_ends() -> None:
    # µ-law decision values of G.711 Table 2a, scaled to 16 bits (x4): segment boundaries
    # 31, 95, 223, 479, 991, 2015, 4063 in 14-bit units sit between these codes.
    assert linear(ulaw_decode(bytes([0xF0, 0xEF, 0xE0, 0xDF, 0xD0, 0xCF]))) == [
        120, 132, 372, 396, 876, 924]


def test_g711_table_1a_alaw_segment_ends() -> None:
    # A-law segments 0 and 1 share the smallest step; boundaries at 32 and 64 in 13-bit units
    # (256 and 512 at 16 bits) sit between these codes.
    assert linear(alaw_decode(bytes([0xD5 ^ 0x0F, 0xD5 ^ 0x10, 0xD5 ^ 0x1F, 0xD5 ^ 0x20]))) == [
        248, 264, 504, 528]


@pytest.mark.parametrize(("encode", "decode", "codes"), [
    (ulaw_encode, ulaw_decode, "µ"), (alaw_encode, alaw_decode, "A"),
])
def test_g711_decode_then_encode_is_identity(encode: object, decode: object, codes: str) -> None:
    decoded = decode(ALL_CODES)  # type: ignore[operator]
    again = encode(decoded)  # type: ignore[operator]
    if codes == "µ":
        # The two µ-law zeros (0xFF, 0x7F) both decode to 0, which encodes as 0xFF.
        assert again == ALL_CODES.replace(b"\x7f", b"\xff")
    else:
        assert again == ALL_CODES


def test_g711_round_trip_error_within_half_a_step() -> None:
    samples = list(range(-32768, 32768, 7))
    for encode, decode, levels in ((ulaw_encode, ulaw_decode, ulaw_decode(ALL_CODES)),
                                   (alaw_encode, alaw_decode, alaw_decode(ALL_CODES))):
        steps = sorted(set(linear(levels)))
        out = linear(decode(encode(pcm(*samples))))
        for x, y in zip(samples, out):
            i = min(max(steps.index(y), 1), len(steps) - 2)
            step = max(steps[i + 1] - steps[i], steps[i] - steps[i - 1])
            if abs(x) <= 32124:     # beyond the top level the quantiser clips
                assert abs(x - y) <= step // 2 + 4, (x, y, step)


def test_g711_encoding_is_monotonic() -> None:
    samples = list(range(-32768, 32768, 3))
    for encode, decode in ((ulaw_encode, ulaw_decode), (alaw_encode, alaw_decode)):
        out = linear(decode(encode(pcm(*samples))))
        assert all(a <= b for a, b in zip(out, out[1:]))


@given(st.lists(st.integers(-32768, 32767), max_size=200))
def test_g711_ulaw_decode_of_encode_keeps_sign(samples: list[int]) -> None:
    out = linear(ulaw_decode(ulaw_encode(pcm(*samples))))
    assert len(out) == len(samples)
    assert all((x >= 0) == (y >= 0) or y == 0 for x, y in zip(samples, out))


def test_g711_transcoding_agrees_with_decode_and_encode_within_one_step() -> None:
    alaw_levels = sorted(set(linear(alaw_decode(ALL_CODES))))
    ulaw_levels = sorted(set(linear(ulaw_decode(ALL_CODES))))
    via_pcm = alaw_encode(ulaw_decode(ALL_CODES))
    direct = ulaw_to_alaw(ALL_CODES)
    for a, b in zip(linear(alaw_decode(direct)), linear(alaw_decode(via_pcm))):
        assert abs(alaw_levels.index(a) - alaw_levels.index(b)) <= 1
    via_pcm = ulaw_encode(alaw_decode(ALL_CODES))
    direct = alaw_to_ulaw(ALL_CODES)
    for a, b in zip(linear(ulaw_decode(direct)), linear(ulaw_decode(via_pcm))):
        assert abs(ulaw_levels.index(a) - ulaw_levels.index(b)) <= 1


def test_g711_transcoding_keeps_sign_and_idle_codes() -> None:
    assert ulaw_to_alaw(b"\xff\x7f") == b"\xd5\x55"
    assert alaw_to_ulaw(b"\xd5\x55") == b"\xfe\x7e"         # ±8 exists in µ-law: kept exactly
    assert ulaw_to_alaw(b"\x80\x00") == b"\xaa\x2a"         # full scale to full scale
    assert alaw_to_ulaw(b"\xaa\x2a") == b"\x80\x00"
    a = ulaw_to_alaw(ALL_CODES)
    assert all((u & 0x80) == (x & 0x80) for u, x in zip(ALL_CODES, a))


def test_g711_odd_length_pcm_is_refused() -> None:
    with pytest.raises(ValueError, match="odd length"):
        ulaw_encode(b"\x00\x00\x00")


def test_g711_accepts_bytearray_and_empty() -> None:
    assert ulaw_encode(bytearray(pcm(0, 0))) == b"\xff\xff"
    assert alaw_decode(b"") == b"" and ulaw_to_alaw(bytearray(b"\xff")) == b"\xd5"
