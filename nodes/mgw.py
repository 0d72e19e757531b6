"""IM-MGW: the media gateway of the lab, relaying RTP/SRTP between the IMS side and the PSTN side.

    python -m nodes.mgw --topology topologies/volte-pstn.toml --node mgw
    python -m nodes.mgw --address 127.0.9.70 --rtp-ports 30000:30999 --control-port 7170

What it listens on: RTP/RTCP port pairs from the node's ``rtp_ports`` range
(one pair per termination, opened when a controller adds it), and the gRPC
control service on 127.0.0.1: the Node service plus Mgw (Add, Modify,
Subtract, Audit - a lab stand-in for H.248 on Mn, ``ims.control.mgw``).

What it does to a packet: see :mod:`ims.media.relay` (SRTP on one side and
plain RTP on the other, PCMU <-> PCMA, payload type rewriting, latching);
the packets move on one epoll thread (:mod:`ims.net.relay`), never on the
trio loop.  Node stats report the contexts, terminations and packets
relayed; Audit gives per-termination loss and jitter.
"""

from __future__ import annotations

import argparse
import sys

import trio

from ims.control.gen import mgw_pb2_grpc
from ims.control.mgw import MgwServicer
from ims.net.node import NodeContext, parse_node_args, run_node
from ims.net.relay import RelayPump
from ims.topology import TopologyError, load


def _ports(text: str) -> tuple[int, int]:
    try:
        first, last = (int(x) for x in text.split(":"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"--rtp-ports wants FIRST:LAST, got {text!r}") from None
    if not 1024 <= first < last <= 65535:
        raise argparse.ArgumentTypeError(f"--rtp-ports {text}: need 1024 <= FIRST < LAST <= 65535")
    return first, last


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m nodes.mgw", description=__doc__.splitlines()[0])
    p.add_argument("--topology", help="the lab file")
    p.add_argument("--node", help="this node's name in the lab file")
    p.add_argument("--run-dir", default=".", help="the lab's run directory (unused)")
    p.add_argument("--address", help="address the RTP ports bind (default: the node's)")
    p.add_argument("--rtp-ports", type=_ports, help="FIRST:LAST port range (default: the node's, or 30000:39999)")
    args = parse_node_args(p, "mgw", argv)
    address, ports = args.address, args.rtp_ports
    if args.topology:
        if not args.node:
            p.error("--topology needs --node")
        try:
            tnode = load(args.topology).node(args.node)
        except (TopologyError, KeyError) as exc:
            p.error(f"{args.topology}: {exc}")
        args.name = tnode.name
        args.control_port = args.control_port or tnode.control_port
        address = address or tnode.address
        ports = ports or tnode.rtp_ports
    address = address or "127.0.0.1"
    ports = ports or (30000, 39999)

    async def serve(node: NodeContext) -> None:
        pump = RelayPump(address, ports, events=node.events)
        node.control.add_servicer(mgw_pb2_grpc.add_MgwServicer_to_server, MgwServicer(pump))

        def stats() -> dict[str, int]:
            contexts = pump.snapshot()
            return {"contexts": len(contexts), "terminations": sum(len(t) for _, t in contexts),
                    "free_port_pairs": len(pump.pool.free), **pump.stats}

        node.control.stats = stats

        async def relay() -> None:
            pump.start()
            try:
                await trio.sleep_forever()
            finally:
                pump.stop()  # joins the pump thread (it polls every 0.2 s)

        node.nursery.start_soon(relay)
        node.log.info("RTP relay on %s ports %d-%d", address, *ports)
        await node.ready()

    return run_node(serve, kind="mgw", args=args)


if __name__ == "__main__":
    sys.exit(main())
