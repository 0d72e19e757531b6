"""A minimal sans-IO SIP user agent: register, call, answer, hang up (RFC 3261 §8, §10, §13, §15).

``UserAgent`` implements the SIP-core contract the trio driver runs
(``receive`` / ``next_deadline`` / ``handle_timers`` / ``transport_error``)
and adds application commands that return actions.  Application events
(:class:`Registered`, :class:`IncomingCall`, :class:`CallAnswered`...) come
back among the actions.  It handles the UA-core duties of §13.3.1.4 (the UAS
retransmits its 2xx until the ACK, and gives up with a BYE after 64*T1) and
§13.2.2.4 (the UAC ACKs every 2xx, and ACKs then BYEs a second fork's 2xx).

Reliable provisional responses (RFC 3262) and UPDATE (RFC 3311), both opt-in:
the UAS sends one with ``provisional(call_id, 183, reliable=True, body=...)``
(``Require: 100rel`` and ``RSeq``; retransmitted at T1, T1*2... until the
PRACK, given up with a 500 after 64*T1, §3); the UAC PRACKs every reliable
provisional once (``RAck``, §7.2) and raises :class:`CallProgress` with
``reliable=True``.  ``update(call_id, body)`` sends an UPDATE in an early or
confirmed dialog; an UPDATE or PRACK received is answered 200 with the body
``answer_sdp(call_id, request)`` returns (the application's SDP answer), and
raised as :class:`UpdateReceived` / :class:`PrackReceived`.

Not here: SDP (the caller supplies bodies), media, IMS specifics.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from ims.sip.dialog import Dialog, DialogSet, uri_address
from ims.sip.events import (
    AckReceived,
    Action,
    Address,
    CancelReceived,
    RequestReceived,
    ResponseReceived,
    SendMessage,
    StrayResponse,
    TimerConfig,
    TransactionKey,
    TransactionTerminated,
    TransactionTimeout,
    TransportFailure,
)
from ims.sip.errors import SipParseError
from ims.sip.headers import Challenge, Headers, option_tags
from ims.sip.message import Request, Response, build_response, new_branch, new_call_id, new_tag
from ims.sip.transaction import TransactionLayer
from ims.sip.uri import URI, SipURI

# credentials(challenge, request) -> the Authorization / Proxy-Authorization value answering
# ``challenge`` for ``request`` (digest math: ims.sip.auth), or None to give up.
CredentialsHook = Callable[[Challenge, Request], str | None]
# retry_without(call_id, option tags, 420 response) -> the body of the INVITE sent again without those
# extensions (RFC 3261 §8.1.3.5; RFC 3312 §6: an offer without precondition lines), or None to give up.
RetryHook = Callable[[str, list[str], Response], bytes | None]

# RFC 3261 §20.5: the methods this UA core answers (NOTIFY: in a dialog it made, e.g. a reg event).
ALLOW = "INVITE, ACK, CANCEL, BYE, PRACK, UPDATE, INFO, OPTIONS, MESSAGE, NOTIFY"
# RFC 3261 §20.37: the option tags understood; the UA core does 100rel (RFC 3262), its applications
# (handsets, the MGCF) do preconditions (RFC 3312). A request requiring anything else gets 420 (§8.2.2.3).
SUPPORTED = ("100rel", "precondition")


@dataclass(frozen=True, slots=True)
class Registered:
    expires: int
    response: Response | None = None


@dataclass(frozen=True, slots=True)
class RegistrationFailed:
    status: int
    response: Response | None = None


@dataclass(frozen=True, slots=True)
class IncomingCall:
    call_id: str
    request: Request


@dataclass(frozen=True, slots=True)
class CallProgress:
    call_id: str
    status: int
    response: Response | None = None
    reliable: bool = False  # RFC 3262: it carried RSeq and was PRACKed


@dataclass(frozen=True, slots=True)
class PrackReceived:
    call_id: str
    request: Request


@dataclass(frozen=True, slots=True)
class UpdateReceived:
    call_id: str
    request: Request


@dataclass(frozen=True, slots=True)
class InfoReceived:
    """An INFO in a dialog (RFC 6086), e.g. DTMF as application/dtmf-relay."""

    call_id: str
    request: Request


@dataclass(frozen=True, slots=True)
class ReinviteReceived:
    """A target refresh / session change in a confirmed dialog (hold, resume: RFC 3264 §8.4)."""

    call_id: str
    request: Request


@dataclass(frozen=True, slots=True)
class ReinviteAnswered:
    call_id: str
    status: int
    response: Response | None = None


@dataclass(frozen=True, slots=True)
class UpdateAnswered:
    call_id: str
    status: int
    response: Response | None = None


@dataclass(frozen=True, slots=True)
class CallAnswered:
    call_id: str
    response: Response | None = None  # the caller's: the 2xx
    request: Request | None = None  # the callee's: the ACK (its body answers an offer made in the 2xx)


@dataclass(frozen=True, slots=True)
class CallFailed:
    call_id: str
    status: int
    response: Response | None = None


@dataclass(frozen=True, slots=True)
class CallEnded:
    call_id: str
    by_remote: bool
    reason: str = "bye"


@dataclass(frozen=True, slots=True)
class MessageReceived:
    request: Request


@dataclass
class Call:
    call_id: str
    role: str  # "uac" | "uas"
    invite: Request
    state: str = "calling"  # calling, early, ringing, confirmed, terminated
    key: TransactionKey | None = None
    dest: Address | None = None
    dialogs: DialogSet | None = None
    dialog: Dialog | None = None
    local_tag: str = ""
    ok: Response | None = None  # UAS: our 2xx, retransmitted until ACK
    ok_interval: float = 0.0
    ok_given_up_at: float = 0.0
    ack: Request | None = None
    auth_tries: int = 0
    cancel_requested: bool = False
    extra: dict[str, object] = field(default_factory=dict)


def _auth_header(status: int) -> str:
    """§22.2 / §22.3: 401 is answered in Authorization, 407 in Proxy-Authorization."""
    return "Proxy-Authorization" if status == 407 else "Authorization"


class UserAgent:
    def __init__(self, aor: SipURI, contact: SipURI, local: Address, outbound_proxy: Address | None = None,
                 credentials: CredentialsHook | None = None, *, timers: TimerConfig = TimerConfig(),
                 user_agent: str = "ims-lab", display_name: str | None = None) -> None:
        self.aor = aor
        self.contact = contact
        self.local = local
        self.outbound_proxy = outbound_proxy
        self.credentials = credentials
        self.timers = timers
        self.user_agent = user_agent
        self.display_name = display_name
        self.layer = TransactionLayer(timers)
        self.calls: dict[str, Call] = {}
        self._heap: list[tuple[float, int, str, str]] = []
        self._seq = itertools.count()
        self._reg_call_id = new_call_id(local.host)
        self._reg_cseq = 0
        self._reg_tag = new_tag()
        self._reg_tries = 0
        self._pending: dict[TransactionKey, tuple[str, str]] = {}  # client txn -> (purpose, call_id)
        self._server: dict[TransactionKey, str] = {}  # server txn -> call_id
        # §8.2.2.2 merged requests: (From tag, Call-ID, CSeq) of out-of-dialog requests -> server txn
        self._merged: dict[tuple[str, str, int, str], TransactionKey] = {}
        self._merged_by_key: dict[TransactionKey, tuple[str, str, int, str]] = {}
        # The body of our 200 to an UPDATE or PRACK carrying an offer (RFC 3311 §5.2, RFC 3262 §3).
        self.answer_sdp: Callable[[str, Request], bytes] | None = None
        self.retry_without: RetryHook | None = None
        self.supported: tuple[str, ...] = SUPPORTED

    # -- helpers -------------------------------------------------------------
    def _via(self) -> str:
        return f"SIP/2.0/{self.local.transport.upper()} {self.local.host}:{self.local.port};branch={new_branch()};rport"

    def _from(self, tag: str) -> str:
        disp = f'"{self.display_name}" ' if self.display_name else ""
        return f"{disp}<{self.aor}>;tag={tag}"

    def _proxy_route(self) -> str:
        """The outbound proxy as a loose Route, with its transport when not UDP (RFC 3261 §8.1.2)."""
        p = self.outbound_proxy
        assert p is not None
        tp = "" if p.transport == "udp" else f";transport={p.transport}"
        return f"<sip:{p.host}:{p.port}{tp};lr>"

    def _dest_for(self, uri: URI, routes: list[str] | None = None) -> Address:
        if self.outbound_proxy is not None:
            return self.outbound_proxy
        return uri_address(uri, self.local.transport)

    def _send_new(self, req: Request, dest: Address, now: float, purpose: str, call_id: str) -> list[Action]:
        key, actions = self.layer.send_request(req, dest, now)
        self._pending[key] = (purpose, call_id)
        return actions

    def _arm(self, at: float, call_id: str, what: str) -> None:
        heapq.heappush(self._heap, (at, next(self._seq), call_id, what))

    # -- SipCore -------------------------------------------------------------
    def next_deadline(self) -> float | None:
        mine = self._heap[0][0] if self._heap else None
        theirs = self.layer.next_deadline()
        if mine is None:
            return theirs
        return mine if theirs is None else min(mine, theirs)

    def handle_timers(self, now: float) -> list[Action]:
        out = self._handle(self.layer.handle_timers(now), now)
        while self._heap and self._heap[0][0] <= now:
            _, _, call_id, what = heapq.heappop(self._heap)
            call = self.calls.get(call_id)
            if call is None:
                continue
            if what == "rel1xx":
                out.extend(self._retransmit_reliable(call, now))
                continue
            if call.ok is None or call.state != "answered":
                continue  # the ACK came: stale timer
            if what == "no-ack":
                # §13.3.1.4: no ACK within 64*T1: the dialog is confirmed but the
                # session is ended with a BYE.
                call.state = "confirmed"
                call.ok = None
                call.extra["end_reason"] = "no-ack"
                out.extend(self.bye(call_id, now))
            elif what == "2xx":
                # §13.3.1.4: retransmit the 2xx, interval T1 doubling up to T2.
                out.append(SendMessage(call.ok, call.dest or self._dest_for(call.invite.uri)))
                call.ok_interval = min(2 * call.ok_interval, self.timers.t2)
                self._arm(now + call.ok_interval, call_id, "2xx")
        return out

    def transport_error(self, dest: Address, now: float) -> list[Action]:
        out: list[Action] = []
        for key in self.layer.transactions_to(dest):
            out.extend(self.layer.transport_error(key, now))
        return self._handle(out, now)

    def connection_lost(self, dest: Address, now: float) -> list[Action]:
        return self._handle(self.layer.connection_lost(dest, now), now)

    def receive(self, message: Request | Response, source: Address, now: float) -> list[Action]:
        return self._handle(self.layer.receive(message, source, now), now)

    # -- event dispatch -------------------------------------------------------
    def _handle(self, actions: list[Action], now: float) -> list[Action]:
        out: list[Action] = []
        for a in actions:
            if isinstance(a, SendMessage):
                out.append(a)
            elif isinstance(a, ResponseReceived):
                out.extend(self._on_response(a.key, a.response, now))
            elif isinstance(a, RequestReceived):
                out.extend(self._on_request(a.key, a.request, a.source, now))
            elif isinstance(a, AckReceived):
                out.extend(self._on_ack(a.request))
            elif isinstance(a, CancelReceived):
                out.extend(self._on_cancel(a.key, now))
            elif isinstance(a, StrayResponse):
                out.extend(self._on_stray(a.response, now))
            elif isinstance(a, TransactionTerminated):
                purpose, call_id = self._pending.pop(a.key, ("", ""))
                call = self.calls.get(call_id) if purpose == "invite" else None
                if call is not None and call.dialogs is not None and call.key == a.key:
                    call.dialogs.terminate_others()  # §13.2.2.4: the INVITE is over, early forks end
                ident = self._merged_by_key.pop(a.key, None)
                if ident is not None and self._merged.get(ident) == a.key:
                    del self._merged[ident]
                self._server.pop(a.key, None)
            elif isinstance(a, (TransactionTimeout, TransportFailure)):
                purpose, call_id = self._pending.pop(a.key, ("", ""))
                status = 408 if isinstance(a, TransactionTimeout) else 503
                if purpose == "register":
                    out.append(RegistrationFailed(status))
                elif purpose == "invite":
                    call = self.calls.pop(call_id, None)
                    if call:
                        out.append(CallFailed(call_id, status))
                elif purpose == "bye":
                    if self.calls.pop(call_id, None):
                        out.append(CallEnded(call_id, by_remote=False, reason="bye-timeout"))
        return out

    # -- registration ----------------------------------------------------------
    def register(self, registrar: SipURI, expires: int, now: float,
                 extra_headers: Iterable[tuple[str, str]] = (), authorization: str | None = None,
                 authorization_header: str = "Authorization") -> list[Action]:
        """REGISTER ``contact`` for ``aor`` (§10.2); ``expires=0`` removes the binding."""
        self._reg_cseq += 1
        h = Headers()
        h.add("Via", self._via())
        if self.outbound_proxy is not None:
            h.add("Route", self._proxy_route())
        h.add("Max-Forwards", "70")
        h.add("From", self._from(self._reg_tag))
        h.add("To", f"<{self.aor}>")
        h.add("Call-ID", self._reg_call_id)
        h.add("CSeq", f"{self._reg_cseq} REGISTER")
        h.add("Contact", f"<{self.contact}>;expires={expires}")
        h.add("Expires", str(expires))
        if authorization:
            h.add(authorization_header, authorization)
        for n, v in extra_headers:
            h.add(n, v)
        h.add("User-Agent", self.user_agent)
        req = Request("REGISTER", registrar, h)
        self._reg_request = req
        self._reg_expires = expires
        return self._send_new(req, self._dest_for(registrar), now, "register", "")

    def _on_register_response(self, resp: Response, now: float) -> list[Action]:
        if resp.status < 200:
            return []
        if resp.status in (401, 407) and self.credentials and self._reg_tries < 2:
            self._reg_tries += 1
            challenges = resp.www_authenticate if resp.status == 401 else resp.proxy_authenticate
            if challenges:
                value = self.credentials(challenges[0], self._reg_request)
                if value:
                    return self.register(self._reg_request.uri, self._reg_expires, now,  # type: ignore[arg-type]
                                         authorization=value, authorization_header=_auth_header(resp.status))
        self._reg_tries = 0
        if 200 <= resp.status < 300:
            expires = self._reg_expires
            for c in resp.contacts:
                if not c.is_star and c.uri == self.contact and c.expires is not None:
                    expires = c.expires
            if resp.expires is not None and not any(c.expires is not None for c in resp.contacts):
                expires = resp.expires
            return [Registered(expires, resp)]
        return [RegistrationFailed(resp.status, resp)]

    # -- calls: UAC ------------------------------------------------------------
    def invite(self, target: URI, now: float, *, body: bytes = b"", content_type: str | None = None,
               extra_headers: Iterable[tuple[str, str]] = (), from_uri: str | None = None) -> tuple[str, list[Action]]:
        """INVITE ``target``; ``from_uri`` overrides our AOR in From (a gateway calling on behalf of a number)."""
        call_id = new_call_id(self.local.host)
        tag = new_tag()
        h = Headers()
        h.add("Via", self._via())
        if self.outbound_proxy is not None:
            h.add("Route", self._proxy_route())
        h.add("Max-Forwards", "70")
        h.add("From", f"<{from_uri}>;tag={tag}" if from_uri else self._from(tag))
        h.add("To", f"<{target}>")
        h.add("Call-ID", call_id)
        h.add("CSeq", "1 INVITE")
        h.add("Contact", f"<{self.contact}>")
        h.add("Allow", ALLOW)
        for n, v in extra_headers:
            h.add(n, v)
        h.add("User-Agent", self.user_agent)
        req = Request("INVITE", target, h)
        if body:
            req.set_body(body, content_type)
        dest = self._dest_for(target)
        call = Call(call_id, "uac", req, dest=dest, dialogs=DialogSet(req), local_tag=tag)
        self.calls[call_id] = call
        key, actions = self.layer.send_request(req, dest, now)
        call.key = key
        self._pending[key] = ("invite", call_id)
        return call_id, actions

    def _on_invite_response(self, call: Call, resp: Response, now: float) -> list[Action]:
        out: list[Action] = []
        assert call.dialogs is not None
        if resp.status < 200:
            dialog = call.dialogs.on_response(resp)
            if call.state == "calling":
                call.state = "early"
            if call.cancel_requested and call.key is not None:
                _, acts = self.layer.cancel(call.key, now)
                out.extend(acts)
            reliable = False
            rseq = resp.get("rseq")
            if rseq is not None and "100rel" in [t.lower() for t in resp.require] and dialog is not None:
                # RFC 3262 §4: PRACK each reliable provisional once (a retransmission has no higher RSeq).
                reliable = True
                acked: dict[str, int] = call.extra.setdefault("racked", {})  # type: ignore[assignment]
                tag = resp.to.tag or ""
                try:
                    n = resp.rseq or 0  # ASCII digits, below 2**31 (§7.1)
                except SipParseError:
                    return out  # §7.1: an RSeq that is not a number: ignore the response
                if n <= acked.get(tag, 0):
                    return out
                acked[tag] = n
                call.extra["early_dialog"] = tag
                prack = dialog.create_request("PRACK", extra_headers=(
                    ("RAck", f"{n} {resp.cseq.seq} INVITE"),))
                prack.add("Via", self._via(), first=True)
                out.extend(self._send_new(prack, self._dest_for(dialog.next_hop()), now, "prack", call.call_id))
            out.append(CallProgress(call.call_id, resp.status, resp, reliable))
            return out
        if resp.status < 300:
            acks: dict[str, Request] = call.extra.setdefault("acks", {})  # type: ignore[assignment]
            tag = resp.to.tag or ""
            if tag in acks:
                # §13.2.2.4: a 2xx retransmission gets the same ACK again.
                dialog = call.dialogs.get(tag)
                if dialog is not None:
                    out.append(SendMessage(acks[tag], self._dest_for(dialog.next_hop())))
                return out
            first = call.dialogs.confirmed is None
            dialog = call.dialogs.on_response(resp)
            if dialog is None:
                return out
            ack = dialog.create_ack(resp)
            ack.add("Via", self._via(), first=True)
            acks[tag] = ack
            dest = self._dest_for(dialog.next_hop())
            out.append(SendMessage(ack, dest))
            if dialog is call.dialogs.confirmed:
                if first:
                    call.dialog = dialog
                    call.ack = ack
                    call.state = "confirmed"
                    out.append(CallAnswered(call.call_id, resp))
                    if call.cancel_requested:
                        out.extend(self.bye(call.call_id, now))
            else:
                # §13.2.2.4: a second fork answered; ACK it, then BYE it.
                bye = dialog.create_request("BYE")
                bye.add("Via", self._via(), first=True)
                out.extend(self._send_new(bye, dest, now, "bye-fork", call.call_id))
            return out
        # Final failure: the transaction already ACKed it (§17.1.1.3).
        if resp.status in (401, 407) and self.credentials and call.auth_tries < 1:
            call.auth_tries += 1
            challenges = resp.www_authenticate if resp.status == 401 else resp.proxy_authenticate
            if challenges:
                value = self.credentials(challenges[0], call.invite)
                if value:
                    req = self._next_invite(call)
                    req.add(_auth_header(resp.status), value)
                    return self._resend_invite(call, req, now)
        retries = int(call.extra.get("ext_retries", 0))  # type: ignore[call-overload]
        if resp.status == 420 and self.retry_without is not None and retries < 2:
            retried = self._retry_without_extensions(call, resp, now)
            if retried is not None:
                return retried
        self.calls.pop(call.call_id, None)
        out.append(CallFailed(call.call_id, resp.status, resp))
        return out

    def _next_invite(self, call: Call) -> Request:
        """The INVITE sent again after a final failure: same Call-ID and From tag, CSeq one more and a new
        branch (§8.1.3.5, §22.2), with its Via and transaction of its own."""
        req = call.invite.copy()
        req.pop_first_value("via")
        req.add("Via", self._via(), first=True)
        req.set("CSeq", f"{req.cseq.seq + 1} INVITE")
        return req

    def _resend_invite(self, call: Call, req: Request, now: float) -> list[Action]:
        call.invite = req
        call.dialogs = DialogSet(req)
        call.state = "calling"
        for stale in ("racked", "acks", "early_dialog"):  # the failed INVITE's early dialogs are gone
            call.extra.pop(stale, None)
        key, acts = self.layer.send_request(req, call.dest or self._dest_for(req.uri), now)
        call.key = key
        self._pending[key] = ("invite", call.call_id)
        return acts

    def _retry_without_extensions(self, call: Call, resp: Response, now: float) -> list[Action] | None:
        """§8.1.3.5: a 420 lists in Unsupported what the callee does not do; when it is among what our
        INVITE required and the application gives a body to go without it (``retry_without``), the INVITE
        goes again without those option tags in Require."""
        try:
            required = call.invite.require
            listed = [t.strip() for v in resp.get_all("unsupported") for t in v.split(",")]
            unsupported = option_tags([t for t in listed if t])
        except SipParseError:
            return None
        dropped = [t for t in required if t in unsupported]
        if not dropped or self.retry_without is None:
            return None
        body = self.retry_without(call.call_id, dropped, resp)
        if body is None:
            return None
        call.extra["ext_retries"] = int(call.extra.get("ext_retries", 0)) + 1  # type: ignore[call-overload]
        req = self._next_invite(call)
        req.remove("require")
        kept = [t for t in required if t not in dropped]
        if kept:
            req.add("Require", ", ".join(kept))
        req.set_body(body, (call.invite.content_type or "application/sdp") if body else None)
        return self._resend_invite(call, req, now)

    def _on_stray(self, resp: Response, now: float) -> list[Action]:
        """A 2xx retransmission after the INVITE transaction ended: ACK again (§13.2.2.4)."""
        call = self.calls.get(resp.call_id)
        if call and resp.cseq.method == "INVITE" and 200 <= resp.status < 300 \
                and resp.cseq.seq != call.invite.cseq.seq:
            ack = call.extra.get("reinvite_ack")  # a re-INVITE's 2xx retransmitted: the same ACK again
            if isinstance(ack, Request) and ack.cseq.seq == resp.cseq.seq and call.dialog is not None:
                return [SendMessage(ack, self._dest_for(call.dialog.next_hop()))]
            return []
        if call and call.role == "uac" and resp.cseq.method == "INVITE" and 200 <= resp.status < 300:
            acks: dict[str, Request] = call.extra.get("acks", {})  # type: ignore[assignment]
            ack = acks.get(resp.to.tag or "")
            dialog = call.dialogs.get(resp.to.tag or "") if call.dialogs else None
            if ack is not None and dialog is not None:
                return [SendMessage(ack, self._dest_for(dialog.next_hop()))]
        return []

    def cancel(self, call_id: str, now: float) -> list[Action]:
        call = self.calls.get(call_id)
        if call is None or call.role != "uac" or call.key is None:
            return []
        if call.state == "calling":
            call.cancel_requested = True  # §9.1: wait for a provisional response
            return []
        if call.state == "early":
            _, acts = self.layer.cancel(call.key, now)
            return acts
        return []

    def bye(self, call_id: str, now: float) -> list[Action]:
        call = self.calls.get(call_id)
        if call is None or call.dialog is None or call.state not in ("confirmed", "answered"):
            return []
        req = call.dialog.create_request("BYE")
        req.add("Via", self._via(), first=True)
        call.state = "terminating"
        return self._send_new(req, self._dest_for(call.dialog.next_hop()), now, "bye", call_id)

    def request_in_dialog(self, call_id: str, method: str, now: float, *, body: bytes = b"",
                          content_type: str | None = None,
                          extra_headers: Iterable[tuple[str, str]] = ()) -> list[Action]:
        call = self.calls.get(call_id)
        if call is None or call.dialog is None:
            return []
        req = call.dialog.create_request(method, body=body, content_type=content_type, extra_headers=extra_headers)
        req.add("Via", self._via(), first=True)
        if method in ("INVITE", "UPDATE"):
            req.add("Contact", f"<{self.contact}>")
        purpose = "reinvite" if method == "INVITE" else method.lower()
        return self._send_new(req, self._dest_for(call.dialog.next_hop()), now, purpose, call_id)

    def reinvite(self, call_id: str, now: float, *, body: bytes = b"", content_type: str = "application/sdp"
                 ) -> list[Action]:
        """A re-INVITE in the confirmed dialog (hold/resume with a new offer, RFC 3264 §8); its outcome
        comes as :class:`ReinviteAnswered` (a 2xx is ACKed here)."""
        return self.request_in_dialog(call_id, "INVITE", now, body=body,
                                      content_type=content_type if body else None)

    # -- calls: UAS ------------------------------------------------------------
    def _on_request(self, key: TransactionKey, req: Request, source: Address, now: float) -> list[Action]:
        method = req.method
        if not req.to.tag:
            # §8.2.2.2: the same request reaching us again by another path (forked
            # by a proxy and merged back) has the same From tag, Call-ID and CSeq
            # but another transaction: answer it 482 (Loop Detected).
            ident = (req.from_.tag or "", req.call_id, req.cseq.seq, method)
            other = self._merged.get(ident)
            if other is not None and other != key and self.layer.get(other) is not None:
                return self.layer.send_response(key, build_response(req, 482, to_tag=new_tag()), now)
            self._merged[ident] = key
            self._merged_by_key[key] = ident
        try:
            required = req.require
            req.supported  # noqa: B018 - read once here, so a bad one is a 400 and not an error later
        except SipParseError as exc:
            bad = build_response(req, exc.status, exc.reason, to_tag=None if req.to.tag else new_tag())
            return self.layer.send_response(key, bad, now)
        unknown = [t for t in required if t not in self.supported]
        if unknown:
            # §8.2.2.3: a Require we do not understand: 420, listing it in Unsupported (RFC 3312 §11: a
            # phone without preconditions says so, and the caller may try again without them).
            resp = build_response(req, 420, to_tag=None if req.to.tag else new_tag())
            resp.add("Unsupported", ", ".join(unknown))
            return self.layer.send_response(key, resp, now)
        if method == "INVITE":
            if req.to.tag:
                return self._in_dialog(key, req, now)
            call = Call(req.call_id, "uas", req, state="incoming", key=key, local_tag=new_tag())
            self.calls[req.call_id] = call
            self._server[key] = req.call_id
            return [IncomingCall(req.call_id, req)]
        if method in ("BYE", "UPDATE", "INFO", "PRACK", "NOTIFY") or req.to.tag:
            return self._in_dialog(key, req, now)
        if method == "OPTIONS":
            # §11.2: what we would do with an INVITE: Allow, Accept, Supported.
            resp = build_response(req, 200, to_tag=new_tag())
            self._add_capabilities(resp)
            resp.add("Accept", "application/sdp")
            return self.layer.send_response(key, resp, now)
        if method == "MESSAGE":
            return self.layer.send_response(key, build_response(req, 200, to_tag=new_tag()), now) + [
                MessageReceived(req)]
        return self.layer.send_response(key, build_response(req, 405, to_tag=new_tag()), now)

    def _in_dialog(self, key: TransactionKey, req: Request, now: float) -> list[Action]:
        call = self.calls.get(req.call_id)
        if call is not None and call.dialog is None and call.dialogs is not None and req.method == "UPDATE":
            early = call.dialogs.get(req.from_.tag or "")  # UAC side: an UPDATE in the early dialog
            if early is not None:
                call.dialog = early
                call.extra["dialog_from_update"] = True
        if call is None or call.dialog is None:
            return self.layer.send_response(key, build_response(req, 481), now)
        if req.method == "PRACK":
            return self._on_prack(call, key, req, now)
        try:
            call.dialog.on_request(req)
        except Exception as exc:  # SipError from the CSeq rule
            status = getattr(exc, "status", 500)
            return self.layer.send_response(key, build_response(req, status, str(exc)), now)
        if req.method == "BYE":
            self.calls.pop(req.call_id, None)
            return self.layer.send_response(key, build_response(req, 200), now) + [
                CallEnded(req.call_id, by_remote=True)]
        resp = build_response(req, 200)
        out: list[Action] = []
        if req.method == "INVITE":
            self._add_capabilities(resp)  # §14.2 / §13.3.1.4: a re-INVITE's 2xx as an INVITE's
        if req.method in ("INVITE", "UPDATE"):
            resp.add("Contact", f"<{self.contact}>")
            if req.body and self.answer_sdp is not None:
                refused = self._answer_offer(call.call_id, req, resp)
                if refused is not None:  # the offer is not answered: nor is the request raised
                    return self.layer.send_response(key, refused, now)
            out.append(UpdateReceived(call.call_id, req) if req.method == "UPDATE"
                       else ReinviteReceived(call.call_id, req))
        elif req.method == "INFO":
            out.append(InfoReceived(call.call_id, req))
        return self.layer.send_response(key, resp, now) + out

    def _add_capabilities(self, resp: Response) -> None:
        """Allow and Supported: in a 2xx to INVITE (§13.3.1.4) and to OPTIONS (§11.2), §20.5, §20.37."""
        resp.add("Allow", ALLOW)
        resp.add("Supported", ", ".join(self.supported))

    def _response_to_invite(self, call: Call, status: int, reason: str | None = None, *,
                            body: bytes = b"", content_type: str | None = None) -> Response:
        resp = build_response(call.invite, status, reason, to_tag=call.local_tag)
        if status > 100 and status < 300:
            for rr in call.invite._headers.get_raw("record-route"):
                resp.add("Record-Route", rr)
            resp.add("Contact", f"<{self.contact}>")
            self._add_capabilities(resp)
        if body:
            resp.set_body(body, content_type)
        return resp

    def ringing(self, call_id: str, now: float, status: int = 180) -> list[Action]:
        """180 Ringing: reliable when the INVITE requires 100rel (RFC 3262 §3), else not."""
        return self.provisional(call_id, now, status)

    def provisional(self, call_id: str, now: float, status: int = 183, *, reliable: bool = False,
                    body: bytes = b"", content_type: str | None = None) -> list[Action]:
        """A 1xx to the INVITE; ``reliable`` (RFC 3262) when the UAC supports 100rel.

        RFC 3262 §3: when the INVITE has ``Require: 100rel`` every provisional response but 100 is
        reliable, whatever ``reliable`` says; and a reliable one waits until the one before it is PRACKed."""
        call = self.calls.get(call_id)
        if call is None or call.role != "uas" or call.key is None or call.state != "incoming":
            return []
        resp = self._response_to_invite(call, status, body=body, content_type=content_type)
        call.dialog = call.dialog or Dialog.from_uas_request(call.invite, call.local_tag)
        if "100rel" in call.invite.require:
            reliable = True
        if not reliable:
            return self.layer.send_response(call.key, resp, now)
        if "100rel" not in call.invite.supported + call.invite.require:
            raise ValueError("the caller did not say it supports 100rel (RFC 3262 §3)")
        if call.extra.get("rel"):
            queue: list[Response] = call.extra.setdefault("rel_queue", [])  # type: ignore[assignment]
            queue.append(resp)
            return []
        return self._send_reliable(call, resp, now)

    def _send_reliable(self, call: Call, resp: Response, now: float) -> list[Action]:
        """RFC 3262 §3: Require: 100rel and RSeq one more than the last (1 for the first), retransmitted
        at T1, 2*T1... up to T2 until the PRACK."""
        assert call.key is not None
        rseq = int(call.extra.get("rseq", 0)) + 1  # type: ignore[call-overload]
        call.extra["rseq"] = rseq
        resp.add("Require", "100rel")
        resp.add("RSeq", str(rseq))
        call.extra["rel"] = {"response": resp, "rseq": rseq, "interval": self.timers.t1,
                             "give_up": now + 64 * self.timers.t1, "sdp": bool(resp.body)}
        self._arm(now + self.timers.t1, call.call_id, "rel1xx")
        return self.layer.send_response(call.key, resp, now)

    def _retransmit_reliable(self, call: Call, now: float) -> list[Action]:
        rel = call.extra.get("rel")
        if not rel or call.state != "incoming" or call.key is None:
            return []
        if now >= rel["give_up"]:  # type: ignore[index]
            # RFC 3262 §3: no PRACK within 64*T1: reject the INVITE with a 5xx.
            call.extra.pop("rel", None)
            self.calls.pop(call.call_id, None)
            return self.layer.send_response(call.key, self._response_to_invite(call, 500, "No PRACK"), now) + [
                CallEnded(call.call_id, by_remote=False, reason="no-prack")]
        rel["interval"] = min(2 * rel["interval"], self.timers.t2)  # type: ignore[index]
        self._arm(now + rel["interval"], call.call_id, "rel1xx")  # type: ignore[index]
        return self.layer.send_response(call.key, rel["response"], now)  # type: ignore[index]

    def _on_prack(self, call: Call, key: TransactionKey, req: Request, now: float) -> list[Action]:
        """RFC 3262 §3: a PRACK whose RAck matches the outstanding reliable provisional stops it."""
        rel = call.extra.get("rel")
        rack = (req.get("rack") or "").split()
        if not rel or len(rack) != 3 or rack[0] != str(rel["rseq"]) or rack[2].upper() != "INVITE":  # type: ignore[index]
            return self.layer.send_response(key, build_response(req, 481, "No matching reliable provisional"), now)
        call.extra.pop("rel", None)
        resp = build_response(req, 200)
        if req.body and self.answer_sdp is not None:
            refused = self._answer_offer(call.call_id, req, resp)
            if refused is not None:
                return self.layer.send_response(key, refused, now)
        out = self.layer.send_response(key, resp, now) + [PrackReceived(call.call_id, req)]
        queue: list[Response] = call.extra.get("rel_queue") or []  # type: ignore[assignment]
        if queue and call.state == "incoming":
            out.extend(self._send_reliable(call, queue.pop(0), now))  # the next reliable provisional
        elif "deferred_answer" in call.extra and call.state == "incoming":
            status, body, ctype = call.extra.pop("deferred_answer")  # type: ignore[misc]
            out.extend(self.answer(call.call_id, now, status=status, body=body, content_type=ctype))
        return out

    def _answer_offer(self, call_id: str, req: Request, resp: Response) -> Response | None:
        """Put the application's SDP answer in ``resp``; or, when ``answer_sdp`` refuses the offer by raising
        an error that carries a SIP ``status`` (ims.ue.sdp.SdpError: 488), the response that says so, with
        a Warning from the error's ``warning`` code (RFC 3261 §20.43, RFC 3311 §5.2, RFC 3262 §5)."""
        assert self.answer_sdp is not None
        try:
            body = self.answer_sdp(call_id, req)
            if body:  # b"": the request's body was an answer (to an offer of ours), nothing to send back
                resp.set_body(body, "application/sdp")
        except Exception as exc:  # noqa: BLE001 - re-raised unless it carries a SIP status
            status = getattr(exc, "status", None)
            if not isinstance(status, int):
                raise
            reason = str(getattr(exc, "reason", "") or "")
            refused = build_response(req, status, reason or None)
            warning = getattr(exc, "warning", None)
            if isinstance(warning, int) and reason:
                refused.add("Warning", f'{warning} {self.local.host} "{reason}"')
            return refused
        return None

    def update(self, call_id: str, now: float, *, body: bytes = b"", content_type: str = "application/sdp",
               to_tag: str | None = None) -> list[Action]:
        """UPDATE (RFC 3311) in the call's dialog, early or confirmed; its answer comes as UpdateAnswered.

        Before the call is answered, ``to_tag`` picks the early dialog (a forked INVITE has one per
        callee); without it, the one that last sent a reliable provisional response."""
        call = self.calls.get(call_id)
        if call is None:
            return []
        dialog = call.dialog
        if dialog is None and call.dialogs is not None:
            dialog = call.dialogs.get(to_tag if to_tag is not None else str(call.extra.get("early_dialog", "")))
        if dialog is None:
            return []
        req = dialog.create_request("UPDATE", body=body, content_type=content_type if body else None)
        req.add("Via", self._via(), first=True)
        req.add("Contact", f"<{self.contact}>")
        return self._send_new(req, self._dest_for(dialog.next_hop()), now, "update", call_id)

    def answer(self, call_id: str, now: float, *, status: int = 200, body: bytes = b"",
               content_type: str | None = None) -> list[Action]:
        call = self.calls.get(call_id)
        if call is None or call.role != "uas" or call.key is None or call.state != "incoming":
            return []
        rel = call.extra.get("rel")
        if rel and rel["sdp"]:  # type: ignore[index]
            # RFC 3262 §3: no 2xx before the PRACK of a reliable provisional that carried SDP.
            call.extra["deferred_answer"] = (status, body, content_type)
            return []
        call.extra.pop("rel_queue", None)  # provisional responses still waiting are moot now
        resp = self._response_to_invite(call, status, body=body, content_type=content_type)
        call.dialog = call.dialog or Dialog.from_uas_request(call.invite, call.local_tag)
        call.dialog.state = "confirmed"
        call.ok = resp
        call.state = "answered"
        call.ok_interval = self.timers.t1
        call.ok_given_up_at = now + 64 * self.timers.t1
        # §13.3.1.4: retransmitted even over TCP/TLS, since the 2xx travels end to end
        # and hops between the UAS and the UAC may be UDP.
        self._arm(now + call.ok_interval, call_id, "2xx")
        self._arm(call.ok_given_up_at, call_id, "no-ack")
        actions = self.layer.send_response(call.key, resp, now)
        for a in actions:
            if isinstance(a, SendMessage):
                call.dest = a.dest
        return actions

    def reject(self, call_id: str, status: int, now: float, reason: str | None = None) -> list[Action]:
        call = self.calls.get(call_id)
        if call is None or call.role != "uas" or call.key is None or call.state != "incoming":
            return []
        self.calls.pop(call_id, None)
        return self.layer.send_response(call.key, self._response_to_invite(call, status, reason), now)

    def _on_ack(self, ack: Request) -> list[Action]:
        call = self.calls.get(ack.call_id)
        if call is not None and call.role == "uas" and call.state == "answered":
            call.state = "confirmed"
            call.ok = None
            return [CallAnswered(call.call_id, None, ack)]
        return []

    def _on_cancel(self, key: TransactionKey, now: float) -> list[Action]:
        call_id = self._server.pop(key, None)
        call = self.calls.get(call_id or "")
        if call is None or call.state != "incoming":
            return []
        self.calls.pop(call.call_id, None)
        out = self.layer.send_response(key, self._response_to_invite(call, 487), now)
        out.append(CallEnded(call.call_id, by_remote=True, reason="cancelled"))
        return out

    # -- responses to our client transactions -----------------------------------
    def _on_response(self, key: TransactionKey, resp: Response, now: float) -> list[Action]:
        purpose, call_id = self._pending.get(key, ("", ""))
        if resp.status >= 200 and not (purpose == "invite" and resp.status < 300):
            self._pending.pop(key, None)
        if purpose == "register":
            return self._on_register_response(resp, now)
        if purpose == "invite":
            call = self.calls.get(call_id)
            if call is None:
                return []
            return self._on_invite_response(call, resp, now)
        if purpose == "update" and resp.status >= 200:
            return [UpdateAnswered(call_id, resp.status, resp)]
        if purpose == "reinvite" and resp.status >= 200:
            call = self.calls.get(call_id)
            out: list[Action] = [ReinviteAnswered(call_id, resp.status, resp)]
            if call is not None and call.dialog is not None and resp.status < 300:
                call.dialog.on_response(resp)
                ack = call.dialog.create_ack(resp)  # §13.2.2.4: the ACK carries the re-INVITE's CSeq
                ack.add("Via", self._via(), first=True)
                call.extra["reinvite_ack"] = ack
                out.insert(0, SendMessage(ack, self._dest_for(call.dialog.next_hop())))
            return out
        if purpose == "bye" and resp.status >= 200:
            call = self.calls.pop(call_id, None)
            if call is not None:
                return [CallEnded(call_id, by_remote=False, reason=str(call.extra.get("end_reason", "bye")))]
        return []
