"""RTCP compound packets (RFC 3550 §6): SR, RR, SDES, BYE, and the NTP/RTT arithmetic.

Sans-IO values: :func:`parse_compound` turns one datagram into a list of
packet dataclasses, :func:`serialize_compound` does the reverse.  Packet types
this module does not model (APP, the RFC 4585 feedback messages, XR) survive a
round trip as :class:`RawRtcp`, once their fixed parts (and XR's report block
lengths, RFC 3611 §2) are checked against the packet.  Deciding when to send a report (§6.2
interval computation) belongs to the caller.

Hand-written: the wire format is a handful of fixed structs, and pulling in
aiortc for it would drag a WebRTC stack into the core.  Parsing checks what
RFC 3550 A.2 checks (version, lengths adding up, padding only in the last
packet) except "first packet is SR or RR", which RFC 5506 reduced-size RTCP
relaxes.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Union

__all__ = [
    "Bye", "RawRtcp", "ReceiverReport", "ReportBlock", "RtcpError", "RtcpPacket", "SDES_CNAME",
    "SenderReport", "SourceDescription", "middle32", "ntp_now", "ntp_to_unix", "parse_compound",
    "rtt_seconds", "serialize_compound",
]

RTCP_SR, RTCP_RR, RTCP_SDES, RTCP_BYE = 200, 201, 202, 203
RTCP_APP, RTCP_RTPFB, RTCP_PSFB, RTCP_XR = 204, 205, 206, 207
#: RFC 3550 §6.5.1 SDES item type of the canonical name.
SDES_CNAME = 1

_HEADER = struct.Struct("!BBH")          # V P RC | PT | length in words minus one
_SR_INFO = struct.Struct("!IQIII")       # SSRC | NTP | RTP timestamp | packets | octets
_SSRC = struct.Struct("!I")
_BLOCK = struct.Struct("!IIIIII")        # SSRC | fraction+cumulative | highest | jitter | LSR | DLSR
_NTP_UNIX_OFFSET = 2_208_988_800         # seconds from 1900-01-01 to 1970-01-01


class RtcpError(ValueError):
    """A malformed RTCP packet, or a field that does not fit; the message names it."""


@dataclass(slots=True)
class ReportBlock:
    """RFC 3550 §6.4.1 reception report block; ``cumulative_lost`` is signed 24-bit."""

    ssrc: int
    fraction_lost: int
    cumulative_lost: int
    highest_seq: int
    jitter: int
    lsr: int
    dlsr: int


@dataclass(slots=True)
class SenderReport:
    """RFC 3550 §6.4.1 SR; ``extension`` keeps any profile-specific trailer."""

    ssrc: int
    ntp_timestamp: int
    rtp_timestamp: int
    packet_count: int
    octet_count: int
    reports: list[ReportBlock] = field(default_factory=list)
    extension: bytes = b""


@dataclass(slots=True)
class ReceiverReport:
    """RFC 3550 §6.4.2 RR."""

    ssrc: int
    reports: list[ReportBlock] = field(default_factory=list)
    extension: bytes = b""


@dataclass(slots=True)
class SourceDescription:
    """RFC 3550 §6.5 SDES: ``[(ssrc, [(item_type, value), ...]), ...]``."""

    chunks: list[tuple[int, list[tuple[int, bytes]]]] = field(default_factory=list)


@dataclass(slots=True)
class Bye:
    """RFC 3550 §6.6 BYE with its optional reason."""

    sources: list[int] = field(default_factory=list)
    reason: str | None = None


@dataclass(slots=True)
class RawRtcp:
    """A packet type not modelled here, kept as header count and body."""

    packet_type: int
    count: int
    body: bytes


RtcpPacket = Union[SenderReport, ReceiverReport, SourceDescription, Bye, RawRtcp]


# -- parsing ---------------------------------------------------------------

def _parse_blocks(body: bytes, pos: int, count: int) -> list[ReportBlock]:
    blocks = []
    for _ in range(count):
        ssrc, lost, highest, jitter, lsr, dlsr = _BLOCK.unpack_from(body, pos)
        cumulative = lost & 0xFFFFFF
        if cumulative & 0x800000:
            cumulative -= 0x1000000
        blocks.append(ReportBlock(ssrc, lost >> 24, cumulative, highest, jitter, lsr, dlsr))
        pos += 24
    return blocks


def _parse_sdes(body: bytes, count: int) -> SourceDescription:
    chunks = []
    pos, n = 0, len(body)
    for _ in range(count):
        if pos + 4 > n:
            raise RtcpError("SDES chunk truncated before its SSRC")
        (ssrc,) = _SSRC.unpack_from(body, pos)
        pos += 4
        items = []
        while True:
            if pos >= n:
                raise RtcpError("SDES chunk not terminated by a null item")
            item_type = body[pos]
            if item_type == 0:
                pos = (pos + 4) & ~3     # null octet(s) up to the next 32-bit boundary
                break
            if pos + 2 > n or pos + 2 + body[pos + 1] > n:
                raise RtcpError(f"SDES item type {item_type} runs past the end of the packet")
            length = body[pos + 1]
            items.append((item_type, body[pos + 2:pos + 2 + length]))
            pos += 2 + length
        chunks.append((ssrc, items))
    if pos != n:
        raise RtcpError(f"{n - pos} octets after the last of {count} SDES chunks")
    return SourceDescription(chunks)


def _parse_bye(body: bytes, count: int) -> Bye:
    end = 4 * count
    if end > len(body):
        raise RtcpError(f"BYE announces {count} sources but has room for {len(body) // 4}")
    sources = list(struct.unpack_from(f"!{count}I", body))
    reason = None
    if end < len(body):
        length = body[end]
        if end + 1 + length > len(body):
            raise RtcpError("BYE reason runs past the end of the packet")
        reason = body[end + 1:end + 1 + length].decode("utf-8", "replace")
    return Bye(sources, reason)


def _parse_one(packet_type: int, count: int, body: bytes) -> RtcpPacket:
    if packet_type == RTCP_SR:
        if len(body) < 24 + 24 * count:
            raise RtcpError(f"SR with {count} report blocks needs {24 + 24 * count} octets, has {len(body)}")
        ssrc, ntp, rtp_ts, packets, octets = _SR_INFO.unpack_from(body)
        return SenderReport(ssrc, ntp, rtp_ts, packets, octets, _parse_blocks(body, 24, count),
                            body[24 + 24 * count:])
    if packet_type == RTCP_RR:
        if len(body) < 4 + 24 * count:
            raise RtcpError(f"RR with {count} report blocks needs {4 + 24 * count} octets, has {len(body)}")
        (ssrc,) = _SSRC.unpack_from(body)
        return ReceiverReport(ssrc, _parse_blocks(body, 4, count), body[4 + 24 * count:])
    if packet_type == RTCP_SDES:
        return _parse_sdes(body, count)
    if packet_type == RTCP_BYE:
        return _parse_bye(body, count)
    if packet_type == RTCP_APP and len(body) < 8:
        # RFC 3550 §6.7: the SSRC/CSRC and a four-octet name come before any application data.
        raise RtcpError(f"APP packet of {len(body)} octets has no room for its SSRC and name")
    if packet_type in (RTCP_RTPFB, RTCP_PSFB) and len(body) < 8:
        # RFC 4585 §6.1: the packet sender's and the media source's SSRCs precede the FCI.
        raise RtcpError(f"feedback packet type {packet_type} of {len(body)} octets has no room for its SSRCs")
    if packet_type == RTCP_XR:
        _check_xr(body)
    return RawRtcp(packet_type, count, body)


def _check_xr(body: bytes) -> None:
    """RFC 3611 §2: an SSRC, then report blocks of BT, type-specific and a length in words after the 4-octet
    block header; the blocks must fill the packet exactly.  Each step moves on 4 octets or more."""
    n = len(body)
    if n < 4:
        raise RtcpError(f"XR packet of {n} octets has no room for its SSRC")
    pos = 4
    while pos < n:
        if pos + 4 > n:
            raise RtcpError(f"XR report block header truncated ({n - pos} octets left)")
        block_type, words = body[pos], (body[pos + 2] << 8) | body[pos + 3]
        pos += 4 + 4 * words
        if pos > n:
            raise RtcpError(f"XR report block type {block_type} of {words} words runs past the packet")


def parse_compound(data: bytes) -> list[RtcpPacket]:
    """Parse an RTCP compound packet (RFC 3550 §6.1); raise :class:`RtcpError`."""
    data = bytes(data)
    n = len(data)
    if n < 4:
        raise RtcpError(f"RTCP packet of {n} octets is shorter than its 4-octet header")
    packets: list[RtcpPacket] = []
    pos = 0
    while pos < n:
        if n - pos < 4:
            raise RtcpError(f"{n - pos} stray octets after the last RTCP packet")
        b0, packet_type, words = _HEADER.unpack_from(data, pos)
        if b0 >> 6 != 2:
            raise RtcpError(f"RTCP version {b0 >> 6}, expected 2")
        end = pos + 4 * (words + 1)
        if end > n:
            raise RtcpError(f"RTCP packet type {packet_type} of {words + 1} words runs past the datagram")
        body_end = end
        if b0 & 0x20:
            # RFC 3550 §6.4.1 / A.2: only the last packet of a compound may be padded.
            if end != n:
                raise RtcpError("padding bit set on a packet that is not the last of the compound")
            padding = data[end - 1]
            if padding == 0 or padding > end - pos - 4:
                raise RtcpError(f"padding count {padding} does not fit the packet")
            body_end = end - padding
        packets.append(_parse_one(packet_type, b0 & 0x1F, data[pos + 4:body_end]))
        pos = end
    return packets


# -- serializing -----------------------------------------------------------

def _pack_blocks(blocks: list[ReportBlock]) -> bytes:
    out = []
    for b in blocks:
        if not 0 <= b.fraction_lost <= 255:
            raise RtcpError(f"fraction lost {b.fraction_lost} outside 0..255")
        if not -0x800000 <= b.cumulative_lost <= 0x7FFFFF:
            raise RtcpError(f"cumulative lost {b.cumulative_lost} does not fit 24 signed bits")
        out.append(_BLOCK.pack(b.ssrc, (b.fraction_lost << 24) | (b.cumulative_lost & 0xFFFFFF),
                               b.highest_seq, b.jitter, b.lsr, b.dlsr))
    return b"".join(out)


def _pad32(data: bytes) -> bytes:
    return data + bytes(-len(data) % 4)


def _serialize_one(packet: RtcpPacket) -> bytes:
    if isinstance(packet, SenderReport):
        packet_type, count = RTCP_SR, len(packet.reports)
        body = (_SR_INFO.pack(packet.ssrc, packet.ntp_timestamp, packet.rtp_timestamp,
                              packet.packet_count, packet.octet_count)
                + _pack_blocks(packet.reports) + packet.extension)
    elif isinstance(packet, ReceiverReport):
        packet_type, count = RTCP_RR, len(packet.reports)
        body = _SSRC.pack(packet.ssrc) + _pack_blocks(packet.reports) + packet.extension
    elif isinstance(packet, SourceDescription):
        packet_type, count = RTCP_SDES, len(packet.chunks)
        parts = []
        for ssrc, items in packet.chunks:
            chunk = [_SSRC.pack(ssrc)]
            for item_type, value in items:
                if not 1 <= item_type <= 255 or len(value) > 255:
                    raise RtcpError(f"SDES item type {item_type} with {len(value)} octets does not fit")
                chunk.append(bytes((item_type, len(value))) + value)
            raw = b"".join(chunk)
            parts.append(raw + bytes(4 - len(raw) % 4))   # one to four null octets
        body = b"".join(parts)
    elif isinstance(packet, Bye):
        packet_type, count = RTCP_BYE, len(packet.sources)
        body = struct.pack(f"!{count}I", *packet.sources)
        if packet.reason is not None:
            reason = packet.reason.encode("utf-8")
            if len(reason) > 255:
                raise RtcpError(f"BYE reason of {len(reason)} octets, at most 255 fit")
            body = _pad32(body + bytes((len(reason),)) + reason)
    elif isinstance(packet, RawRtcp):
        packet_type, count, body = packet.packet_type, packet.count, packet.body
    else:
        raise RtcpError(f"not an RTCP packet: {type(packet).__name__}")
    if count > 31:
        raise RtcpError(f"count {count} does not fit the 5-bit RC/SC field")
    if len(body) % 4:
        raise RtcpError(f"RTCP packet type {packet_type} body of {len(body)} octets is not 32-bit aligned")
    return _HEADER.pack(0x80 | count, packet_type, len(body) // 4) + body


def serialize_compound(packets: Iterable[RtcpPacket]) -> bytes:
    """Serialize packets into one compound; every packet is 32-bit aligned, so no P bit."""
    try:
        return b"".join(_serialize_one(p) for p in packets)
    except struct.error as exc:
        raise RtcpError(f"RTCP field out of range: {exc}") from None


# -- time ------------------------------------------------------------------

def ntp_now(unix_time: float) -> int:
    """The 64-bit NTP timestamp (RFC 3550 §4) of a Unix time in seconds."""
    seconds = int(unix_time // 1)
    fraction = int((unix_time - seconds) * 4_294_967_296.0)
    return (((seconds + _NTP_UNIX_OFFSET) & 0xFFFFFFFF) << 32) | (fraction & 0xFFFFFFFF)


def ntp_to_unix(ntp: int) -> float:
    """The Unix time of a 64-bit NTP timestamp (era 0)."""
    return (ntp >> 32) - _NTP_UNIX_OFFSET + (ntp & 0xFFFFFFFF) / 4_294_967_296.0


def middle32(ntp: int) -> int:
    """The middle 32 bits of an NTP timestamp: the LSR a receiver reports (§6.4.1)."""
    return (ntp >> 16) & 0xFFFFFFFF


def rtt_seconds(block: ReportBlock, arrival_ntp: int) -> float | None:
    """Round trip from a report block received at ``arrival_ntp`` (RFC 3550 §6.4.1).

    RTT = A - LSR - DLSR in 1/65536 s.  ``None`` when the peer has had no SR
    from us yet (LSR 0).  A slightly negative result, from clock granularity,
    is reported as 0.0.
    """
    if block.lsr == 0:
        return None
    delta = (middle32(arrival_ntp) - block.lsr - block.dlsr) & 0xFFFFFFFF
    if delta & 0x80000000:
        return 0.0
    return delta / 65536.0
