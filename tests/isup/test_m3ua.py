"""M3UA (RFC 4666): codec vectors, TCP framing, and the ASP/SGP association in memory."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ims.isup import messages
from ims.isup.m3ua import (
    AspActive,
    AspActiveAck,
    AspDown,
    AspDownAck,
    AspInactive,
    AspInactiveAck,
    AspState,
    AspUp,
    AspUpAck,
    Beat,
    BeatAck,
    Data,
    Err,
    ErrorCode,
    Event,
    FramingLost,
    IsupReceived,
    M3uaAsp,
    M3uaError,
    M3uaFramer,
    M3uaMessage,
    M3uaProblem,
    M3uaSgp,
    Notified,
    Notify,
    Other,
    SendBytes,
    StateChanged,
    decode_m3ua,
    encode_m3ua,
)

# Octet layouts written out from RFC 4666: common header §3.1 (version 1, reserved, class, type,
# 32-bit length), parameters §3.2 (16-bit tag, 16-bit length, value, padding to 4 octets).
VECTORS = [
    # ASP Up (class 3 ASPSM, type 1), no parameters: §3.5.1
    ("aspup", AspUp(), "01000301 00000008"),
    # ASP Up with ASP Identifier (tag 0x0011) 5 and Info String (0x0004) "hi" padded: §3.5.1
    ("aspup-id", AspUp(5, "hi"), "01000301 00000018 00110008 00000005 00040006 68690000"),
    ("aspup-ack", AspUpAck(), "01000304 00000008"),
    # ASP Active (class 4 ASPTM, type 1): Traffic Mode Type (0x000b) 2 loadshare, Routing Context (0x0006) 1
    ("aspac", AspActive(2, (1,)), "01000401 00000018 000b0008 00000002 00060008 00000001"),
    ("aspac-ack", AspActiveAck(2, (1,)), "01000403 00000018 000b0008 00000002 00060008 00000001"),
    ("aspia", AspInactive(), "01000402 00000008"),
    ("aspdn", AspDown(), "01000302 00000008"),
    # BEAT (class 3 type 3) with Heartbeat Data (0x0009) "abc" + 1 pad octet: §3.5.5
    ("beat", Beat(b"abc"), "01000303 00000010 00090007 61626300"),
    # NTFY (class 0 type 1): Status (0x000d) type 1 AS-State-Change, info 3 AS-ACTIVE: §3.8.2
    ("ntfy", Notify(1, 3), "01000001 00000010 000d0008 00010003"),
    # ERR (class 0 type 0): Error Code (0x000c) 0x06 Unexpected Message: §3.8.1
    ("err", Err(ErrorCode.UNEXPECTED_MESSAGE), "01000000 00000010 000c0008 00000006"),
    # DATA (class 1 type 1): Routing Context 7, Protocol Data (0x0210) OPC 1, DPC 2, SI 5 ISUP, NI 2,
    # MP 0, SLS 3, user data 01 02 03 + 1 pad octet: §3.3.1
    ("data", Data(1, 2, 5, 2, 0, 3, b"\x01\x02\x03", routing_context=7),
     "01000101 00000024 00060008 00000007 02100013 00000001 00000002 05020003 01020300"),
]


@pytest.mark.parametrize(("name", "msg", "hexdata"), VECTORS, ids=[v[0] for v in VECTORS])
def test_rfc4666_section3_vectors(name: str, msg: M3uaMessage, hexdata: str) -> None:
    assert encode_m3ua(msg).hex() == hexdata.replace(" ", "")
    assert decode_m3ua(bytes.fromhex(hexdata)) == msg


ROUND_TRIP = [
    AspUp(), AspUp(7, "MGCF"), AspUpAck(9), AspDown("bye"), AspDownAck(), Beat(), BeatAck(b"\x00\x01"),
    AspActive(1, (1, 2, 3), "x"), AspActiveAck(), AspInactive((4,)), AspInactiveAck(info="y"),
    Notify(1, 2, 3, (5,), "z"), Notify(2, 3), Err(1, diagnostic=b"\x09\x00"), Err(0x19, (1, 2), network_appearance=8),
    Data(0xFFFFFF, 0, 5, 0, 3, 15, b"", network_appearance=3, correlation_id=77),
]


@pytest.mark.parametrize("msg", ROUND_TRIP, ids=[type(m).__name__ for m in ROUND_TRIP])
def test_rfc4666_round_trip(msg: M3uaMessage) -> None:
    assert decode_m3ua(encode_m3ua(msg)) == msg


def test_rfc4666_data_carries_q763_isup_with_cic() -> None:
    isup = messages.encode(messages.iam(12, "4930123", "4940555"))
    data = decode_m3ua(encode_m3ua(Data(opc=100, dpc=200, sls=12, user_data=isup)))
    assert isinstance(data, Data) and data.si == 5 and data.ni == 2
    assert messages.decode(data.user_data) == messages.iam(12, "4930123", "4940555")


def test_rfc4666_ssnm_and_rkm_decode_as_other() -> None:
    # DAVA (class 2 type 2) with Affected Point Code (0x0012) mask 0, PC 0x000102: §3.4.2
    msg = decode_m3ua(bytes.fromhex("01000202 00000010 00120008 00000102"))
    assert msg == Other(2, 2, ((0x0012, b"\x00\x00\x01\x02"),))


@pytest.mark.parametrize(("hexdata", "code"), [
    ("02000301 00000008", ErrorCode.INVALID_VERSION),
    ("01000501 00000008", ErrorCode.UNSUPPORTED_MESSAGE_CLASS),
    ("01000309 00000008", ErrorCode.UNSUPPORTED_MESSAGE_TYPE),
    ("01000301 00000009 00", ErrorCode.PARAMETER_FIELD_ERROR),  # one octet that is no parameter
    ("01000301 0000000c", ErrorCode.PROTOCOL_ERROR),  # length 12, 8 octets given
    ("01000101 00000008", ErrorCode.MISSING_PARAMETER),  # DATA without Protocol Data
    ("01000301 00000010 000b0008 00000001", ErrorCode.UNEXPECTED_PARAMETER),  # Traffic Mode in ASP Up
    ("01000101 00000010 02100008 00000001", ErrorCode.PARAMETER_FIELD_ERROR),  # Protocol Data too short
    ("01000001 00000008", ErrorCode.MISSING_PARAMETER),  # NTFY without Status
])
def test_rfc4666_section381_error_codes_for_bad_messages(hexdata: str, code: int) -> None:
    with pytest.raises(M3uaError) as err:
        decode_m3ua(bytes.fromhex(hexdata))
    assert err.value.error_code == code


# --- framing ----------------------------------------------------------------------------------

STREAM = encode_m3ua(AspUp()) + encode_m3ua(Beat(b"hello")) + encode_m3ua(Data(1, 2, user_data=b"\x01" * 30))


def test_framer_splits_concatenated_messages() -> None:
    msgs = M3uaFramer().feed(STREAM)
    assert [type(decode_m3ua(m)) for m in msgs] == [AspUp, Beat, Data]
    assert b"".join(msgs) == STREAM


def test_framer_reassembles_byte_by_byte() -> None:
    framer, out = M3uaFramer(), []
    for i in range(len(STREAM)):
        out += framer.feed(STREAM[i:i + 1])
    assert b"".join(out) == STREAM and len(out) == 3


@given(st.lists(st.integers(1, len(STREAM)), max_size=10))
def test_property_framer_any_split(cuts: list[int]) -> None:
    points = sorted(set(cuts))
    pieces = [STREAM[a:b] for a, b in zip([0, *points], [*points, len(STREAM)])]
    framer, out = M3uaFramer(), []
    for piece in pieces:
        out += framer.feed(piece)
    assert out == M3uaFramer().feed(STREAM)


@pytest.mark.parametrize(("data", "code"), [
    (b"GET / HTTP/1.1\r\n", ErrorCode.INVALID_VERSION),
    (b"\x02", ErrorCode.INVALID_VERSION),
    (bytes.fromhex("01000301 00000004"), ErrorCode.PROTOCOL_ERROR),  # shorter than its header
    (bytes.fromhex("01000301 7fffffff"), ErrorCode.PROTOCOL_ERROR),  # absurd length
])
def test_framer_refuses_a_bad_header_and_drops_the_stream(data: bytes, code: int) -> None:
    framer = M3uaFramer()
    with pytest.raises(M3uaError) as err:
        framer.feed(data)
    assert err.value.error_code == code
    assert framer.feed(encode_m3ua(AspUp())) == [encode_m3ua(AspUp())]  # starts afresh


# --- the association -------------------------------------------------------------------------

def pump(asp: M3uaAsp, sgp: M3uaSgp, first: list[Event], now: float) -> tuple[list[Event], list[Event]]:
    """Carry SendBytes from the ASP to the SGP and back until quiet; the other events, per side."""
    seen_asp: list[Event] = []
    seen_sgp: list[Event] = []
    todo: list[tuple[str, Event]] = [("asp", e) for e in first]
    while todo:
        side, event = todo.pop(0)
        if isinstance(event, SendBytes):
            peer, name = (sgp, "sgp") if side == "asp" else (asp, "asp")
            todo += [(name, e) for e in peer.receive(event.data, now)]
        else:
            (seen_asp if side == "asp" else seen_sgp).append(event)
    return seen_asp, seen_sgp


def up(rc: int | None = 1, **kw: object) -> tuple[M3uaAsp, M3uaSgp]:
    asp, sgp = M3uaAsp(routing_context=rc, **kw), M3uaSgp(routing_context=rc)  # type: ignore[arg-type]
    pump(asp, sgp, asp.start(0.0), 0.0)
    return asp, sgp


def test_rfc4666_4341_asp_up_then_active_in_memory() -> None:
    asp, sgp = M3uaAsp(routing_context=1), M3uaSgp(routing_context=1)
    seen_asp, seen_sgp = pump(asp, sgp, asp.start(0.0), 0.0)
    assert seen_sgp == [StateChanged(AspState.INACTIVE), StateChanged(AspState.ACTIVE)]
    assert seen_asp == [StateChanged(AspState.INACTIVE), Notified(1, 2), StateChanged(AspState.ACTIVE),
                        Notified(1, 3)]
    assert asp.state is sgp.state is AspState.ACTIVE
    assert asp.next_deadline() is None  # nothing pending, no heartbeat configured


def test_rfc4666_data_delivered_both_ways() -> None:
    asp, sgp = up()
    iam = messages.encode(messages.iam(1, "4930123", "4940555"))
    [send] = asp.send_isup(opc=10, dpc=20, sls=1, isup_bytes=iam)
    assert sgp.receive(send.data, 1.0) == [IsupReceived(10, 20, 1, iam)]
    assert decode_m3ua(send.data) == Data(10, 20, 5, 2, 0, 1, iam, routing_context=1)
    acm = messages.encode(messages.acm(1))
    [back] = sgp.send_isup(opc=20, dpc=10, sls=1, isup_bytes=acm)
    assert asp.receive(back.data, 1.0) == [IsupReceived(20, 10, 1, acm)]


def test_rfc4666_isup_refused_unless_asp_active() -> None:
    asp, sgp = M3uaAsp(), M3uaSgp()
    with pytest.raises(M3uaError, match="ASP-DOWN") as err:
        asp.send_isup(1, 2, 0, b"\x00\x00\x10\x00")
    assert err.value.error_code == ErrorCode.UNEXPECTED_MESSAGE
    with pytest.raises(M3uaError):
        sgp.send_isup(1, 2, 0, b"")


def test_rfc4666_data_received_before_active_is_answered_with_err() -> None:
    sgp = M3uaSgp()
    events = sgp.receive(encode_m3ua(Data(1, 2, user_data=b"x")), 0.0)
    assert decode_m3ua(events[0].data) == Err(ErrorCode.UNEXPECTED_MESSAGE, diagnostic=encode_m3ua(  # type: ignore[union-attr]
        Data(1, 2, user_data=b"x")))
    assert isinstance(events[1], M3uaProblem)


def test_rfc4666_garbage_is_answered_with_err_and_never_raises() -> None:
    sgp = M3uaSgp()
    send, problem, lost = sgp.receive(b"GET / HTTP/1.1\r\n\r\n", 0.0)
    assert isinstance(send, SendBytes) and isinstance(problem, M3uaProblem) and isinstance(lost, FramingLost)
    err = decode_m3ua(send.data)
    assert isinstance(err, Err) and err.error_code == ErrorCode.INVALID_VERSION
    [send, _] = sgp.receive(bytes.fromhex("01000501 00000008"), 0.0)
    assert decode_m3ua(send.data).error_code == ErrorCode.UNSUPPORTED_MESSAGE_CLASS  # type: ignore[union-attr]
    [send, _] = sgp.receive(bytes.fromhex("01000309 00000008"), 0.0)
    assert decode_m3ua(send.data).error_code == ErrorCode.UNSUPPORTED_MESSAGE_TYPE  # type: ignore[union-attr]


def test_rfc4666_err_is_never_answered_with_err() -> None:
    asp, _ = up()
    assert asp.receive(encode_m3ua(Err(7)), 1.0) == [M3uaProblem("peer sent ERR code 0x07")]
    events = asp.receive(bytes.fromhex("01000000 00000008"), 1.0)  # ERR without its Error Code
    assert [type(e) for e in events] == [M3uaProblem]


def test_rfc4666_asp_active_before_asp_up_is_unexpected() -> None:
    [send, problem] = M3uaSgp().receive(encode_m3ua(AspActive(2)), 0.0)
    assert decode_m3ua(send.data) == Err(ErrorCode.UNEXPECTED_MESSAGE, diagnostic=encode_m3ua(AspActive(2)))  # type: ignore[union-attr]
    assert "AspActive in ASP-DOWN" in problem.reason  # type: ignore[union-attr]


@pytest.mark.parametrize(("aspac", "code"), [
    (AspActive(7, (1,)), ErrorCode.UNSUPPORTED_TRAFFIC_MODE_TYPE),
    (AspActive(2, (9,)), ErrorCode.INVALID_ROUTING_CONTEXT),
])
def test_rfc4666_sgp_checks_asp_active(aspac: AspActive, code: int) -> None:
    sgp = M3uaSgp(routing_context=1)
    sgp.receive(encode_m3ua(AspUp()), 0.0)
    send = sgp.receive(encode_m3ua(aspac), 0.0)[0]
    assert decode_m3ua(send.data).error_code == code  # type: ignore[union-attr]
    assert sgp.state is AspState.INACTIVE


def test_rfc4666_4341_asp_up_resent_after_t_ack_then_given_up() -> None:
    asp = M3uaAsp(t_ack=2.0, max_retries=2)
    [first] = asp.start(10.0)
    assert asp.next_deadline() == 12.0
    assert asp.handle_timer(11.0) == []
    assert asp.handle_timer(12.0) == [first] and asp.next_deadline() == 14.0
    assert asp.handle_timer(14.0) == [first]
    [problem] = asp.handle_timer(16.0)
    assert isinstance(problem, M3uaProblem) and "3 tries" in problem.reason
    assert asp.next_deadline() is None and asp.state is AspState.DOWN


def test_rfc4666_asp_up_answered_late_still_brings_the_asp_up() -> None:
    asp, sgp = M3uaAsp(), M3uaSgp()
    asp.start(0.0)  # this ASP Up is lost
    [again] = asp.handle_timer(2.0)
    pump(asp, sgp, [again], 2.5)
    assert asp.state is AspState.ACTIVE
    assert asp.receive(encode_m3ua(AspUpAck()), 3.0) == []  # a late duplicate Ack changes nothing


def test_rfc4666_4346_heartbeat_answered_and_lost() -> None:
    asp, sgp = up(beat_interval=30.0)
    assert asp.next_deadline() == 30.0
    [beat] = asp.handle_timer(30.0)
    assert isinstance(decode_m3ua(beat.data), Beat)  # type: ignore[union-attr]
    [ack] = sgp.receive(beat.data, 30.0)  # type: ignore[union-attr]
    assert decode_m3ua(ack.data) == BeatAck(decode_m3ua(beat.data).data)  # type: ignore[union-attr]
    assert asp.receive(ack.data, 30.1) == []  # type: ignore[union-attr]
    asp.handle_timer(60.0)  # unanswered
    asp.handle_timer(90.0)  # unanswered
    events = asp.handle_timer(120.0)
    assert events == [M3uaProblem("two heartbeats unanswered"), StateChanged(AspState.DOWN)]
    assert asp.next_deadline() is None


def test_rfc4666_asp_inactive_and_down() -> None:
    asp, sgp = up()
    [send, changed, ntfy] = sgp.receive(encode_m3ua(AspInactive((1,))), 1.0)
    assert decode_m3ua(send.data) == AspInactiveAck((1,))  # type: ignore[union-attr]
    assert changed == StateChanged(AspState.INACTIVE) and decode_m3ua(ntfy.data) == Notify(1, 2, routing_contexts=(1,))  # type: ignore[union-attr]
    seen_asp, seen_sgp = pump(asp, sgp, asp.stop(2.0), 2.0)
    assert seen_sgp == [StateChanged(AspState.DOWN)] and seen_asp == [StateChanged(AspState.DOWN)]
    assert decode_m3ua(encode_m3ua(AspDownAck())) == AspDownAck()
    with pytest.raises(M3uaError):
        asp.send_isup(1, 2, 0, b"")


def test_rfc4666_asp_up_from_an_active_asp_makes_it_inactive() -> None:
    _, sgp = up()
    events = sgp.receive(encode_m3ua(AspUp()), 5.0)
    assert StateChanged(AspState.INACTIVE) in events and sgp.state is AspState.INACTIVE


def test_data_for_another_user_part_is_reported_not_delivered() -> None:
    _, sgp = up()
    events = sgp.receive(encode_m3ua(Data(1, 2, si=3, user_data=b"sccp", routing_context=1)), 1.0)
    assert [type(e) for e in events] == [M3uaProblem]


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=80), st.booleans())
def test_property_receive_never_raises(data: bytes, active: bool) -> None:
    asp, sgp = up() if active else (M3uaAsp(), M3uaSgp())
    for peer in (asp, sgp):
        for event in peer.receive(data, 1.0):
            assert isinstance(event, (SendBytes, StateChanged, IsupReceived, Notified, M3uaProblem, FramingLost))


@settings(max_examples=300, deadline=None)
@given(st.sampled_from([(0, 0), (0, 1), (1, 1), (3, 1), (3, 3), (3, 4), (4, 1), (4, 3), (2, 1), (9, 1)]),
       st.binary(max_size=40))
def test_property_well_framed_garbage_never_raises(class_type: tuple[int, int], body: bytes) -> None:
    data = bytes([1, 0, *class_type]) + (8 + len(body)).to_bytes(4, "big") + body
    try:
        decode_m3ua(data)
    except M3uaError:
        pass
    _, sgp = up()
    sgp.receive(data, 1.0)
