"""The Diameter decoder on untrusted bytes (DESIGN §6a; RFC 6733 §3, §4.1, §4.4, §7.1.5, §7.5).

Every fault is a DiameterError carrying the Result-Code to answer with and, where one AVP is at
fault, the Failed-AVP; DiameterLimits bound size, AVP count and nesting before python-diameter
builds anything.  The two inputs of issue 13 that killed the HSS are here as regression tests.
"""

from __future__ import annotations

import pytest

from ims.diameter import codec, cx
from ims.diameter.codec import (
    FAILED_AVP, RESULT_CODE, SESSION_ID, DiameterLimits, DiameterMessage, avp, frame_length, salvage_request,
)
from ims.diameter.constants import CMD_CE
from ims.diameter.errors import DiameterError
from ims.diameter.peer import CloseConnection, LocalIdentity, Peer, PeerState, PeerUp, SendBytes

HSS = LocalIdentity("hss.example.net", "example.net", origin_state_id=1)

# Issue 13: a 76-byte CER whose Vendor-Specific-Application-Id holds an AVP 258 with the V bit,
# vendor 0x01000000 and no payload (it reached int(b"") in the peer's application list).
KILLER_CER = (b'\x01\x00\x00L\x80\x00\x01\x01\x00\x00\x00\x00\x00\x00\x00\x01\x00\x00\x00\x02\x00\x00\x01\x08@'
              b'\x00\x00\x0cevil\x00\x00\x01(@\x00\x00\x0cevil\x00\x00\x01\x04@\x00\x00 \x00\x00\x01\n@\x00\x00'
              b'\x0c\x00\x00(\xaf\x00\x00\x01\x02\x80\x00\x00\x0c\x01\x00\x00\x00')


def raw_avp(code: int, payload: bytes, flags: int = 0x40, vendor: int | None = None, length: int | None = None) -> bytes:
    header = 12 if vendor is not None else 8
    n = header + len(payload) if length is None else length
    out = code.to_bytes(4, "big") + bytes([flags | (0x80 if vendor is not None else 0)]) + n.to_bytes(3, "big")
    if vendor is not None:
        out += vendor.to_bytes(4, "big")
    return out + payload + bytes(-len(payload) % 4)


def message(body: bytes, *, flags: int = 0x80, code: int = CMD_CE, app: int = 0, version: int = 1) -> bytes:
    return bytes([version]) + (20 + len(body)).to_bytes(3, "big") + bytes([flags]) + code.to_bytes(3, "big") \
        + app.to_bytes(4, "big") + (7).to_bytes(4, "big") + (9).to_bytes(4, "big") + body


ORIGIN = raw_avp(264, b"evil") + raw_avp(296, b"evil")


def nested(depth: int, code: int = 260) -> bytes:
    """Grouped AVPs ``depth`` levels deep (Vendor-Specific-Application-Id in itself)."""
    inner = b""
    for _ in range(depth):
        inner = raw_avp(code, inner)
    return inner


def decode_error(data: bytes, limits: DiameterLimits = codec.DEFAULT_LIMITS) -> DiameterError:
    with pytest.raises(DiameterError) as err:
        DiameterMessage.from_bytes(data, limits)
    return err.value


def failed_member(exc: DiameterError) -> codec.Avp:
    assert exc.failed_avp is not None and exc.failed_avp.code == FAILED_AVP
    (member,) = exc.failed_avp.value
    return member


def answer_of(out: list) -> DiameterMessage:  # type: ignore[type-arg]
    (ans,) = [a for a in out if isinstance(a, SendBytes)]
    return DiameterMessage.from_bytes(ans.data)  # our own answer decodes with our own decoder


# -- the two killers of issue 13 ---------------------------------------------------------------------

def test_issue13_cer_with_empty_vendor_auth_application_id_is_cea_5005_and_close() -> None:
    """RFC 6733 §6.11: a Vendor-Specific-Application-Id without Auth-/Acct-Application-Id (here the
    AVP 258 carries a vendor, so it is another vendor's AVP) is DIAMETER_MISSING_AVP, Failed-AVP with
    an example of each; §5.3: the CEA carries the error and the connection is closed."""
    assert len(KILLER_CER) == 76
    peer = Peer(HSS, initiator=False)
    out = peer.receive_data(KILLER_CER, 0.0)
    cea = answer_of(out)
    assert cea.command_code == CMD_CE and not cea.request and cea.result_code == 5005
    assert cea.hop_by_hop == 1 and cea.end_to_end == 2 and not cea.error  # the CER's (§6.2)
    (failed,) = cea.find(FAILED_AVP)
    assert sorted((m.code, m.value) for m in failed.value) == [(258, 0), (259, 0)]
    assert cea.get(257) is not None and cea.get(269) is not None  # a CEA still (§5.3.2 Host-IP, Product-Name)
    assert any(isinstance(a, CloseConnection) for a in out) and not any(isinstance(a, PeerUp) for a in out)
    assert peer.rfc_state is PeerState.CLOSED


def test_issue13_auth_application_id_without_payload_is_5014_with_the_avp() -> None:
    """The same CER with a plain (vendor-less) Auth-Application-Id of 0 octets: an Unsigned32 of the
    wrong length is DIAMETER_INVALID_AVP_LENGTH with the offending AVP in Failed-AVP (§7.1.5)."""
    body = ORIGIN + raw_avp(260, raw_avp(266, (10415).to_bytes(4, "big")) + raw_avp(258, b""))
    exc = decode_error(message(body))
    assert exc.result_code == 5014
    member = failed_member(exc)
    assert (member.code, member.vendor_id, member.payload) == (258, 0, b"")
    out = Peer(HSS, initiator=False).receive_data(message(body), 0.0)
    assert answer_of(out).result_code == 5014 and any(isinstance(a, CloseConnection) for a in out)


def test_issue13_grouped_avps_nested_1000_deep_are_5004_not_recursion() -> None:
    data = message(ORIGIN + nested(1000))
    exc = decode_error(data)
    assert exc.result_code == 5004 and "deeper than 16" in exc.message
    member = failed_member(exc)
    assert member.code == 260 and member.payload == b""  # the header with an empty payload, not the nest
    out = Peer(HSS, initiator=False).receive_data(data, 0.0)
    cea = answer_of(out)
    assert cea.result_code == 5004 and cea.find(FAILED_AVP)
    assert any(isinstance(a, CloseConnection) for a in out)


def test_grouping_up_to_max_depth_decodes_one_more_level_does_not() -> None:
    limits = DiameterLimits(max_depth=4)
    DiameterMessage.from_bytes(message(ORIGIN + nested(4)), limits)
    assert decode_error(message(ORIGIN + nested(5)), limits).result_code == 5004


# -- header (RFC 6733 §3) --------------------------------------------------------------------------

@pytest.mark.parametrize("data", [b"", b"\x01", b"\x01\x00\x00\x14\x80\x00\x01", message(b"")[:19]])
def test_truncated_header_is_5015(data: bytes) -> None:
    assert decode_error(data).result_code == 5015


def test_header_checks() -> None:
    good = message(ORIGIN)
    assert decode_error(good[:1] + (len(good) + 4).to_bytes(3, "big") + good[4:]).result_code == 5015  # past the end
    assert decode_error(good[:1] + (18).to_bytes(3, "big") + good[4:]).result_code == 5015  # shorter than 20
    assert decode_error(good + b"\x00\x00").result_code == 5015  # not a multiple of 4
    assert decode_error(message(ORIGIN, version=2)).result_code == 5011
    assert decode_error(message(ORIGIN, flags=0xA0)).result_code == 3008  # E bit on a request
    assert decode_error(message(ORIGIN, flags=0x81)).result_code == 5013  # a reserved bit
    assert DiameterMessage.from_bytes(message(ORIGIN, flags=0x20)).error  # E bit on an answer is fine


def test_message_over_the_size_limit_is_5015_from_the_header_alone() -> None:
    limits = DiameterLimits(max_message_bytes=64)
    big = message(ORIGIN + raw_avp(SESSION_ID, b"x" * 64))
    assert decode_error(big, limits).result_code == 5015
    assert frame_length(big[:4], DiameterLimits()) == len(big)
    with pytest.raises(DiameterError) as err:
        frame_length(big[:4], limits)
    assert err.value.result_code == 5015


def test_limits_are_checked_when_made() -> None:
    with pytest.raises(ValueError):
        DiameterLimits(max_message_bytes=10)
    with pytest.raises(ValueError):
        DiameterLimits(max_avps=0)
    with pytest.raises(AttributeError):
        DiameterLimits().max_avps = 5  # type: ignore[misc]  # frozen


# -- AVPs (RFC 6733 §4.1, §4.4, §7.1.5) --------------------------------------------------------------

def test_avp_length_below_its_header_is_5014_with_header_and_zero_payload() -> None:
    exc = decode_error(message(ORIGIN + raw_avp(268, b"\x00\x00\x07\xd1", length=5)))
    assert exc.result_code == 5014
    member = failed_member(exc)
    assert member.code == 268 and member.payload == bytes(4)  # Result-Code: Unsigned32, 4 zero octets


def test_avp_length_past_the_message_is_5014() -> None:
    data = message(ORIGIN + raw_avp(263, b"abcd", length=200))
    exc = decode_error(data)
    assert exc.result_code == 5014 and failed_member(exc).code == 263


def test_truncated_avp_header_is_5014_padded_with_zeroes() -> None:
    data = message(ORIGIN + b"\x00\x00\x01\x07")
    exc = decode_error(data)
    assert exc.result_code == 5014 and failed_member(exc).code == 263


def test_vendor_flag_without_room_for_the_vendor_id_is_5014() -> None:
    data = message(ORIGIN + (263).to_bytes(4, "big") + b"\xc0\x00\x00\x08")
    assert decode_error(data).result_code == 5014


def test_member_length_past_its_group_is_5014_naming_the_member() -> None:
    group = raw_avp(260, raw_avp(266, (10415).to_bytes(4, "big")) + raw_avp(258, bytes(4), length=40))
    exc = decode_error(message(ORIGIN + group + bytes(40)))
    assert exc.result_code == 5014 and failed_member(exc).code == 258


@pytest.mark.parametrize(("code", "payload"), [(268, b"\x00\x07\xd1"), (268, bytes(8)), (287, bytes(4)),
                                               (257, b"\x00\x01\x7f\x00\x00"), (257, b"\x00")])
def test_value_size_that_does_not_fit_the_type_is_5014_with_a_copy(code: int, payload: bytes) -> None:
    """Unsigned32 Result-Code of 3 or 8 octets, Unsigned64 Accounting-Sub-Session-Id of 4, an IPv4
    Host-IP-Address of 3 octets, an Address of 1."""
    exc = decode_error(message(ORIGIN + raw_avp(code, payload)))
    assert exc.result_code == 5014
    member = failed_member(exc)
    assert (member.code, member.payload) == (code, payload)


def test_non_utf8_utf8string_is_5004_with_the_avp() -> None:
    exc = decode_error(message(ORIGIN + raw_avp(SESSION_ID, b"\xff\xfe")))
    assert exc.result_code == 5004 and failed_member(exc).payload == b"\xff\xfe"


def test_more_avps_than_the_limit_is_5012_before_python_diameter_decodes(monkeypatch: pytest.MonkeyPatch) -> None:
    """A 1 MiB CER of 87k AVPs: refused after max_avps AVP headers, without building one Avp object."""
    body = ORIGIN + raw_avp(265, (10415).to_bytes(4, "big")) * 87_000
    data = message(body)
    assert len(data) > 1_000_000

    def boom(*args: object, **kw: object) -> None:
        raise AssertionError("python-diameter was asked to decode")

    monkeypatch.setattr(codec.Avp, "from_unpacker", boom)
    exc = decode_error(data, DiameterLimits(max_message_bytes=1 << 20))
    assert exc.result_code == 5012 and "1000 AVPs" in exc.message
    assert decode_error(data).result_code == 5015  # the default limit refuses it from the header


def test_unknown_avps_are_opaque_and_failed_avp_contents_are_not_type_checked() -> None:
    """An answer's Failed-AVP holds the peer's copy of a faulty AVP (§7.5): it must not make the
    answer undecodable.  Unknown AVPs (here a vendor-less 99999) are opaque."""
    ans = message(ORIGIN + raw_avp(RESULT_CODE, (5014).to_bytes(4, "big")) + raw_avp(99999, b"\xff")
                  + raw_avp(FAILED_AVP, raw_avp(268, b"") + raw_avp(263, b"\xff")), flags=0x00)
    msg = DiameterMessage.from_bytes(ans)
    assert msg.result_code == 5014 and len(msg.find(FAILED_AVP)) == 1


def test_salvage_request_keeps_session_id_and_identifiers() -> None:
    data = message(raw_avp(SESSION_ID, b"s;1") + raw_avp(268, b"\x00"), app=16777216)
    req = salvage_request(data)
    assert (req.command_code, req.application_id, req.hop_by_hop, req.end_to_end) == (CMD_CE, 16777216, 7, 9)
    assert req.session_id == "s;1" and req.request
    assert salvage_request(message(raw_avp(SESSION_ID, b"\xff"))).session_id is None


def test_round_trip_of_every_cx_message_under_the_default_limits() -> None:
    from tests.diameter.test_cx import ANSWERS, REQUESTS
    for m in [r.to_message() for r in REQUESTS] + [a.to_message() for a in ANSWERS]:
        back = DiameterMessage.from_bytes(m.to_bytes())
        assert cx.parse(back) is not None
    assert avp(RESULT_CODE, 1).value == 1


def test_a_capability_avp_of_another_vendor_is_not_read_as_ours() -> None:
    """Found by the property test: Optional-Capability (605) with a vendor other than 3GPP decodes as an
    unknown opaque AVP, and the Cx view read it by code alone (int(b'...') -> ValueError)."""
    from tests.diameter.test_cx import ANSWERS
    wire = ANSWERS[0].to_message().to_bytes()
    ours = (605).to_bytes(4, "big") + b"\xc0\x00\x00\x10" + (10415).to_bytes(4, "big")
    assert ours in wire
    theirs = wire.replace(ours, ours[:8] + (10415 + (1 << 24)).to_bytes(4, "big"), 1)
    uaa = cx.parse(DiameterMessage.from_bytes(theirs))
    assert isinstance(uaa, cx.UserAuthorizationAnswer) and uaa.server_capabilities is not None
    assert uaa.server_capabilities.optional == ()
    assert uaa.server_capabilities.mandatory == (1, 2)


def test_our_error_answer_to_an_unknown_command_decodes() -> None:
    """Found by the property test: for a command python-diameter does not know, its Message.from_bytes
    reads every value eagerly (Failed-AVP's faulty copy included); the decoder no longer goes through it."""
    bad = message(raw_avp(265, b"scscf.example.net") + ORIGIN, code=0x010101)
    out = Peer(HSS, initiator=False).receive_data(bad, 0.0)
    ans = answer_of(out)  # decodes with our decoder
    assert ans.result_code == 5014 and failed_member(DiameterError(0, failed_avp=ans.find(FAILED_AVP)[0])).code == 265
