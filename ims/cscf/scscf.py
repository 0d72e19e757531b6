"""The S-CSCF: IMS registrar with AKA/Digest, reg-event notifier, and session routing (TS 24.229 §5.4).

Registration (§5.4.1):

* REGISTER without a usable answer: MAR for one vector (TS 29.228 §6.3),
  401 with ``WWW-Authenticate: Digest realm, nonce=base64(RAND||AUTN),
  algorithm=AKAv1-MD5, qop="auth", ik, ck`` (the P-CSCF takes IK/CK off,
  TS 33.203 §7.1) or, for an MD5 subscriber, a nonce of ours and H(A1) kept
  from the MAA;
* an answer with ``auts``: MAR with RAND||AUTS (resynchronisation,
  TS 33.203 §6.3.3), a fresh 401;
* a wrong answer, or an empty one to our challenge (the UE rejected the
  network: MAC failure): 403 (§5.4.1.2.3);
* a right answer: SAR REGISTRATION or RE_REGISTRATION (§5.4.1.2.2 step 5),
  the profile (TS 29.228 Annex E) kept, 200 with Path echo (RFC 3327),
  Service-Route ``<sip:orig@scscf;lr>`` (RFC 3608), P-Associated-URI (the
  implicit set, RFC 7315 §4.1) and every contact with its expiry;
* ``Expires: 0``: SAR USER_DEREGISTRATION when the last contact goes
  (§5.4.1.4); expiry: SAR TIMEOUT_DEREGISTRATION (§5.4.1.5);
* RTR (network-initiated deregistration, TS 29.228 §6.1.3): bindings gone,
  NOTIFY terminated; PPR (§6.1.4): the new profile replaces the old.

Reg event (RFC 3680, §5.4.2.1): SUBSCRIBE ``Event: reg`` to a served identity
(from the UE or its P-CSCF) gets 200 and a NOTIFY with the full reginfo;
every registration change NOTIFYs every subscriber.

Sessions (§5.4.3): a request whose removed Route is ``sip:orig@`` is
originating for the P-Asserted-Identity; others for a served identity are
terminating.  iFCs (``ims.cscf.ifc``) send the request to an application
server with a Route back to us carrying an ODI token (§5.4.3.2 step 4);
then originating requests go to the home I-CSCF (home identities, after a
lab ENUM of the topology's numbers for tel: URIs), another operator's
I-CSCF, or the BGCF for numbers no ENUM knows; terminating requests fork to
every registered contact along its Path with P-Called-Party-ID (RFC 7315
§4.2).  Both legs are Record-Routed.

Restart (what Kamailio's ims_usrloc_scscf keeps in its DB modes): each
implicit set served (``UserRecord``: IMPI, IMPUs, iFCs and barring from the
SAA, registered, contacts with expiry/Path/Call-ID/CSeq, reg-event
subscription dialogs and the reginfo version) is reported as a ``user``
record whenever it changes; ``restore`` brings them back, so a registered
user stays reachable and a re-REGISTER is a RE_REGISTRATION with
User-Data-Already-Available (no new profile).  Pending challenges and ODI
tokens are not kept: a REGISTER or AS-routed request in flight at a crash is
retried by its sender.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from functools import cached_property

from ims.cscf.common import CscfApp, aor_key, log_extra, route_value, telephone_number
from ims.cscf.ifc import (
    ORIGINATING, ORIGINATING_UNREGISTERED, TERMINATING_REGISTERED, TERMINATING_UNREGISTERED, first_match,
)
from ims.cscf.reginfo import CONTENT_TYPE as REGINFO, ContactInfo, Reginfo, RegistrationInfo
from ims.cscf.store import Persist, Record, StoredRecord, dialog_from_record, dialog_record
from ims.diameter import cx
from ims.diameter.constants import (
    DIAMETER_SUCCESS, RE_REGISTRATION, REGISTRATION, TIMEOUT_DEREGISTRATION, UNREGISTERED_USER,
    USER_DEREGISTRATION,
)
from ims.diameter.userdata import Ifc, UserDataError, parse_user_data
from ims.sip.auth import aka_nonce, aka_password, build_challenge, resync_authorization, verify_response
from ims.sip.dialog import Dialog, uri_address
from ims.sip.errors import SipError
from ims.sip.events import Action, Address, SendMessage, TimerConfig
from ims.sip.headers import Credentials
from ims.sip.message import Request, Response, build_response, new_branch, new_tag
from ims.sip.proxy import Defer, Forward, ProxyCore, Reject, Target
from ims.sip.registrar import IMS_REGISTRAR_EXTENSIONS, refuse_unsupported
from ims.sip.uri import NameAddr, SipURI, parse_uri

log = logging.getLogger("ims.cscf.scscf")

AKA_ALGORITHMS = {"AKAV1-MD5": cx.SCHEME_AKAV1, "AKAV2-MD5": cx.SCHEME_AKAV2}
NONCE_LIFETIME = 30.0  # seconds a challenge stays answerable


@dataclass
class Binding:
    uri: SipURI
    expires_at: float
    path: tuple[str, ...]
    call_id: str
    cseq: int
    instance: str | None = None


@dataclass
class RegSubscription:
    dialog: Dialog
    expires_at: float
    dest_transport: str = "udp"


@dataclass
class UserRecord:
    """One implicit registration set as this S-CSCF serves it."""

    impi: str
    impus: list[str]
    ifcs: list[Ifc] = field(default_factory=list)
    barred: set[str] = field(default_factory=set)
    registered: bool = False
    bindings: dict[str, Binding] = field(default_factory=dict)  # contact URI text -> binding
    subscriptions: dict[tuple[str, str], RegSubscription] = field(default_factory=dict)  # (call-id, our tag)
    version: int = 0

    def keys(self) -> list[str]:
        return [aor_key(u) for u in self.impus]

    @cached_property
    def first_key(self) -> str:
        return aor_key(self.impus[0])

    @property
    def store_key(self) -> str:
        """Its key in the state file: the IMPI and the first public identity of the set."""
        return f"{self.impi} {self.first_key}"


@dataclass
class Challenge:
    scheme: str
    nonce: str
    impu: str
    expires_at: float
    xres: bytes = b""
    ck: bytes = b""
    ik: bytes = b""
    ha1: str = ""


@dataclass
class ScscfConfig:
    domain: str
    host: str
    port: int
    transport: str = "udp"
    icscf: Address | None = None  # the home I-CSCF (terminating requests to home identities)
    bgcf: Address | None = None
    peers: dict[str, Address] = field(default_factory=dict)  # other operators' domain -> their I-CSCF
    enum: dict[str, str] = field(default_factory=dict)  # +E.164 -> sip: IMPU (the lab's ENUM)
    servers: dict[str, str] = field(default_factory=dict)  # iFC server names -> sip: URI
    min_expires: int = 60
    max_expires: int = 3600
    timers: TimerConfig = TimerConfig()

    @property
    def server_name(self) -> str:
        """Our Server-Name in Cx (the lab convention the HSS provisioning uses)."""
        return f"sip:{self.host}:{self.port}"


class Scscf(CscfApp):
    def __init__(self, config: ScscfConfig) -> None:
        super().__init__()
        self.config = config
        self.core = ProxyCore(local=Address(config.host, config.port, config.transport), domain=config.domain,
                              route=self._route, local_requests=self._local, timers=config.timers,
                              always_route=True)
        self.users: dict[str, UserRecord] = {}  # identity key -> its implicit set
        self.challenges: dict[str, Challenge] = {}  # IMPI -> the challenge it must answer
        self._expiry_armed: set[tuple[str, str]] = set()  # (IMPU, contact) with an expiry timer
        # ODI token -> (served identity, session case, priority of the iFC applied, its profile)
        self._odi: dict[str, tuple[str, int, int, UserRecord]] = {}

    # -- helpers ---------------------------------------------------------------------
    def _record(self, uri: str) -> UserRecord | None:
        try:
            return self.users.get(aor_key(uri))
        except SipError:
            return None

    def _store(self, rec: UserRecord) -> None:
        for k in rec.keys():
            self.users[k] = rec
        self.changed("user", rec.store_key, rec)

    def _drop(self, rec: UserRecord) -> None:
        gone = False
        for k in rec.keys():
            if self.users.get(k) is rec:
                del self.users[k]
                gone = True
        if gone:
            self.changed("user", rec.store_key, None)

    def _touch(self, rec: UserRecord) -> None:
        """A served set changed (contacts, subscriptions, version): its record is written again."""
        if self.persisting and self.users.get(rec.first_key) is rec:
            self.changed("user", rec.store_key, rec)

    # -- the state file (ims.cscf.store) ---------------------------------------------------
    def snapshot(self, kind: str, key: str, obj: object, now: float) -> Persist:
        assert isinstance(obj, UserRecord), kind
        off = self.wall_offset
        record: Record = {
            "impi": obj.impi, "impus": obj.impus, "ifcs": [asdict(i) for i in obj.ifcs],
            "barred": sorted(obj.barred), "registered": obj.registered, "version": obj.version,
            "bindings": [{"contact": k, "uri": str(b.uri), "expires_at": b.expires_at + off, "path": list(b.path),
                          "call_id": b.call_id, "cseq": b.cseq, "instance": b.instance}
                         for k, b in obj.bindings.items()],
            "subscriptions": [{"expires_at": sub.expires_at + off, "dest_transport": sub.dest_transport,
                               "dialog": dialog_record(sub.dialog)} for sub in obj.subscriptions.values()]}
        latest = max((b.expires_at for b in obj.bindings.values()), default=now)
        return Persist(kind, key, record, latest + off)

    def restore(self, records: list[StoredRecord], now: float) -> list[Action]:
        """The sets served before a restart, with their contacts still unexpired; expiry timers armed again."""
        off = self.wall_offset
        for stored in records:
            if stored.kind != "user":
                continue
            try:
                r = stored.record
                rec = UserRecord(str(r["impi"]), [str(u) for u in r["impus"]], [Ifc(**i) for i in r["ifcs"]],
                                 {str(b) for b in r["barred"]}, bool(r["registered"]), version=int(r["version"]))
                for b in r["bindings"]:
                    expires_at = float(b["expires_at"]) - off
                    uri = parse_uri(str(b["uri"]))
                    if expires_at <= now or not isinstance(uri, SipURI):
                        continue
                    rec.bindings[str(b["contact"])] = Binding(uri, expires_at, tuple(b["path"]), str(b["call_id"]),
                                                              int(b["cseq"]), b["instance"])
                for sub in r["subscriptions"]:
                    dialog = dialog_from_record(sub["dialog"])
                    rec.subscriptions[(dialog.call_id, dialog.local_tag)] = RegSubscription(
                        dialog, float(sub["expires_at"]) - off, str(sub["dest_transport"]))
                keys = rec.keys()
            except (KeyError, TypeError, ValueError, SipError) as exc:  # a record this version cannot read
                log.warning("state record %s dropped: %s", stored.key, exc)
                self.changed(stored.kind, stored.key, None)
                continue
            if rec.registered and not rec.bindings:
                continue  # every contact ran out while we were down
            for k in keys:
                self.users[k] = rec
            for contact, b in rec.bindings.items():
                self._arm_expiry(rec.impus[0], contact, b.expires_at + 0.5)
            self.count("restored_sets")
        return []

    def registrations(self) -> int:
        return len({id(r) for r in self.users.values() if r.registered})

    def stats(self) -> dict[str, int]:
        return {**super().stats(), "registered_sets": self.registrations(),
                "contacts": sum(len(r.bindings) for r in {id(r): r for r in self.users.values()}.values())}

    # -- local requests: REGISTER, SUBSCRIBE reg, OPTIONS --------------------------------
    def _local(self, req: Request, source: Address, now: float) -> list[Action] | Response | Defer | None:
        if req.method == "REGISTER":
            return self._register(req, now)
        if req.method == "SUBSCRIBE" and (req.event or "").split(";")[0].strip().lower() == "reg":
            return self._subscribe(req, now)
        if req.method == "OPTIONS" and self.core.is_ours(req.uri):
            resp = build_response(req, 200, to_tag=new_tag())
            resp.add("Allow", "INVITE, ACK, CANCEL, BYE, OPTIONS, REGISTER, SUBSCRIBE, NOTIFY, PRACK, UPDATE, MESSAGE")
            return resp
        return None

    def _register(self, req: Request, now: float) -> Response | Defer:
        refused = refuse_unsupported(req, IMS_REGISTRAR_EXTENSIONS)  # RFC 3261 §10.3 step 2: 420
        if refused is not None:
            return refused
        impu = str(req.to.uri)
        try:
            impu_key = aor_key(req.to.uri)
        except SipError as exc:
            return build_response(req, 400, exc.reason, to_tag=new_tag())
        creds = next((c for c in req.authorization if c.scheme.lower() == "digest"), None)
        impi = (creds.get("username") if creds else None) or _impi_from(impu)
        expires = _requested_expiry(req)
        rec = self._record(impu)
        if expires == 0 and rec is not None and rec.registered and rec.impi == impi:
            return Defer(lambda key: self._deregister_contacts(key, req, rec, now))
        pending = self.challenges.get(impi)
        if creds is not None and pending is not None and creds.get("nonce") == pending.nonce:
            if creds.get("auts") is not None:
                return Defer(lambda key: self._resync(key, req, impi, creds, now))
            if not creds.get("response"):
                # §5.4.1.2.3: an empty answer to our challenge: the UE could not authenticate the network.
                del self.challenges[impi]
                self.count("auth_rejected_by_ue")
                return build_response(req, 403, "Forbidden (the UE rejected the network's challenge)",
                                      to_tag=new_tag())
            if pending.expires_at < now:
                del self.challenges[impi]
            else:
                del self.challenges[impi]
                if not self._verify(creds, pending, req.method):
                    self.count("auth_failed")
                    why = ""
                    if _res_truncated(creds, pending, req.method):
                        # A known handset/tester bug: RES handled as a C string, cut at its first 00 byte.
                        self.count("auth_failed_res_truncated")
                        why = " (it matches RES cut at its first 00 byte: the UE treats RES as a C string)"
                    log.info("REGISTER %s: 403, wrong authentication response%s", impu, why,
                             extra=log_extra(req, impu=impu))
                    return build_response(req, 403, "Forbidden (authentication failed)", to_tag=new_tag())
                if expires == 0:
                    if rec is None or not rec.registered:
                        return self._ok(req, None, now)
                    return Defer(lambda key: self._deregister_contacts(key, req, rec, now))
                return Defer(lambda key: self._assign(key, req, impi, impu_key, now))
        scheme = cx.SCHEME_UNKNOWN
        if creds is not None:
            alg = (creds.get("algorithm") or "").upper()
            scheme = AKA_ALGORITHMS.get(alg, cx.SCHEME_DIGEST if alg == "MD5" else cx.SCHEME_UNKNOWN)
        return Defer(lambda key: self._challenge(key, req, impi, impu, scheme, None, now))

    def _verify(self, creds: Credentials, ch: Challenge, method: str) -> bool:
        if ch.scheme == cx.SCHEME_DIGEST:
            return verify_response(creds, ha1=ch.ha1, method=method)
        alg = "AKAv2-MD5" if ch.scheme == cx.SCHEME_AKAV2 else "AKAv1-MD5"
        if (creds.get("algorithm") or "").upper() != alg.upper():
            return False
        return verify_response(creds, password=aka_password(alg, ch.xres, ch.ck, ch.ik), method=method)

    def _challenge(self, key: tuple, req: Request, impi: str, impu: str, scheme: str, resync: bytes | None,
                   now: float) -> None:
        item = cx.SipAuthDataItem(scheme, sip_authorization=resync)
        mar = cx.MultimediaAuthRequest(user_name=impi, public_identity=impu, server_name=self.config.server_name,
                                       sip_auth_data_item=item)

        def answered(maa: cx.CxAnswer | None, at: float) -> list[Action]:
            if maa is None:
                return self.core.resume(key, build_response(req, 500, "Server Internal Error (no answer from the HSS)",
                                                            to_tag=new_tag()), at)
            if maa.result != DIAMETER_SUCCESS or not isinstance(maa, cx.MultimediaAuthAnswer) \
                    or not maa.sip_auth_data_items:
                status, reason = _mar_error(maa.result)
                log.info("MAR for %s: result %s -> %d", impi, maa.result, status, extra=log_extra(req))
                return self.core.resume(key, build_response(req, status, reason, to_tag=new_tag()), at)
            return self.core.resume(key, self._unauthorized(req, impi, impu, maa.sip_auth_data_items[0], at), at)

        self.query(mar, answered)

    def _unauthorized(self, req: Request, impi: str, impu: str, item: cx.SipAuthDataItem, now: float) -> Response:
        realm = impi.partition("@")[2] or self.config.domain
        resp = build_response(req, 401, "Unauthorized", to_tag=new_tag())
        if item.sip_authentication_scheme == cx.SCHEME_DIGEST and item.sip_digest_authenticate is not None:
            nonce = os.urandom(16).hex()
            d = item.sip_digest_authenticate
            self.challenges[impi] = Challenge(cx.SCHEME_DIGEST, nonce, impu, now + NONCE_LIFETIME,
                                              ha1=d.digest_ha1)
            challenge = build_challenge(realm=d.digest_realm or realm, nonce=nonce, algorithm="MD5",
                                        qop=d.digest_qop or "auth")
        else:
            rand, autn = item.rand or b"", item.autn or b""
            nonce = aka_nonce(rand, autn)
            scheme = item.sip_authentication_scheme or cx.SCHEME_AKAV1
            self.challenges[impi] = Challenge(scheme, nonce, impu, now + NONCE_LIFETIME,
                                              xres=item.sip_authorization or b"",
                                              ck=item.confidentiality_key or b"", ik=item.integrity_key or b"")
            alg = "AKAv2-MD5" if scheme == cx.SCHEME_AKAV2 else "AKAv1-MD5"
            challenge = build_challenge(realm=realm, nonce=nonce, algorithm=alg, qop="auth",
                                        ck=item.confidentiality_key, ik=item.integrity_key)
        resp.add("WWW-Authenticate", str(challenge))
        self.count("challenges")
        if len(self.challenges) > 50_000:  # challenges nobody answered: forget the expired ones
            for k in [k for k, c in self.challenges.items() if c.expires_at < now]:
                del self.challenges[k]
        log.debug("REGISTER %s (%s): 401 %s challenge", impu, impi, challenge.get("algorithm"),
                 extra=log_extra(req, impu=impu))
        return resp

    def _resync(self, key: tuple, req: Request, impi: str, creds: Credentials, now: float) -> list[Action]:
        del self.challenges[impi]
        try:
            rand_auts = resync_authorization(creds)
        except SipError as exc:
            return self.core.resume(key, build_response(req, 400, exc.reason, to_tag=new_tag()), now)
        self.count("resync")
        alg = (creds.get("algorithm") or "AKAv1-MD5").upper()
        self._challenge(key, req, impi, str(req.to.uri), AKA_ALGORITHMS.get(alg, cx.SCHEME_AKAV1), rand_auts, now)
        return []

    def _assign(self, key: tuple, req: Request, impi: str, impu_key: str, now: float) -> None:
        rec = self._record(impu_key)
        again = rec is not None and rec.registered and rec.impi == impi
        sar = cx.ServerAssignmentRequest(server_name=self.config.server_name, user_name=impi,
                                         public_identities=[str(req.to.uri)],
                                         server_assignment_type=RE_REGISTRATION if again else REGISTRATION,
                                         user_data_already_available=1 if again else 0)

        def answered(saa: cx.CxAnswer | None, at: float) -> list[Action]:
            if saa is None or saa.result != DIAMETER_SUCCESS:
                status, reason = (500, "Server Internal Error (no answer from the HSS)") if saa is None \
                    else _sar_error(saa.result)
                return self.core.resume(key, build_response(req, status, reason, to_tag=new_tag()), at)
            current = self._record(impu_key)
            if isinstance(saa, cx.ServerAssignmentAnswer) and saa.user_data:
                try:
                    data = parse_user_data(saa.user_data)
                except UserDataError as exc:
                    log.warning("SAA for %s has bad User-Data: %s", impi, exc)
                    return self.core.resume(key, build_response(req, 500, "Server Internal Error (bad user profile)",
                                                                to_tag=new_tag()), at)
                fresh = UserRecord(impi, data.impus or [str(req.to.uri)], data.ifcs, data.barred)
                if current is not None and current.impi == impi:
                    fresh.bindings, fresh.subscriptions, fresh.version = (current.bindings, current.subscriptions,
                                                                          current.version)
                    self._drop(current)
                current = fresh
            elif current is None:
                current = UserRecord(impi, [str(req.to.uri)])
            current.registered = True
            self._store(current)
            self.count("registrations")
            log.info("REGISTER %s (%s): 200, %s", req.to.uri, impi, "re-registration" if again else "registered",
                     extra=log_extra(req, impu=str(req.to.uri)))
            return self.core.resume(key, self._ok(req, current, at), at) + self._notify_all(current, at)

        self.query(sar, answered)

    def _ok(self, req: Request, rec: UserRecord | None, now: float) -> Response:
        """Apply the REGISTER's contacts (RFC 3261 §10.3 steps 6-7) and build the 200."""
        resp = build_response(req, 200, "OK", to_tag=new_tag())
        if rec is None:
            return resp
        path = tuple(req.get_all("path"))
        for contact in req.contacts:
            if contact.is_star:
                rec.bindings.clear()
                continue
            exp = contact.expires if contact.expires is not None else _requested_expiry(req)
            exp = self.config.max_expires if exp is None else min(exp, self.config.max_expires)
            k = str(contact.uri)
            if exp == 0:
                rec.bindings.pop(k, None)
                continue
            rec.bindings[k] = Binding(contact.uri, now + exp, path, req.call_id, req.cseq.seq,
                                      contact.params.get("+sip.instance"))
            self._arm_expiry(rec.impus[0], k, now + exp + 0.5)
        self._touch(rec)
        for p in path:
            resp.add("Path", p)  # RFC 3327 §5.3: the registrar echoes Path
        if path:
            resp.add("Require", "path")
        resp.add("Service-Route", route_value(self.config.host, self.config.port, "orig", self.config.transport))
        for u in rec.impus:
            if u not in rec.barred:
                resp.add("P-Associated-URI", f"<{u}>")
        for b in rec.bindings.values():
            resp.add("Contact", f"<{b.uri}>;expires={max(0, int(b.expires_at - now))}")
        resp.add("Date", time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime()))
        return resp

    def _deregister_contacts(self, key: tuple, req: Request, rec: UserRecord, now: float) -> list[Action]:
        """Expires 0 from a registered contact (§5.4.1.4): 200; SAR when no contact is left."""
        resp = self._ok(req, rec, now)
        if rec.bindings:
            return self.core.resume(key, resp, now) + self._notify_all(rec, now)
        return self._end_registration(rec, USER_DEREGISTRATION, now, "unregistered",
                                      then=lambda at: self.core.resume(key, resp, at))

    def _end_registration(self, rec: UserRecord, sat: int, now: float, event: str,
                          then: Callable[[float], list[Action]] | None = None) -> list[Action]:
        """The set is no longer registered: SAR ``sat``; NOTIFY terminated (after ``then``'s answer, if any)."""
        rec.registered = False
        rec.bindings.clear()
        self._drop(rec)
        self.count("deregistrations")
        log.info("%s (%s): deregistered (%s)", rec.impus[0], rec.impi, event, extra={"impu": rec.impus[0]})
        sar = cx.ServerAssignmentRequest(server_name=self.config.server_name, user_name=rec.impi,
                                         public_identities=[rec.impus[0]], server_assignment_type=sat)

        def notify(at: float) -> list[Action]:
            return self._notify_all(rec, at, event=event, terminated=True)

        def answered(saa: cx.CxAnswer | None, at: float) -> list[Action]:
            if saa is None or saa.result != DIAMETER_SUCCESS:
                log.warning("SAR %d for %s: result %s", sat, rec.impi, saa.result if saa else "none")
            return then(at) + notify(at) if then is not None else []

        self.query(sar, answered)
        return [] if then is not None else notify(now)

    def _arm_expiry(self, impu: str, contact: str, at: float) -> None:
        """One expiry timer per binding (a re-registration moves the binding's expiry, not the timer);
        it finds the set's record when it fires, so replaced records are not kept alive."""
        if (impu, contact) not in self._expiry_armed:
            self._expiry_armed.add((impu, contact))
            self.at(at, lambda now, u=impu, c=contact: self._expire(u, c, now))

    def _expire(self, impu: str, contact: str, now: float) -> list[Action]:
        self._expiry_armed.discard((impu, contact))
        rec = self._record(impu)
        b = rec.bindings.get(contact) if rec is not None else None
        if rec is None or b is None:
            return []
        if b.expires_at > now:  # refreshed since the timer was armed
            self._arm_expiry(impu, contact, b.expires_at + 0.5)
            return []
        del rec.bindings[contact]
        if rec.bindings:
            self._touch(rec)
            return self._notify_all(rec, now, event="expired")
        return self._end_registration(rec, TIMEOUT_DEREGISTRATION, now, "expired")

    # -- network-initiated (Cx RTR / PPR) ------------------------------------------------
    def on_rtr(self, rtr: cx.RegistrationTerminationRequest, now: float) -> tuple[int, list[Action]]:
        """TS 29.228 §6.1.3 / TS 24.229 §5.4.1.5: drop the identities, NOTIFY terminated (event rejected)."""
        targets = {id(r): r for r in self.users.values() if r.impi == rtr.user_name}
        if rtr.public_identities:
            targets = {id(r): r for r in (self._record(p) for p in rtr.public_identities) if r is not None}
        out: list[Action] = []
        for rec in targets.values():
            rec.registered = False
            rec.bindings.clear()
            out += self._notify_all(rec, now, event="rejected", terminated=True)
            self._drop(rec)
        self.count("rtr")
        return DIAMETER_SUCCESS, out

    def on_ppr(self, ppr: cx.PushProfileRequest, now: float) -> int:
        """TS 29.228 §6.1.4: a new profile for a served user replaces the old one."""
        if not ppr.user_data:
            return DIAMETER_SUCCESS
        data = parse_user_data(ppr.user_data)  # UserDataError -> the driver answers 5004
        for impu in data.impus:
            rec = self._record(impu)
            if rec is not None and rec.impi == ppr.user_name:
                rec.ifcs = data.ifcs
                rec.barred = data.barred
                self._touch(rec)
        self.count("ppr")
        return DIAMETER_SUCCESS

    # -- reg event (RFC 3680) -------------------------------------------------------------
    def _subscribe(self, req: Request, now: float) -> Response | list[Action]:
        expires = req.expires if req.expires is not None else 600000
        if req.to.tag:
            for rec in {id(r): r for r in self.users.values()}.values():
                sub = rec.subscriptions.get((req.call_id, req.to.tag))
                if sub is not None:
                    sub.dialog.on_request(req)
                    resp = build_response(req, 200, to_tag=req.to.tag)
                    resp.add("Expires", str(expires))
                    resp.add("Contact", f"<sip:{self.config.host}:{self.config.port}>")
                    sub.expires_at = now + expires
                    if expires == 0:
                        del rec.subscriptions[(req.call_id, req.to.tag)]
                    self._touch(rec)
                    return [*self._respond_now(req, resp, now),
                            *self._notify(rec, sub, now, terminated=expires == 0, reason="timeout")]
            return build_response(req, 481, "Subscription does not exist")
        rec = self._record(str(req.uri))
        if rec is None or not rec.registered:
            return build_response(req, 480 if rec is None else 403, "Not registered here", to_tag=new_tag())
        tag = new_tag()
        try:
            dialog = Dialog.from_uas_request(req, tag, state="confirmed")
        except SipError as exc:
            return build_response(req, 400, exc.reason, to_tag=tag)
        sub = RegSubscription(dialog, now + expires)
        rec.subscriptions[(req.call_id, tag)] = sub
        self._touch(rec)
        resp = build_response(req, 200, to_tag=tag)
        resp.add("Expires", str(min(expires, 600000)))
        resp.add("Contact", f"<sip:{self.config.host}:{self.config.port}>")
        for rr in req.get_all("record-route"):
            resp.add("Record-Route", rr)
        self.count("reg_subscriptions")
        return [*self._respond_now(req, resp, now), *self._notify(rec, sub, now)]

    @staticmethod
    def _respond_now(req: Request, resp: Response, now: float) -> list[Action]:
        """The answer to a local request, among other actions (the proxy core sends it on the transaction)."""
        return [SendMessage(resp, Address("", 0))]

    def _reginfo(self, rec: UserRecord, now: float, event: str, terminated: bool) -> bytes:
        rec.version += 1
        contacts = tuple(ContactInfo(str(b.uri), "active", "registered", expires=max(0, int(b.expires_at - now)))
                         for b in rec.bindings.values())
        if terminated:
            contacts = (ContactInfo("sip:*", "terminated", event),)
        state = "terminated" if terminated or not rec.registered else "active"
        regs = [RegistrationInfo(u, state, contacts=contacts) for u in rec.impus]
        return Reginfo(rec.version - 1, "full", regs).to_xml()

    def _notify(self, rec: UserRecord, sub: RegSubscription, now: float, *, event: str = "registered",
                terminated: bool = False, reason: str = "deactivated") -> list[Action]:
        body = self._reginfo(rec, now, event, terminated)
        state = f"terminated;reason={reason}" if terminated else \
            f"active;expires={max(0, int(sub.expires_at - now))}"
        req = sub.dialog.create_request("NOTIFY", body=body, content_type=REGINFO, extra_headers=(
            ("Event", "reg"), ("Subscription-State", state),
            ("Contact", f"<sip:{self.config.host}:{self.config.port}>")))
        req.add("Via", f"SIP/2.0/{self.config.transport.upper()} {self.config.host}:{self.config.port}"
                       f";branch={new_branch()}", first=True)
        try:
            dest = uri_address(sub.dialog.next_hop(), self.config.transport)
        except SipError:
            return []
        self.count("notify")
        self._touch(rec)  # the reginfo version and the dialog's CSeq moved on (RFC 3680 §5.3)
        _, actions = self.core.send_request(req, dest, now)
        return actions

    def _notify_all(self, rec: UserRecord, now: float, *, event: str = "registered",
                    terminated: bool = False) -> list[Action]:
        out: list[Action] = []
        for k, sub in list(rec.subscriptions.items()):
            out += self._notify(rec, sub, now, event=event, terminated=terminated, reason="deactivated")
            if terminated:
                del rec.subscriptions[k]
        return out

    # -- sessions -------------------------------------------------------------------------
    def _route(self, req: Request) -> Forward | Reject | Defer:
        popped = self.core.current_route
        user = popped.uri.user if popped is not None and isinstance(popped.uri, SipURI) else None
        if user and user.startswith("odi-"):
            state = self._odi.pop(user[4:], None)
            if state is None:
                return Reject(400, "Bad Request (unknown original dialog identifier)")
            served, case, priority, profile = state
            rec = self._record(served) or profile  # an unregistered user's profile lives only in the token
            return self._after_ifc(req, rec, served, case, priority)
        if req.to.tag and user != "orig":
            # A request inside a dialog whose route set ends here (the far end, an MGCF say, added no
            # Record-Route): on to its Request-URI, the remote target (RFC 3261 §16.12, §12.2.1.1).
            return Forward([Target(req.uri)], record_route=False)
        if user == "orig":
            return self._originating(req)
        return self._terminating(req)

    def _originating(self, req: Request) -> Forward | Reject:
        pai = req.p_asserted_identity
        served = str(pai[0].uri) if pai else str(req.from_.uri)
        rec = self._record(served)
        if rec is None or not rec.registered:
            return Reject(403, "Forbidden (originating user is not registered here)")
        self.count("originating")
        if pai and all(not str(p.uri).startswith("tel:") for p in pai):
            # TS 24.229 §5.4.3.2: the tel URI of the served user's implicit set as a second P-Asserted-Identity
            # (what an MGCF puts in the IAM's calling party number)
            tel = next((u for u in rec.impus if u.startswith("tel:") and u not in rec.barred), None)
            if tel is not None:
                req.add("P-Asserted-Identity", f"<{tel}>")
        decision = self._after_ifc(req, rec, served, ORIGINATING, None)
        log.debug("%s %s from %s: originating -> %s", req.method, req.uri, served, _describe(decision),
                 extra=log_extra(req, session_case="originating"))
        return decision

    def _terminating(self, req: Request) -> Forward | Reject | Defer:
        try:
            rec = self._record(str(req.uri))
        except SipError:
            rec = None
        if rec is None:
            if self.core.is_ours(req.uri):
                return Reject(404, "Not Found")
            return Defer(lambda key: self._unregistered(key, req))
        self.count("terminating")
        case = TERMINATING_REGISTERED if rec.registered else TERMINATING_UNREGISTERED
        decision = self._after_ifc(req, rec, str(req.uri), case, None)
        log.debug("%s %s: terminating -> %s", req.method, req.uri, _describe(decision),
                 extra=log_extra(req, session_case="terminating"))
        return decision

    def _unregistered(self, key: tuple, req: Request) -> None:
        """TS 29.228 §6.1.2: a request for an identity nobody registered: SAR UNREGISTERED_USER for its profile."""
        sar = cx.ServerAssignmentRequest(server_name=self.config.server_name, public_identities=[str(req.uri)],
                                         server_assignment_type=UNREGISTERED_USER)

        def answered(saa: cx.CxAnswer | None, at: float) -> list[Action]:
            if saa is None or saa.result != DIAMETER_SUCCESS or not isinstance(saa, cx.ServerAssignmentAnswer):
                return self.core.resume(key, Reject(404, "Not Found"), at)
            try:
                data = parse_user_data(saa.user_data or "")
            except UserDataError:
                return self.core.resume(key, Reject(480, "Temporarily Unavailable"), at)
            rec = UserRecord(saa.user_name or "", data.impus or [str(req.uri)], data.ifcs, data.barred)
            decision = self._after_ifc(req, rec, str(req.uri), TERMINATING_UNREGISTERED, None)
            return self.core.resume(key, decision, at)

        self.query(sar, answered)

    def _after_ifc(self, req: Request, rec: UserRecord, served: str, case: int, after: int | None
                   ) -> Forward | Reject:
        ifc = first_match(rec.ifcs, req, case, after) if req.method != "ACK" and not req.to.tag else None
        if ifc is not None:
            server = self.config.servers.get(ifc.server, ifc.server)
            token = new_tag()
            self._odi[token] = (served, case, ifc.priority, rec)
            if len(self._odi) > 10000:  # an AS that never sends requests back must not grow this forever
                del self._odi[next(iter(self._odi))]
            self.count("ifc_matches")
            odi = route_value(self.config.host, self.config.port, f"odi-{token}", self.config.transport)
            return Forward([Target(req.uri, path=(f"<{server};lr>" if ";lr" not in server else f"<{server}>", odi))])
        if case in (ORIGINATING, ORIGINATING_UNREGISTERED):
            return self._onward(req)
        if not rec.registered or not rec.bindings:
            return Reject(480, "Temporarily Unavailable (not registered)")
        if "p-called-party-id" not in req:
            req.add("P-Called-Party-ID", f"<{req.uri}>")
        return Forward([Target(b.uri, path=b.path) for b in rec.bindings.values()], parallel=True)

    def _onward(self, req: Request) -> Forward | Reject:
        """§5.4.3.2 step 9-10: after the originating services, toward the callee's network."""
        cfg = self.config
        number = telephone_number(req.uri)
        if number is not None:
            sip = cfg.enum.get(number)
            if sip is None:
                if cfg.bgcf is None:
                    return Reject(404, "Not Found (no ENUM entry and no BGCF for this number)")
                self.count("to_bgcf")
                return Forward([Target(req.uri, path=(_route_to(cfg.bgcf),))])
            req.uri = parse_uri(sip)  # ENUM (RFC 6116): the number's SIP URI
        uri = req.uri
        if not isinstance(uri, SipURI):
            return Reject(416, "Unsupported URI Scheme")
        host = uri.host.lower()
        if host == cfg.domain and cfg.icscf is not None:
            return Forward([Target(uri, path=(_route_to(cfg.icscf),))])
        if host in cfg.peers:
            return Forward([Target(uri, path=(_route_to(cfg.peers[host]),))])
        try:
            uri_address(uri)
        except SipError as exc:
            return Reject(exc.status, exc.reason)
        return Forward([Target(uri)])


def _res_truncated(creds: Credentials, ch: Challenge, method: str) -> bool:
    """Would the response be right with RES cut at its first 00 byte?"""
    if ch.scheme == cx.SCHEME_DIGEST or 0 not in ch.xres:
        return False
    cut = ch.xres[:ch.xres.index(0)]
    return verify_response(creds, password=aka_password("AKAv1-MD5", cut), method=method)


def _describe(decision: Forward | Reject) -> str:
    if isinstance(decision, Reject):
        return f"{decision.status} {decision.reason or ''}".strip()
    return ", ".join(str(t.path[0] if t.path else t.uri) for t in decision.targets)


def _route_to(addr: Address) -> str:
    return route_value(addr.host, addr.port, None, addr.transport)


def _impi_from(impu: str) -> str:
    """TS 23.003 §13.3-13.4 in reverse for a lab UE that sent no Authorization: user@domain."""
    u = NameAddr.parse(f"<{impu}>").uri
    if isinstance(u, SipURI) and u.user:
        return f"{u.user}@{u.host}"
    return impu


def _requested_expiry(req: Request) -> int | None:
    contacts = [c for c in req.contacts if not c.is_star]
    if contacts and contacts[0].expires is not None:
        return contacts[0].expires
    if req.expires is not None:
        return req.expires
    if any(c.is_star for c in req.contacts):
        return 0
    return None


def _mar_error(result: int | None) -> tuple[int, str]:
    """TS 24.229 §5.4.1.2.1 / TS 29.228 Table 6.3.1: MAA errors toward the UE."""
    return {5001: (403, "Forbidden (user unknown)"), 5002: (403, "Forbidden (identities do not match)"),
            5006: (403, "Forbidden (authentication scheme not supported)")}.get(
        result or 0, (500, f"Server Internal Error (MAA result {result})"))


def _sar_error(result: int | None) -> tuple[int, str]:
    return {5001: (403, "Forbidden (user unknown)"), 5005: (403, "Forbidden (identity registered elsewhere)"),
            5007: (500, "Server Internal Error (assignment type refused)")}.get(
        result or 0, (500, f"Server Internal Error (SAA result {result})"))
