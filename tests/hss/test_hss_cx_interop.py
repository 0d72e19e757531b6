"""Cx as other vendors send it (issue 14): what Kamailio's ims_icscf/ims_auth put on the wire, answered right.

Each case is a regression test for an interop failure seen with Kamailio 5.6 against our HSS:
- MAR SIP-Authentication-Scheme ``unknown`` (Kamailio's ``HSS-Selected``) was matched case-sensitively;
- a quoted Visited-Network-Identifier (P-Visited-Network-ID copied verbatim) was refused as roaming;
- the CEA carried Product-Name with the M bit (RFC 6733 §5.3: must not);
- error MAAs lacked User-Name/Public-Identity, so Kamailio said "Private identity not found".
"""

from __future__ import annotations

from pathlib import Path

import pytest

from ims.diameter import cx
from ims.diameter.codec import DiameterMessage
from ims.diameter.constants import (
    DIAMETER_ERROR_AUTH_SCHEME_NOT_SUPPORTED,
    DIAMETER_ERROR_IDENTITIES_DONT_MATCH,
    DIAMETER_ERROR_ROAMING_NOT_ALLOWED,
    DIAMETER_ERROR_USER_UNKNOWN,
    DIAMETER_FIRST_REGISTRATION,
    DIAMETER_SUCCESS,
    RE_REGISTRATION,
)
from ims.diameter.peer import LocalIdentity, Peer, SendBytes
from ims.hss.cx import HssConfig, HssCx, canonical_scheme, network_name
from ims.hss.provisioning import make_subscriber, provision_from_topology
from ims.hss.store import SCHEME_DIGEST, Store
from tests.hss.helpers import ALICE, ALICE_IMPI, HSS_HOST, REALM, ROOT, mar, sar

BOB_IMPI, BOB = f"001010000000002@{REALM}", f"sip:bob@{REALM}"
DAVE_IMPI, DAVE = f"dave@{REALM}", f"sip:dave@{REALM}"


@pytest.fixture
def hss(tmp_path: Path) -> HssCx:
    store = Store(tmp_path / "hss.sqlite")
    provision_from_topology(store, str(ROOT / "topologies" / "volte-basic.toml"), "hss")
    # A digest-only softphone user (no USIM): the HSS-selected scheme must be SIP Digest.
    store.add(make_subscriber({"imsi": "001010000000099", "impi": DAVE_IMPI, "impus": [DAVE],
                               "k": "11" * 16, "opc": "22" * 16, "password": "davesecret",
                               "auth_schemes": SCHEME_DIGEST}))
    return HssCx(store, HssConfig(HSS_HOST, REALM, (REALM,)))


def uar_from(visited: str, impi: str = ALICE_IMPI, impu: str = ALICE) -> DiameterMessage:
    return cx.request(300, "icscf." + REALM, REALM, REALM, cx.user_name(impi), cx.public_identity(impu),
                      cx.visited_network(visited))


# -- MAR: SIP-Authentication-Scheme (TS 29.229 §6.3.2) -----------------------------------------------
@pytest.mark.parametrize("sent", ["unknown", "UNKNOWN", "Unknown"])
def test_6_3_1_mar_scheme_unknown_any_case_lets_the_hss_pick(hss: HssCx, sent: str) -> None:
    a = hss.handle_message(mar(scheme=sent))
    assert a.result_code == DIAMETER_SUCCESS, a.result_code
    assert cx.auth_items(a)[0].scheme == cx.SCHEME_AKAV1  # alice's first provisioned scheme


def test_6_3_1_mar_hss_selected_for_a_digest_only_user_is_sip_digest(hss: HssCx) -> None:
    a = hss.handle_message(mar(impi=DAVE_IMPI, impu=DAVE, scheme="unknown"))
    assert a.result_code == DIAMETER_SUCCESS
    (item,) = cx.auth_items(a)
    assert item.scheme == cx.SCHEME_DIGEST


@pytest.mark.parametrize(("sent", "impi", "impu", "scheme"), [
    ("digest-akav1-md5", ALICE_IMPI, ALICE, cx.SCHEME_AKAV1),
    ("DIGEST-AKAV2-MD5", ALICE_IMPI, ALICE, cx.SCHEME_AKAV2),
    ("sip digest", DAVE_IMPI, DAVE, cx.SCHEME_DIGEST),
    ("Digest-MD5", DAVE_IMPI, DAVE, cx.SCHEME_DIGEST),  # Kamailio's algorithm MD5 (OpenIMSCore's name)
])
def test_6_3_2_mar_scheme_names_match_case_insensitively(hss: HssCx, sent: str, impi: str, impu: str,
                                                          scheme: str) -> None:
    a = hss.handle_message(mar(impi=impi, impu=impu, scheme=sent))
    assert a.result_code == DIAMETER_SUCCESS, (sent, a.result_code)
    assert cx.auth_items(a)[0].scheme == scheme == canonical_scheme(sent)


def test_6_3_2_an_unimplemented_scheme_is_still_5006(hss: HssCx) -> None:
    a = hss.handle_message(mar(scheme="NASS-Bundled"))
    assert a.result_code == DIAMETER_ERROR_AUTH_SCHEME_NOT_SUPPORTED and a.experimental


# -- UAR: Visited-Network-Identifier (TS 29.228 §6.1.1.1 step 3) -------------------------------------
@pytest.mark.parametrize("visited", [f'"{REALM}"', f'  "{REALM.upper()}" ', REALM, f'"{REALM[:3]}\\{REALM[3:]}"'])
def test_6_1_1_uar_quoted_visited_network_is_the_home_network(hss: HssCx, visited: str) -> None:
    a = hss.handle_message(uar_from(visited))
    assert a.result_code == DIAMETER_FIRST_REGISTRATION and a.experimental, (visited, a.result_code)


@pytest.mark.parametrize("visited", ['"other.example.org"', "other.example.org", '"other.example.org'])
def test_6_1_1_uar_other_network_quoted_or_not_is_still_5004(hss: HssCx, visited: str) -> None:
    a = hss.handle_message(uar_from(visited))
    assert a.result_code == DIAMETER_ERROR_ROAMING_NOT_ALLOWED, (visited, a.result_code)


def test_network_name_unquotes_and_folds_case() -> None:
    assert network_name('"IMS.Example.ORG"') == "ims.example.org"
    assert network_name('"a\\"b"') == 'a"b'
    assert network_name('"') == '"'  # a lone quote is no quoted-string: compared as sent


# -- Error answers carry the identities (TS 29.229 §6.1.8 MAA) ---------------------------------------
@pytest.mark.parametrize(("impi", "impu", "code"), [
    ("nobody@" + REALM, "sip:nobody@" + REALM, DIAMETER_ERROR_USER_UNKNOWN),
    (ALICE_IMPI, BOB, DIAMETER_ERROR_IDENTITIES_DONT_MATCH),
])
def test_6_1_8_error_maa_carries_user_name_and_public_identity(hss: HssCx, impi: str, impu: str,
                                                              code: int) -> None:
    a = hss.handle_message(mar(impi=impi, impu=impu))
    assert a.result_code == code and a.experimental
    assert a.get_str(cx.USER_NAME) == impi
    assert cx.s(a, cx.PUBLIC_IDENTITY) == impu


def test_6_1_8_maa_5006_carries_the_identities_too(hss: HssCx) -> None:
    a = hss.handle_message(mar(impi=DAVE_IMPI, impu=DAVE, scheme=cx.SCHEME_AKAV1))
    assert a.result_code == DIAMETER_ERROR_AUTH_SCHEME_NOT_SUPPORTED
    assert a.get_str(cx.USER_NAME) == DAVE_IMPI and cx.s(a, cx.PUBLIC_IDENTITY) == DAVE


def test_6_1_4_error_saa_carries_the_user_name(hss: HssCx) -> None:
    a = hss.handle_message(sar(RE_REGISTRATION))  # alice is not registered: 5007
    assert a.result_code != DIAMETER_SUCCESS
    assert a.get_str(cx.USER_NAME) == ALICE_IMPI


# -- CEA: Product-Name without the M bit (RFC 6733 §5.3 AVP flag table) ------------------------------
def test_5_3_cer_and_cea_send_product_name_without_the_m_bit() -> None:
    client = Peer(LocalIdentity("scscf." + REALM, REALM), initiator=True)
    server = Peer(LocalIdentity(HSS_HOST, REALM), initiator=False)
    client.start(0.0)
    (cer,) = [a for a in client.connected(0.0) if isinstance(a, SendBytes)]
    (cea,) = [a for a in server.receive_data(cer.data, 0.0) if isinstance(a, SendBytes)]
    for raw in (cer.data, cea.data):
        flags = _avp_flags(raw, 269)
        assert flags is not None and not flags & 0x40, "Product-Name must not have the M bit"
        assert _avp_flags(raw, 264) == 0x40  # Origin-Host keeps its M bit


def _avp_flags(raw: bytes, code: int) -> int | None:
    """The flags octet of the first top-level AVP ``code`` in an encoded message (RFC 6733 §4.1)."""
    i = 20
    while i + 8 <= len(raw):
        c, flags, length = int.from_bytes(raw[i:i + 4], "big"), raw[i + 4], int.from_bytes(raw[i + 5:i + 8], "big")
        if c == code:
            return flags
        i += (length + 3) & ~3
    return None
