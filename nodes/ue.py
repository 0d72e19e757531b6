"""UE node: simulated VoLTE handsets, many per process (``ims.ue.handset`` on ``ims.net.ue``).

    python -m nodes.ue --topology topologies/volte-basic.toml --node ue

Every ``[[ues]]`` entry of the lab file whose ``node`` is this node becomes a
handset with the subscriber's USIM (IMSI, K, OPc, AMF, SQN) or MD5 password,
on the node's address at port 5060 + its index among them, behind its
P-CSCF.  Handsets whose behaviour says ``register_on_start`` register when
the node starts (retrying while the core is unreachable).  The gRPC control
service adds the Ue service (register, call, answer, reject, hang up,
status; ``ims.control.ue.UeClient``).
"""

from __future__ import annotations

import argparse
import sys
from functools import partial
from pathlib import Path

import trio

from ims.control.gen import ue_pb2_grpc
from ims.control.ue import UeServicer
from ims.net.impair import from_topology as impair_from_topology
from ims.net.limits import apply_limits
from ims.net.node import NodeContext, parse_node_args, run_node
from ims.net.ue import Behaviour, Handset, keep_registered
from ims.sip.events import Address, TimerConfig
from ims.topology import Topology, TopologyError, load
from ims.ue.handset import ImsHandset
from ims.ue.lab import subscription_for

BASE_PORT = 5060


def handsets(topo: Topology, node_name: str) -> list[tuple[str, ImsHandset, Behaviour]]:
    """The handsets of node ``node_name``, built from the lab file."""
    node = topo.node(node_name)
    out = []
    for i, ue in enumerate(u for u in topo.ues if u.node == node_name):
        identity = subscription_for(topo, ue)
        pcscf = topo.node(ue.pcscf)
        local = Address(node.address, BASE_PORT + i, ue.transport)
        sip = pcscf.sip
        pport = (sip.tls_port or 5061) if ue.transport == "tls" and sip else (sip.port if sip else 5060)
        h = ImsHandset(identity, local, Address(pcscf.address, pport, ue.transport),
                       timers=TimerConfig(t1=node.timers.t1, t2=node.timers.t2, t4=node.timers.t4), user=ue.name)
        b = ue.behaviour
        out.append((ue.name, h, Behaviour(b.register_on_start, b.auto_answer, b.answer_after, b.busy,
                                          b.preconditions, srtp=b.srtp, codecs=tuple(b.codecs), media=b.media,
                                          media_enabled=b.media_enabled,
                                          retry_without_preconditions=b.retry_without_preconditions)))
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m nodes.ue", description=__doc__.splitlines()[0])
    p.add_argument("--topology", required=True, help="the lab file")
    p.add_argument("--node", required=True, help="this node's name in the lab file")
    p.add_argument("--run-dir", default=".", help="the lab's run directory (unused)")
    p.add_argument("--no-register", action="store_true", help="do not register on start, whatever the lab says")
    args = parse_node_args(p, "ue", argv)
    try:
        topo = load(args.topology)
        tnode = topo.node(args.node)
    except (TopologyError, KeyError) as exc:
        p.error(f"{args.topology}: {exc}")
    args.name = tnode.name
    args.control_port = args.control_port or tnode.control_port

    async def serve(node: NodeContext) -> None:
        phones = {}
        for name, h, b in handsets(topo, tnode.name):
            tls = None
            if h.local.transport == "tls":  # a handset on SIP over TLS listens on TLS too, at its own port
                from ims.net.tls import lab_stack_settings

                tls = lab_stack_settings(h.local.host, Path(args.run_dir) / "tls", tls_port=h.local.port)
            phones[name] = Handset(name, h, behaviour=b, events=node.events, impairments=node.control.impairments,
                                   tls=tls)
        apply_limits(topo.limits_of(tnode), kind="ue", stacks=tuple(h.stack for h in phones.values()))
        for rule in impair_from_topology(node.control.impairments, topo, tnode.name):
            node.log.info("impairment toward %s", rule)
        node.control.add_servicer(ue_pb2_grpc.add_UeServicer_to_server, UeServicer(node.control, phones))
        node.control.stats = lambda: {
            "handsets": len(phones), "registered": sum(h.ue.registered for h in phones.values()),
            "active_calls": sum(1 for h in phones.values() for c in h.calls.values() if c.state == "confirmed"),
            "calls": sum(len(h.calls) for h in phones.values())}
        await node.start_control()
        for h in phones.values():
            await node.nursery.start(h.run)
            node.log.info("handset %s (%s) on %s:%d", h.name, h.ue.sub.impu, h.ue.local.host, h.ue.local.port)

        async def deregister_all() -> None:
            # TS 24.229 §5.1.1.6: a handset switched off deregisters (bounded: the core may be gone).
            with trio.move_on_after(3):
                async with trio.open_nursery() as n:
                    for h in phones.values():
                        if h.ue.registered:
                            n.start_soon(h.deregister, 2.0)

        node.on_shutdown(deregister_all)
        await node.ready()
        if not args.no_register:
            for i, h in enumerate(phones.values()):
                if h.behaviour.register_on_start:
                    # Handsets power on one after another, not all in the same millisecond.
                    node.nursery.start_soon(partial(keep_registered, h, first_delay=0.3 * i))

    return run_node(serve, kind="ue", args=args)


if __name__ == "__main__":
    sys.exit(main())
