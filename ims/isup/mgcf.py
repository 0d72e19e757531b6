"""The MGCF's call control, sans-IO: SIP on the IMS side, ISUP on the PSTN side, the IM-MGW between.

Both roles of TS 29.163 (and ITU-T Q.1912.5 for the SIP <-> ISUP mapping):

* O-MGCF, IMS -> PSTN (§7.2.3): an INVITE from the BGCF seizes a circuit the
  MGCF controls and an IM-MGW context (the IMS-side termination facing the
  caller's SDP, SRTP when it offered RTP/SAVP; the circuit's fixed
  termination toward the exchange).  With QoS preconditions (RFC 3312) the
  SDP answer goes in a reliable 183 and the IAM waits until the caller's
  segment is reserved (its UPDATE, §7.2.3.1.2); otherwise the IAM goes at
  once.  ACM/CPG -> 180/183, ANM/CON -> 200, REL -> the mapped error
  response (or BYE once answered) + RLC; CANCEL/BYE -> REL, and the
  circuit is idle when the RLC comes.
* I-MGCF, PSTN -> IMS (§7.2.3.2): an IAM builds the context and an INVITE
  toward the I-CSCF for ``tel:+E.164``, with preconditions (local segment
  "none" until the callee's 183 arrives, then an UPDATE) and, SIP-T style
  (RFC 3372), the IAM itself in a ``multipart/mixed`` body
  (``handling=optional``) — as the O-MGCF's 18x and 200 carry the ACM/CPG
  and ANM/CON they mirror.  180 -> ACM (subscriber free) or CPG (alerting),
  a first 183 -> ACM (no indication), 200 -> ANM (CON when no ACM went),
  an error response -> REL with the mapped cause, BYE -> REL; REL -> CANCEL
  or BYE, and RLC at once.

Release races (Q.764 §2.10.3): a REL that crosses ours is answered with RLC,
and the circuit is idle after that; our REL is repeated-guarded by a timer
(T1, 15 s here, then the circuit is freed with a log line).  T7 (20 s, no
ACM after the IAM) and T9 (90 s, no answer) release with causes 102 and 19.

The driver owns the sockets: SIP actions go to the SIP stack, ``SendIsup``
to the M3UA association, ``MgwOp`` to the IM-MGW's control service (its
result is fed back through ``op.done``).
"""

from __future__ import annotations

import heapq
import itertools
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ims.isup.mapping import (
    acm_to_sip_status,
    cause_to_sip_status,
    cpg_event_to_sip_status,
    isup_to_tel,
    sip_status_to_cause,
    tel_to_isup,
)
from ims.isup.messages import (
    CAUSE_INVALID_MESSAGE,
    CAUSE_MESSAGE_TYPE_NOT_IMPLEMENTED,
    IsupError,
    IsupMessage,
    MessageType,
    acm,
    anm,
    cfn,
    con,
    cpg,
    encode,
    iam,
    peek,
    rel,
    rlc,
)
from ims.isup.sipi import make_sipi_body, split_sipi_body
from ims.media.srtp import inline
from ims.sdp import (
    Crypto,
    OfferAnswerError,
    QosPrecondition,
    SdpError,
    SessionDescription,
    negotiate,
)
from ims.sip.errors import SipParseError
from ims.sip.events import Action, Address, TimerConfig
from ims.sip.message import Request, Response
from ims.sip.uacore import (
    CallAnswered,
    CallEnded,
    CallFailed,
    CallProgress,
    IncomingCall,
    UpdateReceived,
    UserAgent,
)
from ims.sip.uri import SipURI, TelURI, parse_uri
from ims.ue import sdp as sdp_policy

log = logging.getLogger("ims.isup.mgcf")

CODECS = ("PCMU", "PCMA")  # what the IM-MGW can carry to the A-law circuit (it transcodes µ-law)
T1_RLC, T7_ACM, T9_ANSWER = 15.0, 20.0, 90.0


@dataclass(frozen=True, slots=True)
class SendIsup:
    """An ISUP message for the exchange (the driver wraps it in M3UA DATA)."""

    msg: IsupMessage


@dataclass(slots=True)
class MgwOp:
    """A request for the IM-MGW: ``setup`` (context with both terminations), ``modify_ims``, ``release``.

    The driver calls ``done(result_or_None, error, now)`` and executes the actions it returns."""

    op: str
    args: dict[str, Any]
    done: Callable[[dict[str, Any] | None, str, float], list[Any]]


@dataclass
class MgcfConfig:
    domain: str
    host: str
    port: int
    icscf: Address | None  # where PSTN -> IMS calls enter the home network
    opc: int  # our point code
    dpc: int  # the exchange's
    circuits: int = 32
    controls_even: bool = False  # Q.764 §2.10.1.4: the higher point code controls the even circuits
    country_code: str = "1"
    national_prefix: str = "0"
    mgw_host: str = ""
    mgw_trunk_base: int = 0  # the IM-MGW's port pair of circuit CIC: base + 2 * (CIC - 1)
    pstn_host: str = ""
    pstn_trunk_base: int = 0
    sip_t: bool = True  # the IAM rides in the INVITE toward the IMS (RFC 3372 encapsulation)
    timers: TimerConfig = TimerConfig()


@dataclass
class MgcfCall:
    call_id: str
    cic: int
    direction: str  # "out" (IMS -> PSTN, O-MGCF) or "in" (PSTN -> IMS, I-MGCF)
    state: str = "setup"
    number: str = ""  # the called tel URI
    calling: str = ""
    offer: bytes = b""  # the IMS side's offer (out) / ours (in)
    answer: bytes = b""  # ours (out) / the IMS side's (in)
    qos: QosPrecondition | None = None
    context: str = ""
    ims_term: dict[str, Any] = field(default_factory=dict)
    tdm_term: dict[str, Any] = field(default_factory=dict)
    crypto: Crypto | None = None  # the MGW's key toward the IMS side, as we put it in the SDP
    private: bool = False  # the calling number's presentation is restricted (Q.763 §3.10 c)
    acm_sent: bool = False
    answer_in_200: bool = False
    cause: int = 0
    history: list[str] = field(default_factory=list)
    timer: int = 0  # generation of the call's running timer (older ones are ignored)


class Mgcf:
    """The MGCF as a SIP core for :class:`ims.net.sip.SipStack`, plus ISUP in and MGW answers."""

    def __init__(self, config: MgcfConfig) -> None:
        self.config = config
        me = SipURI.parse(f"sip:mgcf@{config.host}:{config.port}")
        self.ua = UserAgent(SipURI.parse(f"sip:mgcf@{config.domain}"), me, Address(config.host, config.port),
                            config.icscf, timers=config.timers, user_agent="ims-lab MGCF")
        self.ua.answer_sdp = self._answer_sdp
        self.calls: dict[str, MgcfCall] = {}  # by Call-ID
        self.by_cic: dict[int, MgcfCall] = {}
        self.releasing: dict[int, int] = {}  # CIC -> timer generation, waiting for RLC after our REL
        self._timers: list[tuple[float, int, Callable[[float], list[Any]]]] = []
        self._seq = itertools.count()
        self.stats: dict[str, int] = {"calls_out": 0, "calls_in": 0, "answered": 0, "no_circuit": 0, "released": 0,
                                      "isup_unexpected": 0, "isup_malformed": 0}

    # -- the SIP core contract ----------------------------------------------------------
    def receive(self, message: Request | Response, source: Address, now: float) -> list[Any]:
        return self._events(self.ua.receive(message, source, now), now)

    def next_deadline(self) -> float | None:
        theirs = self.ua.next_deadline()
        mine = self._timers[0][0] if self._timers else None
        return mine if theirs is None else theirs if mine is None else min(mine, theirs)

    def handle_timers(self, now: float) -> list[Any]:
        out = self._events(self.ua.handle_timers(now), now)
        while self._timers and self._timers[0][0] <= now:
            _, _, fn = heapq.heappop(self._timers)
            out += fn(now)
        return out

    def transport_error(self, dest: Address, now: float) -> list[Any]:
        return self._events(self.ua.transport_error(dest, now), now)

    def connection_lost(self, dest: Address, now: float) -> list[Any]:
        return self._events(self.ua.connection_lost(dest, now), now)

    def _at(self, when: float, fn: Callable[[float], list[Any]]) -> None:
        heapq.heappush(self._timers, (when, next(self._seq), fn))

    def _arm(self, call: MgcfCall, delay: float, fn: Callable[[MgcfCall, float], list[Any]], now: float) -> None:
        call.timer += 1
        gen = call.timer
        self._at(now + delay, lambda t: fn(call, t) if call.timer == gen and self.calls.get(call.call_id) is call
                 else [])

    # -- circuits ----------------------------------------------------------------------------
    def _free_cic(self) -> int | None:
        first = 2 if self.config.controls_even else 1
        for cic in range(first, self.config.circuits + 1, 2):
            if cic not in self.by_cic and cic not in self.releasing:
                return cic
        return None

    def _trunk(self, cic: int) -> tuple[int, int]:
        return self.config.mgw_trunk_base + 2 * (cic - 1), self.config.pstn_trunk_base + 2 * (cic - 1)

    def _isup(self, msg: IsupMessage, call: MgcfCall | None = None) -> SendIsup:
        if call is not None:
            call.history.append(msg.type.name)
        return SendIsup(msg)

    def _release_circuit(self, call: MgcfCall, cause: int, now: float) -> list[Any]:
        """Our REL (Q.764 §2.3.1): the circuit stays busy until the RLC (or T1 gives up)."""
        call.state = "releasing"
        call.cause = call.cause or cause
        self.releasing[call.cic] = self.releasing.get(call.cic, 0) + 1
        gen = self.releasing[call.cic]
        self._at(now + T1_RLC, lambda t: self._rlc_timeout(call.cic, gen))
        return [self._isup(rel(call.cic, cause), call)] + self._finish(call)

    def _rlc_timeout(self, cic: int, gen: int) -> list[Any]:
        if self.releasing.get(cic) == gen:
            del self.releasing[cic]
            log.warning("circuit %d: no RLC after our REL in %.0f s; idle again", cic, T1_RLC)
        return []

    def _finish(self, call: MgcfCall) -> list[Any]:
        """The call is over on both sides: forget it, free the MGW context."""
        self.calls.pop(call.call_id, None)
        if self.by_cic.get(call.cic) is call:
            del self.by_cic[call.cic]
        call.timer += 1
        self.stats["released"] += 1
        terms = [t["termination_id"] for t in (call.ims_term, call.tdm_term) if t]
        return [MgwOp("release", {"terminations": terms}, lambda r, e, now: [])] if terms else []

    # -- SIP events ----------------------------------------------------------------------
    def _events(self, actions: list[Action], now: float) -> list[Any]:
        out: list[Any] = []
        for a in actions:
            handler = _HANDLERS.get(type(a))
            if handler is None:
                out.append(a)
                continue
            try:
                out += handler(self, a, now)
            except Exception:
                log.exception("handling %s failed", type(a).__name__)
        return out

    def _incoming(self, ev: IncomingCall, now: float) -> list[Any]:
        """O-MGCF: INVITE from the IMS (via the BGCF) toward a PSTN number."""
        req = ev.request
        number = _number_of(req.uri)
        if number is None:
            return self.ua.reject(ev.call_id, 404, now, "Not Found (not a telephone number)")
        try:
            offer = _sdp_part(req, strict=True)
        except SipParseError as exc:  # a multipart body that does not parse (RFC 2046 §5.1): 400
            return self.ua.reject(ev.call_id, exc.status, now, _reason(exc))
        if not offer:
            return self.ua.reject(ev.call_id, 488, now, "Not Acceptable Here (an offer is needed toward the PSTN)")
        cic = self._free_cic()
        if cic is None:
            self.stats["no_circuit"] += 1
            return self.ua.reject(ev.call_id, cause_to_sip_status(34), now, "Service Unavailable (no circuit)")
        self.stats["calls_out"] += 1
        call = MgcfCall(ev.call_id, cic, "out", number=number, calling=_calling_of(req), offer=offer)
        self.calls[ev.call_id] = call
        self.by_cic[cic] = call
        try:
            draft = sdp_policy.answer(offer, self.config.host, 9, codecs=CODECS)
            neg = negotiate(SessionDescription.parse(draft), SessionDescription.parse(offer), local_is_offer=False)
            remote_key = neg.remote_crypto.master_key_salt() if neg.remote_crypto is not None else None
        except (sdp_policy.SdpError, SdpError, OfferAnswerError) as exc:
            self._finish(call)
            return self.ua.reject(ev.call_id, 488, now, f"Not Acceptable Here ({_reason(exc)})")
        media = {"remote_address": neg.remote_address, "remote_port": neg.remote_port,
                 "payload_type": neg.payload_type, "encoding": neg.codec.encoding, "clock_rate": neg.codec.clock_rate}
        if neg.telephone_event_pt is not None:
            media["telephone_event_pt"] = neg.telephone_event_pt
        if neg.remote_crypto is not None:
            media["srtp_suite"] = neg.remote_crypto.suite
            media["srtp_remote_key"] = remote_key
        mgw_port, pstn_port = self._trunk(cic)
        tdm = {"remote_address": self.config.pstn_host, "remote_port": pstn_port, "payload_type": 8,
               "encoding": "PCMA", "local_port": mgw_port}
        call.history.append("INVITE")
        return [MgwOp("setup", {"ims": media, "tdm": tdm},
                      lambda r, e, t: self._out_ready(call, r, e, t, neg.remote_crypto, req))]

    def _out_ready(self, call: MgcfCall, result: dict[str, Any] | None, error: str, now: float,
                   remote_crypto: Crypto | None, req: Request) -> list[Any]:
        if self.calls.get(call.call_id) is not call:  # cancelled meanwhile
            return [MgwOp("release", {"terminations": [t["termination_id"] for t in _terms(result)]},
                          lambda r, e, t: [])] if result else []
        if result is None:
            self._finish(call)
            return self.ua.reject(call.call_id, 503, now, f"Service Unavailable (media gateway: {error})")
        call.context, call.ims_term, call.tdm_term = result["context"], result["ims"], result["tdm"]
        if remote_crypto is not None:
            call.crypto = Crypto(remote_crypto.tag, remote_crypto.suite,
                                 "inline:" + inline(call.ims_term["srtp_local_key"]))
        tags = [t.lower() for t in (req.supported + req.require)]
        if sdp_policy.has_preconditions(call.offer) and "100rel" in tags:
            qos = call.qos = QosPrecondition()
            qos.on_remote(call.offer)
            qos.local_reserved()  # the circuit side is ready as soon as it is seized
            call.answer = self._sdp_answer(call, call.offer, qos.lines(confirm=True))
            call.state = "wait_qos"
            out = self.ua.provisional(call.call_id, now, 183, reliable=True, body=call.answer,
                                      content_type="application/sdp")
            call.history.append("183")
            if qos.met:
                out += self._send_iam(call, now)
            return out
        call.answer = self._sdp_answer(call, call.offer, None)
        call.answer_in_200 = True
        return self._send_iam(call, now)

    def _sdp_answer(self, call: MgcfCall, offer: bytes, lines: list[Any] | None) -> bytes:
        t = call.ims_term
        return sdp_policy.answer(offer, t["local_address"], t["local_port"], codecs=CODECS,
                                 crypto=[call.crypto] if call.crypto else None, preconditions=lines)

    def _answer_sdp(self, call_id: str, request: Request) -> bytes:
        """UPDATE/PRACK offers from the IMS side (O-MGCF): answered from the same termination.

        An offer that cannot be answered raises :class:`ims.ue.sdp.SdpError` (or a bad multipart body
        :class:`SipParseError`): the UA core answers the request with its status (488, 400)."""
        call = self.calls.get(call_id)
        body = _sdp_part(request, strict=True)
        if call is None or not call.ims_term or not body:
            return b""
        if call.direction == "in":  # an offer from the callee (rare): answer it from our termination too
            return sdp_policy.answer(body, call.ims_term["local_address"], call.ims_term["local_port"], codecs=CODECS)
        lines = None
        if call.qos is not None and call.qos.on_remote(body):
            lines = call.qos.lines()
        call.answer = self._sdp_answer(call, body, lines)
        return call.answer

    def _update_received(self, ev: UpdateReceived, now: float) -> list[Any]:
        call = self.calls.get(ev.call_id)
        if call is None or call.direction != "out" or call.state != "wait_qos" or call.qos is None:
            return []
        if call.qos.failed:
            call.history.append("580")
            out = self.ua.reject(call.call_id, 580, now, call.qos.failed)
            return out + self._finish(call)
        if call.qos.met:  # TS 29.163 §7.2.3.1.2: the IAM once the preconditions are met
            return self._send_iam(call, now)
        return []

    def _send_iam(self, call: MgcfCall, now: float) -> list[Any]:
        cfg = self.config
        called = tel_to_isup(call.number, country_code=cfg.country_code, national_prefix=cfg.national_prefix)
        calling = None
        if call.calling:
            try:
                calling = tel_to_isup(call.calling, country_code=cfg.country_code,
                                      national_prefix=cfg.national_prefix)
            except ValueError:
                calling = None
        msg = iam(call.cic, called.digits, calling.digits if calling else None, nature=called.nature_of_address,
                  calling_nature=calling.nature_of_address if calling else None, transmission_medium_requirement=3,
                  complete=True)
        call.state = "iam_sent"
        self._arm(call, T7_ACM, self._t7, now)
        return [self._isup(msg, call)]

    def _t7(self, call: MgcfCall, now: float) -> list[Any]:
        log.info("circuit %d: T7 expired (no ACM)", call.cic)
        call.history.append("T7")
        out = self.ua.reject(call.call_id, cause_to_sip_status(102), now, "Server Time-out (no ACM, Q.850 102)")
        return out + self._release_circuit(call, 102, now)

    def _t9(self, call: MgcfCall, now: float) -> list[Any]:
        call.history.append("T9")
        if call.direction == "out":
            out = self.ua.reject(call.call_id, cause_to_sip_status(19), now, "Temporarily Unavailable (no answer)")
        else:
            out = self.ua.cancel(call.call_id, now)
        return out + self._release_circuit(call, 19, now)

    def _call_ended(self, ev: CallEnded, now: float) -> list[Any]:
        call = self.calls.get(ev.call_id)
        if call is None or not ev.by_remote:
            return []
        call.history.append("CANCEL" if ev.reason == "cancelled" else "BYE")
        if call.state in ("setup", "wait_qos"):  # no IAM yet: nothing toward the PSTN
            return self._finish(call)
        cause = 16 if call.state == "answered" else 31  # Q.1912.5: BYE -> 16, CANCEL -> 31 (TS 29.163 §7.2.3.1.7)
        return self._release_circuit(call, cause, now)

    def _progress(self, ev: CallProgress, now: float) -> list[Any]:
        """I-MGCF: 18x from the callee."""
        call = self.calls.get(ev.call_id)
        if call is None or call.direction != "in" or ev.status <= 100:
            return []
        out: list[Any] = []
        body = _sdp_part(ev.response) if ev.response is not None else b""
        if body:
            out += self._learn_answer(call, body, now)
            if ev.reliable and call.qos is not None and call.qos.on_remote(body):
                call.qos.local_reserved()
                if call.qos.update_needed():
                    call.offer = self._sdp_offer(call, call.qos.lines())
                    out += self.ua.update(call.call_id, now, body=call.offer)
                    call.history.append("UPDATE")
        call.history.append(str(ev.status))
        if ev.status == 180:
            out.append(self._isup(cpg(call.cic, 1) if call.acm_sent else acm(call.cic, called_party_status=1), call))
            call.acm_sent = True
            call.state = "alerting"
        elif not call.acm_sent:
            out.append(self._isup(acm(call.cic, called_party_status=0), call))
            call.acm_sent = True
            call.state = "progress"
        return out

    def _learn_answer(self, call: MgcfCall, body: bytes, now: float) -> list[Any]:
        """The callee's SDP answer: point the IMS termination at it, with the codec it chose."""
        if body == call.answer:
            return []
        call.answer = body
        try:
            neg = negotiate(SessionDescription.parse(call.offer), SessionDescription.parse(body), local_is_offer=True)
        except (SdpError, OfferAnswerError) as exc:
            log.info("circuit %d: unusable SDP answer from the IMS: %s", call.cic, exc)
            return []
        media = {"remote_address": neg.remote_address, "remote_port": neg.remote_port,
                 "payload_type": neg.payload_type, "encoding": neg.codec.encoding, "clock_rate": neg.codec.clock_rate}
        if neg.telephone_event_pt is not None:
            media["telephone_event_pt"] = neg.telephone_event_pt
        return [MgwOp("modify_ims", {"termination_id": call.ims_term["termination_id"], "media": media},
                      lambda r, e, t: [])]

    def _answered(self, ev: CallAnswered, now: float) -> list[Any]:
        call = self.calls.get(ev.call_id)
        if call is None or call.direction != "in":
            return []
        out: list[Any] = []
        body = _sdp_part(ev.response) if ev.response is not None else b""
        if body:
            out += self._learn_answer(call, body, now)
        call.history.append("200")
        out.append(self._isup(anm(call.cic) if call.acm_sent else con(call.cic), call))
        call.state = "answered"
        call.timer += 1  # T9 off
        self.stats["answered"] += 1
        return out

    def _failed(self, ev: CallFailed, now: float) -> list[Any]:
        call = self.calls.get(ev.call_id)
        if call is None or call.direction != "in":
            return []
        call.history.append(str(ev.status))
        if call.state == "releasing":
            return []
        return self._release_circuit(call, sip_status_to_cause(ev.status), now)

    # -- ISUP from the exchange --------------------------------------------------------
    def isup_received(self, msg: IsupMessage, now: float) -> list[Any]:
        cic = msg.cic
        if msg.type == MessageType.RLC:
            if cic in self.releasing:
                del self.releasing[cic]
            return []
        call = self.by_cic.get(cic)
        if msg.type == MessageType.REL:
            return self._rel(cic, call, msg, now)
        if msg.type == MessageType.IAM:
            if call is not None or cic in self.releasing:  # dual seizure (Q.764 §2.10.1.4): the non-controller yields
                log.info("circuit %d: IAM on a busy circuit", cic)
                self.stats["isup_unexpected"] += 1
                return [self._isup(rel(cic, 44))]  # requested circuit not available
            return self._iam(msg, now)
        if call is None:
            self.stats["isup_unexpected"] += 1
            log.info("circuit %d: %s for no call", cic, msg.type.name)
            return []
        call.history.append(msg.type.name)
        if call.direction != "out":
            self.stats["isup_unexpected"] += 1
            return []
        if msg.type == MessageType.ACM:
            status = acm_to_sip_status(msg.params["backward_call_indicators"]) \
                if "backward_call_indicators" in msg.params else 183
            call.state = "alerting"
            self._arm(call, T9_ANSWER, self._t9, now)
            return self.ua.provisional(call.call_id, now, status, **self._encapsulated(None, msg))
        if msg.type == MessageType.CPG:
            status = cpg_event_to_sip_status(int(msg.params.get("event_information", 2)))
            return self.ua.provisional(call.call_id, now, status, **self._encapsulated(None, msg))
        if msg.type in (MessageType.ANM, MessageType.CON):
            call.state = "answered"
            call.timer += 1
            self.stats["answered"] += 1
            sdp = call.answer if call.answer_in_200 else None
            return self.ua.answer(call.call_id, now, **self._encapsulated(sdp, msg))
        self.stats["isup_unexpected"] += 1
        return []

    def isup_undecodable(self, data: bytes, error: IsupError, now: float) -> list[Any]:
        """Answer ISUP that did not decode inside a valid M3UA DATA (Q.764 §2.9.5); never raises.

        As the exchange does: a REL still releases (RLC, the SIP side cleared with the mapped
        response or BYE/CANCEL); RLC and CFN are discarded; an unknown message type gets CFN cause 97;
        a malformed message on a circuit with a call clears it (REL cause 95, and the SIP side), else
        CFN cause 95 (REL 95 for an IAM)."""
        self.stats["isup_malformed"] += 1
        head = peek(data)
        if head is None:
            return []
        cic, code = head
        call = self.by_cic.get(cic)
        log.info("circuit %d: undecodable ISUP (type 0x%02x): %s", cic, code, error)
        if code == MessageType.REL:
            return self._rel(cic, call, IsupMessage(MessageType.REL, cic, {}), now)
        if code in (MessageType.RLC, MessageType.CFN):
            return []
        if error.cause == CAUSE_MESSAGE_TYPE_NOT_IMPLEMENTED:
            return [self._isup(cfn(cic, CAUSE_MESSAGE_TYPE_NOT_IMPLEMENTED, bytes([code])), call)]
        if call is not None and call.state != "releasing":
            call.history.append(f"undecodable 0x{code:02x}")
            return self._clear_sip(call, CAUSE_INVALID_MESSAGE, now) + self._release_circuit(
                call, CAUSE_INVALID_MESSAGE, now)
        if code == MessageType.IAM and call is None and cic not in self.releasing:
            return [self._isup(rel(cic, CAUSE_INVALID_MESSAGE))]
        return [self._isup(cfn(cic, error.cause))]

    def _clear_sip(self, call: MgcfCall, cause: int, now: float) -> list[Any]:
        """The SIP side of a call the circuit side ends: the mapped error response, or BYE/CANCEL."""
        if call.direction == "out":
            if call.state == "answered":
                return self.ua.bye(call.call_id, now)
            return self.ua.reject(call.call_id, cause_to_sip_status(cause), now, f"Q.850 cause {cause}")
        return self.ua.bye(call.call_id, now) if call.state == "answered" else self.ua.cancel(call.call_id, now)

    def _encapsulated(self, sdp: bytes | None, msg: IsupMessage) -> dict[str, Any]:
        """The body of a response mirroring ``msg``: with SIP-T (RFC 3372 §6), the ISUP message beside the SDP
        (handling=optional: a handset ignores it); else just the SDP."""
        if self.config.sip_t:
            body, ctype = make_sipi_body(sdp, encode(msg, with_cic=False), handling="optional")
            return {"body": body, "content_type": ctype}
        return {"body": sdp or b"", "content_type": "application/sdp" if sdp else None}

    def _rel(self, cic: int, call: MgcfCall | None, msg: IsupMessage, now: float) -> list[Any]:
        cause = msg.params["cause"].value if "cause" in msg.params else 16
        out: list[Any] = [self._isup(rlc(cic), call)]  # Q.764 §2.3.2: RLC at once, also to a crossing REL
        if cic in self.releasing:  # §2.10.3.1 collision: both released
            del self.releasing[cic]
            return out
        if call is None:
            return out
        call.history.insert(len(call.history) - 1, "REL")
        call.cause = cause
        if call.direction == "out":
            if call.state == "answered":
                out += self.ua.bye(call.call_id, now)
            else:
                out += self.ua.reject(call.call_id, cause_to_sip_status(cause), now, f"Q.850 cause {cause}")
        else:
            out += self.ua.bye(call.call_id, now) if call.state == "answered" else self.ua.cancel(call.call_id, now)
        return out + self._finish(call)

    def _iam(self, msg: IsupMessage, now: float) -> list[Any]:
        """I-MGCF: a call from the PSTN."""
        cfg = self.config
        called = msg.params.get("called_party_number")
        if called is None:
            return [self._isup(rel(msg.cic, 28))]  # invalid number format
        number = isup_to_tel(called, country_code=cfg.country_code, national_prefix=cfg.national_prefix)
        if not number.startswith("+"):
            return [self._isup(rel(msg.cic, 28))]
        calling_num = msg.params.get("calling_party_number")
        calling = isup_to_tel(calling_num, country_code=cfg.country_code, national_prefix=cfg.national_prefix) \
            if calling_num is not None else ""
        self.stats["calls_in"] += 1
        call = MgcfCall(f"iam-{msg.cic}-{next(self._seq)}", msg.cic, "in", number=f"tel:{number}",
                        calling=f"tel:{calling}" if calling.startswith("+") else "",
                        private=calling_num is not None and calling_num.presentation == 1)
        call.history.append("IAM")
        self.calls[call.call_id] = call
        self.by_cic[msg.cic] = call
        mgw_port, pstn_port = self._trunk(msg.cic)
        ims = {"remote_address": "", "remote_port": 0, "payload_type": 0, "encoding": "PCMU"}
        tdm = {"remote_address": cfg.pstn_host, "remote_port": pstn_port, "payload_type": 8, "encoding": "PCMA",
               "local_port": mgw_port}
        return [MgwOp("setup", {"ims": ims, "tdm": tdm}, lambda r, e, t: self._in_ready(call, msg, r, e, t))]

    def _sdp_offer(self, call: MgcfCall, lines: list[Any] | None) -> bytes:
        t = call.ims_term
        return sdp_policy.offer(t["local_address"], t["local_port"], codecs=CODECS, preconditions=lines)

    def _in_ready(self, call: MgcfCall, iam_msg: IsupMessage, result: dict[str, Any] | None, error: str,
                  now: float) -> list[Any]:
        if self.calls.get(call.call_id) is not call:
            return [MgwOp("release", {"terminations": [t["termination_id"] for t in _terms(result)]},
                          lambda r, e, t: [])] if result else []
        if result is None:
            log.warning("circuit %d: no media gateway context: %s", call.cic, error)
            return self._release_circuit(call, 47, now)  # resource unavailable
        call.context, call.ims_term, call.tdm_term = result["context"], result["ims"], result["tdm"]
        call.qos = QosPrecondition()
        call.offer = self._sdp_offer(call, call.qos.lines())
        target = parse_uri(call.number)
        extra = [("Supported", "100rel"), ("Require", "precondition")]
        if call.calling:
            extra.append(("P-Asserted-Identity", f"<{call.calling}>"))
            if call.private:  # RFC 3323/3325: the network knows it, the callee does not see it
                extra.append(("Privacy", "id"))
        body, ctype = call.offer, "application/sdp"
        if self.config.sip_t:
            body, ctype = make_sipi_body(call.offer, encode(iam_msg, with_cic=False), handling="optional")
        # RFC 3398 §7.1.2: From carries the calling party number when it may be presented
        sip_call_id, actions = self.ua.invite(target, now, body=body, content_type=ctype, extra_headers=extra,
                                              from_uri="sip:anonymous@anonymous.invalid" if call.private
                                              else call.calling or None)
        # the call is known by its SIP Call-ID from now on
        del self.calls[call.call_id]
        call.call_id = sip_call_id
        self.calls[sip_call_id] = call
        call.state = "invite_sent"
        call.history.append("INVITE")
        self._arm(call, T9_ANSWER, self._t9, now)
        return actions

    # -- introspection ------------------------------------------------------------------
    def status(self) -> list[dict[str, Any]]:
        return [{"call_id": c.call_id, "cic": c.cic, "direction": c.direction, "state": c.state, "number": c.number,
                 "calling": c.calling, "cause": c.cause, "history": list(c.history), "context": c.context}
                for c in self.calls.values()]


_HANDLERS: dict[type, Callable[[Mgcf, Any, float], list[Any]]] = {
    IncomingCall: Mgcf._incoming,
    UpdateReceived: Mgcf._update_received,
    CallEnded: Mgcf._call_ended,
    CallProgress: Mgcf._progress,
    CallAnswered: Mgcf._answered,
    CallFailed: Mgcf._failed,
}


def _terms(result: dict[str, Any] | None) -> list[dict[str, Any]]:
    return [t for t in ((result or {}).get("ims"), (result or {}).get("tdm")) if t]


def _reason(exc: Exception) -> str:
    """An error's text fit for a reason phrase (printable ASCII, no quotes, bounded)."""
    text = "".join(c if " " <= c <= "~" and c != '"' else "?" for c in str(getattr(exc, "reason", "") or exc))
    return text if len(text) <= 120 else text[:117] + "..."


def _sdp_part(msg: Request | Response | None, *, strict: bool = False) -> bytes:
    """The SDP of a message: its body, or the application/sdp part of a SIP-I/SIP-T multipart body.

    A multipart body that does not parse raises :class:`SipParseError` when ``strict`` (a request we
    answer with 400), and is taken as no SDP otherwise (a response: logged)."""
    if msg is None or not msg.body:
        return b""
    ctype = (msg.content_type or "").lower()
    if ctype.startswith("multipart/"):
        try:
            sdp, _ = split_sipi_body(msg.body, msg.get("content-type") or "")
        except SipParseError as exc:
            if strict:
                raise
            log.info("unreadable multipart body: %s", exc.reason)
            return b""
        return sdp or b""
    return msg.body if ctype in ("application/sdp", "") else b""


def _number_of(uri: Any) -> str | None:
    if isinstance(uri, TelURI):
        return f"tel:{uri.number.split(';')[0]}"
    if isinstance(uri, SipURI) and uri.user and uri.params.get("user") == "phone":
        return f"tel:{uri.user.split(';')[0]}"
    return None


def _calling_of(req: Request) -> str:
    """The caller's number for the IAM: a tel P-Asserted-Identity (TS 29.163 §7.2.3.1.2.3), else From."""
    for value in req.get_all("p-asserted-identity"):
        text = value.strip().strip("<>").split(">")[0]
        if text.startswith("tel:"):
            return text
    try:
        return _number_of(req.from_.uri) or ""
    except Exception:  # noqa: BLE001 - a From we cannot read simply gives no calling number
        return ""
