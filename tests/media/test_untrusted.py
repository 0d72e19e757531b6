"""Untrusted bytes (STYLE §6a, issue 13): any datagram gives a media decoder's own error or a value.

Random bytes and mutations of real packets (bytes overwritten, cut short, extended) go through every
media decoder: RTP (RFC 3550 §5.1), RFC 4733 telephone-events, RTCP compounds (§6, with APP and XR),
SRTP/SRTCP unprotect (RFC 3711), AMR/AMR-WB payloads (RFC 4867 both formats).  Nothing but
``RtpError``/``RtcpError``/``SrtpError``/``AmrError`` may come out.  The packet paths built on them (the
IM-MGW relay core, a handset stream's receive path) raise nothing at all: a bad packet is counted.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from ims.media.amr import AmrError, amr_payload, parse_amr_payload
from ims.media.relay import Relay, TermSpec
from ims.media.rtcp import (
    Bye, RawRtcp, ReceiverReport, ReportBlock, RtcpError, SenderReport, SourceDescription, parse_compound,
    serialize_compound,
)
from ims.media.rtp import RtpError, RtpPacket, RtpSender, TelephoneEvent, is_rtcp
from ims.media.srtp import SrtpError, SrtpSession
from ims.media.stream import StreamParams
from ims.net.media import MediaStream

SUITE = "AES_CM_128_HMAC_SHA1_80"
KEY = bytes(range(30))

_RTP = [
    RtpPacket(0, 1, 160, 0x1234, b"\xff" * 160, True).to_bytes(),
    RtpPacket(96, 65535, 0xFFFFFFFF, 1, b"voice", False, (1, 2, 3), (0xBEDE, b"\x10\xff\x00\x00"), 3).to_bytes(),
    RtpPacket(101, 7, 8000, 9, TelephoneEvent(5, True, 10, 800).to_bytes()).to_bytes(),
]
_RTCP = [
    serialize_compound([
        SenderReport(1, 2, 3, 4, 5, [ReportBlock(9, 1, -2, 3, 4, 5, 6)]),
        SourceDescription([(1, [(1, b"alice@ims"), (2, b"Alice")])]),
        Bye([1, 2], "gone"),
    ]),
    serialize_compound([
        ReceiverReport(7, [ReportBlock(9, 0, 0, 1, 0, 0, 0)] * 2),
        RawRtcp(204, 1, b"\x00\x00\x00\x07name" + bytes(8)),
        RawRtcp(205, 1, bytes(12)),
        RawRtcp(207, 0, bytes.fromhex("00000001 04000002 11111111 22222222 05000003 00000002 00000003 00000004")),
    ]),
]


def _srtp() -> tuple[list[bytes], list[bytes]]:
    tx = SrtpSession(SUITE, KEY, outbound=True)
    return [tx.protect(p) for p in _RTP], [tx.protect_rtcp(p) for p in _RTCP]


_SRTP, _SRTCP = _srtp()
_AMR = [amr_payload(ft, wideband=wb, octet_aligned=oa) for ft, wb in ((7, False), (8, True), (9, True))
        for oa in (False, True)]


@st.composite
def _mutated(draw: st.DrawFn, seeds: list[bytes]) -> bytes:
    data = bytearray(draw(st.sampled_from(seeds)))
    for pos, value in draw(st.lists(st.tuples(st.integers(0, 400), st.integers(0, 255)), max_size=6)):
        if pos < len(data):
            data[pos] = value
    cut = draw(st.integers(0, len(data)))
    data = data[:cut] if draw(st.booleans()) else data
    return bytes(data) + draw(st.binary(max_size=16))


def _only(fn: object, data: bytes, *errors: type[Exception]) -> None:
    try:
        fn(data)  # type: ignore[operator]
    except errors:
        pass


_ANY = st.binary(max_size=300)


@settings(max_examples=400)
@given(st.one_of(_ANY, _mutated(_RTP)))
def test_rtp_and_telephone_event_raise_only_rtp_error(data: bytes) -> None:
    _only(RtpPacket.parse, data, RtpError)
    _only(TelephoneEvent.parse, data, RtpError)
    is_rtcp(data)
    try:
        pkt = RtpPacket.parse(data)
    except RtpError:
        return
    assert RtpPacket.parse(pkt.to_bytes()) == pkt  # what parses serializes back to the same packet


@settings(max_examples=400)
@given(st.one_of(_ANY, _mutated(_RTCP)))
def test_rtcp_compounds_raise_only_rtcp_error(data: bytes) -> None:
    _only(parse_compound, data, RtcpError)


@settings(max_examples=200)
@given(st.one_of(_ANY, _mutated(_SRTP + _SRTCP)))
def test_srtp_and_srtcp_unprotect_raise_only_srtp_error(data: bytes) -> None:
    rx = SrtpSession(SUITE, KEY, outbound=False)
    _only(rx.unprotect, data, SrtpError)
    _only(rx.unprotect_rtcp, data, SrtpError)


@settings(max_examples=400)
@given(st.one_of(_ANY, _mutated(_AMR)), st.booleans(), st.booleans())
def test_amr_payloads_raise_only_amr_error(data: bytes, wideband: bool, octet_aligned: bool) -> None:
    _only(lambda d: parse_amr_payload(d, wideband=wideband, octet_aligned=octet_aligned), data, AmrError)


def _relay() -> tuple[Relay, object, object]:
    relay = Relay()
    a = relay.add("", TermSpec("127.0.0.1", 40000, srtp_suite=SUITE, remote_key=KEY, telephone_event_pt=101),
                  "127.0.0.1", 30000)
    b = relay.add(a.context, TermSpec("127.0.0.1", 50000, payload_type=8, encoding="PCMA",
                                      telephone_event_pt=100), "127.0.0.1", 30002)
    return relay, a, b


@settings(max_examples=300)
@given(st.one_of(_ANY, _mutated(_RTP + _RTCP + _SRTP + _SRTCP)))
def test_the_relay_core_counts_a_bad_packet_and_raises_nothing(data: bytes) -> None:
    relay, a, b = _relay()
    for term in (a, b):
        relay.rtp_in(term, data, ("127.0.0.1", 40000), 0.0)  # type: ignore[arg-type]
        relay.rtcp_in(term, data, ("127.0.0.1", 40001))  # type: ignore[arg-type]
    counters = a.counters  # type: ignore[attr-defined]
    assert counters["packets_in"] == 1 and counters["rtcp_in"] == 1


def test_the_relay_core_passes_the_real_packets() -> None:
    relay, a, b = _relay()
    passed = [relay.rtp_in(a, srtp, ("127.0.0.1", 40000), 0.0) is not None for srtp in _SRTP]  # type: ignore[arg-type]
    assert passed == [True, False, True]  # PCMU and the telephone-event; PT 96 was not negotiated
    for plain in _RTP:
        assert relay.rtp_in(b, plain, ("127.0.0.1", 50000), 0.0) is None  # PT 0/96 were not negotiated there
    assert relay.rtp_in(b, RtpSender(8, 8000, 5).next(b"\xd5" * 160, 160).to_bytes(),  # type: ignore[arg-type]
                        ("127.0.0.1", 50000), 0.0) is not None
    for srtcp in _SRTCP:
        assert relay.rtcp_in(a, srtcp, ("127.0.0.1", 40001)) is not None  # type: ignore[arg-type]


@settings(max_examples=300)
@given(st.one_of(_ANY, _mutated(_RTP + _RTCP)), st.booleans())
def test_a_handset_stream_receive_path_raises_nothing(data: bytes, srtp: bool) -> None:
    stream = MediaStream("127.0.0.1")
    stream.configure(StreamParams("127.0.0.1", 40000, 0, "PCMU", 8000, telephone_event_pt=101,
                                  srtp_suite=SUITE if srtp else None, local_key=KEY if srtp else None,
                                  remote_key=KEY if srtp else None))
    stream._on_rtp(data, ("127.0.0.1", 40000), 1.0)
    stream._on_rtcp(data, ("127.0.0.1", 40001), 1.0)
