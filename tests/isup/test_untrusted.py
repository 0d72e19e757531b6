"""ISUP and M3UA from the wire (STYLE §6a): any input raises only the package's error, carrying the answer.

ISUP: IsupError with the Q.850 cause of Q.764 §2.9.5 (95 invalid message, 97 message type not implemented),
bounded before pycrate sees it (Q.703 §2.3.8: 272 octets; the optional part walked and counted). M3UA:
M3uaError with the RFC 4666 §3.8.1 Error Code (0x01 Invalid Version, 0x03 Unsupported Message Class, 0x04
Unsupported Message Type, 0x07 Protocol Error, 0x11 Invalid Parameter Value, 0x12 Parameter Field Error,
0x13 Unexpected Parameter, 0x16 Missing Parameter); a stream whose framing is lost says so.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ims.isup.m3ua import (
    AspActive,
    AspUp,
    Data,
    Err,
    ErrorCode,
    FramingLost,
    M3uaError,
    M3uaSgp,
    Notify,
    SendBytes,
    decode_m3ua,
    encode_m3ua,
)
from ims.isup.messages import (
    Cause,
    IsupError,
    MessageType,
    acm,
    cfn,
    cpg,
    decode,
    encode,
    iam,
    peek,
    rel,
    sam,
)
from tests.isup.test_messages import OSMO_IAM

ISUP_SAMPLES = [OSMO_IAM, encode(iam(3, "12125550100F", "15550001")), encode(acm(3)), encode(rel(4, 16)),
                encode(cpg(5, 1)), encode(sam(6, "12")), encode(cfn(7, 97, b"\x99"))]
M3UA_SAMPLES = [encode_m3ua(Data(100, 200, sls=3, user_data=OSMO_IAM, routing_context=1)), encode_m3ua(AspUp(5, "hi")),
                encode_m3ua(AspActive(2, (1,))), encode_m3ua(Notify(1, 3, routing_contexts=(1,))),
                encode_m3ua(Err(1, diagnostic=b"abc"))]
ISUP_CAUSES = {95, 97}
M3UA_CODES = {0x01, 0x03, 0x04, 0x07, 0x11, 0x12, 0x13, 0x16}


def test_q764_2_9_5_an_unknown_message_type_is_cause_97_with_its_code() -> None:
    with pytest.raises(IsupError) as info:
        decode(b"\x05\x00\x99\x00")
    assert info.value.cause == 97 and info.value.message_code == 0x99
    assert peek(b"\x05\x00\x99\x00") == (5, 0x99)


@pytest.mark.parametrize("data, why", [
    (b"\x01\x00\x01", "truncated IAM"),
    (encode(acm(3))[:-1], "ACM cut short"),
    (encode(rel(4, 16))[:3] + b"\x7f" + encode(rel(4, 16))[4:], "mandatory variable pointer past the end"),
    (OSMO_IAM[:9] + b"\xf0" + OSMO_IAM[10:], "optional part pointer past the end"),
    (OSMO_IAM[:-1], "optional part without its end octet"),
    (OSMO_IAM[:-1] + b"\x08\x00" * 70 + b"\x00", "optional parameters beyond the count limit"),
    (OSMO_IAM + b"\x00" * 300, "longer than 272 octets"),
], ids=lambda v: v if isinstance(v, str) else "")
def test_q763_malformed_messages_are_isup_errors_with_cause_95(data: bytes, why: str) -> None:
    with pytest.raises(IsupError) as info:
        decode(data)
    assert type(info.value) is IsupError and info.value.cause == 95


def test_q764_cfn_round_trips_with_its_diagnostic() -> None:
    msg = decode(encode(cfn(7, 97, b"\x99")))
    assert msg.type is MessageType.CFN and msg.cic == 7 and msg.params["cause"] == Cause(97, 2, diagnostic=b"\x99")


@st.composite
def mutated(draw: st.DrawFn, samples: list[bytes]) -> bytes:
    data = bytearray(draw(st.sampled_from(samples)))
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, len(data)))
        kind = draw(st.sampled_from(["insert", "delete", "replace", "truncate"]))
        if kind == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=8))
        elif kind == "delete":
            del data[at:at + draw(st.integers(1, 8))]
        elif kind == "replace" and at < len(data):
            data[at] = draw(st.integers(0, 255))
        else:
            del data[at:]
    return bytes(data)


def _isup_only_errors(data: bytes) -> None:
    for with_cic in (True, False):
        try:
            decode(data, with_cic=with_cic)
        except IsupError as exc:
            assert exc.cause in ISUP_CAUSES


@settings(max_examples=400, deadline=None)
@given(st.one_of(st.binary(max_size=300), mutated(ISUP_SAMPLES)))
def test_property_isup_decode_raises_only_isup_errors(data: bytes) -> None:
    _isup_only_errors(data)


def test_rfc4666_3_2_a_parameter_length_under_4_is_a_parameter_field_error() -> None:
    data = bytes.fromhex("01000301 00000010 00110002 00000005")
    with pytest.raises(M3uaError) as info:
        decode_m3ua(data)
    assert info.value.error_code == ErrorCode.PARAMETER_FIELD_ERROR


def test_m3ua_parameters_beyond_the_count_limit_are_refused_before_decoding() -> None:
    params = bytes.fromhex("00040004") * 40  # forty empty Info Strings
    data = bytes.fromhex("01000301") + (8 + len(params)).to_bytes(4, "big") + params
    with pytest.raises(M3uaError, match="more than 32 parameters") as info:
        decode_m3ua(data)
    assert info.value.error_code == ErrorCode.PARAMETER_FIELD_ERROR


@pytest.mark.parametrize("head", ["01000301 00000004", "01000301 7fffffff", "02000301 00000008"])
def test_rfc4666_lost_framing_is_answered_with_err_then_framing_lost(head: str) -> None:
    events = M3uaSgp().receive(bytes.fromhex(head) + b"\x00" * 8, 0.0)
    assert isinstance(events[0], SendBytes) and isinstance(events[-1], FramingLost)
    err = decode_m3ua(events[0].data)
    assert isinstance(err, Err) and err.error_code in (ErrorCode.PROTOCOL_ERROR, ErrorCode.INVALID_VERSION)


def _m3ua_only_errors(data: bytes) -> None:
    try:
        decode_m3ua(data)
    except M3uaError as exc:
        assert exc.error_code in M3UA_CODES
    sgp = M3uaSgp()
    for ev in sgp.receive(data, 0.0):
        if isinstance(ev, SendBytes):
            decode_m3ua(ev.data)  # every ERR we send decodes


@settings(max_examples=400, deadline=None)
@given(st.one_of(st.binary(max_size=120), mutated(M3UA_SAMPLES)))
def test_property_m3ua_decode_raises_only_m3ua_errors(data: bytes) -> None:
    _m3ua_only_errors(data)


@settings(max_examples=200, deadline=None)
@given(mutated(M3UA_SAMPLES))
def test_property_well_framed_mutations_raise_only_m3ua_errors(data: bytes) -> None:
    body = data[8:] if len(data) >= 8 else data
    _m3ua_only_errors(M3UA_SAMPLES[0][:4] + (8 + len(body)).to_bytes(4, "big") + body)


# -- SIP-I / SIP-T bodies (RFC 3204, RFC 3372): multipart syntax is a SIP 400, the ISUP part an IsupError ----

def _sipi_samples() -> list[tuple[bytes, str]]:
    from ims.isup.sipi import make_sipi_body

    out = []
    for sdp, isup_bytes in ((b"v=0\r\n", encode(iam(3, "12125550100F", "15550001"), with_cic=False)),
                            (None, encode(rel(4, 16), with_cic=False))):
        body, ctype = make_sipi_body(sdp, isup_bytes, boundary="b1")
        out.append((body, ctype))
    return out


SIPI_SAMPLES = _sipi_samples()


@settings(max_examples=150, deadline=None)
@given(st.integers(0, 1), st.data())
def test_property_sipi_bodies_raise_only_sip_parse_or_isup_errors(which: int, data: st.DataObject) -> None:
    from ims.isup.sipi import split_sipi_body
    from ims.sip.errors import SipParseError

    body, ctype = SIPI_SAMPLES[which]
    body = data.draw(mutated([body]))
    try:
        _, isup_part = split_sipi_body(body, ctype)
    except SipParseError:
        return
    if isup_part is not None:
        try:
            decode(isup_part, with_cic=False)
        except IsupError as exc:
            assert exc.cause in ISUP_CAUSES
