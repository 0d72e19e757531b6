"""The HSS side of Cx (3GPP TS 29.228 §6.1, TS 29.229 §6.1): request in, answer out.

``HssCx.handle(request)`` answers UAR, MAR, SAR and LIR from the
:class:`~ims.hss.store.Store`; it is synchronous (the store is SQLite) and
the HSS node runs it on its store thread, never on the event loop.  It also
builds the HSS-initiated RTR and PPR.  Result codes follow TS 29.228 §6.1.x
and TS 29.229 §6.2 (Experimental-Result, vendor 10415, for the Cx ones).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from ims.aka.milenage import AkaError, Milenage
from ims.aka.vectors import generate_vector, resync
from ims.diameter import cx
from ims.diameter.codec import RESULT_CODE, USER_NAME, DiameterMessage, avp
from ims.diameter.constants import (
    ADMINISTRATIVE_DEREGISTRATION, CMD_LI, CMD_MA, CMD_PP, CMD_RT, CMD_SA, CMD_UA,
    DIAMETER_AUTHORIZATION_REJECTED, DIAMETER_ERROR_AUTH_SCHEME_NOT_SUPPORTED, DIAMETER_ERROR_IDENTITIES_DONT_MATCH,
    DIAMETER_ERROR_IDENTITY_NOT_REGISTERED, DIAMETER_ERROR_IN_ASSIGNMENT_TYPE, DIAMETER_ERROR_ROAMING_NOT_ALLOWED,
    DIAMETER_ERROR_USER_UNKNOWN, DIAMETER_FIRST_REGISTRATION, DIAMETER_MISSING_AVP, DIAMETER_SUBSEQUENT_REGISTRATION,
    DIAMETER_SUCCESS, DIAMETER_UNABLE_TO_COMPLY, DIAMETER_UNREGISTERED_SERVICE, NO_ASSIGNMENT, RE_REGISTRATION,
    REGISTRATION, TIMEOUT_DEREGISTRATION_STORE_SERVER_NAME, UAT_DE_REGISTRATION, UAT_REGISTRATION_AND_CAPABILITIES,
    UNREGISTERED_USER, USER_DEREGISTRATION_STORE_SERVER_NAME,
)
from ims.diameter.errors import DiameterError
from ims.diameter.userdata import Ifc, UserData, build_user_data
from ims.hss.store import NOT_REGISTERED, REGISTERED, UNREGISTERED, Store, Subscriber

MAX_VECTORS = 5
V = cx.V


@dataclass
class HssConfig:
    origin_host: str
    origin_realm: str
    home_networks: tuple[str, ...] = ()  # Visited-Network-Identifiers allowed to register (TS 29.228 §6.1.1)
    charging_ccf: str = ""


class _Reply(Exception):
    """Internal: answer now with this result."""

    def __init__(self, result: int, experimental: bool = True, *avps: object) -> None:
        super().__init__(result)
        self.result = result
        self.experimental = experimental
        self.avps = avps


class HssCx:
    def __init__(self, store: Store, config: HssConfig) -> None:
        self.store = store
        self.config = config
        self._milenage: dict[str, tuple[bytes, bytes, Milenage]] = {}
        self.stats = {"UAR": 0, "MAR": 0, "SAR": 0, "LIR": 0, "vectors": 0, "resync": 0}

    # -- dispatch ----------------------------------------------------------------
    def handle_batch(self, requests: list[DiameterMessage]) -> list[DiameterMessage | Exception]:
        """Answer many requests under one commit (group commit); each stays atomic on its own."""
        out: list[DiameterMessage | Exception] = []
        with self.store.batch():
            for req in requests:
                try:
                    out.append(self.handle(req))
                except Exception as exc:  # noqa: BLE001 - returned to the caller of this request
                    out.append(exc)
        return out

    def handle(self, req: DiameterMessage) -> DiameterMessage:
        handlers = {CMD_UA: self._uar, CMD_MA: self._mar, CMD_SA: self._sar, CMD_LI: self._lir}
        fn = handlers.get(req.command_code)
        if fn is None:
            raise DiameterError(3001, f"command {req.command_code} is not served by the HSS")
        try:
            return fn(req)
        except _Reply as r:
            return self._answer(req, r.result, *r.avps, experimental=r.experimental)

    def _answer(self, req: DiameterMessage, result: int, *avps: object, experimental: bool = False) -> DiameterMessage:
        return cx.answer(req, self.config.origin_host, self.config.origin_realm, result, *avps,
                         experimental=experimental)

    def _need(self, req: DiameterMessage, code: int, vendor: int, name: str) -> str:
        value = req.get_str(code, vendor)
        if not value:
            raise _Reply(DIAMETER_MISSING_AVP, False)
        return value

    def _subscriber(self, req: DiameterMessage, *, need_impi: bool = True) -> tuple[Subscriber, str]:
        sub, impu, _row = self._subscriber_row(req, need_impi=need_impi)
        return sub, impu

    def _subscriber_row(self, req: DiameterMessage, *, need_impi: bool = True
                        ) -> tuple[Subscriber, str, dict[str, object]]:
        impu = self._need(req, cx.PUBLIC_IDENTITY, V, "Public-Identity")
        impi = req.get_str(USER_NAME)
        if need_impi and not impi:
            raise _Reply(DIAMETER_MISSING_AVP, False)
        row = self.store.impu_row(impu)
        if row is None:
            raise _Reply(DIAMETER_ERROR_USER_UNKNOWN)
        sub = self.store.get(impi or row["impi"])
        if sub is None:
            raise _Reply(DIAMETER_ERROR_USER_UNKNOWN)
        if row["impi"] != sub.impi:
            raise _Reply(DIAMETER_ERROR_IDENTITIES_DONT_MATCH)
        return sub, impu, row

    def _capabilities(self) -> object:
        mand: set[int] = set()
        opt: set[int] = set()
        names = []
        for name, m, o in self.store.scscf_capabilities():
            mand.update(m)
            opt.update(o)
            names.append(name)
        return cx.server_capabilities(sorted(mand), sorted(opt), names)

    # -- UAR (TS 29.228 §6.1.1.1) ---------------------------------------------------
    def _uar(self, req: DiameterMessage) -> DiameterMessage:
        self.stats["UAR"] += 1
        sub, impu = self._subscriber(req)
        row = self.store.impu_row(impu)
        assert row is not None
        if sub.barred or row["barred"]:
            raise _Reply(DIAMETER_AUTHORIZATION_REJECTED, False)
        visited = req.get(cx.VISITED_NETWORK_IDENTIFIER, V)
        if isinstance(visited, bytes):
            visited = visited.decode()
        if visited and self.config.home_networks and visited not in self.config.home_networks:
            raise _Reply(DIAMETER_ERROR_ROAMING_NOT_ALLOWED)
        uat = req.get(cx.USER_AUTHORIZATION_TYPE, V) or 0
        name = row["scscf"]
        if uat == UAT_DE_REGISTRATION:
            if name:
                return self._answer(req, DIAMETER_SUCCESS, cx.server_name(name))
            raise _Reply(DIAMETER_ERROR_IDENTITY_NOT_REGISTERED)
        if uat == UAT_REGISTRATION_AND_CAPABILITIES:
            return self._answer(req, DIAMETER_FIRST_REGISTRATION, self._capabilities(), experimental=True)
        if row["state"] in (REGISTERED, UNREGISTERED) and name:
            return self._answer(req, DIAMETER_SUBSEQUENT_REGISTRATION, cx.server_name(name), experimental=True)
        if name:
            return self._answer(req, DIAMETER_FIRST_REGISTRATION, cx.server_name(name), experimental=True)
        return self._answer(req, DIAMETER_FIRST_REGISTRATION, self._capabilities(), experimental=True)

    # -- MAR (TS 29.228 §6.3) ------------------------------------------------------------
    def _mar(self, req: DiameterMessage) -> DiameterMessage:
        self.stats["MAR"] += 1
        sub, impu, row = self._subscriber_row(req)
        server = self._need(req, cx.SERVER_NAME, V, "Server-Name")
        items = cx.auth_items(req)
        scheme = items[0].scheme if items else cx.SCHEME_UNKNOWN
        if scheme in ("", cx.SCHEME_UNKNOWN):
            scheme = cx.SCHEME_AKAV1
        count = max(1, min(int(req.get(cx.SIP_NUMBER_AUTH_ITEMS, V) or 1), MAX_VECTORS))
        self.store.set_scscf_if_unset(sub.impi, server, row["scscf"], row["state"])  # type: ignore[arg-type]
        if scheme == cx.SCHEME_DIGEST:
            if not sub.password:
                raise _Reply(DIAMETER_ERROR_AUTH_SCHEME_NOT_SUPPORTED)
            realm = sub.impi.partition("@")[2]
            ha1 = hashlib.md5(f"{sub.impi}:{realm}:{sub.password}".encode()).hexdigest()
            digest = avp(635, [avp(104, realm), avp(111, "MD5"), avp(110, "auth"), avp(121, ha1)], V)
            item = avp(cx.SIP_AUTH_DATA_ITEM, [avp(cx.SIP_ITEM_NUMBER, 1, V),
                                               avp(cx.SIP_AUTHENTICATION_SCHEME, cx.SCHEME_DIGEST, V), digest], V)
            return self._answer(req, DIAMETER_SUCCESS, cx.user_name(sub.impi), avp(cx.SIP_NUMBER_AUTH_ITEMS, 1, V),
                                item)
        if scheme not in (cx.SCHEME_AKAV1, cx.SCHEME_AKAV2):
            raise _Reply(DIAMETER_ERROR_AUTH_SCHEME_NOT_SUPPORTED)
        m = self._milenage_for(sub)
        if items and items[0].authorization and len(items[0].authorization) == 30:
            # TS 29.228 §6.3.3 / TS 33.203: SIP-Authorization = RAND || AUTS - resynchronise.
            rand, auts = items[0].authorization[:16], items[0].authorization[16:]
            try:
                sqn_ms = resync(sub.k, sub.opc, rand, auts, milenage=m)
            except AkaError:
                raise _Reply(DIAMETER_UNABLE_TO_COMPLY, False) from None
            self.store.resync_sqn(sub.impi, sqn_ms)
            self.stats["resync"] += 1
        sub, sqns = self.store.reserve_sqns(sub.impi, count)  # committed before the MAA leaves
        out = [cx.user_name(sub.impi), avp(cx.SIP_NUMBER_AUTH_ITEMS, len(sqns), V)]
        for i, sqn in enumerate(sqns, 1):
            v = generate_vector(sub.k, sub.opc, sqn, sub.amf, milenage=m)
            out.append(cx.auth_data_item(i, scheme, authenticate=v.rand + v.autn, authorization=v.xres,
                                         ck=v.ck, ik=v.ik))
        self.stats["vectors"] += len(sqns)
        return self._answer(req, DIAMETER_SUCCESS, *out)

    def _milenage_for(self, sub: Subscriber) -> Milenage:
        cached = self._milenage.get(sub.impi)
        if cached is None or cached[0] != sub.k or cached[1] != sub.opc:
            cached = (sub.k, sub.opc, Milenage(sub.k, opc=sub.opc))
            self._milenage[sub.impi] = cached
        return cached[2]

    # -- SAR (TS 29.228 §6.1.2) ---------------------------------------------------------
    def _user_data(self, sub: Subscriber) -> object:
        ifcs = [Ifc.from_dict(d) for d in self.store.service_profile(sub.service_profile)]
        xml = build_user_data(UserData(sub.impi, sub.impus, ifcs))
        return avp(cx.USER_DATA, xml.encode(), V)

    def _sar(self, req: DiameterMessage) -> DiameterMessage:
        self.stats["SAR"] += 1
        sub, impu = self._subscriber(req, need_impi=False)
        server = self._need(req, cx.SERVER_NAME, V, "Server-Name")
        sat = int(req.get(cx.SERVER_ASSIGNMENT_TYPE, V) or 0)
        row = self.store.impu_row(impu)
        assert row is not None
        extra = [cx.user_name(sub.impi)]
        if self.config.charging_ccf:
            extra.append(cx.charging_information(self.config.charging_ccf))
        if sat in (REGISTRATION, RE_REGISTRATION):
            if sat == RE_REGISTRATION and (row["state"] != REGISTERED or row["scscf"] != server):
                raise _Reply(DIAMETER_ERROR_IN_ASSIGNMENT_TYPE)
            self.store.set_registration(sub.impi, REGISTERED, server)
            return self._answer(req, DIAMETER_SUCCESS, *extra, self._user_data(sub))
        if sat == UNREGISTERED_USER:
            self.store.set_registration(sub.impi, UNREGISTERED, server)
            return self._answer(req, DIAMETER_SUCCESS, *extra, self._user_data(sub))
        if sat == NO_ASSIGNMENT:
            if row["scscf"] != server:
                raise _Reply(DIAMETER_UNABLE_TO_COMPLY, False)
            return self._answer(req, DIAMETER_SUCCESS, *extra, self._user_data(sub))
        if 4 <= sat <= 11:  # the deregistration family
            if row["scscf"] and row["scscf"] != server:
                raise _Reply(DIAMETER_ERROR_IN_ASSIGNMENT_TYPE)
            keep = sat in (TIMEOUT_DEREGISTRATION_STORE_SERVER_NAME, USER_DEREGISTRATION_STORE_SERVER_NAME)
            self.store.set_registration(sub.impi, NOT_REGISTERED, server if keep else None)
            return self._answer(req, DIAMETER_SUCCESS, *extra)
        raise _Reply(DIAMETER_ERROR_IN_ASSIGNMENT_TYPE)

    # -- LIR (TS 29.228 §6.1.4) ----------------------------------------------------------
    def _lir(self, req: DiameterMessage) -> DiameterMessage:
        self.stats["LIR"] += 1
        impu = self._need(req, cx.PUBLIC_IDENTITY, V, "Public-Identity")
        row = self.store.impu_row(impu)
        if row is None:
            raise _Reply(DIAMETER_ERROR_USER_UNKNOWN)
        if row["state"] in (REGISTERED, UNREGISTERED) and row["scscf"]:
            return self._answer(req, DIAMETER_SUCCESS, cx.server_name(row["scscf"]))
        sub = self.store.get(row["impi"])
        if sub is not None and self.store.service_profile(sub.service_profile):
            # Unregistered user with services: an S-CSCF must be assigned (TS 29.228 §6.1.4).
            if row["scscf"]:
                return self._answer(req, DIAMETER_UNREGISTERED_SERVICE, cx.server_name(row["scscf"]),
                                    experimental=True)
            return self._answer(req, DIAMETER_UNREGISTERED_SERVICE, self._capabilities(), experimental=True)
        raise _Reply(DIAMETER_ERROR_IDENTITY_NOT_REGISTERED)

    # -- HSS-initiated ------------------------------------------------------------------------
    def build_rtr(self, impi: str, reason: int = ADMINISTRATIVE_DEREGISTRATION, info: str = "") -> tuple[DiameterMessage, str]:
        """RTR (TS 29.228 §6.2.1) to the S-CSCF serving ``impi``; returns (request, S-CSCF name)."""
        sub = self.store.get(impi)
        if sub is None:
            raise DiameterError(DIAMETER_ERROR_USER_UNKNOWN, f"unknown impi {impi}")
        row = self.store.impu_row(sub.impus[0])
        if row is None or not row["scscf"]:
            raise DiameterError(DIAMETER_ERROR_IDENTITY_NOT_REGISTERED, f"{impi} has no S-CSCF assigned")
        reason_code = 0 if reason == ADMINISTRATIVE_DEREGISTRATION else reason
        rtr = cx.request(CMD_RT, self.config.origin_host, self.config.origin_realm, self.config.origin_realm,
                         cx.user_name(impi), cx.deregistration_reason(reason_code, info),
                         *(cx.public_identity(u) for u in sub.impus))
        return rtr, row["scscf"]

    def build_ppr(self, impi: str) -> tuple[DiameterMessage, str]:
        """PPR (TS 29.228 §6.2.2) with the new User-Data after a profile change."""
        sub = self.store.get(impi)
        if sub is None:
            raise DiameterError(DIAMETER_ERROR_USER_UNKNOWN, f"unknown impi {impi}")
        row = self.store.impu_row(sub.impus[0])
        if row is None or not row["scscf"]:
            raise DiameterError(DIAMETER_ERROR_IDENTITY_NOT_REGISTERED, f"{impi} has no S-CSCF assigned")
        ppr = cx.request(CMD_PP, self.config.origin_host, self.config.origin_realm, self.config.origin_realm,
                         cx.user_name(impi), self._user_data(sub))
        return ppr, row["scscf"]


def answer_rtr(req: DiameterMessage, origin_host: str, origin_realm: str) -> DiameterMessage:
    """The S-CSCF side: acknowledge an RTR (TS 29.229 §6.1.9) or a PPR (§6.1.11)."""
    return cx.answer(req, origin_host, origin_realm, DIAMETER_SUCCESS)


answer_ppr = answer_rtr


def result_of(msg: DiameterMessage) -> int | None:
    return msg.result_code if msg.get(RESULT_CODE) is not None or msg.experimental else None
