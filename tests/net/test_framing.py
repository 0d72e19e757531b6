"""Stream framing for SIP over TCP/TLS (RFC 3261 §18.3) and CRLF keep-alives (RFC 5626 §3.5.1)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ims.sip.errors import SipParseError
from ims.sip.framing import PING, PONG, StreamFramer

OPTIONS = (b"OPTIONS sip:b@h SIP/2.0\r\nVia: SIP/2.0/TCP h;branch=z9hG4bK1\r\nFrom: <sip:a@h>;tag=1\r\n"
           b"To: <sip:b@h>\r\nCall-ID: c\r\nCSeq: 1 OPTIONS\r\nContent-Length: 4\r\n\r\nabcd")
# Compact form "l" (§7.3.3) and a body that itself contains CRLFCRLF.
COMPACT = (b"SIP/2.0 200 OK\r\nv: SIP/2.0/TCP h;branch=z9hG4bK1\r\nf: <sip:a@h>;tag=1\r\nt: <sip:b@h>;tag=2\r\n"
           b"i: c\r\nCSeq: 1 OPTIONS\r\nl:  10\r\n\r\nab\r\n\r\ncdef")
NO_BODY = OPTIONS.replace(b"Content-Length: 4", b"Content-Length: 0")[:-4]


def test_18_3_message_split_by_content_length() -> None:
    f = StreamFramer()
    assert f.feed(OPTIONS + COMPACT + NO_BODY) == [OPTIONS, COMPACT, NO_BODY]
    assert f.buffered == 0


def test_18_3_partial_message_waits_for_its_body() -> None:
    f = StreamFramer()
    assert f.feed(OPTIONS[:-2]) == []
    assert f.buffered == len(OPTIONS) - 2
    assert f.feed(OPTIONS[-2:] + OPTIONS[:10]) == [OPTIONS]
    assert f.buffered == 10


def test_18_3_compact_content_length_and_crlfcrlf_inside_body() -> None:
    assert StreamFramer().feed(COMPACT) == [COMPACT]


def test_rfc5626_3_5_1_double_crlf_is_a_ping_answered_with_one_crlf() -> None:
    f = StreamFramer()
    assert PING == b"\r\n\r\n" and PONG == b"\r\n"
    assert f.feed(PING) == [PING]
    # A ping split across reads, then a message.
    assert f.feed(b"\r\n") == []
    assert f.feed(b"\r") == []
    assert f.feed(b"\n" + OPTIONS) == [PING, OPTIONS]


def test_7_5_single_crlf_between_messages_is_ignored() -> None:
    # A pong (single CRLF) received on our own outbound connection, or §7.5 leading CRLFs.
    assert StreamFramer().feed(OPTIONS + b"\r\n" + OPTIONS) == [OPTIONS, OPTIONS]
    assert StreamFramer().feed(b"\r\n" + OPTIONS) == [OPTIONS]


def test_18_3_missing_content_length_cannot_be_framed() -> None:
    with pytest.raises(SipParseError, match="Missing Content-Length") as info:
        StreamFramer().feed(OPTIONS.replace(b"Content-Length: 4\r\n", b""))
    assert info.value.status == 400


@pytest.mark.parametrize("value", [b"-1", b"four", b"4 4", b"", b"1" * 4301, b"\xc2\xb2", b"00000000004"])
def test_bad_content_length_is_a_parse_error(value: bytes) -> None:
    with pytest.raises(SipParseError, match="Bad Content-Length"):
        StreamFramer().feed(OPTIONS.replace(b"Content-Length: 4", b"Content-Length: " + value))


def test_oversized_message_is_refused_513() -> None:
    big = OPTIONS.replace(b"Content-Length: 4", b"Content-Length: 70000")
    with pytest.raises(SipParseError, match="exceeds") as info:
        StreamFramer().feed(big)
    assert info.value.status == 513


def test_endless_header_block_is_refused() -> None:
    f = StreamFramer(max_message=1000)
    with pytest.raises(SipParseError, match="Header block exceeds 1000 bytes"):
        for _ in range(20):
            f.feed(b"X-Junk: " + b"a" * 90 + b"\r\n")


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from([OPTIONS, COMPACT, NO_BODY, PING]), min_size=1, max_size=6), st.data())
def test_any_chunking_yields_the_same_frames(messages: list[bytes], data: st.DataObject) -> None:
    stream = b"".join(messages)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=12)))
    f = StreamFramer()
    out: list[bytes] = []
    prev = 0
    for cut in [*cuts, len(stream)]:
        out += f.feed(stream[prev:cut])
        prev = cut
    assert out == messages
    assert f.buffered == 0


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=2000))
def test_random_bytes_raise_only_the_typed_parse_error(blob: bytes) -> None:
    try:
        frames = StreamFramer(max_message=1500).feed(blob)
    except SipParseError:
        return
    assert all(isinstance(x, bytes) for x in frames)


def test_byte_by_byte_feed_gives_what_a_whole_feed_gives() -> None:
    """h11's approach: the same frames whether the stream comes whole or one byte per read."""
    stream = b"\r\n" + OPTIONS + PING + COMPACT + b"\r\n" + NO_BODY + PING + PING + OPTIONS
    whole = StreamFramer().feed(stream)
    f = StreamFramer()
    single: list[bytes] = []
    for i in range(len(stream)):
        single += f.feed(stream[i : i + 1])
    assert single == whole == [OPTIONS, PING, COMPACT, NO_BODY, PING, PING, OPTIONS]
    assert f.buffered == 0


def test_ping_split_after_its_first_byte() -> None:
    f = StreamFramer()
    assert f.feed(b"\r") == []
    assert f.feed(b"\n\r\n") == [PING]
    assert f.feed(OPTIONS[:5]) == [] and f.feed(OPTIONS[5:] + b"\r") == [OPTIONS]
    assert f.feed(b"\n" + OPTIONS) == [OPTIONS]


def test_trailing_garbage_after_good_frames_is_refused_once_it_cannot_be_framed() -> None:
    f = StreamFramer()
    assert f.feed(OPTIONS + b"garbage without end of headers") == [OPTIONS]
    with pytest.raises(SipParseError, match="Missing Content-Length"):
        f.feed(b"\r\n\r\n")


def test_limits_set_the_message_bound() -> None:
    from ims.sip.limits import SipLimits

    f = StreamFramer(limits=SipLimits(max_message_bytes=len(OPTIONS)))
    assert f.feed(OPTIONS) == [OPTIONS]
    with pytest.raises(SipParseError, match="exceeds") as info:
        f.feed(COMPACT.replace(b"l:  10", b"l: 200"))
    assert info.value.status == 513
    assert StreamFramer().max_message == 65535
