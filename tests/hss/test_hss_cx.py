"""HSS Cx logic against its store, no network: every result code of TS 29.228 §6.1/§6.3 (TS 29.229 §6.2)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from ims.aka import SyncFailure, Usim
from ims.diameter import cx
from ims.diameter.constants import (
    ADMINISTRATIVE_DEREGISTRATION, AUTHENTICATION_FAILURE, DIAMETER_AUTHORIZATION_REJECTED,
    DIAMETER_ERROR_AUTH_SCHEME_NOT_SUPPORTED, DIAMETER_ERROR_IDENTITIES_DONT_MATCH,
    DIAMETER_ERROR_IDENTITY_ALREADY_REGISTERED, DIAMETER_ERROR_IDENTITY_NOT_REGISTERED,
    DIAMETER_ERROR_IN_ASSIGNMENT_TYPE, DIAMETER_ERROR_ROAMING_NOT_ALLOWED, DIAMETER_ERROR_USER_UNKNOWN,
    DIAMETER_FIRST_REGISTRATION, DIAMETER_MISSING_AVP, DIAMETER_SUBSEQUENT_REGISTRATION, DIAMETER_SUCCESS,
    DIAMETER_UNABLE_TO_COMPLY, DIAMETER_UNREGISTERED_SERVICE, NO_ASSIGNMENT, RE_REGISTRATION, REGISTRATION,
    TIMEOUT_DEREGISTRATION, UAT_DE_REGISTRATION, UAT_REGISTRATION_AND_CAPABILITIES, UNREGISTERED_USER,
    USER_DEREGISTRATION, USER_DEREGISTRATION_STORE_SERVER_NAME,
)
from ims.diameter.errors import DiameterError
from ims.diameter.userdata import parse_user_data
from ims.hss.cx import HssConfig, HssCx
from ims.hss.provisioning import make_subscriber
from ims.hss.store import NOT_REGISTERED, REGISTERED, UNREGISTERED, Store
from ims.hss.provisioning import provision_from_topology
from tests.hss.helpers import ALICE, ALICE_IMPI, HSS_HOST, K1, OPC1, REALM, ROOT, SCSCF, SERVER_NAME, lir, mar, sar, uar

BOB_IMPI, BOB = f"001010000000002@{REALM}", f"sip:bob@{REALM}"
OTHER_SCSCF = "sip:127.0.1.31:5060"


@pytest.fixture
def hss(tmp_path: Path) -> HssCx:
    store = Store(tmp_path / "hss.sqlite")
    provision_from_topology(store, str(ROOT / "topologies" / "volte-basic.toml"), "hss")
    return HssCx(store, HssConfig(HSS_HOST, REALM, (REALM,), f"aaa://ccf.{REALM}:3868"))


def ask(hss: HssCx, msg: cx.DiameterMessage) -> cx.DiameterMessage:  # type: ignore[name-defined]
    return hss.handle_message(msg)


def sar_from(server: str, sat: int, impu: str = ALICE) -> cx.DiameterMessage:  # type: ignore[name-defined]
    return cx.ServerAssignmentRequest(server_name=server, server_assignment_type=sat, user_name=ALICE_IMPI,
                                      public_identities=[impu], origin_host="scscf2." + REALM, origin_realm=REALM,
                                      destination_realm=REALM).to_message()


# -- UAR (TS 29.228 §6.1.1) ---------------------------------------------------------------
def test_6_1_1_uar_first_registration_returns_capabilities(hss: HssCx) -> None:
    a = ask(hss, uar())
    assert a.result_code == DIAMETER_FIRST_REGISTRATION and a.experimental
    mand, opt, names = cx.capabilities(a)
    assert mand == [1] and opt == [2] and names == [SERVER_NAME]


def test_6_1_1_uar_5001_unknown_5002_mismatch_5004_roaming(hss: HssCx) -> None:
    a = ask(hss, uar(impu="sip:nobody@x"))
    assert a.result_code == DIAMETER_ERROR_USER_UNKNOWN and a.experimental
    assert ask(hss, uar(impi="nobody@x")).result_code == DIAMETER_ERROR_USER_UNKNOWN
    assert ask(hss, uar(impu=BOB)).result_code == DIAMETER_ERROR_IDENTITIES_DONT_MATCH
    roam = cx.request(300, "icscf", REALM, REALM, cx.user_name(ALICE_IMPI), cx.public_identity(ALICE),
                      cx.visited_network("other.example.org"))
    a = ask(hss, roam)
    assert a.result_code == DIAMETER_ERROR_ROAMING_NOT_ALLOWED and a.experimental


def test_6_1_1_uar_barring_is_5003_authorization_rejected_in_result_code(hss: HssCx) -> None:
    hss.store.set_barring(ALICE, True)  # alice's set still has tel:+15550001, not barred
    assert ask(hss, uar()).result_code == DIAMETER_FIRST_REGISTRATION
    hss.store.set_barring("tel:+15550001", True)  # now every identity of the set is barred
    a = ask(hss, uar())
    assert a.result_code == DIAMETER_AUTHORIZATION_REJECTED and not a.experimental
    hss.store.set_barring("tel:+15550001", False)
    hss.store.set_barring(ALICE_IMPI, True)  # the whole subscription
    assert ask(hss, uar()).result_code == DIAMETER_AUTHORIZATION_REJECTED


def test_6_1_1_uar_registration_and_capabilities_is_diameter_success(hss: HssCx) -> None:
    a = ask(hss, uar(uat=UAT_REGISTRATION_AND_CAPABILITIES))
    assert a.result_code == DIAMETER_SUCCESS and not a.experimental and cx.capabilities(a)[2] == [SERVER_NAME]


def test_6_1_1_uar_subsequent_registration_and_deregistration(hss: HssCx) -> None:
    a = ask(hss, uar(uat=UAT_DE_REGISTRATION))
    assert a.result_code == DIAMETER_ERROR_IDENTITY_NOT_REGISTERED and a.experimental
    assert ask(hss, sar(REGISTRATION)).result_code == DIAMETER_SUCCESS
    a = ask(hss, uar())
    assert a.result_code == DIAMETER_SUBSEQUENT_REGISTRATION and cx.s(a, cx.SERVER_NAME) == SERVER_NAME
    a = ask(hss, uar(uat=UAT_DE_REGISTRATION))
    assert a.result_code == DIAMETER_SUCCESS and not a.experimental and cx.s(a, cx.SERVER_NAME) == SERVER_NAME
    # a de-registration is not refused for barring or roaming (§6.1.1.1 step 3 is skipped)
    hss.store.set_barring(ALICE_IMPI, True)
    assert ask(hss, uar(uat=UAT_DE_REGISTRATION)).result_code == DIAMETER_SUCCESS


def test_6_1_1_uar_missing_visited_network_is_5005(hss: HssCx) -> None:
    bare = cx.request(300, "icscf", REALM, REALM, cx.user_name(ALICE_IMPI), cx.public_identity(ALICE))
    with pytest.raises(DiameterError) as info:
        ask(hss, bare)
    assert info.value.result_code == DIAMETER_MISSING_AVP and info.value.failed_avp is not None


# -- MAR (TS 29.228 §6.3) ------------------------------------------------------------------
def test_6_3_mar_aka_vectors_verify_on_the_usim_and_record_the_scscf(hss: HssCx) -> None:
    a = ask(hss, mar(n=3))
    assert a.result_code == DIAMETER_SUCCESS and a.get(cx.SIP_NUMBER_AUTH_ITEMS, cx.V) == 3
    items = cx.auth_items(a)
    assert [i.number for i in items] == [1, 2, 3] and all(i.scheme == cx.SCHEME_AKAV1 for i in items)
    usim = Usim(K1, OPC1, sqn_ms=0x20)
    for item in items:
        res = usim.authenticate(item.authenticate[:16], item.authenticate[16:])
        assert res.res == item.authorization and res.ck == item.ck and res.ik == item.ik
    row = hss.store.impu_row(ALICE)
    assert row is not None and row.scscf == SERVER_NAME and row.scscf_host == SCSCF and row.state == NOT_REGISTERED
    # the pending S-CSCF makes the next UAR a subsequent one (TS 29.228 §6.1.1.1 step 4)
    assert ask(hss, uar()).result_code == DIAMETER_SUBSEQUENT_REGISTRATION


def test_6_3_mar_unknown_scheme_and_akav2(hss: HssCx) -> None:
    assert cx.auth_items(ask(hss, mar(scheme=cx.SCHEME_UNKNOWN)))[0].scheme == cx.SCHEME_AKAV1
    assert cx.auth_items(ask(hss, mar(scheme=cx.SCHEME_AKAV2)))[0].scheme == cx.SCHEME_AKAV2
    a = ask(hss, mar(scheme="Digest-MD5-Sess-Whatever"))
    assert a.result_code == DIAMETER_ERROR_AUTH_SCHEME_NOT_SUPPORTED and a.experimental
    assert ask(hss, mar(impu=BOB)).result_code == DIAMETER_ERROR_IDENTITIES_DONT_MATCH
    assert ask(hss, mar(impi="x@y", impu="sip:x@y")).result_code == DIAMETER_ERROR_USER_UNKNOWN


def test_6_3_mar_resync_from_auts(hss: HssCx) -> None:
    usim = Usim(K1, OPC1, sqn_ms=0x20 + (5000 << 5))  # the USIM is far ahead of the HSS
    item = cx.auth_items(ask(hss, mar()))[0]
    with pytest.raises(SyncFailure) as info:
        usim.authenticate(item.authenticate[:16], item.authenticate[16:])
    a = ask(hss, mar(authorization=item.authenticate[:16] + info.value.auts))
    assert a.result_code == DIAMETER_SUCCESS and hss.stats["resync"] == 1
    fresh = cx.auth_items(a)[0]
    assert usim.authenticate(fresh.authenticate[:16], fresh.authenticate[16:]).res == fresh.authorization
    # an AUTS that does not verify (MAC-S) is refused and moves nothing
    sqn_before = hss.store.get(ALICE_IMPI).sqn  # type: ignore[union-attr]
    bad = ask(hss, mar(authorization=item.authenticate[:16] + bytes(14)))
    assert bad.result_code == DIAMETER_UNABLE_TO_COMPLY and hss.store.get(ALICE_IMPI).sqn == sqn_before  # type: ignore[union-attr]


def test_6_3_mar_sip_digest_ha1_for_password_subscribers_and_5006_otherwise(hss: HssCx) -> None:
    a = ask(hss, mar(impi=BOB_IMPI, impu=BOB, scheme=cx.SCHEME_DIGEST))
    assert a.result_code == DIAMETER_SUCCESS
    maa = cx.MultimediaAuthAnswer.from_message(a)
    digest = maa.sip_auth_data_items[0].sip_digest_authenticate
    assert digest is not None and digest.digest_realm == REALM
    assert digest.digest_ha1 == hashlib.md5(f"{BOB_IMPI}:{REALM}:bobsecret".encode()).hexdigest()
    assert ask(hss, mar(scheme=cx.SCHEME_DIGEST)).result_code == DIAMETER_ERROR_AUTH_SCHEME_NOT_SUPPORTED


def test_6_3_mar_never_moves_a_registered_user_to_another_scscf(hss: HssCx) -> None:
    ask(hss, sar(REGISTRATION))
    other = cx.MultimediaAuthRequest(user_name=ALICE_IMPI, public_identity=ALICE, server_name=OTHER_SCSCF,
                                     origin_host="scscf2." + REALM, origin_realm=REALM,
                                     destination_realm=REALM).to_message()
    assert ask(hss, other).result_code == DIAMETER_SUCCESS
    assert hss.store.impu_row(ALICE).scscf == SERVER_NAME  # type: ignore[union-attr]


# -- SAR (TS 29.228 §6.1.2) -----------------------------------------------------------------
def test_6_1_2_sar_registration_user_data_charging_then_lir(hss: HssCx) -> None:
    a = ask(hss, sar(REGISTRATION))
    assert a.result_code == DIAMETER_SUCCESS and not a.experimental
    data = parse_user_data(a.get(cx.USER_DATA, cx.V))
    assert data.impi == ALICE_IMPI and data.impus == [ALICE, "tel:+15550001"]
    saa = cx.ServerAssignmentAnswer.from_message(a)
    assert saa.charging_information is not None
    assert saa.charging_information.primary_charging_collection_function_name == f"aaa://ccf.{REALM}:3868"
    assert hss.store.impu_row("tel:+15550001").state == REGISTERED  # type: ignore[union-attr]
    li = ask(hss, lir("tel:+15550001"))  # the implicit set registered together
    assert li.result_code == DIAMETER_SUCCESS and cx.s(li, cx.SERVER_NAME) == SERVER_NAME
    assert ask(hss, sar(RE_REGISTRATION)).result_code == DIAMETER_SUCCESS


def test_6_1_2_sar_deregistrations_clear_or_keep_the_server_name(hss: HssCx) -> None:
    for sat, kept in ((USER_DEREGISTRATION, None), (TIMEOUT_DEREGISTRATION, None),
                      (ADMINISTRATIVE_DEREGISTRATION, None), (USER_DEREGISTRATION_STORE_SERVER_NAME, SERVER_NAME)):
        ask(hss, sar(REGISTRATION))
        a = ask(hss, sar(sat))
        assert a.result_code == DIAMETER_SUCCESS and a.get(cx.USER_DATA, cx.V) is None
        row = hss.store.impu_row(ALICE)
        assert row is not None and row.state == NOT_REGISTERED and row.scscf == kept, sat
    assert ask(hss, lir()).result_code == DIAMETER_ERROR_IDENTITY_NOT_REGISTERED


def test_6_1_2_sar_5007_in_assignment_type(hss: HssCx) -> None:
    a = ask(hss, sar(RE_REGISTRATION))  # not registered: no re-registration
    assert a.result_code == DIAMETER_ERROR_IN_ASSIGNMENT_TYPE and a.experimental
    ask(hss, sar(REGISTRATION))
    assert ask(hss, sar_from(OTHER_SCSCF, RE_REGISTRATION)).result_code == DIAMETER_ERROR_IN_ASSIGNMENT_TYPE
    assert ask(hss, sar_from(OTHER_SCSCF, USER_DEREGISTRATION)).result_code == DIAMETER_ERROR_IN_ASSIGNMENT_TYPE
    assert hss.store.impu_row(ALICE).state == REGISTERED  # type: ignore[union-attr]
    assert ask(hss, sar(99)).result_code == DIAMETER_ERROR_IN_ASSIGNMENT_TYPE


def test_6_1_2_sar_unregistered_user_and_5005_already_registered(hss: HssCx) -> None:
    a = ask(hss, sar(UNREGISTERED_USER))
    assert a.result_code == DIAMETER_SUCCESS and parse_user_data(a.get(cx.USER_DATA, cx.V)).impi == ALICE_IMPI
    assert hss.store.impu_row(ALICE).state == UNREGISTERED  # type: ignore[union-attr]
    assert ask(hss, lir()).result_code == DIAMETER_SUCCESS
    ask(hss, sar(REGISTRATION))
    assert ask(hss, sar(UNREGISTERED_USER)).result_code == DIAMETER_SUCCESS
    assert hss.store.impu_row(ALICE).state == REGISTERED  # type: ignore[union-attr]  # stays registered
    a = ask(hss, sar_from(OTHER_SCSCF, UNREGISTERED_USER))
    assert a.result_code == DIAMETER_ERROR_IDENTITY_ALREADY_REGISTERED and a.experimental


def test_6_1_2_sar_no_assignment_and_authentication_failure(hss: HssCx) -> None:
    assert ask(hss, sar(NO_ASSIGNMENT)).result_code == DIAMETER_UNABLE_TO_COMPLY
    ask(hss, sar(REGISTRATION))
    assert ask(hss, sar(NO_ASSIGNMENT)).get(cx.USER_DATA, cx.V) is not None
    ask(hss, sar(AUTHENTICATION_FAILURE))  # a registered user stays registered
    assert hss.store.impu_row(ALICE).state == REGISTERED  # type: ignore[union-attr]
    ask(hss, sar(USER_DEREGISTRATION))
    ask(hss, mar())  # pending S-CSCF recorded
    ask(hss, sar(AUTHENTICATION_FAILURE))  # ... and released when the authentication fails
    assert hss.store.impu_row(ALICE).scscf is None  # type: ignore[union-attr]
    assert ask(hss, sar(REGISTRATION, impu="sip:ghost@x")).result_code == DIAMETER_ERROR_USER_UNKNOWN


def test_implicit_registration_sets_register_separately(tmp_path: Path) -> None:
    store = Store(tmp_path / "irs.sqlite")
    store.add(make_subscriber({"impi": f"9@{REALM}", "imsi": "001010000000009", "k": K1, "opc": OPC1,
                               "impus": f"sip:nine@{REALM} tel:+19 | sip:nine-work@{REALM}",
                               "barred": [f"sip:nine-work@{REALM}"]}))
    hss = HssCx(store, HssConfig(HSS_HOST, REALM))
    req = cx.ServerAssignmentRequest(server_name=SERVER_NAME, server_assignment_type=REGISTRATION,
                                     user_name=f"9@{REALM}", public_identities=[f"sip:nine@{REALM}"],
                                     origin_host=SCSCF, origin_realm=REALM, destination_realm=REALM)
    data = parse_user_data(hss.handle(req).to_message().get(cx.USER_DATA, cx.V))  # type: ignore[attr-defined]
    assert data.impus == [f"sip:nine@{REALM}", "tel:+19"]  # only the first set
    assert store.impu_row("tel:+19").state == REGISTERED  # type: ignore[union-attr]
    assert store.impu_row(f"sip:nine-work@{REALM}").state == NOT_REGISTERED  # type: ignore[union-attr]
    # the work set alone is barred: its UAR is rejected, the subscription's S-CSCF is known
    assert hss.handle_message(uar(f"9@{REALM}", f"sip:nine-work@{REALM}")).result_code == 5003
    ppr = hss.build_ppr(f"9@{REALM}")
    assert ppr is not None and ppr.destination_host == SCSCF
    # the barred identity carries BarringIndication in User-Data (TS 29.228 Annex E)
    store.assign(f"9@{REALM}", None, REGISTERED, SERVER_NAME, SCSCF)
    everything = parse_user_data(hss.user_data(store.get(f"9@{REALM}")))  # type: ignore[arg-type]
    assert everything.barred == {f"sip:nine-work@{REALM}"}


# -- LIR (TS 29.228 §6.1.4) ----------------------------------------------------------------------
def test_6_1_4_lir_unknown_not_registered_and_unregistered_service(hss: HssCx) -> None:
    a = ask(hss, lir("sip:ghost@x"))
    assert a.result_code == DIAMETER_ERROR_USER_UNKNOWN and a.experimental
    assert ask(hss, lir()).result_code == DIAMETER_ERROR_IDENTITY_NOT_REGISTERED
    hss.store.set_service_profile("vm", [{"priority": 1, "server": "sip:vm.example",
                                          "trigger": {"session_case": "terminating_unregistered"}}])
    hss.store.set_subscriber_profile(ALICE_IMPI, "vm")
    a = ask(hss, lir())
    assert a.result_code == DIAMETER_UNREGISTERED_SERVICE and a.experimental
    assert cx.capabilities(a)[2] == [SERVER_NAME]
    ask(hss, sar(REGISTRATION))
    ask(hss, sar(USER_DEREGISTRATION_STORE_SERVER_NAME))  # a kept S-CSCF name is returned instead
    a = ask(hss, lir())
    assert a.result_code == DIAMETER_UNREGISTERED_SERVICE and cx.s(a, cx.SERVER_NAME) == SERVER_NAME
    # originating-only services are not services for the unregistered state
    hss.store.set_service_profile("vm", [{"priority": 1, "server": "sip:x", "trigger": {"session_case": "originating"}}])
    ask(hss, sar(USER_DEREGISTRATION))
    assert ask(hss, lir()).result_code == DIAMETER_ERROR_IDENTITY_NOT_REGISTERED


# -- HSS-initiated (TS 29.228 §6.1.3, §6.2.2) -------------------------------------------------------
def test_rtr_and_ppr_go_to_the_serving_scscf(hss: HssCx) -> None:
    with pytest.raises(DiameterError) as info:
        hss.build_rtr(ALICE_IMPI)
    assert info.value.result_code == DIAMETER_ERROR_IDENTITY_NOT_REGISTERED
    assert hss.build_ppr(ALICE_IMPI) is None  # nobody to push to
    ask(hss, sar(REGISTRATION))
    push = hss.build_rtr(ALICE)
    rtr = push.request
    assert isinstance(rtr, cx.RegistrationTerminationRequest) and push.destination_host == SCSCF
    assert rtr.public_identities == [ALICE, "tel:+15550001"] and rtr.deregistration_reason.reason_code == 0
    hss.store.set_service_profile("p", [], '<InitialFilterCriteria><Priority>7</Priority><ApplicationServer>'
                                           '<ServerName>sip:as.example</ServerName><DefaultHandling>0'
                                           '</DefaultHandling></ApplicationServer></InitialFilterCriteria>')
    hss.store.set_subscriber_profile(ALICE_IMPI, "p")
    ppr = hss.build_ppr(ALICE_IMPI)
    assert ppr is not None and isinstance(ppr.request, cx.PushProfileRequest)
    data = parse_user_data(ppr.request.user_data or "")
    assert data.impi == ALICE_IMPI and [i.priority for i in data.ifcs] == [7]  # raw iFC XML kept
    hss.rtr_answered(push, DIAMETER_SUCCESS)
    assert hss.store.impu_row(ALICE).state == NOT_REGISTERED  # type: ignore[union-attr]
