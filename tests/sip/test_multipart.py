"""multipart/mixed bodies (RFC 2046 §5.1; RFC 3204 SIP-T ISUP parts)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ims.sip.errors import SipParseError
from ims.sip.multipart import BodyPart, boundary_of, build_multipart, parse_multipart

SDP = b"v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n"
IAM = bytes.fromhex("01100060010a00020a08038390900a0781130000000000")  # an ISUP IAM, binary


def test_rfc3204_sdp_and_isup_parts_round_trip() -> None:
    parts = [BodyPart({}, "application/sdp", SDP),
             BodyPart({"content-disposition": "signal;handling=optional"}, "application/isup;version=itu-t92+", IAM)]
    ctype, body = build_multipart(parts, boundary="unique-boundary-1")
    assert ctype == "multipart/mixed;boundary=unique-boundary-1"
    back = parse_multipart(ctype, body)
    assert [p.media_type for p in back] == ["application/sdp", "application/isup"]
    assert back[0].body == SDP and back[1].body == IAM
    assert back[1].headers["content-disposition"] == "signal;handling=optional"


def test_2046_5_1_1_preamble_epilogue_quoted_boundary_and_default_type() -> None:
    body = (b"This is the preamble.\r\n--simple boundary\r\n\r\nimplicitly typed plain text\r\n"
            b"--simple boundary\r\nContent-type: text/plain; charset=us-ascii\r\n\r\nexplicit\r\n\r\n"
            b"--simple boundary--\r\nThis is the epilogue.\r\n")
    parts = parse_multipart('multipart/mixed; boundary="simple boundary"', body)
    assert parts[0].content_type == "text/plain" and parts[0].body == b"implicitly typed plain text"
    assert parts[1].content_type == "text/plain; charset=us-ascii" and parts[1].body == b"explicit\r\n"


def test_binary_part_containing_the_boundary_text_mid_line_is_not_split() -> None:
    tricky = b"\x00\x01--b1\x02 not at the start of a line"
    ctype, body = build_multipart([BodyPart({}, "application/octet-stream", tricky)], boundary="b1")
    assert parse_multipart(ctype, body)[0].body == tricky


def test_build_refuses_a_boundary_that_occurs_in_a_part() -> None:
    with pytest.raises(ValueError):
        build_multipart([BodyPart({}, "text/plain", b"--b1\r\nx")], boundary="b1")


@pytest.mark.parametrize("ctype,body,why", [
    ("application/sdp", b"", "Not a multipart"),
    ("multipart/mixed", b"--x\r\n\r\na\r\n--x--", "boundary"),
    ("multipart/mixed;boundary=x", b"no delimiter here", "first boundary"),
    ("multipart/mixed;boundary=x", b"--x\r\n\r\nunterminated", "close delimiter"),
    ("multipart/mixed;boundary=x", b"--x\r\nContent-Type: text/plain\r\nno empty line\r\n--x--", "empty line"),
    ("multipart/mixed;boundary=x", b"--xjunk\r\n\r\na\r\n--x--", "not followed by CRLF"),
])
def test_malformed_bodies_name_the_fault(ctype: str, body: bytes, why: str) -> None:
    with pytest.raises(SipParseError, match=why):
        parse_multipart(ctype, body)


def test_boundary_of_handles_spaces_and_quotes() -> None:
    assert boundary_of('multipart/mixed ; boundary="a b"') == "a b"
    assert boundary_of("Multipart/Related;type=application/sdp;boundary=zz") == "zz"


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["application/sdp", "application/isup", "text/plain"]),
                          st.binary(max_size=120)), min_size=1, max_size=4))
def test_property_parse_of_build_is_identity(items: list[tuple[str, bytes]]) -> None:
    parts = [BodyPart({}, ct, body) for ct, body in items]
    try:
        ctype, body = build_multipart(parts)
    except ValueError:
        return  # the random boundary collided with a part: nothing to check
    assert [(p.content_type, p.body) for p in parse_multipart(ctype, body)] == items


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300))
def test_property_random_bodies_raise_only_parse_errors(body: bytes) -> None:
    try:
        parse_multipart("multipart/mixed;boundary=b", b"--b\r\n" + body)
    except SipParseError:
        pass


# --- limits (issue 13): nesting, part count and size are bounded before the work ------------------------

def _nested(depth: int) -> tuple[str, bytes]:
    ctype, body = build_multipart([BodyPart({}, "application/sdp", SDP)], boundary="b0")
    for level in range(1, depth):
        ctype, body = build_multipart([BodyPart({}, ctype, body)], boundary=f"b{level}")
    return ctype, body


def test_rfc5621_nested_multipart_is_opened_down_to_the_depth_limit() -> None:
    from ims.sip.limits import SipLimits
    from ims.sip.multipart import leaf_parts

    ctype, body = _nested(4)
    assert [p.body for p in leaf_parts(ctype, body)] == [SDP]
    ctype, body = _nested(5)
    with pytest.raises(SipParseError, match="nested deeper than 4") as info:
        leaf_parts(ctype, body)
    assert info.value.status == 413
    with pytest.raises(SipParseError, match="nested deeper than 2"):
        leaf_parts(*_nested(3), limits=SipLimits(max_multipart_depth=2))
    with pytest.raises(SipParseError, match="nested"):
        parse_multipart(ctype, body, depth=5)


def test_part_count_and_body_size_limits() -> None:
    from ims.sip.limits import SipLimits

    ctype, body = build_multipart([BodyPart({}, "text/plain", b"x")] * 17, boundary="b")
    with pytest.raises(SipParseError, match="more than 16 parts"):
        parse_multipart(ctype, body)
    assert len(parse_multipart(ctype, body, limits=SipLimits(max_multipart_parts=17))) == 17
    with pytest.raises(SipParseError, match="at most 10"):
        parse_multipart(ctype, body, limits=SipLimits(max_body_bytes=10))


@pytest.mark.parametrize("part", [BodyPart({"content-disposition": "x\r\nContent-Type: evil"}, "text/plain", b""),
                                  BodyPart({}, "text/plain\r\nX: y", b""), BodyPart({"a\nb": "v"}, "text/plain", b"")])
def test_build_refuses_cr_lf_in_part_headers(part: BodyPart) -> None:
    from ims.sip.errors import HeaderInjectionError

    with pytest.raises(HeaderInjectionError):
        build_multipart([part], boundary="b")
