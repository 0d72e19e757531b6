"""Synchronous control-plane clients, for the ``ims`` command, tests and users' scripts."""

from __future__ import annotations

import time
from typing import Any

import grpc

import ims.control  # noqa: F401 - generates the stubs
from ims.control.gen import hss_pb2, hss_pb2_grpc, node_pb2, node_pb2_grpc


class ControlError(RuntimeError):
    pass


class NodeClient:
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
            raise ControlError(f"{self.target}: {exc.code().name}: {exc.details()}") from None

    def health(self) -> dict[str, Any]:
        r = self._call(self.node.Health, node_pb2.Empty())
        return {"node": r.node, "kind": r.kind, "state": r.state, "pid": r.pid, "uptime": r.uptime,
                "version": r.version}

    def stats(self) -> dict[str, float]:
        return dict(self._call(self.node.Stats, node_pb2.Empty()).counters)

    def shutdown(self) -> None:
        self._call(self.node.Shutdown, node_pb2.Empty())


def wait_healthy(target: str, timeout: float = 10.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    with NodeClient(target, timeout=1.0) as client:
        while True:
            try:
                health = client.health()
                if health["state"] == "running":
                    return health
            except ControlError:
                pass
            if time.monotonic() > deadline:
                raise ControlError(f"{target}: not healthy after {timeout} s")
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
