"""The PSTN exchange's control service (ims/control/protos/pstn.proto): client and servicer.

:class:`PstnClient` is what tests, flows and users' scripts use::

    with PstnClient("127.0.0.1:7180") as pstn:
        cic = pstn.call("12125550100", "tel:+15550001")     # IAM toward the MGCF; ControlError if refused
        pstn.wait_call(cic, ["answered"], timeout=10)
        pstn.hangup(cic)                                    # REL cause 16
        print(pstn.wait_call(cic, ["released"])["media"])

:class:`PstnServicer` runs on grpcio's worker threads in the PSTN node and
reaches the exchange on the node's trio loop through
``ControlServer.run_sync_on_trio`` / ``run_on_trio``; WaitCall waits there,
bounded by the request's timeout.  The backend is anything with the methods
of :class:`PstnBackend` (``nodes.pstn.PstnNode``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, Protocol, TypeVar

import grpc
import trio

import ims.control  # noqa: F401 - generates the stubs
from ims.control.client import ControlError, NodeClient
from ims.control.gen import pstn_pb2, pstn_pb2_grpc
from ims.control.media import media_dict, media_msg
from ims.control.server import ControlServer

__all__ = ["ControlError", "PstnBackend", "PstnClient", "PstnServicer"]

T = TypeVar("T")


class PstnBackend(Protocol):
    """What the servicer drives (on the trio thread)."""

    def call(self, calling: str, called: str) -> tuple[bool, str, int]: ...  # (ok, message, cic)

    def hangup(self, cic: int) -> tuple[bool, str]: ...

    async def wait(self, cic: int, states: tuple[str, ...], timeout: float) -> dict[str, Any] | None: ...

    def status(self) -> dict[str, Any]: ...


# --- dict <-> message ----------------------------------------------------------------------------

def call_msg(d: dict[str, Any]) -> Any:
    """A PstnCall from ``ims.isup.exchange.Call.as_dict()``."""
    return pstn_pb2.PstnCall(cic=d["cic"], direction=d["direction"], calling=d["calling"], called=d["called"],
                             state=d["state"], cause=d["cause"], history=d["history"],
                             media=media_msg(d.get("media") or {}, pstn_pb2.PstnMedia))


def _call_dict(c: Any) -> dict[str, Any]:
    return {"cic": c.cic, "direction": c.direction, "calling": c.calling, "called": c.called, "state": c.state,
            "cause": c.cause, "history": list(c.history), "media": media_dict(c.media)}


def _status_msg(d: dict[str, Any]) -> Any:
    return pstn_pb2.PstnStatus(
        lines=[pstn_pb2.PstnLine(**line) for line in d["lines"]], calls=[call_msg(c) for c in d["calls"]],
        m3ua_state=d["m3ua_state"], associations=d["associations"], circuits=d["circuits"],
        circuits_busy=d["circuits_busy"], point_code=d["point_code"], peer_point_code=d["peer_point_code"])


def _status_dict(s: Any) -> dict[str, Any]:
    return {"lines": [{"number": x.number, "behaviour": x.behaviour, "answer_after": x.answer_after,
                       "media": x.media} for x in s.lines],
            "calls": [_call_dict(c) for c in s.calls], "m3ua_state": s.m3ua_state, "associations": s.associations,
            "circuits": s.circuits, "circuits_busy": s.circuits_busy, "point_code": s.point_code,
            "peer_point_code": s.peer_point_code}


# --- client -----------------------------------------------------------------------------------------

class PstnClient(NodeClient):
    """The Pstn and Node services of a running PSTN exchange at ``target`` ("127.0.0.1:PORT")."""

    def __init__(self, target: str, timeout: float = 10.0, *, token: str | None = None) -> None:
        super().__init__(target, timeout, token=token)
        self.pstn = pstn_pb2_grpc.PstnStub(self.channel)

    def call(self, calling: str, called: str) -> int:
        """Send an IAM from line ``calling`` to ``called``; the CIC (ControlError with the reason if refused)."""
        r = self._rpc(self.pstn.Call, pstn_pb2.PstnCallRequest(calling=calling, called=called))
        if not r.ok:
            raise ControlError(r.message)
        return int(r.cic)

    def hangup(self, cic: int) -> None:
        """REL cause 16 on ``cic`` (ControlError when there is no call on it)."""
        r = self._rpc(self.pstn.Hangup, pstn_pb2.PstnCallRef(cic=cic))
        if not r.ok:
            raise ControlError(r.message)

    def wait_call(self, cic: int = 0, states: Iterable[str] = ("answered",), timeout: float = 10.0
                  ) -> dict[str, Any]:
        """The latest call on ``cic`` (any circuit: 0) once in one of ``states``; ControlError
        (DEADLINE_EXCEEDED) if it is not in time."""
        r = self._rpc(self.pstn.WaitCall, pstn_pb2.PstnWaitRequest(cic=cic, states=list(states), timeout=timeout),
                      timeout + 5)
        return _call_dict(r)

    def status(self) -> dict[str, Any]:
        """lines, calls (dicts as ``wait_call`` returns), m3ua_state, associations, circuits, circuits_busy,
        point_code, peer_point_code."""
        return _status_dict(self._rpc(self.pstn.Status, pstn_pb2.PstnStatusRequest()))


# --- servicer ---------------------------------------------------------------------------------------

class PstnServicer(pstn_pb2_grpc.PstnServicer):
    """The Pstn gRPC service over a :class:`PstnBackend` living on the node's trio loop."""

    def __init__(self, server: ControlServer, backend: PstnBackend) -> None:
        self.server = server
        self.backend = backend

    def _sync(self, context: grpc.ServicerContext, fn: Callable[..., T], *args: Any) -> T:
        try:
            return self.server.run_sync_on_trio(fn, *args)
        except trio.RunFinishedError:
            context.abort(grpc.StatusCode.UNAVAILABLE, f"node {self.server.node} has stopped")
        raise AssertionError("unreachable: context.abort raises")

    def Call(self, request: Any, context: grpc.ServicerContext) -> Any:  # noqa: N802 - gRPC method names
        ok, message, cic = self._sync(context, self.backend.call, request.calling, request.called)
        return pstn_pb2.PstnResult(ok=ok, message=message, cic=cic)

    def Hangup(self, request: Any, context: grpc.ServicerContext) -> Any:  # noqa: N802
        ok, message = self._sync(context, self.backend.hangup, request.cic)
        return pstn_pb2.PstnResult(ok=ok, message=message, cic=request.cic)

    def WaitCall(self, request: Any, context: grpc.ServicerContext) -> Any:  # noqa: N802
        states = tuple(request.states) or ("answered",)
        timeout = request.timeout or 10.0
        try:
            rec = self.server.run_on_trio(self.backend.wait, request.cic, states, timeout)
        except ValueError as exc:  # an unknown state name
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        except trio.RunFinishedError:
            context.abort(grpc.StatusCode.UNAVAILABLE, f"node {self.server.node} has stopped")
        if rec is None:
            calls = self._sync(context, self.backend.status)["calls"]
            now = next((c["state"] for c in reversed(calls) if not request.cic or c["cic"] == request.cic), "no call")
            context.abort(grpc.StatusCode.DEADLINE_EXCEEDED,
                          f"call on CIC {request.cic or '(latest)'} not in {', '.join(states)} after {timeout} s "
                          f"(now: {now})")
        return call_msg(rec)

    def Status(self, request: Any, context: grpc.ServicerContext) -> Any:  # noqa: N802
        return _status_msg(self._sync(context, self.backend.status))
