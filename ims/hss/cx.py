"""The HSS side of Cx (3GPP TS 29.228 §6, TS 29.229 §6): a typed request in, a typed answer out.

:class:`HssCx` is sans-IO in the sense that matters here: it never touches a
socket or the event loop.  ``handle(request)`` takes a typed Cx request
(:mod:`ims.diameter.cx`: UAR, MAR, SAR, LIR) and returns the typed answer,
reading and writing the :class:`~ims.hss.store.Store` - which is SQLite,
so the HSS node calls it on its store thread, never on the trio loop.
``handle_batch`` answers many raw requests under one commit (group commit).
It also builds the HSS-initiated requests, RTR (TS 29.228 §6.1.3) and PPR
(§6.2.2), and records their outcome.

Result codes follow TS 29.228 §6.1.x/§6.3 and TS 29.229 §6.2: Cx codes
(first/subsequent registration, 5001-5009) travel in Experimental-Result
(vendor 10415), base codes (2001 success, 5003 authorization rejected,
5012 unable to comply) in Result-Code.

Not here: transport, routing, peers (``ims.net.diameter``), the node's
wiring (``nodes.hss``).
"""

from __future__ import annotations

import logging
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from typing import Any

from ims.aka.milenage import AkaError, Milenage
from ims.aka.vectors import generate_vector, resync
from ims.diameter import cx
from ims.diameter.codec import DiameterMessage
from ims.diameter.constants import (
    ADMINISTRATIVE_DEREGISTRATION, AUTHENTICATION_FAILURE, AUTHENTICATION_TIMEOUT, DEREGISTRATION_TOO_MUCH_DATA,
    DIAMETER_AUTHORIZATION_REJECTED, DIAMETER_ERROR_AUTH_SCHEME_NOT_SUPPORTED,
    DIAMETER_ERROR_IDENTITIES_DONT_MATCH, DIAMETER_ERROR_IDENTITY_ALREADY_REGISTERED,
    DIAMETER_ERROR_IDENTITY_NOT_REGISTERED, DIAMETER_ERROR_IN_ASSIGNMENT_TYPE, DIAMETER_ERROR_ROAMING_NOT_ALLOWED,
    DIAMETER_ERROR_USER_UNKNOWN, DIAMETER_FIRST_REGISTRATION, DIAMETER_SUBSEQUENT_REGISTRATION,
    DIAMETER_SUCCESS, DIAMETER_UNABLE_TO_COMPLY, DIAMETER_UNREGISTERED_SERVICE, NO_ASSIGNMENT,
    PERMANENT_TERMINATION, RE_REGISTRATION, REGISTRATION, TIMEOUT_DEREGISTRATION,
    TIMEOUT_DEREGISTRATION_STORE_SERVER_NAME, UAT_DE_REGISTRATION, UAT_REGISTRATION_AND_CAPABILITIES,
    UNREGISTERED_USER, USER_DEREGISTRATION, USER_DEREGISTRATION_STORE_SERVER_NAME,
)
from ims.diameter.errors import DiameterError
from ims.diameter.userdata import Ifc, UserData, build_user_data
from ims.hss.store import (
    NOT_REGISTERED, REGISTERED, SCHEME_AKAV1, SCHEME_AKAV2, SCHEME_DIGEST, UNREGISTERED, ImpuRow, Store, Subscriber,
)

log = logging.getLogger("ims.hss")

MAX_VECTORS = 5  # SIP-Number-Auth-Items honoured per MAR (TS 29.228 §6.3: "the HSS may return fewer")
DEREGISTRATIONS = frozenset({TIMEOUT_DEREGISTRATION, USER_DEREGISTRATION, TIMEOUT_DEREGISTRATION_STORE_SERVER_NAME,
                             USER_DEREGISTRATION_STORE_SERVER_NAME, ADMINISTRATIVE_DEREGISTRATION,
                             DEREGISTRATION_TOO_MUCH_DATA})
KEEP_NAME = frozenset({TIMEOUT_DEREGISTRATION_STORE_SERVER_NAME, USER_DEREGISTRATION_STORE_SERVER_NAME})
SERVED = (REGISTERED, UNREGISTERED)


@dataclass
class HssConfig:
    origin_host: str
    origin_realm: str
    home_networks: tuple[str, ...] = ()  # Visited-Network-Identifiers allowed to register (TS 29.228 §6.1.1.1)
    charging_ccf: str = ""  # Primary-Charging-Collection-Function-Name for SAA/PPR (TS 29.229 §6.3.19)


# TS 29.229 §6.3.2 names the schemes; peers differ in case ("unknown" from Kamailio's HSS-Selected) and
# OpenIMSCore-derived S-CSCFs (Kamailio's algorithm MD5) ask for "Digest-MD5" or "Digest" meaning SIP Digest.
_SCHEMES = {s.lower(): s for s in (SCHEME_AKAV1, SCHEME_AKAV2, SCHEME_DIGEST, cx.SCHEME_UNKNOWN)}
_SCHEMES.update({"digest-md5": SCHEME_DIGEST, "digest": SCHEME_DIGEST})


def canonical_scheme(scheme: str) -> str:
    """A SIP-Authentication-Scheme as we store it: matched case-insensitively; unknown names kept as sent."""
    return _SCHEMES.get(scheme.strip().lower(), scheme)


def network_name(value: str) -> str:
    """A Visited-Network-Identifier compared as a network name: the quoted-string form that
    P-Visited-Network-ID allows (RFC 7315 §4.3, ``"ims.example"``, copied verbatim by Kamailio's
    I-CSCF) unquoted, quoted-pairs undone, and case folded (domain names, RFC 4343)."""
    v = value.strip()
    if len(v) >= 2 and v[0] == v[-1] == '"':
        inner, out, i = v[1:-1], [], 0
        while i < len(inner):
            if inner[i] == "\\" and i + 1 < len(inner):
                i += 1
            out.append(inner[i])
            i += 1
        v = "".join(out).strip()
    return v.lower()


class _Reply(Exception):
    """Internal: answer now with this result (experimental: a TS 29.229 code in Experimental-Result)."""

    def __init__(self, result: int, experimental: bool = True, **fields: Any) -> None:
        super().__init__(result)
        self.result = result
        self.experimental = experimental
        self.fields = fields


@dataclass(frozen=True)
class Push:
    """An HSS-initiated request and where it goes: the S-CSCF serving the user."""

    request: cx.CxRequest
    impi: str
    irs: int | None  # the implicit registration set concerned (None: every set of the IMPI)
    server_name: str
    destination_host: str | None


class HssCx:
    def __init__(self, store: Store, config: HssConfig) -> None:
        self.store = store
        self.config = config
        self._milenage: dict[str, tuple[bytes, bytes, Milenage]] = {}
        self._caps: cx.ServerCapabilities | None = None
        self.stats: dict[str, int] = {"UAR": 0, "MAR": 0, "SAR": 0, "LIR": 0, "vectors": 0, "resync": 0,
                                      "errors": 0}

    # -- dispatch ----------------------------------------------------------------
    def handle_batch(self, requests: list[DiameterMessage]) -> list[DiameterMessage | Exception]:
        """Answer many requests under one commit (group commit); each stays atomic on its own."""
        out: list[DiameterMessage | Exception] = []
        with self.store.batch():
            for msg in requests:
                try:
                    with self.store.batch():  # a savepoint: a failed request leaves nothing behind
                        out.append(self.handle_message(msg))
                except Exception as exc:  # noqa: BLE001 - returned to the caller of this one request
                    out.append(exc)
        return out

    def handle_message(self, msg: DiameterMessage) -> DiameterMessage:
        """Raw Cx request -> raw answer; DiameterError (e.g. 5005 with Failed-AVP) for malformed ones."""
        request = cx.parse(msg)
        if not isinstance(request, cx.CxRequest):
            raise DiameterError(3001, f"{msg.summary()} is not a request")
        return self.handle(request).to_message(msg)

    def handle(self, req: cx.CxRequest) -> cx.CxAnswer:
        handlers = {cx.UserAuthorizationRequest: ("UAR", self._uar), cx.MultimediaAuthRequest: ("MAR", self._mar),
                    cx.ServerAssignmentRequest: ("SAR", self._sar), cx.LocationInfoRequest: ("LIR", self._lir)}
        entry = handlers.get(type(req))
        if entry is None:
            raise DiameterError(3001, f"{type(req).__name__} is not served by the HSS")
        name, fn = entry
        self.stats[name] += 1
        try:
            return fn(req)  # type: ignore[operator]
        except _Reply as r:
            self.stats["errors"] += r.result >= 3000
            return self._answer(req, r.result, r.experimental, **{**self._echo(req), **r.fields})

    @staticmethod
    def _echo(req: cx.CxRequest) -> dict[str, Any]:
        """The identities an error answer carries back (TS 29.229 §6.1.8 MAA, §6.1.4 SAA: User-Name,
        Public-Identity), so the S-CSCF matches the answer to its user and reports the real cause
        (Kamailio's ims_auth reads both from every MAA before its result code)."""
        if isinstance(req, cx.MultimediaAuthRequest):
            return {"user_name": req.user_name, "public_identity": req.public_identity}
        if isinstance(req, cx.ServerAssignmentRequest) and req.user_name:
            return {"user_name": req.user_name}
        return {}

    def _answer(self, req: cx.CxRequest, result: int, experimental: bool = False, **fields: Any) -> cx.CxAnswer:
        cls = cx.ANSWERS[req.COMMAND]
        codes = {"experimental_result_code": result} if experimental else {"result_code": result}
        return cls(session_id=req.session_id, origin_host=self.config.origin_host,  # type: ignore[call-arg]
                   origin_realm=self.config.origin_realm, **codes, **fields)

    # -- identities (TS 29.228 §6.1.1.1 steps 1-2, §6.1.2.1, §6.3.1) ---------------------
    def _pair(self, impi: str | None, impu: str) -> tuple[Subscriber, ImpuRow]:
        """The subscriber and the IMPU's row; 5001 if either is unknown, 5002 if they do not belong together."""
        row = self.store.impu_row(impu)
        if row is None:
            raise _Reply(DIAMETER_ERROR_USER_UNKNOWN)
        if impi is not None and impi != row.impi:
            if self.store.get(impi) is None:
                raise _Reply(DIAMETER_ERROR_USER_UNKNOWN)
            raise _Reply(DIAMETER_ERROR_IDENTITIES_DONT_MATCH)
        sub = self.store.get(row.impi)
        if sub is None:  # an IMPU row outliving its IMPI would be a store bug; answer as unknown
            raise _Reply(DIAMETER_ERROR_USER_UNKNOWN)
        return sub, row

    def _capabilities(self) -> cx.ServerCapabilities:
        mand: set[int] = set()
        opt: set[int] = set()
        names = []
        for name, m, o in self.store.scscf_capabilities():
            mand.update(m)
            opt.update(o)
            names.append(name)
        return cx.ServerCapabilities(tuple(sorted(mand)), tuple(sorted(opt)), tuple(names))

    def _served_name(self, sub: Subscriber) -> str | None:
        """The S-CSCF name stored for any identity of the subscription (TS 23.228 §4.3.3.4)."""
        for r in self.store.impu_rows(sub.impi):
            if r.scscf:
                return r.scscf
        return None

    # -- UAR (TS 29.228 §6.1.1) ----------------------------------------------------
    def _uar(self, req: cx.UserAuthorizationRequest) -> cx.CxAnswer:
        sub, row = self._pair(req.user_name, req.public_identity)
        uat = req.user_authorization_type
        if uat != UAT_DE_REGISTRATION:
            # §6.1.1.1 step 3: roaming agreement with the visited network, then barring.
            visited = network_name(req.visited_network_identifier)
            if visited and self.config.home_networks and \
                    visited not in {network_name(n) for n in self.config.home_networks}:
                raise _Reply(DIAMETER_ERROR_ROAMING_NOT_ALLOWED)
            if sub.barred:
                raise _Reply(DIAMETER_AUTHORIZATION_REJECTED, False)
            if row.barred and all(u in sub.barred_impus for u in sub.implicit_set(row.impu)):
                # A barred identity may still register when its implicit set has one that is not.
                raise _Reply(DIAMETER_AUTHORIZATION_REJECTED, False)
            if uat == UAT_REGISTRATION_AND_CAPABILITIES:
                # The I-CSCF asks to pick a new S-CSCF: capabilities, DIAMETER_SUCCESS.
                return self._answer(req, DIAMETER_SUCCESS, server_capabilities=self._capabilities())
        # §6.1.1.1 step 4: the registration state of the Public Identity.
        if row.state in SERVED:
            if uat == UAT_DE_REGISTRATION:
                return self._answer(req, DIAMETER_SUCCESS, server_name=row.scscf)
            return self._answer(req, DIAMETER_SUBSEQUENT_REGISTRATION, True, server_name=row.scscf)
        if uat == UAT_DE_REGISTRATION:
            raise _Reply(DIAMETER_ERROR_IDENTITY_NOT_REGISTERED)
        name = self._served_name(sub)
        if name:  # another set of the subscription is served, or a name was kept / is pending
            return self._answer(req, DIAMETER_SUBSEQUENT_REGISTRATION, True, server_name=name)
        return self._answer(req, DIAMETER_FIRST_REGISTRATION, True, server_capabilities=self._capabilities())

    # -- MAR (TS 29.228 §6.3) ----------------------------------------------------------
    def _mar(self, req: cx.MultimediaAuthRequest) -> cx.CxAnswer:
        sub, row = self._pair(req.user_name, req.public_identity)
        item = req.sip_auth_data_item
        scheme = canonical_scheme(item.sip_authentication_scheme or cx.SCHEME_UNKNOWN)
        if scheme == cx.SCHEME_UNKNOWN:  # §6.3.1: the HSS picks the scheme of the subscription
            scheme = sub.auth_schemes[0]
        if scheme not in sub.auth_schemes:
            raise _Reply(DIAMETER_ERROR_AUTH_SCHEME_NOT_SUPPORTED)
        # §6.3.1: store the Server-Name when no S-CSCF serves the user yet; never overwrite the
        # S-CSCF of a registered user here (its SAR REGISTRATION moves the user, §6.1.2.1).
        host = req.origin_host
        if row.scscf != req.server_name and row.state == NOT_REGISTERED:
            self.store.set_pending_scscf(sub.impi, req.server_name, host)
        fields: dict[str, Any] = {"user_name": sub.impi, "public_identity": req.public_identity}
        if scheme == SCHEME_DIGEST:
            if not sub.ha1:
                raise _Reply(DIAMETER_ERROR_AUTH_SCHEME_NOT_SUPPORTED)
            digest = cx.SipDigestAuthenticate(sub.impi.partition("@")[2], sub.ha1, "MD5", "auth")
            fields["sip_auth_data_items"] = [cx.SipAuthDataItem(SCHEME_DIGEST, 1, sip_digest_authenticate=digest)]
            return self._answer(req, DIAMETER_SUCCESS, **fields)
        assert scheme in (SCHEME_AKAV1, SCHEME_AKAV2)
        m = self._milenage_for(sub)
        auth = item.sip_authorization
        if auth is not None and len(auth) == 30:
            # §6.3.1 / TS 33.203 §6.1.2: SIP-Authorization = RAND || AUTS after an SQN failure.
            try:
                sqn_ms = resync(sub.k, sub.opc, auth[:16], auth[16:], milenage=m)
            except AkaError as exc:
                log.warning("resync for %s refused: %s", sub.impi, exc)
                raise _Reply(DIAMETER_UNABLE_TO_COMPLY, False) from None
            self.store.resync_sqn(sub.impi, sqn_ms)
            self.stats["resync"] += 1
        count = max(1, min(req.sip_number_auth_items, MAX_VECTORS))
        sqns = self.store.reserve_sqns(sub.impi, count)  # committed (with the batch) before the MAA leaves
        items = []
        for n, sqn in enumerate(sqns, 1):
            v = generate_vector(sub.k, sub.opc, sqn, sub.amf, milenage=m)
            items.append(cx.SipAuthDataItem(scheme, n, v.rand + v.autn, v.xres, v.ck, v.ik))
        self.stats["vectors"] += len(items)
        fields["sip_auth_data_items"] = items
        return self._answer(req, DIAMETER_SUCCESS, **fields)

    def _milenage_for(self, sub: Subscriber) -> Milenage:
        cached = self._milenage.get(sub.impi)
        if cached is None or cached[0] != sub.k or cached[1] != sub.opc:
            cached = (sub.k, sub.opc, Milenage(sub.k, opc=sub.opc))
            self._milenage[sub.impi] = cached
        return cached[2]

    # -- SAR (TS 29.228 §6.1.2) ---------------------------------------------------------
    def _sar(self, req: cx.ServerAssignmentRequest) -> cx.CxAnswer:
        sat = req.server_assignment_type
        if req.public_identities:
            sub, row = self._pair(req.user_name, req.public_identities[0])
            sets: list[int] | None = sorted({self._irs_of(sub, u) for u in req.public_identities})
            rows = [r for r in self.store.impu_rows(sub.impi) if r.irs in sets]
        elif req.user_name:
            found = self.store.get(req.user_name)
            if found is None:
                raise _Reply(DIAMETER_ERROR_USER_UNKNOWN)
            sub, sets = found, None  # §6.1.2.1: no Public-Identity - every identity of the IMPI
            rows = self.store.impu_rows(sub.impi)
            row = rows[0]
        else:
            raise cx.missing_avp(cx.PUBLIC_IDENTITY, cx.V, "Public-Identity")  # 5005 (RFC 6733 §7.1.5)
        server = req.server_name
        assigned = next((r.scscf for r in rows if r.scscf), None)
        registered_elsewhere = any(r.state in SERVED and r.scscf and r.scscf != server for r in rows)
        fields: dict[str, Any] = {"user_name": sub.impi}
        charging = (cx.ChargingInformation(primary_charging_collection_function_name=self.config.charging_ccf)
                    if self.config.charging_ccf else None)
        if sat in (REGISTRATION, RE_REGISTRATION):
            if sat == RE_REGISTRATION and not any(r.state == REGISTERED and r.scscf == server for r in rows):
                raise _Reply(DIAMETER_ERROR_IN_ASSIGNMENT_TYPE)  # re-registration of a user not registered here
            # A REGISTRATION from a new S-CSCF moves the user there (the old one lost it, TS 23.228 §5.3.1).
            self._assign(sub, sets, REGISTERED, server, req.origin_host)
            return self._answer(req, DIAMETER_SUCCESS, **fields, user_data=self.user_data(sub, sets),
                                charging_information=charging)
        if sat == UNREGISTERED_USER:
            if registered_elsewhere:
                raise _Reply(DIAMETER_ERROR_IDENTITY_ALREADY_REGISTERED)
            if not any(r.state == REGISTERED for r in rows):  # §6.1.2.1: a registered user stays registered
                self._assign(sub, sets, UNREGISTERED, server, req.origin_host)
            return self._answer(req, DIAMETER_SUCCESS, **fields, user_data=self.user_data(sub, sets),
                                charging_information=charging)
        if sat == NO_ASSIGNMENT:  # the S-CSCF only wants the profile; it must be the assigned one
            if assigned != server:
                raise _Reply(DIAMETER_UNABLE_TO_COMPLY, False)
            return self._answer(req, DIAMETER_SUCCESS, **fields, user_data=self.user_data(sub, sets),
                                charging_information=charging)
        if sat in DEREGISTRATIONS:
            if assigned and assigned != server:
                raise _Reply(DIAMETER_ERROR_IN_ASSIGNMENT_TYPE)  # only the serving S-CSCF deregisters
            for irs in (sets if sets is not None else [None]):
                self.store.deregister(sub.impi, irs, keep_server_name=sat in KEEP_NAME)
            return self._answer(req, DIAMETER_SUCCESS, **fields)
        if sat in (AUTHENTICATION_FAILURE, AUTHENTICATION_TIMEOUT):
            # §6.1.2.1: a failed initial registration releases the pending S-CSCF; a registered user is kept.
            if not any(r.state in SERVED for r in self.store.impu_rows(sub.impi)):
                self.store.deregister(sub.impi, None)
            return self._answer(req, DIAMETER_SUCCESS, **fields)
        raise _Reply(DIAMETER_ERROR_IN_ASSIGNMENT_TYPE)

    def _irs_of(self, sub: Subscriber, impu: str) -> int:
        if impu not in sub.impus:
            raise _Reply(DIAMETER_ERROR_IDENTITIES_DONT_MATCH)
        return sub.irs[sub.impus.index(impu)]

    def _assign(self, sub: Subscriber, sets: list[int] | None, state: str, server: str, host: str | None) -> None:
        for irs in (sets if sets is not None else [None]):
            self.store.assign(sub.impi, irs, state, server, host)

    # -- LIR (TS 29.228 §6.1.4) ----------------------------------------------------------
    def _lir(self, req: cx.LocationInfoRequest) -> cx.CxAnswer:
        row = self.store.impu_row(req.public_identity)
        if row is None:
            raise _Reply(DIAMETER_ERROR_USER_UNKNOWN)
        if row.state in SERVED and row.scscf:
            return self._answer(req, DIAMETER_SUCCESS, server_name=row.scscf)
        sub = self.store.get(row.impi)
        if sub is not None and self._unregistered_services(sub, row.impu):
            # Terminating services for an unregistered user: an S-CSCF must serve it (§6.1.4.1).
            name = self._served_name(sub)
            if name:
                return self._answer(req, DIAMETER_UNREGISTERED_SERVICE, True, server_name=name)
            return self._answer(req, DIAMETER_UNREGISTERED_SERVICE, True, server_capabilities=self._capabilities())
        raise _Reply(DIAMETER_ERROR_IDENTITY_NOT_REGISTERED)

    def _unregistered_services(self, sub: Subscriber, impu: str) -> bool:
        """iFCs that apply to the terminating-unregistered session case (TS 29.228 Annex B.2.2, SessionCase 2)."""
        ifcs, xml = self.store.service_profile(sub.profile_of(impu))
        for d in ifcs:
            case = (d.get("trigger") or {}).get("session_case")
            if case in (None, "terminating_unregistered", 2):
                return True
        return bool(xml) and ("<SessionCase>2</SessionCase>" in xml or "<SessionCase>" not in xml)

    # -- User-Data (TS 29.228 Annex E) -----------------------------------------------------
    def user_data(self, sub: Subscriber, sets: list[int] | None = None) -> str:
        """<IMSSubscription> with one <ServiceProfile> per implicit registration set in ``sets`` (all when None)."""
        root = ET.Element("IMSSubscription")
        ET.SubElement(root, "PrivateID").text = sub.impi
        groups: dict[int, list[str]] = {}
        for u, s in zip(sub.impus, sub.irs):
            if sets is None or s in sets:
                groups.setdefault(s, []).append(u)
        for impus in groups.values():
            ifcs, xml = self.store.service_profile(sub.profile_of(impus[0]))
            barred = set(impus) if sub.barred else {u for u in impus if u in sub.barred_impus}
            doc = ET.fromstring(build_user_data(UserData(sub.impi, impus, [Ifc.from_dict(d) for d in ifcs],
                                                         barred)).encode())
            for profile in doc.iter("ServiceProfile"):
                if xml:  # operator-written iFC fragments, kept verbatim after the structured ones
                    profile.extend(ET.fromstring(f"<ifcs>{xml}</ifcs>"))
                root.append(profile)
        return '<?xml version="1.0" encoding="UTF-8"?>' + ET.tostring(root, encoding="unicode")

    # -- HSS-initiated (TS 29.228 §6.1.3, §6.2.2) ------------------------------------------
    def build_rtr(self, identity: str, reason: int = PERMANENT_TERMINATION, info: str = "") -> Push:
        """RTR to the S-CSCF serving ``identity`` (an IMPI: every set; an IMPU: its implicit set)."""
        impi = self.store.impi_of(identity)
        sub = self.store.get(impi) if impi else None
        if sub is None:
            raise DiameterError(DIAMETER_ERROR_USER_UNKNOWN, f"unknown identity {identity}", experimental=True)
        irs = sub.irs[sub.impus.index(identity)] if identity in sub.impus else None
        rows = [r for r in self.store.impu_rows(sub.impi) if irs is None or r.irs == irs]
        served = [r for r in rows if r.scscf and r.state in SERVED]
        if not served:
            raise DiameterError(DIAMETER_ERROR_IDENTITY_NOT_REGISTERED, f"no S-CSCF serves {identity}",
                                experimental=True)
        rtr = cx.RegistrationTerminationRequest(
            user_name=sub.impi, public_identities=[r.impu for r in served],
            deregistration_reason=cx.DeregistrationReason(reason, info or None),
            origin_host=self.config.origin_host, origin_realm=self.config.origin_realm,
            destination_realm=self.config.origin_realm, destination_host=served[0].scscf_host)
        return Push(rtr, sub.impi, irs, served[0].scscf or "", served[0].scscf_host)

    def build_ppr(self, identity: str) -> Push | None:
        """PPR with the current User-Data of the served sets after a profile change; None if no S-CSCF serves."""
        impi = self.store.impi_of(identity)
        sub = self.store.get(impi) if impi else None
        if sub is None:
            raise DiameterError(DIAMETER_ERROR_USER_UNKNOWN, f"unknown identity {identity}", experimental=True)
        served = [r for r in self.store.impu_rows(sub.impi) if r.scscf and r.state in SERVED]
        if not served:
            return None
        sets = sorted({r.irs for r in served})
        charging = (cx.ChargingInformation(primary_charging_collection_function_name=self.config.charging_ccf)
                    if self.config.charging_ccf else None)
        ppr = cx.PushProfileRequest(user_name=sub.impi, user_data=self.user_data(sub, sets),
                                    charging_information=charging, origin_host=self.config.origin_host,
                                    origin_realm=self.config.origin_realm, destination_realm=self.config.origin_realm,
                                    destination_host=served[0].scscf_host)
        return Push(ppr, sub.impi, None, served[0].scscf or "", served[0].scscf_host)

    def rtr_answered(self, push: Push, result: int | None) -> None:
        """RTA DIAMETER_SUCCESS: the S-CSCF let the identities go (TS 29.228 §6.1.3.1)."""
        if result == DIAMETER_SUCCESS:
            self.store.deregister(push.impi, push.irs)


def answer_rtr(req: DiameterMessage, origin_host: str, origin_realm: str) -> DiameterMessage:
    """The S-CSCF side, for tests and tools: acknowledge an RTR (TS 29.229 §6.1.10) or a PPR (§6.1.12)."""
    return cx.answer(req, origin_host, origin_realm, DIAMETER_SUCCESS)


answer_ppr = answer_rtr
