"""A request over the header-count limit is refused with a 400 the sender can match (§21.4.1), and the
parser reads no more than the limit's worth of lines to build it."""

import pytest

from ims.sip import SipLimits, SipParseError, build_response, parse_message


def _options(headers: int) -> bytes:
    extra = "".join(f"X-Filler-{i}: {i}\r\n" for i in range(headers))
    return ("OPTIONS sip:p.example.com SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKmany\r\n"
            "Max-Forwards: 70\r\nFrom: <sip:a@example.com>;tag=1\r\nTo: <sip:p.example.com>\r\n"
            f"Call-ID: many@192.0.2.1\r\nCSeq: 1 OPTIONS\r\n{extra}Content-Length: 0\r\n\r\n").encode()


def test_too_many_headers_is_a_400_with_the_request_to_answer() -> None:
    with pytest.raises(SipParseError, match="Too many headers") as info:
        parse_message(_options(30), datagram=True, limits=SipLimits(max_headers=20))
    partial = info.value.partial
    assert partial is not None and partial.call_id == "many@192.0.2.1"
    resp = build_response(partial, info.value.status, info.value.reason)
    assert resp.to_bytes().startswith(b"SIP/2.0 400 Too many headers")
    assert len(partial.headers) <= 20


def test_the_same_request_within_the_limit_parses() -> None:
    assert parse_message(_options(5), datagram=True, limits=SipLimits(max_headers=20)).method == "OPTIONS"
