"""The P-CSCF: the UE's first hop on Gm (TS 24.229 §5.2).

Registration (§5.2.2): the REGISTER goes to the home I-CSCF with a Path
``<sip:term@pcscf;lr>`` (RFC 3327; ``Supported: path`` added when the UE did not
say it), P-Visited-Network-ID and a P-Charging-Vector ICID (RFC 7315).
Security agreement (RFC 3329, TS 33.203 §7): the UE's Security-Client is
kept; the 401 going back gets our Security-Server and loses the IK/CK the
S-CSCF put in it (they go to the SA backend); the protected REGISTER must
carry a Security-Verify equal to our Security-Server (else 494).  SAs are
installed by a pluggable :class:`SecurityBackend`: the default one records
the agreement only (this lab kernel has no IPsec ESP), so negotiation is
complete while traffic stays on the unprotected ports.  The Authorization
gets ``integrity-protected`` ("no" on the first REGISTER, "yes" once
Security-Verify matched, §5.2.2.1).  The 200 gives the registration: the
P-Associated-URI set, the Service-Route (RFC 3608) and the expiry; the
P-CSCF then subscribes to the user's reg event (§5.2.3, RFC 3680) and drops
the registration on a NOTIFY saying it ended.

A UE may register several public identities from one contact (separate
REGISTERs, §5.1.1.2; SIPp playing many users from one socket does the same):
each is its own registration, kept under the contact and the registered AoR
(the REGISTER's To).

Requests from a UE (§5.2.6.3): 403 unless they come from a registered
contact (of several registrations there, the one holding the
P-Preferred-Identity, else the From identity, else the oldest, is used);
P-Preferred-Identity and any P-Asserted-Identity are removed and
P-Asserted-Identity set to the preferred identity when it is registered,
else the default one (RFC 3325 trust domain); initial requests get the
Service-Route as their Route set and a P-Charging-Vector; P-Access-Network-
Info is kept.  Dialogs are Record-Routed both ways.

Restart: each registration (contact, AoR, P-Associated-URI set, Service-Route,
expiry, Security-Server and whether it was verified, the reg-event
subscription dialog) is reported as a ``reg`` record, and per UE contact the
Security-Server offered and the agreement installed (mechanisms, CK/IK) as a
``contact`` record; ``restore`` rebuilds them, installs the agreements again
and re-subscribes to the reg event of a registration whose SUBSCRIBE was
still in flight.  REGISTERs waiting for their final response are not kept:
the UE retransmits or retries them.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field

from ims.cscf.common import CscfApp, aor_key, log_extra, route_value
from ims.cscf.reginfo import Reginfo, ReginfoError
from ims.cscf.store import Persist, Record, StoredRecord, dialog_from_record, dialog_record
from ims.sip.dialog import Dialog, uri_address
from ims.sip.errors import SipError
from ims.sip.events import Action, Address, TimerConfig
from ims.sip.headers import Challenge, SecurityMechanism
from ims.sip.message import Request, Response, build_response, new_branch, new_call_id, new_tag
from ims.sip.proxy import Forward, ProxyCore, Reject, Target
from ims.sip.uri import NameAddr, SipURI

log = logging.getLogger("ims.cscf.pcscf")

SUBSCRIBE_EXPIRES = 600000  # TS 24.229 §5.2.3: 600 000 s


class SecurityBackend:
    """Where IPsec SAs would be installed (TS 33.203 §7.1).  This one only records the agreement."""

    name = "none"

    def __init__(self) -> None:
        self.agreements: dict[tuple[str, int], tuple[SecurityMechanism, SecurityMechanism, bytes, bytes]] = {}

    def install(self, ue: tuple[str, int], client: SecurityMechanism, server: SecurityMechanism,
                ck: bytes, ik: bytes) -> None:
        self.agreements[ue] = (client, server, ck, ik)

    def remove(self, ue: tuple[str, int]) -> None:
        self.agreements.pop(ue, None)

    def installed(self, ue: tuple[str, int]) -> tuple[SecurityMechanism, SecurityMechanism, bytes, bytes] | None:
        """What ``install`` got for this UE (kept across a restart and installed again)."""
        return self.agreements.get(ue)


@dataclass
class UeRegistration:
    contact: tuple[str, int]  # the UE's contact host:port
    aor: str  # the registered public identity (aor_key of the REGISTER's To)
    impus: list[str]
    service_route: list[str]
    expires_at: float
    security_server: str | None = None
    verified: bool = False
    subscription: Dialog | None = None
    subscribing: bool = False
    expiry_armed: bool = False  # one expiry timer per registration, re-armed when it fires early
    impu_keys: dict[str, str] = field(init=False)  # aor_key -> public identity, of ``impus``

    def __post_init__(self) -> None:
        self.impu_keys = {aor_key(u): u for u in self.impus}

    def refresh(self, impus: list[str], service_route: list[str], expires_at: float) -> None:
        self.impus, self.service_route, self.expires_at = impus, service_route, expires_at
        self.impu_keys = {aor_key(u): u for u in impus}


@dataclass
class PcscfConfig:
    domain: str
    host: str
    port: int
    icscf: Address
    transport: str = "udp"
    core_hosts: frozenset[str] = frozenset()  # addresses of IMS nodes: requests from them are network-side
    visited_network: str = ""
    timers: TimerConfig = TimerConfig()


@dataclass
class _PendingRegister:
    source: Address
    contact: tuple[str, int] | None
    aor: str
    security_client: list[SecurityMechanism] = field(default_factory=list)


class Pcscf(CscfApp):
    def __init__(self, config: PcscfConfig, security: SecurityBackend | None = None) -> None:
        super().__init__()
        self.config = config
        self.security = security or SecurityBackend()
        self.core = ProxyCore(local=Address(config.host, config.port, config.transport), domain=config.domain,
                              route=self._route, local_requests=self._local, timers=config.timers,
                              prepare=self._prepare, on_response=self._on_response,
                              supported=frozenset({"sec-agree"}))
        # UE contact host:port -> registered AoR -> its registration (oldest first)
        self.registrations: dict[tuple[str, int], dict[str, UeRegistration]] = {}
        self._pending: dict[tuple[str, int], _PendingRegister] = {}  # (Call-ID, CSeq) -> the UE's REGISTER
        self._by_subscription: dict[str, UeRegistration] = {}  # SUBSCRIBE Call-ID -> registration
        self._offered: dict[tuple[str, int], str] = {}  # UE contact -> the Security-Server we sent it

    def stats(self) -> dict[str, int]:
        return {**super().stats(), "registered_ues": len(self.registrations),
                "registered_identities": sum(len(regs) for regs in self.registrations.values())}

    # -- which side -------------------------------------------------------------------
    def _from_core(self, source: Address) -> bool:
        return source.host in self.config.core_hosts or source.host == self.config.host

    def _ue_of(self, req: Request, source: Address, now: float) -> UeRegistration | None:
        """The live registration a UE's request belongs to: the one holding its P-Preferred-Identity,
        else its From identity, else the oldest at that contact."""
        via = req.vias[-1]  # the UE's own Via is the bottom one on a request it sent
        regs: dict[str, UeRegistration] = {}
        for contact in ((source.host, source.port), (via.host, via.port or 5060)):
            regs = self.registrations.get(contact, {})
            if any(r.expires_at >= now for r in regs.values()):
                break
        if len(regs) > 1:
            try:
                wanted = [p.uri for p in req.p_preferred_identity] + [req.from_.uri]
            except SipError:
                wanted = []
            keys = []
            for uri in wanted:
                try:
                    keys.append(aor_key(uri))
                except SipError:
                    continue
            for key in keys:
                reg = regs.get(key)  # the identity a REGISTER named
                if reg is None:  # another one of some registered set (its tel URI, say)
                    reg = next((r for r in regs.values() if key in r.impu_keys and r.expires_at >= now), None)
                if reg is not None and reg.expires_at >= now:
                    return reg
        return next((r for r in regs.values() if r.expires_at >= now), None)

    def _drop(self, reg: UeRegistration) -> bool:
        """Forget one registration; the contact's security agreement goes with its last one."""
        regs = self.registrations.get(reg.contact)
        if regs is None or regs.get(reg.aor) is not reg:
            return False
        del regs[reg.aor]
        self.changed("reg", _reg_key(reg.contact, reg.aor), None)
        if not regs:
            del self.registrations[reg.contact]
            self.security.remove(reg.contact)
            self._offered.pop(reg.contact, None)
            self.changed("contact", _contact_key(reg.contact), None)
        return True

    # -- the state file (ims.cscf.store) ---------------------------------------------------
    def snapshot(self, kind: str, key: str, obj: object, now: float) -> Persist:
        off = self.wall_offset
        if isinstance(obj, UeRegistration):
            record: Record = {
                "contact": list(obj.contact), "aor": obj.aor, "impus": obj.impus, "service_route": obj.service_route,
                "expires_at": obj.expires_at + off, "security_server": obj.security_server, "verified": obj.verified,
                "subscription": dialog_record(obj.subscription) if obj.subscription is not None else None}
            return Persist(kind, key, record, obj.expires_at + off)
        assert kind == "contact" and isinstance(obj, tuple), kind
        contact: tuple[str, int] = obj
        sa = self.security.installed(contact)
        # No expiry of its own: it is forgotten with the contact's last registration, and one whose UE was
        # challenged but never registered is forgotten at the next restart.
        return Persist(kind, key, {"contact": list(contact), "offered": self._offered.get(contact),
                                   "sa": [str(sa[0]), str(sa[1]), sa[2].hex(), sa[3].hex()] if sa else None})

    def restore(self, records: list[StoredRecord], now: float) -> list[Action]:
        """Registrations, offers and agreements from before a restart; reg-event SUBSCRIBEs never answered
        are sent again (TS 24.229 §5.2.3)."""
        off = self.wall_offset
        out: list[Action] = []
        for stored in records:
            r = stored.record
            try:
                contact = (str(r["contact"][0]), int(r["contact"][1]))
                if stored.kind == "contact":
                    if r["offered"]:
                        self._offered[contact] = str(r["offered"])
                    if r["sa"]:
                        client, server, ck, ik = r["sa"]
                        self.security.install(contact, SecurityMechanism.parse(client),
                                              SecurityMechanism.parse(server), bytes.fromhex(ck), bytes.fromhex(ik))
                    continue
                if stored.kind != "reg":
                    continue
                reg = UeRegistration(contact, str(r["aor"]), [str(u) for u in r["impus"]],
                                     [str(x) for x in r["service_route"]], float(r["expires_at"]) - off,
                                     r["security_server"], bool(r["verified"]))
                if r["subscription"] is not None:
                    reg.subscription = dialog_from_record(r["subscription"])
            except (KeyError, IndexError, TypeError, ValueError, SipError) as exc:  # unreadable by this version
                log.warning("state record %s dropped: %s", stored.key, exc)
                self.changed(stored.kind, stored.key, None)
                continue
            if reg.expires_at <= now:
                continue
            self.registrations.setdefault(contact, {})[reg.aor] = reg
            reg.expiry_armed = True
            self.at(reg.expires_at + 1, lambda at, x=reg: self._expire(x, at))
            self.count("restored_registrations")
            if reg.subscription is not None:
                self._by_subscription[reg.subscription.call_id] = reg
        for contact in [c for c in self._offered if c not in self.registrations]:
            del self._offered[contact]  # challenged before the restart, never registered: it starts again
            self.security.remove(contact)
            self.changed("contact", _contact_key(contact), None)
        for regs in self.registrations.values():
            for reg in regs.values():
                if reg.subscription is None:
                    out += self._subscribe(reg, now)
        return out

    # -- requests ---------------------------------------------------------------------
    def _prepare(self, req: Request, source: Address, now: float) -> Response | Reject | None:
        if self._from_core(source):
            return None
        if req.method == "REGISTER":
            return self._prepare_register(req, source, now)
        reg = self._ue_of(req, source, now)
        if reg is None:
            self.count("rejected_unregistered")
            log.info("%s from %s:%d: 403, not registered here", req.method, source.host, source.port,
                     extra=log_extra(req))
            return Reject(403, "Forbidden (not registered at this P-CSCF)")
        verify = req.security_verify
        if verify and reg.security_server and not _same_mechanisms(verify, reg.security_server):
            return Reject(494, "Security Agreement Required (Security-Verify does not match Security-Server)")
        _strip_sec_agree(req)
        # RFC 3325 §5 / TS 24.229 §5.2.6.3.1: the network asserts the identity, the UE may only prefer one.
        preferred = req.p_preferred_identity
        req.remove("P-Preferred-Identity")
        req.remove("P-Asserted-Identity")
        if not req.to.tag:
            registered = reg.impu_keys
            chosen = reg.impus[0]
            for p in preferred:
                try:
                    if aor_key(p.uri) in registered:
                        chosen = registered[aor_key(p.uri)]
                        break
                except SipError:
                    continue
            req.add("P-Asserted-Identity", f"<{chosen}>")
            if "p-charging-vector" not in req:
                req.add("P-Charging-Vector", f'icid-value="{os.urandom(8).hex()}";icid-generated-at={self.config.host}')
            # §5.2.6.3.2: the route to the S-CSCF is the Service-Route learnt at registration.
            req.remove("Route")
            for r in reg.service_route:
                req.add("Route", r)
        return None

    def _prepare_register(self, req: Request, source: Address, now: float) -> Response | Reject | None:
        contacts = [c for c in req.contacts if not c.is_star]
        contact = None
        if contacts and isinstance(contacts[0].uri, SipURI):
            c = contacts[0].uri
            contact = (c.host, c.port or 5060)
        try:
            aor = aor_key(req.to.uri)
        except SipError:
            return Reject(400, "Bad Request (To of a REGISTER must name a public identity)")
        pending = _PendingRegister(source, contact, aor, req.security_client)
        reg = self.registrations.get(contact, {}).get(aor) if contact else None
        verify = req.security_verify
        protected = False
        if verify:
            # TS 33.203 §7.4: a registered UE may protect its REGISTER with the agreement in use, or with
            # the one just offered in a 401 (a UE whose re-registration failed starts a new one).
            expected = [s for s in (self._offered.get(contact or ("", 0)), reg.security_server if reg else None) if s]
            if not any(_same_mechanisms(verify, s) for s in expected):
                return Reject(494, "Security Agreement Required (Security-Verify does not match Security-Server)")
            protected = True
        _strip_sec_agree(req)
        for name in ("Security-Client", "Security-Verify"):
            req.remove(name)
        auths = req.get_all("authorization")
        if auths:
            req.remove("Authorization")
            for a in auths:
                ch = Challenge.parse(a, "Authorization")
                ch.params["integrity-protected"] = "yes" if protected else "no"
                req.add("Authorization", _credentials_text(ch))
        req.add("Path", route_value(self.config.host, self.config.port, "term", self.config.transport), first=True)
        if "path" not in [t.lower() for t in req.supported]:
            # RFC 3327 §5.3: a registrar refuses a Path it was not told is supported (420, Kamailio's
            # default).  The P-CSCF routes by that Path itself, so it says Supported: path for the UE;
            # Require stays the UE's own choice (TS 24.229 §5.2.2.1 forwards the rest unchanged).
            req.add("Supported", "path")
        if "p-visited-network-id" not in req:
            req.add("P-Visited-Network-ID", f'"{self.config.visited_network or self.config.domain}"')
        if "p-charging-vector" not in req:
            req.add("P-Charging-Vector", f'icid-value="{os.urandom(8).hex()}";icid-generated-at={self.config.host}')
        if len(self._pending) > 50_000:  # REGISTERs that never got a final response (the UE went away)
            for k in list(self._pending)[:25_000]:
                del self._pending[k]
        self._pending[(req.call_id, req.cseq.seq)] = pending
        return None

    def _route(self, req: Request) -> Forward | Reject:
        if req.method == "REGISTER":
            return Forward([Target(req.uri, dest=self.config.icscf)], record_route=False)
        return Reject(404, "Not Found (no route: requests from the UE follow the Service-Route)")

    def _local(self, req: Request, source: Address, now: float) -> list[Action] | Response | None:
        if req.method == "NOTIFY" and isinstance(req.uri, SipURI) and req.uri.user == "pcscf-reg":
            return self._on_notify(req, now)
        return None

    # -- responses --------------------------------------------------------------------
    def _on_response(self, request: Request, response: Response, now: float) -> list[Action] | None:
        if request.method != "REGISTER" or response.status < 200:
            return None
        pending = self._pending.pop((request.call_id, request.cseq.seq), None)
        if pending is None or pending.contact is None:
            return None
        if response.status == 401:
            self._on_challenge(response, pending)
            return None
        if not 200 <= response.status < 300:
            return None
        return self._on_registered(request, response, pending, now)

    def _on_challenge(self, response: Response, pending: _PendingRegister) -> None:
        """TS 33.203 §7.1 / RFC 3329 §2.3.1: IK/CK off to the SA backend, Security-Server on."""
        values = response.get_all("www-authenticate")
        response.remove("WWW-Authenticate")
        ck = ik = b""
        for v in values:
            ch = Challenge.parse(v)
            ck = bytes.fromhex(ch.params.pop("ck", "") or "")
            ik = bytes.fromhex(ch.params.pop("ik", "") or "")
            response.add("WWW-Authenticate", str(ch))
        if pending.security_client:
            offer = self._security_server(pending.security_client)
            response.add("Security-Server", offer)
            assert pending.contact is not None
            if len(self._offered) > 50_000:  # UEs challenged that never registered (went away)
                for k in [k for k in list(self._offered)[:25_000] if k not in self.registrations]:
                    del self._offered[k]
                    self.changed("contact", _contact_key(k), None)
            self._offered[pending.contact] = offer
            self.security.install(pending.contact, pending.security_client[0], SecurityMechanism.parse(offer), ck, ik)
            self.changed("contact", _contact_key(pending.contact), pending.contact)
            self.count("sec_agree")

    def _security_server(self, client: list[SecurityMechanism]) -> str:
        mech = next((m for m in client if m.mechanism == "ipsec-3gpp"), client[0])
        params = {"q": "0.1", "alg": mech.params.get("alg") or "hmac-sha-1-96"}
        if mech.params.get("ealg"):
            params["ealg"] = "null"  # no ESP encryption here (the backend installs nothing)
        params.update({"spi-c": str(int.from_bytes(os.urandom(4), "big") | 0x1000),
                       "spi-s": str(int.from_bytes(os.urandom(4), "big") | 0x1000),
                       "port-c": str(self.config.port), "port-s": str(self.config.port)})
        return mech.mechanism + "".join(f";{k}={v}" for k, v in params.items())

    def _on_registered(self, request: Request, response: Response, pending: _PendingRegister,
                       now: float) -> list[Action]:
        assert pending.contact is not None
        expires = 0
        for c in response.contacts:
            if isinstance(c.uri, SipURI) and (c.uri.host, c.uri.port or 5060) == pending.contact:
                expires = c.expires or 0
        regs = self.registrations.get(pending.contact, {})
        if expires <= 0:
            if pending.aor in regs:
                self._drop(regs[pending.aor])
            self.count("deregistered")
            return []
        impus = [str(p.uri) for p in response.p_associated_uri] or [str(request.to.uri)]
        routes = [str(r) for r in response.service_routes]
        reg = regs.get(pending.aor)
        offered = self._offered.get(pending.contact)
        if reg is None:
            reg = UeRegistration(pending.contact, pending.aor, impus, routes, now + expires, offered)
            self.registrations.setdefault(pending.contact, {})[pending.aor] = reg
        else:
            reg.refresh(impus, routes, now + expires)
            reg.security_server = offered or reg.security_server
        self.changed("reg", _reg_key(reg.contact, reg.aor), reg)
        self.count("registered")
        log.info("%s registered from %s:%d for %d s", impus[0], *pending.contact, expires,
                 extra=log_extra(request, impu=impus[0]))
        if not reg.expiry_armed:
            reg.expiry_armed = True
            self.at(reg.expires_at + 1, lambda at, r=reg: self._expire(r, at))
        if reg.subscription is None and not reg.subscribing:
            return self._subscribe(reg, now)
        return []

    def _expire(self, reg: UeRegistration, now: float) -> list[Action]:
        current = self.registrations.get(reg.contact, {}).get(reg.aor) is reg
        if reg.expires_at > now and current:  # refreshed since: wait again
            self.at(reg.expires_at + 1, lambda at, r=reg: self._expire(r, at))
            return []
        reg.expiry_armed = False
        if reg.expires_at <= now and self._drop(reg):
            self.count("expired")
        return []

    # -- reg event subscription (TS 24.229 §5.2.3) ---------------------------------------
    def _subscribe(self, reg: UeRegistration, now: float) -> list[Action]:
        cfg = self.config
        me = f"sip:pcscf@{cfg.host}:{cfg.port}"
        req = Request("SUBSCRIBE", NameAddr.parse(f"<{reg.impus[0]}>").uri)
        req.add("Via", f"SIP/2.0/{cfg.transport.upper()} {cfg.host}:{cfg.port};branch={new_branch()}")
        for r in reg.service_route:
            req.add("Route", r)
        req.add("Max-Forwards", "70")
        req.add("From", f"<{me}>;tag={new_tag()}")
        req.add("To", f"<{reg.impus[0]}>")
        req.add("Call-ID", new_call_id(cfg.host))
        req.add("CSeq", "1 SUBSCRIBE")
        req.add("Event", "reg")
        req.add("Expires", str(SUBSCRIBE_EXPIRES))
        req.add("Contact", f"<sip:pcscf-reg@{cfg.host}:{cfg.port}>")
        req.add("P-Asserted-Identity", f"<{me}>")
        try:
            dest = uri_address(req.routes[0].uri if req.routes else req.uri, cfg.transport)
        except SipError:
            return []
        reg.subscribing = True
        self._by_subscription[req.call_id] = reg

        def answered(resp: Response | None, at: float) -> list[Action]:
            if resp is None or resp.status >= 300:
                reg.subscribing = False
                self._by_subscription.pop(req.call_id, None)
                return []
            if resp.status >= 200:
                try:
                    reg.subscription = Dialog.from_uac_response(req, resp)
                except SipError:
                    reg.subscription = None
                reg.subscribing = False
                if self.registrations.get(reg.contact, {}).get(reg.aor) is reg:
                    self.changed("reg", _reg_key(reg.contact, reg.aor), reg)
            return []

        self.count("reg_subscribe")
        _, actions = self.core.send_request(req, dest, now, answered)
        return actions

    def _on_notify(self, req: Request, now: float) -> Response:
        reg = self._by_subscription.get(req.call_id)
        resp = build_response(req, 200)
        if reg is None:
            return build_response(req, 481, "Subscription does not exist")
        try:
            info = Reginfo.from_xml(req.body) if req.body else None
        except ReginfoError as exc:
            return build_response(req, 400, f"Bad Request ({exc})")
        ended = (req.get("subscription-state") or "").lower().startswith("terminated")
        if info is not None and all(r.state == "terminated" for r in info.registrations if r.aor in reg.impus):
            ended = True
        if ended and self._drop(reg):
            # RFC 3680 §5.4 / TS 24.229 §5.2.3: the registration is over: forget it.
            self._by_subscription.pop(req.call_id, None)
            self.count("deregistered_by_network")
            log.info("registration of %s ended by reg-event NOTIFY", reg.impus[0], extra=log_extra(req))
        return resp


def _reg_key(contact: tuple[str, int], aor: str) -> str:
    return f"{contact[0]}:{contact[1]} {aor}"


def _contact_key(contact: tuple[str, int]) -> str:
    return f"{contact[0]}:{contact[1]}"


def _strip_sec_agree(req: Request) -> None:
    """TS 24.229 §5.2.2.1: sec-agree is between the UE and us; it goes no further."""
    for name in ("Require", "Proxy-Require"):
        values = req.get_all(name)
        if not values:
            continue
        tags = [t.strip() for v in values for t in v.split(",") if t.strip()]
        kept = [t for t in tags if t.lower() != "sec-agree"]
        if len(kept) != len(tags):
            req.remove(name)
            if kept:
                req.add(name, ", ".join(kept))
    req.remove("Security-Verify")


def _same_mechanisms(verify: list[SecurityMechanism], offered: str) -> bool:
    """RFC 3329 §2.3.1 step 4: Security-Verify must repeat our Security-Server."""
    mine = [SecurityMechanism.parse(v) for v in offered.split(",")]
    if len(mine) != len(verify):
        return False
    return all(a.mechanism == b.mechanism and {k.lower(): v for k, v in a.params.items()}
               == {k.lower(): v for k, v in b.params.items()} for a, b in zip(mine, verify))


def _credentials_text(ch: Challenge) -> str:
    from ims.sip.headers import Credentials

    return str(Credentials(ch.scheme, ch.params))
