"""Header list and typed header values (RFC 3261 §7.3, §20; RFC 3329; RFC 7315; TS 24.229)."""

from __future__ import annotations

import pytest

from ims.sip.errors import SipParseError
from ims.sip.headers import (
    Challenge, Contact, Credentials, CSeq, Headers, PAccessNetworkInfo, PChargingVector, SecurityMechanism, Via,
    canonical, option_tags, split_list, split_values,
)


def test_7_3_3_compact_forms_are_the_same_header() -> None:
    h = Headers([("v", "SIP/2.0/UDP a;branch=z9hG4bK1"), ("Via", "SIP/2.0/UDP b;branch=z9hG4bK2"),
                 ("i", "abc"), ("m", "<sip:x@y>"), ("l", "0"), ("f", "<sip:a@b>"), ("t", "<sip:c@d>"),
                 ("k", "path"), ("c", "application/sdp"), ("e", "gzip"), ("s", "hi"), ("o", "reg"),
                 ("u", "reg"), ("r", "<sip:r@x>"), ("b", "<sip:b@x>"), ("x", "1800"), ("y", "sig"),
                 ("a", "*;audio"), ("j", "*;video"), ("d", "proxy")])
    assert h.get_all("Via") == ["SIP/2.0/UDP a;branch=z9hG4bK1", "SIP/2.0/UDP b;branch=z9hG4bK2"]
    long = ["call-id", "contact", "content-length", "from", "to", "supported", "content-type", "content-encoding",
            "subject", "event", "allow-events", "refer-to", "referred-by", "session-expires", "identity",
            "accept-contact", "reject-contact", "request-disposition"]
    assert all(name in h for name in long)
    assert h.names()[0] == "v"  # spelling kept for serialization


def test_7_3_1_headers_are_case_insensitive_and_ordered() -> None:
    h = Headers([("CALL-ID", "x"), ("Route", "<sip:a;lr>"), ("route", "<sip:b;lr>")])
    assert h.get("call-id") == "x" and h.get("Call-Id") == "x" and canonical("CaLL-iD") == "call-id"
    assert h.get_all("ROUTE") == ["<sip:a;lr>", "<sip:b;lr>"]
    h.add("Route", "<sip:first;lr>", first=True)
    assert h.get_all("route")[0] == "<sip:first;lr>"
    h.set("Route", "<sip:only;lr>")
    assert h.get_all("route") == ["<sip:only;lr>"] and list(h)[1] == ("Route", "<sip:only;lr>")
    assert h.remove("route") == 1 and "route" not in h and len(h) == 1


def test_7_3_1_comma_split_outside_quotes_and_angle_brackets() -> None:
    value = '"Doe, John" <sip:j@x;a=1,2>;q=0.5, <sip:k@y>, sip:z@w'
    assert split_values(value) == ['"Doe, John" <sip:j@x;a=1,2>;q=0.5', "<sip:k@y>", "sip:z@w"]
    assert split_values('"a \\" , b", c') == ['"a \\" , b"', "c"]
    # Without quotes (the fast path): commas inside <> still do not split, ',,' keeps its empty element.
    assert split_values("<sip:a,b@x;lr>, <sip:c>,sip:d") == ["<sip:a,b@x;lr>", "<sip:c>", "sip:d"]
    assert split_values("<sip:a,b@x") == ["<sip:a,b@x"]
    assert split_values("100rel, timer ,path") == ["100rel", "timer", "path"]
    with pytest.raises(SipParseError, match="empty value between commas"):
        split_list("a,,b", "Via")


def test_pop_first_value_of_a_list_header() -> None:
    h = Headers([("Route", "<sip:p1;lr>, <sip:p2;lr>"), ("Route", "<sip:p3;lr>")])
    assert h.pop_first_value("route") == "<sip:p1;lr>"
    assert h.get_all("route") == ["<sip:p2;lr>", "<sip:p3;lr>"]


def test_20_42_via_params_rport_received_maddr_ttl() -> None:
    v = Via.parse("SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKabc;rport;received=192.0.2.1;maddr=239.1.1.1;ttl=16")
    assert (v.transport, v.host, v.port, v.branch, v.received) == ("UDP", "10.0.0.1", 5060, "z9hG4bKabc", "192.0.2.1")
    assert v.rport is True and v.maddr == "239.1.1.1" and v.ttl == 16  # RFC 3581: rport without value
    assert Via.parse("SIP/2.0/TCP h;rport=5062;branch=z9hG4bKx").rport == 5062
    assert str(Via.parse(str(v))) == str(v)
    assert Via.parse("SIP/2.0/UDP [2001:db8::1]:5070;branch=z9hG4bK9").host == "[2001:db8::1]"


def test_8_2_3_1_via_without_branch_is_legal_for_rfc2543_peers() -> None:
    assert Via.parse("SIP/2.0/UDP iftgw.example.com").branch is None


@pytest.mark.parametrize("text,why", [("SIP/2.0/UDP", "sent-by"), ("HTTP/1.1/TCP h", "bad protocol"),
                                      ("SIP/2.0/UDP h:70000", "bad port"), ("SIP/2.0/UDP h;ttl=300", "ttl"),
                                      ("SIP/2.0/UDP h;;branch=z9hG4bK1", "empty parameter")])
def test_20_42_bad_via_values_name_the_fault(text: str, why: str) -> None:
    with pytest.raises(SipParseError, match=why):
        Via.parse(text)


def test_20_16_cseq() -> None:
    assert CSeq.parse("  0009 \t INVITE") == CSeq(9, "INVITE") and str(CSeq(1, "ACK")) == "1 ACK"
    for bad in ("INVITE", "1 2 3", "-1 INVITE", f"{2**31} INVITE", "1 IN<VITE"):
        with pytest.raises(SipParseError, match="Bad CSeq header"):
            CSeq.parse(bad)


def test_20_10_contact_expires_q_instance_and_star() -> None:
    c = Contact.parse('<sip:u@10.0.0.2:5060>;expires=600;q=0.7;+sip.instance="<urn:gsma:imei:35846812-345678-0>"'
                      ';+g.3gpp.icsi-ref="urn%3Aurn-7%3A3gpp-service.ims.icsi.mmtel"')
    assert c.expires == 600 and c.q == 0.7 and c.instance == "<urn:gsma:imei:35846812-345678-0>"
    assert c.params["+g.3gpp.icsi-ref"] == '"urn%3Aurn-7%3A3gpp-service.ims.icsi.mmtel"'
    star = Contact.parse("*")
    assert star.is_star and star.expires is None and str(star) == "*"
    with pytest.raises(SipParseError, match="q"):
        Contact.parse("<sip:a@b>;q=1.5").q  # noqa: B018
    with pytest.raises(SipParseError, match="expires"):
        Contact.parse("<sip:a@b>;expires=soon").expires  # noqa: B018


def test_rfc2617_challenge_and_credentials_unquote_and_requote() -> None:
    ch = Challenge.parse('Digest realm="ims.example.net", nonce="a,b=c", algorithm=AKAv1-MD5, qop="auth,auth-int"')
    assert ch.scheme == "Digest" and ch.params["nonce"] == "a,b=c" and ch["algorithm"] == "AKAv1-MD5"
    assert Challenge.parse(str(ch)).params == ch.params
    assert 'qop="auth,auth-int"' in str(ch) and "algorithm=AKAv1-MD5" in str(ch)
    cr = Credentials.parse('Digest username="alice", realm="r", nonce="n", uri="sip:r", response="00", '
                           'qop=auth, nc=00000001, cnonce="c"')
    assert cr.params["qop"] == "auth" and "qop=auth" in str(cr) and "nc=00000001" in str(cr)
    with pytest.raises(SipParseError, match="unterminated"):
        Challenge.parse('Digest realm="open')


def test_rfc3329_security_mechanisms_ts33203_ipsec_3gpp() -> None:
    m = SecurityMechanism.parse("ipsec-3gpp; alg=hmac-sha-1-96; spi-c=4096; spi-s=4097; port-c=5062; port-s=5063")
    assert m.mechanism == "ipsec-3gpp" and m.params["alg"] == "hmac-sha-1-96" and m.get_int("spi-c") == 4096
    assert SecurityMechanism.parse(str(m)).params == m.params
    assert SecurityMechanism.parse("digest;d-qop=auth;q=0.1").mechanism == "digest"


def test_rfc7315_p_charging_vector_and_access_network_info() -> None:
    pcv = PChargingVector.parse('icid-value="AyretyU0dm+6O2IrT5tA=023551024";orig-ioi=home1.net;term-ioi=home2.net')
    assert pcv.icid == "AyretyU0dm+6O2IrT5tA=023551024" and pcv.orig_ioi == "home1.net"
    assert pcv.term_ioi == "home2.net"
    with pytest.raises(SipParseError, match="icid-value"):
        PChargingVector.parse("orig-ioi=x")
    pani = PAccessNetworkInfo.parse("3GPP-E-UTRAN-FDD; utran-cell-id-3gpp=0010100010019B01")
    assert pani.access_type == "3GPP-E-UTRAN-FDD" and pani.cell_id == "0010100010019B01"


def test_20_37_option_tags_are_tokens() -> None:
    assert option_tags(["100rel", "Precondition"]) == ["100rel", "precondition"]
    with pytest.raises(SipParseError, match="option tag"):
        option_tags(["sec agree"])
