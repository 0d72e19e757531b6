"""A node's gRPC control server (ims/control/protos/node.proto), running beside its trio loop.

The bridge between grpcio and trio is threads, on purpose:

* grpc.aio would need an asyncio loop in the process, and trio-asyncio (the
  only way to share one thread between the two) is unmaintained; so the
  classic grpcio server runs on its own thread pool, and the trio loop never
  calls into gRPC except through ``trio.to_thread`` (start, stop).
* An RPC that needs node state crosses into trio: :meth:`ControlServer.run_on_trio`
  (``trio.from_thread.run`` with the node's ``TrioToken``) runs an async
  function on the loop and hands its result back to the gRPC thread.  Stats
  and Config are read the same way (``run_sync_on_trio``), so a node's
  counters are only ever touched from its own thread.
* The event stream goes the other way: trio code calls
  ``server.events.publish(...)``, which appends to each subscriber's bounded
  queue and returns; a gRPC thread per ``Events`` stream drains its queue.
  A slow subscriber loses its oldest events (counted), never the node's time.
  (:mod:`ims.control.events`.)

Lifecycle: ``await nursery.start(control.serve)`` in the node's main nursery
binds (127.0.0.1 by default; ``SO_REUSEPORT`` off, so a taken port is an
error) and starts the gRPC threads.  Beyond loopback it needs a token
(:mod:`ims.control.auth`): every RPC must then carry ``authorization: Bearer
<token>`` or is refused UNAUTHENTICATED, and without one the server refuses
to be built (``ControlAuthError``).

Every RPC runs inside one error boundary (an interceptor): an exception no
handler expected is logged with its traceback, counted in the node's
``internal_errors`` as ``grpc.<Method>`` and answered INTERNAL with a
message; the server goes on serving.  The node's Stats carry
``internal_errors`` (every boundary of the process: SIP, Diameter, gRPC...).  A Shutdown RPC (or
:meth:`request_shutdown`, e.g. from a SIGTERM handler) moves the node to
"stopping", runs the cleanup callbacks registered with :meth:`on_shutdown`
(Diameter DPR and the like, bounded by ``cleanup_timeout``), then cancels the
nursery ``serve`` runs in (unless the node waits on ``shutdown_requested``
and stops itself).  However ``serve`` ends (that, or the nursery being
cancelled from elsewhere), it stops the gRPC server with a grace period on a
worker thread, shielded, so no RPC thread outlives the node's loop.

This module is not the node runtime (argument parsing, logging, signals):
see :mod:`ims.net.node`.  Nor is it a client: see :mod:`ims.control.client`.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping
from concurrent import futures
from typing import Any, TypeVar

import grpc
import trio

import ims
from ims.control.auth import authorized, check_bind, token_from_env
from ims.control.events import DEFAULT_DEPTH, EventBus, NodeEvent
from ims.control.gen import node_pb2, node_pb2_grpc
from ims.net.boundary import internal_error, internal_errors
from ims.net.impair import Impairments

log = logging.getLogger("ims.control")

T = TypeVar("T")
STATES = ("starting", "running", "stopping")
MAX_DEPTH = 1_000_000


class ControlServer:
    """The control service of one node.  Set ``stats``/``config``, publish to ``events``, then ``serve``."""

    def __init__(self, node: str, kind: str, *, host: str = "127.0.0.1", port: int = 0, workers: int = 16,
                 grace: float = 1.0, cleanup_timeout: float = 5.0, event_depth: int = DEFAULT_DEPTH,
                 auth_token: str | None = None) -> None:
        """``auth_token``: the bearer token every RPC must carry (default: $IMS_CONTROL_TOKEN, else none);
        a ``host`` beyond loopback without one raises :class:`~ims.control.auth.ControlAuthError`."""
        self.node = node
        self.kind = kind
        self.host = host
        self.auth_token = auth_token or token_from_env()
        check_bind(host, self.auth_token)
        self.port = port
        self.grace = grace  # seconds in-flight RPCs get when the server stops
        self.cleanup_timeout = cleanup_timeout
        self.state = "starting"
        # serve() marks the node "running" once the gRPC server is up; a runtime that wants
        # "running" to mean "listeners ready" clears this and calls set_running() itself.
        self.auto_running = True
        self.started = time.monotonic()
        self.stats: Callable[[], Mapping[str, float | int]] = dict
        self.config: Callable[[], Mapping[str, str]] = dict
        self.events = EventBus(node, default_depth=event_depth)
        self.impairments = Impairments()  # the node's senders consult it (ims.net.impair)
        self.shutdown_reason = ""
        self._cleanups: list[Callable[[], Awaitable[Any]]] = []
        self._cleanup_scope: trio.CancelScope | None = None
        self._token: trio.lowlevel.TrioToken | None = None
        self._shutdown = trio.Event()
        self._served = False
        self._node_owns_stop = False
        # Each Events stream holds a worker thread; keep some for unary RPCs (Health must always answer).
        self.max_streams = max(1, workers - 4)
        self._server = grpc.server(
            futures.ThreadPoolExecutor(max_workers=workers, thread_name_prefix=f"control-{node}"),
            options=[("grpc.so_reuseport", 0)], maximum_concurrent_rpcs=workers,
            interceptors=[_Boundary(self)])
        node_pb2_grpc.add_NodeServicer_to_server(_NodeServicer(self), self._server)

    # -- configuration -----------------------------------------------------------------------------
    def add_servicer(self, add_fn: Callable[[Any, grpc.Server], None], servicer: object) -> None:
        """Add a node-specific service, e.g. ``add_fn=hss_pb2_grpc.add_HssServicer_to_server``."""
        if self._served:
            raise RuntimeError("add_servicer after serve(): gRPC fixes its services when it starts")
        add_fn(servicer, self._server)

    def add_generic_rpc_handlers(self, handlers: tuple[grpc.GenericRpcHandler, ...]) -> None:
        """Services without generated code (tests, raw-bytes methods)."""
        self._server.add_generic_rpc_handlers(handlers)

    def on_shutdown(self, async_fn: Callable[[], Awaitable[Any]]) -> None:
        """Run ``await async_fn()`` on graceful stop, before the node's nursery is cancelled (last added, first run)."""
        self._cleanups.append(async_fn)

    # -- the bridge ----------------------------------------------------------------------------
    @property
    def token(self) -> trio.lowlevel.TrioToken:
        if self._token is None:
            raise RuntimeError("the control server is not serving yet")
        return self._token

    def run_on_trio(self, async_fn: Callable[..., Awaitable[T]], *args: Any) -> T:
        """From a gRPC worker thread: ``await async_fn(*args)`` on the node's loop; returns its result.

        Raises ``trio.RunFinishedError`` when the node's loop has ended.
        """
        return trio.from_thread.run(async_fn, *args, trio_token=self.token)

    call = run_on_trio  # the first name of this helper; kept for existing servicers

    def run_sync_on_trio(self, fn: Callable[..., T], *args: Any) -> T:
        """From a gRPC worker thread: ``fn(*args)`` on the node's loop (for reading node state)."""
        return trio.from_thread.run_sync(fn, *args, trio_token=self.token)

    # -- lifecycle --------------------------------------------------------------------------------
    @property
    def shutdown_requested(self) -> trio.Event:
        """Set when a graceful stop has been asked for (Shutdown RPC, signal, request_shutdown).

        A node that reads this event (at setup) owns its stop: ``serve`` then runs the cleanups and
        returns without cancelling the nursery, and the node cancels it when its own
        shutdown work is done.  Nodes that do not look at it are stopped by ``serve``.
        """
        self._node_owns_stop = True
        return self._shutdown

    def set_running(self) -> None:
        if self.state == "starting":
            self.state = "running"

    def request_shutdown(self, reason: str = "") -> None:
        """Ask for a graceful stop (call on the trio thread).  A second request skips the remaining cleanups."""
        if self._shutdown.is_set():
            if self._cleanup_scope is not None:
                log.warning("second stop request (%s): skipping the remaining cleanup", reason or "no reason")
                self._cleanup_scope.cancel()
            return
        self.shutdown_reason = reason
        self._shutdown.set()

    async def serve(self, *, task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED) -> None:
        """Serve until a graceful stop or cancellation; ``task_status.started(bound_port)``.

        Start it as a task of the node's main nursery: a graceful stop cancels that nursery.
        """
        if self._served:
            raise RuntimeError("a ControlServer serves once (grpc servers cannot restart)")
        self._served = True
        self._token = trio.lowlevel.current_trio_token()
        try:
            self.port = await trio.to_thread.run_sync(self._start)
            if self.auto_running:
                self.set_running()
            log.debug("control listening on %s:%d", self.host, self.port)
            task_status.started(self.port)
            await self._shutdown.wait()
            await self._stop_node()
        finally:
            self.state = "stopping"
            self.events.close()  # every Events stream ends cleanly
            with trio.CancelScope(shield=True):
                await trio.to_thread.run_sync(self._stop)

    def _start(self) -> int:
        address = f"{self.host}:{self.port}"
        try:
            bound = self._server.add_insecure_port(address)
        except RuntimeError as exc:  # recent grpcio raises instead of returning 0
            raise OSError(f"cannot bind the control port {address}: {exc}") from None
        if bound == 0:
            raise OSError(f"cannot bind the control port {address}")
        self._server.start()
        return bound

    def _stop(self) -> None:
        self._server.stop(self.grace).wait(self.grace + 5.0)

    async def _stop_node(self) -> None:
        self.state = "stopping"
        log.info("stopping (%s)", self.shutdown_reason or "shutdown requested")
        # Tasks that wait on shutdown_requested themselves run before the nursery is cancelled.
        await trio.lowlevel.checkpoint()
        with trio.move_on_after(self.cleanup_timeout) as self._cleanup_scope:
            for fn in reversed(self._cleanups):
                try:
                    await fn()
                except Exception:
                    log.exception("shutdown cleanup %s failed", getattr(fn, "__qualname__", fn))
        if self._cleanup_scope.cancelled_caught:
            log.warning("shutdown cleanup cut short after %.1f s", self.cleanup_timeout)
        if self._node_owns_stop:
            return
        nursery = trio.lowlevel.current_task().parent_nursery
        if nursery is not None and nursery.parent_task is not trio.lowlevel.current_root_task():
            nursery.cancel_scope.cancel()
        # else: serve() was awaited by the main task itself; returning ends it.

    # -- what the RPCs read ---------------------------------------------------------------------
    def health(self) -> dict[str, Any]:
        return {"node": self.node, "kind": self.kind, "state": self.state, "pid": os.getpid(),
                "uptime": time.monotonic() - self.started, "version": ims.__version__}

    def collect_stats(self) -> dict[str, float | int]:
        """The node's counters plus the event bus's (on the trio thread)."""
        return {**self.stats(), **self.events.stats(), **self.impairments.stats,
                "internal_errors": internal_errors()}


class _Boundary(grpc.ServerInterceptor):  # type: ignore[misc]
    """Every RPC of the server: the token check, then the handler inside one error boundary."""

    def __init__(self, server: ControlServer) -> None:
        self.s = server

    def intercept_service(self, continuation: Callable[[Any], Any], details: Any) -> Any:
        handler = continuation(details)
        if handler is None:  # no such method: gRPC answers UNIMPLEMENTED
            return None
        method = str(details.method).rsplit("/", 1)[-1]
        token = self.s.auth_token
        if token is not None and not authorized(details.invocation_metadata, token):
            return _handler_like(handler, _refuse(self.s.node, method), _refuse(self.s.node, method))
        return _handler_like(handler, _guard_unary(_handler_fn(handler), method),
                             _guard_stream(_handler_fn(handler), method))


def _handler_fn(handler: Any) -> Callable[..., Any]:
    return handler.unary_unary or handler.unary_stream or handler.stream_unary or handler.stream_stream


def _handler_like(handler: Any, unary: Callable[..., Any], stream: Callable[..., Any]) -> Any:
    """A method handler of the same shape and codecs as ``handler`` running ``unary`` (single response)
    or ``stream`` (streamed response) instead."""
    codecs = {"request_deserializer": handler.request_deserializer,
              "response_serializer": handler.response_serializer}
    if handler.unary_unary is not None:
        return grpc.unary_unary_rpc_method_handler(unary, **codecs)
    if handler.unary_stream is not None:
        return grpc.unary_stream_rpc_method_handler(stream, **codecs)
    if handler.stream_unary is not None:
        return grpc.stream_unary_rpc_method_handler(unary, **codecs)
    return grpc.stream_stream_rpc_method_handler(stream, **codecs)


def _refuse(node: str, method: str) -> Callable[[Any, grpc.ServicerContext], Any]:
    def refuse(request: Any, context: grpc.ServicerContext) -> Any:
        log.info("refused %s from %s: no valid bearer token", method, context.peer())
        context.abort(grpc.StatusCode.UNAUTHENTICATED,
                      f"{node}: this control service needs 'authorization: Bearer <token>' metadata "
                      "(IMS_CONTROL_TOKEN)")
    return refuse


def _already_answered(context: grpc.ServicerContext) -> bool:
    """The handler aborted (or set its status) itself: that answer stands; ``abort`` raises a bare Exception."""
    try:
        code = context.code()
    except Exception:  # noqa: BLE001 - an older grpcio without ServicerContext.code()
        return False
    return code is not None and code != grpc.StatusCode.OK


def _fail(context: grpc.ServicerContext, method: str, exc: Exception) -> None:
    internal_error(f"grpc.{method}", f"{method} from {context.peer()}", logger=log)
    context.abort(grpc.StatusCode.INTERNAL, f"{method} failed on the node: {type(exc).__name__}: {exc}")


def _guard_unary(fn: Callable[..., Any], method: str) -> Callable[..., Any]:
    def call(request: Any, context: grpc.ServicerContext) -> Any:
        try:
            return fn(request, context)
        except Exception as exc:  # noqa: BLE001 - the per-RPC boundary
            if _already_answered(context):
                raise
            _fail(context, method, exc)
    return call


def _guard_stream(fn: Callable[..., Any], method: str) -> Callable[..., Any]:
    def call(request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
        try:
            yield from fn(request, context)
        except Exception as exc:  # noqa: BLE001 - the per-RPC boundary
            if _already_answered(context):
                raise
            _fail(context, method, exc)
    return call


def _stat_value(value: Any) -> Any:
    if isinstance(value, int):  # bool included
        return node_pb2.StatValue(int_value=int(value))
    return node_pb2.StatValue(float_value=float(value))


def event_to_proto(ev: NodeEvent) -> Any:
    return node_pb2.Event(time=ev.time, node=ev.node, kind=ev.kind, direction=ev.direction, src=ev.src, dst=ev.dst,
                          transport=ev.transport, payload=ev.payload, summary=ev.summary, fields=dict(ev.fields),
                          seq=ev.seq, dropped=ev.dropped)


class _NodeServicer(node_pb2_grpc.NodeServicer):
    """The Node service; runs on gRPC worker threads."""

    def __init__(self, server: ControlServer) -> None:
        self.s = server

    def _on_trio(self, context: grpc.ServicerContext, fn: Callable[..., T], *args: Any) -> T:
        try:
            return self.s.run_sync_on_trio(fn, *args)
        except trio.RunFinishedError:
            context.abort(grpc.StatusCode.UNAVAILABLE, f"node {self.s.node} has stopped")
        # Anything else the node's code raised is the RPC boundary's (_Boundary): logged, counted, INTERNAL.
        raise AssertionError("unreachable: context.abort raises")

    def Health(self, request: Any, context: grpc.ServicerContext) -> Any:  # noqa: N802 - gRPC method names
        return node_pb2.HealthReply(**self.s.health())

    def Stats(self, request: Any, context: grpc.ServicerContext) -> Any:  # noqa: N802
        stats = self._on_trio(context, self.s.collect_stats)
        return node_pb2.StatsReply(stats={str(k): _stat_value(v) for k, v in stats.items()})

    def Config(self, request: Any, context: grpc.ServicerContext) -> Any:  # noqa: N802
        config = self._on_trio(context, lambda: dict(self.s.config()))
        return node_pb2.ConfigReply(config={str(k): str(v) for k, v in config.items()})

    def Shutdown(self, request: Any, context: grpc.ServicerContext) -> Any:  # noqa: N802
        reason = getattr(request, "reason", "") or f"Shutdown RPC from {context.peer()}"
        self._on_trio(context, self.s.request_shutdown, reason)
        return node_pb2.Empty()

    def Impair(self, request: Any, context: grpc.ServicerContext) -> Any:  # noqa: N802
        imp = self.s.impairments

        def apply() -> list[str]:
            now = trio.current_time()
            if request.clear:
                imp.clear(request.peer or None)
            else:
                imp.set(request.peer, delay_ms=request.delay_ms, jitter_ms=request.jitter_ms,
                        loss_percent=request.loss_percent, pause_s=request.pause_s, now=now)
            log.info("impairments now: %s", "; ".join(imp.describe(now)) or "none")
            return imp.describe(now)

        try:
            rules = self.s.run_sync_on_trio(apply)
        except ValueError as exc:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        except trio.RunFinishedError:
            context.abort(grpc.StatusCode.UNAVAILABLE, f"node {self.s.node} has stopped")
        return node_pb2.ImpairReply(rules=rules)

    def Events(self, request: Any, context: grpc.ServicerContext) -> Iterator[Any]:  # noqa: N802
        bus = self.s.events
        if bus.subscribers >= self.s.max_streams:
            context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED,
                          f"{bus.subscribers} event streams already open on {self.s.node}")
        sub = bus.subscribe(min(request.depth, MAX_DEPTH), list(request.kinds) or None)
        if not context.add_callback(sub.close):  # wakes us when the client cancels or its deadline passes
            sub.close()
        try:
            while not sub.closed:
                items, lost = sub.get(timeout=1.0)
                for item in items:
                    yield event_to_proto(bus.materialize(item, lost))
                    lost = 0
        finally:
            bus.unsubscribe(sub)
