"""HSS: the subscriber database of the lab, serving Cx/Dx to the I-CSCF and S-CSCF over Diameter.

    python -m nodes.hss --name hss --diameter 127.0.6.1:3868 --origin-host hss.ims.example.com \
        --realm ims.example.com --db hss.sqlite --control-port 7010 [--topology lab.toml]
    python -m nodes.hss --config lab.toml --node hss [--run-dir DIR]

What it listens on: Diameter over TCP (CER/CEA, DWR/DWA, DPR/DPA by the
driver) for UAR, MAR, SAR and LIR (TS 29.228 §6.1, §6.3), and the gRPC
control service on 127.0.0.1 (Node + Hss services: provisioning, RTR, PPR).

How it answers: every Cx request is queued to one store thread, which
answers all requests waiting at that moment in one SQLite transaction
(group commit) and only then hands the answers back - so the SQN of every
vector in an MAA is on disk before the MAA is written (kill -9 at any point
never leads to an SQN being issued twice).  The event loop never touches
SQLite.  Provisioning changes take the same thread.

What it pushes: RTR (network-initiated deregistration, TS 29.228 §6.1.3)
and PPR (profile change, §6.2.2) to the S-CSCF serving the user, by the
Diameter identity stored at its SAR, over the connection that S-CSCF opened.

With ``--topology`` the lab file's subscribers, service profiles and S-CSCF
capabilities are provisioned at start (existing subscribers are kept).
SIGTERM (or the Shutdown RPC) sends DPR to every peer and exits 0.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable
from typing import Any

import trio

from ims.control.gen import hss_pb2_grpc
from ims.control.hss import HssServicer
from ims.diameter.codec import DiameterMessage
from ims.diameter.errors import DiameterError, DiameterTimeout
from ims.diameter.peer import LocalIdentity
from ims.hss.cx import HssConfig, HssCx
from ims.hss.provisioning import make_subscriber, parse_csv_rows, provision_from_topology
from ims.hss.store import Store, StoreError
from ims.net.diameter import DiameterNode, PeerConn
from ims.net.limits import apply_limits
from ims.net.node import NodeContext, diameter_event_hook, parse_node_args, run_node

log = logging.getLogger("nodes.hss")

_Job = tuple[DiameterMessage, trio.Event, list[Any]]


class Hss:
    """The HSS function: a Diameter node whose Cx requests are answered from the store thread."""

    def __init__(self, store: Store, config: HssConfig, host_ip: str, *, batch_max: int = 256) -> None:
        self.store = store
        self.cx = HssCx(store, config)
        self.config = config
        self.batch_max = batch_max
        self.limiter = trio.CapacityLimiter(1)  # one SQLite connection, used by one thread at a time
        self.diameter = DiameterNode(LocalIdentity(config.origin_host, config.origin_realm, host_ip),
                                     handler=self.on_request)
        self._jobs_in, self._jobs = trio.open_memory_channel[_Job](100_000)
        self.stats = {"batches": 0, "batched_requests": 0, "rtr": 0, "ppr": 0}

    # -- Cx server ---------------------------------------------------------------------
    async def on_request(self, msg: DiameterMessage, conn: PeerConn) -> DiameterMessage:
        done, slot = trio.Event(), []  # type: ignore[var-annotated]
        self._jobs_in.send_nowait((msg, done, slot))  # bounded only by memory: the peers bound what is outstanding
        await done.wait()
        answer = slot[0]
        if isinstance(answer, Exception):
            raise answer  # DiameterError: the driver answers with its result code
        return answer  # type: ignore[no-any-return]

    async def store_worker(self) -> None:
        """Group commit: the requests waiting now are answered in one SQLite transaction on the
        store thread; their answers leave only after that commit (so SQNs are durable)."""
        async for first in self._jobs:
            batch = [first]
            while len(batch) < self.batch_max:
                try:
                    batch.append(self._jobs.receive_nowait())
                except trio.WouldBlock:
                    break
            try:
                answers = await trio.to_thread.run_sync(self.cx.handle_batch, [m for m, _, _ in batch],
                                                        limiter=self.limiter)
            except Exception as exc:  # noqa: BLE001 - the commit itself failed: no answer is valid
                log.exception("store batch of %d failed", len(batch))
                answers = [DiameterError(5012, f"HSS store failure: {exc}")] * len(batch)
            self.stats["batches"] += 1
            self.stats["batched_requests"] += len(batch)
            for (_, done, slot), answer in zip(batch, answers):
                slot.append(answer)
                done.set()

    async def run_store(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Run a store operation on the store thread (never on the loop)."""
        return await trio.to_thread.run_sync(fn, *args, limiter=self.limiter)

    def counters(self) -> dict[str, int | float]:
        return {**self.cx.stats, **self.diameter.stats, **self.stats, "peers": len(self.diameter.peers)}

    # -- HSS-initiated ----------------------------------------------------------------
    async def deregister(self, identity: str, reason: int = 0, info: str = "") -> int:
        """Network-initiated deregistration: RTR to the serving S-CSCF; the RTA's result code."""
        push = await self.run_store(self.cx.build_rtr, identity, reason, info)
        log.info("RTR for %s to %s", identity, push.destination_host or push.server_name)
        rta = await self.diameter.request(push.request)
        self.stats["rtr"] += 1
        await self.run_store(self.cx.rtr_answered, push, rta.result_code)
        return int(rta.result_code or 0)

    async def push_profile(self, identity: str) -> int:
        """PPR with the current User-Data to the serving S-CSCF; the PPA's result code, 0 if none serves."""
        push = await self.run_store(self.cx.build_ppr, identity)
        if push is None:
            return 0
        log.info("PPR for %s to %s", identity, push.destination_host or push.server_name)
        ppa = await self.diameter.request(push.request)
        self.stats["ppr"] += 1
        return int(ppa.result_code or 0)

    # -- provisioning (the Hss gRPC service) --------------------------------------------------
    async def add(self, record: dict[str, Any]) -> None:
        await self.run_store(self.store.add, make_subscriber(record))

    async def find(self, identity: str) -> dict[str, Any] | None:
        def read() -> dict[str, Any] | None:
            sub = self.store.find(identity)
            if sub is None:
                return None
            rows = self.store.impu_rows(sub.impi)
            return {**sub.public(), "irs": sub.irs,
                    "registration": [f"{r.impu} {r.state} {r.scscf or '-'}" for r in rows]}
        return await self.run_store(read)  # type: ignore[no-any-return]

    async def list_all(self) -> list[dict[str, Any]]:
        return await self.run_store(self.store.list)  # type: ignore[no-any-return]

    async def delete(self, impi: str) -> None:
        await self.run_store(self.store.delete, impi)

    async def import_csv(self, text: str, name: str) -> int:
        subs, where = parse_csv_rows(text, name)
        return await self.run_store(self.store.add_many, subs, where)  # type: ignore[no-any-return]

    async def update(self, identity: str, service_profile: str | None, barred: bool | None) -> int:
        """Provisioning edit; TS 29.228 §6.2.2: a served user's S-CSCF gets the new profile by PPR."""
        impi = identity
        if service_profile is not None:
            impi = await self.run_store(self.store.set_subscriber_profile, identity, service_profile)
        if barred is not None:
            impi = await self.run_store(self.store.set_barring, identity, barred)
        return await self.push_profile(impi)

    async def set_service_profile(self, name: str, ifcs: list[dict[str, Any]], ifc_xml: str | None) -> int:
        """Create or replace a profile; a PPR to the S-CSCF of every served user that has it."""
        if ifc_xml:
            import xml.etree.ElementTree as ET

            try:
                ET.fromstring(f"<ifcs>{ifc_xml}</ifcs>")
            except ET.ParseError as exc:
                raise StoreError(f"ifc_xml: not XML: {exc}") from None
        impis = await self.run_store(self.store.set_service_profile, name, ifcs, ifc_xml)
        sent = 0
        for impi in impis:
            if await self.push_profile(impi):
                sent += 1
        return sent


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m nodes.hss", description="HSS node (Cx/Dx over Diameter)")
    p.add_argument("--db", help="SQLite store (created if missing)")
    p.add_argument("--diameter", default="127.0.6.1:3868", help="Diameter listen host:port")
    p.add_argument("--origin-host", help="Diameter identity (Origin-Host)")
    p.add_argument("--realm", help="Diameter realm (Origin-Realm)")
    p.add_argument("--topology", "--config", dest="topology",
                   help="lab file: its subscribers are provisioned at start; with --node, this node's settings")
    p.add_argument("--node", help="with --topology: take this node's address, identity and ports from it")
    p.add_argument("--run-dir", default=".", help="with --node: where the store lives (NAME.sqlite)")
    p.add_argument("--ccf", help="Primary-Charging-Collection-Function-Name sent in SAA (DiameterURI)")
    p.add_argument("--home-network", action="append", default=[],
                   help="Visited-Network-Identifier allowed to register (repeatable; default: the realm)")
    return p


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = build_parser()
    args = parse_node_args(p, "hss", argv)
    if args.topology and args.node:
        from ims.topology import load

        topo = load(args.topology)
        node = topo.node(args.node)
        if node.diameter is None:
            p.error(f"node {args.node} of {args.topology} has no [diameter] section")
        args.name = node.name
        args.diameter = f"{node.address}:{node.diameter.port}"
        args.origin_host = args.origin_host or topo.diameter_identity(node)
        args.realm = args.realm or topo.domain_of(node).diameter_realm
        args.db = args.db or f"{args.run_dir}/{node.name}.sqlite"
        args.control_port = args.control_port or node.control_port
        args.limits = topo.limits_of(node)
    for required in ("db", "origin_host", "realm"):
        if not getattr(args, required):
            p.error(f"--{required.replace('_', '-')} is required (or --topology with --node)")
    return args


async def serve(node: NodeContext) -> None:
    args = node.args
    host, _, port = args.diameter.rpartition(":")
    try:
        store = Store(args.db)
        if args.topology:
            added = provision_from_topology(store, args.topology, args.name)
            node.log.info("provisioned %d subscribers from %s", added, args.topology)
    except StoreError as exc:
        raise OSError(str(exc)) from None  # run_node: "cannot start: ...", exit 1
    # Charging-Information (TS 29.229 §6.3.19): the lab's CCF address, a DiameterURI in the home realm.
    ccf = args.ccf or f"aaa://ccf.{args.realm}:3868;transport=tcp"
    config = HssConfig(args.origin_host, args.realm, tuple(args.home_network) or (args.realm,), ccf)
    hss = Hss(store, config, host)
    if getattr(args, "limits", None) is not None:  # the lab file's [limits]: message bounds, 3004 beyond
        apply_limits(args.limits, kind="hss", diameter=hss.diameter)
    hss.diameter.on_message = diameter_event_hook(node.events)  # ladders and pcaps see Cx
    node.control.stats = hss.counters
    node.control.config = lambda: {"diameter": args.diameter, "origin_host": args.origin_host,
                                   "realm": args.realm, "db": str(args.db), "ccf": ccf}
    node.control.add_servicer(hss_pb2_grpc.add_HssServicer_to_server,
                              HssServicer(node.control, hss, (ValueError, DiameterError, DiameterTimeout)))
    await node.start_control()
    await node.nursery.start(hss.diameter.run)
    node.nursery.start_soon(hss.store_worker)
    bound = await node.nursery.start(hss.diameter.serve, host, int(port))
    node.log.info("Diameter on %s:%d as %s", host, bound, args.origin_host)
    node.on_shutdown(hss.diameter.close)  # DPR to every peer (RFC 6733 §5.4) before the nursery goes
    await node.ready()


def main(argv: list[str] | None = None) -> int:
    return run_node(serve, kind="hss", args=parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
