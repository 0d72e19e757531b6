"""A node's gRPC control server, running beside its trio loop.

grpcio's server handles each RPC on a thread of its own pool.  grpc.aio
would need asyncio and trio-asyncio is no longer maintained, so the bridge
is threads: a servicer that needs node state calls :meth:`ControlServer.call`,
which runs an async function on the node's trio loop with
``trio.from_thread.run`` and returns its result.  The loop never blocks on
gRPC; starting and stopping the server happen on worker threads.  Control
ports bind 127.0.0.1 by default.
"""

from __future__ import annotations

import os
import time
from collections.abc import Awaitable, Callable
from concurrent import futures
from typing import Any, TypeVar

import grpc
import trio

import ims
from ims.control.gen import node_pb2, node_pb2_grpc

T = TypeVar("T")


class ControlServer:
    def __init__(self, node: str, kind: str, *, host: str = "127.0.0.1", port: int = 0, workers: int = 4) -> None:
        self.node = node
        self.kind = kind
        self.host = host
        self.port = port
        self.state = "starting"
        self.started = time.monotonic()
        self.stats: Callable[[], dict[str, float]] = dict
        self._token: trio.lowlevel.TrioToken | None = None
        self._shutdown: trio.Event | None = None
        self._server = grpc.server(futures.ThreadPoolExecutor(max_workers=workers))
        node_pb2_grpc.add_NodeServicer_to_server(_NodeServicer(self), self._server)

    def add_servicer(self, add_fn: Callable[[Any, grpc.Server], None], servicer: object) -> None:
        add_fn(servicer, self._server)

    def call(self, async_fn: Callable[..., Awaitable[T]], *args: Any) -> T:
        """From a gRPC thread: run ``async_fn(*args)`` on the node's trio loop."""
        assert self._token is not None
        return trio.from_thread.run(async_fn, *args, trio_token=self._token)

    async def serve(self, *, task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED) -> None:
        """Run until cancelled or a Shutdown RPC; then stop the gRPC server."""
        self._token = trio.lowlevel.current_trio_token()
        self._shutdown = trio.Event()
        bound = self._server.add_insecure_port(f"{self.host}:{self.port}")
        if bound == 0:
            raise OSError(f"cannot bind the control port {self.host}:{self.port}")
        self.port = bound
        await trio.to_thread.run_sync(self._server.start)
        self.state = "running"
        task_status.started(bound)
        try:
            await self._shutdown.wait()
        finally:
            self.state = "stopping"
            with trio.CancelScope(shield=True):
                await trio.to_thread.run_sync(lambda: self._server.stop(grace=0.5).wait(2))

    @property
    def shutdown_requested(self) -> trio.Event:
        assert self._shutdown is not None
        return self._shutdown


class _NodeServicer(node_pb2_grpc.NodeServicer):
    def __init__(self, server: ControlServer) -> None:
        self.s = server

    def Health(self, request: Any, context: Any) -> Any:  # noqa: N802 - gRPC method names
        return node_pb2.HealthReply(node=self.s.node, kind=self.s.kind, state=self.s.state, pid=os.getpid(),
                                    uptime=time.monotonic() - self.s.started, version=ims.__version__)

    def Stats(self, request: Any, context: Any) -> Any:  # noqa: N802
        stats = self.s.call(_async_value, self.s.stats)
        return node_pb2.StatsReply(counters={k: float(v) for k, v in stats.items()})

    def Shutdown(self, request: Any, context: Any) -> Any:  # noqa: N802
        self.s.call(_set, self.s.shutdown_requested)
        return node_pb2.Empty()


async def _async_value(fn: Callable[[], T]) -> T:
    return fn()


async def _set(event: trio.Event) -> None:
    event.set()
