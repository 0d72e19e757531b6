"""The HSS control service (ims/control/protos/hss.proto): its client and its servicer.

:class:`HssClient` is the synchronous client the ``ims subscriber
--control`` command, tests and users' scripts use::

    with HssClient("127.0.0.1:7010") as hss:
        hss.add_subscriber(impi="1@ims.example.net", imsi="001010000000001",
                           impus=["sip:alice@ims.example.net"], k="00" * 16, opc="11" * 16)
        hss.update_subscriber("1@ims.example.net", service_profile="mmtel")   # PPR if registered
        hss.deregister("sip:alice@ims.example.net")                           # RTR; the RTA's code

Refusals (duplicates, bad hex, wrong key lengths, unknown identities, a
bad CSV line) raise :class:`~ims.control.client.ControlError` with the
HSS's message.

:class:`HssServicer` runs in the HSS process on grpcio's worker threads.
It holds no state: store operations go to the node's store thread and
RTR/PPR to its trio loop, both through ``ControlServer.run_on_trio``.  The
node object it drives only has to offer the :class:`HssNode` methods.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, Protocol

import grpc

import ims.control  # noqa: F401 - generates the stubs
from ims.control.client import ControlError, NodeClient
from ims.control.gen import hss_pb2, hss_pb2_grpc
from ims.control.server import ControlServer

_WRITE_ONLY = ("k", "opc", "op", "password", "ha1")


class HssClient(NodeClient):
    """The Hss and Node services of a running HSS at ``target`` ("127.0.0.1:PORT")."""

    def __init__(self, target: str, timeout: float = 30.0, *, token: str | None = None) -> None:
        super().__init__(target, timeout, token=token)
        self.hss = hss_pb2_grpc.HssStub(self.channel)

    def _rpc(self, fn: Any, request: Any) -> Any:
        try:
            return fn(request, timeout=self.timeout)
        except grpc.RpcError as exc:
            code = exc.code()
            if code == grpc.StatusCode.NOT_FOUND:
                raise ControlError(str(exc.details()), code) from None
            raise ControlError(f"{self.target}: {code.name}: {exc.details()}", code) from None

    def _ok(self, r: Any) -> Any:
        if not r.ok:
            raise ControlError(r.message)
        return r

    def add_subscriber(self, **fields: Any) -> None:
        """Fields as in ``ims.hss.provisioning.make_subscriber``; ``impus`` a list or "a b|c" text."""
        impus = fields.pop("impus", [])
        irs: list[int] = list(fields.pop("irs", []) or [])
        if isinstance(impus, str):
            from ims.hss.provisioning import parse_impus

            impus, irs = parse_impus(impus)
        barred = fields.pop("barred", False)
        barred_impus = list(fields.pop("barred_impus", []) or [])
        if isinstance(barred, list | set | tuple):
            barred_impus, barred = list(barred), False
        schemes = fields.pop("auth_schemes", None)
        if schemes is not None and not isinstance(schemes, str):
            schemes = ",".join(schemes)
        sqn = fields.pop("sqn", None)
        if isinstance(sqn, int):
            sqn = f"{sqn:012x}"
        msg = hss_pb2.HssSubscriber(impus=list(impus), irs=irs, barred=bool(barred), barred_impus=barred_impus,
                                    auth_schemes=schemes or "", sqn=sqn or "",
                                    **{k: (v.hex() if isinstance(v, bytes) else str(v))
                                       for k, v in fields.items() if v is not None})
        self._ok(self._rpc(self.hss.AddSubscriber, msg))

    def get_subscriber(self, identity: str) -> dict[str, Any]:
        """What ``ims subscriber show`` prints (no secrets), plus the registration state per IMPU."""
        r = self._rpc(self.hss.GetSubscriber, hss_pb2.HssIdentity(identity=identity))
        sets: dict[int, list[str]] = {}
        for u, s in zip(r.impus, r.irs or [1] * len(r.impus)):
            sets.setdefault(s, []).append(u)
        return {"impi": r.impi, "imsi": r.imsi, "impus": list(r.impus), "msisdn": r.msisdn or None,
                "implicit_sets": list(sets.values()), "amf": r.amf, "sqn": r.sqn,
                "service_profile": r.service_profile or None,
                "auth_schemes": [s for s in r.auth_schemes.split(",") if s], "barred": r.barred,
                "barred_impus": list(r.barred_impus), "registration": list(r.registration)}

    def list_subscribers(self) -> list[dict[str, Any]]:
        r = self._rpc(self.hss.ListSubscribers, hss_pb2.HssListRequest())
        return [{"impi": s.impi, "imsi": s.imsi, "msisdn": s.msisdn or None, "impus": " ".join(s.impus)}
                for s in r.subscribers]

    def delete_subscriber(self, impi: str) -> None:
        self._ok(self._rpc(self.hss.DeleteSubscriber, hss_pb2.HssIdentity(identity=impi)))

    def import_subscribers(self, csv_text: str, name: str = "<csv>") -> int:
        """All or nothing; the error names ``name``:line of the first bad row."""
        return int(self._ok(self._rpc(self.hss.ImportSubscribers, hss_pb2.HssCsvImport(csv=csv_text,
                                                                                         name=name))).count)

    def update_subscriber(self, identity: str, *, service_profile: str | None = None,
                          barred: bool | None = None) -> int:
        """Change the profile or barring; the PPA's result code when a PPR went out, else 0."""
        msg = hss_pb2.HssSubscriberUpdate(identity=identity)
        if service_profile is not None:
            msg.service_profile = service_profile
        if barred is not None:
            msg.barred = barred
        return int(self._ok(self._rpc(self.hss.UpdateSubscriber, msg)).result_code)

    def set_service_profile(self, name: str, ifcs: list[dict[str, Any]] | None = None, ifc_xml: str = "") -> int:
        """Create or replace a service profile; returns how many PPRs went to serving S-CSCFs."""
        msg = hss_pb2.HssServiceProfile(name=name, ifcs_json=json.dumps(ifcs or []), ifc_xml=ifc_xml)
        return int(self._ok(self._rpc(self.hss.SetServiceProfile, msg)).count)

    def deregister(self, identity: str, reason_code: int = 0, reason_info: str = "") -> int:
        """RTR to the serving S-CSCF (an IMPI: all its sets; an IMPU: its implicit set); the RTA's result code."""
        msg = hss_pb2.HssIdentity(identity=identity, reason_code=reason_code, reason_info=reason_info)
        return int(self._ok(self._rpc(self.hss.Deregister, msg)).result_code)

    def push_profile(self, identity: str) -> int:
        """PPR with the current User-Data; the PPA's result code (0: no S-CSCF serves the user)."""
        return int(self._ok(self._rpc(self.hss.PushProfile, hss_pb2.HssIdentity(identity=identity))).result_code)


class HssNode(Protocol):
    """What the servicer needs from the HSS node (``nodes.hss.Hss``)."""

    async def run_store(self, fn: Callable[..., Any], *args: Any) -> Any: ...
    async def add(self, record: dict[str, Any]) -> None: ...
    async def find(self, identity: str) -> dict[str, Any] | None: ...
    async def list_all(self) -> list[dict[str, Any]]: ...
    async def delete(self, impi: str) -> None: ...
    async def import_csv(self, text: str, name: str) -> int: ...
    async def update(self, identity: str, service_profile: str | None, barred: bool | None) -> int: ...
    async def set_service_profile(self, name: str, ifcs: list[dict[str, Any]], ifc_xml: str | None) -> int: ...
    async def deregister(self, identity: str, reason: int = 0, info: str = "") -> int: ...
    async def push_profile(self, identity: str) -> int: ...


class HssServicer(hss_pb2_grpc.HssServicer):
    """The Hss gRPC service; ``refusals`` are the exception types answered as ``ok=False`` with their text."""

    def __init__(self, server: ControlServer, hss: HssNode, refusals: tuple[type[BaseException], ...] = (ValueError,)
                 ) -> None:
        self.server = server
        self.hss = hss
        self.refusals = refusals

    def _do(self, fn: Callable[[], hss_pb2.HssResult]) -> hss_pb2.HssResult:
        try:
            return fn()
        except self.refusals as exc:
            return hss_pb2.HssResult(ok=False, message=str(exc))

    def _on_trio(self, async_fn: Callable[..., Any], *args: Any) -> Any:
        return self.server.run_on_trio(async_fn, *args)

    def AddSubscriber(self, request: Any, context: Any) -> Any:  # noqa: N802 - gRPC method names
        def run() -> hss_pb2.HssResult:
            rec: dict[str, Any] = {f: getattr(request, f) or None for f in (
                "impi", "imsi", "msisdn", "k", "opc", "op", "amf", "sqn", "password", "ha1", "service_profile",
                "auth_schemes")}
            impus, irs = list(request.impus), list(request.irs)
            if irs and len(irs) != len(impus):
                raise ValueError(f"irs: {len(irs)} numbers for {len(impus)} impus")
            sets: dict[int, list[str]] = {}
            for u, s in zip(impus, irs or [1] * len(impus)):
                sets.setdefault(s, []).append(u)
            rec["impus"] = list(sets.values())
            rec["barred"] = list(request.barred_impus) if request.barred_impus else request.barred
            self._on_trio(self.hss.add, rec)
            return hss_pb2.HssResult(ok=True, message=f"added {request.impi}", count=1)
        return self._do(run)

    def GetSubscriber(self, request: Any, context: Any) -> Any:  # noqa: N802
        sub = self._on_trio(self.hss.find, request.identity)
        if sub is None:
            context.abort(grpc.StatusCode.NOT_FOUND, f"unknown identity {request.identity}")
        return hss_pb2.HssSubscriber(
            impi=sub["impi"], imsi=sub["imsi"], impus=sub["impus"], irs=sub["irs"], msisdn=sub["msisdn"] or "",
            amf=sub["amf"], sqn=sub["sqn"], service_profile=sub["service_profile"] or "",
            auth_schemes=",".join(sub["auth_schemes"]), barred=sub["barred"], barred_impus=sub["barred_impus"],
            registration=sub["registration"])

    def ListSubscribers(self, request: Any, context: Any) -> Any:  # noqa: N802
        rows = self._on_trio(self.hss.list_all)
        return hss_pb2.HssSubscriberList(subscribers=[
            hss_pb2.HssSubscriber(impi=r["impi"], imsi=r["imsi"], msisdn=r["msisdn"] or "",
                                  impus=(r["impus"] or "").split()) for r in rows])

    def DeleteSubscriber(self, request: Any, context: Any) -> Any:  # noqa: N802
        def run() -> hss_pb2.HssResult:
            self._on_trio(self.hss.delete, request.identity)
            return hss_pb2.HssResult(ok=True, message=f"deleted {request.identity}")
        return self._do(run)

    def ImportSubscribers(self, request: Any, context: Any) -> Any:  # noqa: N802
        def run() -> hss_pb2.HssResult:
            n = self._on_trio(self.hss.import_csv, request.csv, request.name or "<csv>")
            return hss_pb2.HssResult(ok=True, message=f"imported {n}", count=n)
        return self._do(run)

    def UpdateSubscriber(self, request: Any, context: Any) -> Any:  # noqa: N802
        def run() -> hss_pb2.HssResult:
            profile = request.service_profile if request.HasField("service_profile") else None
            barred = request.barred if request.HasField("barred") else None
            code = self._on_trio(self.hss.update, request.identity, profile, barred)
            return hss_pb2.HssResult(ok=True, message=f"updated {request.identity}" + (
                f"; PPA {code}" if code else ""), result_code=code)
        return self._do(run)

    def SetServiceProfile(self, request: Any, context: Any) -> Any:  # noqa: N802
        def run() -> hss_pb2.HssResult:
            try:
                ifcs = json.loads(request.ifcs_json or "[]")
            except json.JSONDecodeError as exc:
                raise ValueError(f"ifcs_json: {exc}") from None
            n = self._on_trio(self.hss.set_service_profile, request.name, ifcs, request.ifc_xml or None)
            return hss_pb2.HssResult(ok=True, message=f"service profile {request.name}; {n} PPR sent", count=n)
        return self._do(run)

    def Deregister(self, request: Any, context: Any) -> Any:  # noqa: N802
        def run() -> hss_pb2.HssResult:
            code = self._on_trio(self.hss.deregister, request.identity, request.reason_code, request.reason_info)
            return hss_pb2.HssResult(ok=code == 2001, message=f"RTA {code}", result_code=code)
        return self._do(run)

    def PushProfile(self, request: Any, context: Any) -> Any:  # noqa: N802
        def run() -> hss_pb2.HssResult:
            code = self._on_trio(self.hss.push_profile, request.identity)
            return hss_pb2.HssResult(ok=code in (0, 2001), message=f"PPA {code}" if code else "no S-CSCF serves it",
                                     result_code=code)
        return self._do(run)
