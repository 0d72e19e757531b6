"""Cx/Dx commands (3GPP TS 29.229 §6.1) laid out on python-diameter's AVP dictionary.

Requests are built with :func:`request`, answers with :func:`answer`; the
helpers below give each Cx AVP by its TS 29.229 name.  Every Cx request
carries Session-Id, Vendor-Specific-Application-Id (Cx, 10415),
Auth-Session-State NO_STATE_MAINTAINED, Origin-Host/Realm and
Destination-Realm (§6.1.1...).
"""

from __future__ import annotations

import itertools
import os
from dataclasses import dataclass

from ims.diameter.codec import (  # noqa: F401 - DiameterMessage and avp are re-exported
    AUTH_SESSION_STATE, DESTINATION_HOST, DESTINATION_REALM, EXPERIMENTAL_RESULT, EXPERIMENTAL_RESULT_CODE,
    ORIGIN_HOST, ORIGIN_REALM, RESULT_CODE, SESSION_ID, USER_NAME, VENDOR_3GPP, VENDOR_ID, DiameterMessage, avp,
    grouped, vendor_app,
)
from ims.diameter.constants import CX_APPLICATION_ID, NO_STATE_MAINTAINED

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
def user_name(impi: str):  # type: ignore[no-untyped-def]
    return avp(USER_NAME, impi)


def public_identity(impu: str):  # type: ignore[no-untyped-def]
    return avp(PUBLIC_IDENTITY, impu, V)


def server_name(name: str):  # type: ignore[no-untyped-def]
    return avp(SERVER_NAME, name, V)


def visited_network(name: str):  # type: ignore[no-untyped-def]
    return avp(VISITED_NETWORK_IDENTIFIER, name, V)


def server_capabilities(mandatory: list[int], optional: list[int], names: list[str] = ()):  # type: ignore[no-untyped-def, assignment]
    members = [avp(MANDATORY_CAPABILITY, m, V) for m in mandatory] + \
              [avp(OPTIONAL_CAPABILITY, o, V) for o in optional] + [avp(SERVER_NAME, n, V) for n in names]
    return avp(SERVER_CAPABILITIES, members, V)


def auth_data_item(number: int, scheme: str, *, authenticate: bytes | None = None,
                   authorization: bytes | None = None, ck: bytes | None = None, ik: bytes | None = None):  # type: ignore[no-untyped-def]
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


def charging_information(ccf: str):  # type: ignore[no-untyped-def]
    return avp(CHARGING_INFORMATION, [avp(PRIMARY_CHARGING_COLLECTION_FUNCTION_NAME, ccf, V)], V)


def deregistration_reason(code: int, info: str = ""):  # type: ignore[no-untyped-def]
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
