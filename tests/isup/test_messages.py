"""ISUP messages (ITU-T Q.763) through pycrate: vectors, round trips, malformed input."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ims.isup.messages import (
    BackwardCallIndicators,
    Cause,
    ForwardCallIndicators,
    GenericNumber,
    IsupError,
    IsupMessage,
    MessageType,
    NatureOfConnection,
    PartyNumber,
    acm,
    anm,
    con,
    cpg,
    decode,
    encode,
    iam,
    rel,
    res,
    rlc,
    sam,
    sus,
)

# Real-world IAM from the osmo-ss7 test suite (src/isup_codec_tests.erl, ISUP_IAM_BIN): CIC 9,
# 3.1 kHz audio, national called number with ST, calling number, and a national-use parameter 0xF2.
OSMO_IAM = bytes([
    9, 0, 1, 16, 72, 0, 10, 3, 2, 10, 8, 131, 16, 41, 153, 36, 0, 128, 15, 10, 8, 3, 19, 148, 3,
    66, 48, 147, 32, 242, 21, 54, 25, 8, 0, 0, 21, 255, 255, 255, 255, 255, 255, 255, 255,
    255, 255, 29, 69, 56, 203, 32, 0])


def test_q763_iam_real_world_vector_from_osmo_ss7() -> None:
    msg = decode(OSMO_IAM)
    assert msg.type is MessageType.IAM and msg.cic == 9
    assert msg.params["nature_of_connection"] == NatureOfConnection(echo_control=True)  # 0x10
    fci = msg.params["forward_call_indicators"]  # 0x48 0x00
    assert (fci.interworking, fci.isup_indicator, fci.isup_preference, fci.isdn_access) == (
        True, False, "not_required", False)
    assert msg.params["calling_party_category"] == 10
    assert msg.params["transmission_medium_requirement"] == 3
    # the osmo-ss7 decoding lists the digits [9,2,9,9,4,2,0,0,0,8,15]: 15 is ST
    assert msg.params["called_party_number"] == PartyNumber("9299420008F", 3, inn=0)
    assert msg.params["calling_party_number"] == PartyNumber("493024033902", 3, screening=3)
    assert msg.params["other"] == {0xF2: bytes([54, 25, 8, 0, 0, 21] + [255] * 10 + [29, 69, 56, 203, 32])}
    assert encode(msg) == OSMO_IAM


# Hand-assembled from the Q.763 §4 message layouts and §3 parameter codings, octet by octet.
SPEC_VECTORS = [
    # CIC 5 | IAM | NCI 00 | FCI 20 01 (F: ISUP all the way, I: ISDN access) | CPC 0a ordinary | TMR 00 speech |
    # pointers 02 0a | called: len 8, 84 odd+international, 10 E.164, 4930123456 ST |
    # calling (0a) len 6, 84 odd+international, 13 E.164+network provided, 4930999 | EOO
    ("iam", iam(5, "4930123456", "4930999", complete=True),
     "0500 01 00 2001 0a 00 020a 08 8410 94032143650f 0a06 8413 94039909 00"),
    # SAM: pointers 02 00 | subsequent number len 3: 80 odd, digits 1 2 3 (§3.51)
    ("sam", sam(5, "123"), "0500 02 0200 03 80 2103"),
    # ACM: BCI 16 14 = charge, subscriber free, ordinary subscriber / ISUP all the way, ISDN access | no options
    ("acm", acm(5), "0500 06 1614 00"),
    ("con", con(5), "0500 07 1214 00"),
    ("anm", anm(5), "0500 09 00"),
    # CPG: event 01 alerting (§3.21)
    ("cpg", cpg(5, 1), "0500 2c 01 00"),
    # REL: pointers 02 00 | cause len 2: 82 = ext, ITU-T, location 2 (LN) | 90 = ext, cause 16 (Q.850)
    ("rel", rel(5, 16), "0500 0c 0200 02 8290"),
    ("rlc", rlc(5), "0500 10 00"),
    # SUS/RES: suspend/resume indicators 00 subscriber initiated, 01 network initiated (§3.52)
    ("sus", sus(5), "0500 0d 00 00"),
    ("res", res(5, network_initiated=True), "0500 0e 01 00"),
]


@pytest.mark.parametrize(("name", "msg", "hexdata"), SPEC_VECTORS, ids=[v[0] for v in SPEC_VECTORS])
def test_q763_section4_layout_vectors(name: str, msg: IsupMessage, hexdata: str) -> None:
    assert encode(msg).hex() == hexdata.replace(" ", "")
    assert decode(bytes.fromhex(hexdata)) == msg


FULL = [
    IsupMessage(MessageType.IAM, 4095, {
        "nature_of_connection": NatureOfConnection(satellite=1, continuity_check=2, echo_control=True),
        "forward_call_indicators": ForwardCallIndicators(True, 1, True, True, False, "required", False, 2),
        "calling_party_category": 15, "transmission_medium_requirement": 3,
        "called_party_number": PartyNumber("0123456789BC", 3, inn=1),
        "calling_party_number": PartyNumber("44207946000", 4, numbering_plan=1, presentation=1, screening=1,
                                            incomplete=True),
        "generic_number": GenericNumber("4930111", qualifier=6, presentation=1),
    }),
    IsupMessage(MessageType.SAM, 1, {"subsequent_number": "4567F"}),
    IsupMessage(MessageType.ACM, 2, {
        "backward_call_indicators": BackwardCallIndicators(2, 1, 1, 0, True, False, True, False, True, True, 0),
        "cause": Cause(31, location=4)}),
    IsupMessage(MessageType.CON, 3, {"backward_call_indicators": BackwardCallIndicators(holding=True),
                                     "generic_number": GenericNumber("123", qualifier=5)}),
    IsupMessage(MessageType.ANM, 4, {"backward_call_indicators": BackwardCallIndicators(charge_indicator=1),
                                     "generic_number": GenericNumber("4930222")}),
    IsupMessage(MessageType.CPG, 5, {"event_information": 3, "cause": Cause(16),
                                     "backward_call_indicators": BackwardCallIndicators(called_party_status=1)}),
    IsupMessage(MessageType.REL, 6, {"cause": Cause(17, location=1, diagnostic=b"\x01\x02\x03")}),
    IsupMessage(MessageType.RLC, 7, {"cause": Cause(16, coding_standard=0)}),
    IsupMessage(MessageType.SUS, 8, {"suspend_resume_indicator": 1}),
    IsupMessage(MessageType.RES, 9, {"suspend_resume_indicator": 0}),
]


@pytest.mark.parametrize("msg", FULL, ids=[m.type.name for m in FULL])
def test_q763_round_trip_every_message_type_with_parameters(msg: IsupMessage) -> None:
    assert decode(encode(msg)) == msg


@pytest.mark.parametrize("msg", FULL, ids=[m.type.name for m in FULL])
def test_rfc3204_sipi_form_omits_the_cic(msg: IsupMessage) -> None:
    body = encode(msg, with_cic=False)
    assert body == encode(msg)[2:] and body[0] == msg.type
    back = decode(body, with_cic=False)
    assert back.cic == 0 and back.params == msg.params


def test_q850_cause_diagnostic_follows_the_cause_value_octet() -> None:
    # Q.850 §2.2.6: the cause value octet has ext=1 and diagnostics still follow (pycrate alone drops them)
    data = bytes.fromhex("0700 0c 0200 04 8291 0102")
    assert decode(data).params["cause"] == Cause(17, 2, 0, b"\x01\x02")
    assert encode(decode(data)) == data


def test_q763_unknown_optional_parameter_passed_on_raw() -> None:
    msg = anm(3)
    msg.params["other"] = {0x29: b"\x01", 0xFE: b"\xaa\xbb"}  # optional backward call indicators, national
    data = encode(msg)
    assert data == bytes.fromhex("0300 09 01 290101 fe02aabb 00")
    assert decode(data) == msg


def test_q763_cic_is_12_bits_spare_bits_ignored() -> None:
    assert decode(bytes.fromhex("ffff 09 00")).cic == 0xFFF
    with pytest.raises(IsupError, match="CIC"):
        encode(anm(4096))


@pytest.mark.parametrize(("msg", "parameter"), [
    (IsupMessage(MessageType.REL, 1, {}), "cause"),
    (IsupMessage(MessageType.IAM, 1, {"calling_party_category": 10}), "nature_of_connection"),
    (IsupMessage(MessageType.REL, 1, {"cause": Cause(16), "generic_number": GenericNumber("1")}), "generic_number"),
    (IsupMessage(MessageType.ANM, 1, {"nonsense": 1}), "nonsense"),
    (IsupMessage(MessageType.SAM, 1, {"subsequent_number": "12*"}), "subsequent_number"),
    (IsupMessage(MessageType.REL, 1, {"cause": Cause(200)}), "cause"),
    (IsupMessage(MessageType.REL, 1, {"cause": 16}), "cause"),
    (IsupMessage(MessageType.CPG, 1, {"event_information": 300}), "event_information"),
    (IsupMessage(MessageType.IAM, 1, {**iam(1, "1").params,
                                      "forward_call_indicators": ForwardCallIndicators(isup_preference="x")}),
     "forward_call_indicators"),
])
def test_encode_errors_name_the_message_and_parameter(msg: IsupMessage, parameter: str) -> None:
    with pytest.raises(IsupError) as err:
        encode(msg)
    assert err.value.message_type == msg.type.name and err.value.parameter == parameter
    assert parameter in str(err.value)


@pytest.mark.parametrize(("hexdata", "fault"), [
    ("", "too short"),
    ("0500", "too short"),
    ("050099", "unsupported message type 0x99"),
    ("0500 0c 0200 02", "REL"),  # cause promised, missing
    ("0500 0c 0200 02 8290 ff", "trailing"),  # one octet too many
    ("0500 0c 0500 02 8290", "REL"),  # pointer past the end
    ("0500 09 05 00", "ANM"),  # optional part pointer past the end
    ("0500 0c 0200 01 82", "REL"),  # cause of one octet
])
def test_decode_refuses_malformed_messages(hexdata: str, fault: str) -> None:
    with pytest.raises(IsupError, match=fault):
        decode(bytes.fromhex(hexdata))


# --- properties -----------------------------------------------------------------------------------

digits = st.text(alphabet="0123456789", min_size=1, max_size=20)


@st.composite
def iams(draw: st.DrawFn) -> IsupMessage:
    params: dict[str, Any] = {
        "nature_of_connection": NatureOfConnection(draw(st.integers(0, 3)), draw(st.integers(0, 3)),
                                                   draw(st.booleans())),
        "forward_call_indicators": ForwardCallIndicators(
            draw(st.booleans()), draw(st.integers(0, 3)), draw(st.booleans()), draw(st.booleans()),
            draw(st.booleans()), draw(st.sampled_from(["preferred", "not_required", "required"])),
            draw(st.booleans()), draw(st.integers(0, 3))),
        "calling_party_category": draw(st.integers(0, 255)),
        "transmission_medium_requirement": draw(st.sampled_from([0, 2, 3])),
        "called_party_number": PartyNumber(draw(digits) + draw(st.sampled_from(["", "F"])),
                                           draw(st.sampled_from([1, 2, 3, 4])), inn=draw(st.integers(0, 1))),
    }
    if draw(st.booleans()):
        params["calling_party_number"] = PartyNumber(
            draw(digits), draw(st.sampled_from([1, 3, 4])), presentation=draw(st.integers(0, 3)),
            screening=draw(st.integers(0, 3)), incomplete=draw(st.booleans()))
    if draw(st.booleans()):
        params["generic_number"] = GenericNumber(draw(digits), qualifier=draw(st.integers(0, 255)))
    return IsupMessage(MessageType.IAM, draw(st.integers(0, 4095)), params)


@settings(max_examples=150, deadline=None)
@given(iams())
def test_property_decode_of_encode_is_identity_for_iam(msg: IsupMessage) -> None:
    assert decode(encode(msg)) == msg
    assert decode(encode(msg, with_cic=False), with_cic=False).params == msg.params


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=60))
def test_property_random_bytes_raise_only_isup_error(data: bytes) -> None:
    try:
        decode(data)
    except IsupError:
        pass


@settings(max_examples=400, deadline=None)
@given(st.sampled_from(list(MessageType)), st.binary(max_size=40), st.binary(min_size=2, max_size=2))
def test_property_random_parameters_raise_only_isup_error(mtype: MessageType, rest: bytes, cic: bytes) -> None:
    try:
        msg = decode(cic + bytes([mtype]) + rest)
    except IsupError:
        return
    assert encode(msg)[2] == mtype  # what decodes also encodes
