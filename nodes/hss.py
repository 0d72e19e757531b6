"""HSS: the subscriber database of the lab, serving Cx to the I-CSCF and S-CSCF over Diameter.

    python -m nodes.hss --db hss.sqlite --diameter 127.0.1.10:3868 \
        --origin-host hss.ims.example.net --realm ims.example.net [--topology lab.toml]

Listens for Diameter peers (CER/CEA, DWR/DWA, DPR/DPA), answers UAR, MAR,
SAR and LIR from SQLite (on one worker thread, never on the event loop), and
pushes RTR/PPR to the S-CSCF that serves a user when asked (``--deregister``
hooks are in :meth:`Hss.deregister`).  With ``--topology`` the subscribers,
service profiles and S-CSCF capabilities of the lab file are provisioned at
start (existing records are left alone).  SIGTERM sends DPR to every peer.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sqlite3
import sys
from typing import Any

import trio

from ims.control.gen import hss_pb2_grpc
from ims.control.server import ControlServer
from ims.diameter import cx as cxmsg
from ims.diameter.codec import DiameterMessage
from ims.diameter.errors import DiameterError
from ims.diameter.peer import LocalIdentity
from ims.hss.control import HssServicer
from ims.hss.cx import HssConfig, HssCx
from ims.hss.store import Store, StoreError, make_subscriber
from ims.net import logs
from ims.net.diameter import DiameterNode, PeerConn

log = logging.getLogger("nodes.hss")


class Hss:
    def __init__(self, store: Store, config: HssConfig, host_ip: str) -> None:
        self.store = store
        self.cx = HssCx(store, config)
        self.config = config
        self.limiter = trio.CapacityLimiter(1)  # one SQLite connection, one thread at a time
        self.server_hosts: dict[str, str] = {}  # Server-Name (SIP URI) -> S-CSCF Diameter identity
        self.diameter = DiameterNode(LocalIdentity(config.origin_host, config.origin_realm, host_ip),
                                     handler=self.on_request)
        self._queue_send, self._queue = trio.open_memory_channel[tuple[DiameterMessage, trio.Event, list]](10000)

    async def on_request(self, msg: DiameterMessage, conn: PeerConn) -> DiameterMessage:
        server = msg.get_str(cxmsg.SERVER_NAME, cxmsg.V)
        if server and msg.origin_host:
            self.server_hosts[server] = msg.origin_host
        done, slot = trio.Event(), []  # type: ignore[var-annotated]
        await self._queue_send.send((msg, done, slot))
        await done.wait()
        answer = slot[0]
        if isinstance(answer, Exception):
            raise answer
        log.debug("%s -> %s", msg.summary(), answer.result_code,
                  extra={"session_id": msg.session_id, "command": msg.summary(), "result": answer.result_code})
        return answer

    async def store_worker(self, *, batch_max: int = 64) -> None:
        """Group commit: every Cx request waiting now is answered in one SQLite transaction
        on the store thread; answers leave only after that commit (so SQNs are durable)."""
        async for first in self._queue:
            batch = [first]
            while len(batch) < batch_max:
                try:
                    batch.append(self._queue.receive_nowait())
                except trio.WouldBlock:
                    break
            answers = await trio.to_thread.run_sync(self.cx.handle_batch, [m for m, _, _ in batch],
                                                    limiter=self.limiter)
            for (_, done, slot), answer in zip(batch, answers):
                slot.append(answer)
                done.set()

    async def run_store(self, fn: Any, *args: Any) -> Any:
        """Run a store operation on the store thread (never on the loop)."""
        return await trio.to_thread.run_sync(fn, *args, limiter=self.limiter)

    def counters(self) -> dict[str, float]:
        return {**self.cx.stats, **self.diameter.stats, "peers": len(self.diameter.peers)}

    async def deregister(self, impi: str, reason: int = 8, info: str = "") -> int | None:
        """Network-initiated deregistration: RTR to the serving S-CSCF (TS 29.228 §6.2.1)."""
        rtr, server = await trio.to_thread.run_sync(self.cx.build_rtr, impi, reason, info, limiter=self.limiter)
        host = self.server_hosts.get(server)
        if host:
            rtr.add(cxmsg.avp(293, host))  # Destination-Host
        rta = await self.diameter.request(rtr)
        if rta.result_code == 2001:
            await trio.to_thread.run_sync(self.store.set_registration, impi, "NOT_REGISTERED", None,
                                          limiter=self.limiter)
        return rta.result_code

    async def push_profile(self, impi: str) -> int | None:
        ppr, server = await trio.to_thread.run_sync(self.cx.build_ppr, impi, limiter=self.limiter)
        host = self.server_hosts.get(server)
        if host:
            ppr.add(cxmsg.avp(293, host))
        return (await self.diameter.request(ppr)).result_code


def provision_from_topology(store: Store, path: str, node_name: str | None) -> int:
    """Seed subscribers, service profiles and the S-CSCF capability table from a lab file."""
    from ims.topology import load

    topo = load(path)
    added = 0
    for sp in topo.service_profiles:
        store.set_service_profile(sp.name, [i.model_dump() for i in sp.ifcs])
    for n in topo.nodes_of("scscf"):
        caps = n.capabilities
        sip = n.sip
        name = f"sip:{n.address}:{sip.port if sip else 5060}"
        store.set_scscf_capabilities(name, caps.mandatory if caps else [], caps.optional if caps else [])
    for s in topo.subscribers:
        if store.get(s.impi) is None:
            store.add(make_subscriber(s.model_dump()))
            added += 1
    return added


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m nodes.hss", description="HSS node (Cx over Diameter)")
    p.add_argument("--db", help="SQLite store (created if missing)")
    p.add_argument("--diameter", default="127.0.0.1:3868", help="listen host:port")
    p.add_argument("--origin-host")
    p.add_argument("--realm")
    p.add_argument("--topology", help="lab file whose subscribers are provisioned at start")
    p.add_argument("--node", help="with --topology: take this node's address, identity and ports from it")
    p.add_argument("--run-dir", default=".", help="with --node: where the store lives (NAME.sqlite)")
    p.add_argument("--name", default="hss")
    p.add_argument("--ccf", help="Primary-Charging-Collection-Function-Name sent in SAA (DiameterURI)")
    p.add_argument("--control-port", type=int, default=0, help="gRPC control port on 127.0.0.1 (0: none)")
    p.add_argument("--log-level", default="INFO")
    args = p.parse_args(argv)
    if args.topology and args.node:
        from ims.topology import load

        topo = load(args.topology)
        node = topo.node(args.node)
        assert node.diameter is not None
        args.name = node.name
        args.diameter = f"{node.address}:{node.diameter.port}"
        args.origin_host = args.origin_host or topo.diameter_identity(node)
        args.realm = args.realm or topo.domain_of(node).diameter_realm
        args.db = args.db or f"{args.run_dir}/{node.name}.sqlite"
        args.control_port = args.control_port or node.control_port
    for required in ("db", "origin_host", "realm"):
        if not getattr(args, required):
            p.error(f"--{required.replace('_', '-')} is required (or --topology with --node)")
    return args


async def main_async(args: argparse.Namespace, *, task_status: trio.TaskStatus[Hss] = trio.TASK_STATUS_IGNORED) -> None:
    host, _, port = args.diameter.rpartition(":")
    try:
        store = Store(args.db)
    except sqlite3.Error as exc:
        raise StoreError(f"cannot open the store {args.db}: {exc}") from None
    if args.topology:
        added = provision_from_topology(store, args.topology, args.name)
        log.info("provisioned %d subscribers from %s", added, args.topology)
    # Charging-Information (TS 29.229 §6.3.19): the lab's CCF address, a DiameterURI in the home realm.
    ccf = args.ccf or f"aaa://ccf.{args.realm}:3868;transport=tcp"
    hss = Hss(store, HssConfig(args.origin_host, args.realm, (args.realm,), ccf), host)
    stop = trio.Event()
    async with trio.open_nursery() as nursery:
        await nursery.start(_signals, stop)  # first: a SIGTERM during start-up still stops cleanly
        await nursery.start(hss.diameter.run)
        nursery.start_soon(hss.store_worker)
        bound = await nursery.start(hss.diameter.serve, host, int(port))
        log.info("listening on %s:%d as %s", host, bound, args.origin_host)
        if args.control_port:
            control = ControlServer(args.name, "hss", port=args.control_port)
            control.stats = hss.counters
            control.add_servicer(hss_pb2_grpc.add_HssServicer_to_server, HssServicer(control, hss))
            cport = await nursery.start(control.serve)
            log.info("control on 127.0.0.1:%d", cport)
            nursery.start_soon(_wait_then_set, control.shutdown_requested, stop)
        task_status.started(hss)
        await stop.wait()
        log.info("stopping: DPR to %d peers", len(hss.diameter.peers))
        await hss.diameter.close()
        nursery.cancel_scope.cancel()
    store.close()


async def _signals(stop: trio.Event, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
    with trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
        task_status.started()
        async for _ in signals:
            stop.set()
            return


async def _wait_then_set(event: trio.Event, stop: trio.Event) -> None:
    await event.wait()
    stop.set()


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logs.setup(args.name, args.log_level)
    try:
        trio.run(main_async, args)
    except (OSError, StoreError, DiameterError) as exc:
        log.error("cannot start: %s", exc)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
