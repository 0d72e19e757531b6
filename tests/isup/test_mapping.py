"""SIP <-> ISUP mapping tables (RFC 3398 §7.2.4.1, §8.2.6.1), numbers and early media."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ims.isup.mapping import (
    CAUSE_TO_SIP,
    CPG_EVENT_TO_SIP,
    SIP_TO_CAUSE,
    acm_to_sip_status,
    cause_location_for_status,
    cause_to_sip_status,
    cpg_event_to_sip_status,
    isup_to_tel,
    sip_provisional_to_isup,
    sip_status_to_cause,
    tel_to_isup,
)
from ims.isup.messages import BackwardCallIndicators, MessageType, PartyNumber


@pytest.mark.parametrize(("status", "cause", "note"), SIP_TO_CAUSE, ids=[str(r[0]) for r in SIP_TO_CAUSE])
def test_rfc3398_8261_sip_status_to_cause_row(status: int, cause: int, note: str) -> None:
    assert sip_status_to_cause(status) == cause


@pytest.mark.parametrize(("cause", "status", "note"), CAUSE_TO_SIP, ids=[str(r[0]) for r in CAUSE_TO_SIP])
def test_rfc3398_7241_cause_to_sip_status_row(cause: int, status: int | None, note: str) -> None:
    assert cause_to_sip_status(cause) == (480 if status is None else status)


def test_tables_have_one_row_per_code() -> None:
    assert len({r[0] for r in SIP_TO_CAUSE}) == len(SIP_TO_CAUSE)
    assert len({r[0] for r in CAUSE_TO_SIP}) == len(CAUSE_TO_SIP)
    assert all(400 <= s <= 699 and 0 <= c <= 127 for s, c, _ in SIP_TO_CAUSE)
    assert all(s is None or 400 <= s <= 699 for _, s, _ in CAUSE_TO_SIP)


def test_well_known_rows() -> None:
    assert [sip_status_to_cause(s) for s in (404, 486, 480, 603)] == [1, 17, 18, 21]
    assert [cause_to_sip_status(c) for c in (1, 17, 19, 34, 127)] == [404, 486, 480, 503, 500]


def test_rfc3398_8261_unlisted_status_maps_to_31_and_6xx_location_is_user() -> None:
    assert sip_status_to_cause(499) == 31 and sip_status_to_cause(599) == 31 and sip_status_to_cause(699) == 31
    assert cause_location_for_status(603) == 0 and cause_location_for_status(486) == 2


def test_unlisted_cause_maps_to_500_and_bad_inputs_raise() -> None:
    assert cause_to_sip_status(99) == 500
    with pytest.raises(ValueError):
        sip_status_to_cause(200)
    with pytest.raises(ValueError):
        cause_to_sip_status(128)


# --- numbers ------------------------------------------------------------------------------------

NUMBERS = [
    # (tel, national_format, PartyNumber, back to tel)
    ("+4930123456", False, PartyNumber("4930123456", 4), "+4930123456"),
    ("tel:+49-30-123456;phone-context=x", False, PartyNumber("4930123456", 4), "+4930123456"),
    ("+4930123456", True, PartyNumber("30123456", 3), "+4930123456"),
    ("+33123456789", True, PartyNumber("33123456789", 4), "+33123456789"),  # not our country: stays international
    ("030 123456", False, PartyNumber("30123456", 3), "+4930123456"),  # national prefix 0
    ("123456", False, PartyNumber("123456", 1), "123456"),  # subscriber number as given
]


@pytest.mark.parametrize(("tel", "national", "number", "back"), NUMBERS, ids=[n[0] for n in NUMBERS])
def test_q763_39_nature_of_address_from_tel(tel: str, national: bool, number: PartyNumber, back: str) -> None:
    assert tel_to_isup(tel, country_code="49", national_format=national) == number
    assert isup_to_tel(number, country_code="49") == back


def test_isup_to_tel_drops_st_and_reads_unknown_with_prefix() -> None:
    assert isup_to_tel(PartyNumber("4930123F", 4), country_code="49") == "+4930123"
    assert isup_to_tel(PartyNumber("030123", 2), country_code="49") == "+4930123"


def test_tel_to_isup_refuses_non_numbers() -> None:
    with pytest.raises(ValueError):
        tel_to_isup("sip:alice@example.com", country_code="49")


@given(st.text(alphabet="0123456789", min_size=1, max_size=13), st.booleans())
def test_property_e164_round_trips(nsn: str, national: bool) -> None:
    tel = "+49" + nsn
    assert isup_to_tel(tel_to_isup(tel, country_code="49", national_format=national), country_code="49") == tel


# --- early media ---------------------------------------------------------------------------------

def test_acm_subscriber_free_rings_otherwise_session_progress() -> None:
    assert acm_to_sip_status(BackwardCallIndicators(called_party_status=1)) == 180
    assert acm_to_sip_status(BackwardCallIndicators(called_party_status=0)) == 183


@pytest.mark.parametrize(("event", "status", "note"), CPG_EVENT_TO_SIP, ids=[str(r[0]) for r in CPG_EVENT_TO_SIP])
def test_q763_321_cpg_event_row(event: int, status: int, note: str) -> None:
    assert cpg_event_to_sip_status(event) == status


def test_cpg_unknown_event_gives_183() -> None:
    assert cpg_event_to_sip_status(99) == 183


@pytest.mark.parametrize(("status", "acm_sent", "expected"), [
    (180, False, (MessageType.ACM, 1)),
    (180, True, (MessageType.CPG, 1)),
    (183, False, (MessageType.ACM, 0)),
    (183, True, (MessageType.CPG, 2)),
    (181, True, (MessageType.CPG, 2)),
    (100, False, None),
    (199, True, None),
])
def test_sip_provisional_to_acm_or_cpg(status: int, acm_sent: bool, expected: tuple[MessageType, int] | None
                                       ) -> None:
    assert sip_provisional_to_isup(status, acm_sent=acm_sent) == expected
