"""The simulated handsets' control service (ims/control/protos/ue.proto): client and servicer.

:class:`UeClient` is what ``ims ue``, flows, tests and users' scripts use::

    with UeClient("127.0.0.1:7200") as ues:
        ues.register("alice")                      # 200, or raises ControlError with the status
        call = ues.call("alice", "sip:bob@ims.mnc001.mcc001.3gppnetwork.org")
        ues.wait_call("alice", call, ["confirmed"], timeout=5)
        ues.hangup("alice", call)

:class:`UeServicer` runs on grpcio's worker threads in the UE node and
drives the handsets on the node's trio loop through
``ControlServer.run_on_trio``; waiting RPCs (Register, WaitCall, Message)
wait there, bounded by the request's timeout.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import grpc

import ims.control  # noqa: F401 - generates the stubs
from ims.control.client import ControlError, NodeClient
from ims.control.gen import ue_pb2, ue_pb2_grpc
from ims.control.media import media_dict, media_msg
from ims.control.server import ControlServer


def _call_dict(c: Any) -> dict[str, Any]:
    return {"call_id": c.call_id, "role": c.role, "peer": c.peer, "state": c.state, "status": c.status,
            "history": list(c.history), "setup_ms": c.setup_ms, "reason": c.reason, "held": c.held,
            "dtmf": c.dtmf, "media": media_dict(c.media)}


def _status_dict(s: Any) -> dict[str, Any]:
    return {"name": s.name, "impu": s.impu, "impi": s.impi, "contact": s.contact, "registered": s.registered,
            "expires": s.expires, "associated": list(s.associated), "service_route": list(s.service_route),
            "calls": [_call_dict(c) for c in s.calls], "history": list(s.history), "auth": s.auth, "pcscf": s.pcscf}


class UeClient(NodeClient):
    """The Ue and Node services of a running UE node at ``target`` ("127.0.0.1:PORT")."""

    def __init__(self, target: str, timeout: float = 30.0, *, token: str | None = None) -> None:
        super().__init__(target, timeout, token=token)
        self.ue = ue_pb2_grpc.UeStub(self.channel)

    @staticmethod
    def _ok(r: Any) -> Any:
        if not r.ok:
            raise ControlError(r.message)
        return r

    def list(self) -> list[dict[str, Any]]:
        return [_status_dict(s) for s in self._rpc(self.ue.List, ue_pb2.UeListRequest()).ues]

    def status(self, ue: str) -> dict[str, Any]:
        return _status_dict(self._rpc(self.ue.Status, ue_pb2.UeRef(ue=ue)))

    def register(self, ue: str, expires: int = 0, timeout: float = 10.0, check: bool = True) -> int:
        """REGISTER and wait; the final status (ControlError unless 200 when ``check``)."""
        r = self._rpc(self.ue.Register, ue_pb2.UeRegisterRequest(ue=ue, expires=expires, timeout=timeout),
                      timeout + 5)
        if check:
            self._ok(r)
        return int(r.status)

    def deregister(self, ue: str, timeout: float = 10.0) -> int:
        return int(self._ok(self._rpc(self.ue.Deregister, ue_pb2.UeRegisterRequest(ue=ue, timeout=timeout),
                                      timeout + 5)).status)

    def call(self, ue: str, target: str) -> str:
        return str(self._ok(self._rpc(self.ue.Call, ue_pb2.UeCallRequest(ue=ue, target=target))).call_id)

    def answer(self, ue: str, call_id: str = "") -> None:
        self._ok(self._rpc(self.ue.Answer, ue_pb2.UeCallRef(ue=ue, call_id=call_id)))

    def reject(self, ue: str, call_id: str = "", status: int = 486) -> None:
        self._ok(self._rpc(self.ue.Reject, ue_pb2.UeCallRef(ue=ue, call_id=call_id, status=status)))

    def hangup(self, ue: str, call_id: str = "") -> None:
        self._ok(self._rpc(self.ue.Hangup, ue_pb2.UeCallRef(ue=ue, call_id=call_id)))

    def wait_call(self, ue: str, call_id: str = "", states: Iterable[str] = ("confirmed",), timeout: float = 10.0
                  ) -> dict[str, Any]:
        """The call once it is in one of ``states``; ControlError (DEADLINE_EXCEEDED) if it is not in time."""
        r = self._rpc(self.ue.WaitCall, ue_pb2.UeWaitRequest(ue=ue, call_id=call_id, states=list(states),
                                                             timeout=timeout), timeout + 5)
        return _call_dict(r)

    def hold(self, ue: str, call_id: str = "") -> int:
        """re-INVITE with a=sendonly; its final status (ControlError unless 2xx)."""
        return int(self._ok(self._rpc(self.ue.Hold, ue_pb2.UeCallRef(ue=ue, call_id=call_id))).status)

    def resume(self, ue: str, call_id: str = "") -> int:
        return int(self._ok(self._rpc(self.ue.Resume, ue_pb2.UeCallRef(ue=ue, call_id=call_id))).status)

    def send_dtmf(self, ue: str, digits: str, call_id: str = "", duration_ms: int = 160, method: str = "info"
                  ) -> None:
        """``method`` "info" (SIP INFO application/dtmf-relay) or "rtp" (RFC 4733 telephone-events)."""
        self._ok(self._rpc(self.ue.SendDtmf, ue_pb2.UeDtmf(ue=ue, call_id=call_id, digits=digits,
                                                           duration_ms=duration_ms, method=method)))

    def message(self, ue: str, target: str, text: str) -> int:
        return int(self._rpc(self.ue.Message, ue_pb2.UeCallRequest(ue=ue, target=target, text=text)).status)


class UeServicer(ue_pb2_grpc.UeServicer):
    """The Ue gRPC service over ``handsets`` (name -> ``ims.net.ue.Handset``)."""

    def __init__(self, server: ControlServer, handsets: dict[str, Any]) -> None:
        self.server = server
        self.handsets = handsets

    def _handset(self, name: str, context: Any) -> Any:
        h = self.handsets.get(name)
        if h is None:
            context.abort(grpc.StatusCode.NOT_FOUND, f"no handset {name!r} here (have: {', '.join(self.handsets)})")
        return h

    def _do(self, fn: Callable[[], Any]) -> Any:
        try:
            return fn()
        except (KeyError, ValueError) as exc:
            return ue_pb2.UeResult(ok=False, message=str(exc).strip("'\""))

    @staticmethod
    def _status_msg(d: dict[str, Any]) -> Any:
        calls = [ue_pb2.UeCall(call_id=c["call_id"], role=c["role"], peer=c["peer"], state=c["state"],
                               status=c["status"], history=c["history"], setup_ms=c["setup_ms"], reason=c["reason"],
                               held=c["held"], dtmf=c["dtmf"], media=media_msg(c.get("media") or {}, ue_pb2.UeMedia))
                 for c in d["calls"]]
        return ue_pb2.UeStatus(name=d["name"], impu=d["impu"], impi=d["impi"], contact=d["contact"],
                               registered=d["registered"], expires=d["expires"], associated=d["associated"],
                               service_route=d["service_route"], calls=calls, history=d["history"], auth=d["auth"],
                               pcscf=d["pcscf"])

    def List(self, request: Any, context: Any) -> Any:  # noqa: N802 - gRPC method names
        return ue_pb2.UeList(ues=[self._status_msg(self.server.run_sync_on_trio(h.status))
                                  for h in self.handsets.values()])

    def Status(self, request: Any, context: Any) -> Any:  # noqa: N802
        h = self._handset(request.ue, context)
        return self._status_msg(self.server.run_sync_on_trio(h.status))

    def Register(self, request: Any, context: Any) -> Any:  # noqa: N802
        h = self._handset(request.ue, context)
        status = self.server.run_on_trio(h.register, request.expires or 600000, request.timeout or 10.0)
        return ue_pb2.UeResult(ok=status == 200, status=status,
                               message="registered" if status == 200 else f"registration failed: {status}")

    def Deregister(self, request: Any, context: Any) -> Any:  # noqa: N802
        h = self._handset(request.ue, context)
        status = self.server.run_on_trio(h.deregister, request.timeout or 10.0)
        return ue_pb2.UeResult(ok=status == 200, status=status, message=f"deregistration: {status}")

    def Call(self, request: Any, context: Any) -> Any:  # noqa: N802
        h = self._handset(request.ue, context)

        def run() -> Any:
            call_id = self.server.run_on_trio(h.call, request.target)
            return ue_pb2.UeResult(ok=True, call_id=call_id, message=f"calling {request.target}")
        return self._do(run)

    def Answer(self, request: Any, context: Any) -> Any:  # noqa: N802
        h = self._handset(request.ue, context)
        return self._do(lambda: (self.server.run_on_trio(h.answer, request.call_id),
                                 ue_pb2.UeResult(ok=True, message="answered"))[1])

    def Reject(self, request: Any, context: Any) -> Any:  # noqa: N802
        h = self._handset(request.ue, context)
        status = request.status or 486
        return self._do(lambda: (self.server.run_on_trio(h.reject, request.call_id, status),
                                 ue_pb2.UeResult(ok=True, status=status, message=f"rejected {status}"))[1])

    def Hangup(self, request: Any, context: Any) -> Any:  # noqa: N802
        h = self._handset(request.ue, context)
        return self._do(lambda: (self.server.run_on_trio(h.hangup, request.call_id),
                                 ue_pb2.UeResult(ok=True, message="hung up"))[1])

    def WaitCall(self, request: Any, context: Any) -> Any:  # noqa: N802
        h = self._handset(request.ue, context)
        states = tuple(request.states) or ("confirmed",)
        rec = self.server.run_on_trio(h.wait, request.call_id, states, request.timeout or 10.0)
        if rec is None:
            d = self.server.run_sync_on_trio(h.status)
            calls = {c["call_id"]: c["state"] for c in d["calls"]}
            context.abort(grpc.StatusCode.DEADLINE_EXCEEDED,
                          f"{request.ue}: call {request.call_id or '(latest)'} not in {', '.join(states)} "
                          f"after {request.timeout or 10.0} s (calls: {calls})")
        return ue_pb2.UeCall(call_id=rec.call_id, role=rec.role, peer=rec.peer, state=rec.state, status=rec.status,
                             history=rec.history, setup_ms=rec.setup_ms, reason=rec.reason, held=rec.held,
                             dtmf=rec.dtmf)

    def _hold(self, request: Any, context: Any, on: bool) -> Any:
        h = self._handset(request.ue, context)

        def run() -> Any:
            status = self.server.run_on_trio(h.hold, request.call_id, on)
            return ue_pb2.UeResult(ok=200 <= status < 300, status=status,
                                   message=f"{'hold' if on else 'resume'}: re-INVITE {status}")
        return self._do(run)

    def Hold(self, request: Any, context: Any) -> Any:  # noqa: N802
        return self._hold(request, context, True)

    def Resume(self, request: Any, context: Any) -> Any:  # noqa: N802
        return self._hold(request, context, False)

    def SendDtmf(self, request: Any, context: Any) -> Any:  # noqa: N802
        h = self._handset(request.ue, context)
        return self._do(lambda: (self.server.run_on_trio(h.send_dtmf, request.call_id, request.digits,
                                                         request.duration_ms or 160, request.method or "info"),
                                 ue_pb2.UeResult(ok=True, message=f"sent {request.digits}"))[1])

    def Message(self, request: Any, context: Any) -> Any:  # noqa: N802
        h = self._handset(request.ue, context)
        status = self.server.run_on_trio(h.message, request.target, request.text)
        return ue_pb2.UeResult(ok=200 <= status < 300, status=status, message=f"MESSAGE: {status}")
