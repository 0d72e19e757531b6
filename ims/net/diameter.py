"""The trio driver for Diameter peers over TCP (RFC 6733 §2.1); SCTP is left pluggable.

``DiameterNode`` owns one local identity (Origin-Host/Realm) and any number
of peer connections, accepted with ``serve`` or initiated with ``connect``
(which keeps the peer up: CER/CEA, the RFC 3539 watchdog, reconnect with
back-off).  Requests from peers go to the handler registered for their
command code (``add_handler``) or to the node's default ``handler``, each in
its own task so many can be outstanding; the handler returns the answer.
``request`` sends ours: it fills Origin-Host/Realm and the identifiers,
routes by Destination-Host then Destination-Realm, and waits for the answer
matched by hop-by-hop id.

The protocol rules live in the sans-IO :class:`ims.diameter.peer.Peer`; this
module only moves bytes, arms its timers and routes.

Error boundaries (issue 13, ``ims.net.boundary``): a handler that raises
something other than DiameterError is answered 5012 DIAMETER_UNABLE_TO_COMPLY
with an Error-Message, logged and counted as ``diameter.request``; an
unexpected failure while reading or timing one connection closes that
connection only (its framing can no longer be trusted), logged and counted as
``diameter.peer``; the listener and every other peer go on.  What the peer
drops (an undecodable or unmatched answer) is logged.  ``DiameterLimits``
(``limits=``) bound what a peer's message may make us read.  It is not a relay or
proxy agent: a request for another realm is answered 3003, for another host
3002 (RFC 6733 §6.1).  SCTP (RFC 6733 §2.1) would be another stream type fed
to :class:`PeerConn`; the lab kernel has none, so only TCP is built.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Awaitable, Callable

import trio

from ims.diameter.codec import (
    AUTH_SESSION_STATE, DEFAULT_LIMITS, DESTINATION_HOST, DESTINATION_REALM, ERROR_MESSAGE, EXPERIMENTAL_RESULT,
    EXPERIMENTAL_RESULT_CODE, ORIGIN_HOST, ORIGIN_REALM, RESULT_CODE, VENDOR_ID, DiameterLimits, DiameterMessage, avp,
    vendor_app,
)
from ims.diameter.constants import (
    CX_APPLICATION_ID, DIAMETER_UNABLE_TO_COMPLY, DO_NOT_WANT_TO_TALK_TO_YOU, NO_STATE_MAINTAINED, REBOOTING,
)
from ims.diameter.cx import CxAnswer, CxRequest
from ims.diameter.errors import DiameterError, DiameterTimeout, NoRoute
from ims.diameter.constants import DIAMETER_TOO_BUSY
from ims.diameter.peer import (
    Action, AnswerIn, CloseConnection, Discarded, Failback, Failover, LocalIdentity, Peer, PeerDown, PeerUp,
    RequestIn, RequestTimedOut, SendBytes, new_hop_by_hop,
)
from ims.net.boundary import internal_error
from ims.net.overload import RequestLimit, diameter_limit_from_env

log = logging.getLogger("ims.net.diameter")

DIAMETER_COMMAND_UNSUPPORTED = 3001
DIAMETER_UNABLE_TO_DELIVER = 3002
DIAMETER_REALM_NOT_SERVED = 3003

Handler = Callable[[DiameterMessage, "PeerConn"], Awaitable["DiameterMessage | CxAnswer | None"]]
MessageHook = Callable[[str, DiameterMessage, bytes, tuple[str, int], tuple[str, int]], None]


class PeerConn:
    """One transport connection and its :class:`Peer`; handed to handlers as the ``PeerInfo``."""

    def __init__(self, node: DiameterNode, stream: trio.SocketStream, peer: Peer) -> None:
        self.node = node
        self.stream = stream
        self.peer = peer
        self.waiters: dict[int, tuple[trio.Event, list[DiameterMessage | None]]] = {}
        self.up = trio.Event()
        self.closed = False
        self.ended = trio.Event()
        self.wake = trio.Event()
        self._nursery: trio.Nursery | None = None
        self._outbox: list[bytes] = []  # coalesced writes: one send for every message ready now
        self._writing = False  # the writer task is part-way through a send: new bytes queue behind it
        self._armed = -math.inf  # the deadline the timer task sleeps until (-inf: it is not asleep)
        self._out_ready = trio.Event()
        self._drained = trio.Event()
        self._drained.set()
        sock = stream.socket
        self.local_addr: tuple[str, int] = sock.getsockname()[:2]
        self.remote_addr: tuple[str, int] = sock.getpeername()[:2]

    @property
    def host(self) -> str | None:
        """The peer's Origin-Host from its CER/CEA."""
        return self.peer.remote_host

    @property
    def realm(self) -> str | None:
        return self.peer.remote_realm

    def __repr__(self) -> str:
        return f"<PeerConn {self.host} {self.remote_addr} {self.peer.rfc_state.value}>"

    def _hook(self, direction: str, message: DiameterMessage, data: bytes) -> None:
        """The node's message hook (capture, event bus); its failure is logged, never the connection's."""
        hook = self.node.on_message
        if hook is None:
            return
        src, dst = (self.local_addr, self.remote_addr) if direction == "out" else (self.remote_addr, self.local_addr)
        try:
            hook(direction, message, data, src, dst)
        except Exception:  # noqa: BLE001 - a per-message boundary (ims.net.boundary)
            internal_error("diameter.hook", f"{direction} {message.summary()}", logger=log)

    async def execute(self, actions: list[Action]) -> None:
        for a in actions:
            if isinstance(a, SendBytes):
                self._hook("out", a.message, a.data)
                self._outbox.append(a.data)
                self._drained = trio.Event() if self._drained.is_set() else self._drained
            elif isinstance(a, RequestIn):
                assert self._nursery is not None
                self._nursery.start_soon(self.node._admit_request, self, a.message)
            elif isinstance(a, AnswerIn):
                self._deliver(a.hop_by_hop, a.message)
            elif isinstance(a, RequestTimedOut):
                self._deliver(a.hop_by_hop, None)
            elif isinstance(a, PeerUp):
                self.node._register(self)
                self.up.set()
                log.info("peer %s (%s) is open, applications %s", a.host, a.realm, a.applications)
            elif isinstance(a, PeerDown):
                log.info("peer %s down: %s", self.host, a.reason)
                self.node._unregister(self)
            elif isinstance(a, Failover):
                log.warning("peer %s is SUSPECT (no DWA): failing over %d requests", self.host, len(a.pending))
                self.node._unregister(self)
                self.node._fail_over(self, a.pending)
            elif isinstance(a, Failback):
                log.info("peer %s answers again: failback", self.host)
                self.node._register(self)
            elif isinstance(a, Discarded):
                log.info("from %s: discarded %s: %s", self.host or self.remote_addr, a.summary, a.reason)
            elif isinstance(a, CloseConnection):
                log.info("closing connection to %s: %s", self.host or self.remote_addr, a.reason)
                self._kick()
                await self.flush()  # the last answer (CEA 5010, DPA, an error answer) goes first
                await self.shutdown(a.reason)
        self._kick()
        deadline = self.peer.next_deadline()
        if deadline is not None and deadline < self._armed:
            self.wake.set()

    def _kick(self) -> None:
        if not self._outbox or self.closed:
            return
        if not self._writing:
            self._write_now()
        if self._outbox:
            self._out_ready.set()

    def _write_now(self) -> None:
        """Hand what is queued straight to the socket when the kernel has room (no task switch);
        what it does not take goes to the writer task."""
        data = b"".join(self._outbox) if len(self._outbox) > 1 else self._outbox[0]
        try:
            sent = os.write(self.stream.socket.fileno(), data)
        except BlockingIOError:
            sent = 0
        except OSError:
            return  # the writer task meets the same error and shuts the connection down
        if sent == len(data):
            self._outbox.clear()
            self._drained.set()
        else:
            self._outbox[:] = [data[sent:]]

    def _deliver(self, hop_by_hop: int, message: DiameterMessage | None) -> None:
        waiter = self.waiters.pop(hop_by_hop, None)
        if waiter:
            waiter[1].append(message)
            waiter[0].set()

    async def shutdown(self, reason: str) -> None:
        if self.closed:
            return
        self.closed = True
        self.node._unregister(self)
        for event, slot in self.waiters.values():
            slot.append(None)
            event.set()
        self.waiters.clear()
        self._out_ready.set()
        await self.stream.aclose()

    async def _writer(self) -> None:
        while not self.closed:
            await self._out_ready.wait()
            self._out_ready = trio.Event()
            if self._outbox:
                data = b"".join(self._outbox)
                self._outbox.clear()
                self._writing = True
                try:
                    await self.stream.send_all(data)
                except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
                    self._drained.set()
                    await self.shutdown("send failed")
                    return
                finally:
                    self._writing = False
            if not self._outbox:
                self._drained.set()

    async def flush(self) -> None:
        """Wait (bounded) until everything queued has been handed to the socket."""
        with trio.move_on_after(2):
            await self._drained.wait()

    async def run(self) -> None:
        """Read and feed the peer until the connection ends; never raises (but for cancellation)."""
        try:
            async with trio.open_nursery() as nursery:
                self._nursery = nursery
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
                        if not await self._on_data(data):
                            break
                finally:
                    with trio.CancelScope(shield=True):
                        try:
                            await self.execute(self.peer.connection_lost(trio.current_time()))
                        except Exception:  # noqa: BLE001 - a per-connection boundary
                            internal_error("diameter.peer", f"connection to {self!r} ending", logger=log)
                        await self.shutdown("connection ended")
                    nursery.cancel_scope.cancel()
        except Exception:  # noqa: BLE001 - nothing one connection does may end the listener or the node
            internal_error("diameter.peer", f"connection {self!r}", logger=log)
            with trio.CancelScope(shield=True):
                await self.shutdown("internal error")
        finally:
            self.ended.set()

    async def _on_data(self, data: bytes) -> bool:
        """One read from the socket through the peer; False when the connection must close.

        An exception here is a bug met by this input: the bytes buffered in the peer can no longer be
        trusted to frame the next message, so the connection is closed (the listener goes on)."""
        try:
            actions = self.peer.receive_data(data, trio.current_time())
            for a in actions:
                if isinstance(a, (RequestIn, AnswerIn)):
                    self._hook("in", a.message, b"")
            await self.execute(actions)
            return True
        except Exception:  # noqa: BLE001 - the per-message boundary of a stream (ims.net.boundary)
            internal_error("diameter.peer", f"{len(data)} bytes from {self.host or self.remote_addr}", logger=log)
            log.warning("closing connection to %s: framing lost after an internal error", self.host or self.remote_addr)
            return False

    async def _timers(self) -> None:
        while not self.closed:
            deadline = self.peer.next_deadline()
            self._armed = deadline if deadline is not None else math.inf
            with trio.move_on_at(self._armed):
                await self.wake.wait()
            self._armed = -math.inf
            self.wake = trio.Event()
            now = trio.current_time()
            deadline = self.peer.next_deadline()
            if deadline is not None and deadline <= now:
                try:
                    await self.execute(self.peer.handle_timers(now))
                except Exception:  # noqa: BLE001 - a per-connection boundary: this peer's timers only
                    internal_error("diameter.peer", f"timers of {self!r}", logger=log)
                    await self.shutdown("internal error in the timers")


PeerInfo = PeerConn  # what a handler learns about the peer a request came from


class DiameterNode:
    """One Diameter identity with its peers: ``serve`` accepts, ``connect`` initiates, ``request`` asks."""

    def __init__(self, origin_host: str | LocalIdentity, origin_realm: str | None = None, *,
                 host_ip: str = "127.0.0.1", applications: tuple[int, ...] = (CX_APPLICATION_ID,),
                 handler: Handler | None = None, tw: float = 30.0, request_timeout: float = 5.0,
                 on_message: MessageHook | None = None, limits: DiameterLimits = DEFAULT_LIMITS) -> None:
        if isinstance(origin_host, LocalIdentity):
            self.local = origin_host
        else:
            if origin_realm is None:
                raise TypeError("DiameterNode needs origin_realm with origin_host")
            self.local = LocalIdentity(origin_host, origin_realm, host_ip, tuple(applications))
        self.handler = handler
        self.handlers: dict[int, Handler] = {}
        self.tw = tw
        self.request_timeout = request_timeout
        self.on_message = on_message
        self.limits = limits  # what one message from a peer may make us read (size, AVPs, nesting)
        self.peers: dict[str, PeerConn] = {}  # open (routable) peers by Origin-Host
        self.conns: set[PeerConn] = set()  # every live connection
        self._closing = False
        self._changed = trio.Event()
        self.stats = {"requests_in": 0, "answers_out": 0, "requests_out": 0, "timeouts": 0, "errors_out": 0}
        self.admission: RequestLimit = diameter_limit_from_env()  # overload control: 3004 beyond it

    @property
    def origin_host(self) -> str:
        return self.local.origin_host

    @property
    def origin_realm(self) -> str:
        return self.local.origin_realm

    def add_handler(self, command_code: int, handler: Handler) -> None:
        """Serve requests of ``command_code`` (e.g. CMD_RT, CMD_PP on the S-CSCF) with ``handler``."""
        self.handlers[command_code] = handler

    # -- lifecycle -------------------------------------------------------------
    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Kept for callers that start it: connections own their tasks, so this only waits."""
        task_status.started()
        await trio.sleep_forever()

    async def serve(self, host: str, port: int, *, task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED) -> None:
        """Accept peers on host:port (3868 is the Diameter port); ``task_status`` gets the bound port."""
        listeners = await trio.open_tcp_listeners(port, host=host)
        bound = listeners[0].socket.getsockname()[1]
        task_status.started(bound)
        await trio.serve_listeners(self._accept, listeners)

    async def _accept(self, stream: trio.SocketStream) -> None:
        if self._closing:
            await stream.aclose()
            return
        peer = Peer(self.local, initiator=False, tw=self.tw, request_timeout=self.request_timeout,
                    now=trio.current_time(), limits=self.limits)
        conn = PeerConn(self, stream, peer)
        self.conns.add(conn)
        try:
            await conn.run()
        finally:
            self.conns.discard(conn)

    async def connect(self, host: str, port: int, *, peer_host: str | None = None, backoff_max: float = 30.0,
                      task_status: trio.TaskStatus[PeerConn] = trio.TASK_STATUS_IGNORED) -> None:
        """Connect, exchange CER/CEA, keep the peer up; reconnect with back-off (RFC 3539 §3.4) until ``close``.

        Start it with ``await nursery.start(node.connect, host, port)``: that returns the first
        open :class:`PeerConn`.  ``peer_host``: the Origin-Host we expect in the CEA."""
        delay, started = 0.1, False  # a peer starting beside us is usually up within a second
        while not self._closing:
            peer = Peer(self.local, initiator=True, tw=self.tw, request_timeout=self.request_timeout,
                        now=trio.current_time(), limits=self.limits)
            peer.start(trio.current_time())
            try:
                stream = await trio.open_tcp_stream(host, port, local_address=_local_address(self.local.host_ip))
            except OSError as exc:
                log.info("cannot connect to %s:%d: %s", host, port, exc)
                peer.connection_lost(trio.current_time())
            else:
                conn = PeerConn(self, stream, peer)
                self.conns.add(conn)
                try:
                    async with trio.open_nursery() as nursery:
                        nursery.start_soon(conn.run)
                        await conn.execute(peer.connected(trio.current_time()))
                        with trio.move_on_after(self.request_timeout + 1):
                            await _first(conn.up, conn.ended)  # CEA, or the connection ended without one
                        if conn.up.is_set() and peer_host and conn.host != peer_host:
                            log.error("peer at %s:%d is %s, expected %s", host, port, conn.host, peer_host)
                            await conn.execute(peer.disconnect(trio.current_time()))
                        elif conn.up.is_set():
                            delay = 0.5
                            if not started:
                                started = True
                                task_status.started(conn)
                        elif not conn.closed:
                            await conn.shutdown("no CEA")
                finally:
                    self.conns.discard(conn)
            if self._closing:
                break
            if peer.disconnect_cause == DO_NOT_WANT_TO_TALK_TO_YOU:
                delay = backoff_max  # RFC 6733 §5.4.3: it asked us to stay away
            elif peer.disconnect_cause == REBOOTING:
                delay = 0.5  # it is coming back: try again soon
            with trio.move_on_after(delay):
                await self._wait_closing()
            delay = min(delay * 2, backoff_max)

    async def _wait_closing(self) -> None:
        while not self._closing:
            await self._changed.wait()

    def _notify(self) -> None:
        self._changed.set()
        self._changed = trio.Event()

    def _register(self, conn: PeerConn) -> None:
        if conn.host and not conn.closed and conn.peer.is_open:
            self.peers[conn.host] = conn
            self._notify()

    def _unregister(self, conn: PeerConn) -> None:
        if conn.host and self.peers.get(conn.host) is conn:
            del self.peers[conn.host]
            self._notify()

    async def wait_for_peer(self, host: str | None = None, timeout: float = 5.0) -> PeerConn:
        """The open peer ``host`` (or any), waiting up to ``timeout`` seconds for it."""
        with trio.fail_after(timeout):
            while True:
                conn = self.peers.get(host) if host else next(iter(self.peers.values()), None)
                if conn is not None:
                    return conn
                await self._changed.wait()

    async def close(self) -> None:
        """DPR/DPA with every open peer (RFC 6733 §5.4), then no more reconnects."""
        self._closing = True
        self._notify()
        for conn in list(self.conns):
            await conn.execute(conn.peer.disconnect(trio.current_time()))
        with trio.move_on_after(self.request_timeout + 1):
            for conn in list(self.conns):
                await conn.ended.wait()

    # -- requests ----------------------------------------------------------------
    def route(self, destination_host: str | None, destination_realm: str | None,
              exclude: PeerConn | None = None) -> PeerConn:
        """RFC 6733 §6.1.4-6.1.6: Destination-Host if it is a peer, else any peer of Destination-Realm."""
        if destination_host:
            conn = self.peers.get(destination_host)
            if conn is not None and conn is not exclude:
                return conn
        if destination_realm:
            for conn in self.peers.values():
                if conn.peer.remote_realm == destination_realm and conn is not exclude:
                    return conn
            raise NoRoute(f"no open peer for realm {destination_realm}", DIAMETER_REALM_NOT_SERVED)
        raise NoRoute(f"no open peer {destination_host}", DIAMETER_UNABLE_TO_DELIVER)

    def _prepare(self, message: DiameterMessage | CxRequest, destination_host: str | None,
                 destination_realm: str | None) -> DiameterMessage:
        if isinstance(message, CxRequest):
            message.origin_host = message.origin_host or self.local.origin_host
            message.origin_realm = message.origin_realm or self.local.origin_realm
            message.destination_host = message.destination_host or destination_host
            message.destination_realm = message.destination_realm or destination_realm or self.local.origin_realm
            return message.to_message()
        msg = message
        if msg.get(ORIGIN_HOST) is None:
            msg.add(avp(ORIGIN_HOST, self.local.origin_host))
        if msg.get(ORIGIN_REALM) is None:
            msg.add(avp(ORIGIN_REALM, self.local.origin_realm))
        if destination_host and msg.get(DESTINATION_HOST) is None:
            msg.add(avp(DESTINATION_HOST, destination_host))
        if destination_realm and msg.get(DESTINATION_REALM) is None:
            msg.add(avp(DESTINATION_REALM, destination_realm))
        return msg

    async def request(self, message: DiameterMessage | CxRequest, *, destination_host: str | None = None,
                      destination_realm: str | None = None, timeout: float | None = None) -> DiameterMessage:
        """Send a request and return its answer; NoRoute (3002/3003) or DiameterTimeout otherwise."""
        msg = self._prepare(message, destination_host, destination_realm)
        conn = self.route(msg.get_str(DESTINATION_HOST), msg.get_str(DESTINATION_REALM))
        msg.hop_by_hop = 0
        actions = conn.peer.send_request(msg, trio.current_time())
        event, slot = trio.Event(), []  # type: ignore[var-annotated]
        conn.waiters[msg.hop_by_hop] = (event, slot)
        self.stats["requests_out"] += 1
        await conn.execute(actions)
        with trio.move_on_after(timeout if timeout is not None else self.request_timeout + 1):
            await event.wait()
        if not slot or slot[0] is None:
            for c in self.conns:  # the waiter may have moved with a failover
                for hbh, (ev, _) in list(c.waiters.items()):
                    if ev is event:
                        del c.waiters[hbh]
            self.stats["timeouts"] += 1
            raise DiameterTimeout(f"no answer to {msg.summary()} from {conn.host}")
        return slot[0]

    def _fail_over(self, conn: PeerConn, pending: tuple[DiameterMessage, ...]) -> None:
        """RFC 6733 §5.5.4: send the SUSPECT peer's pending requests to an alternate, T flag set."""
        now = trio.current_time()
        for msg in pending:
            if msg.get(DESTINATION_HOST) is not None:
                continue  # meant for that host: another server cannot answer it (we are no relay)
            try:
                other = self.route(None, msg.get_str(DESTINATION_REALM), exclude=conn)
            except NoRoute:
                continue  # no alternate: the request waits for the peer or its timeout
            waiter = conn.waiters.pop(msg.hop_by_hop, None)
            if waiter is None:
                continue
            msg.retransmit = True
            msg.hop_by_hop = new_hop_by_hop()  # hop-by-hop is per connection; end-to-end stays
            actions = other.peer.send_request(msg, now)
            other.waiters[msg.hop_by_hop] = waiter
            self._nursery_of(other).start_soon(other.execute, actions)

    @staticmethod
    def _nursery_of(conn: PeerConn) -> trio.Nursery:
        assert conn._nursery is not None
        return conn._nursery

    async def _admit_request(self, conn: PeerConn, msg: DiameterMessage) -> None:
        """Overload control (ims.net.overload): beyond the requests in progress it allows, a request is
        answered 3004 DIAMETER_TOO_BUSY at once (RFC 6733 §7.1.3), so the peer can try another server."""
        if not self.admission.try_begin():
            self.stats["requests_in"] += 1
            self.stats["too_busy"] = self.stats.get("too_busy", 0) + 1
            answer = self.error_answer(msg, DiameterError(DIAMETER_TOO_BUSY, "too busy"))
            if not conn.closed:
                self.stats["answers_out"] += 1
                await conn.execute(conn.peer.send_answer(answer))
            return
        try:
            await self._serve_request(conn, msg)
        finally:
            self.admission.end()

    async def _serve_request(self, conn: PeerConn, msg: DiameterMessage) -> None:
        self.stats["requests_in"] += 1
        answer: DiameterMessage | None
        try:
            # RFC 6733 §6.1: a request for another realm or host is not ours to answer.
            realm, host = msg.get_str(DESTINATION_REALM), msg.get_str(DESTINATION_HOST)
            if realm and realm != self.local.origin_realm:
                raise DiameterError(DIAMETER_REALM_NOT_SERVED, f"realm {realm} is not served here")
            if host and host != self.local.origin_host:
                raise DiameterError(DIAMETER_UNABLE_TO_DELIVER, f"host {host} is not this node")
            handler = self.handlers.get(msg.command_code, self.handler)
            if handler is None:
                raise DiameterError(DIAMETER_COMMAND_UNSUPPORTED, f"command {msg.command_code} is not served here")
            result = await handler(msg, conn)
            answer = result.to_message(msg) if isinstance(result, CxAnswer) else result
            if answer is not None:
                self._fill_origin(answer)
        except DiameterError as exc:
            answer = self.error_answer(msg, exc)
        except Exception:  # noqa: BLE001 - the per-request boundary: one bad request must not take the node down
            internal_error("diameter.request", f"{msg.summary()} from {conn.host or conn.remote_addr}", logger=log)
            answer = self.error_answer(msg, DiameterError(DIAMETER_UNABLE_TO_COMPLY, "internal error"))
        if answer is None or conn.closed:
            return
        try:
            actions = conn.peer.send_answer(answer)  # encodes: a handler's answer may not
        except Exception:  # noqa: BLE001 - the per-request boundary
            internal_error("diameter.request", f"encoding the answer to {msg.summary()}", logger=log)
            actions = conn.peer.send_answer(self.error_answer(msg, DiameterError(
                DIAMETER_UNABLE_TO_COMPLY, "internal error")))
        self.stats["answers_out"] += 1
        await conn.execute(actions)

    def _fill_origin(self, answer: DiameterMessage) -> None:
        if answer.get(ORIGIN_HOST) is None:
            answer.add(avp(ORIGIN_HOST, self.local.origin_host))
        if answer.get(ORIGIN_REALM) is None:
            answer.add(avp(ORIGIN_REALM, self.local.origin_realm))

    def error_answer(self, msg: DiameterMessage, exc: DiameterError) -> DiameterMessage:
        """The answer for a DiameterError (RFC 6733 §7.2; TS 29.229 §6.2 Experimental-Result): E bit on 3xxx."""
        self.stats["errors_out"] += 1
        answer = msg.answer()
        if msg.application_id == CX_APPLICATION_ID:
            answer.add(vendor_app(CX_APPLICATION_ID))
        if exc.experimental:
            answer.add(avp(EXPERIMENTAL_RESULT, [avp(VENDOR_ID, exc.vendor_id),
                                                 avp(EXPERIMENTAL_RESULT_CODE, exc.result_code)]))
        else:
            answer.add(avp(RESULT_CODE, exc.result_code))
        if msg.application_id == CX_APPLICATION_ID:
            answer.add(avp(AUTH_SESSION_STATE, NO_STATE_MAINTAINED))
        answer.add(avp(ORIGIN_HOST, self.local.origin_host), avp(ORIGIN_REALM, self.local.origin_realm))
        if exc.message:
            answer.add(avp(ERROR_MESSAGE, exc.message[:200]))
        if exc.failed_avp is not None:
            answer.add(exc.failed_avp)
        answer.error = not exc.experimental and 3000 <= exc.result_code < 4000  # §7.1.3
        return answer


async def _first(*events: trio.Event) -> None:
    """Return when any of ``events`` is set."""
    async with trio.open_nursery() as nursery:
        async def wait(event: trio.Event) -> None:
            await event.wait()
            nursery.cancel_scope.cancel()

        for event in events:
            nursery.start_soon(wait, event)


def _local_address(host_ip: str) -> str | None:
    """Bind outgoing connections to the node's own loopback address so captures show distinct hosts."""
    return host_ip if host_ip.startswith("127.") and host_ip != "127.0.0.1" else None


__all__ = ["DiameterNode", "Handler", "MessageHook", "PeerConn", "PeerInfo"]
