"""RTP packets (RFC 3550 §5.1), an RTP sender and RFC 4733 telephone-events.

Sans-IO: :class:`RtpPacket` turns bytes into a value and back, :class:`RtpSender`
numbers the packets of one outgoing stream.  Nothing here touches a socket or a
clock; the media driver in ``ims/net`` paces packets and sends them.

Hand-written rather than borrowed (aiortc's ``rtp.py`` pulls in its whole WebRTC
stack): the fixed header is one precompiled :class:`struct.Struct` and parsing
does no per-packet logging, regex or validation beyond what RFC 3550 §5.1 and
A.1 require, because a relay runs this once per packet.

Not here: RTCP (:mod:`ims.media.rtcp`), reception statistics
(:mod:`ims.media.stats`), SRTP (:mod:`ims.media.srtp`).
"""

from __future__ import annotations

import secrets
import struct
from dataclasses import dataclass

__all__ = [
    "DTMF_EVENTS", "RtpError", "RtpPacket", "RtpSender", "TelephoneEvent", "is_rtcp",
]

_HEADER = struct.Struct("!BBHII")        # V P X CC | M PT | sequence | timestamp | SSRC
_EXT_HEADER = struct.Struct("!HH")       # RFC 3550 §5.3.1: profile-defined | length in words
_CSRC = [struct.Struct(f"!{n}I") for n in range(16)]
_EVENT = struct.Struct("!BBH")           # RFC 4733 §2.3: event | E R volume | duration

#: RFC 4733 §3.2 Table 3: event codes 0-15 are the DTMF digits, in this order.
DTMF_EVENTS = "0123456789*#ABCD"


class RtpError(ValueError):
    """A malformed RTP or telephone-event packet; the message names the fault."""


@dataclass(slots=True)
class RtpPacket:
    """One RTP packet (RFC 3550 §5.1).

    ``extension`` is ``(profile, data)`` of the §5.3.1 header extension, ``data``
    a multiple of four octets.  ``padding`` is the number of padding octets
    including the final count octet (0 = no P bit).
    """

    payload_type: int
    sequence: int
    timestamp: int
    ssrc: int
    payload: bytes = b""
    marker: bool = False
    csrc: tuple[int, ...] = ()
    extension: tuple[int, bytes] | None = None
    padding: int = 0

    @classmethod
    def parse(cls, data: bytes) -> RtpPacket:
        """Parse one RTP packet; raise :class:`RtpError` naming what is wrong."""
        if type(data) is not bytes:
            data = bytes(data)
        n = len(data)
        if n < 12:
            raise RtpError(f"RTP packet of {n} octets is shorter than the 12-octet fixed header")
        b0, b1, sequence, timestamp, ssrc = _HEADER.unpack_from(data)
        if b0 >> 6 != 2:
            raise RtpError(f"RTP version {b0 >> 6}, expected 2")
        pos = 12
        csrc: tuple[int, ...] = ()
        cc = b0 & 0x0F
        if cc:
            pos += 4 * cc
            if pos > n:
                raise RtpError(f"CSRC count {cc} runs past the end of a {n}-octet packet")
            csrc = _CSRC[cc].unpack_from(data, 12)
        extension: tuple[int, bytes] | None = None
        if b0 & 0x10:
            if pos + 4 > n:
                raise RtpError("X bit set but no room for the header extension")
            profile, words = _EXT_HEADER.unpack_from(data, pos)
            start = pos + 4
            pos = start + 4 * words
            if pos > n:
                raise RtpError(f"header extension of {words} words runs past the end of the packet")
            extension = (profile, data[start:pos])
        end = n
        padding = 0
        if b0 & 0x20:
            padding = data[-1]
            # RFC 3550 §5.1: the last octet counts the padding, itself included.
            if padding == 0 or padding > n - pos:
                raise RtpError(f"padding count {padding} does not fit the {n - pos} octets after the header")
            end = n - padding
        return cls(b1 & 0x7F, sequence, timestamp, ssrc, data[pos:end], bool(b1 & 0x80),
                   csrc, extension, padding)

    def to_bytes(self) -> bytes:
        """Serialize; raise :class:`RtpError` for a field that does not fit."""
        cc = len(self.csrc)
        if cc > 15:
            raise RtpError(f"{cc} CSRCs, at most 15 fit the CC field")
        if not 0 <= self.payload_type <= 127:
            raise RtpError(f"payload type {self.payload_type} outside 0..127")
        b0 = 0x80 | cc
        if self.padding:
            b0 |= 0x20
        if self.extension is not None:
            b0 |= 0x10
        try:
            parts = [_HEADER.pack(b0, (0x80 if self.marker else 0) | self.payload_type,
                                  self.sequence, self.timestamp, self.ssrc)]
            if cc:
                parts.append(_CSRC[cc].pack(*self.csrc))
            if self.extension is not None:
                profile, data = self.extension
                if len(data) % 4:
                    raise RtpError(f"header extension data of {len(data)} octets is not a multiple of 4")
                parts.append(_EXT_HEADER.pack(profile, len(data) // 4))
                parts.append(data)
        except struct.error as exc:
            raise RtpError(f"RTP header field out of range: {exc}") from None
        parts.append(self.payload)
        if self.padding:
            if not 1 <= self.padding <= 255:
                raise RtpError(f"padding {self.padding} outside 1..255")
            parts.append(bytes(self.padding - 1) + bytes((self.padding,)))
        return b"".join(parts)


def is_rtcp(data: bytes) -> bool:
    """RFC 5761 §4: on a muxed port, a second octet of 192..223 marks RTCP."""
    return len(data) >= 2 and 192 <= data[1] <= 223


@dataclass(frozen=True, slots=True)
class TelephoneEvent:
    """The four-octet RFC 4733 §2.3 payload: event, E bit, volume (-dBm0), duration."""

    event: int
    end: bool
    volume: int
    duration: int

    @classmethod
    def parse(cls, payload: bytes) -> TelephoneEvent:
        """Parse the first event of a telephone-event payload."""
        if len(payload) < 4:
            raise RtpError(f"telephone-event payload of {len(payload)} octets, need 4")
        event, flags, duration = _EVENT.unpack_from(payload)
        return cls(event, bool(flags & 0x80), flags & 0x3F, duration)

    def to_bytes(self) -> bytes:
        """Serialize; the R bit is sent as zero (RFC 4733 §2.3)."""
        if not 0 <= self.volume <= 63:
            raise RtpError(f"telephone-event volume {self.volume} outside 0..63")
        try:
            return _EVENT.pack(self.event, (0x80 if self.end else 0) | self.volume, self.duration)
        except struct.error as exc:
            raise RtpError(f"telephone-event field out of range: {exc}") from None


class RtpSender:
    """Numbers the packets of one outgoing RTP stream (RFC 3550 §5.1).

    Sequence number and timestamp start at random values unless given
    (RFC 3550 §5.1 recommends random starts).  ``sequence`` and ``timestamp``
    are the values the next packet will carry.
    """

    __slots__ = ("payload_type", "clock_rate", "ssrc", "sequence", "timestamp",
                 "packets_sent", "octets_sent", "last_timestamp")

    def __init__(self, payload_type: int, clock_rate: int, ssrc: int | None = None, *,
                 sequence: int | None = None, timestamp: int | None = None) -> None:
        self.payload_type = payload_type
        self.clock_rate = clock_rate
        self.ssrc = secrets.randbits(32) if ssrc is None else ssrc
        self.sequence = secrets.randbits(16) if sequence is None else sequence & 0xFFFF
        self.timestamp = secrets.randbits(32) if timestamp is None else timestamp & 0xFFFFFFFF
        self.packets_sent = 0
        #: Payload octets only, as the RTCP SR sender's octet count wants (RFC 3550 §6.4.1).
        self.octets_sent = 0
        self.last_timestamp = self.timestamp

    def _emit(self, payload_type: int, timestamp: int, payload: bytes, marker: bool) -> RtpPacket:
        packet = RtpPacket(payload_type, self.sequence, timestamp, self.ssrc, payload, marker)
        self.sequence = (self.sequence + 1) & 0xFFFF
        self.packets_sent += 1
        self.octets_sent += len(payload)
        self.last_timestamp = timestamp
        return packet

    def next(self, payload: bytes, samples: int, *, marker: bool = False) -> RtpPacket:
        """The next packet; the timestamp then advances by ``samples``."""
        packet = self._emit(self.payload_type, self.timestamp, payload, marker)
        self.timestamp = (self.timestamp + samples) & 0xFFFFFFFF
        return packet

    def dtmf(self, event: int, duration_ms: int, *, payload_type: int, volume: int = 10,
             ptime: int = 20) -> list[RtpPacket]:
        """The RFC 4733 §2.5.1 packet train for one event, to send one every ``ptime`` ms.

        All packets carry the event's start timestamp; the first has the marker
        bit; updates carry the duration so far (one ``ptime`` more each); the
        end packet, with the E bit and the full duration, is sent three times
        (§2.5.1.4).  Afterwards the stream timestamp has moved on by the
        event's duration, so the next audio packet follows the event.
        Events longer than the 16-bit duration field (§2.5.1.3 segmentation)
        are refused.
        """
        if not 0 <= event <= 255:
            raise RtpError(f"telephone-event code {event} outside 0..255")
        total = duration_ms * self.clock_rate // 1000
        step = ptime * self.clock_rate // 1000
        if not 0 < total <= 0xFFFF:
            raise RtpError(f"event duration of {total} timestamp units outside 1..65535")
        if step <= 0:
            raise RtpError(f"ptime {ptime} ms gives no timestamp step")
        start = self.timestamp
        packets = []
        marker = True
        for duration in range(step, total, step):
            payload = TelephoneEvent(event, False, volume, duration).to_bytes()
            packets.append(self._emit(payload_type, start, payload, marker))
            marker = False
        end = TelephoneEvent(event, True, volume, total).to_bytes()
        for _ in range(3):
            packets.append(self._emit(payload_type, start, end, marker))
            marker = False
        self.timestamp = (start + total) & 0xFFFFFFFF
        return packets
