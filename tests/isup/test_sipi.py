"""SIP-I / SIP-T bodies: multipart/mixed with SDP and application/ISUP (RFC 3204, RFC 3372)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ims.isup import messages
from ims.isup.sipi import ISUP_CONTENT_TYPE, make_sipi_body, split_sipi_body
from ims.sip.errors import SipParseError
from ims.sip.multipart import parse_multipart

SDP = b"v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 8\r\n"
IAM = messages.encode(messages.iam(1, "4930123456", "4940555"), with_cic=False)


def test_rfc3204_body_layout() -> None:
    body, ctype = make_sipi_body(SDP, IAM, boundary="unique-boundary-1")
    assert ctype == "multipart/mixed;boundary=unique-boundary-1"
    assert body == (b"--unique-boundary-1\r\nContent-Type: application/sdp\r\n\r\n" + SDP + b"\r\n"
                    b"--unique-boundary-1\r\nContent-Type: application/ISUP; version=itu-t92+\r\n"
                    b"Content-Disposition: signal;handling=required\r\n\r\n" + IAM + b"\r\n"
                    b"--unique-boundary-1--\r\n")
    isup_part = parse_multipart(ctype, body)[1]
    assert isup_part.content_type == ISUP_CONTENT_TYPE
    assert isup_part.headers["content-disposition"] == "signal;handling=required"


def test_sipi_round_trip_carries_the_isup_message_without_cic() -> None:
    body, ctype = make_sipi_body(SDP, IAM, handling="optional")
    sdp, isup = split_sipi_body(body, ctype)
    assert sdp == SDP and isup == IAM
    assert messages.decode(isup, with_cic=False).params == messages.iam(1, "4930123456", "4940555").params
    assert b"handling=optional" in body


def test_isup_only_body_for_a_bye_with_rel() -> None:
    rel = messages.encode(messages.rel(1, 16), with_cic=False)
    body, ctype = make_sipi_body(None, rel)
    assert split_sipi_body(body, ctype) == (None, rel)


def test_single_part_bodies_and_unrelated_types() -> None:
    assert split_sipi_body(SDP, "application/sdp") == (SDP, None)
    assert split_sipi_body(IAM, "application/ISUP; version=itu-t92+; base=itu-t92+") == (None, IAM)
    assert split_sipi_body(b"hello", "text/plain") == (None, None)


def test_isup_bytes_that_look_like_crlf_and_dashes_survive() -> None:
    nasty = b"\x01\r\n--\r\n\r\n\n\x00--unique"
    body, ctype = make_sipi_body(SDP, nasty)
    assert split_sipi_body(body, ctype) == (SDP, nasty)


def test_rfc2046_preamble_epilogue_quoted_boundary_and_unknown_part() -> None:
    body = (b"preamble\r\n--b1\r\nContent-Type: application/sdp\r\n\r\n" + SDP + b"\r\n"
            b"--b1\r\nContent-Type: text/plain\r\n\r\nignored\r\n"
            b"--b1\r\ncontent-type: application/isup;version=itu-t92+\r\n"
            b"content-disposition: signal; handling=optional\r\n\r\n" + IAM + b"\r\n--b1--\r\nepilogue")
    assert split_sipi_body(body, 'multipart/mixed; boundary="b1"') == (SDP, IAM)


def test_bare_lf_line_ends_are_tolerated_without_touching_the_binary_part() -> None:
    isup = b"\x01\n\x0a\r\x00"
    body = (b"--b1\nContent-Type: application/sdp\n\nv=0\n\n--b1\n"
            b"Content-Type: application/ISUP; version=itu-t92+\nContent-Disposition: signal;handling=required\n\n"
            + isup + b"\n--b1--\n")
    assert split_sipi_body(body, "multipart/mixed;boundary=b1") == (b"v=0\n", isup)


def test_mixed_crlf_and_lf_part_headers() -> None:
    body = b"--b1\r\nContent-Type: application/sdp\n\nv=0\n--b1\nContent-Type: application/ISUP\r\n\n\x01\x02\n--b1--"
    assert split_sipi_body(body, "multipart/mixed;boundary=b1") == (b"v=0", b"\x01\x02")


def test_broken_multipart_raises_sip_parse_error() -> None:
    with pytest.raises(SipParseError):
        split_sipi_body(b"--b1\r\nContent-Type: application/sdp\r\n\r\nv=0\r\n", "multipart/mixed;boundary=b1")
    with pytest.raises(SipParseError):
        split_sipi_body(b"no delimiters at all", "multipart/mixed;boundary=b1")


def test_handling_must_be_required_or_optional() -> None:
    with pytest.raises(ValueError, match="handling"):
        make_sipi_body(None, IAM, handling="mandatory")


@given(st.binary(max_size=300), st.one_of(st.none(), st.binary(max_size=200)))
def test_property_make_then_split_is_identity(isup: bytes, sdp: bytes | None) -> None:
    body, ctype = make_sipi_body(sdp, isup)
    assert split_sipi_body(body, ctype) == (sdp, isup)
