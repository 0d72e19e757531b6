"""The HSS's gRPC provisioning service (ims/control/protos/hss.proto) on top of its store.

Store operations run on the HSS's store thread (through ``run_store``);
RTR/PPR run on the node's trio loop (``deregister``/``push_profile``).  The
gRPC thread only waits for them (see ``ims.control.server`` for the bridge).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from ims.control.gen import hss_pb2, hss_pb2_grpc
from ims.control.server import ControlServer
from ims.diameter.errors import DiameterError, DiameterTimeout
from ims.hss.provisioning import parse_csv
from ims.hss.store import StoreError, make_subscriber


class HssNode(Protocol):
    store: Any

    async def run_store(self, fn: Callable[..., Any], *args: Any) -> Any: ...
    async def deregister(self, impi: str) -> int | None: ...
    async def push_profile(self, impi: str) -> int | None: ...


class HssServicer(hss_pb2_grpc.HssServicer):
    def __init__(self, server: ControlServer, hss: HssNode) -> None:
        self.server = server
        self.hss = hss

    def _store(self, fn: Callable[..., Any], *args: Any) -> Any:
        return self.server.call(self.hss.run_store, fn, *args)

    def _guard(self, fn: Callable[[], hss_pb2.Result]) -> hss_pb2.Result:
        try:
            return fn()
        except (StoreError, DiameterError, DiameterTimeout) as exc:
            return hss_pb2.Result(ok=False, message=str(exc))

    def AddSubscriber(self, request: Any, context: Any) -> Any:  # noqa: N802 - gRPC names
        def run() -> hss_pb2.Result:
            rec = {f: getattr(request, f) or None for f in ("impi", "imsi", "msisdn", "k", "opc", "op", "amf",
                                                            "sqn", "password", "service_profile")}
            rec["impus"] = list(request.impus)
            self._store(self.hss.store.add, make_subscriber(rec))
            return hss_pb2.Result(ok=True, message=f"added {request.impi}", count=1)
        return self._guard(run)

    def GetSubscriber(self, request: Any, context: Any) -> Any:  # noqa: N802
        sub = self._store(self.hss.store.find, request.identity)
        if sub is None:
            import grpc
            context.abort(grpc.StatusCode.NOT_FOUND, f"unknown identity {request.identity}")
        return hss_pb2.Subscriber(impi=sub.impi, imsi=sub.imsi, impus=sub.impus, msisdn=sub.msisdn or "",
                                  amf=sub.amf.hex(), sqn=f"{sub.sqn:012x}", service_profile=sub.service_profile or "")

    def ListSubscribers(self, request: Any, context: Any) -> Any:  # noqa: N802
        rows = self._store(self.hss.store.list)
        return hss_pb2.SubscriberList(subscribers=[
            hss_pb2.Subscriber(impi=r["impi"], imsi=r["imsi"], msisdn=r["msisdn"] or "",
                               impus=(r["impus"] or "").split()) for r in rows])

    def DeleteSubscriber(self, request: Any, context: Any) -> Any:  # noqa: N802
        def run() -> hss_pb2.Result:
            self._store(self.hss.store.delete, request.identity)
            return hss_pb2.Result(ok=True, message=f"deleted {request.identity}")
        return self._guard(run)

    def ImportSubscribers(self, request: Any, context: Any) -> Any:  # noqa: N802
        def run() -> hss_pb2.Result:
            subs = parse_csv(request.csv)
            n = self._store(self.hss.store.add_many, subs)
            return hss_pb2.Result(ok=True, message=f"imported {n}", count=n)
        return self._guard(run)

    def _network(self, fn: Callable[[str], Awaitable[int | None]], impi: str) -> hss_pb2.Result:
        def run() -> hss_pb2.Result:
            code = self.server.call(fn, impi)
            return hss_pb2.Result(ok=code == 2001, message=f"answer {code}", result_code=code or 0)
        return self._guard(run)

    def Deregister(self, request: Any, context: Any) -> Any:  # noqa: N802
        return self._network(self.hss.deregister, request.identity)

    def PushProfile(self, request: Any, context: Any) -> Any:  # noqa: N802
        return self._network(self.hss.push_profile, request.identity)
