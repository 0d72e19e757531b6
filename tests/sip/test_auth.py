"""Digest: RFC 2617 §3.5 and RFC 7616 §3.9.1 examples; AKAv1/AKAv2 both sides."""

from __future__ import annotations

from ims.aka import Usim, generate_vector
from ims.sip.auth import (
    aka_nonce, aka_password, build_authorization, digest_response, parse_aka_nonce, verify_response,
)
from ims.sip.headers import Challenge, Credentials


def test_rfc2617_3_5_example() -> None:
    assert digest_response(username="Mufasa", realm="testrealm@host.com", password="Circle Of Life", method="GET",
                           uri="/dir/index.html", nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", qop="auth",
                           nc="00000001", cnonce="0a4f113b") == "6629fae49393a05397450978507c4ef1"


def test_rfc7616_3_9_1_md5_example() -> None:
    assert digest_response(username="Mufasa", realm="http-auth@example.org", password="Circle of Life",
                           method="GET", uri="/dir/index.html",
                           nonce="7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v", qop="auth", nc="00000001",
                           cnonce="f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ") == "8ca523f5e9506fed4657c9700eebdbec"


def test_md5_round_trip_and_wrong_password() -> None:
    ch = Challenge("Digest", {"realm": "example.com", "nonce": "abc", "qop": "auth", "algorithm": "MD5"})
    value = build_authorization(ch, username="bob", password="secret", method="REGISTER", uri="sip:example.com")
    cred = Credentials.parse(value)
    assert cred.params["qop"] == "auth" and "qop=auth" in value  # qop unquoted in credentials
    assert verify_response(cred, password="secret", method="REGISTER")
    assert not verify_response(cred, password="wrong", method="REGISTER")
    assert not verify_response(cred, password="secret", method="INVITE")


def _aka(algorithm: str) -> None:
    k, opc = bytes(range(16)), bytes(range(16, 32))
    v = generate_vector(k, opc, 64, b"\x80\x00")
    ch = Challenge("Digest", {"realm": "ims.example.net", "nonce": aka_nonce(v.rand, v.autn), "qop": "auth",
                              "algorithm": algorithm})
    # UE: recover RAND/AUTN from the nonce, run the USIM, answer with RES as the password.
    rand, autn, _ = parse_aka_nonce(ch.params["nonce"])
    res = Usim(k, opc, sqn_ms=32).authenticate(rand, autn)
    value = build_authorization(ch, username="001010000000001@ims.example.net",
                                password=aka_password(algorithm, res.res, res.ck, res.ik), method="REGISTER",
                                uri="sip:ims.example.net")
    # Network: the same computation with XRES.
    cred = Credentials.parse(value)
    assert verify_response(cred, password=aka_password(algorithm, v.xres, v.ck, v.ik), method="REGISTER")
    assert not verify_response(cred, password=aka_password(algorithm, b"\x00" * 8, v.ck, v.ik), method="REGISTER")


def test_rfc3310_akav1_both_sides() -> None:
    _aka("AKAv1-MD5")


def test_rfc4169_akav2_both_sides() -> None:
    _aka("AKAv2-MD5")
    assert aka_password("AKAv2-MD5", b"r" * 8, b"c" * 16, b"i" * 16) != aka_password("AKAv1-MD5", b"r" * 8)


def test_rfc3310_3_4_auts_uses_empty_password() -> None:
    ch = Challenge("Digest", {"realm": "r", "nonce": aka_nonce(b"\x01" * 16, b"\x02" * 16), "algorithm": "AKAv1-MD5"})
    value = build_authorization(ch, username="u", password=b"ignored", method="REGISTER", uri="sip:r",
                                auts=b"\x03" * 14)
    cred = Credentials.parse(value)
    assert cred.params["auts"] == "AwMDAwMDAwMDAwMDAwM="
    assert verify_response(cred, password=b"", method="REGISTER")
