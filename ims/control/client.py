"""Synchronous control-plane clients: the same library for the ``ims`` command, tests and users' scripts.

Plain blocking calls on a grpcio channel (no event loop needed)::

    from ims.control.client import NodeClient, wait_healthy
    wait_healthy("127.0.0.1:7001", timeout=10)
    with NodeClient("127.0.0.1:7001") as node:
        print(node.health(), node.stats())
        for ev in node.events(timeout=30, kinds=["sip"]):
            print(ev.seq, ev.direction, ev.summary)

Every failure is a :class:`ControlError` naming the target and the gRPC
status.  A node whose control service wants a bearer token (one listening
beyond loopback, :mod:`ims.control.auth`) gets it on every call of the
channel: ``NodeClient(target, token=...)``, by default ``$IMS_CONTROL_TOKEN``.  From trio code, call these through ``trio.to_thread.run_sync``:
they block, and a server in the same process answers on the trio loop.
"""

from __future__ import annotations

import collections
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import grpc

import ims.control  # noqa: F401 - generates the stubs
from ims.control.auth import bearer_metadata, token_from_env
from ims.control.events import NodeEvent
from ims.control.gen import node_pb2, node_pb2_grpc


class ControlError(RuntimeError):
    """A control RPC failed; ``code`` is the gRPC status (None for a refusal inside a successful reply)."""

    def __init__(self, message: str, code: grpc.StatusCode | None = None) -> None:
        super().__init__(message)
        self.code = code


class NodeClient:
    """The Node service of one node at ``target`` ("127.0.0.1:PORT"); ``timeout`` bounds each unary call."""

    def __init__(self, target: str, timeout: float = 5.0, *, token: str | None = None) -> None:
        self.target = target
        self.timeout = timeout
        self.channel = control_channel(target, token)
        self.node = node_pb2_grpc.NodeStub(self.channel)

    def close(self) -> None:
        self.channel.close()

    def __enter__(self) -> NodeClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _call(self, fn: Any, request: Any, timeout: float | None = None) -> Any:
        """One unary call bounded by ``timeout`` (default: the client's); ControlError on any failure."""
        try:
            return fn(request, timeout=timeout or self.timeout)
        except grpc.RpcError as exc:
            raise ControlError(f"{self.target}: {exc.code().name}: {exc.details()}", exc.code()) from None

    _rpc = _call  # the name the node-specific clients use

    def health(self) -> dict[str, Any]:
        """node, kind, state ("starting" | "running" | "stopping"), pid, uptime (s), version."""
        r = self._call(self.node.Health, node_pb2.Empty())
        return {"node": r.node, "kind": r.kind, "state": r.state, "pid": r.pid, "uptime": r.uptime,
                "version": r.version}

    def stats(self) -> dict[str, float | int]:
        """The node's counters (ints stay ints), plus events_published/event_subscribers/events_dropped."""
        r = self._call(self.node.Stats, node_pb2.Empty())
        return {k: (v.int_value if v.WhichOneof("value") == "int_value" else v.float_value)
                for k, v in r.stats.items()}

    def config(self) -> dict[str, str]:
        return dict(self._call(self.node.Config, node_pb2.Empty()).config)

    def shutdown(self, reason: str = "") -> None:
        """Ask the node to stop gracefully; returns once the node has accepted (it exits shortly after)."""
        self._call(self.node.Shutdown, node_pb2.ShutdownRequest(reason=reason))

    def impair(self, peer: str = "*", *, delay_ms: float = 0.0, jitter_ms: float = 0.0, loss_percent: float = 0.0,
               pause_s: float = 0.0, clear: bool = False) -> list[str]:
        """Impair what the node sends toward ``peer`` (a host or "*"); the rules now in force.
        ``clear``: remove ``peer``'s rule (every rule with ``peer=""``)."""
        return list(self._call(self.node.Impair, node_pb2.ImpairRequest(
            peer=peer, delay_ms=delay_ms, jitter_ms=jitter_ms, loss_percent=loss_percent, pause_s=pause_s,
            clear=clear)).rules)

    def events(self, timeout: float | None = None, *, kinds: Iterable[str] = (), depth: int = 0
               ) -> Iterator[NodeEvent]:
        """The node's messages as they are sent/received, from now on, until ``timeout`` seconds pass
        (None: until the node stops) or the iterator is closed.

        ``kinds`` filters on the node ("sip", "diameter", ...); ``depth`` bounds this subscriber's
        queue on the node (0: the node's default).  An event's ``dropped`` counts the events this
        subscriber lost just before it because it read too slowly.
        """
        call = self.node.Events(node_pb2.EventsRequest(kinds=list(kinds), depth=depth), timeout=timeout)
        try:
            for m in call:
                yield NodeEvent(kind=m.kind, direction=m.direction, src=m.src, dst=m.dst, transport=m.transport,
                                payload=m.payload, summary=m.summary, fields=dict(m.fields), time=m.time,
                                node=m.node, seq=m.seq, dropped=m.dropped)
        except grpc.RpcError as exc:
            if exc.code() in (grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.CANCELLED):
                return
            raise ControlError(f"{self.target}: {exc.code().name}: {exc.details()}", exc.code()) from None
        finally:
            call.cancel()


def wait_healthy(target: str, timeout: float = 10.0, *, token: str | None = None) -> dict[str, Any]:
    """Poll Health until the node says "running"; its health dict.  ControlError after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    last = "no answer"
    with NodeClient(target, timeout=1.0, token=token) as client:
        while True:
            try:
                health = client.health()
                if health["state"] == "running":
                    return health
                last = f"state {health['state']}"
            except ControlError as exc:
                last = str(exc)
            if time.monotonic() > deadline:
                raise ControlError(f"{target}: not healthy after {timeout} s ({last})")
            time.sleep(0.05)


def control_channel(target: str, token: str | None = None) -> grpc.Channel:
    """A channel to a node's control service whose every call carries the bearer token
    (``token``, else ``$IMS_CONTROL_TOKEN``; none: a plain channel)."""
    channel = grpc.insecure_channel(target)
    metadata = bearer_metadata(token or token_from_env())
    if not metadata:
        return channel
    return grpc.intercept_channel(channel, _WithMetadata(metadata))


class _CallDetails(collections.namedtuple("_CallDetails", ("method", "timeout", "metadata", "credentials",
                                                             "wait_for_ready", "compression")),
                   grpc.ClientCallDetails):  # type: ignore[misc]
    pass


class _WithMetadata(grpc.UnaryUnaryClientInterceptor, grpc.UnaryStreamClientInterceptor,  # type: ignore[misc]
                    grpc.StreamUnaryClientInterceptor, grpc.StreamStreamClientInterceptor):
    """Adds fixed metadata (the bearer token) to every call of a channel."""

    def __init__(self, metadata: tuple[tuple[str, str], ...]) -> None:
        self.metadata = metadata

    def _details(self, d: Any) -> _CallDetails:
        return _CallDetails(d.method, d.timeout, (*(d.metadata or ()), *self.metadata), d.credentials,
                            getattr(d, "wait_for_ready", None), getattr(d, "compression", None))

    def intercept_unary_unary(self, continuation: Callable[..., Any], details: Any, request: Any) -> Any:
        return continuation(self._details(details), request)

    def intercept_unary_stream(self, continuation: Callable[..., Any], details: Any, request: Any) -> Any:
        return continuation(self._details(details), request)

    def intercept_stream_unary(self, continuation: Callable[..., Any], details: Any, requests: Any) -> Any:
        return continuation(self._details(details), requests)

    def intercept_stream_stream(self, continuation: Callable[..., Any], details: Any, requests: Any) -> Any:
        return continuation(self._details(details), requests)


def __getattr__(name: str) -> Any:
    """``HssClient`` lives with its servicer in :mod:`ims.control.hss`; this name stays for old imports."""
    if name == "HssClient":
        from ims.control.hss import HssClient

        return HssClient
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
