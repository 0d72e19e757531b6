"""URIs (RFC 3261 §19.1, RFC 3966): parsing, the fast path's agreement with the general one, comparison."""

from __future__ import annotations

import pytest

from ims.sip.errors import SipParseError
from ims.sip.headers import Via
from ims.sip.uri import NameAddr, SipURI, TelURI, parse_uri

URIS = [
    "sip:alice@atlanta.example.com", "sips:bob:secret@biloxi.example.com:5061;transport=tls;lr",
    "sip:127.0.0.1:5060;lr", "sip:[2001:db8::1]:5070;maddr=239.255.255.1;ttl=15",
    "sip:+15551234@gw.example.net;user=phone?subject=hi&priority=urgent",
    "SIP:Alice@Atlanta.Example.Com", "sip:user;par=u%40example.net@example.com",
    "sip:1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*:&it+has=1,weird!*pas$wo~d_too.(doesn't-it)@example.com",
]


@pytest.mark.parametrize("text", URIS)
def test_fast_path_agrees_with_general_parser(text: str) -> None:
    fast, general = SipURI.parse(text), SipURI._parse_general(text)
    assert (fast.scheme, fast.user, fast.password, fast.host, fast.port, fast.params, fast.headers) == \
        (general.scheme, general.user, general.password, general.host, general.port, general.params, general.headers)
    assert SipURI.parse(str(fast)) == fast


@pytest.mark.parametrize("via", ["SIP/2.0/UDP pc33.atlanta.com;branch=z9hG4bK776asdhds;rport",
                                 "SIP/2.0/TCP [2001:db8::9]:5060;branch=z9hG4bKx;received=10.0.0.1;ttl=3",
                                 "SIP/2.0/UDP host:5060"])
def test_via_fast_path_agrees(via: str) -> None:
    a, b = Via.parse(via), Via._parse_general(via)
    assert (a.transport, a.host, a.port, a.params) == (b.transport, b.host, b.port, b.params)


def test_19_1_4_comparison_rules() -> None:
    eq = [("sip:%61lice@atlanta.com;transport=TCP", "sip:alice@AtLanTa.CoM;Transport=tcp"),
          ("sip:carol@chicago.com", "sip:carol@chicago.com;newparam=5"),
          ("sip:biloxi.com;transport=tcp;method=REGISTER?to=sip:bob%40biloxi.com",
           "sip:biloxi.com;method=REGISTER;transport=tcp?to=sip:bob%40biloxi.com")]
    ne = [("SIP:ALICE@AtLanTa.CoM;Transport=udp", "sip:alice@AtLanTa.CoM;Transport=UDP"),
          ("sip:bob@biloxi.com", "sip:bob@biloxi.com:5060"),
          ("sip:bob@biloxi.com", "sip:bob@biloxi.com;transport=udp"),
          ("sip:carol@chicago.com;security=on", "sip:carol@chicago.com;security=off")]
    for a, b in eq:
        assert SipURI.parse(a) == SipURI.parse(b), (a, b)
    for a, b in ne:
        assert SipURI.parse(a) != SipURI.parse(b), (a, b)


def test_tel_uri_rfc3966() -> None:
    t = TelURI.parse("tel:+1-201-555-0123")
    assert t.is_global and t.digits == "+12015550123" and t == TelURI.parse("tel:+12015550123")
    local = TelURI.parse("tel:7042;phone-context=example.com")
    assert local.phone_context == "example.com" and not local.is_global
    with pytest.raises(SipParseError, match="phone-context"):
        TelURI.parse("tel:7042")


@pytest.mark.parametrize("bad,why", [("sip:alice@", "missing host"), ("sip:a@b:99999", "bad port"),
                                     ("sip:a@[::1", "unterminated IPv6"), ("nope", "no scheme")])
def test_bad_uris_name_the_fault(bad: str, why: str) -> None:
    with pytest.raises(SipParseError, match=why):
        parse_uri(bad)


def test_name_addr_display_names_and_escapes() -> None:
    na = NameAddr.parse('"Bob \\"the\\" Builder" <sip:bob@example.com>;tag=1')
    assert na.display_name == 'Bob "the" Builder' and na.tag == "1"
    assert NameAddr.parse(str(na)).display_name == na.display_name
    assert NameAddr.parse("sip:bob@example.com;tag=2").uri.params == {}  # header param, not URI param
