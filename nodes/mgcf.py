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
import sys
from typing import Any

import trio

from ims.control.client import ControlError
from ims.control.mgw import MgwClient
from ims.cscf.lab import sip_address
from ims.isup.m3ua import IsupReceived
from ims.isup.messages import IsupError, decode, encode
from ims.isup.mgcf import Mgcf, MgcfConfig, MgwOp, SendIsup
from ims.net.boundary import internal_error
from ims.net.limits import apply_limits
from ims.net.m3ua import M3uaLink
from ims.net.node import NodeContext, parse_node_args, run_node, sip_event_hook
from ims.net.sip import SipStack
from ims.sip.events import TimerConfig
from ims.topology import TopologyError, load

log = logging.getLogger("nodes.mgcf")


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
        apply_limits(topo.limits_of(tnode), kind="mgcf", stacks=(stack,))
        mgw_client = MgwClient(f"127.0.0.1:{mgw.control_port}", timeout=5.0)

        async def on_isup(ev: IsupReceived) -> None:
            try:
                msg = decode(ev.isup_bytes)
            except IsupError as exc:  # Q.764 §2.9.5: CFN, or REL cause 95 for a call in progress
                link.stats["isup_dropped"] += 1
                log.info("undecodable ISUP from %d: %s (cause %d)", ev.opc, exc, exc.cause)
                await stack.execute(core.isup_undecodable(ev.isup_bytes, exc, trio.current_time()))
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
            except Exception:  # noqa: BLE001 - the call's failure, not the node's
                internal_error("mgw", f"the IM-MGW's answer to {op.op}", logger=log)
                return
            await stack.execute(actions)

        async def events(nursery: trio.Nursery) -> None:
            async for ev in stack.events:
                try:
                    if isinstance(ev, SendIsup):
                        data = encode(ev.msg)
                        if not await link.send(opc, dpc, ev.msg.cic & 0x1F, data):
                            log.warning("circuit %d: %s lost (no M3UA association)", ev.msg.cic, ev.msg.type.name)
                    elif isinstance(ev, MgwOp):
                        nursery.start_soon(mgw_op, ev)
                except Exception:  # noqa: BLE001 - one action that cannot be carried out must not end the node
                    internal_error("isup.send", type(ev).__name__, logger=log)

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
