"""AMR and AMR-WB RTP payload framing (RFC 4867 §4), without the codecs.

The lab does not transcode AMR: it only has to put well-formed AMR payloads
on the wire (so that SBCs, captures and peers see a real VoLTE stream) and
to read their frame types back.  :func:`amr_payload` frames one frame,
:func:`parse_amr_payload` reads a payload's table of contents and frames,
:class:`AmrSource` produces 20 ms frames of pseudo-random speech bits.

Hand-written: there is no maintained Python package for RFC 4867 framing,
and it is bit-packing over an int.  Both payload formats are supported:
octet-aligned (§4.4) and bandwidth-efficient (§4.3).  Not supported: the
octet-aligned options of robust sorting, interleaving and frame CRCs
(``crc=1``, ``robust-sorting=1``, ``interleaving``), which VoLTE profiles
(GSMA IR.92) do not use.  Frame bits are opaque here: their class A/B/C
order (TS 26.101 / 26.201 Annex B) is the codec's business.
"""

from __future__ import annotations

import random

__all__ = ["AMR_FRAME_BITS", "AMR_WB_FRAME_BITS", "AmrError", "AmrSource", "amr_payload", "parse_amr_payload"]

#: TS 26.101 Table 1a: speech bits per 20 ms frame for AMR modes 0-7
#: (4.75 ... 12.2 kbit/s), and frame type 8, AMR SID.
AMR_FRAME_BITS: dict[int, int] = {0: 95, 1: 103, 2: 118, 3: 134, 4: 148, 5: 159, 6: 204, 7: 244, 8: 39}
#: TS 26.201 Table 2: AMR-WB modes 0-8 (6.60 ... 23.85 kbit/s), and frame type 9, SID.
AMR_WB_FRAME_BITS: dict[int, int] = {0: 132, 1: 177, 2: 253, 3: 285, 4: 317, 5: 365, 6: 397, 7: 461,
                                     8: 477, 9: 40}
NO_DATA = 15          # RFC 4867 §4.3.2: no speech frame (DTX or not sent)
SPEECH_LOST = 14      # AMR-WB only


class AmrError(ValueError):
    """A malformed AMR payload or an invalid frame type; the message names the fault."""


def _frame_bits(frame_type: int, wideband: bool) -> int:
    table = AMR_WB_FRAME_BITS if wideband else AMR_FRAME_BITS
    bits = table.get(frame_type)
    if bits is not None:
        return bits
    if frame_type == NO_DATA or (wideband and frame_type == SPEECH_LOST):
        return 0
    raise AmrError(f"{'AMR-WB' if wideband else 'AMR'} frame type {frame_type} is reserved or invalid")


def _check_cmr(cmr: int, wideband: bool) -> None:
    top = 8 if wideband else 7
    if not (0 <= cmr <= top or cmr == 15):
        raise AmrError(f"CMR {cmr} is neither a mode 0..{top} nor 15 (no request)")


def amr_payload(frame_type: int, speech: bytes | None = None, *, wideband: bool, octet_aligned: bool,
                cmr: int = 15) -> bytes:
    """One-frame RFC 4867 payload: CMR, one ToC entry (F=0, FT, Q=1), the frame.

    ``speech`` holds the frame's bits MSB first, padded with zeros to whole
    octets (``ceil(bits / 8)`` octets); ``None`` sends all-zero bits.
    Padding bits are cleared whatever ``speech`` holds in them.
    """
    _check_cmr(cmr, wideband)
    bits = _frame_bits(frame_type, wideband)
    size = (bits + 7) // 8
    if speech is None:
        value = 0
    elif len(speech) != size:
        raise AmrError(f"frame type {frame_type} has {bits} bits ({size} octets), got {len(speech)} octets")
    else:
        value = int.from_bytes(speech, "big") >> (8 * size - bits)
    if octet_aligned:
        # §4.4.1 CMR + 4 reserved bits; §4.4.2 ToC: F FT(4) Q P P
        head = bytes((cmr << 4, (frame_type << 3) | 0x04))
        return head + (value << (8 * size - bits)).to_bytes(size, "big")
    # §4.3: CMR(4) | F(1)=0 FT(4) Q(1)=1 | speech bits | padding to an octet
    total = 10 + bits
    pad = -total % 8
    word = ((((cmr << 6) | (frame_type << 1) | 1) << bits) | value) << pad
    return word.to_bytes((total + pad) // 8, "big")


def parse_amr_payload(data: bytes, *, wideband: bool, octet_aligned: bool) -> list[tuple[int, bytes]]:
    """The frames of an RFC 4867 payload as ``(frame_type, bits padded to octets)``.

    Raises :class:`AmrError` on a truncated ToC or frame, a reserved frame
    type, or octets beyond the last frame (bandwidth-efficient payloads may
    end with up to 7 padding bits).  The CMR and Q bits are not returned.
    """
    n = len(data)
    if n == 0:
        raise AmrError("empty AMR payload")
    frames: list[tuple[int, bytes]] = []
    if octet_aligned:
        toc = []
        pos = 1
        while True:
            if pos >= n:
                raise AmrError("table of contents runs past the end of the payload")
            entry = data[pos]
            pos += 1
            toc.append((entry >> 3) & 0x0F)
            if not entry & 0x80:
                break
        for frame_type in toc:
            size = (_frame_bits(frame_type, wideband) + 7) // 8
            if pos + size > n:
                raise AmrError(f"frame type {frame_type} needs {size} octets, {n - pos} left")
            frames.append((frame_type, bytes(data[pos:pos + size])))
            pos += size
        if pos != n:
            raise AmrError(f"{n - pos} octets after the last frame")
        return frames
    total = 8 * n
    if total < 10:
        raise AmrError("payload too short for CMR and one ToC entry")
    offset = 4                         # after the CMR
    # §4.3.2: the ToC is a run of 6-bit entries, each F-bit saying whether another follows; it ends at
    # the payload's end at the latest (so at most 8n/6 entries).
    toc = []
    while True:
        if offset + 6 > total:
            raise AmrError(f"payload ends {offset + 6 - total} bits short")
        entry = _bits(data, offset, 6)
        offset += 6
        toc.append((entry >> 1) & 0x0F)
        if not entry & 0x20:
            break
    for frame_type in toc:
        bits = _frame_bits(frame_type, wideband)
        size = (bits + 7) // 8
        if offset + bits > total:
            raise AmrError(f"payload ends {offset + bits - total} bits short")
        value = _bits(data, offset, bits) if bits else 0
        offset += bits
        frames.append((frame_type, (value << (8 * size - bits)).to_bytes(size, "big")))
    if total - offset >= 8:
        raise AmrError(f"{(total - offset) // 8} octets after the last frame")
    return frames


def _bits(data: bytes, offset: int, count: int) -> int:
    """``count`` bits of ``data`` from bit ``offset``, MSB first.

    Reads only the octets that hold them, so walking a payload is linear in its length (shifting one
    integer of the whole payload per field made a 64 KB ToC of F-bits cost seconds)."""
    first = offset >> 3
    last = (offset + count + 7) >> 3
    chunk = int.from_bytes(data[first:last], "big")
    return (chunk >> (8 * last - offset - count)) & ((1 << count) - 1)


class AmrSource:
    """20 ms AMR or AMR-WB payloads of one mode carrying pseudo-random bits.

    Not speech: a peer decoding it hears noise.  ``seed`` makes the stream
    reproducible.
    """

    def __init__(self, mode: int, *, wideband: bool, octet_aligned: bool, seed: int = 0) -> None:
        top = 8 if wideband else 7
        if not 0 <= mode <= top:
            raise AmrError(f"{'AMR-WB' if wideband else 'AMR'} speech mode {mode} outside 0..{top}")
        self.mode = mode
        self.wideband = wideband
        self.octet_aligned = octet_aligned
        self.encoding = "AMR-WB" if wideband else "AMR"
        self.clock_rate = 16000 if wideband else 8000
        self.samples_per_frame = 320 if wideband else 160
        self._size = (_frame_bits(mode, wideband) + 7) // 8
        self._random = random.Random(seed)

    def frame(self) -> bytes:
        """The next one-frame payload."""
        speech = self._random.randbytes(self._size)
        return amr_payload(self.mode, speech, wideband=self.wideband, octet_aligned=self.octet_aligned)
