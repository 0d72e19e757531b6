"""The trio driver of simulated handsets: one SIP stack per handset, their calls, and what they report.

A :class:`Handset` runs an :class:`~ims.ue.handset.ImsHandset` on its own
SIP port, follows its events into :class:`CallRecord` entries (state,
statuses, a timed history) and applies the topology's behaviour to
incoming calls (busy: 486; auto-answer: 180 at once, 200 after
``answer_after`` seconds; otherwise ring until told).  Commands
(``register``, ``call``, ``answer``...) are coroutines the UE node's gRPC
service and tests call; ``wait`` returns when a call reaches a state.

Every call gets its own RTP/RTCP port pair (bound before the SDP naming
it is sent) and, once confirmed, a :class:`~ims.net.media.MediaStream`
sending the handset's source with the negotiated codec (SRTP when both
ends put ``a=crypto`` keys in RTP/SAVP), following hold and resume; the
call's status reports packets, loss, jitter and RTT.

Each event from the handset's SIP core, each delayed answer and each media
stream is its own error boundary: what one of them raises is logged and
counted (``internal_errors``) and the handset (and the other handsets of the
process) goes on.
"""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass, field
from typing import Any

import trio

from ims.control.events import EventBus
from ims.net.boundary import internal_error
from ims.net.impair import Impairments
from ims.net.media import MediaStream
from ims.net.node import media_event_hook, sip_event_hook
from ims.net.sip import SipStack
from ims.sip.uacore import (
    CallAnswered, CallEnded, CallFailed, CallProgress, IncomingCall, InfoReceived, MessageReceived, PrackReceived,
    Registered,
    RegistrationFailed, ReinviteAnswered, ReinviteReceived, UpdateAnswered, UpdateReceived,
)
from ims.sip.uri import URI, parse_uri
from ims.ue import sdp
from ims.sdp import Crypto, QosPrecondition
from ims.ue.handset import ChallengeAnswered, Deregistered, ImsHandset, MessageDelivered

log = logging.getLogger("ims.net.ue")

ENDED = ("ended", "failed")
KEPT_ENDED_CALLS = 500  # ended calls a handset keeps for status; older ones are forgotten


@dataclass
class Behaviour:
    register_on_start: bool = True
    auto_answer: bool = True
    answer_after: float = 0.5
    busy: bool = False
    # VoLTE QoS preconditions (RFC 3312), 183/PRACK/UPDATE before alerting. Calling: True or "required" puts
    # Require: precondition in the INVITE, "supported" only Supported (TS 24.229 §5.1.3.1), False offers none.
    # Called: any but False takes part when the offer has them; False answers Require: precondition with 420.
    preconditions: bool | str = True
    srtp: bool = False  # offer RTP/SAVP with SDES keys (an SRTP offer is answered either way)
    codecs: tuple[str, ...] = sdp.DEFAULT_CODECS
    media: str = "tone:440"  # the source sent in calls
    media_enabled: bool = True  # False: signalling only, no RTP
    # RFC 3312 §6 / RFC 3261 §8.1.3.5: a callee answering 420 Unsupported: precondition (an ordinary
    # softphone) is called again at once without them: no Require, no a=curr/a=des in the offer.
    retry_without_preconditions: bool = True


@dataclass
class CallRecord:
    call_id: str
    role: str
    peer: str
    state: str
    started: float
    status: int = 0
    history: list[str] = field(default_factory=list)
    setup_ms: float = 0.0
    reason: str = ""
    preconditions: bool = False
    extra_update_sent: bool = False
    held: bool = False  # on hold (RFC 3264 §8.4), by either side
    extra_hold_wanted: bool = False
    reinvite_status: int | None = None  # the final status of our latest re-INVITE
    dtmf: str = ""  # digits received (INFO application/dtmf-relay, and RFC 4733 events in the media)
    media: dict[str, Any] = field(default_factory=dict)  # the stream's figures (MediaStream.stats)

    def note(self, what: str, now: float) -> None:
        self.history.append(f"{(now - self.started) * 1000:.0f}ms {what}")


@dataclass
class CallMedia:
    """A call's media state: its stream (port bound at once) and the latest offer/answer bodies."""

    stream: MediaStream | None
    session: int
    crypto: list[Crypto]
    local_sdp: bytes = b""
    remote_sdp: bytes = b""
    local_is_offer: bool | None = None
    running: bool = False
    qos: QosPrecondition | None = None  # RFC 3312 segmented QoS, when the call uses preconditions
    # A forked INVITE (RFC 3261 §16.7): each early dialog negotiates its own preconditions (RFC 3312 §11),
    # by the callee's To tag; the one that answers becomes ``qos``.
    qos_by_tag: dict[str, QosPrecondition] = field(default_factory=dict)


class Handset:
    def __init__(self, name: str, ue: ImsHandset, *, behaviour: Behaviour | None = None,
                 events: EventBus | None = None, impairments: Impairments | None = None,
                 tls: dict[str, Any] | None = None) -> None:
        self.name = name
        self.ue = ue
        self.behaviour = behaviour or Behaviour()
        self.impairments = impairments
        self.media_hook = media_event_hook(events)
        self.media: dict[str, CallMedia] = {}  # Call-ID -> its media
        self.stack = SipStack(ue, host=ue.local.host, port=ue.local.port, transports=(ue.local.transport,),
                              on_message=sip_event_hook(events), impairments=impairments, **(tls or {}))
        self.calls: dict[str, CallRecord] = {}
        self.latest: str | None = None
        self.messages: list[str] = []  # bodies of MESSAGEs received
        self.delivered: dict[str, int] = {}  # MESSAGE Call-ID -> final status
        self.reg_status = 0  # the last registration outcome (200, 403, 408...)
        self.reg_seq = 0
        self._changed = trio.Event()
        self._nursery: trio.Nursery | None = None
        self._sdp_version: dict[str, int] = {}  # Call-ID -> o= version of the last SDP we sent
        self._early_version: dict[tuple[str, str], int] = {}  # (Call-ID, callee's tag) -> same, per early dialog
        ue.answer_sdp = self._answer_sdp
        ue.retry_without = self._retry_without
        # RFC 3261 §8.2.2.3: a handset without preconditions answers Require: precondition with 420.
        ue.supported = ("100rel", "precondition") if self.behaviour.preconditions else ("100rel",)

    # -- running ----------------------------------------------------------------------
    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            await nursery.start(self.stack.run)
            nursery.start_soon(self._events)
            task_status.started()

    def _touch(self) -> None:
        self._changed.set()
        self._changed = trio.Event()

    async def _events(self) -> None:
        async for ev in self.stack.events:
            try:
                await self._on_event(ev)
            except Exception:  # noqa: BLE001 - one bad event must not stop the handset
                internal_error("ue.event", f"{self.name}: {type(ev).__name__} of call "
                               f"{getattr(ev, 'call_id', '') or '-'}", logger=log)
            self._touch()

    async def _on_event(self, ev: Any) -> None:
        now = trio.current_time()
        if isinstance(ev, Registered):
            self.reg_status, self.reg_seq = 200, self.reg_seq + 1
            log.info("%s registered for %d s", self.name, ev.expires)
        elif isinstance(ev, RegistrationFailed):
            self.reg_status, self.reg_seq = ev.status, self.reg_seq + 1
            log.info("%s registration failed: %d", self.name, ev.status)
        elif isinstance(ev, Deregistered):
            if not ev.by_network:
                self.reg_status, self.reg_seq = 200, self.reg_seq + 1
            log.info("%s deregistered (%s)", self.name, "by the network" if ev.by_network else "by the user")
        elif isinstance(ev, ChallengeAnswered):
            log.debug("%s answered a challenge: %s", self.name, ev.outcome)
        elif isinstance(ev, IncomingCall):
            rec = CallRecord(ev.call_id, "uas", str(ev.request.from_.uri), "incoming", now)
            rec.note("INVITE", now)
            self._keep(rec)
            self.latest = ev.call_id
            self.media[ev.call_id] = await self._new_media()
            offer = sdp.sdp_of(ev.request)
            if offer:
                self.media[ev.call_id].remote_sdp = offer
            await self._on_incoming(rec, offer)
        elif isinstance(ev, CallProgress):
            rec = self.calls.get(ev.call_id)
            if rec is not None and ev.status > 100:
                rec.status = ev.status
                rec.note(f"{ev.status}{' (reliable) PRACK' if ev.reliable else ''}", now)
                if rec.state in ("calling", "early"):
                    rec.state = "ringing" if ev.status == 180 else "early"
                body = sdp.sdp_of(ev.response)
                if body and ev.response is not None and ev.response.content_type == "application/sdp":
                    self._remote(rec.call_id, body)
                tag = ev.response.to.tag or "" if ev.response is not None else ""
                qos = self._dialog_qos(rec.call_id, tag)
                if ev.reliable and qos is not None and body and qos.on_remote(body):
                    # RFC 3312 §6 / TS 24.229 §6.1.2: our bearer is up (at once in the lab): say so in an
                    # UPDATE in this early dialog; the callee alerts once both ends are reserved.
                    qos.local_reserved()
                    if qos.update_needed():
                        rec.extra_update_sent = True
                        offer2 = self._offer(rec.call_id, preconditions=qos.lines(), tag=tag)
                        await self.stack.execute(self.ue.update(rec.call_id, now, body=offer2, to_tag=tag))
                        rec.note("UPDATE", now)
        elif isinstance(ev, UpdateAnswered):
            rec = self.calls.get(ev.call_id)
            if rec is not None:
                rec.note(f"UPDATE {ev.status}", now)
                body = sdp.sdp_of(ev.response)
                if ev.status < 300 and body:
                    self._remote(rec.call_id, body)
                    tag = ev.response.to.tag or "" if ev.response is not None else ""
                    qos = self._dialog_qos(rec.call_id, tag)
                    if qos is not None:
                        qos.on_remote(body)
        elif isinstance(ev, UpdateReceived):
            rec = self.calls.get(ev.call_id)
            qos = self._qos(ev.call_id)
            if rec is not None and rec.role == "uas" and rec.state == "early" and qos is not None:
                rec.note("UPDATE", now)
                if qos.failed:  # RFC 3312 §8: 580 Precondition Failure
                    await self.stack.execute(self.ue.reject(rec.call_id, 580, now, qos.failed))
                    rec.state, rec.status, rec.reason = "ended", 580, qos.failed
                    self._end_media(rec.call_id)
                elif qos.met:  # both segments reserved: alert now (RFC 3312 §8)
                    await self._alert(rec)
        elif isinstance(ev, ReinviteReceived):
            rec = self.calls.get(ev.call_id)
            if rec is not None:
                rec.held = sdp.direction(ev.request.body) in ("sendonly", "inactive") if ev.request.body else rec.held
                rec.note(f"re-INVITE ({'hold' if rec.held else 'resume'})", now)
        elif isinstance(ev, ReinviteAnswered):
            rec = self.calls.get(ev.call_id)
            if rec is not None:
                rec.note(f"re-INVITE {ev.status}", now)
                rec.reinvite_status = ev.status
                if ev.status < 300:
                    rec.held = bool(rec.extra_hold_wanted)
                    if sdp.sdp_of(ev.response):
                        self._remote(rec.call_id, sdp.sdp_of(ev.response))
        elif isinstance(ev, InfoReceived):
            rec = self.calls.get(ev.call_id)
            digit = _dtmf_relay_signal(ev.request.body) if ev.request.content_type == "application/dtmf-relay" \
                else None
            if rec is not None and digit:
                rec.dtmf += digit
                rec.note(f"INFO {digit}", now)
        elif isinstance(ev, PrackReceived):
            rec = self.calls.get(ev.call_id)
            if rec is not None:
                rec.note("PRACK", now)
        elif isinstance(ev, CallAnswered):
            rec = self.calls.get(ev.call_id)
            if rec is not None and rec.state not in ENDED:
                rec.state, rec.status = "confirmed", 200
                rec.note("200" if rec.role == "uac" else "ACK", now)
                if rec.role == "uac":
                    rec.setup_ms = (now - rec.started) * 1000
                    m = self.media.get(rec.call_id)
                    tag = ev.response.to.tag if ev.response is not None else None
                    if m is not None and tag in m.qos_by_tag:  # the fork that answered
                        m.qos = m.qos_by_tag[tag]
                    self._confirm_version(rec.call_id, tag)
                    if sdp.sdp_of(ev.response):
                        self._remote(rec.call_id, sdp.sdp_of(ev.response))
                elif ev.request is not None and sdp.sdp_of(ev.request) and rec.call_id in self.media:
                    self.media[rec.call_id].remote_sdp = sdp.sdp_of(ev.request)  # the answer in the ACK
                self._refresh(rec.call_id)
        elif isinstance(ev, CallFailed):
            rec = self.calls.get(ev.call_id)
            if rec is not None:
                rec.state, rec.status = "failed", ev.status
                rec.reason = ev.response.reason if ev.response is not None else str(ev.status)
                rec.note(str(ev.status), now)
                self._end_media(rec.call_id)
        elif isinstance(ev, CallEnded):
            rec = self.calls.get(ev.call_id)
            if rec is not None:
                rec.state = "ended"
                rec.reason = ev.reason if not ev.by_remote or ev.reason != "bye" else "remote bye"
                rec.note("CANCEL" if ev.reason == "cancelled" else "BYE" if ev.by_remote else "BYE 200", now)
                self._end_media(rec.call_id)
        elif isinstance(ev, MessageDelivered):
            self.delivered[ev.call_id] = ev.status
        elif isinstance(ev, MessageReceived):
            self.messages.append(ev.request.body.decode("utf-8", "replace"))

    async def _on_incoming(self, rec: CallRecord, offer: bytes) -> None:
        b = self.behaviour
        now = trio.current_time()
        if b.busy:
            await self.stack.execute(self.ue.reject(rec.call_id, 486, now))
            rec.state, rec.status, rec.reason = "ended", 486, "busy"
            rec.note("486", now)
            self._end_media(rec.call_id)
            return
        if offer:
            try:
                sdp.check_offer(offer, b.codecs)  # RFC 3261 §21.4.26: refuse at once, not after ringing
            except sdp.SdpError as exc:
                await self._refuse_offer(rec, exc, now)
                return
        call = self.ue.calls.get(rec.call_id)
        tags = [t.lower() for t in (call.invite.supported + call.invite.require)] if call else []
        if b.preconditions and offer and sdp.has_preconditions(offer) and "100rel" in tags:
            # TS 24.229 §5.1.4.1 / RFC 3312: answer in a reliable 183, alert only once QoS is reserved.
            rec.preconditions = True
            qos = self.media[rec.call_id].qos = QosPrecondition()
            qos.on_remote(offer)
            try:
                answer = self._answer(rec.call_id, offer, preconditions=qos.lines(confirm=True))
            except sdp.SdpError as exc:
                await self._refuse_offer(rec, exc, now)
                return
            await self.stack.execute(self.ue.provisional(rec.call_id, now, 183, reliable=True, body=answer,
                                                         content_type="application/sdp"))
            rec.state = "early"
            rec.note("183 (reliable)", now)
            return
        await self._alert(rec)

    async def _refuse_offer(self, rec: CallRecord, exc: sdp.SdpError, now: float) -> None:
        """488 Not Acceptable Here with the reason (RFC 3261 §21.4.26); the handset goes on serving."""
        await self.stack.execute(self.ue.reject(rec.call_id, 488, now, exc.reason))
        rec.state, rec.status, rec.reason = "ended", 488, exc.reason
        rec.note("488", now)
        self._end_media(rec.call_id)

    async def _alert(self, rec: CallRecord) -> None:
        now = trio.current_time()
        call = self.ue.calls.get(rec.call_id)
        if call is not None and not sdp.sdp_of(call.invite) and "100rel" in call.invite.require:
            # RFC 3262 §5: an INVITE without an offer that requires 100rel: the offer goes in the first
            # reliable provisional response (the 180), its answer comes in the PRACK.
            offer = self._offer(rec.call_id)
            await self.stack.execute(self.ue.provisional(rec.call_id, now, 180, body=offer,
                                                         content_type="application/sdp"))
        else:
            await self.stack.execute(self.ue.ringing(rec.call_id, now))
        rec.state = "ringing"
        rec.note("180", now)
        b = self.behaviour
        if b.auto_answer and self._nursery is not None:
            self._nursery.start_soon(self._answer_later, rec.call_id, b.answer_after)

    def _bump(self, call_id: str, tag: str | None = None) -> int:
        """The o= version of our next SDP in this call (RFC 3264 §8: one more than the previous SDP we sent).
        ``tag``: in the early dialog with that callee; each fork of our INVITE counts on from the INVITE's offer."""
        if tag is None:
            version = self._sdp_version[call_id] = self._sdp_version.get(call_id, 0) + 1
        else:
            key = (call_id, tag)
            version = self._early_version[key] = self._early_version.get(key, self._sdp_version.get(call_id, 0)) + 1
        return version

    def _confirm_version(self, call_id: str, tag: str | None) -> None:
        """The answering fork's dialog goes on from its own early dialog's version; the others are gone."""
        for key in [k for k in self._early_version if k[0] == call_id]:
            version = self._early_version.pop(key)
            if key[1] == tag:
                self._sdp_version[call_id] = version

    def _keep(self, rec: CallRecord) -> None:
        """Record a new call; beyond KEPT_ENDED_CALLS ended ones, the oldest ended ones are forgotten."""
        self.calls[rec.call_id] = rec
        ended = [c.call_id for c in self.calls.values() if c.state in ENDED]
        for call_id in ended[:max(0, len(ended) - KEPT_ENDED_CALLS)]:
            del self.calls[call_id]
            self._sdp_version.pop(call_id, None)
            self._confirm_version(call_id, None)

    def _answer_sdp(self, call_id: str, request: Any) -> bytes:
        """The answer to an offer in an UPDATE, PRACK or re-INVITE (the ImsHandset's answer_sdp hook)."""
        qos = self._qos(call_id)
        lines = None
        offer = sdp.sdp_of(request)
        if not offer:
            return b""
        m = self.media.get(call_id)
        if m is not None and m.local_is_offer and not m.remote_sdp and request.method == "PRACK":
            m.remote_sdp = offer  # RFC 3262 §5: the answer to the offer of our reliable 180
            return b""
        if qos is not None and qos.on_remote(offer):
            qos.local_reserved()  # the lab's bearer is reserved as soon as it is asked for
            lines = qos.lines()
        rec = self.calls.get(call_id)
        early = rec is not None and rec.role == "uac" and rec.state not in ("confirmed", *ENDED)
        body = self._answer(call_id, offer, preconditions=lines, tag=request.from_.tag if early else None)
        self._refresh(call_id)  # a re-INVITE (hold, resume) changes a running stream at once
        return body

    def _retry_without(self, call_id: str, tags: list[str], response: Any) -> bytes | None:
        """The offer of the INVITE sent again after a 420 (the UA core's retry_without hook): without
        preconditions when those were what the callee refused and the behaviour allows it (RFC 3312 §6)."""
        m, rec = self.media.get(call_id), self.calls.get(call_id)
        if tags != ["precondition"] or not self.behaviour.retry_without_preconditions or m is None or rec is None:
            return None
        m.qos = None
        m.qos_by_tag.clear()
        rec.preconditions = False
        rec.note("420 Unsupported: precondition: INVITE again without preconditions", trio.current_time())
        return self._offer(call_id)

    # -- media ---------------------------------------------------------------------------
    async def _new_media(self) -> CallMedia:
        """A call's media: its RTP/RTCP port pair is bound now, before an SDP names it."""
        b = self.behaviour
        stream = None
        if b.media_enabled:
            stream = MediaStream(self.ue.local.host, impairments=self.impairments, source=b.media,
                                 cname=f"{self.name}@{self.ue.local.host}", on_packet=self.media_hook)
            try:
                await stream.bind()
            except OSError as exc:  # the call goes on without voice rather than not at all
                log.warning("%s: no RTP port for a call: %s", self.name, exc)
                stream = None
        return CallMedia(stream, random.randrange(10**9, 10**10), sdp.new_crypto() if b.srtp else [])

    def _port(self, m: CallMedia) -> int:
        return m.stream.port if m.stream is not None else 40000 + self.ue.local.port % 1000 * 2

    def _qos(self, call_id: str) -> QosPrecondition | None:
        m = self.media.get(call_id)
        return m.qos if m is not None else None

    def _dialog_qos(self, call_id: str, tag: str) -> QosPrecondition | None:
        """The preconditions of the early dialog with the callee's To tag ``tag`` (a calling handset)."""
        m = self.media.get(call_id)
        if m is None or m.qos is None:
            return None
        if not m.qos_by_tag:  # the first early dialog takes the call's own state
            m.qos_by_tag[tag] = m.qos
        if tag not in m.qos_by_tag:
            m.qos_by_tag[tag] = QosPrecondition()  # another fork: the same offer, its own negotiation
        return m.qos_by_tag[tag]

    def _offer(self, call_id: str, *, preconditions: list[Any] | None = None, direction: str = "sendrecv",
               tag: str | None = None) -> bytes:
        m = self.media[call_id]
        body = sdp.offer(self.ue.local.host, self._port(m), m.session, preconditions=preconditions,
                         version=self._bump(call_id, tag), direction=direction, codecs=self.behaviour.codecs,
                         crypto=m.crypto or None)
        m.local_sdp, m.local_is_offer = body, True
        return body

    def _answer(self, call_id: str, offer: bytes, *, preconditions: list[Any] | None = None,
                tag: str | None = None) -> bytes:
        m = self.media[call_id]
        if not m.crypto and sdp.is_secure(offer):
            m.crypto = sdp.new_crypto()  # an SRTP offer is answered with keys of our own (RFC 4568 §7.1.2)
        body = sdp.answer(offer, self.ue.local.host, self._port(m), m.session, preconditions=preconditions,
                          version=self._bump(call_id, tag), codecs=self.behaviour.codecs, crypto=m.crypto or None)
        m.remote_sdp, m.local_sdp, m.local_is_offer = offer, body, False
        return body

    def _remote(self, call_id: str, body: bytes) -> None:
        m = self.media.get(call_id)
        if m is not None:
            m.remote_sdp = body
            self._refresh(call_id)

    def _refresh(self, call_id: str) -> None:
        """Start the stream when the call is confirmed; re-configure it when a later exchange changed it."""
        m, rec = self.media.get(call_id), self.calls.get(call_id)
        if m is None or m.stream is None or rec is None or rec.state != "confirmed" \
                or not (m.local_sdp and m.remote_sdp):
            return
        try:
            params = sdp.stream_params(m.local_sdp, m.remote_sdp, local_is_offer=m.local_is_offer)
        except sdp.SdpError as exc:
            log.info("%s: no media for call %s: %s", self.name, call_id, exc)
            return
        if m.running:
            m.stream.configure(params)
        elif self._nursery is not None:
            m.running = True
            self._nursery.start_soon(self._run_media, call_id, m.stream, params)

    async def _run_media(self, call_id: str, stream: MediaStream, params: Any) -> None:
        try:
            await stream.run(params)
        except (OSError, ValueError) as exc:  # an unusable source file, a codec without a source...
            log.warning("%s: media of call %s stopped: %s", self.name, call_id, exc)
        except Exception:  # noqa: BLE001 - this call's media ends; the handset goes on
            internal_error("ue.media", f"{self.name}: media of call {call_id}", logger=log)

    def _end_media(self, call_id: str) -> None:
        m = self.media.pop(call_id, None)
        if m is not None and m.stream is not None:
            rec = self.calls.get(call_id)
            if rec is not None and m.running:
                rec.media = m.stream.stats()
            m.stream.close()

    async def _answer_later(self, call_id: str, delay: float) -> None:
        await trio.sleep(delay)
        rec = self.calls.get(call_id)
        if rec is not None and rec.state == "ringing":
            try:
                await self.answer(call_id)
            except Exception:  # noqa: BLE001 - a task of the handset's nursery: never end the handset
                internal_error("ue.answer", f"{self.name}: answering call {call_id}", logger=log)

    # -- commands ---------------------------------------------------------------------
    async def _wait_registration(self, seq: int, timeout: float) -> int:
        with trio.move_on_after(timeout):
            while self.reg_seq == seq:
                await self._changed.wait()
            return self.reg_status
        return 408

    async def register(self, expires: int = 600000, timeout: float = 10.0) -> int:
        """REGISTER and wait for the outcome: 200, or the final failure status (408 on no outcome)."""
        seq = self.reg_seq
        await self.stack.execute(self.ue.ims_register(trio.current_time(), expires))
        return await self._wait_registration(seq, timeout)

    async def deregister(self, timeout: float = 10.0) -> int:
        seq = self.reg_seq
        await self.stack.execute(self.ue.ims_deregister(trio.current_time()))
        return await self._wait_registration(seq, timeout)

    async def call(self, target: str) -> str:
        uri: URI = parse_uri(target if ":" in target else f"tel:{target}")
        pre = self.behaviour.preconditions
        media = await self._new_media()
        self.media[""] = media  # the Call-ID comes with the INVITE, built from this offer
        if pre:
            media.qos = QosPrecondition()
        offer = self._offer("", preconditions=media.qos.lines() if media.qos is not None else None)
        del self.media[""]
        call_id, actions = self.ue.call(uri, trio.current_time(), sdp=offer, preconditions=pre)
        self.media[call_id] = media
        self._sdp_version[call_id] = self._sdp_version.pop("", 1)
        now = trio.current_time()
        rec = CallRecord(call_id, "uac", str(uri), "calling", now, preconditions=bool(pre))
        rec.note("INVITE", now)
        self._keep(rec)
        self.latest = call_id
        await self.stack.execute(actions)
        return call_id

    def _rec(self, call_id: str) -> CallRecord:
        cid = call_id or self.latest or ""
        rec = self.calls.get(cid)
        if rec is None:
            raise KeyError(f"{self.name} has no call {call_id or '(none yet)'}")
        return rec

    async def answer(self, call_id: str = "") -> None:
        rec = self._rec(call_id)
        call = self.ue.calls.get(rec.call_id)
        if call is None or rec.role != "uas" or rec.state not in ("incoming", "ringing", "early"):
            raise ValueError(f"call {rec.call_id} is {rec.state}: nothing to answer")
        try:
            # With preconditions the offer/answer is done (183, UPDATE): the 200 carries no new answer.
            offer = sdp.sdp_of(call.invite)
            m = self.media.get(rec.call_id)
            if offer:
                body = self._answer(rec.call_id, offer) if not rec.preconditions else b""
            elif m is not None and not m.local_is_offer:
                # RFC 3264 §4 / RFC 3261 §13.2.1: no offer in the INVITE: ours goes in the 200, the answer
                # comes in the ACK (when a reliable 180 carried it already, nothing more is offered).
                body = self._offer(rec.call_id)
            else:
                body = b""
        except sdp.SdpError as exc:
            await self._refuse_offer(rec, exc, trio.current_time())
            return
        await self.stack.execute(self.ue.answer(rec.call_id, trio.current_time(), body=body,
                                                content_type="application/sdp" if body else None))
        rec.state = "answered"  # confirmed when the ACK comes
        rec.note("200", trio.current_time())

    async def reject(self, call_id: str = "", status: int = 486) -> None:
        rec = self._rec(call_id)
        if rec.role != "uas" or rec.state not in ("incoming", "ringing", "early"):
            raise ValueError(f"call {rec.call_id} is {rec.state}: nothing to reject")
        await self.stack.execute(self.ue.reject(rec.call_id, status, trio.current_time()))
        rec.state, rec.status, rec.reason = "ended", status, "rejected"
        rec.note(str(status), trio.current_time())
        self._end_media(rec.call_id)
        self._touch()

    async def hangup(self, call_id: str = "") -> None:
        rec = self._rec(call_id)
        if rec.state == "answered":
            # RFC 3261 §15: the UAS sends no BYE before the ACK (or its 64*T1 timeout).
            await self.wait(rec.call_id, ("confirmed",) + ENDED, 64 * self.ue.timers.t1)
        now = trio.current_time()
        if rec.state == "confirmed":
            await self.stack.execute(self.ue.bye(rec.call_id, now))
            rec.note("BYE", now)
        elif rec.role == "uac" and rec.state in ("calling", "early", "ringing"):
            await self.stack.execute(self.ue.cancel(rec.call_id, now))
            rec.note("CANCEL", now)
        elif rec.role == "uas" and rec.state in ("incoming", "ringing", "early"):
            await self.reject(rec.call_id, 603)
        else:
            raise ValueError(f"call {rec.call_id} is {rec.state}: nothing to hang up")

    async def hold(self, call_id: str = "", on: bool = True, timeout: float = 10.0) -> int:
        """Hold (a=sendonly) or resume (a=sendrecv) with a re-INVITE (RFC 3264 §8.4); its final status."""
        rec = self._rec(call_id)
        if rec.state != "confirmed":
            raise ValueError(f"call {rec.call_id} is {rec.state}: only an established call can be held")
        rec.extra_hold_wanted = on
        body = self._offer(rec.call_id, direction="sendonly" if on else "sendrecv")
        rec.reinvite_status = None
        await self.stack.execute(self.ue.reinvite(rec.call_id, trio.current_time(), body=body))
        rec.note(f"re-INVITE ({'hold' if on else 'resume'})", trio.current_time())
        with trio.move_on_after(timeout):
            while rec.reinvite_status is None:
                await self._changed.wait()
            return rec.reinvite_status
        return 408

    async def send_dtmf(self, call_id: str, digits: str, duration_ms: int = 160, method: str = "info") -> None:
        """Digits as SIP INFO application/dtmf-relay, one per INFO (``method="info"``, the signalling path
        labs and SIPp use), or as RFC 4733 telephone-events in the call's RTP (``method="rtp"``)."""
        rec = self._rec(call_id)
        if rec.state != "confirmed":
            raise ValueError(f"call {rec.call_id} is {rec.state}: DTMF needs an established call")
        bad = [d for d in digits if d.upper() not in DTMF_DIGITS]
        if bad or not digits:
            raise ValueError(f"digits: {digits!r} (allowed: {DTMF_DIGITS})")
        if method == "rtp":
            m = self.media.get(rec.call_id)
            if m is None or m.stream is None or not m.running:
                raise ValueError(f"call {rec.call_id} has no media stream for RFC 4733 events")
            await m.stream.send_dtmf(digits, duration_ms)
            rec.note(f"RTP DTMF {digits.upper()}", trio.current_time())
            return
        if method != "info":
            raise ValueError(f"method: {method!r} (info or rtp)")
        for d in digits:
            body = f"Signal={d.upper()}\r\nDuration={duration_ms}\r\n".encode()
            await self.stack.execute(self.ue.request_in_dialog(rec.call_id, "INFO", trio.current_time(), body=body,
                                                               content_type="application/dtmf-relay"))
            rec.note(f"INFO {d.upper()}", trio.current_time())
            await trio.sleep(duration_ms / 1000)

    async def wait(self, call_id: str, states: tuple[str, ...], timeout: float) -> CallRecord | None:
        with trio.move_on_after(timeout):
            while True:
                cid = call_id or self.latest
                rec = self.calls.get(cid or "")
                if rec is not None and rec.state in states:
                    return rec
                await self._changed.wait()
        return None

    async def message(self, target: str, text: str, timeout: float = 10.0) -> int:
        """MESSAGE ``text`` to ``target``; the final status (408 when none came in time)."""
        uri = parse_uri(target if ":" in target else f"tel:{target}")
        call_id, actions = self.ue.message(uri, text, trio.current_time())
        await self.stack.execute(actions)
        with trio.move_on_after(timeout):
            while call_id not in self.delivered:
                await self._changed.wait()
            return self.delivered.pop(call_id)
        return 408

    # -- status -----------------------------------------------------------------------
    def status(self) -> dict[str, Any]:
        ue = self.ue
        return {"name": self.name, "impu": ue.sub.impu, "impi": ue.sub.impi, "contact": str(ue.contact),
                "registered": ue.registered, "expires": ue.expires, "associated": list(ue.associated),
                "service_route": list(ue.service_route), "history": list(ue.history), "auth": ue.sub.auth,
                "pcscf": f"{ue.outbound_proxy.host}:{ue.outbound_proxy.port}" if ue.outbound_proxy else "",
                "calls": [vars(self._with_media(c)) for c in self.calls.values()]}

    def _with_media(self, rec: CallRecord) -> CallRecord:
        m = self.media.get(rec.call_id)
        if m is not None and m.stream is not None and m.running:
            rec.media = m.stream.stats()
        return rec


DTMF_DIGITS = "0123456789*#ABCD"


def _dtmf_relay_signal(body: bytes) -> str | None:
    for line in body.decode("utf-8", "replace").splitlines():
        name, _, value = line.partition("=")
        if name.strip().lower() == "signal" and value.strip().upper() in DTMF_DIGITS and value.strip():
            return value.strip().upper()
    return None


async def keep_registered(h: Handset, *, first_delay: float = 0.0) -> None:
    """register_on_start: register, and retry with back-off while the core is unreachable (408/5xx)."""
    await trio.sleep(first_delay)
    delay = 1.0
    while not h.ue.registered:
        try:
            status = await h.register()
        except Exception:  # noqa: BLE001 - retried like a failed registration, never ends the UE node
            internal_error("ue.register", f"{h.name}: REGISTER", logger=log)
            status = 500
        if status == 200 or status in (401, 403, 404):
            return
        log.info("%s: registration got %d, retrying in %.0f s", h.name, status, delay)
        await trio.sleep(delay)
        delay = min(delay * 2, 30.0)

