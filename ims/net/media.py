"""The trio driver of one media stream: an RTP/RTCP socket pair that sends, receives and measures.

A :class:`MediaStream` is what a simulated handset (or the PSTN exchange)
runs for every answered call: it binds an even RTP port and the RTCP port
above it (RFC 3550 §11), sends a source (tone, WAV, AMR frames) paced at
``ptime``, receives the peer's packets into the RFC 3550 A.1/A.8 receiver
statistics, sends a compound SR (with SDES CNAME) per report interval and
derives the round-trip time from the report blocks the peer returns
(§6.4.1).  With SDES keys (RFC 4568) every packet goes through SRTP/SRTCP;
a packet that fails authentication is dropped and counted.

The protocol work (packets, statistics, SRTP) is in :mod:`ims.media`; this
module only owns the sockets and the clock.  Deviation from RFC 3550 §6.2,
on purpose: reports go every ``rtcp_interval`` seconds (1 s by default,
randomised ×[0.5, 1.5]) instead of the 5 s minimum, so that a 5-second lab
call yields loss, jitter and RTT figures.
"""

from __future__ import annotations

import logging
import random
import time
from typing import Any

import trio

from ims.media.amr import AmrSource
from ims.media.rtcp import (
    Bye, ReceiverReport, RtcpError, SenderReport, SourceDescription, middle32, ntp_now, parse_compound,
    rtt_seconds, serialize_compound,
)
from ims.media.rtp import DTMF_EVENTS, RtpError, RtpPacket, RtpSender, TelephoneEvent
from ims.media.source import make_source
from ims.media.srtp import SrtpAuthError, SrtpError, SrtpSession
from ims.media.stats import ReceiverStats
from ims.media.stream import StreamParams
from ims.net.boundary import internal_error
from ims.net.impair import Impairments

log = logging.getLogger("ims.net.media")

#: RFC 4733 §2.5.1.4 sends an event's end packet three times in a row: a few recent event timestamps are
#: enough to count each digit once, and all a peer can make us keep.
_DTMF_SEEN = 16
#: The digits kept for ``dtmf_received`` (the most recent ones), however many a peer sends.
_DTMF_KEPT = 256

def _source_for(params: StreamParams, spec: str) -> Any:
    enc = params.encoding.upper()
    if enc in ("AMR", "AMR-WB"):
        fmtp = (params.fmtp or "").replace(" ", "")
        octet = "octet-align=1" in fmtp
        return AmrSource(8 if enc == "AMR-WB" else 7, wideband=enc == "AMR-WB", octet_aligned=octet)
    if enc in ("PCMU", "PCMA"):
        return make_source(spec, enc)
    raise ValueError(f"no media source for {params.encoding}/{params.clock_rate}")


class MediaStream:
    """One audio stream of a call on ``host``: bind, then :meth:`run` with the negotiated parameters."""

    def __init__(self, host: str, *, impairments: Impairments | None = None, source: str = "tone:440",
                 rtcp_interval: float = 1.0, cname: str = "", on_packet: Any = None, sample_every: int = 50) -> None:
        self.host = host
        self.impairments = impairments
        self.source_spec = source
        self.rtcp_interval = rtcp_interval
        self.cname = cname or f"ims@{host}"
        # ``on_packet(kind, direction, data, src, dst)`` sees every RTCP packet and one RTP packet in
        # ``sample_every`` (the first of a stream too), as they cross the wire: for ladders and captures
        self.on_packet = on_packet
        self.sample_every = max(1, sample_every)
        self._rtp_seen = [0, 0]  # sent, received
        self.rtp: trio.socket.SocketType | None = None
        self.rtcp: trio.socket.SocketType | None = None
        self.port = 0
        self.params: StreamParams | None = None
        self.sender: RtpSender | None = None
        self.receiver: ReceiverStats | None = None
        self._tx: SrtpSession | None = None
        self._rx: SrtpSession | None = None
        self._remote_ssrc: int | None = None
        self._last_sr: tuple[int, float] | None = None  # (LSR, arrival) of the peer's latest SR
        self._dtmf_seen: dict[int, None] = {}  # recent event timestamps already counted (oldest first)
        self._changed = trio.Event()
        self._nursery: trio.Nursery | None = None
        self.counters = {"rtcp_sent": 0, "rtcp_received": 0, "auth_failures": 0, "malformed": 0,
                         "impair_dropped": 0, "send_errors": 0}
        self.rtt: float | None = None
        self.dtmf_received = ""
        self.closed = False

    # -- sockets -----------------------------------------------------------------------
    async def bind(self, port: int = 0, *, attempts: int = 50) -> int:
        """Bind an even RTP port and RTCP on the next one (§11); ``port`` 0 picks a free pair."""
        last: OSError | None = None
        for _ in range(attempts):
            want = port or random.randrange(20000, 59998, 2)
            rtp = trio.socket.socket(trio.socket.AF_INET6 if ":" in self.host else trio.socket.AF_INET,
                                     trio.socket.SOCK_DGRAM)
            rtcp = trio.socket.socket(rtp.family, trio.socket.SOCK_DGRAM)
            try:
                await rtp.bind((self.host, want))
                await rtcp.bind((self.host, want + 1))
            except OSError as exc:
                rtp.close()
                rtcp.close()
                last = exc
                if port:
                    break
                continue
            self.rtp, self.rtcp, self.port = rtp, rtcp, want
            return want
        raise OSError(f"no free RTP/RTCP port pair on {self.host}: {last}")

    def close(self) -> None:
        """Stop sending (with an RTCP BYE, RFC 3550 §6.6, when running) and release the ports."""
        self.closed = True
        if self._nursery is not None:
            self._nursery.cancel_scope.cancel()  # run() sends the BYE and closes the sockets on its way out
        else:
            self._close_sockets()

    def _close_sockets(self) -> None:
        for s in (self.rtp, self.rtcp):
            if s is not None:
                s.close()

    # -- running -----------------------------------------------------------------------
    def configure(self, params: StreamParams) -> None:
        """Set (or change, on a re-INVITE/UPDATE) what is sent where; keeps SSRC and sequence."""
        old = self.params
        self.params = params
        if self.sender is None or (old and old.payload_type != params.payload_type):
            ssrc = self.sender.ssrc if self.sender else None
            self.sender = RtpSender(params.payload_type, params.clock_rate, ssrc)
        if self.receiver is None or (old and old.clock_rate != params.clock_rate):
            self.receiver = ReceiverStats(params.clock_rate)
        if params.srtp_suite and params.local_key and params.remote_key:
            if not old or (old.local_key, old.remote_key) != (params.local_key, params.remote_key):
                self._tx = SrtpSession(params.srtp_suite, params.local_key, outbound=True)
                self._rx = SrtpSession(params.srtp_suite, params.remote_key, outbound=False)
        else:
            self._tx = self._rx = None
        self._changed.set()
        self._changed = trio.Event()

    async def run(self, params: StreamParams, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
                  ) -> None:
        if self.closed:
            return
        if self.rtp is None:
            await self.bind()
        self.configure(params)
        try:
            async with trio.open_nursery() as nursery:
                self._nursery = nursery
                nursery.start_soon(self._receive_rtp)
                nursery.start_soon(self._receive_rtcp)
                nursery.start_soon(self._send_loop)
                nursery.start_soon(self._rtcp_loop)
                task_status.started()
        finally:
            self._nursery = None
            with trio.move_on_after(0.2) as scope:
                scope.shield = True
                await self._send_rtcp(bye=True)
            self._close_sockets()

    def _sending(self) -> bool:
        return self.params is not None and self.params.direction in ("sendrecv", "sendonly")

    async def _send_loop(self) -> None:
        assert self.params is not None
        source = _source_for(self.params, self.source_spec)
        ptime = self.params.ptime / 1000
        samples = self.params.clock_rate * self.params.ptime // 1000
        first = True
        next_at = trio.current_time()
        while True:
            if not self._sending():
                await self._changed.wait()
                next_at, first = trio.current_time(), True  # a talkspurt starts again (§5.1 marker)
                continue
            assert self.sender is not None and self.params is not None
            pkt = self.sender.next(source.frame(), samples, marker=first)
            first = False
            await self._send(pkt.to_bytes(), rtcp=False)
            next_at += ptime
            now = trio.current_time()
            if next_at < now - 10 * ptime:  # badly late (a stalled loop): resynchronise, don't burst
                next_at = now
            await trio.sleep_until(next_at)

    async def _send(self, data: bytes, *, rtcp: bool) -> None:
        p = self.params
        sock = self.rtcp if rtcp else self.rtp
        if p is None or sock is None:
            return
        if self._tx is not None:
            data = self._tx.protect_rtcp(data) if rtcp else self._tx.protect(data)
        imp = self.impairments
        if imp:
            hold = imp.decide(p.remote_host, trio.current_time())
            if hold is None:
                self.counters["impair_dropped"] += 1
                return
            if hold > 0 and self._nursery is not None:
                self._nursery.start_soon(self._send_later, sock, data, hold, rtcp)
                return
        await self._sendto(sock, data, rtcp)

    async def _send_later(self, sock: trio.socket.SocketType, data: bytes, hold: float, rtcp: bool) -> None:
        await trio.sleep(hold)
        await self._sendto(sock, data, rtcp)

    def _tell(self, rtcp: bool, direction: str, data: bytes, peer: tuple[str, int]) -> None:
        if self.on_packet is None:
            return
        if not rtcp:
            i = 0 if direction == "out" else 1
            self._rtp_seen[i] += 1
            if (self._rtp_seen[i] - 1) % self.sample_every:
                return
        here = (self.host, self.port + (1 if rtcp else 0))
        src, dst = (here, peer) if direction == "out" else (peer, here)
        try:
            self.on_packet("rtcp" if rtcp else "rtp", direction, data, src, dst)
        except Exception:  # noqa: BLE001 - reporting must never stop the media
            log.exception("media event hook failed")

    async def _sendto(self, sock: trio.socket.SocketType, data: bytes, rtcp: bool) -> None:
        p = self.params
        assert p is not None
        port = p.remote_port + (1 if rtcp else 0)
        if not 0 < port <= 65535:  # an SDP port of 65535 leaves no RTCP port above it (RFC 3550 §11)
            self.counters["send_errors"] += 1
            return
        self._tell(rtcp, "out", data, (p.remote_host, port))
        try:
            await sock.sendto(data, (p.remote_host, port))
        except OSError as exc:
            self.counters["send_errors"] += 1
            log.debug("RTP send to %s:%d failed: %s", p.remote_host, p.remote_port, exc)

    def _arrived(self, rtcp: bool, data: bytes, peer: Any) -> bytes | None:
        """A datagram in: reported, then SRTP/SRTCP-unprotected (None: it failed, counted)."""
        self._tell(rtcp, "in", data, peer[:2])
        if self._rx is None:
            return data
        try:
            return self._rx.unprotect_rtcp(data) if rtcp else self._rx.unprotect(data)
        except SrtpAuthError:
            self.counters["auth_failures"] += 1
        except SrtpError:
            self.counters["malformed"] += 1
        return None

    async def _receive_rtp(self) -> None:
        assert self.rtp is not None
        while True:
            raw, peer = await self.rtp.recvfrom(4096)
            # The per-packet boundary (DESIGN "Every driver catches what a single message throws"): one
            # datagram that trips an unexpected error is logged, counted and dropped; the stream goes on.
            try:
                self._on_rtp(raw, peer, trio.current_time())
            except Exception:  # noqa: BLE001 - see above
                self.counters["malformed"] += 1
                internal_error("rtp", f"{len(raw)}-octet RTP datagram from {peer[0]}:{peer[1]} to "
                                      f"{self.host}:{self.port}", logger=log)

    def _on_rtp(self, raw: bytes, peer: Any, arrival: float) -> None:
        data = self._arrived(False, raw, peer)
        if data is None:
            return
        try:
            pkt = RtpPacket.parse(data)
        except RtpError:
            self.counters["malformed"] += 1
            return
        p = self.params
        if p is None or self.receiver is None or p.direction in ("sendonly", "inactive"):
            return  # §6.1 RFC 3264: not expecting media in this direction
        self._remote_ssrc = pkt.ssrc
        self.receiver.update(pkt, arrival)
        if p.telephone_event_pt is not None and pkt.payload_type == p.telephone_event_pt:
            self._on_dtmf(pkt)

    def _on_dtmf(self, pkt: RtpPacket) -> None:
        try:
            ev = TelephoneEvent.parse(pkt.payload)
        except RtpError:
            self.counters["malformed"] += 1
            return
        if ev.end and pkt.timestamp not in self._dtmf_seen and ev.event < len(DTMF_EVENTS):
            # the end packet is sent three times (RFC 4733 §2.5.1.4); only recent events are remembered
            self._dtmf_seen[pkt.timestamp] = None
            if len(self._dtmf_seen) > _DTMF_SEEN:
                del self._dtmf_seen[next(iter(self._dtmf_seen))]
            self.dtmf_received = (self.dtmf_received + DTMF_EVENTS[ev.event])[-_DTMF_KEPT:]

    async def _receive_rtcp(self) -> None:
        assert self.rtcp is not None
        while True:
            raw, peer = await self.rtcp.recvfrom(4096)
            try:
                self._on_rtcp(raw, peer, trio.current_time())
            except Exception:  # noqa: BLE001 - the per-packet boundary, as in _receive_rtp
                self.counters["malformed"] += 1
                internal_error("rtcp", f"{len(raw)}-octet RTCP datagram from {peer[0]}:{peer[1]} to "
                                       f"{self.host}:{self.port + 1}", logger=log)

    def _on_rtcp(self, raw: bytes, peer: Any, arrival: float) -> None:
        data = self._arrived(True, raw, peer)
        if data is None:
            return
        try:
            packets = parse_compound(data)
        except RtcpError:
            self.counters["malformed"] += 1
            return
        self.counters["rtcp_received"] += 1
        ours = self.sender.ssrc if self.sender else None
        for pkt in packets:
            if isinstance(pkt, SenderReport):
                self._last_sr = (middle32(pkt.ntp_timestamp), arrival)
            if isinstance(pkt, (SenderReport, ReceiverReport)):
                for block in pkt.reports:
                    if block.ssrc == ours and block.lsr:
                        rtt = rtt_seconds(block, ntp_now(time.time()))
                        if rtt is not None and rtt >= 0:
                            self.rtt = rtt

    async def _rtcp_loop(self) -> None:
        await trio.sleep(self.rtcp_interval * random.uniform(0.25, 0.75))
        while True:
            await self._send_rtcp()
            await trio.sleep(self.rtcp_interval * random.uniform(0.5, 1.5))

    def _report(self, *, bye: bool = False) -> bytes:
        assert self.sender is not None
        blocks = []
        if self.receiver is not None and self._remote_ssrc is not None and self.receiver.received:
            lsr, dlsr = 0, 0
            if self._last_sr is not None:
                lsr = self._last_sr[0]
                dlsr = int((trio.current_time() - self._last_sr[1]) * 65536)
            blocks.append(self.receiver.report_block(lsr, dlsr))
        ssrc = self.sender.ssrc
        first: Any
        if self.sender.packets_sent:
            first = SenderReport(ssrc, ntp_now(time.time()), self.sender.last_timestamp,
                                 self.sender.packets_sent, self.sender.octets_sent, blocks)
        else:
            first = ReceiverReport(ssrc, blocks)
        packets: list[Any] = [first, SourceDescription([(ssrc, [(1, self.cname.encode())])])]
        if bye:
            packets.append(Bye([ssrc], None))
        return serialize_compound(packets)

    async def _send_rtcp(self, *, bye: bool = False) -> None:
        if self.sender is None or self.params is None or self.rtcp is None:
            return
        data = self._report(bye=bye)
        self.counters["rtcp_sent"] += 1
        await self._send(data, rtcp=True)

    # -- commands ------------------------------------------------------------------------
    async def send_dtmf(self, digits: str, duration_ms: int = 160) -> None:
        """RFC 4733 telephone-events in the RTP stream, one digit after another (with a 60 ms gap)."""
        p = self.params
        if p is None or p.telephone_event_pt is None or self.sender is None:
            raise ValueError("the peer did not accept telephone-event (RFC 4733) for this call")
        for digit in digits.upper():
            if digit not in DTMF_EVENTS:
                raise ValueError(f"{digit!r} is not a DTMF digit (0-9, *, #, A-D)")
        for digit in digits.upper():
            packets = self.sender.dtmf(DTMF_EVENTS.index(digit), duration_ms, payload_type=p.telephone_event_pt,
                                       ptime=p.ptime)
            for pkt in packets:
                await self._send(pkt.to_bytes(), rtcp=False)
                await trio.sleep(p.ptime / 1000)
            await trio.sleep(0.06)

    # -- reporting -----------------------------------------------------------------------
    def stats(self) -> dict[str, Any]:
        p, s, r = self.params, self.sender, self.receiver
        received = r.received if r else 0
        expected = r.expected if r else 0
        lost = max(0, r.cumulative_lost) if r else 0
        return {
            "local": f"{self.host}:{self.port}",
            "remote": f"{p.remote_host}:{p.remote_port}" if p else "",
            "codec": f"{p.encoding}/{p.clock_rate}" if p else "",
            "payload_type": p.payload_type if p else 0,
            "direction": p.direction if p else "",
            "srtp": (p.srtp_suite or "") if p else "",
            "packets_sent": s.packets_sent if s else 0,
            "octets_sent": s.octets_sent if s else 0,
            "packets_received": received,
            "packets_expected": expected,
            "packets_lost": lost,
            "loss_percent": round(100.0 * lost / expected, 2) if expected else 0.0,
            "jitter_ms": round(r.jitter_ms, 3) if r else 0.0,
            "rtt_ms": round(self.rtt * 1000, 3) if self.rtt is not None else None,
            "dtmf_received": self.dtmf_received,
            **self.counters,
        }
