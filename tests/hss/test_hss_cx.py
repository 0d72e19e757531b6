"""HSS Cx logic against its store, in memory: every result code path (TS 29.228 §6.1)."""

from __future__ import annotations

from pathlib import Path

import pytest

from ims.aka import SyncFailure, Usim
from ims.diameter import cx
from ims.diameter.constants import (
    DIAMETER_AUTHORIZATION_REJECTED, DIAMETER_ERROR_AUTH_SCHEME_NOT_SUPPORTED, DIAMETER_ERROR_IDENTITIES_DONT_MATCH,
    DIAMETER_ERROR_IDENTITY_NOT_REGISTERED, DIAMETER_ERROR_IN_ASSIGNMENT_TYPE, DIAMETER_ERROR_ROAMING_NOT_ALLOWED,
    DIAMETER_ERROR_USER_UNKNOWN, DIAMETER_FIRST_REGISTRATION, DIAMETER_SUBSEQUENT_REGISTRATION, DIAMETER_SUCCESS,
    DIAMETER_UNREGISTERED_SERVICE, RE_REGISTRATION, REGISTRATION, USER_DEREGISTRATION,
)
from ims.diameter.userdata import parse_user_data
from ims.hss.cx import HssConfig, HssCx
from ims.hss.store import Store, StoreError, make_subscriber
from nodes.hss import provision_from_topology
from tests.hss.helpers import ALICE, ALICE_IMPI, HSS_HOST, K1, OPC1, REALM, ROOT, SERVER_NAME, lir, mar, sar, uar


@pytest.fixture
def hss(tmp_path: Path) -> HssCx:
    store = Store(tmp_path / "hss.sqlite")
    provision_from_topology(store, str(ROOT / "topologies" / "volte-basic.toml"), "hss")
    return HssCx(store, HssConfig(HssCx and HSS_HOST, REALM, (REALM,)))


def test_6_1_1_uar_first_registration_with_capabilities(hss: HssCx) -> None:
    a = hss.handle(uar())
    assert a.result_code == DIAMETER_FIRST_REGISTRATION and a.experimental
    mand, opt, names = cx.capabilities(a)
    assert mand == [1] and opt == [2] and names == [SERVER_NAME]


def test_6_1_1_uar_errors(hss: HssCx) -> None:
    assert hss.handle(uar(impu="sip:nobody@x")).result_code == DIAMETER_ERROR_USER_UNKNOWN
    assert hss.handle(uar(impu=f"sip:bob@{REALM}")).result_code == DIAMETER_ERROR_IDENTITIES_DONT_MATCH
    roam = cx.request(300, "icscf", REALM, REALM, cx.user_name(ALICE_IMPI), cx.public_identity(ALICE),
                      cx.visited_network("other.example.org"))
    assert hss.handle(roam).result_code == DIAMETER_ERROR_ROAMING_NOT_ALLOWED
    hss.store.conn.execute("UPDATE impu SET barred = 1 WHERE impu = ?", [ALICE])
    a = hss.handle(uar())
    assert a.result_code == DIAMETER_AUTHORIZATION_REJECTED and not a.experimental


def test_6_3_mar_aka_vectors_verify_on_the_usim(hss: HssCx) -> None:
    a = hss.handle(mar(n=3))
    assert a.result_code == DIAMETER_SUCCESS and a.get(cx.SIP_NUMBER_AUTH_ITEMS, cx.V) == 3
    items = cx.auth_items(a)
    assert [i.number for i in items] == [1, 2, 3] and all(i.scheme == cx.SCHEME_AKAV1 for i in items)
    usim = Usim(K1, OPC1, sqn_ms=0x20)
    for item in items:
        res = usim.authenticate(item.authenticate[:16], item.authenticate[16:])
        assert res.res == item.authorization and res.ck == item.ck and res.ik == item.ik


def test_6_3_mar_resync_from_auts(hss: HssCx) -> None:
    usim = Usim(K1, OPC1, sqn_ms=0x20 + (5000 << 5))  # the USIM is far ahead of the HSS
    item = cx.auth_items(hss.handle(mar()))[0]
    with pytest.raises(SyncFailure) as info:
        usim.authenticate(item.authenticate[:16], item.authenticate[16:])
    a = hss.handle(mar(authorization=item.authenticate[:16] + info.value.auts))
    assert a.result_code == DIAMETER_SUCCESS and hss.stats["resync"] == 1
    fresh = cx.auth_items(a)[0]
    assert usim.authenticate(fresh.authenticate[:16], fresh.authenticate[16:]).res == fresh.authorization


def test_6_3_mar_sip_digest_for_password_subscribers_and_5006_otherwise(hss: HssCx) -> None:
    bob_impi = f"001010000000002@{REALM}"
    a = hss.handle(mar(impi=bob_impi, impu=f"sip:bob@{REALM}", scheme=cx.SCHEME_DIGEST))
    assert a.result_code == DIAMETER_SUCCESS
    digest = hss.handle(mar(scheme=cx.SCHEME_DIGEST))  # alice has no password
    assert digest.result_code == DIAMETER_ERROR_AUTH_SCHEME_NOT_SUPPORTED


def test_6_1_2_sar_registration_user_data_then_subsequent_uar_and_lir(hss: HssCx) -> None:
    a = hss.handle(sar(REGISTRATION))
    assert a.result_code == DIAMETER_SUCCESS
    data = parse_user_data(a.get(cx.USER_DATA, cx.V))
    assert data.impi == ALICE_IMPI and ALICE in data.impus and "tel:+15550001" in data.impus
    u = hss.handle(uar())
    assert u.result_code == DIAMETER_SUBSEQUENT_REGISTRATION and cx.s(u, cx.SERVER_NAME) == SERVER_NAME
    li = hss.handle(lir("tel:+15550001"))  # the implicit set registered together
    assert li.result_code == DIAMETER_SUCCESS and cx.s(li, cx.SERVER_NAME) == SERVER_NAME
    assert hss.handle(sar(RE_REGISTRATION)).result_code == DIAMETER_SUCCESS
    assert hss.handle(sar(USER_DEREGISTRATION)).result_code == DIAMETER_SUCCESS
    assert hss.handle(lir()).result_code == DIAMETER_ERROR_IDENTITY_NOT_REGISTERED
    assert hss.handle(sar(RE_REGISTRATION)).result_code == DIAMETER_ERROR_IN_ASSIGNMENT_TYPE


def test_6_1_4_lir_unknown_and_unregistered_service(hss: HssCx) -> None:
    assert hss.handle(lir("sip:ghost@x")).result_code == DIAMETER_ERROR_USER_UNKNOWN
    hss.store.set_service_profile("mmtel", [{"priority": 1, "server": "sip:tas.example", "trigger": {}}])
    hss.store.conn.execute("UPDATE impi SET service_profile = 'mmtel' WHERE impi = ?", [ALICE_IMPI])
    a = hss.handle(lir())
    assert a.result_code == DIAMETER_UNREGISTERED_SERVICE and cx.capabilities(a)[2] == [SERVER_NAME]


def test_rtr_and_ppr_built_for_the_serving_scscf(hss: HssCx) -> None:
    hss.handle(sar(REGISTRATION))
    rtr, server = hss.build_rtr(ALICE_IMPI)
    assert server == SERVER_NAME and rtr.command_code == 304
    assert [a.value for a in rtr.find(cx.PUBLIC_IDENTITY, cx.V)] == [ALICE, "tel:+15550001"]
    ppr, _ = hss.build_ppr(ALICE_IMPI)
    assert parse_user_data(ppr.get(cx.USER_DATA, cx.V)).impi == ALICE_IMPI


def test_provisioning_errors_name_the_field(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.sqlite")
    good = dict(imsi="001010000000009", impi="9@r.example", impus=["sip:nine@r.example"], k="00" * 16, opc="11" * 16)
    store.add(make_subscriber(good))
    with pytest.raises(StoreError, match="impi 9@r.example already exists"):
        store.add(make_subscriber(good))
    with pytest.raises(StoreError, match="k: must be 16 bytes"):
        make_subscriber({**good, "k": "00" * 15})
    with pytest.raises(StoreError, match="opc: 'zz' is not hexadecimal"):
        make_subscriber({**good, "opc": "zz"})
    with pytest.raises(StoreError, match="exactly one of op and opc"):
        make_subscriber({**good, "op": "22" * 16})
    # all-or-nothing import: the second record collides, so the first is not kept either
    other = {**good, "impi": "10@r.example", "imsi": "001010000000010", "impus": ["sip:ten@r.example"]}
    with pytest.raises(StoreError):
        store.add_many([make_subscriber(other), make_subscriber(good)])
    assert store.get("10@r.example") is None
