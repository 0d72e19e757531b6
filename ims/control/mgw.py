"""The IM-MGW's control service (ims/control/protos/mgw.proto): client and servicer.

A lab stand-in for H.248 on the Mn interface (TS 29.232), not H.248: the
same Add / Modify / Subtract / Audit on contexts and terminations, as gRPC
so the MGCF and tests drive the gateway in a few lines::

    with MgwClient("127.0.0.1:7170") as mgw:
        ims_side = mgw.add(media={"encoding": "PCMU", "payload_type": 0, "remote_address": "127.0.1.100",
                                  "remote_port": 40000, "srtp_suite": "AES_CM_128_HMAC_SHA1_80",
                                  "srtp_remote_key": key})
        pstn_side = mgw.add(ims_side["context_id"], media={"encoding": "PCMA", "payload_type": 8, ...})
        ...
        print(mgw.subtract(ims_side["termination_id"])["stats"])

:class:`MgwServicer` runs on grpcio's worker threads and calls the
thread-safe :class:`ims.net.relay.RelayPump` directly (no trio hop: the
packet path is a thread of its own too).  Bad requests get
INVALID_ARGUMENT naming the field; unknown terminations NOT_FOUND;
an exhausted port range RESOURCE_EXHAUSTED.
"""

from __future__ import annotations

from typing import Any

import grpc

import ims.control  # noqa: F401 - generates the stubs
from ims.control.client import ControlError, NodeClient
from ims.control.gen import mgw_pb2, mgw_pb2_grpc
from ims.media.relay import RelayError, Termination, TermSpec

_STATS = ("packets_in", "packets_out", "octets_in", "octets_out", "rtcp_in", "rtcp_out", "transcoded", "dropped",
          "auth_failures", "malformed", "packets_expected", "packets_lost", "loss_percent", "jitter_ms")


def spec_from_proto(m: Any) -> TermSpec:
    return TermSpec(remote_host=m.remote_address, remote_port=m.remote_port, payload_type=m.payload_type,
                    encoding=m.encoding or "PCMU", clock_rate=m.clock_rate or 8000,
                    telephone_event_pt=m.telephone_event_pt if m.has_telephone_event else None,
                    mode=m.mode or "sendrecv", srtp_suite=m.srtp_suite, remote_key=bytes(m.srtp_remote_key))


def media_to_proto(spec: TermSpec) -> Any:
    return mgw_pb2.MgwMedia(remote_address=spec.remote_host, remote_port=spec.remote_port,
                            payload_type=spec.payload_type, encoding=spec.encoding, clock_rate=spec.clock_rate,
                            telephone_event_pt=spec.telephone_event_pt if spec.telephone_event_pt is not None else -1,
                            has_telephone_event=spec.telephone_event_pt is not None, mode=spec.mode,
                            srtp_suite=spec.srtp_suite)


def termination_to_proto(term: Termination, stats: dict[str, Any] | None = None) -> Any:
    s = stats if stats is not None else term.stats()
    return mgw_pb2.MgwTermination(
        context_id=term.context, termination_id=term.id, local_address=term.local_host, local_port=term.local_port,
        srtp_suite=term.spec.srtp_suite, srtp_local_key=term.local_key, media=media_to_proto(term.spec),
        stats=mgw_pb2.MgwStats(**{k: s[k] for k in _STATS}))


def _media_msg(media: dict[str, Any]) -> Any:
    m = dict(media)
    te = m.pop("telephone_event_pt", None)
    if te is not None:
        m["telephone_event_pt"], m["has_telephone_event"] = te, True
    return mgw_pb2.MgwMedia(**m)


def _term_dict(t: Any) -> dict[str, Any]:
    return {"context_id": t.context_id, "termination_id": t.termination_id, "local_address": t.local_address,
            "local_port": t.local_port, "srtp_suite": t.srtp_suite, "srtp_local_key": bytes(t.srtp_local_key),
            "stats": {k: getattr(t.stats, k) for k in _STATS}}


class MgwClient(NodeClient):
    """The Mgw and Node services of a running IM-MGW at ``target`` ("127.0.0.1:PORT")."""

    def __init__(self, target: str, timeout: float = 5.0, *, token: str | None = None) -> None:
        super().__init__(target, timeout, token=token)
        self.mgw = mgw_pb2_grpc.MgwStub(self.channel)

    def add(self, context_id: str = "", *, media: dict[str, Any], local_port: int = 0) -> dict[str, Any]:
        """A termination in ``context_id`` ("" for a new context); its local address, port and SRTP key.
        ``local_port``: a fixed pair (a circuit toward the PSTN) instead of one from the range."""
        return _term_dict(self._call(self.mgw.Add, mgw_pb2.MgwAddRequest(context_id=context_id,
                                                                       media=_media_msg(media),
                                                                       local_port=local_port)))

    def modify(self, termination_id: str, *, media: dict[str, Any]) -> dict[str, Any]:
        return _term_dict(self._call(self.mgw.Modify, mgw_pb2.MgwModifyRequest(termination_id=termination_id,
                                                                             media=_media_msg(media))))

    def subtract(self, termination_id: str) -> dict[str, Any]:
        """Remove a termination (and its context when it was the last); its final statistics."""
        return _term_dict(self._call(self.mgw.Subtract, mgw_pb2.MgwTerminationRef(termination_id=termination_id)))

    def audit(self) -> list[dict[str, Any]]:
        reply = self._call(self.mgw.Audit, mgw_pb2.MgwAuditRequest())
        return [{"context_id": c.context_id, "terminations": [_term_dict(t) for t in c.terminations]}
                for c in reply.contexts]


class MgwServicer(mgw_pb2_grpc.MgwServicer):
    """Serves the Mgw service from a :class:`ims.net.relay.RelayPump` (thread-safe)."""

    def __init__(self, pump: Any) -> None:
        self.pump = pump

    @staticmethod
    def _fail(context: grpc.ServicerContext, exc: RelayError) -> None:
        text = str(exc)
        code = grpc.StatusCode.NOT_FOUND if text.startswith("no termination") else \
            grpc.StatusCode.RESOURCE_EXHAUSTED if "no free RTP port" in text else \
            grpc.StatusCode.ALREADY_EXISTS if "cannot be bound" in text else grpc.StatusCode.INVALID_ARGUMENT
        context.abort(code, text)

    def Add(self, request: Any, context: grpc.ServicerContext) -> Any:  # noqa: N802 - gRPC method names
        try:
            term = self.pump.add(request.context_id, spec_from_proto(request.media), request.local_port)
        except RelayError as exc:
            self._fail(context, exc)
        return termination_to_proto(term)

    def Modify(self, request: Any, context: grpc.ServicerContext) -> Any:  # noqa: N802
        try:
            term = self.pump.modify(request.termination_id, spec_from_proto(request.media))
        except RelayError as exc:
            self._fail(context, exc)
        return termination_to_proto(term)

    def Subtract(self, request: Any, context: grpc.ServicerContext) -> Any:  # noqa: N802
        try:
            term, stats = self.pump.subtract(request.termination_id)
        except RelayError as exc:
            self._fail(context, exc)
        return termination_to_proto(term, stats)

    def Audit(self, request: Any, context: grpc.ServicerContext) -> Any:  # noqa: N802
        return mgw_pb2.MgwAuditReply(contexts=[
            mgw_pb2.MgwContext(context_id=cid, terminations=[termination_to_proto(t, s) for t, s in terms])
            for cid, terms in self.pump.snapshot()])


__all__ = ["ControlError", "MgwClient", "MgwServicer"]
