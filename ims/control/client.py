"""Synchronous control-plane clients: the same library for the ``ims`` command, tests and users' scripts.

Plain blocking calls on a grpcio channel (no event loop needed)::

    from ims.control.client import NodeClient, wait_healthy
    wait_healthy("127.0.0.1:7001", timeout=10)
    with NodeClient("127.0.0.1:7001") as node:
        print(node.health(), node.stats())
        for ev in node.events(timeout=30, kinds=["sip"]):
            print(ev.seq, ev.direction, ev.summary)

Every failure is a :class:`ControlError` naming the target and the gRPC
status.  From trio code, call these through ``trio.to_thread.run_sync``:
they block, and a server in the same process answers on the trio loop.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from typing import Any

import grpc

import ims.control  # noqa: F401 - generates the stubs
from ims.control.events import NodeEvent
from ims.control.gen import hss_pb2, hss_pb2_grpc, node_pb2, node_pb2_grpc


class ControlError(RuntimeError):
    """A control RPC failed; ``code`` is the gRPC status (None for a refusal inside a successful reply)."""

    def __init__(self, message: str, code: grpc.StatusCode | None = None) -> None:
        super().__init__(message)
        self.code = code


class NodeClient:
    """The Node service of one node at ``target`` ("127.0.0.1:PORT"); ``timeout`` bounds each unary call."""

    def __init__(self, target: str, timeout: float = 5.0) -> None:
        self.target = target
        self.timeout = timeout
        self.channel = grpc.insecure_channel(target)
        self.node = node_pb2_grpc.NodeStub(self.channel)

    def close(self) -> None:
        self.channel.close()

    def __enter__(self) -> NodeClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _call(self, fn: Any, request: Any) -> Any:
        try:
            return fn(request, timeout=self.timeout)
        except grpc.RpcError as exc:
            raise ControlError(f"{self.target}: {exc.code().name}: {exc.details()}", exc.code()) from None

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


def wait_healthy(target: str, timeout: float = 10.0) -> dict[str, Any]:
    """Poll Health until the node says "running"; its health dict.  ControlError after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    last = "no answer"
    with NodeClient(target, timeout=1.0) as client:
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


class HssClient(NodeClient):
    def __init__(self, target: str, timeout: float = 10.0) -> None:
        super().__init__(target, timeout)
        self.hss = hss_pb2_grpc.HssStub(self.channel)

    def _result(self, r: Any) -> Any:
        if not r.ok:
            raise ControlError(r.message)
        return r

    def add_subscriber(self, **fields: Any) -> None:
        impus = fields.pop("impus", [])
        if isinstance(impus, str):
            impus = impus.split()
        self._result(self._call(self.hss.AddSubscriber, hss_pb2.Subscriber(impus=impus, **{
            k: str(v) for k, v in fields.items() if v is not None})))

    def get_subscriber(self, identity: str) -> dict[str, Any]:
        r = self._call(self.hss.GetSubscriber, hss_pb2.Identity(identity=identity))
        return {"impi": r.impi, "imsi": r.imsi, "impus": list(r.impus), "msisdn": r.msisdn, "amf": r.amf,
                "sqn": r.sqn, "service_profile": r.service_profile}

    def list_subscribers(self) -> list[dict[str, Any]]:
        r = self._call(self.hss.ListSubscribers, hss_pb2.ListRequest())
        return [{"impi": s.impi, "imsi": s.imsi, "msisdn": s.msisdn, "impus": " ".join(s.impus)}
                for s in r.subscribers]

    def delete_subscriber(self, impi: str) -> None:
        self._result(self._call(self.hss.DeleteSubscriber, hss_pb2.Identity(identity=impi)))

    def import_subscribers(self, csv_text: str) -> int:
        return int(self._result(self._call(self.hss.ImportSubscribers, hss_pb2.CsvImport(csv=csv_text))).count)

    def deregister(self, impi: str) -> int:
        """RTR to the serving S-CSCF; returns the RTA's result code."""
        return int(self._result(self._call(self.hss.Deregister, hss_pb2.Identity(identity=impi))).result_code)

    def push_profile(self, impi: str) -> int:
        return int(self._result(self._call(self.hss.PushProfile, hss_pb2.Identity(identity=impi))).result_code)
