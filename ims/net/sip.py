"""The trio driver for sans-IO SIP cores: UDP, TCP and TLS transports (RFC 3261 §18).

``SipStack(core, host=..., port=...)`` binds the transports, parses what
arrives, feeds the core (``receive`` / ``handle_timers`` /
``transport_error``), sends every ``SendMessage`` the core returns, and puts
all other actions (application events) on ``stack.events``.  It is the only
place in the SIP stack that awaits.

- UDP: one socket; a malformed datagram is answered 400 with the parse
  error's reason when enough of the request is readable, else dropped and
  logged (never raised).
- TCP/TLS: connections are reused per remote address in both directions,
  opened in a task of their own (messages queue behind the connect);
  inbound messages are framed by Content-Length; double-CRLF keep-alives get
  a CRLF; idle connections close after ``idle_timeout``; a peer sending an
  unframeable stream is disconnected.
- Requests larger than 1300 bytes switch from UDP to TCP (§18.1.1) when this
  stack has TCP.
- SCTP (RFC 4168): one-to-one ``IPPROTO_SCTP`` stream sockets where the
  kernel has SCTP, framed and reused like TCP; :func:`sctp_available` tells,
  and asking for it elsewhere raises :class:`TransportUnavailable` with the
  reason ("SCTP is not supported by this kernel").
- Outbound connections leave from the stack's own address, so captures and
  ``received`` show the node's 127.0.x.y rather than 127.0.0.1.

It is not a transaction layer: retransmissions, timers and response routing
(§18.2.2) belong to the core.

Per-message cost matters here (every CSCF hop goes through it): a send is
first tried straight on the non-blocking socket and awaits only when the
kernel would block; the UDP loop reads every datagram waiting before it
yields (at most ``UDP_BATCH``); the timer task is woken only when the core
armed a timer earlier than the one it sleeps for.
"""

from __future__ import annotations

import functools
import logging
import math
import os
import socket
import ssl
from collections.abc import Callable
from typing import Any, Protocol

import trio

from ims.net.boundary import internal_error
from ims.net.impair import Impairments
from ims.net.overload import SipAdmission, enable_timestamps, sip_admission_from_env, udp_head_delay
from ims.sip.errors import SipError, SipParseError
from ims.sip.events import Action, Address, SendMessage
from ims.sip.framing import PING, PONG, StreamFramer
from ims.sip.limits import DEFAULT_LIMITS, SipLimits
from ims.sip.message import Request, Response, build_response, parse_message

log = logging.getLogger("ims.net.sip")

MTU_LIMIT = 1300  # §18.1.1
UDP_BATCH = 64  # datagrams read per wake-up before other tasks get a turn


class SipCore(Protocol):
    def receive(self, message: Request | Response, source: Address, now: float) -> list[Action]: ...
    def next_deadline(self) -> float | None: ...
    def handle_timers(self, now: float) -> list[Action]: ...
    def transport_error(self, dest: Address, now: float) -> list[Action]: ...
    def connection_lost(self, dest: Address, now: float) -> list[Action]: ...


class TransportUnavailable(RuntimeError):
    pass


def sctp_available() -> tuple[bool, str]:
    proto = getattr(socket, "IPPROTO_SCTP", 132)
    try:
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM, proto)
    except OSError as exc:
        return False, f"SCTP is not supported by this kernel ({exc.strerror})"
    s.close()
    return True, ""


class _Conn:
    """One TCP/TLS connection, inbound or outbound, keyed by the remote (host, port, transport)."""

    def __init__(self, stream: trio.abc.Stream, remote: Address) -> None:
        self.stream = stream
        self.remote = remote
        # Plain TCP/SCTP sockets can be written without an await when the kernel has room; TLS cannot.
        self.fd = stream.socket.fileno() if isinstance(stream, trio.SocketStream) else -1
        self.lock = trio.Lock()
        self.last_used = trio.current_time()
        self.scope = trio.CancelScope()  # cancelled to close the connection (idle, stuck writer)


class _Pending:
    """Messages waiting for a connection that is being opened."""

    def __init__(self, queue: list[bytes]) -> None:
        self.queue = queue
        self.done = trio.Event()


MessageHook = Callable[[str, bytes, Address, Address], None]


class SipStack:
    def __init__(self, core: SipCore, *, host: str, port: int, transports: tuple[str, ...] = ("udp", "tcp"),
                 tls_port: int | None = None, tls_server_context: ssl.SSLContext | None = None,
                 tls_client_context: ssl.SSLContext | None = None, idle_timeout: float = 300.0,
                 connect_timeout: float = 5.0, write_timeout: float = 5.0,
                 on_message: MessageHook | None = None, events_buffer: int = 10000,
                 impairments: Impairments | None = None, limits: SipLimits = DEFAULT_LIMITS) -> None:
        self.core = core
        self.host = host
        self.port = port
        self.transports = transports
        self.tls_port = tls_port or (port + 1 if port else 0)
        self.tls_server_context = tls_server_context
        self.tls_client_context = tls_client_context
        self.idle_timeout = idle_timeout
        self.connect_timeout = connect_timeout
        self.write_timeout = write_timeout  # a peer that stops reading is cut off, never stalls the stack
        self.on_message = on_message  # (direction, data, src, dst) for traces and pcaps
        self.impairments: Impairments | None = impairments  # fault injection on what this stack sends
        self.limits = limits  # message/header/body bounds applied by the parser and the stream framer
        self._udp: trio.socket.SocketType | None = None
        self._udp_raw: socket.socket | None = None  # the same socket, for sends that need no await
        self._conns: dict[tuple[str, int, str], _Conn] = {}
        self._connecting: dict[tuple[str, int, str], list[bytes]] = {}  # queued behind a connect in progress
        self._nursery: trio.Nursery | None = None
        self._wake = trio.Event()
        self._armed = -math.inf  # the deadline the timer task sleeps until (-inf: it is not asleep)
        self.events_send, self.events = trio.open_memory_channel[Any](events_buffer)
        self.stats = {"rx": 0, "tx": 0, "parse_errors": 0, "send_errors": 0, "events_dropped": 0}
        self.bound: dict[str, int] = {}
        # Overload control (ims.net.overload): new initial requests get a 503 while the node is behind.
        self.overload: SipAdmission | None = sip_admission_from_env()

    # -- lifecycle --------------------------------------------------------
    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        if "sctp" in self.transports:
            ok, why = sctp_available()
            if not ok:
                raise TransportUnavailable(why)
        if "tls" in self.transports and self.tls_server_context is None:
            raise TransportUnavailable("TLS needs a server certificate (tls_server_context)")
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            if "udp" in self.transports:
                raw = socket.socket(_family(self.host), socket.SOCK_DGRAM)
                raw.setblocking(False)
                self._udp_raw = raw
                self._udp = trio.socket.from_stdlib_socket(raw)
                self._udp.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 * 1024 * 1024)
                enable_timestamps(raw)  # overload control: the kernel stamps each datagram's arrival
                await self._udp.bind((self.host, self.port))
                self.bound["udp"] = self._udp.getsockname()[1]
                if not self.port:
                    self.port = self.bound["udp"]
                nursery.start_soon(self._udp_loop)
            if "tcp" in self.transports:
                listeners = await trio.open_tcp_listeners(self.port, host=self.host)
                self.bound["tcp"] = listeners[0].socket.getsockname()[1]
                if not self.port:
                    self.port = self.bound["tcp"]
                nursery.start_soon(trio.serve_listeners, self._accept_tcp, listeners)
            if "tls" in self.transports:
                listeners = await trio.open_tcp_listeners(self.tls_port, host=self.host)
                self.bound["tls"] = listeners[0].socket.getsockname()[1]
                tls_listeners = [trio.SSLListener(ln, self.tls_server_context, https_compatible=False)
                                 for ln in listeners]
                nursery.start_soon(trio.serve_listeners, self._accept_tls, tls_listeners)
            if "sctp" in self.transports:
                sock = _sctp_socket(self.host)
                await sock.bind((self.host, self.port))
                sock.listen(128)
                self.bound["sctp"] = sock.getsockname()[1]
                if not self.port:
                    self.port = self.bound["sctp"]
                nursery.start_soon(trio.serve_listeners, self._accept_sctp, [trio.SocketListener(sock)])
            nursery.start_soon(self._timer_loop)
            nursery.start_soon(self._idle_reaper)
            task_status.started()

    def close(self) -> None:
        if self._nursery is not None:
            self._nursery.cancel_scope.cancel()

    def local_address(self, transport: str = "udp") -> Address:
        return Address(self.host, self.bound.get(transport, self.port), transport)

    # -- core feeding -----------------------------------------------------
    async def execute(self, actions: list[Action]) -> None:
        """Send what the core asked to send; queue the rest for the application.

        Each action is its own boundary: one that cannot be carried out (a message that does not
        serialize) is logged and counted, and the others still go."""
        for a in actions:
            if isinstance(a, SendMessage):
                try:
                    await self._send(a.message, a.dest)
                except SipError as exc:  # a message the core built cannot be serialized: its bug, not ours
                    self.stats["send_errors"] += 1
                    log.error("cannot send to %s: %s", a.dest, exc.reason)
                except Exception:  # noqa: BLE001 - one unsendable message must not end the caller's task
                    self.stats["send_errors"] += 1
                    internal_error(f"sip.{a.dest.transport}", f"sending {_summary(a.message)} to {a.dest}")
            else:
                try:
                    self.events_send.send_nowait(a)
                except trio.WouldBlock:
                    self.stats["events_dropped"] += 1
                except trio.ClosedResourceError:  # nobody reads events any more (the application is stopping)
                    self.stats["events_dropped"] += 1
        self._rearm()

    def _rearm(self) -> None:
        """Wake the timer task if the core now wants it earlier than it sleeps."""
        deadline = self._core_call("sip.timer", self.core.next_deadline)
        if deadline is not None and deadline < self._armed:
            self._wake.set()

    async def _timer_loop(self) -> None:
        while True:
            try:
                failed = await self._timer_round()
            except Exception:  # noqa: BLE001 - the timer task outlives any one firing (e.g. a NaN deadline)
                internal_error("sip.timer", "a timer round")
                failed = True
            if failed:
                # The core failed on its own timers; it will likely fail again at once, so give the
                # rest of the node a turn instead of spinning (the failure is logged each time).
                self._armed = -math.inf
                await trio.sleep(0.1)

    async def _timer_round(self) -> bool:
        """Sleep until the core's next deadline (or an earlier one armed meanwhile) and fire it;
        True when the core failed on its timers."""
        deadline = self._core_call("sip.timer", self.core.next_deadline)
        self._armed = deadline if deadline is not None else math.inf
        with trio.move_on_at(self._armed):
            await self._wake.wait()
        self._armed = -math.inf
        self._wake = trio.Event()
        now = trio.current_time()
        deadline = self._core_call("sip.timer", self.core.next_deadline)
        if deadline is not None and deadline <= now:
            actions = self._core_call("sip.timer", self.core.handle_timers, now)
            if actions is None:
                return True
            await self.execute(actions)
        return False

    def _core_call(self, place: str, fn: Callable[..., Any], *args: Any) -> Any:
        """Call the core outside message handling; a core bug is logged and counted, never fatal (None)."""
        try:
            return fn(*args)
        except Exception:  # noqa: BLE001 - one broken timer must not take the node down
            internal_error(place, f"{getattr(fn, '__name__', fn)}{tuple(args)!r}")
            return None

    async def _transport_error(self, dest: Address) -> None:
        await self.execute(self._core_call(f"sip.{dest.transport}", self.core.transport_error, dest,
                                           trio.current_time()) or [])

    async def _connection_lost(self, remote: Address) -> None:
        # A peer that died (process killed, host reset) may have closed the connection just before we
        # wrote a request on it: the write succeeded, no answer will ever come.  §18.4 transport errors
        # are reported for the requests still waiting on it rather than after Timer B/F.
        await self.execute(self._core_call(f"sip.{remote.transport}", self.core.connection_lost, remote,
                                           trio.current_time()) or [])

    def _on_bytes(self, data: bytes, source: Address, reply: Callable[[bytes], Any] | None) -> list[Action] | bytes | None:
        """Parse and feed; returns actions, or bytes to answer directly (400, 500), or None.

        This is the per-message boundary: whatever parsing or the core raise for this message is
        answered or dropped here, logged and counted, and never reaches the transport's loop."""
        self.stats["rx"] += 1
        msg: Request | Response | None = None
        try:
            if self.on_message:
                self.on_message("in", data, source, self.local_address(source.transport))
            if self.overload is not None and (shed := self.overload.check(data, trio.current_time())) is not None:
                self.stats["overload_503"] = self.stats.get("overload_503", 0) + 1
                self.stats.update(self.overload.stats())
                return shed  # RFC 3261 §21.5.4: new work refused early, before the full parse (ims.net.overload)
            try:
                msg = parse_message(data, datagram=source.transport == "udp", limits=self.limits)
            except SipParseError as exc:
                self.stats["parse_errors"] += 1
                partial = exc.partial
                if partial is not None and partial.get("via") and partial.get("call-id") and partial.get("cseq") \
                        and partial.get("from") and partial.get("to") and partial.method != "ACK":
                    log.info("bad request from %s: %s", source, exc.reason)
                    return _answer(partial, exc.status, exc.reason)
                log.info("dropped unparseable message from %s: %s", source, exc.reason)
                return None
            try:
                return self.core.receive(msg, source, trio.current_time())
            except SipError as exc:
                if isinstance(exc, SipParseError):
                    self.stats["parse_errors"] += 1
                # A header the core needed turned out malformed (lazy parse), or the core refused it.
                log.info("bad %s from %s: %s", type(msg).__name__, source, exc.reason)
                if isinstance(msg, Request) and msg.method != "ACK":
                    return _answer(msg, exc.status, exc.reason)
                return None
        except Exception as exc:  # noqa: BLE001 - one bad message must never take the node down
            internal_error(f"sip.{source.transport}", f"{_summary(msg)} from {source}" if msg is not None
                           else f"a {len(data)}-byte message from {source} (not parsed)")
            if isinstance(msg, Request) and msg.method != "ACK":
                # RFC 3261 §21.5.1 500, and RFC 3326 §2 Reason naming what failed (no stack details).
                return _answer(msg, 500, "Server Internal Error",
                               reason_header=f'SIP;cause=500;text="internal error: {type(exc).__name__}"')
            return None

    # -- UDP ----------------------------------------------------------------
    async def _udp_loop(self) -> None:
        assert self._udp is not None and self._udp_raw is not None
        raw = self._udp_raw
        while True:
            await trio.lowlevel.wait_readable(raw)
            if self.overload is not None and (delay := udp_head_delay(raw)) is not None:
                self.overload.observe(delay, trio.current_time())  # overload control: the head's wait
            for _ in range(UDP_BATCH):
                try:
                    data, addr = raw.recvfrom(65535)
                except BlockingIOError:
                    break
                except OSError as exc:  # e.g. ICMP port unreachable reported on the socket: not fatal
                    log.debug("UDP receive: %s", exc)
                    continue
                source = Address(addr[0], addr[1], "udp")
                try:
                    result = self._on_bytes(data, source, None)
                    if isinstance(result, bytes):
                        if self.overload is not None:  # a 400/500 ends an admitted transaction too
                            self.overload.answered_bytes(result, trio.current_time())
                        await self._send_udp(result, source)
                    else:
                        await self.execute(result or [])  # also when the core only armed a timer
                except Exception:  # noqa: BLE001 - the loop serves every other datagram whatever this one did
                    internal_error("sip.udp", f"a {len(data)}-byte datagram from {source}")
            await trio.lowlevel.checkpoint()

    async def _send_udp(self, data: bytes, dest: Address) -> None:
        assert self._udp is not None and self._udp_raw is not None
        try:
            if _numeric(dest.host):
                try:
                    self._udp_raw.sendto(data, (dest.host, dest.port))
                    return
                except BlockingIOError:  # socket buffer full: wait for room the trio way
                    pass
            # A host name is resolved by trio off the loop (the plain socket would block on DNS).
            await self._udp.sendto(data, (dest.host, dest.port))
        except OSError as exc:
            self.stats["send_errors"] += 1
            log.info("UDP send to %s failed: %s", dest, exc)
            await self._transport_error(dest)

    # -- TCP / TLS ----------------------------------------------------------
    async def _accept_tcp(self, stream: trio.SocketStream) -> None:
        await self._accept(stream, stream.socket, "tcp")

    async def _accept_sctp(self, stream: trio.SocketStream) -> None:
        await self._accept(stream, stream.socket, "sctp")

    async def _accept_tls(self, stream: trio.SSLStream) -> None:
        await self._accept(stream, stream.transport_stream.socket, "tls")  # type: ignore[attr-defined]

    async def _accept(self, stream: trio.abc.Stream, sock: trio.socket.SocketType, transport: str) -> None:
        # A handler error would end serve_listeners and the whole stack: a peer that is already
        # gone (reset before we looked) is simply forgotten, and whatever else goes wrong with one
        # connection ends that connection only.
        try:
            host, port = sock.getpeername()[:2]
        except OSError as exc:
            log.info("inbound %s connection gone before it was served: %s", transport, exc)
            await stream.aclose()
            return
        remote = Address(host, port, transport)
        try:
            await self._serve_conn(stream, remote)
        except Exception:  # noqa: BLE001 - serve_listeners (every other connection) must go on
            internal_error(f"sip.{transport}", f"the connection from {remote}")

    async def _serve_conn(self, stream: trio.abc.Stream, remote: Address) -> None:
        conn = _Conn(stream, remote)
        key = (remote.host, remote.port, remote.transport)
        self._conns[key] = conn
        lost = False
        async with stream:
            try:
                with conn.scope:
                    lost = await self._read_loop(conn, remote)
            finally:
                self._forget(conn)  # before the close: nobody may pick a closing connection
        if lost:
            await self._connection_lost(remote)

    def _forget(self, conn: _Conn) -> None:
        conn.fd = -1  # closing: its descriptor number may soon belong to another socket
        key = (conn.remote.host, conn.remote.port, conn.remote.transport)
        if self._conns.get(key) is conn:
            del self._conns[key]

    async def _read_loop(self, conn: _Conn, remote: Address) -> bool:
        """Frame, parse and feed what a stream peer sends, in either direction of connection.

        Returns True when the peer closed or reset the connection, False when we closed it."""
        framer = StreamFramer(limits=self.limits)
        while True:
            try:
                data = await conn.stream.receive_some(65536)
            except (trio.BrokenResourceError, trio.ClosedResourceError, ssl.SSLError, OSError):
                return True
            if not data:
                return True
            conn.last_used = trio.current_time()
            try:
                frames = framer.feed(data)
            except SipParseError as exc:
                self.stats["parse_errors"] += 1
                log.info("closing %s: %s", remote, exc.reason)
                return False
            except Exception:  # noqa: BLE001 - framing is lost: this connection ends, the listener goes on
                self.stats["parse_errors"] += 1
                internal_error(f"sip.{remote.transport}", f"framing the stream from {remote} (closed)")
                return False
            for frame in frames:
                try:
                    if frame == PING:
                        await self._write(conn, PONG)
                        continue
                    result = self._on_bytes(frame, remote, None)
                    if isinstance(result, bytes):
                        if self.overload is not None:  # a 400/500 ends an admitted transaction too
                            self.overload.answered_bytes(result, trio.current_time())
                        await self._write(conn, result)
                    else:
                        await self.execute(result or [])
                except Exception:  # noqa: BLE001 - the next frame on this connection is served
                    internal_error(f"sip.{remote.transport}", f"a {len(frame)}-byte message from {remote}")

    async def _write(self, conn: _Conn, data: bytes) -> bool:
        if conn.fd >= 0 and not conn.lock.locked():
            # Nobody is part-way through a write on this connection, so writing now keeps the order.
            try:
                sent = os.write(conn.fd, data)
            except BlockingIOError:
                sent = 0
            except OSError:
                return False
            conn.last_used = trio.current_time()
            if sent == len(data):
                return True
            data = data[sent:]
        try:
            with trio.fail_after(self.write_timeout):
                async with conn.lock:
                    await conn.stream.send_all(data)
            conn.last_used = trio.current_time()
            return True
        except trio.TooSlowError:
            log.info("closing %s: peer not reading (write blocked %.1f s)", conn.remote, self.write_timeout)
            self._forget(conn)
            conn.scope.cancel()
            return False
        except (trio.BrokenResourceError, trio.ClosedResourceError, trio.BusyResourceError, ssl.SSLError,
                OSError):
            return False

    async def _connect(self, dest: Address) -> _Conn | None:
        key = (dest.host, dest.port, dest.transport)
        conn = self._conns.get(key)
        if conn is not None:
            return conn
        try:
            with trio.fail_after(self.connect_timeout):
                stream: trio.abc.Stream
                if dest.transport == "sctp":
                    if "sctp" not in self.transports:
                        raise OSError("this stack has no SCTP transport")
                    sock = _sctp_socket(self.host)
                    await sock.bind((self.host, 0))
                    await sock.connect((dest.host, dest.port))
                    stream = trio.SocketStream(sock)
                else:
                    local = None if self.host in ("", "0.0.0.0", "::") else self.host
                    stream = await trio.open_tcp_stream(dest.host, dest.port, local_address=local)
                if dest.transport == "tls":
                    ctx = self.tls_client_context or ssl.create_default_context()
                    stream = trio.SSLStream(stream, ctx, server_hostname=dest.host)
                    await stream.do_handshake()
        except (OSError, trio.TooSlowError, ssl.SSLError, trio.BrokenResourceError) as exc:
            log.info("cannot connect to %s: %s", dest, exc)
            return None
        conn = self._conns.get(key)
        if conn is not None:  # somebody else connected meanwhile
            await stream.aclose()
            return conn
        assert self._nursery is not None
        await self._nursery.start(self._run_outbound, stream, dest)
        return self._conns.get(key)

    async def _run_outbound(self, stream: trio.abc.Stream, dest: Address,
                            task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        key = (dest.host, dest.port, dest.transport)
        conn = self._conns[key] = _Conn(stream, dest)
        task_status.started()
        lost = False
        try:
            async with stream:
                try:
                    with conn.scope:
                        lost = await self._read_loop(conn, dest)
                finally:
                    self._forget(conn)
            if lost:
                await self._connection_lost(dest)
        except Exception:  # noqa: BLE001 - this task runs in the stack's nursery: it must not end the stack
            internal_error(f"sip.{dest.transport}", f"the connection to {dest}")

    async def _idle_reaper(self) -> None:
        while True:
            await trio.sleep(max(0.05, min(self.idle_timeout / 4, 30.0)))
            now = trio.current_time()
            for conn in list(self._conns.values()):
                if now - conn.last_used > self.idle_timeout:
                    log.info("closing idle connection %s", conn.remote)
                    self._forget(conn)
                    conn.scope.cancel()

    # -- sending --------------------------------------------------------------
    async def _send(self, message: Request | Response, dest: Address) -> None:
        imp = self.impairments
        if imp:
            hold = imp.decide(dest.host, trio.current_time())
            if hold is None:
                return  # lost on the (impaired) link
            if hold > 0:
                assert self._nursery is not None
                self._nursery.start_soon(self._send_later, message, dest, hold)
                return
        await self._send_now(message, dest)

    async def _send_later(self, message: Request | Response, dest: Address, hold: float) -> None:
        await trio.sleep(hold)
        try:
            await self._send_now(message, dest)
        except Exception:  # noqa: BLE001 - a task of the stack's nursery: count it, never end the stack
            self.stats["send_errors"] += 1
            internal_error(f"sip.{dest.transport}", f"sending {_summary(message)} to {dest}")

    async def _send_now(self, message: Request | Response, dest: Address) -> None:
        data = message.to_bytes()
        if self.overload is not None and isinstance(message, Response) and (vias := message.get_all("via")):
            # Overload control's concurrency limit: the answer ends an admitted transaction (ims.net.overload).
            self.overload.answered(vias[0], message.get("cseq") or "", message.status, trio.current_time())
        if dest.transport == "udp" and isinstance(message, Request) and len(data) > MTU_LIMIT \
                and "tcp" in self.transports and message.method != "ACK":
            # §18.1.1: larger than 1300 bytes with an unknown path MTU -> a congestion-controlled
            # transport, with the top Via saying so.  A destination without TCP gets UDP after all.
            tcp_dest = Address(dest.host, dest.port, "tcp")
            if await self._connect(tcp_dest) is not None:
                via = message.get_all("via")[0]
                if "/UDP " in via.upper():
                    idx = via.upper().index("/UDP ")
                    message.pop_first_value("via")
                    message.add("Via", via[:idx] + "/TCP " + via[idx + 5:], first=True)
                    data = message.to_bytes()
                dest = tcp_dest
            else:
                log.info("%s has no TCP: sending a %d-byte request over UDP", dest, len(data))
        self.stats["tx"] += 1
        if self.on_message:
            self.on_message("out", data, self.local_address(dest.transport), dest)
        if dest.transport == "udp":
            if self._udp is None:
                await self._transport_error(dest)
                return
            await self._send_udp(data, dest)
            return
        key = (dest.host, dest.port, dest.transport)
        conn = self._conns.get(key)
        if conn is not None:
            if not await self._write(conn, data):
                self.stats["send_errors"] += 1
                await self._transport_error(dest)
            return
        # No connection yet: connect in a task of its own, so that a slow or silent peer (SYN dropped,
        # TLS handshake never answered) never holds up the receive loops; later messages to the same
        # peer queue behind the first, in order.
        pending = self._connecting.get(key)
        if pending is not None:
            pending.queue.append(data)
            return
        self._connecting[key] = _Pending([data])
        assert self._nursery is not None
        self._nursery.start_soon(self._connect_and_flush, dest)

    async def _connect_and_flush(self, dest: Address) -> None:
        key = (dest.host, dest.port, dest.transport)
        pending = self._connecting[key]
        try:
            conn = await self._connect(dest)
            for data in pending.queue:  # the list may grow while we write: iterate it live
                if conn is None or not await self._write(conn, data):
                    self.stats["send_errors"] += 1
                    await self._transport_error(dest)
        except Exception:  # noqa: BLE001 - a task of the stack's nursery: count it, never end the stack
            internal_error(f"sip.{dest.transport}", f"connecting to {dest}")
        finally:
            del self._connecting[key]
            pending.done.set()

    async def drain(self) -> None:
        """Wait until every message handed to :meth:`execute` has gone out or been reported failed."""
        while self._connecting:
            await next(iter(self._connecting.values())).done.wait()


def _summary(msg: Request | Response) -> str:
    """"INVITE Call-ID abc" / "200 Call-ID abc" for a log line; never raises (the message may be broken)."""
    try:
        what = msg.method if isinstance(msg, Request) else str(msg.status)
    except Exception:  # noqa: BLE001
        what = type(msg).__name__
    try:
        call_id = msg.get("call-id") or "?"
    except Exception:  # noqa: BLE001
        call_id = "?"
    return f"{what} Call-ID {call_id[:200]}"


def _answer(request: Request, status: int, reason: str, *, reason_header: str | None = None) -> bytes | None:
    """The bytes of a response to ``request``; None when even that cannot be built (logged, then dropped)."""
    try:
        resp = build_response(request, status, reason)
        if reason_header:
            resp.add("Reason", reason_header)
        return resp.to_bytes()
    except Exception as exc:  # noqa: BLE001 - the request is too broken to answer: drop it
        log.info("cannot answer %d to a %s: %s", status, _summary(request), exc)
        return None


def _sctp_socket(host: str) -> trio.socket.SocketType:
    """A one-to-one style SCTP socket (RFC 6458 §4), usable as a trio stream."""
    return trio.socket.socket(_family(host), socket.SOCK_STREAM, getattr(socket, "IPPROTO_SCTP", 132))


@functools.lru_cache(maxsize=4096)
def _numeric(host: str) -> bool:
    """An IPv4/IPv6 literal (a send needs no name resolution)."""
    for family in (socket.AF_INET, socket.AF_INET6):
        try:
            socket.inet_pton(family, host)
            return True
        except OSError:
            pass
    return False


def _family(host: str) -> int:
    return socket.AF_INET6 if ":" in host else socket.AF_INET
