"""A simulated VoLTE handset's SIP side: IMS registration, reg event, calls (TS 24.229 §5.1), sans-IO.

:class:`ImsHandset` extends the plain :class:`~ims.sip.uacore.UserAgent`:

* registration (§5.1.1.2): REGISTER to the home domain through the P-CSCF
  with an Authorization carrying the IMPI and an empty response,
  ``Security-Client`` (RFC 3329, TS 33.203 §7.2) and sec-agree in
  Require/Proxy-Require; the 401's AKA nonce goes to the simulated USIM
  (``ims.aka.usim``): RES answers it (RFC 3310), a MAC failure sends an empty
  response (the network is rejected, §5.1.1.5.2), an SQN failure sends
  ``auts`` (§5.1.1.5.3).  MD5 subscribers answer with their password.  The
  protected REGISTER repeats the P-CSCF's Security-Server as Security-Verify;
* the 200 gives Service-Route (RFC 3608, used as the Route of every initial
  request), P-Associated-URI and the expiry; re-registration 600 s before
  expiry, or at half of it when that is under 1200 s (§5.1.1.4);
* reg event (§5.1.1.3, RFC 3680): SUBSCRIBE to the own IMPU after
  registering; a NOTIFY saying the registration ended (network-initiated
  deregistration) raises :class:`Deregistered`;
* calls: INVITE with P-Preferred-Identity and P-Access-Network-Info along
  Service-Route; the SDP is the caller's (``ims.ue.sdp``).

Events added to the UserAgent's: :class:`Deregistered`, :class:`ChallengeAnswered`,
:class:`MessageDelivered`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from ims.aka.milenage import AkaError
from ims.aka.usim import MacFailure, SyncFailure, Usim
from ims.cscf.reginfo import Reginfo, ReginfoError
from ims.sip.auth import aka_password, build_authorization, parse_aka_nonce
from ims.sip.dialog import Dialog
from ims.sip.errors import SipError
from ims.sip.events import Action, Address, TimerConfig, TransactionKey
from ims.sip.headers import Challenge, Credentials, Headers
from ims.sip.message import Request, Response, build_response, new_call_id, new_tag
from ims.sip.uacore import Registered, RegistrationFailed, UserAgent
from ims.sip.uri import URI, SipURI, parse_uri

ACCESS_NETWORK = "3GPP-E-UTRAN-FDD; utran-cell-id-3gpp=0010100010019B01"


@dataclass(frozen=True, slots=True)
class Deregistered:
    by_network: bool
    reason: str = ""


@dataclass(frozen=True, slots=True)
class MessageDelivered:
    """The final response to a MESSAGE the handset sent."""

    call_id: str
    status: int


@dataclass(frozen=True, slots=True)
class ChallengeAnswered:
    """What the handset did with a 401: "res", "mac-failure", "sync-failure" or "digest"."""

    outcome: str


@dataclass(frozen=True)
class Subscription:
    """What the handset knows of its subscriber (the ISIM/USIM contents)."""

    impi: str
    impu: str
    domain: str
    k: bytes = b""
    opc: bytes = b""
    amf: bytes = b"\x80\x00"
    sqn: int = 0
    password: str | None = None
    auth: str = "aka"  # aka | md5


def refresh_delay(expires: int) -> float:
    """§5.1.1.4.1: 600 s before expiry when registered for more than 1200 s, else half the time."""
    return expires - 600 if expires > 1200 else expires / 2


class ImsHandset(UserAgent):
    def __init__(self, sub: Subscription, local: Address, pcscf: Address, *, timers: TimerConfig = TimerConfig(),
                 user: str | None = None, display_name: str | None = None) -> None:
        aor = parse_uri(sub.impu)
        name = user or (aor.user if isinstance(aor, SipURI) and aor.user else "ue")
        tp = "" if local.transport == "udp" else f";transport={local.transport}"
        contact = SipURI.parse(f"sip:{name}@{local.host}:{local.port}{tp}")
        super().__init__(aor if isinstance(aor, SipURI) else SipURI.parse(f"sip:{name}@{sub.domain}"), contact,
                         local, outbound_proxy=pcscf, timers=timers, user_agent="ims-lab-ue",
                         display_name=display_name)
        self.sub = sub
        self.usim = Usim(sub.k, sub.opc, sub.amf, sqn_ms=sub.sqn) if sub.auth == "aka" else None
        self.registrar = SipURI.parse(f"sip:{sub.domain}")
        self.registered = False
        self.service_route: list[str] = []
        self.associated: list[str] = []
        self.expires = 0
        self.security_server: str | None = None
        spi = int.from_bytes(os.urandom(4), "big") | 0x1000
        self.security_client = (f"ipsec-3gpp;alg=hmac-sha-1-96;spi-c={spi};spi-s={spi + 1};"
                                f"port-c={local.port};port-s={local.port}")
        self.last_challenge = ""
        self.reg_sub: Dialog | None = None
        self._sub_request: Request | None = None
        self._refresh_at: float | None = None
        self._want_expires = 0
        self._auth_rounds = 0
        self.history: list[str] = []  # registration outcomes, for status reports

    # -- timers -----------------------------------------------------------------------
    def next_deadline(self) -> float | None:
        base = super().next_deadline()
        if self._refresh_at is None:
            return base
        return self._refresh_at if base is None else min(base, self._refresh_at)

    def handle_timers(self, now: float) -> list[Action]:
        out = super().handle_timers(now)
        if self._refresh_at is not None and self._refresh_at <= now:
            self._refresh_at = None
            out += self.ims_register(now, self._want_expires or 600000)
        return out

    # -- registration -------------------------------------------------------------------
    def _initial_authorization(self) -> str:
        params = {"username": self.sub.impi, "realm": self.sub.domain, "nonce": "", "uri": str(self.registrar),
                  "response": ""}
        if self.sub.auth == "md5":
            params["algorithm"] = "MD5"
        return str(Credentials("Digest", params))

    def _reg_headers(self) -> list[tuple[str, str]]:
        h = [("Supported", "path, sec-agree"), ("Require", "sec-agree"), ("Proxy-Require", "sec-agree"),
             ("P-Access-Network-Info", ACCESS_NETWORK)]
        if self.security_server:
            h.append(("Security-Verify", self.security_server))
        else:
            h.append(("Security-Client", self.security_client))
        return h

    def ims_register(self, now: float, expires: int = 600000, authorization: str | None = None) -> list[Action]:
        """REGISTER (``expires`` 0: deregister, §5.1.1.6)."""
        self._want_expires = expires
        if authorization is None:
            # §5.1.1.2.1 / §5.1.1.4.1: the IMPI always travels in an Authorization header.
            self._auth_rounds = 0
            authorization = self._initial_authorization()
        return self.register(self.registrar, expires, now, extra_headers=self._reg_headers(),
                             authorization=authorization)

    def ims_deregister(self, now: float) -> list[Action]:
        self._refresh_at = None
        return self.ims_register(now, 0)

    def answer_challenge(self, challenge: Challenge) -> tuple[str, str]:
        """(Authorization value, outcome) for a 401's challenge."""
        alg = (challenge.get("algorithm") or "MD5").upper()
        self.last_challenge = challenge.get("nonce") or ""
        if alg.startswith("AKAV"):
            if self.usim is None:
                raise SipError("AKA challenge for a handset without a USIM", 403)
            rand, autn, _ = parse_aka_nonce(challenge.get("nonce") or "")
            try:
                result = self.usim.authenticate(rand, autn)
            except MacFailure:
                # §5.1.1.5.2: network authentication failed: an empty response, no RES.
                params = {"username": self.sub.impi, "realm": challenge.get("realm") or "",
                          "nonce": challenge.get("nonce") or "", "uri": str(self.registrar), "response": "",
                          "algorithm": challenge.get("algorithm") or "AKAv1-MD5"}
                return str(Credentials("Digest", params)), "mac-failure"
            except SyncFailure as exc:
                return build_authorization(challenge, username=self.sub.impi, password=b"", method="REGISTER",
                                           uri=str(self.registrar), auts=exc.auts), "sync-failure"
            except AkaError as exc:
                raise SipError(f"AKA failed: {exc}", 403) from None
            password = aka_password(challenge.get("algorithm") or "AKAv1-MD5", result.res, result.ck, result.ik)
            return build_authorization(challenge, username=self.sub.impi, password=password, method="REGISTER",
                                       uri=str(self.registrar)), "res"
        return build_authorization(challenge, username=self.sub.impi, password=self.sub.password or "",
                                   method="REGISTER", uri=str(self.registrar)), "digest"

    def _on_register_response(self, resp: Response, now: float) -> list[Action]:
        if resp.status < 200:
            return []
        if resp.status == 401 and self._auth_rounds < 3 and resp.www_authenticate:
            self._auth_rounds += 1
            servers = resp.get_all("security-server")
            if servers:
                self.security_server = ", ".join(servers)
            try:
                value, outcome = self.answer_challenge(resp.www_authenticate[0])
            except SipError as exc:
                self.history.append(f"failed: {exc.reason}")
                return [RegistrationFailed(401, resp)]
            return [ChallengeAnswered(outcome),
                    *self.register(self.registrar, self._want_expires, now, extra_headers=self._reg_headers(),
                                   authorization=value)]
        if 200 <= resp.status < 300:
            if self._want_expires == 0:
                self.registered = False
                self.security_server = None
                self.history.append("deregistered")
                return [Deregistered(False, "user")]
            expires = self._want_expires
            for c in resp.contacts:
                if not c.is_star and c.uri == self.contact and c.expires is not None:
                    expires = c.expires
            first = not self.registered
            self.registered = True
            self.expires = expires
            self.service_route = [str(r) for r in resp.service_routes]
            self.associated = [str(p.uri) for p in resp.p_associated_uri]
            self._refresh_at = now + max(1.0, refresh_delay(expires))
            self.history.append(f"registered {expires}")
            out: list[Action] = [Registered(expires, resp)]
            if first or self.reg_sub is None:
                out += self.subscribe_reg(now)
            return out
        self.registered = False
        self.security_server = None
        self.history.append(f"failed {resp.status}")
        return [RegistrationFailed(resp.status, resp)]

    # -- reg event -------------------------------------------------------------------
    def _route_headers(self) -> list[tuple[str, str]]:
        return [("Route", r) for r in self.service_route]

    def _initial_headers(self, method: str, target: URI) -> Headers:
        """An initial request's headers along the P-CSCF and the Service-Route (§5.1.2A.1.1)."""
        h = Headers()
        h.add("Via", self._via())
        h.add("Route", self._proxy_route())  # type: ignore[union-attr]
        for _, r in self._route_headers():
            h.add("Route", r)
        h.add("Max-Forwards", "70")
        h.add("From", self._from(new_tag()))
        h.add("To", f"<{target}>")
        h.add("Call-ID", new_call_id(self.local.host))
        h.add("CSeq", f"1 {method}")
        return h

    def subscribe_reg(self, now: float) -> list[Action]:
        h = self._initial_headers("SUBSCRIBE", self.aor)
        h.add("Event", "reg")
        h.add("Expires", "600000")
        h.add("Accept", "application/reginfo+xml")
        h.add("Contact", f"<{self.contact}>")
        h.add("P-Preferred-Identity", f"<{self.aor}>")
        h.add("P-Access-Network-Info", ACCESS_NETWORK)
        req = Request("SUBSCRIBE", self.aor.copy(), h)
        self._sub_request = req
        return self._send_new(req, self.outbound_proxy, now, "subscribe", req.call_id)  # type: ignore[arg-type]

    def _on_response(self, key: TransactionKey, resp: Response, now: float) -> list[Action]:
        purpose, call_id = self._pending.get(key, ("", ""))
        if purpose == "message":
            if resp.status < 200:
                return []
            self._pending.pop(key, None)
            return [MessageDelivered(call_id, resp.status)]
        if purpose == "subscribe":
            if resp.status >= 200:
                self._pending.pop(key, None)
            if 200 <= resp.status < 300 and self._sub_request is not None:
                try:
                    self.reg_sub = Dialog.from_uac_response(self._sub_request, resp)
                except SipError:
                    self.reg_sub = None
            return []
        return super()._on_response(key, resp, now)

    def _on_request(self, key: TransactionKey, req: Request, source: Address, now: float) -> list[Action]:
        if req.method == "NOTIFY" and self._sub_request is not None and req.call_id == self._sub_request.call_id:
            return self._on_reg_notify(key, req, now)
        return super()._on_request(key, req, source, now)

    def _on_reg_notify(self, key: TransactionKey, req: Request, now: float) -> list[Action]:
        try:
            info = Reginfo.from_xml(req.body) if req.body else None
        except ReginfoError as exc:
            return self.layer.send_response(key, build_response(req, 400, f"Bad Request ({exc})"), now)
        if self.reg_sub is not None:
            self.reg_sub.remote_seq = req.cseq.seq
        out = self.layer.send_response(key, build_response(req, 200), now)
        mine = str(self.aor)
        ended = info is not None and any(r.aor == mine and r.state == "terminated" for r in info.registrations)
        if (req.get("subscription-state") or "").lower().startswith("terminated"):
            self.reg_sub = None
            self._sub_request = None if ended else self._sub_request
        if ended and self.registered:
            # §5.1.1.7: the network ended the registration.
            self.registered = False
            self.security_server = None
            self._refresh_at = None
            by_network = self._want_expires != 0
            self.history.append("deregistered by the network" if by_network else "deregistered")
            out.append(Deregistered(by_network, "reg event: terminated"))
        return out

    # -- calls ------------------------------------------------------------------------
    def call(self, target: URI, now: float, *, sdp: bytes = b"", preconditions: bool | str = False
             ) -> tuple[str, list[Action]]:
        """INVITE ``target`` along the Service-Route (§5.1.2A.1).

        ``preconditions`` (the offer carries QoS preconditions): ``True`` or ``"required"``, the callee must
        use them (Require: precondition, RFC 3312 §11); ``"supported"``, it may (Supported: precondition,
        as TS 24.229 §5.1.3.1 recommends); ``False``, none.  A callee that answers 420 Unsupported:
        precondition is called again without them when ``retry_without`` gives the offer (RFC 3312 §6)."""
        supported = "100rel, precondition" if preconditions == "supported" else "100rel"
        extra = [*self._route_headers(), ("P-Preferred-Identity", f"<{self.aor}>"),
                 ("P-Access-Network-Info", ACCESS_NETWORK), ("Supported", supported),
                 ("Accept-Contact", '*;+g.3gpp.icsi-ref="urn%3Aurn-7%3A3gpp-service.ims.icsi.mmtel"')]
        if preconditions is True or preconditions == "required":
            extra.append(("Require", "precondition"))
        return self.invite(target, now, body=sdp, content_type="application/sdp" if sdp else None,
                           extra_headers=extra)

    def message(self, target: URI, text: str, now: float) -> tuple[str, list[Action]]:
        """A MESSAGE (RFC 3428) along the Service-Route."""
        h = self._initial_headers("MESSAGE", target)
        h.add("P-Preferred-Identity", f"<{self.aor}>")
        req = Request("MESSAGE", target, h)
        req.set_body(text.encode(), "text/plain")
        return req.call_id, self._send_new(req, self.outbound_proxy, now, "message",  # type: ignore[arg-type]
                                           req.call_id)

