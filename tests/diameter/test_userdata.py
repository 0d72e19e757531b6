"""TS 29.228 Annex E User-Data: build, parse, round trip, implicit sets, the HSS's flat view."""

from __future__ import annotations

import pytest

from ims.diameter.userdata import (
    ApplicationServer, ImsSubscription, InitialFilterCriteria, Ifc, PublicIdentity, ServiceProfile, Spt, TriggerPoint,
    UserData, UserDataError, build_user_data, parse_user_data,
)

REALM = "ims.example.net"
MMTEL = InitialFilterCriteria(
    0, ApplicationServer("sip:tas.ims.example.net", 0, "mmtel"),
    TriggerPoint(True, (
        Spt(method="INVITE", groups=(0,)),
        Spt(session_case=0, groups=(1,)),
        Spt(sip_header="P-Asserted-Identity", sip_header_content="tel:.*", condition_negated=True, groups=(2,)),
        Spt(session_description_line="m", session_description_content="audio.*", groups=(3,)),
        Spt(request_uri="sip:.*@ims.example.net", groups=(3, 4)),
    )), profile_part_indicator=0)
VOICEMAIL = InitialFilterCriteria(1, ApplicationServer("sip:vm.ims.example.net", 1),
                                  TriggerPoint(False, (Spt(session_case=2),)))
SUB = ImsSubscription(f"001@{REALM}", (
    ServiceProfile((PublicIdentity(f"sip:alice@{REALM}", identity_type=0, display_name="Alice"),
                    PublicIdentity("tel:+15550001", identity_type=0)), (MMTEL, VOICEMAIL), subscribed_media_profile_id=7),
    ServiceProfile((PublicIdentity(f"sip:alice-work@{REALM}"), PublicIdentity(f"sip:alice-old@{REALM}", True)), ()),
))


def test_annex_e_round_trip_of_the_full_model() -> None:
    xml = SUB.to_xml()
    assert xml.startswith('<?xml version="1.0" encoding="UTF-8"?><IMSSubscription>')
    assert ImsSubscription.from_xml(xml) == SUB
    assert ImsSubscription.from_xml(xml.encode()) == SUB


def test_annex_e_element_order_in_an_spt() -> None:
    xml = SUB.to_xml()
    assert "<SPT><ConditionNegated>0</ConditionNegated><Group>0</Group><Method>INVITE</Method></SPT>" in xml
    assert ("<SIPHeader><Header>P-Asserted-Identity</Header><Content>tel:.*</Content></SIPHeader>" in xml)
    assert "<SessionDescription><Line>m</Line><Content>audio.*</Content></SessionDescription>" in xml
    assert "<ApplicationServer><ServerName>sip:tas.ims.example.net</ServerName><DefaultHandling>0" in xml


def test_ifcs_are_written_in_priority_order() -> None:
    sp = ServiceProfile((PublicIdentity("sip:x@y"),), (VOICEMAIL, MMTEL))
    xml = ImsSubscription("x@y", (sp,)).to_xml()
    assert xml.index("sip:tas.ims.example.net") < xml.index("sip:vm.ims.example.net")


def test_implicit_set_and_restriction_to_one_set() -> None:
    assert SUB.implicit_set() == [f"sip:alice@{REALM}", "tel:+15550001", f"sip:alice-work@{REALM}",
                                  f"sip:alice-old@{REALM}"]
    one = SUB.restricted_to({f"sip:alice@{REALM}", "tel:+15550001"})
    assert one.implicit_set() == [f"sip:alice@{REALM}", "tel:+15550001"] and one.service_profiles[0].ifcs == SUB.service_profiles[0].ifcs
    assert SUB.profile_of(f"sip:alice-work@{REALM}") is SUB.service_profiles[1]
    assert SUB.profile_of("sip:nobody@x") is None


def test_flat_view_round_trip_for_the_hss() -> None:
    data = UserData(f"001@{REALM}", [f"sip:alice@{REALM}", "tel:+15550001"],
                    [Ifc(0, "sip:tas", 0, method="INVITE", session_case=0),
                     Ifc(5, "sip:as2", 1, header="Event", header_content="reg", sdp_line="m", sdp_content="video")],
                    barred={"tel:+15550001"})
    back = parse_user_data(build_user_data(data))
    assert back == data


def test_flat_ifc_from_the_topology_dict() -> None:
    ifc = Ifc.from_dict({"priority": 3, "server": "sip:tas", "default_handling": "session_terminated",
                         "trigger": {"method": "INVITE", "session_case": "terminating_unregistered"}})
    assert (ifc.priority, ifc.default_handling, ifc.method, ifc.session_case) == (3, 1, "INVITE", 2)
    tp = ifc.to_ifc().trigger_point
    assert tp is not None and tp.condition_type_cnf and [s.groups for s in tp.spts] == [(0,), (1,)]


@pytest.mark.parametrize("xml", [
    "not xml", "<Other/>", "<IMSSubscription><PrivateID>x</PrivateID></IMSSubscription>",
    "<IMSSubscription><ServiceProfile/></IMSSubscription>",
    "<IMSSubscription><ServiceProfile><PublicIdentity><Identity>sip:a@b</Identity></PublicIdentity>"
    "<InitialFilterCriteria><Priority>x</Priority></InitialFilterCriteria></ServiceProfile></IMSSubscription>",
    "<IMSSubscription><ServiceProfile><PublicIdentity><Identity>sip:a@b</Identity></PublicIdentity>"
    "<InitialFilterCriteria><Priority>1</Priority><TriggerPoint><ConditionTypeCNF>1</ConditionTypeCNF><SPT>"
    "<Group>0</Group></SPT></TriggerPoint><ApplicationServer><ServerName>sip:as</ServerName></ApplicationServer>"
    "</InitialFilterCriteria></ServiceProfile></IMSSubscription>",
])
def test_bad_documents_raise_the_typed_error(xml: str) -> None:
    with pytest.raises(UserDataError):
        ImsSubscription.from_xml(xml)


def test_untrusted_user_data_raises_only_user_data_error() -> None:
    """DESIGN §6a: an unknown declared encoding (expat's LookupError) and a DTD with nested entities
    (expansion costs ~0.3 s before expat's amplification limit) are UserDataError at once."""
    import pytest

    from ims.diameter.userdata import UserDataError, parse_user_data
    laughs = "".join(f'<!ENTITY e{i} "{f"&e{i - 1};" * 10 if i else "lol"}">' for i in range(9))
    for bad in (b'<?xml version="1.0" encoding="x-bogus"?><IMSSubscription/>',
                f'<!DOCTYPE IMSSubscription [{laughs}]><IMSSubscription><PrivateID>&e8;</PrivateID></IMSSubscription>',
                b"<!DOCTYPE x><IMSSubscription/>", "\x00"):
        with pytest.raises(UserDataError):
            parse_user_data(bad)
