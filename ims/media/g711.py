"""G.711 µ-law (PCMU) and A-law (PCMA) with precomputed tables.

Linear PCM is 16-bit signed little-endian, as WAV files hold it.  Hand-written because Python 3.11's ``audioop``
is deprecated (gone in 3.13) and no maintained pure-Python package fits; the
quantisation follows ITU-T G.711 Tables 1 and 2 in the arithmetic form of the
ITU-T G.191 reference (magnitudes of negative samples by one's complement,
so the code pairs are symmetric and 0 encodes to 0xFF / 0xD5; ``audioop``
negates instead, and differs by one µ-law step at some negative segment edges).

Everything is table lookups built once at import:

* decoding and µ-law<->A-law transcoding are ``bytes.translate`` (C speed);
  decoding translates twice, low and high octet, and interleaves them;
* encoding maps each 16-bit sample through a 64 KiB table.

Transcoding maps each code to the other law's code of the same sign whose
reconstruction level is nearest in the common 16-bit scale (ties to the
larger magnitude).  G.711's own µ/A conversion tables round some near-ties
the other way, so a few codes differ from them by one step; the result
also agrees with decode-then-encode to within one step.
"""

from __future__ import annotations

import sys
from array import array
from bisect import bisect_left
from collections.abc import Callable

__all__ = ["alaw_decode", "alaw_encode", "alaw_to_ulaw", "ulaw_decode", "ulaw_encode", "ulaw_to_alaw"]


def _ulaw_compress(x: int) -> int:
    absno = ((~x) >> 2) + 33 if x < 0 else (x >> 2) + 33
    if absno > 0x1FFF:
        absno = 0x1FFF
    segno = (absno >> 6).bit_length() + 1          # 1..8
    low = 0xF - ((absno >> segno) & 0xF)
    code = ((8 - segno) << 4) | low
    return code | 0x80 if x >= 0 else code


def _ulaw_expand(code: int) -> int:
    mantissa = ~code & 0xFF
    exponent = (mantissa >> 4) & 7
    step = 4 << (exponent + 1)
    magnitude = (0x80 << exponent) + step * (mantissa & 0xF) + step // 2 - 4 * 33
    return -magnitude if code < 0x80 else magnitude


def _alaw_compress(x: int) -> int:
    ix = ((~x) if x < 0 else x) >> 4
    if ix > 15:
        exponent = 1
        while ix > 31:
            ix >>= 1
            exponent += 1
        ix = ix - 16 + (exponent << 4)
    if x >= 0:
        ix |= 0x80
    return ix ^ 0x55


def _alaw_expand(code: int) -> int:
    ix = code ^ 0x55
    exponent = (ix & 0x7F) >> 4
    mantissa = ix & 0xF
    if exponent > 0:
        mantissa += 16
    mantissa = (mantissa << 4) + 8
    if exponent > 1:
        mantissa <<= exponent - 1
    return mantissa if ix > 127 else -mantissa


def _encode_table(compress: Callable[[int], int], shift: int) -> bytes:
    """64 KiB table indexed by the sample read as unsigned 16-bit.

    The code depends on ``x >> shift`` only (G.191 drops 2 bits for µ-law,
    4 for A-law), so each value is computed once and repeated.
    """
    run = 1 << shift
    pos = bytes(compress(i << shift) for i in range(0x8000 >> shift))
    neg = bytes(compress((i << shift) - 0x8000) for i in range(0x8000 >> shift))
    return bytes(b for b in pos + neg for _ in range(run))


_ULAW_LEVELS = [_ulaw_expand(c) for c in range(256)]
_ALAW_LEVELS = [_alaw_expand(c) for c in range(256)]
_ULAW_ENC = _encode_table(_ulaw_compress, 2)
_ALAW_ENC = _encode_table(_alaw_compress, 4)
_ULAW_LO = bytes(v & 0xFF for v in _ULAW_LEVELS)
_ULAW_HI = bytes((v >> 8) & 0xFF for v in _ULAW_LEVELS)
_ALAW_LO = bytes(v & 0xFF for v in _ALAW_LEVELS)
_ALAW_HI = bytes((v >> 8) & 0xFF for v in _ALAW_LEVELS)


def _transcode_table(levels_from: list[int], levels_to: list[int]) -> bytes:
    """Each code to the other law's code of the same sign with the nearest level.

    Both laws are sign-symmetric with bit 7 set for positive codes, so the
    search runs over the 128 positive codes and the sign bit is carried over.
    """
    candidates = sorted((levels_to[c], c) for c in range(0x80, 0x100))
    magnitudes = [m for m, _ in candidates]
    table = bytearray(256)
    for code in range(256):
        m = abs(levels_from[code])
        i = bisect_left(magnitudes, m)
        near = candidates[max(0, i - 1):i + 1]
        best = min(near, key=lambda mc: (abs(mc[0] - m), -mc[0]))[1]
        table[code] = best if code & 0x80 else best & 0x7F
    return bytes(table)


_U2A = _transcode_table(_ULAW_LEVELS, _ALAW_LEVELS)
_A2U = _transcode_table(_ALAW_LEVELS, _ULAW_LEVELS)

_BIG_ENDIAN = sys.byteorder == "big"


def _samples(pcm16le: bytes) -> memoryview | array[int]:
    if len(pcm16le) % 2:
        raise ValueError(f"16-bit PCM of odd length {len(pcm16le)}")
    if _BIG_ENDIAN:  # pragma: no cover - the lab runs on little-endian hosts
        samples = array("H", pcm16le)
        samples.byteswap()
        return samples
    return memoryview(pcm16le).cast("H")


def _decode(data: bytes, lo: bytes, hi: bytes) -> bytes:
    out = bytearray(2 * len(data))
    out[0::2] = data.translate(lo)
    out[1::2] = data.translate(hi)
    return bytes(out)


def ulaw_encode(pcm16le: bytes) -> bytes:
    """16-bit little-endian PCM to µ-law, one octet per sample."""
    return bytes(map(_ULAW_ENC.__getitem__, _samples(pcm16le)))


def alaw_encode(pcm16le: bytes) -> bytes:
    """16-bit little-endian PCM to A-law, one octet per sample."""
    return bytes(map(_ALAW_ENC.__getitem__, _samples(pcm16le)))


def ulaw_decode(data: bytes) -> bytes:
    """µ-law to 16-bit little-endian PCM."""
    return _decode(bytes(data), _ULAW_LO, _ULAW_HI)


def alaw_decode(data: bytes) -> bytes:
    """A-law to 16-bit little-endian PCM."""
    return _decode(bytes(data), _ALAW_LO, _ALAW_HI)


def ulaw_to_alaw(data: bytes) -> bytes:
    """Transcode µ-law to A-law without going through linear PCM."""
    return bytes(data).translate(_U2A)


def alaw_to_ulaw(data: bytes) -> bytes:
    """Transcode A-law to µ-law without going through linear PCM."""
    return bytes(data).translate(_A2U)
