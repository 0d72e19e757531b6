"""The trio driver for Diameter peers over TCP (RFC 6733 §2.1); SCTP is left pluggable.

``DiameterNode`` owns one local identity and any number of peer connections
(accepted with ``serve``, or initiated with ``connect`` which reconnects with
back-off after a failover).  Requests from peers go to ``handler`` (each in
its own task, so many can be outstanding); ``request`` sends ours, routes by
Destination-Host or Destination-Realm, and waits for the matched answer.
The protocol rules live in the sans-IO :class:`ims.diameter.peer.Peer`.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Awaitable, Callable

import trio

from ims.diameter.codec import (
    DESTINATION_HOST, DESTINATION_REALM, ORIGIN_HOST, ORIGIN_REALM, RESULT_CODE, DiameterMessage, avp,
)
from ims.diameter.constants import DIAMETER_UNABLE_TO_COMPLY
from ims.diameter.errors import DiameterError, DiameterTimeout, NoRoute
from ims.diameter.peer import (
    Action, AnswerIn, CloseConnection, LocalIdentity, Peer, PeerDown, PeerUp, RequestIn, RequestTimedOut, SendBytes,
)

log = logging.getLogger("ims.net.diameter")

Handler = Callable[[DiameterMessage, "PeerConn"], Awaitable[DiameterMessage | None]]
MessageHook = Callable[[str, DiameterMessage, bytes, tuple[str, int], tuple[str, int]], None]


class PeerConn:
    def __init__(self, node: DiameterNode, stream: trio.SocketStream, peer: Peer) -> None:
        self.node = node
        self.stream = stream
        self.peer = peer
        self.lock = trio.Lock()
        self.waiters: dict[int, tuple[trio.Event, list[DiameterMessage | None]]] = {}
        self.up = trio.Event()
        self.closed = False
        self.wake = trio.Event()
        self._outbox: list[bytes] = []  # coalesced writes: one send for every message ready now
        self._out_ready = trio.Event()
        sock = stream.socket
        self.local_addr = sock.getsockname()[:2]
        self.remote_addr = sock.getpeername()[:2]

    @property
    def host(self) -> str | None:
        return self.peer.remote_host

    async def execute(self, actions: list[Action]) -> None:
        for a in actions:
            if isinstance(a, SendBytes):
                if self.node.on_message:
                    self.node.on_message("out", a.message, a.data, self.local_addr, self.remote_addr)
                self._outbox.append(a.data)
                self._out_ready.set()
            elif isinstance(a, RequestIn):
                self.node._nursery.start_soon(self.node._serve_request, self, a.message)  # type: ignore[union-attr]
            elif isinstance(a, AnswerIn):
                waiter = self.waiters.pop(a.hop_by_hop, None)
                if waiter:
                    waiter[1].append(a.message)
                    waiter[0].set()
            elif isinstance(a, RequestTimedOut):
                waiter = self.waiters.pop(a.hop_by_hop, None)
                if waiter:
                    waiter[1].append(None)
                    waiter[0].set()
            elif isinstance(a, PeerUp):
                self.node._register(self)
                self.up.set()
                log.info("peer %s (%s) is open", a.host, a.realm)
            elif isinstance(a, PeerDown):
                log.info("peer %s down: %s", self.peer.remote_host, a.reason)
                self.node._unregister(self)
            elif isinstance(a, CloseConnection):
                await trio.lowlevel.checkpoint()  # let the writer send the last answer (DPA, CEA)
                await self.flush()
                await self.shutdown(a.reason)
        self.wake.set()

    async def shutdown(self, reason: str) -> None:
        if self.closed:
            return
        self.closed = True
        self.node._unregister(self)
        for event, slot in self.waiters.values():
            slot.append(None)
            event.set()
        self.waiters.clear()
        await self.stream.aclose()

    async def _writer(self) -> None:
        while not self.closed:
            await self._out_ready.wait()
            self._out_ready = trio.Event()
            if not self._outbox:
                continue
            data = b"".join(self._outbox)
            self._outbox.clear()
            try:
                await self.stream.send_all(data)
            except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
                await self.shutdown("send failed")
                return

    async def flush(self) -> None:
        """Wait until everything queued has been handed to the socket (used before closing)."""
        with trio.move_on_after(2):
            while self._outbox and not self.closed:
                await trio.sleep(0.005)

    async def run(self) -> None:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._timers)
            nursery.start_soon(self._writer)
            try:
                while not self.closed:
                    try:
                        data = await self.stream.receive_some(65536)
                    except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
                        break
                    if not data:
                        break
                    actions = self.peer.receive_data(data, trio.current_time())
                    if self.node.on_message:
                        for a in actions:
                            if isinstance(a, (RequestIn, AnswerIn)):
                                self.node.on_message("in", a.message, b"", self.remote_addr, self.local_addr)
                    await self.execute(actions)
            finally:
                await self.shutdown("connection ended")
                nursery.cancel_scope.cancel()

    async def _timers(self) -> None:
        while not self.closed:
            deadline = self.peer.next_deadline()
            with trio.move_on_at(deadline if deadline is not None else math.inf):
                await self.wake.wait()
            self.wake = trio.Event()
            now = trio.current_time()
            deadline = self.peer.next_deadline()
            if deadline is not None and deadline <= now:
                await self.execute(self.peer.handle_timers(now))


class DiameterNode:
    def __init__(self, local: LocalIdentity, *, handler: Handler | None = None, tw: float = 30.0,
                 request_timeout: float = 5.0, on_message: MessageHook | None = None) -> None:
        self.local = local
        self.handler = handler
        self.tw = tw
        self.request_timeout = request_timeout
        self.on_message = on_message
        self.peers: dict[str, PeerConn] = {}
        self._nursery: trio.Nursery | None = None
        self._changed = trio.Event()
        self.stats = {"requests_in": 0, "answers_out": 0, "requests_out": 0, "timeouts": 0}

    # -- lifecycle -------------------------------------------------------------
    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Host the node's tasks; ``serve``/``connect`` need it running."""
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            task_status.started()
            await trio.sleep_forever()

    async def serve(self, host: str, port: int, *, task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED) -> None:
        listeners = await trio.open_tcp_listeners(port, host=host)
        bound = listeners[0].socket.getsockname()[1]
        task_status.started(bound)
        await trio.serve_listeners(self._accept, listeners)

    async def _accept(self, stream: trio.SocketStream) -> None:
        peer = Peer(self.local, initiator=False, tw=self.tw, request_timeout=self.request_timeout,
                    now=trio.current_time())
        conn = PeerConn(self, stream, peer)
        await conn.run()

    async def connect(self, host: str, port: int, *, backoff_max: float = 30.0,
                      task_status: trio.TaskStatus[PeerConn] = trio.TASK_STATUS_IGNORED) -> None:
        """Connect, exchange CER/CEA, keep the peer up; reconnect with back-off (RFC 3539 §3.4)."""
        delay, started = 0.5, False
        while True:
            try:
                stream = await trio.open_tcp_stream(host, port)
            except OSError as exc:
                log.info("cannot connect to %s:%d: %s", host, port, exc)
            else:
                peer = Peer(self.local, initiator=True, tw=self.tw, request_timeout=self.request_timeout,
                            now=trio.current_time())
                conn = PeerConn(self, stream, peer)
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(conn.run)
                    await conn.execute(peer.connected(trio.current_time()))
                    with trio.move_on_after(self.request_timeout + 1):
                        await conn.up.wait()
                    if conn.up.is_set():
                        delay = 0.5
                        if not started:
                            started = True
                            task_status.started(conn)
                # connection ended
            await trio.sleep(delay)
            delay = min(delay * 2, backoff_max)

    def _register(self, conn: PeerConn) -> None:
        if conn.host:
            self.peers[conn.host] = conn
            self._changed.set()
            self._changed = trio.Event()

    def _unregister(self, conn: PeerConn) -> None:
        if conn.host and self.peers.get(conn.host) is conn:
            del self.peers[conn.host]

    async def wait_for_peer(self, host: str | None = None, timeout: float = 5.0) -> PeerConn:
        with trio.fail_after(timeout):
            while True:
                conn = self.peers.get(host) if host else next(iter(self.peers.values()), None)
                if conn is not None:
                    return conn
                await self._changed.wait()

    async def close(self) -> None:
        """DPR/DPA with every open peer (RFC 6733 §5.4)."""
        for conn in list(self.peers.values()):
            await conn.execute(conn.peer.disconnect(trio.current_time()))
        with trio.move_on_after(2):
            while self.peers:
                await trio.sleep(0.02)

    # -- requests ----------------------------------------------------------------
    def route(self, destination_host: str | None, destination_realm: str | None) -> PeerConn:
        if destination_host:
            conn = self.peers.get(destination_host)
            if conn is not None:
                return conn
        if destination_realm:
            for conn in self.peers.values():
                if conn.peer.remote_realm == destination_realm:
                    return conn
            raise NoRoute(f"no open peer for realm {destination_realm}", 3003)
        raise NoRoute(f"no open peer {destination_host}")

    async def request(self, msg: DiameterMessage, *, timeout: float | None = None) -> DiameterMessage:
        conn = self.route(msg.get_str(DESTINATION_HOST), msg.get_str(DESTINATION_REALM))
        actions = conn.peer.send_request(msg, trio.current_time())
        event, slot = trio.Event(), []  # type: ignore[var-annotated]
        conn.waiters[msg.hop_by_hop] = (event, slot)
        self.stats["requests_out"] += 1
        await conn.execute(actions)
        with trio.move_on_after(timeout if timeout is not None else self.request_timeout + 1):
            await event.wait()
        if not slot or slot[0] is None:
            conn.waiters.pop(msg.hop_by_hop, None)
            self.stats["timeouts"] += 1
            raise DiameterTimeout(f"no answer to {msg.summary()} from {conn.host}")
        return slot[0]

    async def _serve_request(self, conn: PeerConn, msg: DiameterMessage) -> None:
        self.stats["requests_in"] += 1
        answer: DiameterMessage | None
        try:
            # RFC 6733 §6.1: a request for another realm or host is not ours to answer.
            realm, host = msg.get_str(DESTINATION_REALM), msg.get_str(DESTINATION_HOST)
            if realm and realm != self.local.origin_realm:
                raise DiameterError(3003, f"realm {realm} is not served here")  # DIAMETER_REALM_NOT_SERVED
            if host and host != self.local.origin_host:
                raise DiameterError(3002, f"host {host} is not this node")  # DIAMETER_UNABLE_TO_DELIVER
            if self.handler is None:
                raise DiameterError(DIAMETER_UNABLE_TO_COMPLY, "no application here")
            answer = await self.handler(msg, conn)
        except DiameterError as exc:
            answer = msg.answer(avp(RESULT_CODE, exc.result_code))
            answer.add(avp(ORIGIN_HOST, self.local.origin_host), avp(ORIGIN_REALM, self.local.origin_realm))
            answer.error = 3000 <= exc.result_code < 4000  # protocol errors carry the E bit (§7.1.3)
        except Exception:  # noqa: BLE001 - one bad request must not take the node down
            log.exception("handler failed on %s", msg.summary())
            answer = msg.answer(avp(RESULT_CODE, DIAMETER_UNABLE_TO_COMPLY))
        if answer is not None and not conn.closed:
            self.stats["answers_out"] += 1
            await conn.execute(conn.peer.send_answer(answer))
