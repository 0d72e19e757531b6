"""The I-CSCF: the home network's entry point; asks the HSS which S-CSCF serves a user (TS 24.229 §5.3).

REGISTER (§5.3.1.2): UAR (TS 29.228 §6.1.1) with the IMPI from the
Authorization username (or derived from the IMPU), the IMPU from To, the
visited network from P-Visited-Network-ID and the authorization type from
the expiry (0: DE_REGISTRATION).  The UAA names an S-CSCF (subsequent
registration) or gives Server-Capabilities (first registration), which are
matched against the S-CSCFs the topology lists (all mandatory capabilities,
then the most optional ones, §5.3.1.2 / TS 29.228 §6.7).  The REGISTER goes
to that S-CSCF; when it cannot be reached (a 408 or 503 of the hop, not an
answer such as 401) the other S-CSCFs of the topology that have the
capabilities are tried in turn (§5.3.1.3; a lab shortcut for the UAR with
REGISTRATION_AND_CAPABILITIES).  The I-CSCF reaches S-CSCFs over TCP when
they offer it, so a dead one is known at once (connection refused) rather
than after Timer F.

Other initial requests (§5.3.2): LIR (TS 29.228 §6.1.4) for the
Request-URI; the named (or chosen) S-CSCF gets the request with a Route to
it.  UAA/LIA errors map to SIP as §5.3.1.2 and §5.3.2.1 say: user unknown
-> 403 (REGISTER) / 404 (others), identities don't match -> 403, roaming not
allowed -> 403, authorization rejected -> 403, not registered -> 480, no
answer -> 480 (REGISTER: 480 too, §5.3.1.3), anything else -> 500.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from ims.cscf.common import CscfApp, aor_key, log_extra, route_value, telephone_number
from ims.diameter import cx
from ims.diameter.constants import (
    DIAMETER_FIRST_REGISTRATION, DIAMETER_SUBSEQUENT_REGISTRATION, DIAMETER_SUCCESS, DIAMETER_UNREGISTERED_SERVICE,
    UAT_DE_REGISTRATION, UAT_REGISTRATION,
)
from ims.sip.errors import SipError
from ims.sip.events import Action, Address, TimerConfig
from ims.sip.message import Request, Response, build_response, new_tag
from ims.sip.proxy import Defer, Forward, ProxyCore, Reject, Target
from ims.sip.uri import SipURI, TelURI

log = logging.getLogger("ims.cscf.icscf")


@dataclass(frozen=True, slots=True)
class ScscfEntry:
    """An S-CSCF of this network as the topology describes it."""

    name: str  # its Server-Name (sip:host:port)
    address: Address
    mandatory: frozenset[int] = frozenset()
    optional: frozenset[int] = frozenset()


@dataclass
class IcscfConfig:
    domain: str
    host: str
    port: int
    transport: str = "udp"
    scscfs: list[ScscfEntry] = field(default_factory=list)
    visited_network: str = ""  # used when a REGISTER carries no P-Visited-Network-ID
    timers: TimerConfig = TimerConfig()


def select_scscf(scscfs: list[ScscfEntry], mandatory: set[int] | tuple[int, ...],
                 optional: set[int] | tuple[int, ...], names: tuple[str, ...] = (),
                 exclude: set[str] | frozenset[str] = frozenset()) -> ScscfEntry | None:
    """TS 29.228 §6.7 / TS 24.229 §5.3.1.2: a server name the HSS gave that we know, else the S-CSCF
    with every mandatory capability and the most optional ones (topology order breaks ties)."""
    usable = [s for s in scscfs if s.name not in exclude]
    for n in names:
        for s in usable:
            if s.name == n:
                return s
    fit = [s for s in usable if set(mandatory) <= (s.mandatory | s.optional)]
    if not fit:
        return None
    return max(fit, key=lambda s: (len(set(optional) & (s.mandatory | s.optional)), -usable.index(s)))


class Icscf(CscfApp):
    def __init__(self, config: IcscfConfig) -> None:
        super().__init__()
        self.config = config
        self.core = ProxyCore(local=Address(config.host, config.port, config.transport), domain=config.domain,
                              route=self._route, local_requests=self._local, timers=config.timers,
                              record_route=False, always_route=True)
        self._by_name = {s.name: s for s in config.scscfs}

    def _scscf(self, name: str | None) -> ScscfEntry | None:
        if not name:
            return None
        entry = self._by_name.get(name)
        if entry is None:
            # A name we do not list (another topology's S-CSCF): route to it as a SIP URI.
            try:
                uri = SipURI.parse(name)
            except SipError:
                return None
            entry = ScscfEntry(name, Address(uri.host, uri.port or 5060, uri.transport or "udp"))
        return entry

    # -- REGISTER ----------------------------------------------------------------------
    def _local(self, req: Request, source: Address, now: float) -> Response | Defer | None:
        if req.method == "REGISTER":
            return Defer(lambda key: self._uar(key, req, UAT_REGISTRATION, frozenset()))
        if req.method == "OPTIONS" and self.core.is_ours(req.uri):
            return build_response(req, 200, to_tag=new_tag())
        return None

    def _uar(self, key: tuple, req: Request, uat: int, tried: frozenset[str]) -> None:
        creds = next((c for c in req.authorization if c.scheme.lower() == "digest"), None)
        impu = str(req.to.uri)
        impi = (creds.get("username") if creds else None) or _impi_from(req)
        expires = _expiry(req)
        if expires == 0 and uat == UAT_REGISTRATION:
            uat = UAT_DE_REGISTRATION
        visited = (req.p_visited_network_id or [self.config.visited_network or self.config.domain])[0].strip('"')
        uar = cx.UserAuthorizationRequest(user_name=impi, public_identity=impu, visited_network_identifier=visited,
                                          user_authorization_type=uat)

        def answered(uaa: cx.CxAnswer | None, at: float) -> list[Action]:
            if uaa is None:
                return self._reply(key, req, 480, "Temporarily Unavailable (no answer from the HSS)", at)
            result = uaa.result
            if result not in (DIAMETER_SUCCESS, DIAMETER_FIRST_REGISTRATION, DIAMETER_SUBSEQUENT_REGISTRATION):
                status, reason = _uaa_error(result)
                log.info("UAR %s -> %s -> %d", impu, result, status, extra=log_extra(req, impu=impu))
                return self._reply(key, req, status, reason, at)
            assert isinstance(uaa, cx.UserAuthorizationAnswer)
            target = self._scscf(uaa.server_name) if uaa.server_name and uaa.server_name not in tried else None
            if target is None and uaa.server_capabilities is not None:
                caps = uaa.server_capabilities
                target = select_scscf(self.config.scscfs, caps.mandatory, caps.optional, caps.server_names,
                                      exclude=tried)
            if target is None:
                return self._reply(key, req, 600, "Busy Everywhere (no S-CSCF has the capabilities required)", at)
            self.count("register_forwarded")
            log.debug("REGISTER %s: UAA %s -> S-CSCF %s", impu, result, target.name, extra=log_extra(req, impu=impu))
            # §5.3.1.3: an S-CSCF that cannot be reached is replaced by another able one (tried in order
            # when the first is unreachable: 408/503, never after it answered).
            caps = uaa.server_capabilities
            others = [s for s in self.config.scscfs if s.name != target.name and (
                caps is None or set(caps.mandatory) <= (s.mandatory | s.optional))]
            targets = [Target(req.uri, dest=s.address) for s in [target, *others]]
            return self.core.resume(key, Forward(targets, parallel=False, record_route=False,
                                                 retry_on=frozenset({408, 503})), at)

        self.query(uar, answered)

    def _reply(self, key: tuple, req: Request, status: int, reason: str, now: float) -> list[Action]:
        return self.core.resume(key, build_response(req, status, reason, to_tag=new_tag()), now)

    # -- terminating requests -----------------------------------------------------------
    def _route(self, req: Request) -> Forward | Reject | Defer:
        if req.to.tag or req.method == "ACK":
            return Forward([Target(req.uri)], record_route=False)
        return Defer(lambda key: self._lir(key, req))

    def _lir(self, key: tuple, req: Request) -> None:
        uri = req.uri
        number = telephone_number(uri)
        impu = f"tel:{number}" if number is not None and not isinstance(uri, TelURI) else str(uri)
        try:
            aor_key(impu)
        except SipError:
            impu = str(uri)
        lir = cx.LocationInfoRequest(public_identity=impu)

        def answered(lia: cx.CxAnswer | None, at: float) -> list[Action]:
            if lia is None:
                return self.core.resume(key, Reject(480, "Temporarily Unavailable (no answer from the HSS)"), at)
            result = lia.result
            if result not in (DIAMETER_SUCCESS, DIAMETER_UNREGISTERED_SERVICE):
                status, reason = _lia_error(result)
                log.info("LIR %s -> %s -> %d", impu, result, status, extra=log_extra(req, impu=impu))
                return self.core.resume(key, Reject(status, reason), at)
            assert isinstance(lia, cx.LocationInfoAnswer)
            target = self._scscf(lia.server_name)
            if target is None and lia.server_capabilities is not None:
                caps = lia.server_capabilities
                target = select_scscf(self.config.scscfs, caps.mandatory, caps.optional, caps.server_names)
            if target is None:
                return self.core.resume(key, Reject(480, "Temporarily Unavailable (no S-CSCF for the callee)"), at)
            self.count("terminating_forwarded")
            log.debug("%s %s: LIA %s -> S-CSCF %s", req.method, impu, result, target.name,
                     extra=log_extra(req, impu=impu))
            route = route_value(target.address.host, target.address.port, None, target.address.transport)
            return self.core.resume(key, Forward([Target(req.uri, path=(route,))], record_route=False), at)

        self.query(lir, answered)


def _impi_from(req: Request) -> str:
    u = req.to.uri
    if isinstance(u, SipURI) and u.user:
        return f"{u.user}@{u.host}"
    return str(u)


def _expiry(req: Request) -> int | None:
    contacts = [c for c in req.contacts if not c.is_star]
    if contacts and contacts[0].expires is not None:
        return contacts[0].expires
    return req.expires


def _uaa_error(result: int | None) -> tuple[int, str]:
    """TS 24.229 §5.3.1.2 / TS 29.228 Table 6.1.1: UAA results that end the registration."""
    return {5001: (403, "Forbidden (user unknown)"), 5002: (403, "Forbidden (identities do not match)"),
            5004: (403, "Forbidden (roaming not allowed)"), 5003: (403, "Forbidden (authorization rejected)"),
            5012: (500, "Server Internal Error (the HSS cannot comply)"),
            3002: (480, "Temporarily Unavailable (HSS unreachable)"),
            3003: (480, "Temporarily Unavailable (HSS unreachable)")}.get(
        result or 0, (500, f"Server Internal Error (UAA result {result})"))


def _lia_error(result: int | None) -> tuple[int, str]:
    """TS 24.229 §5.3.2.1: LIA results toward the caller."""
    return {5001: (404, "Not Found (user unknown)"), 5003: (480, "Temporarily Unavailable (not registered)"),
            3002: (480, "Temporarily Unavailable (HSS unreachable)"),
            3003: (480, "Temporarily Unavailable (HSS unreachable)")}.get(
        result or 0, (500, f"Server Internal Error (LIA result {result})"))
