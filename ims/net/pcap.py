"""Write what nodes sent as a pcap Wireshark opens: Ethernet, IPv4, UDP, TCP or SCTP with real headers.

TCP flows get a three-way handshake on first use and consistent sequence and
acknowledgement numbers, so tshark dissects Diameter (3868), SIP (5060) and
M3UA streams without "previous segment not captured" warnings.  Checksums
are computed.  M3UA events (transport "sctp") are written as SCTP DATA
chunks with payload protocol 3 (RFC 4666 §1.4.7), the way M3UA crosses a
real SIGTRAN link, so Wireshark decodes M3UA and the ISUP inside even when
the lab carried it over TCP (the kernel here has no SCTP).  The CRC32c of
RFC 4960 Appendix B is computed here (a 256-entry table: no library needed).
"""

from __future__ import annotations

import ipaddress
import struct
from pathlib import Path
from typing import BinaryIO

LINKTYPE_ETHERNET = 1
MAX_SEGMENT = 65000  # TCP payload per frame: fits the IPv4 Total Length with headers


def _checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\x00"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def _crc32c_table() -> list[int]:
    table = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        table.append(c)
    return table


_CRC32C = _crc32c_table()


def crc32c(data: bytes) -> int:
    """CRC32c (Castagnoli), RFC 4960 Appendix B."""
    crc = 0xFFFFFFFF
    for b in data:
        crc = _CRC32C[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def _mac(ip: str) -> bytes:
    return b"\x02\x00" + ipaddress.IPv4Address(ip).packed


class PcapWriter:
    """A classic pcap (LINKTYPE_ETHERNET) of what the nodes sent; ``tcp()`` / ``udp()`` per payload."""

    def __init__(self, path: str | Path) -> None:
        self._fh: BinaryIO = open(path, "wb")  # noqa: SIM115 - closed in close()
        self._fh.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, LINKTYPE_ETHERNET))
        self._flows: dict[tuple[str, int, str, int], list[int]] = {}  # -> [next seq]
        self._sctp: dict[tuple[str, int, str, int], list[int]] = {}  # -> [next TSN, stream sequence]
        self._ip_id = 0

    def close(self) -> None:
        self._fh.close()

    def __enter__(self) -> PcapWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _frame(self, t: float, src: str, dst: str, proto: int, l4: bytes) -> None:
        self._ip_id = (self._ip_id + 1) & 0xFFFF
        ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(l4), self._ip_id, 0x4000, 64, proto, 0,
                         ipaddress.IPv4Address(src).packed, ipaddress.IPv4Address(dst).packed)
        ip = ip[:10] + struct.pack("!H", _checksum(ip)) + ip[12:]
        frame = _mac(dst) + _mac(src) + b"\x08\x00" + ip + l4
        sec = int(t)
        self._fh.write(struct.pack("<IIII", sec, int((t - sec) * 1e6), len(frame), len(frame)) + frame)

    def sctp(self, t: float, src: tuple[str, int], dst: tuple[str, int], payload: bytes, ppid: int = 3) -> None:
        """One SCTP packet with one DATA chunk (RFC 4960 §3.3.1), unfragmented, on stream 0."""
        key = (src[0], src[1], dst[0], dst[1])
        seq = self._sctp.setdefault(key, [1, 0])
        pad = (-len(payload)) % 4
        chunk = struct.pack("!BBHIHHI", 0, 0x03, 16 + len(payload), seq[0], 0, seq[1] & 0xFFFF, ppid) + payload + \
            b"\x00" * pad
        seq[0] += 1
        seq[1] += 1
        header = struct.pack("!HHII", src[1], dst[1], 1, 0)
        packet = header + chunk
        checksum = crc32c(packet)
        packet = header[:8] + struct.pack("<I", checksum) + chunk  # the CRC goes in little-endian order
        self._frame(t, src[0], dst[0], 132, packet)

    def udp(self, t: float, src: tuple[str, int], dst: tuple[str, int], payload: bytes) -> None:
        length = 8 + len(payload)
        pseudo = ipaddress.IPv4Address(src[0]).packed + ipaddress.IPv4Address(dst[0]).packed + \
            struct.pack("!BBH", 0, 17, length)
        hdr = struct.pack("!HHHH", src[1], dst[1], length, 0)
        csum = _checksum(pseudo + hdr + payload) or 0xFFFF
        self._frame(t, src[0], dst[0], 17, hdr[:6] + struct.pack("!H", csum) + payload)

    def _tcp_segment(self, t: float, src: tuple[str, int], dst: tuple[str, int], seq: int, ack: int, flags: int,
                     payload: bytes) -> None:
        hdr = struct.pack("!HHIIBBHHH", src[1], dst[1], seq & 0xFFFFFFFF, ack & 0xFFFFFFFF, 5 << 4, flags, 65535, 0, 0)
        pseudo = ipaddress.IPv4Address(src[0]).packed + ipaddress.IPv4Address(dst[0]).packed + \
            struct.pack("!BBH", 0, 6, len(hdr) + len(payload))
        csum = _checksum(pseudo + hdr + payload)
        self._frame(t, src[0], dst[0], 6, hdr[:16] + struct.pack("!H", csum) + hdr[18:] + payload)

    def tcp(self, t: float, src: tuple[str, int], dst: tuple[str, int], payload: bytes) -> None:
        key, rkey = (src[0], src[1], dst[0], dst[1]), (dst[0], dst[1], src[0], src[1])
        if key not in self._flows and rkey not in self._flows:
            # SYN, SYN-ACK, ACK so the dissector sees the whole stream.
            self._flows[key], self._flows[rkey] = [1000], [5000]
            self._tcp_segment(t, src, dst, 999, 0, 0x02, b"")
            self._tcp_segment(t, dst, src, 4999, 1000, 0x12, b"")
            self._tcp_segment(t, src, dst, 1000, 5000, 0x10, b"")
        seq = self._flows[key]
        ack = self._flows[rkey][0]
        # IPv4 Total Length is 16 bits: a large message (Diameter allows 1 MiB here) goes in several segments.
        for i in range(0, max(len(payload), 1), MAX_SEGMENT):
            chunk = payload[i:i + MAX_SEGMENT]
            self._tcp_segment(t, src, dst, seq[0], ack, 0x18, chunk)
            seq[0] += len(chunk)

    def close_tcp(self, t: float, src: tuple[str, int], dst: tuple[str, int]) -> None:
        """FIN from ``src``, FIN-ACK back, final ACK (RFC 9293 §3.6), so the stream ends cleanly in Wireshark."""
        key, rkey = (src[0], src[1], dst[0], dst[1]), (dst[0], dst[1], src[0], src[1])
        if key not in self._flows:
            return
        seq, rseq = self._flows.pop(key), self._flows.pop(rkey)
        self._tcp_segment(t, src, dst, seq[0], rseq[0], 0x11, b"")
        self._tcp_segment(t, dst, src, rseq[0], seq[0] + 1, 0x11, b"")
        self._tcp_segment(t, src, dst, seq[0] + 1, rseq[0] + 1, 0x10, b"")


def write_events(path: str | Path, events: list) -> int:  # type: ignore[type-arg]
    """Write node events (``ims.control.events.NodeEvent``: time, src/dst "host:port", transport,
    payload) as one capture, in time order; the number of messages written."""

    def addr(hostport: str) -> tuple[str, int]:
        host, _, port = hostport.rpartition(":")
        return host, int(port)

    n = 0
    with PcapWriter(path) as pcap:
        for ev in sorted(events, key=lambda e: e.time):
            if not ev.payload or not ev.src or not ev.dst:
                continue
            if ev.transport == "udp":
                pcap.udp(ev.time, addr(ev.src), addr(ev.dst), ev.payload)
            elif ev.transport == "sctp":
                pcap.sctp(ev.time, addr(ev.src), addr(ev.dst), ev.payload)
            else:
                pcap.tcp(ev.time, addr(ev.src), addr(ev.dst), ev.payload)
            n += 1
    return n
