"""SDP from the wire (STYLE §6a): any body raises only SdpError, and that error carries the 488 answer.

RFC 8866 §5 numbers are ASCII digits: a number of 4,301 digits made ``int()`` raise a bare ValueError past
SdpError (so a handset left the INVITE unanswered); every number now has a length bound, and the error's
reason is fit for a reason phrase and a Warning header (RFC 3261 §20.43, §21.4.26).
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ims.sdp import (
    OfferAnswerError,
    SdpError,
    SessionDescription,
    hold_offer,
    make_answer,
    negotiate,
)
from ims.sdp.offer_answer import VOLTE_CODECS
from ims.ue import sdp as policy
from tests.sdp.test_model import VOLTE_OFFER

HUGE = "9" * 4301  # one past int()'s default limit of 4,300 digits (CPython's int_max_str_digits)


def _with(old: bytes, new: str) -> bytes:
    assert old in VOLTE_OFFER
    return VOLTE_OFFER.replace(old, new.encode(), 1)


# Every number of an SDP body, each replaced by 4,301 digits: (where, the edited body, what it gives):
# "error" where the number is checked as the body is parsed; "lazy" where the accessor that reads it raises
# (a precondition line a handset that does not use preconditions never reads); "ignored" where a format
# that is no payload type is passed over (an m= format of another transport, RFC 8866 §5.14).
NUMBERS = [
    ("m= port", _with(b"m=audio 31000", f"m=audio {HUGE}"), "error"),
    ("m= port count", _with(b"m=audio 31000", f"m=audio 31000/{HUGE}"), "error"),
    ("o= sess-id", _with(b"1598862937 0", f"{HUGE} 0"), "error"),
    ("o= sess-version", _with(b"1598862937 0", f"1598862937 {HUGE}"), "error"),
    ("t= start", _with(b"t=0 0", f"t={HUGE} 0"), "error"),
    ("t= stop", _with(b"t=0 0", f"t=0 {HUGE}"), "error"),
    ("b= bandwidth", _with(b"b=AS:49", f"b=AS:{HUGE}"), "error"),
    ("rtpmap payload type", _with(b"a=rtpmap:116", f"a=rtpmap:{HUGE}"), "error"),
    ("rtpmap clock rate", _with(b"AMR-WB/16000/1", f"AMR-WB/{HUGE}/1"), "error"),
    ("rtpmap channels", _with(b"AMR-WB/16000/1", f"AMR-WB/16000/{HUGE}"), "error"),
    ("ptime", _with(b"a=ptime:20", f"a=ptime:{HUGE}"), "error"),
    ("maxptime", _with(b"a=maxptime:240", f"a=maxptime:{HUGE}"), "error"),
    ("m= format", _with(b"RTP/AVP 116", f"RTP/AVP {HUGE} 116"), "ignored"),
    ("fmtp format", _with(b"a=fmtp:116", f"a=fmtp:{HUGE}"), "ignored"),
    ("precondition strength", _with(b"a=des:qos mandatory local", f"a=des:qos {HUGE} local"), "lazy"),
    ("precondition status", _with(b"a=curr:qos local", f"a=curr:qos {HUGE}"), "lazy"),
]


def _read_everything(body: bytes) -> None:
    """Parse, then every typed accessor a call reads, then serialize: the whole of what a peer can make us do."""
    sd = SessionDescription.parse(body)
    for m in sd.media:
        m.rtpmap()
        m.fmtp()
        for pt in m.fmtp():
            m.fmtp_params(pt)
        _ = (m.ptime, m.maxptime, m.direction, m.effective_direction(sd))
        for c in m.crypto():
            c.master_key_salt()
        m.preconditions()
        m.connection_address(sd)
    sd.to_bytes()


@pytest.mark.parametrize("where, body, gives", NUMBERS, ids=[n[0] for n in NUMBERS])
def test_rfc8866_a_4301_digit_number_is_an_sdp_error_not_a_value_error(where: str, body: bytes, gives: str) -> None:
    if gives == "ignored":
        _read_everything(body)
        return
    with pytest.raises(SdpError) as info:
        _read_everything(body)
    assert type(info.value) is SdpError
    assert len(str(info.value)) < 200  # the error names the field, it does not echo 4,301 digits


@pytest.mark.parametrize("where, body", [n[:2] for n in NUMBERS if n[2] == "error"],
                         ids=[n[0] for n in NUMBERS if n[2] == "error"])
def test_a_handset_refuses_an_offer_with_a_huge_number_with_488(where: str, body: bytes) -> None:
    with pytest.raises(policy.SdpError) as info:
        policy.answer(body, "127.0.0.1", 40000)
    assert info.value.status == 488 and info.value.reason


def test_sdp_error_carries_488_and_a_warning_friendly_reason() -> None:
    body = _with(b"m=audio 31000", 'm=audio "\\\u00b2\x01')
    with pytest.raises(SdpError) as info:
        SessionDescription.parse(body)
    err = info.value
    assert err.status == 488 and err.warning == 399  # RFC 3261 §21.4.26, §20.43 miscellaneous warning
    assert err.line == 9 and err.reason.startswith("line 9: m= port is not a number")
    assert all(" " <= c <= "~" for c in err.reason) and '"' not in err.reason and "\\" not in err.reason
    long = SdpError("x" * 1000)
    assert len(long.reason) == 120 and long.reason.endswith("...")


def test_numbers_within_the_limits_still_parse() -> None:
    sd = SessionDescription.parse(_with(b"1598862937 0", "3" * 64 + " 18446744073709551615"))
    assert sd.origin.sess_id == "3" * 64 and sd.origin.sess_version == 2**64 - 1
    with pytest.raises(SdpError, match="sess-id"):
        SessionDescription.parse(_with(b"1598862937 0", "x1 0"))  # RFC 8866 §5.2: sess-id is numeric


def test_a_body_of_more_than_2000_lines_is_refused_before_parsing() -> None:
    body = VOLTE_OFFER + b"a=x\r\n" * 2000
    with pytest.raises(SdpError, match="more than 2000 lines"):
        SessionDescription.parse(body)
    SessionDescription.parse(VOLTE_OFFER + b"a=x\r\n" * 1900)  # long, but within the bound


# -- properties: random bytes, and mutations of the tests' own bodies ------------------------------

SEEDS = [VOLTE_OFFER, policy.offer("127.0.0.1", 4000, 7, qos_state=("none", "none"), crypto=policy.new_crypto()),
         policy.answer(VOLTE_OFFER, "10.0.0.1", 5000, 9)]


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    body = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, len(body)))
        kind = draw(st.sampled_from(["insert", "delete", "replace", "digits"]))
        if kind == "insert":
            body[at:at] = draw(st.binary(min_size=1, max_size=8))
        elif kind == "delete":
            del body[at:at + draw(st.integers(1, 16))]
        elif kind == "replace" and at < len(body):
            body[at] = draw(st.integers(0, 255))
        else:
            body[at:at] = b"9" * draw(st.sampled_from([3, 21, 65, 4301]))
    return bytes(body)


def _only_sdp_errors(body: bytes) -> None:
    try:
        _read_everything(body)
    except SdpError:
        pass
    try:
        offer = SessionDescription.parse(body)
        answer = make_answer(offer, "10.0.0.2", 6000, list(VOLTE_CODECS), crypto_suites=["AES_CM_128_HMAC_SHA1_80"])
        negotiate(answer, offer, local_is_offer=False)
        hold_offer(offer)
    except (SdpError, OfferAnswerError):
        pass
    try:
        policy.answer(body, "127.0.0.1", 40000, qos_state=("none", "none"), crypto=policy.new_crypto())
    except policy.SdpError as exc:
        assert exc.status == 488


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated())
def test_property_mutated_bodies_raise_only_sdp_errors(body: bytes) -> None:
    _only_sdp_errors(body)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300))
def test_property_random_bytes_raise_only_sdp_errors(body: bytes) -> None:
    _only_sdp_errors(b"v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\ns=-\r\nt=0 0\r\n" + body)
    _only_sdp_errors(body)
