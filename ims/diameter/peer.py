"""The Diameter peer state machine (RFC 6733 §5.6) with the RFC 3539 watchdog, sans-IO.

One :class:`Peer` per transport connection.  Bytes and ``now`` in
(``receive_data``, ``handle_timers``), actions out: ``SendBytes``,
``RequestIn`` (deliver to the application), ``AnswerIn`` (matched to our
request by hop-by-hop id), ``RequestTimedOut``, ``PeerUp`` / ``PeerDown``,
``Failover`` / ``Failback`` (RFC 3539 §3.4) and ``CloseConnection``.  The
driver (``ims.net.diameter``) opens sockets, reconnects with back-off and
feeds time; this class never awaits or reads a clock for its timers.

Peer states (``rfc_state``), RFC 6733 §5.6 without the election (one side
of each connection initiates here):

* initiator: Closed -> Wait-Conn-Ack (``start``) -> Wait-I-CEA (``connected``,
  CER sent) -> I-Open (CEA 2001) -> Closing (DPR sent, or DPR received) -> Closed;
* responder: Closed (the driver accepted the socket) -> R-Open (CER with a
  common application; otherwise CEA 5010 and close) -> Closing -> Closed.

Watchdog (RFC 3539 §3.4.1) while open: OKAY -> a DWR after Tw without
traffic -> SUSPECT (``Failover``) when Tw passes again with that DWR
unanswered -> DOWN (``CloseConnection``) after one more Tw.  Any message in
SUSPECT goes back to OKAY (``Failback``).  Tw is jittered by up to ±2 s
(§3.4.1 SetWatchdog) when it is at least 6 s.  The REOPEN state (three DWAs
before trusting a reconnected peer) is not implemented: a reconnected peer is
used as soon as its CEA arrives.

Error handling (RFC 6733 §7): a message whose header is readable but whose
AVPs are not is answered (for requests) with the Result-Code of the fault -
5014 DIAMETER_INVALID_AVP_LENGTH, 5004 DIAMETER_INVALID_AVP_VALUE, 5005
DIAMETER_MISSING_AVP, 3008/5013 for header bits, 5012 past the AVP count
limit - and a Failed-AVP; a CER answered so is followed by the close (§5.3).
An impossible message length (< 20, not a multiple of 4, over
``DiameterLimits.max_message_bytes``) or version is answered with 5015 / 5011
when a request header can be read, then the connection is closed: the framing
is lost.  An answer that cannot be decoded, or that nothing waits for, and a
message the current state has no use for, come out as ``Discarded`` (the
driver logs it) - never silently, and nothing here raises on peer input.
"""

from __future__ import annotations

import enum
import itertools
import os
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from ims.diameter import codec
from ims.diameter.codec import (
    ACCT_APPLICATION_ID, AUTH_APPLICATION_ID, DEFAULT_LIMITS, DISCONNECT_CAUSE, ERROR_MESSAGE, FAILED_AVP, HOST_IP_ADDRESS, ORIGIN_HOST, ORIGIN_REALM,
    ORIGIN_STATE_ID, PRODUCT_NAME, RESULT_CODE, SESSION_ID, SUPPORTED_VENDOR_ID, VENDOR_3GPP, VENDOR_ID,
    VENDOR_SPECIFIC_APPLICATION_ID, DiameterLimits, DiameterMessage, avp,
)
from ims.diameter.constants import (  # noqa: F401 - the Disconnect-Cause values are re-exported
    BUSY, CMD_CE, CMD_DP, CMD_DW, CX_APPLICATION_ID, DIAMETER_APPLICATION_UNSUPPORTED, DIAMETER_INVALID_HDR_BITS,
    DIAMETER_MISSING_AVP, DIAMETER_NO_COMMON_APPLICATION, DIAMETER_SUCCESS, DIAMETER_UNABLE_TO_COMPLY,
    DO_NOT_WANT_TO_TALK_TO_YOU, REBOOTING,
)

DIAMETER_AVP_OCCURS_TOO_MANY_TIMES = 5009
from ims.diameter.errors import DiameterError


def _informational(a: codec.Avp) -> codec.Avp:
    """The AVP with its M bit cleared (the dictionary marks Product-Name mandatory; RFC 6733 does not)."""
    a.is_mandatory = False
    return a


class PeerState(str, enum.Enum):
    """RFC 6733 §5.6 peer states (the election states are not used)."""

    CLOSED = "Closed"
    WAIT_CONN_ACK = "Wait-Conn-Ack"
    WAIT_I_CEA = "Wait-I-CEA"
    I_OPEN = "I-Open"
    R_OPEN = "R-Open"
    CLOSING = "Closing"


class Watchdog(str, enum.Enum):
    """RFC 3539 §3.4 watchdog states (INITIAL and REOPEN are not used)."""

    OKAY = "OKAY"
    SUSPECT = "SUSPECT"
    DOWN = "DOWN"


@dataclass(frozen=True)
class LocalIdentity:
    """Who we are in CER/CEA (RFC 6733 §5.3.1): Origin-Host/Realm, Host-IP-Address, applications."""

    origin_host: str
    origin_realm: str
    host_ip: str = "127.0.0.1"
    applications: tuple[int, ...] = (CX_APPLICATION_ID,)
    vendor_id: int = VENDOR_3GPP
    product: str = "ims-lab"
    origin_state_id: int = field(default_factory=lambda: int(time.time()) & 0xFFFFFFFF)


@dataclass(frozen=True, slots=True)
class SendBytes:
    data: bytes
    message: DiameterMessage


@dataclass(frozen=True, slots=True)
class RequestIn:
    message: DiameterMessage


@dataclass(frozen=True, slots=True)
class AnswerIn:
    hop_by_hop: int
    message: DiameterMessage


@dataclass(frozen=True, slots=True)
class RequestTimedOut:
    hop_by_hop: int


@dataclass(frozen=True, slots=True)
class PeerUp:
    host: str
    realm: str
    applications: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class PeerDown:
    reason: str


@dataclass(frozen=True, slots=True)
class Failover:
    """RFC 3539 §3.4.1: the peer is SUSPECT; these requests may be sent to an alternate peer (§5.5.4, T flag)."""

    pending: tuple[DiameterMessage, ...]


@dataclass(frozen=True, slots=True)
class Failback:
    """RFC 3539 §3.4.1: traffic from a SUSPECT peer - route to it again."""


@dataclass(frozen=True, slots=True)
class CloseConnection:
    reason: str


@dataclass(frozen=True, slots=True)
class Discarded:
    """A message from the peer that is dropped without an answer: an answer that cannot be decoded or
    that no request waits for (§6.2), or one the current state has no use for.  The driver logs it."""

    reason: str
    summary: str


Action = (SendBytes | RequestIn | AnswerIn | RequestTimedOut | PeerUp | PeerDown | Failover | Failback
          | CloseConnection | Discarded)

_hbh = itertools.count(int.from_bytes(os.urandom(3), "big"))
_e2e_low = itertools.count(int.from_bytes(os.urandom(2), "big"))


def new_end_to_end(now_wall: float | None = None) -> int:
    """RFC 6733 §3: high 12 bits from the low bits of the clock, low 20 bits random then increasing."""
    t = int(time.time() if now_wall is None else now_wall)
    return ((t & 0xFFF) << 20) | (next(_e2e_low) & 0xFFFFF)


def new_hop_by_hop() -> int:
    """RFC 6733 §3: unique per connection; a random start, then increasing."""
    return next(_hbh) & 0xFFFFFFFF


_LEGACY = {PeerState.CLOSED: "closed", PeerState.WAIT_CONN_ACK: "wait-conn-ack", PeerState.WAIT_I_CEA: "wait-cea",
           PeerState.I_OPEN: "open", PeerState.R_OPEN: "open", PeerState.CLOSING: "closing"}


class Peer:
    def __init__(self, local: LocalIdentity, *, initiator: bool, tw: float = 30.0,
                 request_timeout: float = 5.0, now: float = 0.0, tw_jitter: float | None = None,
                 rng: Callable[[float, float], float] = random.uniform,
                 limits: DiameterLimits = DEFAULT_LIMITS) -> None:
        self.local = local
        self.limits = limits
        self.initiator = initiator
        self.tw = tw
        # RFC 3539 §3.4.1 SetWatchdog: Tw = Twinit +/- up to 2 s; no jitter for the short Tw of tests.
        self.tw_jitter = tw_jitter if tw_jitter is not None else (2.0 if tw >= 6.0 else 0.0)
        self._rng = rng
        self.request_timeout = request_timeout
        self.rfc_state = PeerState.CLOSED
        self.watchdog = Watchdog.OKAY
        self.remote_host: str | None = None
        self.remote_realm: str | None = None
        self.common_apps: tuple[int, ...] = ()
        self.disconnect_cause: int | None = None  # from the peer's DPR
        self._buf = bytearray()
        self._stopped = False
        self._pending: dict[int, tuple[float, DiameterMessage | None]] = {}  # hop-by-hop -> (deadline, request)
        self._watchdog_at = now + self._next_tw()
        self._dwr_pending = False
        self._control_hbh: dict[int, int] = {}  # hop-by-hop of our CER/DWR/DPR -> command code
        self.stats = {"rx": 0, "tx": 0, "dwr": 0, "timeouts": 0, "errors": 0}

    # -- state ----------------------------------------------------------------
    @property
    def state(self) -> str:
        """Coarse state for callers that predate ``rfc_state``: closed / wait-cea / open / closing."""
        return _LEGACY[self.rfc_state]

    @property
    def is_open(self) -> bool:
        return self.rfc_state in (PeerState.I_OPEN, PeerState.R_OPEN)

    def _next_tw(self) -> float:
        return self.tw + (self._rng(-self.tw_jitter, self.tw_jitter) if self.tw_jitter else 0.0)

    # -- helpers ------------------------------------------------------------
    def _origin(self) -> list[codec.Avp]:
        return [avp(ORIGIN_HOST, self.local.origin_host), avp(ORIGIN_REALM, self.local.origin_realm)]

    def _send(self, msg: DiameterMessage) -> SendBytes:
        self.stats["tx"] += 1
        return SendBytes(msg.to_bytes(), msg)

    def _cer_avps(self) -> list[codec.Avp]:
        """CER/CEA body (RFC 6733 §5.3.1): Host-IP-Address, Vendor-Id, Product-Name, applications."""
        avps = self._origin() + [
            avp(HOST_IP_ADDRESS, self.local.host_ip),
            avp(VENDOR_ID, self.local.vendor_id),
            _informational(avp(PRODUCT_NAME, self.local.product)),  # RFC 6733 §5.3 table: M bit MUST NOT
            avp(ORIGIN_STATE_ID, self.local.origin_state_id),
            avp(SUPPORTED_VENDOR_ID, VENDOR_3GPP),
        ]
        avps += [codec.vendor_app(app) for app in self.local.applications]
        return avps

    def next_ids(self) -> tuple[int, int]:
        return new_hop_by_hop(), new_end_to_end()

    def _control(self, code: int, avps: list[codec.Avp], now: float) -> SendBytes:
        hbh, e2e = self.next_ids()
        self._control_hbh[hbh] = code
        self._pending[hbh] = (now + self.request_timeout, None)
        return self._send(DiameterMessage(code, True, 0, avps, hbh, e2e, proxiable=False))

    def _error_answer(self, req: DiameterMessage, exc: DiameterError) -> SendBytes:
        """RFC 6733 §7.2: Result-Code, Origin-Host/Realm, Error-Message, Failed-AVP; E bit for 3xxx.
        A CEA without the E bit keeps the CEA's own mandatory AVPs (§5.3.2)."""
        self.stats["errors"] += 1
        ce = req.command_code == CMD_CE and not 3000 <= exc.result_code < 4000
        ans = req.answer(avp(RESULT_CODE, exc.result_code), *(self._cer_avps() if ce else self._origin()))
        if exc.message:
            ans.add(avp(ERROR_MESSAGE, exc.message[:200]))
        if exc.failed_avp is not None:
            ans.add(exc.failed_avp)
        ans.error = 3000 <= exc.result_code < 4000
        return self._send(ans)

    # -- transport events ---------------------------------------------------------
    def start(self, now: float) -> list[Action]:
        """Initiator: the driver is opening the transport (I-Snd-Conn-Req)."""
        self.rfc_state = PeerState.WAIT_CONN_ACK
        return []

    def connected(self, now: float) -> list[Action]:
        """The transport connection is up; the initiator sends CER (§5.3, I-Rcv-Conn-Ack)."""
        self._watchdog_at = now + self._next_tw()
        if not self.initiator:
            return []
        self.rfc_state = PeerState.WAIT_I_CEA
        return [self._control(CMD_CE, self._cer_avps(), now)]

    def connection_lost(self, now: float) -> list[Action]:
        """The transport went away (Peer-Disc / I-Peer-Disc / R-Peer-Disc): Closed."""
        was_open = self.is_open
        self.rfc_state = PeerState.CLOSED
        self._pending.clear()
        return [PeerDown("transport closed")] if was_open else []

    def receive_data(self, data: bytes, now: float) -> list[Action]:
        self._buf += data
        out: list[Action] = []
        while len(self._buf) >= 4 and not self._stopped:
            try:
                length = codec.frame_length(bytes(self._buf[:4]), self.limits)
            except DiameterError as exc:
                return out + self._bad_framing(exc)
            if len(self._buf) < length:
                break
            frame = bytes(self._buf[:length])
            del self._buf[:length]
            actions = self._on_frame(frame, now)
            out.extend(actions)
            if any(isinstance(a, CloseConnection) for a in actions):
                self._stopped = True  # nothing after the close is read
                self._buf.clear()
        return out

    def _bad_framing(self, exc: DiameterError) -> list[Action]:
        """An impossible length or version: answer a readable request header, then close (§7.1.5)."""
        out: list[Action] = []
        if len(self._buf) >= codec.HEADER_LEN and self._buf[4] & 0x80:
            out.append(self._error_answer(codec.salvage_request(bytes(self._buf[:codec.HEADER_LEN])), exc))
        self._buf.clear()
        self._stopped = True
        was_open = self.is_open
        self.rfc_state = PeerState.CLOSED
        out.append(CloseConnection(f"bad framing: {exc.message}"))
        if was_open:
            out.append(PeerDown("bad framing"))
        return out

    def _on_frame(self, frame: bytes, now: float) -> list[Action]:
        self.stats["rx"] += 1
        out: list[Action] = []
        # RFC 3539 §3.4.1: any message resets the watchdog; one from a SUSPECT peer fails back.
        self._watchdog_at = now + self._next_tw()
        if self.watchdog is Watchdog.SUSPECT:
            self.watchdog = Watchdog.OKAY
            out.append(Failback())
        try:
            msg = DiameterMessage.from_bytes(frame, self.limits)
            if msg.request:
                _check_request(msg)
            return out + self._dispatch(msg, now)
        except DiameterError as exc:
            if not frame[4] & 0x80:
                out.append(Discarded(f"undecodable answer ({exc.result_code}): {exc.message}",
                                     _frame_summary(frame)))
                return out
            out.append(self._error_answer(codec.salvage_request(frame, self.limits), exc))
            if int.from_bytes(frame[5:8], "big") == CMD_CE and not self.is_open:
                self.rfc_state = PeerState.CLOSED  # §5.3: a CER that cannot be accepted ends the connection
                out.append(CloseConnection(f"bad CER: {exc.message}"))
            return out

    def _dispatch(self, msg: DiameterMessage, now: float) -> list[Action]:
        """A decoded message in the current state (RFC 6733 §5.6); DiameterError answers a request."""
        out: list[Action] = []
        code = msg.command_code
        if code == CMD_CE:
            return self._on_ce(msg, now)
        if not self.is_open and self.rfc_state is not PeerState.CLOSING:
            if msg.request:  # §5.6: nothing but CER before the capabilities exchange
                raise DiameterError(DIAMETER_UNABLE_TO_COMPLY, "capabilities not exchanged")
            return [Discarded(f"answer in state {self.rfc_state.value}", msg.summary())]
        if code == CMD_DW:
            if msg.request:
                out.append(self._send(msg.answer(avp(RESULT_CODE, DIAMETER_SUCCESS), *self._origin(),
                                                 avp(ORIGIN_STATE_ID, self.local.origin_state_id))))
            elif self._control_hbh.pop(msg.hop_by_hop, None) == CMD_DW:
                self._pending.pop(msg.hop_by_hop, None)
                self._dwr_pending = False
            else:
                out.append(Discarded("DWA that answers no DWR of ours", msg.summary()))
            return out
        if code == CMD_DP:
            return self._on_dp(msg)
        if msg.request:
            if msg.application_id and msg.application_id not in self.common_apps:
                raise DiameterError(DIAMETER_APPLICATION_UNSUPPORTED,
                                    f"application {msg.application_id} was not negotiated")
            out.append(RequestIn(msg))
            return out
        if self._pending.pop(msg.hop_by_hop, None) is None:
            return [Discarded("late or unknown answer (§6.2)", msg.summary())]
        out.append(AnswerIn(msg.hop_by_hop, msg))
        return out

    def _on_dp(self, msg: DiameterMessage) -> list[Action]:
        if msg.request:
            # §5.4: answer DPA; the DPR's sender closes the transport.
            cause = msg.get(DISCONNECT_CAUSE)
            self.disconnect_cause = int(cause) if cause is not None else None
            self.rfc_state = PeerState.CLOSING
            return [self._send(msg.answer(avp(RESULT_CODE, DIAMETER_SUCCESS), *self._origin())),
                    PeerDown("peer sent DPR")]
        if self._control_hbh.pop(msg.hop_by_hop, None) == CMD_DP:
            self._pending.pop(msg.hop_by_hop, None)
            self.rfc_state = PeerState.CLOSED
            return [CloseConnection("DPA received"), PeerDown("disconnected")]
        return [Discarded("DPA that answers no DPR of ours", msg.summary())]

    def _on_ce(self, msg: DiameterMessage, now: float) -> list[Action]:
        if msg.request:
            if self.initiator:
                raise DiameterError(DIAMETER_UNABLE_TO_COMPLY, "CER to the initiator")
            apps = _applications(msg)  # DiameterError: CEA with the error, then the close
            self.remote_host, self.remote_realm = msg.origin_host, msg.origin_realm
            common = tuple(a for a in self.local.applications if a in apps)
            if not common:
                # §5.3: DIAMETER_NO_COMMON_APPLICATION, then the transport is closed.
                ans = msg.answer(avp(RESULT_CODE, DIAMETER_NO_COMMON_APPLICATION), *self._cer_avps())
                self.rfc_state = PeerState.CLOSED
                return [self._send(ans), CloseConnection("no common application")]
            self.common_apps = common
            self.rfc_state = PeerState.R_OPEN
            self.watchdog = Watchdog.OKAY
            ans = msg.answer(avp(RESULT_CODE, DIAMETER_SUCCESS), *self._cer_avps())
            return [self._send(ans), PeerUp(self.remote_host or "", self.remote_realm or "", common)]
        if self._control_hbh.pop(msg.hop_by_hop, None) != CMD_CE or self.rfc_state is not PeerState.WAIT_I_CEA:
            return [Discarded(f"CEA in state {self.rfc_state.value} that answers no CER of ours", msg.summary())]
        self._pending.pop(msg.hop_by_hop, None)
        if msg.result_code != DIAMETER_SUCCESS:
            self.rfc_state = PeerState.CLOSED
            return [CloseConnection(f"CEA result {msg.result_code}")]
        try:
            apps = _applications(msg)
        except DiameterError as exc:
            self.rfc_state = PeerState.CLOSED
            return [CloseConnection(f"CEA with unreadable applications: {exc.message}")]
        self.remote_host, self.remote_realm = msg.origin_host, msg.origin_realm
        self.common_apps = tuple(a for a in self.local.applications if a in apps)
        if not self.common_apps:
            self.rfc_state = PeerState.CLOSED
            return [CloseConnection("CEA names no common application")]
        self.rfc_state = PeerState.I_OPEN
        self.watchdog = Watchdog.OKAY
        return [PeerUp(self.remote_host or "", self.remote_realm or "", self.common_apps)]

    # -- application side ------------------------------------------------------
    def send_request(self, msg: DiameterMessage, now: float) -> list[Action]:
        """Send an application request; fills hop-by-hop (always new) and end-to-end (kept if set)."""
        if not self.is_open:
            raise DiameterError(3002, f"peer {self.remote_host} is not open ({self.rfc_state.value})")
        msg.hop_by_hop = new_hop_by_hop()
        msg.end_to_end = msg.end_to_end or new_end_to_end()
        self._pending[msg.hop_by_hop] = (now + self.request_timeout, msg)
        return [self._send(msg)]

    def send_answer(self, msg: DiameterMessage) -> list[Action]:
        return [self._send(msg)]

    def disconnect(self, now: float, cause: int = REBOOTING) -> list[Action]:
        """DPR (§5.4); the transport closes on DPA or after the request timeout."""
        if not self.is_open:
            self.rfc_state = PeerState.CLOSED
            return [CloseConnection("not open")]
        self.rfc_state = PeerState.CLOSING
        return [self._control(CMD_DP, [*self._origin(), avp(DISCONNECT_CAUSE, cause)], now), PeerDown("DPR sent")]

    # -- time ---------------------------------------------------------------------
    def next_deadline(self) -> float | None:
        candidates = [deadline for deadline, _ in self._pending.values()]
        if self.is_open:
            candidates.append(self._watchdog_at)
        return min(candidates) if candidates else None

    def handle_timers(self, now: float) -> list[Action]:
        out: list[Action] = []
        for hbh, (deadline, _msg) in list(self._pending.items()):
            if deadline > now:
                continue
            del self._pending[hbh]
            control = self._control_hbh.pop(hbh, None)
            if control in (CMD_CE, CMD_DP):
                was = self.rfc_state
                self.rfc_state = PeerState.CLOSED
                out.append(CloseConnection(f"no answer to {'CER' if control == CMD_CE else 'DPR'}"))
                if was is PeerState.CLOSING:
                    out.append(PeerDown("no DPA"))
            elif control is None:
                self.stats["timeouts"] += 1
                out.append(RequestTimedOut(hbh))
        if self.is_open and now >= self._watchdog_at:
            out += self._watchdog_timer(now)
        return out

    def _watchdog_timer(self, now: float) -> list[Action]:
        """RFC 3539 §3.4.1, "On timer expiry"."""
        self._watchdog_at = now + self._next_tw()
        if self.watchdog is Watchdog.OKAY:
            if not self._dwr_pending:
                self._dwr_pending = True
                self.stats["dwr"] += 1
                hbh, e2e = self.next_ids()
                self._control_hbh[hbh] = CMD_DW  # no deadline of its own: the watchdog timer is it
                return [self._send(DiameterMessage(CMD_DW, True, 0, [*self._origin(), avp(
                    ORIGIN_STATE_ID, self.local.origin_state_id)], hbh, e2e, proxiable=False))]
            self.watchdog = Watchdog.SUSPECT
            pending = tuple(m for _, m in self._pending.values() if m is not None)
            return [Failover(pending)]
        # SUSPECT and still silent: the connection is DOWN.
        self.watchdog = Watchdog.DOWN
        self.rfc_state = PeerState.CLOSED
        self._pending.clear()
        return [CloseConnection("watchdog: no answer to DWR"), PeerDown("watchdog")]


def _frame_summary(frame: bytes) -> str:
    """Command, R bit and hop-by-hop of a frame that could not be decoded (for a log line)."""
    code = int.from_bytes(frame[5:8], "big")
    name = codec.COMMAND_NAMES.get(code, str(code))
    return f"{name}{'R' if frame[4] & 0x80 else 'A'} hbh={int.from_bytes(frame[12:16], 'big'):#x}"


def _check_request(msg: DiameterMessage) -> None:
    """RFC 6733 §6.1: Origin-Host/Realm are in every request (the header bits are the codec's check)."""
    for code, name in ((ORIGIN_HOST, "Origin-Host"), (ORIGIN_REALM, "Origin-Realm")):
        if msg.get(code) is None:
            raise DiameterError(DIAMETER_MISSING_AVP, f"missing {name}",
                                failed_avp=avp(FAILED_AVP, [avp(code, "")]))
    if msg.command_code not in (CMD_CE, CMD_DW, CMD_DP) and msg.application_id and msg.get(SESSION_ID) is None:
        # Every application request here is session-based (TS 29.229 §6.1: Session-Id in every Cx request).
        raise DiameterError(DIAMETER_MISSING_AVP, "missing Session-Id",
                            failed_avp=avp(FAILED_AVP, [avp(SESSION_ID, "")]))


def _applications(msg: DiameterMessage) -> tuple[int, ...]:
    """The application ids a CER/CEA advertises (RFC 6733 §5.3.1, §6.8, §6.9, §6.11).

    AVPs are matched by code *and* vendor (an AVP 258 with a vendor is another vendor's AVP).  A
    Vendor-Specific-Application-Id holds exactly one of Auth- and Acct-Application-Id (§6.11):
    neither is DIAMETER_MISSING_AVP (5005) with a Failed-AVP holding an example of each, both is
    DIAMETER_AVP_OCCURS_TOO_MANY_TIMES (5009) with the two received AVPs."""
    apps = [int(v) for v in (a.value for a in msg.find(AUTH_APPLICATION_ID)) if isinstance(v, int)]
    for vsa in msg.find(VENDOR_SPECIFIC_APPLICATION_ID):
        members = [m for m in vsa.value or () if m.code in (AUTH_APPLICATION_ID, ACCT_APPLICATION_ID)
                   and not m.vendor_id]
        if not members:
            raise DiameterError(DIAMETER_MISSING_AVP, "Vendor-Specific-Application-Id without an application id",
                                failed_avp=avp(FAILED_AVP, [avp(AUTH_APPLICATION_ID, 0), avp(ACCT_APPLICATION_ID, 0)]))
        if len(members) > 1:
            raise DiameterError(DIAMETER_AVP_OCCURS_TOO_MANY_TIMES,
                                "Vendor-Specific-Application-Id with more than one application id",
                                failed_avp=avp(FAILED_AVP, members))
        if members[0].code == AUTH_APPLICATION_ID:
            apps.append(int(members[0].value))
    return tuple(apps)
