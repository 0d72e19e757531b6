"""PSTN exchange: the lab's simulated telephone exchange at the far end of the MGCF's ISUP circuits.

    python -m nodes.pstn --topology topologies/volte-pstn.toml --node pstn

What it listens on: M3UA (RFC 4666) on (its address, ``m3ua_port``), as the
SGP/IPSP server end: it answers ASP Up / ASP Active with their Acks and
Notify (:class:`ims.isup.M3uaSgp`) and carries ISUP in DATA with OPC/DPC =
the point codes, SI 5, SLS = CIC & 0x1F.  RFC 4666 runs over SCTP; the lab
runs it over TCP by default, a convenience (the sandbox kernel has no SCTP,
nor has trio), with the stream split by the M3UA message length.  The
transport is pluggable: ``--m3ua-transport sctp`` listens on a one-to-one
SCTP socket (SOCK_STREAM, IPPROTO_SCTP) where the kernel has it, fed to the
same code.  Several MGCF associations may come and go; ISUP toward the MGCF
goes over the association that became ASP-ACTIVE last (another active one
when it goes).  And the gRPC control service: the Node service plus Pstn
(Call, Hangup, WaitCall, Status; ``ims.control.pstn.PstnClient``).

How it routes: the sans-IO :class:`ims.isup.exchange.Exchange` (Q.764,
simplified) looks the called number up in the lab's ``[[pstn.lines]]`` and
answers, rings out, refuses busy or unallocated; it takes the even circuits
for its own calls when its point code is the higher one.  For every answered
call on circuit CIC it runs an RTP stream (G.711 A-law, payload type 8, 20 ms)
from its port ``trunk_ports[0] + 2 * (CIC - 1)`` to the IM-MGW's port of the
same circuit (the ``mgw`` of its peer MGCF), with the line's media as source,
and keeps the stream's final statistics on the call.

Bad input never takes the node down: malformed M3UA is answered with ERR by
the SGP machine (RFC 4666 §3.8.1), and a stream whose framing is lost gets
its ERR and is closed while the listener keeps serving; ISUP that does not
decode is answered as Q.764 §2.9.5 has it (CFN cause 97 for an unknown
message type, REL cause 95 for a call in progress) and counted; each M3UA
message is its own error boundary (``ims.net.boundary``: logged, counted in
``internal_errors``), so one that fails costs that message only.
"""

from __future__ import annotations

import argparse
import itertools
import logging
import math
import socket
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import trio

from ims.control.events import EventBus, NodeEvent
from ims.control.gen import pstn_pb2_grpc
from ims.control.pstn import PstnServicer
from ims.isup import AspState, IsupError, IsupMessage, M3uaError, M3uaSgp, decode, encode
from ims.isup.exchange import (
    Action, CallChanged, Call, Exchange, ExchangeConfig, ExchangeError, SendIsup, StartMedia, StopMedia, STATES,
)
from ims.isup.m3ua import FramingLost, IsupReceived, M3uaProblem, Notified, SendBytes, StateChanged
from ims.media.source import make_source
from ims.media.stream import StreamParams
from ims.net.boundary import internal_error
from ims.net.impair import Impairments
from ims.net.media import MediaStream
from ims.net.node import NodeContext, media_event_hook, parse_node_args, run_node
from ims.topology import TopologyError, load

log = logging.getLogger("nodes.pstn")

M3UA_PORT = 2905  # IANA-registered M3UA port (RFC 4666 §1.4.8 / §10)
SEND_QUEUE = 1000  # M3UA messages queued per association before we drop (and log)
IPPROTO_SCTP = getattr(socket, "IPPROTO_SCTP", 132)


# --- M3UA transports -----------------------------------------------------------------------------

async def tcp_listeners(host: str, port: int) -> list[trio.SocketListener]:
    """M3UA over TCP: the lab's default (a stream; ``M3uaFramer`` finds the message boundaries)."""
    return await trio.open_tcp_listeners(port, host=host)


async def sctp_listeners(host: str, port: int) -> list[trio.SocketListener]:
    """M3UA over SCTP (RFC 4666 §1.4.8), one-to-one style: raises OSError where the kernel has no SCTP."""
    try:
        sock = trio.socket.socket(trio.socket.AF_INET6 if ":" in host else trio.socket.AF_INET,
                                  trio.socket.SOCK_STREAM, IPPROTO_SCTP)
    except OSError as exc:
        raise OSError(exc.errno, f"M3UA over SCTP: {exc.strerror} (no SCTP in this kernel? "
                                 f"use --m3ua-transport tcp)") from None
    try:
        sock.setsockopt(trio.socket.SOL_SOCKET, trio.socket.SO_REUSEADDR, 1)
        await sock.bind((host, port))
        sock.listen(16)
    except OSError:
        sock.close()
        raise
    return [trio.SocketListener(sock)]


TRANSPORTS: dict[str, Callable[[str, int], Awaitable[list[trio.SocketListener]]]] = {
    "tcp": tcp_listeners, "sctp": sctp_listeners,
}


class Association:
    """One MGCF connection: its SGP state machine and its queue of bytes to send."""

    def __init__(self, ident: int, peer: str) -> None:
        self.id = ident
        self.peer = peer
        self.sgp = M3uaSgp()
        self.outbox, self.inbox = trio.open_memory_channel[bytes](SEND_QUEUE)
        self.dropped = 0

    @property
    def state(self) -> AspState:
        return self.sgp.state

    def queue(self, data: bytes) -> None:
        try:
            self.outbox.send_nowait(data)
        except trio.WouldBlock:
            self.dropped += 1
            log.warning("M3UA association %d (%s): send queue full, message dropped", self.id, self.peer)
        except (trio.ClosedResourceError, trio.BrokenResourceError):
            log.debug("M3UA association %d closed: message not sent", self.id)


# --- the node -------------------------------------------------------------------------------------

class PstnNode:
    """The exchange's trio driver: M3UA associations, the Q.764 core, its timers and the RTP streams."""

    def __init__(self, config: ExchangeConfig, *, host: str, m3ua_port: int, transport: str = "tcp",
                 events: EventBus | None = None, impairments: Impairments | None = None) -> None:
        self.config = config
        self.exchange = Exchange(config)
        self.host = host
        self.m3ua_port = m3ua_port
        self.transport = transport
        self.events = events
        self.impairments = impairments
        self.associations: dict[int, Association] = {}
        self.active: Association | None = None
        self.streams: dict[int, tuple[MediaStream, Call | None]] = {}
        self._media_done: dict[int, trio.Event] = {}
        self._ids = itertools.count(1)
        self._changed = trio.Event()
        self._rearm = trio.Event()
        self._nursery: trio.Nursery | None = None
        self.counters: dict[str, int] = {"m3ua_connections": 0, "m3ua_problems": 0, "isup_in": 0, "isup_out": 0,
                                         "isup_malformed": 0, "isup_misrouted": 0, "isup_unsent": 0,
                                         "media_errors": 0}

    # -- serving ---------------------------------------------------------------------------------
    async def serve(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Listen for M3UA, run the timers and the media streams; ``started()`` once listening."""
        listeners = await TRANSPORTS[self.transport](self.host, self.m3ua_port)
        log.info("M3UA (%s) on %s:%d, point code %d, peer %d, circuits 1..%d (%s ours)", self.transport, self.host,
                 self.m3ua_port, self.config.point_code, self.config.peer_point_code, self.config.circuits,
                 "even" if self.exchange.controls_even else "odd")
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            nursery.start_soon(self._timers)
            nursery.start_soon(trio.serve_listeners, self._association, listeners)
            task_status.started()

    async def _association(self, stream: trio.SocketStream) -> None:
        ident = next(self._ids)
        try:
            host, port = stream.socket.getpeername()[:2]
            peer = f"{host}:{port}"
        except OSError:
            peer = "?"
        assoc = Association(ident, peer)
        self.associations[ident] = assoc
        self.counters["m3ua_connections"] += 1
        log.info("M3UA association %d from %s", ident, peer)
        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._writer, assoc, stream, nursery.cancel_scope)
                while True:
                    data = await stream.receive_some(65536)
                    if not data:
                        nursery.cancel_scope.cancel()
                        break
                    if not self._on_bytes(assoc, data):
                        # framing lost: the ERR goes out, then the connection closes (the writer ends
                        # when its queue is closed and drained; at most 1 s)
                        assoc.outbox.close()
                        nursery.cancel_scope.deadline = trio.current_time() + 1.0
                        break
        except (trio.BrokenResourceError, trio.ClosedResourceError, OSError) as exc:
            log.info("M3UA association %d (%s): %s", ident, peer, exc)
        except Exception:  # noqa: BLE001 - one connection's failure must not stop the exchange
            internal_error("m3ua.association", f"M3UA association {ident} from {peer}", logger=log)
        finally:
            del self.associations[ident]
            assoc.outbox.close()
            if self.active is assoc:
                self._pick_active()
            log.info("M3UA association %d (%s) closed", ident, peer)
            await trio.aclose_forcefully(stream)

    async def _writer(self, assoc: Association, stream: trio.SocketStream, scope: trio.CancelScope) -> None:
        try:
            async for data in assoc.inbox:
                await stream.send_all(data)
        except (trio.BrokenResourceError, trio.ClosedResourceError, OSError) as exc:
            log.info("M3UA association %d: send failed: %s", assoc.id, exc)
        scope.cancel()

    def _pick_active(self) -> None:
        others = [a for a in self.associations.values() if a.state is AspState.ACTIVE]
        self.active = others[-1] if others else None
        log.info("ISUP now goes over %s", f"association {self.active.id}" if self.active else "no association")

    # -- M3UA and ISUP in --------------------------------------------------------------------------
    def _on_bytes(self, assoc: Association, data: bytes) -> bool:
        """Handle what arrived, one M3UA message at a time, each its own error boundary; False when the
        stream's framing is lost and the connection must close."""
        now = trio.current_time()
        summary: list[str] = []
        assoc.sgp.receive_data(data)
        framed = True
        while framed:
            try:
                events = assoc.sgp.next_events(now)
                if events is None:
                    break
                framed = self._on_events(assoc, events, now, summary)
            except Exception:  # noqa: BLE001 - one message's failure costs that message only
                internal_error("m3ua", f"M3UA message on association {assoc.id} ({assoc.peer})", logger=log)
                summary.append("internal error")
        self._publish("in", assoc, data, "; ".join(summary) or "M3UA")
        return framed

    def _on_events(self, assoc: Association, events: list[Any], now: float, summary: list[str]) -> bool:
        framed = True
        for ev in events:
            if isinstance(ev, SendBytes):
                assoc.queue(ev.data)
            elif isinstance(ev, StateChanged):
                log.info("M3UA association %d (%s): %s", assoc.id, assoc.peer, ev.state.value)
                summary.append(ev.state.value)
                if ev.state is AspState.ACTIVE:
                    self.active = assoc
                elif self.active is assoc:
                    self._pick_active()
            elif isinstance(ev, IsupReceived):
                summary.append(self._on_isup(ev, now))
            elif isinstance(ev, M3uaProblem):
                self.counters["m3ua_problems"] += 1
                log.warning("M3UA association %d (%s): %s", assoc.id, assoc.peer, ev.reason)
                summary.append(f"M3UA problem: {ev.reason}")
            elif isinstance(ev, Notified):
                log.info("M3UA association %d: NTFY type %d info %d", assoc.id, ev.status_type, ev.status_info)
            elif isinstance(ev, FramingLost):
                log.warning("M3UA association %d (%s): framing lost (%s); closing it", assoc.id, assoc.peer,
                            ev.reason)
                summary.append("framing lost")
                framed = False
        return framed

    def _on_isup(self, ev: IsupReceived, now: float) -> str:
        if ev.dpc != self.config.point_code or ev.opc != self.config.peer_point_code:
            self.counters["isup_misrouted"] += 1
            log.warning("ISUP from point code %d to %d: not for us (%d from %d), discarded", ev.opc, ev.dpc,
                        self.config.point_code, self.config.peer_point_code)
            return "ISUP misrouted"
        try:
            msg = decode(ev.isup_bytes)
        except IsupError as exc:  # Q.764 §2.9.5: CFN or REL with the cause the error carries
            self.counters["isup_malformed"] += 1
            log.warning("malformed ISUP from point code %d: %s (cause %d)", ev.opc, exc, exc.cause)
            self._apply(self.exchange.receive_undecodable(ev.isup_bytes, exc, now))
            return "ISUP malformed"
        self.counters["isup_in"] += 1
        log.info("ISUP in: %s CIC %d", msg.type.name, msg.cic)
        try:
            self._apply(self.exchange.receive_isup(msg, now))
        except Exception:  # noqa: BLE001 - the core promises not to raise; if it does, log and carry on
            internal_error("isup", f"{msg.type.name} CIC {msg.cic}", logger=log)
        return f"{msg.type.name} CIC {msg.cic}"

    # -- actions ---------------------------------------------------------------------------------
    def _apply(self, actions: list[Action]) -> None:
        for action in actions:
            if isinstance(action, SendIsup):
                self._send_isup(action.msg)
            elif isinstance(action, StartMedia):
                self._start_media(action)
            elif isinstance(action, StopMedia):
                self._stop_media(action.cic)
            elif isinstance(action, CallChanged):
                self._changed.set()
                self._changed = trio.Event()
        self._rearm.set()

    def _send_isup(self, msg: IsupMessage) -> None:
        assoc = self.active
        if assoc is None or assoc.state is not AspState.ACTIVE:
            self.counters["isup_unsent"] += 1
            log.warning("no ASP-ACTIVE M3UA association: %s CIC %d not sent", msg.type.name, msg.cic)
            return
        try:
            data = encode(msg)
            sends = assoc.sgp.send_isup(self.config.point_code, self.config.peer_point_code, msg.cic & 0x1F, data)
        except (IsupError, M3uaError) as exc:
            self.counters["isup_unsent"] += 1
            log.error("%s CIC %d not sent: %s", msg.type.name, msg.cic, exc)
            return
        self.counters["isup_out"] += 1
        log.info("ISUP out: %s CIC %d", msg.type.name, msg.cic)
        for s in sends:
            assoc.queue(s.data)
            self._publish("out", assoc, s.data, f"{msg.type.name} CIC {msg.cic}")

    def _publish(self, direction: str, assoc: Association, data: bytes, summary: str) -> None:
        if self.events is None or not self.events.subscribers:
            return
        here = f"{self.host}:{self.m3ua_port}"
        src, dst = (assoc.peer, here) if direction == "in" else (here, assoc.peer)
        # "sctp" whatever carried it: captures show M3UA as SIGTRAN does, so Wireshark decodes it
        self.events.publish(NodeEvent("m3ua", direction, src, dst, "sctp", data, summary))

    def _start_media(self, a: StartMedia) -> None:
        old = self.streams.pop(a.cic, None)
        if old is not None:
            old[0].close()
        source = a.source
        try:
            make_source(source, "PCMA")  # a missing WAV file is said here, not deep in the stream's task
        except (ValueError, OSError) as exc:
            log.warning("CIC %d: media source %r: %s; sending silence", a.cic, source, exc)
            source = "silence"
        stream = MediaStream(self.host, impairments=self.impairments, source=source,
                             cname=f"pstn-cic{a.cic}@{self.host}", on_packet=media_event_hook(self.events))
        self.streams[a.cic] = (stream, self.exchange.call_on(a.cic))
        assert self._nursery is not None
        self._nursery.start_soon(self._run_media, a, stream)

    async def _run_media(self, a: StartMedia, stream: MediaStream) -> None:
        previous = self._media_done.get(a.cic)
        done = self._media_done[a.cic] = trio.Event()
        try:
            if previous is not None:  # the circuit's last stream must have let go of the port pair
                with trio.move_on_after(1.0):
                    await previous.wait()
            if stream.closed:
                return
            await stream.bind(a.local_port)
            if stream.closed:  # released while binding
                stream.close()
                return
            log.info("CIC %d: RTP PCMA %s:%d -> %s:%d (%s)", a.cic, self.host, a.local_port, a.remote_host,
                     a.remote_port, stream.source_spec)
            await stream.run(StreamParams(a.remote_host, a.remote_port, 8, "PCMA", 8000, ptime=20))
        except OSError as exc:
            self.counters["media_errors"] += 1
            log.warning("CIC %d: media on %s:%d: %s", a.cic, self.host, a.local_port, exc)
        except Exception:  # noqa: BLE001 - a stream's failure ends that stream, not the exchange
            self.counters["media_errors"] += 1
            log.exception("CIC %d: media stream failed", a.cic)
        finally:
            done.set()

    def _stop_media(self, cic: int) -> None:
        entry = self.streams.pop(cic, None)
        if entry is None:
            return
        stream, call = entry
        stream.close()
        if call is not None:
            call.media = stream.stats()

    # -- timers ----------------------------------------------------------------------------------
    async def _timers(self) -> None:
        while True:
            deadline = self.exchange.next_deadline()
            self._rearm = trio.Event()
            with trio.move_on_at(deadline if deadline is not None else math.inf):
                await self._rearm.wait()
            now = trio.current_time()
            if deadline is not None and now >= deadline:
                try:
                    self._apply(self.exchange.handle_timers(now))
                except Exception:  # noqa: BLE001 - see _on_isup
                    internal_error("isup.timers", "the exchange's timers", logger=log)

    # -- what the control service calls (trio thread) ----------------------------------------------
    def call(self, calling: str, called: str) -> tuple[bool, str, int]:
        if self.active is None or self.active.state is not AspState.ACTIVE:
            return False, "no M3UA association is ASP-ACTIVE (is the MGCF connected?)", 0
        try:
            cic, actions = self.exchange.originate(calling, called, trio.current_time())
        except ExchangeError as exc:
            return False, exc.reason + (f" (cause {exc.cause})" if exc.cause else ""), 0
        self._apply(actions)
        return True, f"IAM sent on CIC {cic}", cic

    def hangup(self, cic: int) -> tuple[bool, str]:
        try:
            actions = self.exchange.hangup(cic, trio.current_time())
        except ExchangeError as exc:
            return False, exc.reason
        self._apply(actions)
        return True, f"REL sent on CIC {cic}" if actions else f"CIC {cic} is already releasing"

    async def wait(self, cic: int, states: tuple[str, ...], timeout: float) -> dict[str, Any] | None:
        bad = [s for s in states if s not in STATES]
        if bad:
            raise ValueError(f"unknown call state(s) {', '.join(bad)}; use {', '.join(STATES)}")
        with trio.move_on_after(timeout):
            while True:
                call = self.exchange.latest(cic)
                if call is not None and call.state in states:
                    return self._call_dict(call)
                await self._changed.wait()
        return None

    def _call_dict(self, call: Call) -> dict[str, Any]:
        d = call.as_dict()
        entry = self.streams.get(call.cic)
        if entry is not None and entry[1] is call:
            d["media"] = entry[0].stats()
        return d

    def status(self) -> dict[str, Any]:
        return {
            "lines": [{"number": x.number, "behaviour": x.behaviour, "answer_after": x.answer_after,
                       "media": x.media} for x in self.config.lines],
            "calls": [self._call_dict(c) for c in self.exchange.records],
            "m3ua_state": self.m3ua_state, "associations": len(self.associations),
            "circuits": self.config.circuits, "circuits_busy": len(self.exchange.active),
            "point_code": self.config.point_code, "peer_point_code": self.config.peer_point_code,
        }

    @property
    def m3ua_state(self) -> str:
        if self.active is not None:
            return self.active.state.value
        states = [a.state for a in self.associations.values()]
        return AspState.INACTIVE.value if AspState.INACTIVE in states else AspState.DOWN.value

    def stats(self) -> dict[str, int]:
        ex = self.exchange
        return {
            "calls": ex.counters["calls_in"] + ex.counters["calls_out"],
            "active": sum(1 for c in ex.active.values() if c.state == "answered"),
            "circuits_busy": len(ex.active),
            "m3ua_associations": len(self.associations),
            "m3ua_active": sum(1 for a in self.associations.values() if a.state is AspState.ACTIVE),
            "media_streams": len(self.streams),
            **ex.counters, **self.counters,
        }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m nodes.pstn", description=__doc__.splitlines()[0])
    p.add_argument("--topology", required=True, help="the lab file")
    p.add_argument("--node", required=True, help="this node's name in the lab file")
    p.add_argument("--run-dir", default=".", help="the lab's run directory (unused)")
    p.add_argument("--m3ua-transport", choices=["auto", *sorted(TRANSPORTS)], default="auto",
                   help="M3UA over sctp (RFC 4666; needs kernel SCTP) or tcp; auto (default): sctp where the "
                        "kernel has it, else tcp (the MGCF makes the same choice)")
    args = parse_node_args(p, "pstn", argv)
    if args.m3ua_transport == "auto":
        from ims.net.sip import sctp_available

        args.m3ua_transport = "sctp" if sctp_available()[0] else "tcp"
    try:
        topo = load(args.topology)
        tnode = topo.node(args.node)
        if tnode.kind != "pstn":
            raise ValueError(f"node {tnode.name!r} is a {tnode.kind}, not a pstn")
        config = ExchangeConfig.from_topology(topo, args.node, base_dir=Path(args.topology).resolve().parent)
    except KeyError as exc:
        p.error(f"{args.topology}: no node {exc}")
    except (TopologyError, ValueError) as exc:
        p.error(f"{args.topology}: {exc}")
    args.name = tnode.name
    args.control_port = args.control_port or tnode.control_port

    async def serve(node: NodeContext) -> None:
        pstn = PstnNode(config, host=tnode.address, m3ua_port=tnode.m3ua_port or M3UA_PORT,
                        transport=args.m3ua_transport, events=node.events, impairments=node.control.impairments)
        node.control.add_servicer(pstn_pb2_grpc.add_PstnServicer_to_server, PstnServicer(node.control, pstn))
        node.control.stats = pstn.stats
        node.control.config = lambda: {
            "point_code": str(config.point_code), "peer_point_code": str(config.peer_point_code),
            "m3ua": f"{tnode.address}:{pstn.m3ua_port}/{args.m3ua_transport}", "m3ua_state": pstn.m3ua_state,
            "circuits": str(config.circuits), "own_circuits": "even" if pstn.exchange.controls_even else "odd",
            "trunk": f"{config.local_host}:{config.trunk_base} -> {config.mgw_host}:{config.mgw_trunk_base}",
            "lines": str(len(config.lines)),
        }
        await node.nursery.start(pstn.serve)
        await node.ready()

    return run_node(serve, kind="pstn", args=args)


if __name__ == "__main__":
    sys.exit(main())
