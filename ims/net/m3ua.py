"""The ASP end of an M3UA association (RFC 4666), kept up over SCTP or TCP: the MGCF's link to the exchange.

:class:`M3uaLink` connects (SCTP where the kernel has it — a one-to-one
socket used as a stream — or TCP, a lab convenience), runs the sans-IO
:class:`ims.isup.m3ua.M3uaAsp` (ASP Up, ASP Active, BEAT), reconnects with
back-off when the association drops, hands each ISUP payload to
``on_isup`` and sends ISUP in DATA.  With an event bus, every M3UA message
it sends or receives is published (kind "m3ua", written to captures as
SCTP/M3UA so Wireshark decodes the ISUP).
"""

from __future__ import annotations

import logging
import socket
from typing import Any

import trio

from ims.control.events import EventBus, NodeEvent
from ims.isup.m3ua import (
    Data,
    FramingLost,
    IsupReceived,
    M3uaAsp,
    M3uaError,
    M3uaFramer,
    M3uaProblem,
    SendBytes,
    StateChanged,
    decode_m3ua,
)
from ims.isup.messages import IsupError, decode
from ims.net.boundary import internal_error

log = logging.getLogger("ims.net.m3ua")

IPPROTO_SCTP = getattr(socket, "IPPROTO_SCTP", 132)


class M3uaLink:
    """The ASP end of the M3UA association to the exchange, over TCP, kept up with back-off."""

    def __init__(self, host: str, port: int, local: str, on_isup: Any, events: EventBus | None = None,
                 transport: str = "tcp") -> None:
        self.host, self.port, self.local = host, port, local
        self.transport = transport
        self.on_isup = on_isup
        self.events = events
        self._rx_framer = M3uaFramer()
        self._ends = ("", "")
        self.asp: M3uaAsp | None = None
        self.stream: trio.SocketStream | None = None
        self.up = trio.Event()
        self.stats = {"m3ua_connects": 0, "isup_sent": 0, "isup_received": 0, "isup_dropped": 0, "m3ua_problems": 0}

    @property
    def state(self) -> str:
        return self.asp.state.value if self.asp is not None else "ASP-DOWN"

    async def run(self) -> None:
        delay = 0.5
        while True:
            try:
                stream = await self._connect()
            except OSError as exc:
                log.info("M3UA: cannot connect to %s:%d (%s); again in %.1f s", self.host, self.port, exc, delay)
                await trio.sleep(delay)
                delay = min(delay * 2, 10.0)
                continue
            delay = 0.5
            self.stats["m3ua_connects"] += 1
            self.stream, self.asp = stream, M3uaAsp(beat_interval=10.0)
            here, there = stream.socket.getsockname(), stream.socket.getpeername()
            self._ends, self._rx_framer = (f"{here[0]}:{here[1]}", f"{there[0]}:{there[1]}"), M3uaFramer()
            try:
                async with stream, trio.open_nursery() as nursery:
                    nursery.start_soon(self._timers)
                    await self._act(self.asp.start(trio.current_time()))
                    while True:
                        data = await stream.receive_some(65536)
                        if not data:
                            break
                        self._publish_in(data)
                        if not await self._receive(self.asp, data):
                            log.warning("M3UA framing lost on the association to %s:%d; closing it", self.host,
                                        self.port)
                            break
                    nursery.cancel_scope.cancel()
            except (trio.BrokenResourceError, trio.ClosedResourceError, OSError) as exc:
                log.info("M3UA association lost: %s", exc)
            self.stream, self.asp = None, None
            self.up = trio.Event()
            log.info("M3UA association to %s:%d down; reconnecting", self.host, self.port)
            await trio.sleep(delay)

    async def _connect(self) -> trio.SocketStream:
        if self.transport == "sctp":  # RFC 4666 §1.4.8: one-to-one SCTP socket, used as a stream
            sock = trio.socket.socket(trio.socket.AF_INET, trio.socket.SOCK_STREAM, IPPROTO_SCTP)
            try:
                await sock.bind((self.local, 0))
                await sock.connect((self.host, self.port))
            except OSError:
                sock.close()
                raise
            return trio.SocketStream(sock)
        return await trio.open_tcp_stream(self.host, self.port, local_address=self.local)

    async def _timers(self) -> None:
        while True:
            asp = self.asp
            deadline = asp.next_deadline() if asp else None
            await trio.sleep_until(deadline if deadline is not None else trio.current_time() + 0.5)
            if asp is not None and asp is self.asp:
                await self._act(asp.handle_timer(trio.current_time()))

    async def _receive(self, asp: M3uaAsp, data: bytes) -> bool:
        """Handle what arrived one M3UA message at a time, each its own error boundary (an unexpected
        exception is logged, counted in ``internal_errors`` and costs that message only); False when the
        stream's framing is lost (the ERR is sent, the caller closes the connection)."""
        asp.receive_data(data)
        while True:
            try:
                events = asp.next_events(trio.current_time())
                if events is None:
                    return True
                await self._act(events)
            except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
                raise
            except Exception:  # one message must not end the association
                internal_error("m3ua", f"M3UA message from {self.host}:{self.port}", logger=log)
                continue
            if any(isinstance(ev, FramingLost) for ev in events):
                return False

    async def _act(self, events: list[Any]) -> None:
        for ev in events:
            if isinstance(ev, SendBytes):
                if self.stream is not None:
                    self._publish("out", ev.data)
                    await self.stream.send_all(ev.data)
            elif isinstance(ev, StateChanged):
                log.info("M3UA %s", ev.state.value)
                if ev.state.value == "ASP-ACTIVE":
                    self.up.set()
            elif isinstance(ev, IsupReceived):
                self.stats["isup_received"] += 1
                try:
                    await self.on_isup(ev)
                except Exception:  # the ISUP user's failure costs this message only
                    internal_error("isup", f"ISUP from point code {ev.opc} ({len(ev.isup_bytes)} octets)", logger=log)
            elif isinstance(ev, M3uaProblem):
                self.stats["m3ua_problems"] += 1
                log.info("M3UA: %s", ev.reason)

    # -- what crossed, for ladders and captures (M3UA events, written as SCTP/M3UA in pcaps) ----------
    def _publish_in(self, data: bytes) -> None:
        if self.events is None or not self.events.subscribers:
            return
        try:
            for raw in self._rx_framer.feed(data):
                self._publish("in", raw)
        except M3uaError:
            self._rx_framer = M3uaFramer()

    def _publish(self, direction: str, raw: bytes) -> None:
        if self.events is None or not self.events.subscribers:
            return
        src, dst = self._ends if direction == "out" else self._ends[::-1]
        self.events.publish(NodeEvent("m3ua", direction, src, dst, "sctp", raw, m3ua_summary(raw)))

    async def send(self, opc: int, dpc: int, sls: int, data: bytes) -> bool:
        asp = self.asp
        if asp is None or self.stream is None:
            self.stats["isup_dropped"] += 1
            return False
        try:
            out = asp.send_isup(opc, dpc, sls, data)
        except M3uaError as exc:
            self.stats["isup_dropped"] += 1
            log.warning("ISUP not sent: %s", exc)
            return False
        self.stats["isup_sent"] += 1
        await self._act(list(out))
        return True


def m3ua_summary(raw: bytes) -> str:
    """"IAM CIC 3" (ISUP in DATA), "AspUp (M3UA)"... for ladders and flow expectations."""
    try:
        msg = decode_m3ua(raw)
    except M3uaError:
        return "M3UA (undecodable)"
    if isinstance(msg, Data):
        try:
            isup = decode(msg.user_data)
            return f"{isup.type.name} CIC {isup.cic}"
        except IsupError:
            return "DATA (undecodable ISUP)"
    return f"{type(msg).__name__} (M3UA)"
