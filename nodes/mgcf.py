"""MGCF node: SIP <-> ISUP interworking toward the PSTN exchange; the call logic is ``ims.isup.mgcf``.

    python -m nodes.mgcf --topology topologies/volte-pstn.toml --node mgcf

What it listens on: SIP (UDP/TCP) on the node's address for INVITEs from the
BGCF (O-MGCF) and for the responses to the INVITEs it sends toward the
I-CSCF (I-MGCF).  What it connects to: the PSTN exchange named by ``peer``
over M3UA (RFC 4666) on the exchange's ``m3ua_port`` — over SCTP where the
kernel has it, else over TCP (a lab convenience; ``--m3ua-transport``) — as
an ASP (ASP Up, ASP Active,
reconnecting with back-off), ISUP in DATA with the point codes of the lab
file; and the IM-MGW named by ``mgw`` over its gRPC control service (a lab
stand-in for H.248 on Mn), one context per call: the IMS-side termination
and the circuit's fixed termination (``trunk_ports``).
"""

from __future__ import annotations

import argparse
import logging
import socket
import sys
from typing import Any

import trio

from ims.control.client import ControlError
from ims.control.mgw import MgwClient
from ims.cscf.lab import sip_address
from ims.control.events import EventBus, NodeEvent
from ims.isup.m3ua import (
    Data, IsupReceived, M3uaAsp, M3uaError, M3uaFramer, M3uaProblem, SendBytes, StateChanged, decode_m3ua,
)
from ims.isup.messages import IsupError, decode, encode
from ims.isup.mgcf import Mgcf, MgcfConfig, MgwOp, SendIsup
from ims.net.node import NodeContext, parse_node_args, run_node, sip_event_hook
from ims.net.sip import SipStack
from ims.sip.events import TimerConfig
from ims.topology import TopologyError, load

log = logging.getLogger("nodes.mgcf")

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
                        await self._act(self.asp.receive(data, trio.current_time()))
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
                await self.on_isup(ev)
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


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m nodes.mgcf", description=__doc__.splitlines()[0])
    p.add_argument("--topology", required=True, help="the lab file")
    p.add_argument("--node", required=True, help="this node's name in the lab file")
    p.add_argument("--run-dir", default=".", help="the lab's run directory (unused)")
    p.add_argument("--m3ua-transport", choices=["auto", "sctp", "tcp"], default="auto",
                   help="M3UA over sctp or tcp; auto (default): sctp where the kernel has it, else tcp (the "
                        "exchange makes the same choice)")
    args = parse_node_args(p, "mgcf", argv)
    if args.m3ua_transport == "auto":
        from ims.net.sip import sctp_available

        args.m3ua_transport = "sctp" if sctp_available()[0] else "tcp"
    try:
        topo = load(args.topology)
        tnode = topo.node(args.node)
        pstn = topo.node(tnode.peer or "")
        mgw = topo.node(tnode.mgw or "")
    except (TopologyError, KeyError) as exc:
        p.error(f"{args.topology}: {exc}")
    if tnode.kind != "mgcf" or pstn.trunk_ports is None or mgw.trunk_ports is None:
        p.error(f"node {args.node} must be an MGCF with a peer exchange and an IM-MGW that have trunk_ports")
    args.name = tnode.name
    args.control_port = args.control_port or tnode.control_port
    domain = topo.domain_of(tnode)
    icscf = next((n for n in topo.nodes_of("icscf") if topo.domain_of(n) is domain), None)
    addr = sip_address(tnode)
    opc, dpc = tnode.point_code or 0, pstn.point_code or 0
    config = MgcfConfig(
        domain=domain.name, host=addr.host, port=addr.port, icscf=sip_address(icscf) if icscf else None,
        opc=opc, dpc=dpc, circuits=tnode.circuits, controls_even=opc > dpc, country_code=domain.country_code,
        national_prefix=domain.national_prefix, mgw_host=mgw.address, mgw_trunk_base=mgw.trunk_ports[0],
        pstn_host=pstn.address, pstn_trunk_base=pstn.trunk_ports[0],
        timers=TimerConfig(t1=tnode.timers.t1, t2=tnode.timers.t2, t4=tnode.timers.t4))

    async def serve(node: NodeContext) -> None:
        core = Mgcf(config)
        transports = tuple(t for t in (tnode.sip.transports if tnode.sip else ["udp"]) if t in ("udp", "tcp"))
        stack = SipStack(core, host=addr.host, port=addr.port, transports=transports or ("udp",),
                         on_message=sip_event_hook(node.events), impairments=node.control.impairments)
        mgw_client = MgwClient(f"127.0.0.1:{mgw.control_port}", timeout=5.0)

        async def on_isup(ev: IsupReceived) -> None:
            try:
                msg = decode(ev.isup_bytes)
            except IsupError as exc:
                link.stats["isup_dropped"] += 1
                log.info("undecodable ISUP from %d: %s", ev.opc, exc)
                return
            await stack.execute(core.isup_received(msg, trio.current_time()))

        link = M3uaLink(pstn.address, pstn.m3ua_port or 2905, tnode.address, on_isup, node.events,
                        transport=args.m3ua_transport)

        async def mgw_op(op: MgwOp) -> None:
            try:
                result = await trio.to_thread.run_sync(_mgw_call, mgw_client, op)
                error = ""
            except ControlError as exc:
                result, error = None, str(exc)
                log.warning("IM-MGW %s failed: %s", op.op, exc)
            try:
                actions = op.done(result, error, trio.current_time())
            except Exception:  # noqa: BLE001
                log.exception("after IM-MGW %s", op.op)
                return
            await stack.execute(actions)

        async def events(nursery: trio.Nursery) -> None:
            async for ev in stack.events:
                if isinstance(ev, SendIsup):
                    data = encode(ev.msg)
                    if not await link.send(opc, dpc, ev.msg.cic & 0x1F, data):
                        log.warning("circuit %d: %s lost (no M3UA association)", ev.msg.cic, ev.msg.type.name)
                elif isinstance(ev, MgwOp):
                    nursery.start_soon(mgw_op, ev)

        node.control.stats = lambda: {**core.stats, **stack.stats, **link.stats, "calls": len(core.calls),
                                      "circuits_busy": len(core.by_cic), "m3ua_active": int(link.state == "ASP-ACTIVE")}
        node.control.config = lambda: {"sip": f"{addr.host}:{addr.port}", "pstn": f"{pstn.address}:{pstn.m3ua_port}",
                                       "point_codes": f"{opc}->{dpc}", "mgw": f"127.0.0.1:{mgw.control_port}"}
        await node.start_control()
        await node.nursery.start(stack.run)
        node.nursery.start_soon(events, node.nursery)
        node.nursery.start_soon(link.run)
        node.log.info("SIP on %s:%d; M3UA (%s) to %s:%d (OPC %d, DPC %d); IM-MGW control 127.0.0.1:%d", addr.host,
                      addr.port, args.m3ua_transport, pstn.address, pstn.m3ua_port or 2905, opc, dpc,
                      mgw.control_port)
        with trio.move_on_after(10):
            await link.up.wait()
        if link.state != "ASP-ACTIVE":
            node.log.warning("no M3UA association to the exchange yet: calls to the PSTN fail until it is up")
        await node.ready()

    return run_node(serve, kind="mgcf", args=args)


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


def _mgw_call(client: MgwClient, op: MgwOp) -> dict[str, Any]:
    """One IM-MGW operation (blocking gRPC, on a worker thread)."""
    a = op.args
    if op.op == "setup":
        ims = client.add(media=a["ims"])
        tdm_media = dict(a["tdm"])
        port = tdm_media.pop("local_port")
        try:
            tdm = client.add(ims["context_id"], media=tdm_media, local_port=port)
        except ControlError:
            client.subtract(ims["termination_id"])
            raise
        return {"context": ims["context_id"], "ims": ims, "tdm": tdm}
    if op.op == "modify_ims":
        return client.modify(a["termination_id"], media=a["media"])
    if op.op == "release":
        out = {}
        for t in a["terminations"]:
            try:
                out[t] = client.subtract(t)["stats"]
            except ControlError as exc:
                log.info("releasing %s: %s", t, exc)
        return out
    raise ValueError(f"unknown IM-MGW operation {op.op!r}")


if __name__ == "__main__":
    sys.exit(main())
