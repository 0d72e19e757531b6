"""Cx/Dx commands (3GPP TS 29.229 §6.1) laid out on python-diameter's AVP dictionary.

Two layers:

* typed messages, one dataclass per command - ``UserAuthorizationRequest`` /
  ``...Answer`` (UAR/UAA), ``MultimediaAuth...`` (MAR/MAA),
  ``ServerAssignment...`` (SAR/SAA), ``LocationInfo...`` (LIR/LIA),
  ``RegistrationTermination...`` (RTR/RTA), ``PushProfile...`` (PPR/PPA) -
  with ``to_message()`` and ``from_message()``; ``parse()`` picks the class;
* AVP helpers by TS 29.229 name (``user_name``, ``public_identity``,
  ``auth_data_item``...) with the untyped :func:`request` / :func:`answer`.

Every Cx request carries Session-Id, Vendor-Specific-Application-Id (Cx,
10415), Auth-Session-State NO_STATE_MAINTAINED, Origin-Host/Realm and
Destination-Realm.  python-diameter's own Cx command classes
(``diameter.message.commands.multimedia_auth`` etc.) are not used for the
layout: they put SIP-Auth-Data-Item, SIP-Item-Number,
SIP-Authentication-Scheme and SIP-Number-Auth-Items at the RFC 4740 codes
376/378/377/382 without the 3GPP vendor bit, where TS 29.229 §6.3 has
612/613/608/607 (vendor 10415); an HSS or Wireshark reading them would see
unknown AVPs.  Its codec and dictionary (which has the 3GPP codes) are used,
so pycrate's Diameter was not needed.

Not here: the HSS's decisions (``ims.hss.cx``) or the S-CSCF's.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, TypeVar

from diameter.message.avp import Avp

from ims.diameter.codec import (  # noqa: F401 - DiameterMessage and avp are re-exported
    AUTH_SESSION_STATE, DESTINATION_HOST, DESTINATION_REALM, EXPERIMENTAL_RESULT, EXPERIMENTAL_RESULT_CODE,
    FAILED_AVP, ORIGIN_HOST, ORIGIN_REALM, RESULT_CODE, SESSION_ID, USER_NAME, VENDOR_3GPP, VENDOR_ID,
    DiameterMessage, _entry, avp, grouped, vendor_app,
)
from ims.diameter.constants import (
    CMD_LI, CMD_MA, CMD_PP, CMD_RT, CMD_SA, CMD_UA, CX_APPLICATION_ID, DIAMETER_MISSING_AVP, NO_STATE_MAINTAINED,
    UAT_REGISTRATION,
)
from ims.diameter.errors import DiameterError

V = VENDOR_3GPP
# TS 29.229 §6.3 AVP codes (vendor 10415)
VISITED_NETWORK_IDENTIFIER, PUBLIC_IDENTITY, SERVER_NAME, SERVER_CAPABILITIES = 600, 601, 602, 603
MANDATORY_CAPABILITY, OPTIONAL_CAPABILITY, USER_DATA, SIP_NUMBER_AUTH_ITEMS = 604, 605, 606, 607
SIP_AUTHENTICATION_SCHEME, SIP_AUTHENTICATE, SIP_AUTHORIZATION, SIP_AUTH_DATA_ITEM = 608, 609, 610, 612
SIP_ITEM_NUMBER, SERVER_ASSIGNMENT_TYPE, DEREGISTRATION_REASON, REASON_CODE, REASON_INFO = 613, 614, 615, 616, 617
CHARGING_INFORMATION, PRIMARY_EVENT_CHARGING_FUNCTION_NAME = 618, 619
PRIMARY_CHARGING_COLLECTION_FUNCTION_NAME = 621
USER_AUTHORIZATION_TYPE, USER_DATA_ALREADY_AVAILABLE, CONFIDENTIALITY_KEY, INTEGRITY_KEY = 623, 624, 625, 626
ORIGINATING_REQUEST = 633

SCHEME_AKAV1 = "Digest-AKAv1-MD5"
SCHEME_AKAV2 = "Digest-AKAv2-MD5"
SCHEME_DIGEST = "SIP Digest"
SCHEME_UNKNOWN = "Unknown"

_session = itertools.count(1)


def new_session_id(origin_host: str) -> str:
    """RFC 6733 §8.8: <DiameterIdentity>;<high 32 bits>;<low 32 bits>."""
    return f"{origin_host};{int.from_bytes(os.urandom(4), 'big')};{next(_session)}"


def request(command: int, origin_host: str, origin_realm: str, destination_realm: str, *avps: object,
            destination_host: str | None = None) -> DiameterMessage:
    """An untyped Cx request with the §6.1 header AVPs; prefer the typed classes below."""
    msg = DiameterMessage(command, True, CX_APPLICATION_ID)
    msg.add(avp(SESSION_ID, new_session_id(origin_host)), vendor_app(CX_APPLICATION_ID),
            avp(AUTH_SESSION_STATE, NO_STATE_MAINTAINED), avp(ORIGIN_HOST, origin_host),
            avp(ORIGIN_REALM, origin_realm))
    if destination_host:
        msg.add(avp(DESTINATION_HOST, destination_host))
    msg.add(avp(DESTINATION_REALM, destination_realm))
    msg.add(*avps)  # type: ignore[arg-type]
    return msg


def answer(req: DiameterMessage, origin_host: str, origin_realm: str, result: int, *avps: object,
           experimental: bool = False) -> DiameterMessage:
    """Answer with Result-Code, or Experimental-Result (vendor 10415) for TS 29.229 codes."""
    if experimental:
        res = avp(EXPERIMENTAL_RESULT, [avp(VENDOR_ID, V), avp(EXPERIMENTAL_RESULT_CODE, result)])
    else:
        res = avp(RESULT_CODE, result)
    ans = req.answer(vendor_app(CX_APPLICATION_ID), res, avp(AUTH_SESSION_STATE, NO_STATE_MAINTAINED),
                     avp(ORIGIN_HOST, origin_host), avp(ORIGIN_REALM, origin_realm))
    ans.add(*avps)  # type: ignore[arg-type]
    ans.error = False
    return ans


# -- AVP helpers -------------------------------------------------------------
def user_name(impi: str) -> Avp:
    return avp(USER_NAME, impi)


def public_identity(impu: str) -> Avp:
    return avp(PUBLIC_IDENTITY, impu, V)


def server_name(name: str) -> Avp:
    return avp(SERVER_NAME, name, V)


def visited_network(name: str) -> Avp:
    return avp(VISITED_NETWORK_IDENTIFIER, name, V)


def server_capabilities(mandatory: list[int], optional: list[int], names: Sequence[str] = ()) -> Avp:
    members = [avp(MANDATORY_CAPABILITY, m, V) for m in mandatory] + \
              [avp(OPTIONAL_CAPABILITY, o, V) for o in optional] + [avp(SERVER_NAME, n, V) for n in names]
    return avp(SERVER_CAPABILITIES, members, V)


def auth_data_item(number: int, scheme: str, *, authenticate: bytes | None = None,
                   authorization: bytes | None = None, ck: bytes | None = None, ik: bytes | None = None) -> Avp:
    members = [avp(SIP_ITEM_NUMBER, number, V), avp(SIP_AUTHENTICATION_SCHEME, scheme, V)]
    if authenticate is not None:
        members.append(avp(SIP_AUTHENTICATE, authenticate, V))
    if authorization is not None:
        members.append(avp(SIP_AUTHORIZATION, authorization, V))
    if ck is not None:
        members.append(avp(CONFIDENTIALITY_KEY, ck, V))
    if ik is not None:
        members.append(avp(INTEGRITY_KEY, ik, V))
    return avp(SIP_AUTH_DATA_ITEM, members, V)


def charging_information(ccf: str) -> Avp:
    return avp(CHARGING_INFORMATION, [avp(PRIMARY_CHARGING_COLLECTION_FUNCTION_NAME, ccf, V)], V)


def deregistration_reason(code: int, info: str = "") -> Avp:
    members = [avp(REASON_CODE, code, V)]
    if info:
        members.append(avp(REASON_INFO, info, V))
    return avp(DEREGISTRATION_REASON, members, V)


# -- parsed views ------------------------------------------------------------
@dataclass(frozen=True)
class AuthItem:
    number: int
    scheme: str
    authenticate: bytes | None
    authorization: bytes | None
    ck: bytes | None
    ik: bytes | None


def auth_items(msg: DiameterMessage) -> list[AuthItem]:
    out = []
    for item in msg.find(SIP_AUTH_DATA_ITEM, V):
        g = grouped(item.value)
        scheme = g.get((SIP_AUTHENTICATION_SCHEME, V))
        out.append(AuthItem(int(g.get((SIP_ITEM_NUMBER, V)) or 0),
                            scheme.decode() if isinstance(scheme, bytes) else (scheme or ""),
                            g.get((SIP_AUTHENTICATE, V)), g.get((SIP_AUTHORIZATION, V)),
                            g.get((CONFIDENTIALITY_KEY, V)), g.get((INTEGRITY_KEY, V))))
    return out


def capabilities(msg: DiameterMessage) -> tuple[list[int], list[int], list[str]]:
    mand: list[int] = []
    opt: list[int] = []
    names: list[str] = []
    for sc in msg.find(SERVER_CAPABILITIES, V):
        for a in sc.value or ():
            if (a.vendor_id or 0) != V:
                continue  # AVPs are named by code and vendor; another vendor's AVP is not ours to read
            if a.code == MANDATORY_CAPABILITY:
                mand.append(int(a.value))
            elif a.code == OPTIONAL_CAPABILITY:
                opt.append(int(a.value))
            elif a.code == SERVER_NAME:
                names.append(a.value)
    return mand, opt, names


def s(msg: DiameterMessage, code: int) -> str | None:
    """A 3GPP string AVP's value as str."""
    return msg.get_str(code, V)


# ============================================================================
# Typed Cx/Dx messages (TS 29.229 §6.1).  ``to_message()`` lays the command out
# in the §6.1 ABNF order on python-diameter AVPs; ``from_message()`` reads a
# decoded message back and raises DiameterError(5005, Failed-AVP) when a
# {required} AVP is missing (RFC 6733 §7.1.5).
# ============================================================================
SIP_DIGEST_AUTHENTICATE = 635
SECONDARY_EVENT_CHARGING_FUNCTION_NAME, SECONDARY_CHARGING_COLLECTION_FUNCTION_NAME = 620, 622
UAR_FLAGS = 637
# RFC 4590 Digest AVPs inside SIP-Digest-Authenticate (TS 29.229 §6.3.36)
DIGEST_REALM, DIGEST_QOP, DIGEST_ALGORITHM, DIGEST_HA1 = 104, 110, 111, 121

_T = TypeVar("_T", bound="CxMessage")


def _text(value: Any) -> str | None:
    if value is None:
        return None
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def _member(members: Any, code: int, vendor: int = V) -> Any:
    for a in members or ():
        if a.code == code and (a.vendor_id or 0) == vendor:
            return a.value
    return None


def missing_avp(code: int, vendor: int = 0, what: str = "") -> DiameterError:
    """DIAMETER_MISSING_AVP (5005) with Failed-AVP holding an empty AVP of the missing kind (RFC 6733 §7.5)."""
    type_name = _entry(code, vendor)[0].__name__  # the dictionary's type of the AVP
    blank: Any = [] if type_name == "AvpGrouped" else 0 if ("Integer" in type_name or "Unsigned" in type_name
                                                             or "Enumerated" in type_name) else ""
    return DiameterError(DIAMETER_MISSING_AVP, f"missing {what or code} AVP",
                         failed_avp=avp(FAILED_AVP, [avp(code, blank, vendor)]))


@dataclass(frozen=True)
class ServerCapabilities:
    """Server-Capabilities (TS 29.229 §6.3.4): what the I-CSCF needs to pick an S-CSCF."""

    mandatory: tuple[int, ...] = ()
    optional: tuple[int, ...] = ()
    server_names: tuple[str, ...] = ()

    def to_avp(self) -> Any:
        return server_capabilities(list(self.mandatory), list(self.optional), list(self.server_names))

    @classmethod
    def from_avp_value(cls, members: Any) -> ServerCapabilities:
        mand, opt, names = [], [], []
        for a in members or ():
            if (a.vendor_id or 0) != V:
                continue  # AVPs are named by code and vendor; another vendor's AVP is not ours to read
            if a.code == MANDATORY_CAPABILITY:
                mand.append(int(a.value))
            elif a.code == OPTIONAL_CAPABILITY:
                opt.append(int(a.value))
            elif a.code == SERVER_NAME:
                names.append(_text(a.value) or "")
        return cls(tuple(mand), tuple(opt), tuple(names))


@dataclass(frozen=True)
class SipDigestAuthenticate:
    """SIP-Digest-Authenticate (TS 29.229 §6.3.36): the H(A1) an S-CSCF needs for SIP Digest."""

    digest_realm: str
    digest_ha1: str
    digest_algorithm: str = "MD5"
    digest_qop: str = "auth"

    def to_avp(self) -> Any:
        return avp(SIP_DIGEST_AUTHENTICATE, [avp(DIGEST_REALM, self.digest_realm),
                                             avp(DIGEST_ALGORITHM, self.digest_algorithm),
                                             avp(DIGEST_QOP, self.digest_qop), avp(DIGEST_HA1, self.digest_ha1)], V)

    @classmethod
    def from_avp_value(cls, members: Any) -> SipDigestAuthenticate:
        return cls(_text(_member(members, DIGEST_REALM, 0)) or "", _text(_member(members, DIGEST_HA1, 0)) or "",
                   _text(_member(members, DIGEST_ALGORITHM, 0)) or "MD5", _text(_member(members, DIGEST_QOP, 0)) or "")


@dataclass(frozen=True)
class SipAuthDataItem:
    """SIP-Auth-Data-Item (TS 29.229 §6.3.13).

    For Digest-AKAv1-MD5: ``sip_authenticate`` = RAND || AUTN, ``sip_authorization``
    = XRES, plus CK and IK.  In a MAR after an SQN failure ``sip_authorization``
    = RAND || AUTS (TS 29.228 §6.3.3).  For "SIP Digest": ``sip_digest_authenticate``.
    """

    sip_authentication_scheme: str | None = None
    sip_item_number: int | None = None
    sip_authenticate: bytes | None = None
    sip_authorization: bytes | None = None
    confidentiality_key: bytes | None = None
    integrity_key: bytes | None = None
    sip_digest_authenticate: SipDigestAuthenticate | None = None

    def to_avp(self) -> Any:
        members = []
        if self.sip_item_number is not None:
            members.append(avp(SIP_ITEM_NUMBER, self.sip_item_number, V))
        if self.sip_authentication_scheme is not None:
            members.append(avp(SIP_AUTHENTICATION_SCHEME, self.sip_authentication_scheme, V))
        for code, value in ((SIP_AUTHENTICATE, self.sip_authenticate), (SIP_AUTHORIZATION, self.sip_authorization),
                            (CONFIDENTIALITY_KEY, self.confidentiality_key), (INTEGRITY_KEY, self.integrity_key)):
            if value is not None:
                members.append(avp(code, value, V))
        if self.sip_digest_authenticate is not None:
            members.append(self.sip_digest_authenticate.to_avp())
        return avp(SIP_AUTH_DATA_ITEM, members, V)

    @classmethod
    def from_avp_value(cls, members: Any) -> SipAuthDataItem:
        number = _member(members, SIP_ITEM_NUMBER)
        digest = _member(members, SIP_DIGEST_AUTHENTICATE)
        return cls(_text(_member(members, SIP_AUTHENTICATION_SCHEME)), int(number) if number is not None else None,
                   _member(members, SIP_AUTHENTICATE), _member(members, SIP_AUTHORIZATION),
                   _member(members, CONFIDENTIALITY_KEY), _member(members, INTEGRITY_KEY),
                   SipDigestAuthenticate.from_avp_value(digest) if digest is not None else None)

    @property
    def rand(self) -> bytes | None:
        return self.sip_authenticate[:16] if self.sip_authenticate else None

    @property
    def autn(self) -> bytes | None:
        return self.sip_authenticate[16:32] if self.sip_authenticate else None


@dataclass(frozen=True)
class ChargingInformation:
    """Charging-Information (TS 29.229 §6.3.19): where the S-CSCF sends charging data."""

    primary_event_charging_function_name: str | None = None
    secondary_event_charging_function_name: str | None = None
    primary_charging_collection_function_name: str | None = None
    secondary_charging_collection_function_name: str | None = None

    _CODES: ClassVar[tuple[int, ...]] = (PRIMARY_EVENT_CHARGING_FUNCTION_NAME, SECONDARY_EVENT_CHARGING_FUNCTION_NAME,
                                         PRIMARY_CHARGING_COLLECTION_FUNCTION_NAME,
                                         SECONDARY_CHARGING_COLLECTION_FUNCTION_NAME)

    def to_avp(self) -> Any:
        values = (self.primary_event_charging_function_name, self.secondary_event_charging_function_name,
                  self.primary_charging_collection_function_name, self.secondary_charging_collection_function_name)
        return avp(CHARGING_INFORMATION, [avp(c, v, V) for c, v in zip(self._CODES, values) if v is not None], V)

    @classmethod
    def from_avp_value(cls, members: Any) -> ChargingInformation:
        return cls(*(_text(_member(members, c)) for c in cls._CODES))


@dataclass(frozen=True)
class DeregistrationReason:
    """Deregistration-Reason (TS 29.229 §6.3.16): Reason-Code (§6.3.17) and Reason-Info."""

    reason_code: int
    reason_info: str | None = None

    def to_avp(self) -> Any:
        return deregistration_reason(self.reason_code, self.reason_info or "")

    @classmethod
    def from_avp_value(cls, members: Any) -> DeregistrationReason:
        return cls(int(_member(members, REASON_CODE) or 0), _text(_member(members, REASON_INFO)))


@dataclass(kw_only=True)
class CxMessage:
    """Fields common to every Cx command.  Origin-Host/Realm may be left empty:
    ``DiameterNode.request`` and the node's answer path fill them in."""

    COMMAND: ClassVar[int]
    REQUEST: ClassVar[bool]

    session_id: str | None = None
    origin_host: str | None = None
    origin_realm: str | None = None

    def _body(self) -> list[Any]:
        raise NotImplementedError

    @classmethod
    def _parse(cls, msg: DiameterMessage) -> dict[str, Any]:
        raise NotImplementedError

    @classmethod
    def _header_fields(cls, msg: DiameterMessage) -> dict[str, Any]:
        return {}

    @classmethod
    def from_message(cls: type[_T], msg: DiameterMessage) -> _T:
        if msg.command_code != cls.COMMAND or msg.request != cls.REQUEST:
            raise DiameterError(3001, f"{msg.summary()} is not a {cls.__name__}")
        if cls.REQUEST and msg.session_id is None:
            raise missing_avp(SESSION_ID, 0, "Session-Id")
        return cls(session_id=msg.session_id, origin_host=msg.origin_host, origin_realm=msg.origin_realm,
                   **cls._header_fields(msg), **cls._parse(msg))


@dataclass(kw_only=True)
class CxRequest(CxMessage):
    REQUEST: ClassVar[bool] = True
    destination_realm: str | None = None
    destination_host: str | None = None

    def to_message(self) -> DiameterMessage:
        """The request in TS 29.229 §6.1 order; a Session-Id is made if none was set (§6.1: on every request)."""
        if self.session_id is None:
            self.session_id = new_session_id(self.origin_host or "ims")
        msg = DiameterMessage(self.COMMAND, True, CX_APPLICATION_ID)
        msg.add(avp(SESSION_ID, self.session_id), vendor_app(CX_APPLICATION_ID),
                avp(AUTH_SESSION_STATE, NO_STATE_MAINTAINED))
        if self.origin_host:
            msg.add(avp(ORIGIN_HOST, self.origin_host))
        if self.origin_realm:
            msg.add(avp(ORIGIN_REALM, self.origin_realm))
        if self.destination_host:
            msg.add(avp(DESTINATION_HOST, self.destination_host))
        if self.destination_realm:
            msg.add(avp(DESTINATION_REALM, self.destination_realm))
        msg.add(*self._body())
        return msg

    @classmethod
    def _header_fields(cls, msg: DiameterMessage) -> dict[str, Any]:
        return {"destination_realm": msg.get_str(DESTINATION_REALM), "destination_host": msg.get_str(DESTINATION_HOST)}


@dataclass(kw_only=True)
class CxAnswer(CxMessage):
    """Result-Code (RFC 6733 codes) or Experimental-Result (TS 29.229 §6.2 codes, Vendor-Id 10415)."""

    REQUEST: ClassVar[bool] = False
    result_code: int | None = None
    experimental_result_code: int | None = None

    @property
    def result(self) -> int | None:
        return self.result_code if self.result_code is not None else self.experimental_result_code

    def to_message(self, request: DiameterMessage | None = None) -> DiameterMessage:
        """The answer; with ``request`` it carries that request's Session-Id and identifiers (RFC 6733 §6.2)."""
        msg = DiameterMessage(self.COMMAND, False, CX_APPLICATION_ID)
        if request is not None:
            msg.hop_by_hop, msg.end_to_end = request.hop_by_hop, request.end_to_end
            self.session_id = self.session_id or request.session_id
        if self.session_id is not None:
            msg.add(avp(SESSION_ID, self.session_id))
        msg.add(vendor_app(CX_APPLICATION_ID))
        if self.result_code is not None:
            msg.add(avp(RESULT_CODE, self.result_code))
        if self.experimental_result_code is not None:
            msg.add(avp(EXPERIMENTAL_RESULT, [avp(VENDOR_ID, V),
                                              avp(EXPERIMENTAL_RESULT_CODE, self.experimental_result_code)]))
        msg.add(avp(AUTH_SESSION_STATE, NO_STATE_MAINTAINED))
        if self.origin_host:
            msg.add(avp(ORIGIN_HOST, self.origin_host))
        if self.origin_realm:
            msg.add(avp(ORIGIN_REALM, self.origin_realm))
        msg.add(*self._body())
        return msg

    @classmethod
    def _header_fields(cls, msg: DiameterMessage) -> dict[str, Any]:
        rc = msg.get(RESULT_CODE)
        exp = msg.get(EXPERIMENTAL_RESULT)
        code = _member(exp, EXPERIMENTAL_RESULT_CODE, 0) if exp else None
        return {"result_code": int(rc) if rc is not None else None,
                "experimental_result_code": int(code) if code is not None else None}


def _need(msg: DiameterMessage, code: int, vendor: int, name: str) -> Any:
    value = msg.get(code, vendor)
    if value is None:
        raise missing_avp(code, vendor, name)
    return value


def _impus(msg: DiameterMessage) -> list[str]:
    return [_text(a.value) or "" for a in msg.find(PUBLIC_IDENTITY, V)]


def _opt_int(msg: DiameterMessage, code: int) -> int | None:
    value = msg.get(code, V)
    return int(value) if value is not None else None


# -- UAR/UAA (TS 29.229 §6.1.1, §6.1.2) ----------------------------------------
@dataclass(kw_only=True)
class UserAuthorizationRequest(CxRequest):
    COMMAND: ClassVar[int] = CMD_UA
    user_name: str
    public_identity: str
    visited_network_identifier: str
    user_authorization_type: int = UAT_REGISTRATION
    uar_flags: int | None = None

    def _body(self) -> list[Any]:
        out = [user_name(self.user_name), public_identity(self.public_identity),
               visited_network(self.visited_network_identifier),
               avp(USER_AUTHORIZATION_TYPE, self.user_authorization_type, V)]
        if self.uar_flags is not None:
            out.append(avp(UAR_FLAGS, self.uar_flags, V))
        return out

    @classmethod
    def _parse(cls, msg: DiameterMessage) -> dict[str, Any]:
        return {"user_name": _text(_need(msg, USER_NAME, 0, "User-Name")),
                "public_identity": _text(_need(msg, PUBLIC_IDENTITY, V, "Public-Identity")),
                "visited_network_identifier": _text(_need(msg, VISITED_NETWORK_IDENTIFIER, V,
                                                          "Visited-Network-Identifier")),
                "user_authorization_type": _opt_int(msg, USER_AUTHORIZATION_TYPE) or UAT_REGISTRATION,
                "uar_flags": _opt_int(msg, UAR_FLAGS)}


@dataclass(kw_only=True)
class _ServerAnswer(CxAnswer):
    """UAA and LIA carry the same result: a Server-Name or the Server-Capabilities to choose one."""

    server_name: str | None = None
    server_capabilities: ServerCapabilities | None = None

    def _body(self) -> list[Any]:
        out = []
        if self.server_name is not None:
            out.append(server_name(self.server_name))
        if self.server_capabilities is not None:
            out.append(self.server_capabilities.to_avp())
        return out

    @classmethod
    def _parse(cls, msg: DiameterMessage) -> dict[str, Any]:
        caps = msg.get(SERVER_CAPABILITIES, V)
        return {"server_name": _text(msg.get(SERVER_NAME, V)),
                "server_capabilities": ServerCapabilities.from_avp_value(caps) if caps is not None else None}


@dataclass(kw_only=True)
class UserAuthorizationAnswer(_ServerAnswer):
    COMMAND: ClassVar[int] = CMD_UA


# -- MAR/MAA (TS 29.229 §6.1.7, §6.1.8) ----------------------------------------
@dataclass(kw_only=True)
class MultimediaAuthRequest(CxRequest):
    COMMAND: ClassVar[int] = CMD_MA
    user_name: str
    public_identity: str
    server_name: str
    sip_auth_data_item: SipAuthDataItem = field(default_factory=lambda: SipAuthDataItem(SCHEME_AKAV1))
    sip_number_auth_items: int = 1

    def _body(self) -> list[Any]:
        return [user_name(self.user_name), public_identity(self.public_identity), self.sip_auth_data_item.to_avp(),
                avp(SIP_NUMBER_AUTH_ITEMS, self.sip_number_auth_items, V), server_name(self.server_name)]

    @classmethod
    def _parse(cls, msg: DiameterMessage) -> dict[str, Any]:
        return {"user_name": _text(_need(msg, USER_NAME, 0, "User-Name")),
                "public_identity": _text(_need(msg, PUBLIC_IDENTITY, V, "Public-Identity")),
                "server_name": _text(_need(msg, SERVER_NAME, V, "Server-Name")),
                "sip_auth_data_item": SipAuthDataItem.from_avp_value(
                    _need(msg, SIP_AUTH_DATA_ITEM, V, "SIP-Auth-Data-Item")),
                "sip_number_auth_items": int(_need(msg, SIP_NUMBER_AUTH_ITEMS, V, "SIP-Number-Auth-Items"))}


@dataclass(kw_only=True)
class MultimediaAuthAnswer(CxAnswer):
    COMMAND: ClassVar[int] = CMD_MA
    user_name: str | None = None
    public_identity: str | None = None
    sip_auth_data_items: list[SipAuthDataItem] = field(default_factory=list)

    def _body(self) -> list[Any]:
        out = []
        if self.user_name is not None:
            out.append(user_name(self.user_name))
        if self.public_identity is not None:
            out.append(public_identity(self.public_identity))
        if self.sip_auth_data_items:
            out.append(avp(SIP_NUMBER_AUTH_ITEMS, len(self.sip_auth_data_items), V))
        out += [item.to_avp() for item in self.sip_auth_data_items]
        return out

    @classmethod
    def _parse(cls, msg: DiameterMessage) -> dict[str, Any]:
        return {"user_name": msg.get_str(USER_NAME), "public_identity": _text(msg.get(PUBLIC_IDENTITY, V)),
                "sip_auth_data_items": [SipAuthDataItem.from_avp_value(a.value)
                                        for a in msg.find(SIP_AUTH_DATA_ITEM, V)]}


# -- SAR/SAA (TS 29.229 §6.1.3, §6.1.4) ----------------------------------------
@dataclass(kw_only=True)
class ServerAssignmentRequest(CxRequest):
    COMMAND: ClassVar[int] = CMD_SA
    server_name: str
    server_assignment_type: int
    user_name: str | None = None
    public_identities: list[str] = field(default_factory=list)
    user_data_already_available: int = 0  # USER_DATA_NOT_AVAILABLE

    def _body(self) -> list[Any]:
        out = [user_name(self.user_name)] if self.user_name is not None else []
        out += [public_identity(p) for p in self.public_identities]
        out += [server_name(self.server_name), avp(SERVER_ASSIGNMENT_TYPE, self.server_assignment_type, V),
                avp(USER_DATA_ALREADY_AVAILABLE, self.user_data_already_available, V)]
        return out

    @classmethod
    def _parse(cls, msg: DiameterMessage) -> dict[str, Any]:
        return {"user_name": msg.get_str(USER_NAME), "public_identities": _impus(msg),
                "server_name": _text(_need(msg, SERVER_NAME, V, "Server-Name")),
                "server_assignment_type": int(_need(msg, SERVER_ASSIGNMENT_TYPE, V, "Server-Assignment-Type")),
                "user_data_already_available": int(_need(msg, USER_DATA_ALREADY_AVAILABLE, V,
                                                         "User-Data-Already-Available"))}


@dataclass(kw_only=True)
class ServerAssignmentAnswer(CxAnswer):
    COMMAND: ClassVar[int] = CMD_SA
    user_name: str | None = None
    user_data: str | None = None  # TS 29.228 Annex E XML (ims.diameter.userdata)
    charging_information: ChargingInformation | None = None

    def _body(self) -> list[Any]:
        out = [user_name(self.user_name)] if self.user_name is not None else []
        if self.user_data is not None:
            out.append(avp(USER_DATA, self.user_data.encode(), V))
        if self.charging_information is not None:
            out.append(self.charging_information.to_avp())
        return out

    @classmethod
    def _parse(cls, msg: DiameterMessage) -> dict[str, Any]:
        ci = msg.get(CHARGING_INFORMATION, V)
        return {"user_name": msg.get_str(USER_NAME), "user_data": _text(msg.get(USER_DATA, V)),
                "charging_information": ChargingInformation.from_avp_value(ci) if ci is not None else None}


# -- LIR/LIA (TS 29.229 §6.1.5, §6.1.6) ----------------------------------------
@dataclass(kw_only=True)
class LocationInfoRequest(CxRequest):
    COMMAND: ClassVar[int] = CMD_LI
    public_identity: str
    originating_request: bool = False
    user_authorization_type: int | None = None

    def _body(self) -> list[Any]:
        out = [avp(ORIGINATING_REQUEST, 0, V)] if self.originating_request else []  # ORIGINATING (0), §6.3.32
        out.append(public_identity(self.public_identity))
        if self.user_authorization_type is not None:
            out.append(avp(USER_AUTHORIZATION_TYPE, self.user_authorization_type, V))
        return out

    @classmethod
    def _parse(cls, msg: DiameterMessage) -> dict[str, Any]:
        return {"public_identity": _text(_need(msg, PUBLIC_IDENTITY, V, "Public-Identity")),
                "originating_request": msg.get(ORIGINATING_REQUEST, V) is not None,
                "user_authorization_type": _opt_int(msg, USER_AUTHORIZATION_TYPE)}


@dataclass(kw_only=True)
class LocationInfoAnswer(_ServerAnswer):
    COMMAND: ClassVar[int] = CMD_LI


# -- RTR/RTA (TS 29.229 §6.1.9, §6.1.10): sent by the HSS, answered by the S-CSCF
@dataclass(kw_only=True)
class RegistrationTerminationRequest(CxRequest):
    COMMAND: ClassVar[int] = CMD_RT
    user_name: str
    deregistration_reason: DeregistrationReason
    public_identities: list[str] = field(default_factory=list)  # none: every identity of user_name

    def _body(self) -> list[Any]:
        return [user_name(self.user_name), *(public_identity(p) for p in self.public_identities),
                self.deregistration_reason.to_avp()]

    @classmethod
    def _parse(cls, msg: DiameterMessage) -> dict[str, Any]:
        return {"user_name": _text(_need(msg, USER_NAME, 0, "User-Name")), "public_identities": _impus(msg),
                "deregistration_reason": DeregistrationReason.from_avp_value(
                    _need(msg, DEREGISTRATION_REASON, V, "Deregistration-Reason"))}


@dataclass(kw_only=True)
class _BareAnswer(CxAnswer):
    """RTA and PPA: the result only."""

    def _body(self) -> list[Any]:
        return []

    @classmethod
    def _parse(cls, msg: DiameterMessage) -> dict[str, Any]:
        return {}


@dataclass(kw_only=True)
class RegistrationTerminationAnswer(_BareAnswer):
    COMMAND: ClassVar[int] = CMD_RT


# -- PPR/PPA (TS 29.229 §6.1.11, §6.1.12): sent by the HSS, answered by the S-CSCF
@dataclass(kw_only=True)
class PushProfileRequest(CxRequest):
    COMMAND: ClassVar[int] = CMD_PP
    user_name: str
    user_data: str | None = None
    charging_information: ChargingInformation | None = None
    sip_auth_data_item: SipAuthDataItem | None = None

    def _body(self) -> list[Any]:
        out = [user_name(self.user_name)]
        if self.user_data is not None:
            out.append(avp(USER_DATA, self.user_data.encode(), V))
        if self.charging_information is not None:
            out.append(self.charging_information.to_avp())
        if self.sip_auth_data_item is not None:
            out.append(self.sip_auth_data_item.to_avp())
        return out

    @classmethod
    def _parse(cls, msg: DiameterMessage) -> dict[str, Any]:
        ci, item = msg.get(CHARGING_INFORMATION, V), msg.get(SIP_AUTH_DATA_ITEM, V)
        return {"user_name": _text(_need(msg, USER_NAME, 0, "User-Name")), "user_data": _text(msg.get(USER_DATA, V)),
                "charging_information": ChargingInformation.from_avp_value(ci) if ci is not None else None,
                "sip_auth_data_item": SipAuthDataItem.from_avp_value(item) if item is not None else None}


@dataclass(kw_only=True)
class PushProfileAnswer(_BareAnswer):
    COMMAND: ClassVar[int] = CMD_PP


REQUESTS: dict[int, type[CxRequest]] = {c.COMMAND: c for c in (
    UserAuthorizationRequest, MultimediaAuthRequest, ServerAssignmentRequest, LocationInfoRequest,
    RegistrationTerminationRequest, PushProfileRequest)}
ANSWERS: dict[int, type[CxAnswer]] = {c.COMMAND: c for c in (
    UserAuthorizationAnswer, MultimediaAuthAnswer, ServerAssignmentAnswer, LocationInfoAnswer,
    RegistrationTerminationAnswer, PushProfileAnswer)}


def parse(msg: DiameterMessage) -> CxRequest | CxAnswer:
    """The typed view of any Cx message; DiameterError 3001 (COMMAND_UNSUPPORTED) for other commands."""
    table: dict[int, Any] = REQUESTS if msg.request else ANSWERS
    cls = table.get(msg.command_code)
    if cls is None:
        raise DiameterError(3001, f"command {msg.command_code} is not a Cx command")
    return cls.from_message(msg)  # type: ignore[no-any-return]
