"""Cx/Dx typed messages (TS 29.229 §6.1): encode, decode with python-diameter, read back."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ims.diameter import cx
from ims.diameter.codec import FAILED_AVP, DiameterMessage
from ims.diameter.constants import (
    CMD_LI, CMD_MA, CMD_PP, CMD_RT, CMD_SA, CMD_UA, CX_APPLICATION_ID, DIAMETER_FIRST_REGISTRATION,
    DIAMETER_MISSING_AVP, DIAMETER_SUCCESS, PERMANENT_TERMINATION, REGISTRATION, UAT_REGISTRATION_AND_CAPABILITIES,
)
from ims.diameter.errors import DiameterError
from ims.diameter.userdata import UserData, build_user_data

ORIGIN = {"origin_host": "scscf.ims.example.net", "origin_realm": "ims.example.net"}
HSS = {"origin_host": "hss.ims.example.net", "origin_realm": "ims.example.net"}
RAND, AUTN, XRES = bytes(range(16)), bytes(range(16, 32)), bytes(8)
CK, IK = b"\x11" * 16, b"\x22" * 16


def wire(msg: DiameterMessage) -> DiameterMessage:
    return DiameterMessage.from_bytes(msg.to_bytes())


REQUESTS = [
    cx.UserAuthorizationRequest(**ORIGIN, destination_realm="ims.example.net", user_name="001@ims.example.net",
                                public_identity="sip:alice@ims.example.net",
                                visited_network_identifier="ims.example.net",
                                user_authorization_type=UAT_REGISTRATION_AND_CAPABILITIES),
    cx.MultimediaAuthRequest(**ORIGIN, destination_realm="ims.example.net", user_name="001@ims.example.net",
                             public_identity="sip:alice@ims.example.net", server_name="sip:scscf.ims.example.net",
                             sip_number_auth_items=2,
                             sip_auth_data_item=cx.SipAuthDataItem(cx.SCHEME_AKAV1, sip_authorization=RAND + bytes(14))),
    cx.ServerAssignmentRequest(**ORIGIN, destination_realm="ims.example.net", user_name="001@ims.example.net",
                               public_identities=["sip:alice@ims.example.net", "tel:+15550001"],
                               server_name="sip:scscf.ims.example.net", server_assignment_type=REGISTRATION),
    cx.LocationInfoRequest(**ORIGIN, destination_realm="ims.example.net", public_identity="tel:+15550001",
                           originating_request=True),
    cx.RegistrationTerminationRequest(**HSS, destination_host="scscf.ims.example.net",
                                      destination_realm="ims.example.net", user_name="001@ims.example.net",
                                      public_identities=["sip:alice@ims.example.net"],
                                      deregistration_reason=cx.DeregistrationReason(PERMANENT_TERMINATION, "bye")),
    cx.PushProfileRequest(**HSS, destination_host="scscf.ims.example.net", destination_realm="ims.example.net",
                          user_name="001@ims.example.net",
                          user_data=build_user_data(UserData("001@ims.example.net", ["sip:alice@ims.example.net"])),
                          charging_information=cx.ChargingInformation(
                              primary_charging_collection_function_name="aaa://ccf.ims.example.net")),
]


@pytest.mark.parametrize("req", REQUESTS, ids=lambda r: type(r).__name__)
def test_6_1_every_request_round_trips(req: cx.CxRequest) -> None:
    msg = wire(req.to_message())
    assert msg.request and msg.proxiable and msg.application_id == CX_APPLICATION_ID
    assert msg.avps[0].code == 263  # Session-Id first (RFC 6733 §8.8)
    assert msg.get(277) == 1  # Auth-Session-State NO_STATE_MAINTAINED
    vsa = {(a.code, a.value) for a in msg.find(260)[0].value}
    assert vsa == {(266, 10415), (258, CX_APPLICATION_ID)}
    back = cx.parse(msg)
    assert back == req


ANSWERS = [
    cx.UserAuthorizationAnswer(**HSS, experimental_result_code=DIAMETER_FIRST_REGISTRATION,
                               server_capabilities=cx.ServerCapabilities((1, 2), (3,), ("sip:scscf1.ims.example.net",))),
    cx.MultimediaAuthAnswer(**HSS, result_code=DIAMETER_SUCCESS, user_name="001@ims.example.net",
                            public_identity="sip:alice@ims.example.net", sip_auth_data_items=[
                                cx.SipAuthDataItem(cx.SCHEME_AKAV1, 1, RAND + AUTN, XRES, CK, IK),
                                cx.SipAuthDataItem(cx.SCHEME_DIGEST, 2, sip_digest_authenticate=cx.SipDigestAuthenticate(
                                    "ims.example.net", "0123456789abcdef0123456789abcdef"))]),
    cx.ServerAssignmentAnswer(**HSS, result_code=DIAMETER_SUCCESS, user_name="001@ims.example.net",
                              user_data=build_user_data(UserData("001@ims.example.net", ["sip:a@ims.example.net"])),
                              charging_information=cx.ChargingInformation("aaa://ecf", None, "aaa://ccf", "aaa://ccf2")),
    cx.LocationInfoAnswer(**HSS, result_code=DIAMETER_SUCCESS, server_name="sip:scscf.ims.example.net"),
    cx.RegistrationTerminationAnswer(**ORIGIN, result_code=DIAMETER_SUCCESS),
    cx.PushProfileAnswer(**ORIGIN, result_code=DIAMETER_SUCCESS),
]


@pytest.mark.parametrize("ans", ANSWERS, ids=lambda a: type(a).__name__)
def test_6_1_every_answer_round_trips_with_the_request_ids(ans: cx.CxAnswer) -> None:
    req = next(r for r in REQUESTS if r.COMMAND == ans.COMMAND).to_message()
    req.hop_by_hop, req.end_to_end = 0x1234, 0x5678
    msg = wire(ans.to_message(req))
    assert not msg.request and msg.hop_by_hop == 0x1234 and msg.end_to_end == 0x5678
    assert msg.session_id == req.session_id
    back = cx.parse(msg)
    assert back.result == ans.result and back == ans.__class__(**{**ans.__dict__, "session_id": req.session_id})


def test_6_2_experimental_result_carries_vendor_10415() -> None:
    msg = wire(cx.UserAuthorizationAnswer(**HSS, experimental_result_code=5001).to_message())
    (exp,) = msg.find(297)
    assert {(a.code, a.value) for a in exp.value} == {(266, 10415), (298, 5001)}
    assert msg.result_code == 5001 and msg.experimental and msg.get(268) is None


def test_6_3_13_aka_item_layout_rand_autn_xres_ck_ik() -> None:
    item = cx.SipAuthDataItem(cx.SCHEME_AKAV1, 1, RAND + AUTN, XRES, CK, IK)
    members = {(a.code, a.vendor_id): a.value for a in item.to_avp().value}
    assert members == {(613, 10415): 1, (608, 10415): "Digest-AKAv1-MD5", (609, 10415): RAND + AUTN,
                       (610, 10415): XRES, (625, 10415): CK, (626, 10415): IK}
    assert item.rand == RAND and item.autn == AUTN


def test_6_3_codes_are_the_3gpp_ones_not_rfc_4740() -> None:
    msg = REQUESTS[1].to_message()
    codes = {(a.code, a.vendor_id) for a in msg.avps}
    assert (612, 10415) in codes and (607, 10415) in codes and (602, 10415) in codes
    assert not any(code in (376, 377, 378, 382) for code, _ in codes)


def test_missing_required_avp_is_5005_with_failed_avp() -> None:
    req = REQUESTS[2].to_message()
    req.avps = [a for a in req.avps if a.code != 614]  # Server-Assignment-Type
    with pytest.raises(DiameterError) as err:
        cx.ServerAssignmentRequest.from_message(wire(req))
    assert err.value.result_code == DIAMETER_MISSING_AVP
    assert err.value.failed_avp.code == FAILED_AVP and err.value.failed_avp.value[0].code == 614


def test_session_id_is_on_every_request() -> None:
    req = REQUESTS[3].to_message()
    req.avps = [a for a in req.avps if a.code != 263]
    with pytest.raises(DiameterError) as err:
        cx.parse(wire(req))
    assert err.value.result_code == DIAMETER_MISSING_AVP


def test_parse_refuses_non_cx_commands() -> None:
    with pytest.raises(DiameterError) as err:
        cx.parse(DiameterMessage(280, True))
    assert err.value.result_code == 3001


def test_command_codes() -> None:
    assert [c.COMMAND for c in REQUESTS] == [CMD_UA, CMD_MA, CMD_SA, CMD_LI, CMD_RT, CMD_PP]


@given(st.text(min_size=1, max_size=40), st.text(min_size=1, max_size=60), st.binary(max_size=64),
       st.integers(0, 2**32 - 1))
def test_mar_round_trip_property(impi: str, impu: str, authorization: bytes, n: int) -> None:
    req = cx.MultimediaAuthRequest(**ORIGIN, destination_realm="r", user_name=impi, public_identity=impu,
                                   server_name="sip:s", sip_number_auth_items=n,
                                   sip_auth_data_item=cx.SipAuthDataItem(cx.SCHEME_AKAV2, sip_authorization=authorization))
    assert cx.parse(wire(req.to_message())) == req


@given(st.binary(min_size=0, max_size=200))
def test_random_bytes_only_raise_the_typed_error(data: bytes) -> None:
    frame = b"\x01" + (20 + len(data) - len(data) % 4).to_bytes(3, "big") + b"\x80\x00\x01\x2c" + bytes(12) + data
    frame = frame[:20 + len(data) - len(data) % 4]
    try:
        msg = DiameterMessage.from_bytes(frame)
    except DiameterError as exc:
        assert exc.result_code in (5004, 5014, 5015)
        return
    try:
        cx.parse(msg)
    except DiameterError as exc:
        assert exc.result_code in (5005, 3001)
