"""The trio driver of a CSCF: its SIP stack, its Diameter client to the HSS, and the Cx queries between.

``CscfRunner(app, ...)`` binds the SIP transports for a :class:`~ims.cscf.common.CscfApp`,
connects to the HSS peers (reconnecting with back-off; a CSCF whose HSS is
down still answers SIP, with the 480/500 TS 24.229 prescribes), and runs
each Cx query the app submits in its own task: the answer (or None after a
timeout or with no open peer) goes back to the app, whose actions are sent.
On the S-CSCF, RTR and PPR from the HSS are answered by the app
(``on_rtr``/``on_ppr``).  Every SIP and Diameter message sent or received is
published on the node's event bus when someone listens (ladders, pcaps).

Each Cx answer is its own error boundary: an answer that cannot be read, or an
app that fails on it, is logged and counted (``internal_errors``), the query
is failed (the app sees no answer) and the node goes on.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import trio

from ims.control.events import EventBus
from ims.cscf.common import CscfApp, CxQuery
from ims.cscf.lab import DiameterSetup
from ims.diameter import cx
from ims.diameter.codec import DiameterMessage
from ims.diameter.constants import CMD_PP, CMD_RT, DIAMETER_UNABLE_TO_COMPLY
from ims.diameter.errors import DiameterError
from ims.diameter.peer import LocalIdentity
from ims.diameter.userdata import UserDataError
from ims.net.boundary import internal_error
from ims.net.diameter import DiameterNode, PeerConn
from ims.net.impair import Impairments
from ims.net.impair import from_topology as impair_from_topology
from ims.net.limits import apply_limits
from ims.net.node import diameter_event_hook, sip_event_hook
from ims.net.overload import diameter_limit_from_env
from ims.net.persist import StateWriter, open_state, state_path
from ims.net.sip import SipStack

log = logging.getLogger("ims.net.cscf")

DIAMETER_INVALID_AVP_VALUE = 5004


class CscfRunner:
    def __init__(self, app: CscfApp, *, host: str, port: int, transports: tuple[str, ...] = ("udp", "tcp"),
                 diameter: DiameterSetup | None = None, events: EventBus | None = None,
                 request_timeout: float = 5.0, impairments: Impairments | None = None,
                 tls: dict[str, Any] | None = None) -> None:
        self.app = app
        self.events = events
        self.stack = SipStack(app, host=host, port=port, transports=transports, on_message=sip_event_hook(events),
                              impairments=impairments, **(tls or {}))
        self.diameter: DiameterNode | None = None
        self.setup = diameter
        if diameter is not None:
            self.diameter = DiameterNode(LocalIdentity(diameter.origin_host, diameter.realm, diameter.host_ip),
                                         request_timeout=request_timeout, on_message=diameter_event_hook(events))
            if hasattr(app, "on_rtr"):
                self.diameter.add_handler(CMD_RT, self._rtr)
                self.diameter.add_handler(CMD_PP, self._ppr)
        self._send, self._queries = trio.open_memory_channel[CxQuery](1000)
        # Overload control: Cx queries in progress are bounded (memory flat); beyond, one fails at once
        # and the app answers as for an HSS that does not answer (TS 24.229; ims.net.overload).
        self.cx_in_flight, self.cx_limit = 0, diameter_limit_from_env().limit
        app.submit = self._submit
        self.cx_failures = 0
        self.state: StateWriter | None = None  # the state file's writer, when the node keeps one

    # -- lifecycle -----------------------------------------------------------------
    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        async with trio.open_nursery() as nursery:
            await nursery.start(self.stack.run)
            if self.diameter is not None and self.setup is not None:
                for peer_host, addr, port in self.setup.peers:
                    nursery.start_soon(self._connect, addr, port, peer_host)
            nursery.start_soon(self._drain_events)
            nursery.start_soon(self._serve_queries, nursery)
            task_status.started()

    async def _connect(self, addr: str, port: int, peer_host: str) -> None:
        assert self.diameter is not None
        await self.diameter.connect(addr, port, peer_host=peer_host)

    async def wait_for_hss(self, timeout: float = 10.0) -> bool:
        if self.diameter is None:
            return True
        try:
            await self.diameter.wait_for_peer(timeout=timeout)
        except trio.TooSlowError:
            return False
        return True

    async def close(self) -> None:
        """Graceful stop: DPR to the HSS (RFC 6733 §5.4)."""
        if self.diameter is not None:
            await self.diameter.close()

    async def _drain_events(self) -> None:
        async for _ in self.stack.events:
            pass  # the CSCFs act in their cores; app-level events are not used

    # -- Cx ---------------------------------------------------------------------------
    def _submit(self, query: CxQuery) -> None:
        try:
            if self.cx_limit and self.cx_in_flight >= self.cx_limit:
                raise trio.WouldBlock
            self._send.send_nowait(query)
            self.cx_in_flight += 1
        except trio.WouldBlock:  # the HSS is far behind; fail this one at once
            self.cx_failures += 1
            self.stack._nursery.start_soon(self._finish, query, None)  # type: ignore[union-attr]

    async def _serve_queries(self, nursery: trio.Nursery) -> None:
        async for query in self._queries:
            nursery.start_soon(self._ask, query)

    async def _ask(self, query: CxQuery) -> None:
        answer: Any = None
        if self.diameter is None:
            log.error("no HSS configured for %s", type(query.request).__name__)
        else:
            try:
                msg = await self.diameter.request(query.request)
                answer = cx.parse(msg)
            except DiameterError as exc:
                self.cx_failures += 1
                log.warning("%s failed: %s", type(query.request).__name__, exc)
            except Exception:  # noqa: BLE001 - an unreadable answer fails this query, never the node
                self.cx_failures += 1
                internal_error("diameter.cx", f"the answer to a {type(query.request).__name__}", logger=log)
                answer = None
        self.cx_in_flight -= 1
        await self._finish(query, answer)

    async def _finish(self, query: CxQuery, answer: Any) -> None:
        try:
            actions = query.on_answer(answer, trio.current_time())
        except Exception:  # noqa: BLE001 - one bad answer must not stop the node
            internal_error("cscf.cx", f"the app on the answer to a {type(query.request).__name__}", logger=log)
            return
        if self.state is not None and isinstance(query.request, cx.ServerAssignmentRequest) \
                and self.app.pending_changes():
            # Write-through (usrloc db_mode 1): the 200 to a REGISTER leaves once its binding is on disk.
            await self.state.synced()
        await self.stack.execute(actions)

    async def _rtr(self, msg: DiameterMessage, conn: PeerConn) -> Any:
        rtr = cx.RegistrationTerminationRequest.from_message(msg)
        result, actions = self.app.on_rtr(rtr, trio.current_time())  # type: ignore[attr-defined]
        await self.stack.execute(actions)
        return cx.RegistrationTerminationAnswer(result_code=result)

    async def _ppr(self, msg: DiameterMessage, conn: PeerConn) -> Any:
        ppr = cx.PushProfileRequest.from_message(msg)
        try:
            result = self.app.on_ppr(ppr, trio.current_time())  # type: ignore[attr-defined]
        except UserDataError as exc:
            raise DiameterError(DIAMETER_INVALID_AVP_VALUE, f"User-Data: {exc}") from None
        except Exception:  # noqa: BLE001 - RFC 6733 §7.1.5: 5012 for what we cannot handle
            internal_error("cscf.ppr", msg.summary(), logger=log)
            result = DIAMETER_UNABLE_TO_COMPLY
        return cx.PushProfileAnswer(result_code=result)


# -- the node process (nodes/pcscf.py, icscf.py, scscf.py are this with their app) --------
def run_cscf_node(kind: str, make_app: Any, argv: list[str] | None = None, doc: str = "") -> int:
    """Run a CSCF node process: ``python -m nodes.KIND --topology LAB.toml --node NAME``.

    ``make_app(topology, node)`` builds the sans-IO CSCF from the topology."""
    import argparse

    from ims.net.node import NodeContext, parse_node_args, run_node

    p = argparse.ArgumentParser(prog=f"python -m nodes.{kind}", description=doc.splitlines()[0] if doc else kind)
    p.add_argument("--topology", required=True, help="the lab file")
    p.add_argument("--node", required=True, help="this node's name in the lab file")
    p.add_argument("--run-dir", default=None, help="the lab's run directory (P/S-CSCF: registrations are kept "
                   "in NAME-state.sqlite there across restarts; without it, in memory only)")
    p.add_argument("--state-file", default=None, help="the SQLite file of registrations kept across restarts")
    args = parse_node_args(p, kind, argv)
    from ims.cscf.lab import diameter_setup, sip_address
    from ims.topology import TopologyError, load

    try:
        topo = load(args.topology)
        tnode = topo.node(args.node)
    except (TopologyError, KeyError) as exc:
        p.error(f"{args.topology}: {exc}")
    if tnode.kind != kind:
        p.error(f"node {args.node} is a {tnode.kind}, not a {kind}")
    args.name = tnode.name
    args.control_port = args.control_port or tnode.control_port

    async def serve(node: NodeContext) -> None:
        app = make_app(topo, tnode)
        state = await open_state(app, state_path(args, kind))  # before serving: what a killed process knew
        addr = sip_address(tnode)
        transports = tuple(t for t in (tnode.sip.transports if tnode.sip else ["udp"]) if t in ("udp", "tcp", "tls"))
        setup = diameter_setup(topo, tnode) if kind in ("icscf", "scscf") else None
        tls = None
        if "tls" in transports:  # RFC 3261 §26.3.1: sips/TLS with a lab certificate made at start
            from ims.net.tls import lab_stack_settings

            tls = lab_stack_settings(addr.host, Path(args.run_dir or ".") / "tls",
                                     tls_port=tnode.sip.tls_port if tnode.sip else None)
        runner = CscfRunner(app, host=addr.host, port=addr.port, transports=transports or ("udp",),
                            diameter=setup, events=node.events, impairments=node.control.impairments, tls=tls)
        apply_limits(topo.limits_of(tnode), kind=kind, stacks=(runner.stack,), diameter=runner.diameter)
        for rule in impair_from_topology(node.control.impairments, topo, tnode.name):
            node.log.info("impairment toward %s", rule)
        node.control.stats = lambda: {**app.stats(), **runner.stack.stats, **(state.stats() if state else {}),
                                      "cx_failures": runner.cx_failures,
                                      "hss_peers": len(runner.diameter.peers) if runner.diameter else 0}
        node.control.config = lambda: {"sip": f"{addr.host}:{addr.port}", "transports": ",".join(transports),
                                       "domain": topo.domain_of(tnode).name,
                                       "hss": ",".join(f"{h}@{a}:{p}" for h, a, p in setup.peers) if setup else ""}
        await node.start_control()
        await node.nursery.start(runner.run)
        if state is not None:
            runner.state = state
            await node.nursery.start(state.run)
            node.on_shutdown(state.flush)
            await runner.stack.execute(state.restored)
        for t, port in runner.stack.bound.items():
            app.core.add_alias(addr.host, port)  # e.g. the TLS port: a Route naming it is ours
        node.log.info("SIP on %s:%d (%s)%s", addr.host, addr.port, ",".join(transports),
                      f", TLS on {runner.stack.bound['tls']}" if "tls" in runner.stack.bound else "")
        if setup is not None:
            if await runner.wait_for_hss(10.0):
                node.log.info("HSS peer up")
            else:
                node.log.warning("no HSS peer yet: Cx queries fail until it answers")
        node.on_shutdown(runner.close)
        await node.ready()

    return run_node(serve, kind=kind, args=args)
