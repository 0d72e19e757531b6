"""The Diameter peer state machine (RFC 6733 §5.6) with the RFC 3539 watchdog, sans-IO.

One :class:`Peer` per transport connection.  Bytes in (``receive_data``),
actions out: ``SendBytes``, ``RequestIn`` (deliver to the application),
``AnswerIn`` (matched to our request by hop-by-hop id), ``RequestTimedOut``,
``PeerUp``/``PeerDown``, ``CloseConnection``.  The driver connects sockets,
reconnects with back-off after a failover, and feeds time.

States (initiator side of §5.6 without election - one side connects):
closed -> wait-cea -> open -> closing -> closed; the responder goes from
wait-cer to open when it accepts a CER.
"""

from __future__ import annotations

import itertools
import os
import time
from dataclasses import dataclass, field

from ims.diameter import codec
from ims.diameter.codec import (
    AUTH_APPLICATION_ID, DISCONNECT_CAUSE, HOST_IP_ADDRESS, ORIGIN_HOST, ORIGIN_REALM, ORIGIN_STATE_ID,
    PRODUCT_NAME, RESULT_CODE, SUPPORTED_VENDOR_ID, VENDOR_3GPP, VENDOR_ID, VENDOR_SPECIFIC_APPLICATION_ID,
    DiameterMessage, avp,
)
from ims.diameter.constants import (
    CMD_CE, CMD_DP, CMD_DW, DIAMETER_NO_COMMON_APPLICATION, DIAMETER_SUCCESS, DIAMETER_UNABLE_TO_COMPLY,
)
from ims.diameter.errors import DiameterError


@dataclass(frozen=True)
class LocalIdentity:
    origin_host: str
    origin_realm: str
    host_ip: str = "127.0.0.1"
    applications: tuple[int, ...] = (16777216,)  # Cx
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
class CloseConnection:
    reason: str


Action = SendBytes | RequestIn | AnswerIn | RequestTimedOut | PeerUp | PeerDown | CloseConnection

_hbh = itertools.count(int.from_bytes(os.urandom(3), "big"))


def new_end_to_end() -> int:
    """RFC 6733 §3: high 12 bits from the clock, low 20 random-ish and increasing."""
    return ((int(time.time()) & 0xFFF) << 20) | (next(_hbh) & 0xFFFFF)


class Peer:
    def __init__(self, local: LocalIdentity, *, initiator: bool, tw: float = 30.0,
                 request_timeout: float = 5.0, now: float = 0.0) -> None:
        self.local = local
        self.initiator = initiator
        self.tw = tw
        self.request_timeout = request_timeout
        self.state = "closed" if initiator else "wait-cer"
        self.remote_host: str | None = None
        self.remote_realm: str | None = None
        self.common_apps: tuple[int, ...] = ()
        self._buf = bytearray()
        self._pending: dict[int, float] = {}  # hop-by-hop -> deadline
        self._last_rx = now
        self._dwr_sent_at: float | None = None
        self._dpr_hbh: int | None = None
        self.stats = {"rx": 0, "tx": 0, "dwr": 0, "timeouts": 0}

    # -- helpers ------------------------------------------------------------
    def _common_avps(self) -> list:
        return [avp(ORIGIN_HOST, self.local.origin_host), avp(ORIGIN_REALM, self.local.origin_realm)]

    def _send(self, msg: DiameterMessage) -> SendBytes:
        self.stats["tx"] += 1
        return SendBytes(msg.to_bytes(), msg)

    def _cer_avps(self) -> list:
        avps = self._common_avps() + [
            avp(HOST_IP_ADDRESS, self.local.host_ip),
            avp(VENDOR_ID, self.local.vendor_id),
            avp(PRODUCT_NAME, self.local.product),
            avp(ORIGIN_STATE_ID, self.local.origin_state_id),
            avp(SUPPORTED_VENDOR_ID, VENDOR_3GPP),
        ]
        avps += [codec.vendor_app(app) for app in self.local.applications]
        return avps

    def next_ids(self) -> tuple[int, int]:
        return next(_hbh) & 0xFFFFFFFF, new_end_to_end()

    # -- events ---------------------------------------------------------------
    def connected(self, now: float) -> list[Action]:
        """The transport connection is up; the initiator sends CER (§5.3)."""
        self._last_rx = now
        if not self.initiator:
            return []
        self.state = "wait-cea"
        hbh, e2e = self.next_ids()
        cer = DiameterMessage(CMD_CE, True, 0, self._cer_avps(), hbh, e2e, proxiable=False)
        self._pending[hbh] = now + self.request_timeout
        return [self._send(cer)]

    def receive_data(self, data: bytes, now: float) -> list[Action]:
        self._buf += data
        out: list[Action] = []
        while len(self._buf) >= 4:
            try:
                length = codec.frame_length(bytes(self._buf[:4]))
            except DiameterError as exc:
                return out + [CloseConnection(f"bad framing: {exc.message}"), PeerDown("bad framing")]
            if len(self._buf) < length:
                break
            frame = bytes(self._buf[:length])
            del self._buf[:length]
            out.extend(self._on_frame(frame, now))
        return out

    def _on_frame(self, frame: bytes, now: float) -> list[Action]:
        self._last_rx = now
        self._dwr_sent_at = None
        self.stats["rx"] += 1
        try:
            msg = DiameterMessage.from_bytes(frame)
        except DiameterError as exc:
            return self._protocol_error(frame, exc)
        code = msg.command_code
        if code == CMD_CE:
            return self._on_ce(msg, now)
        if self.state not in ("open", "closing"):
            if msg.request:
                return [self._send(msg.answer(avp(RESULT_CODE, DIAMETER_UNABLE_TO_COMPLY), *self._common_avps()))]
            return []
        if code == CMD_DW:
            if msg.request:
                return [self._send(msg.answer(avp(RESULT_CODE, DIAMETER_SUCCESS), *self._common_avps(),
                                              avp(ORIGIN_STATE_ID, self.local.origin_state_id)))]
            self._pending.pop(msg.hop_by_hop, None)
            return []
        if code == CMD_DP:
            if msg.request:
                self.state = "closing"
                return [self._send(msg.answer(avp(RESULT_CODE, DIAMETER_SUCCESS), *self._common_avps())),
                        PeerDown("peer sent DPR")]
            if msg.hop_by_hop == self._dpr_hbh:
                self.state = "closed"
                return [CloseConnection("DPA received"), PeerDown("disconnected")]
            return []
        if msg.request:
            return [RequestIn(msg)]
        if self._pending.pop(msg.hop_by_hop, None) is None:
            return []  # late or unknown answer (§6.2: discard)
        return [AnswerIn(msg.hop_by_hop, msg)]

    def _protocol_error(self, frame: bytes, exc: DiameterError) -> list[Action]:
        """Answer a malformed request with the error's Result-Code and the E bit (§7.2)."""
        if len(frame) >= 20 and frame[4] & 0x80:
            hdr = DiameterMessage(int.from_bytes(frame[5:8], "big"), True, int.from_bytes(frame[8:12], "big"),
                                  [], int.from_bytes(frame[12:16], "big"), int.from_bytes(frame[16:20], "big"))
            ans = hdr.answer(avp(RESULT_CODE, exc.result_code), *self._common_avps(),
                             avp(codec.ERROR_MESSAGE, exc.message[:200]))
            ans.error = 3000 <= exc.result_code < 4000
            return [self._send(ans)]
        return []

    def _on_ce(self, msg: DiameterMessage, now: float) -> list[Action]:
        apps = _applications(msg)
        if msg.request:
            self.remote_host, self.remote_realm = msg.origin_host, msg.origin_realm
            common = tuple(a for a in self.local.applications if a in apps)
            if not common:
                ans = msg.answer(avp(RESULT_CODE, DIAMETER_NO_COMMON_APPLICATION), *self._cer_avps())
                self.state = "closed"
                return [self._send(ans), CloseConnection("no common application"), PeerDown("no common application")]
            self.common_apps = common
            self.state = "open"
            ans = msg.answer(avp(RESULT_CODE, DIAMETER_SUCCESS), *self._cer_avps())
            return [self._send(ans), PeerUp(self.remote_host or "", self.remote_realm or "", common)]
        self._pending.pop(msg.hop_by_hop, None)
        if self.state != "wait-cea":
            return []
        if msg.result_code != DIAMETER_SUCCESS:
            self.state = "closed"
            return [CloseConnection(f"CEA result {msg.result_code}"), PeerDown(f"CEA result {msg.result_code}")]
        self.remote_host, self.remote_realm = msg.origin_host, msg.origin_realm
        self.common_apps = tuple(a for a in self.local.applications if a in apps)
        self.state = "open"
        return [PeerUp(self.remote_host or "", self.remote_realm or "", self.common_apps)]

    # -- application side ------------------------------------------------------
    def send_request(self, msg: DiameterMessage, now: float) -> list[Action]:
        if self.state != "open":
            raise DiameterError(3002, f"peer {self.remote_host} is not open ({self.state})")
        if not msg.hop_by_hop:
            msg.hop_by_hop, e2e = self.next_ids()
            msg.end_to_end = msg.end_to_end or e2e
        self._pending[msg.hop_by_hop] = now + self.request_timeout
        return [self._send(msg)]

    def send_answer(self, msg: DiameterMessage) -> list[Action]:
        return [self._send(msg)]

    def disconnect(self, now: float, cause: int = 0) -> list[Action]:
        """DPR (§5.4); cause 0 = REBOOTING."""
        if self.state != "open":
            return [CloseConnection("not open")]
        self.state = "closing"
        hbh, e2e = self.next_ids()
        self._dpr_hbh = hbh
        dpr = DiameterMessage(CMD_DP, True, 0, [*self._common_avps(), avp(DISCONNECT_CAUSE, cause)], hbh, e2e,
                              proxiable=False)
        self._pending[hbh] = now + self.request_timeout
        return [self._send(dpr)]

    # -- time ---------------------------------------------------------------------
    def next_deadline(self) -> float | None:
        candidates = list(self._pending.values())
        if self.state == "open":
            candidates.append((self._dwr_sent_at or self._last_rx) + self.tw)
        return min(candidates) if candidates else None

    def handle_timers(self, now: float) -> list[Action]:
        out: list[Action] = []
        for hbh, deadline in list(self._pending.items()):
            if deadline <= now:
                del self._pending[hbh]
                if hbh == self._dpr_hbh or self.state == "wait-cea":
                    self.state = "closed"
                    out += [CloseConnection("no answer to CER/DPR"), PeerDown("timeout")]
                else:
                    self.stats["timeouts"] += 1
                    out.append(RequestTimedOut(hbh))
        if self.state == "open":
            if self._dwr_sent_at is not None and now >= self._dwr_sent_at + self.tw:
                # RFC 3539 §3.4.1: no DWA within Tw - fail over.
                self.state = "closed"
                out += [CloseConnection("watchdog: no DWA"), PeerDown("watchdog")]
            elif self._dwr_sent_at is None and now >= self._last_rx + self.tw:
                hbh, e2e = self.next_ids()
                dwr = DiameterMessage(CMD_DW, True, 0, [*self._common_avps(),
                                                        avp(ORIGIN_STATE_ID, self.local.origin_state_id)],
                                      hbh, e2e, proxiable=False)
                self._dwr_sent_at = now
                self.stats["dwr"] += 1
                out.append(self._send(dwr))
        return out


def _applications(msg: DiameterMessage) -> tuple[int, ...]:
    apps = [int(v) for v in (a.value for a in msg.find(AUTH_APPLICATION_ID))]
    for vsa in msg.find(VENDOR_SPECIFIC_APPLICATION_ID):
        for member in vsa.value or ():
            if member.code == AUTH_APPLICATION_ID:
                apps.append(int(member.value))
    return tuple(apps)
