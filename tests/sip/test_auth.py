"""Digest: the RFC 2617 §3.5 and RFC 7616 §3.9.1 examples; AKAv1 (RFC 3310) and AKAv2 (RFC 4169) both sides."""

from __future__ import annotations

import base64
import hashlib
import hmac

import pytest

from ims.aka import SqnScheme, SyncFailure, Usim, generate_vector, resync
from ims.sip.auth import (
    DigestError, aka_nonce, aka_password, build_authorization, build_challenge, credentials_auts, digest_response,
    parse_aka_nonce, parse_auts, resync_authorization, verify_response,
)
from ims.sip.headers import Challenge, Credentials
from tests.aka.test_milenage import unpack

RFC7616 = dict(username="Mufasa", realm="http-auth@example.org", password="Circle of Life", method="GET",
               uri="/dir/index.html", nonce="7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v", qop="auth",
               nc="00000001", cnonce="f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ")


def test_rfc2617_3_5_example() -> None:
    assert digest_response(username="Mufasa", realm="testrealm@host.com", password="Circle Of Life", method="GET",
                           uri="/dir/index.html", nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", qop="auth",
                           nc="00000001", cnonce="0a4f113b") == "6629fae49393a05397450978507c4ef1"


def test_rfc7616_3_9_1_md5_example() -> None:
    assert digest_response(**RFC7616) == "8ca523f5e9506fed4657c9700eebdbec"  # type: ignore[arg-type]


def test_rfc7616_3_9_1_sha256_example() -> None:
    assert digest_response(**RFC7616, algorithm="SHA-256") == (  # type: ignore[arg-type]
        "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1")


def _md5(s: str) -> str:
    return hashlib.md5(s.encode()).hexdigest()


def test_rfc2617_3_2_2_md5_sess_auth_int_and_rfc2069_forms() -> None:
    base = dict(username="u", realm="r", password="p", method="INVITE", uri="sip:b@r", nonce="n")
    ha1, ha2 = _md5("u:r:p"), _md5("INVITE:sip:b@r")
    # RFC 2069 compatibility: no qop
    assert digest_response(**base) == _md5(f"{ha1}:n:{ha2}")  # type: ignore[arg-type]
    # MD5-sess: H(A1) = H(H(user:realm:pass):nonce:cnonce)
    sess = _md5(f"{ha1}:n:c")
    assert digest_response(**base, algorithm="MD5-sess", qop="auth", nc="00000002", cnonce="c") == (  # type: ignore
        _md5(f"{sess}:n:00000002:c:auth:{ha2}"))
    # auth-int: A2 = method:uri:H(body)
    body = b"v=0\r\n"
    ha2_int = _md5("INVITE:sip:b@r:" + hashlib.md5(body).hexdigest())
    assert digest_response(**base, qop="auth-int", nc="00000001", cnonce="c", body=body) == (  # type: ignore
        _md5(f"{ha1}:n:00000001:c:auth-int:{ha2_int}"))


def test_unusable_inputs_raise_a_400_digest_error() -> None:
    base = dict(username="u", realm="r", password="p", method="REGISTER", uri="sip:r", nonce="n")
    with pytest.raises(DigestError, match="Unsupported digest algorithm 'SHA-1'") as info:
        digest_response(**base, algorithm="SHA-1")  # type: ignore[arg-type]
    assert info.value.status == 400
    with pytest.raises(DigestError, match="needs nc and cnonce"):
        digest_response(**base, qop="auth")  # type: ignore[arg-type]
    with pytest.raises(DigestError, match="Unsupported qop"):
        digest_response(**base, qop="auth-conf", nc="1", cnonce="c")  # type: ignore[arg-type]


@pytest.mark.parametrize("algorithm", ["MD5", "MD5-sess", "SHA-256", "SHA-256-sess", "SHA-512-256"])
def test_softphone_round_trip(algorithm: str) -> None:
    ch = build_challenge(realm="example.com", nonce="abc", algorithm=algorithm, qop="auth,auth-int", opaque="xyz")
    value = build_authorization(Challenge.parse(str(ch)), username="bob", password="secret", method="REGISTER",
                                uri="sip:example.com", nc=3)
    cred = Credentials.parse(value)
    assert cred.params["qop"] == "auth" and "qop=auth" in value and "nc=00000003" in value
    assert cred.params["opaque"] == "xyz" and cred.params["algorithm"] == algorithm
    assert verify_response(cred, password="secret", method="REGISTER")
    assert not verify_response(cred, password="wrong", method="REGISTER")
    assert not verify_response(cred, password="secret", method="INVITE")


def test_verify_response_is_false_for_credentials_the_math_cannot_use() -> None:
    good = Credentials.parse(build_authorization(Challenge("Digest", {"realm": "r", "nonce": "n"}), username="u",
                                                 password="p", method="REGISTER", uri="sip:r"))
    assert verify_response(good, password="p", method="REGISTER")  # no qop: RFC 2069 form
    for drop in ("response", "uri", "nonce", "username"):
        params = {k: v for k, v in good.params.items() if k != drop}
        assert not verify_response(Credentials("Digest", params), password="p", method="REGISTER")
    odd = Credentials("Digest", {**good.params, "algorithm": "SHA-1"})
    assert not verify_response(odd, password="p", method="REGISTER")


def test_rfc3310_3_2_nonce_is_base64_of_rand_autn_server_data() -> None:
    rand, autn = bytes(range(16)), bytes(range(16, 32))
    nonce = aka_nonce(rand, autn, b"srv")
    assert base64.b64decode(nonce) == rand + autn + b"srv"
    assert parse_aka_nonce(nonce) == (rand, autn, b"srv")
    with pytest.raises(DigestError, match="not base64"):
        parse_aka_nonce("not*base64")
    with pytest.raises(DigestError, match="fewer than RAND"):
        parse_aka_nonce(base64.b64encode(bytes(20)).decode())
    with pytest.raises(DigestError, match="16-byte RAND"):
        aka_nonce(rand[:8], autn)


def test_rfc4169_3_akav2_password() -> None:
    res, ck, ik = b"r" * 8, b"c" * 16, b"i" * 16
    assert aka_password("AKAv1-MD5", res, ck, ik) == res
    v2 = aka_password("AKAv2-MD5", res, ck, ik)
    # base64 of PRF(RES || IK || CK, "http-digest-akav2-password"), PRF = HMAC-MD5
    assert v2 == base64.b64encode(hmac.new(res + ik + ck, b"http-digest-akav2-password", "md5").digest())
    assert len(v2) == 24 and v2 != aka_password("AKAv2-MD5", res, ik, ck)
    with pytest.raises(DigestError, match="Not an AKA digest algorithm"):
        aka_password("MD5", res)


K, OPC = unpack("ts35208-4.3.1-set1")[0], unpack("ts35208-4.3.1-set1")[5]
IMPI, REALM = "001010000000001@ims.mnc001.mcc001.3gppnetwork.org", "ims.mnc001.mcc001.3gppnetwork.org"


@pytest.mark.parametrize("algorithm", ["AKAv1-MD5", "AKAv2-MD5"])
def test_ims_aka_both_sides(algorithm: str) -> None:
    s = SqnScheme()
    v = generate_vector(K, OPC, s.join(2, 1), b"\x80\x00")
    # S-CSCF -> P-CSCF: the challenge carries CK/IK (TS 24.229); the UE gets RAND/AUTN in the nonce.
    ch = build_challenge(realm=REALM, nonce=aka_nonce(v.rand, v.autn), algorithm=algorithm, ck=v.ck, ik=v.ik)
    assert ch.params["ck"] == v.ck.hex() and ch.params["ik"] == v.ik.hex()
    rand, autn, _ = parse_aka_nonce(ch.params["nonce"])
    r = Usim(K, OPC, sqn_ms=s.join(1, 0)).authenticate(rand, autn)
    value = build_authorization(ch, username=IMPI, password=aka_password(algorithm, r.res, r.ck, r.ik),
                                method="REGISTER", uri=f"sip:{REALM}")
    cred = Credentials.parse(value)
    assert credentials_auts(cred) is None and resync_authorization(cred) is None
    assert verify_response(cred, password=aka_password(algorithm, v.xres, v.ck, v.ik), method="REGISTER")
    assert not verify_response(cred, password=aka_password(algorithm, bytes(8), v.ck, v.ik), method="REGISTER")


def test_rfc3310_3_4_sync_failure_carries_auts_over_an_empty_password() -> None:
    s = SqnScheme()
    usim = Usim(K, OPC, sqn_ms=s.join(700, 4))  # the card is ahead of the network
    v = generate_vector(K, OPC, s.join(3, 3), b"\x80\x00")
    ch = build_challenge(realm=REALM, nonce=aka_nonce(v.rand, v.autn), algorithm="AKAv1-MD5")
    with pytest.raises(SyncFailure) as info:
        usim.authenticate(v.rand, v.autn)
    value = build_authorization(ch, username=IMPI, password=b"ignored", method="REGISTER", uri=f"sip:{REALM}",
                                auts=info.value.auts)
    cred = Credentials.parse(value)
    assert cred.params["auts"] == base64.b64encode(info.value.auts).decode()
    assert verify_response(cred, password=b"", method="REGISTER")
    # S-CSCF -> HSS: RAND || AUTS; the HSS recovers SQN_MS and the next vector is accepted.
    auts = credentials_auts(cred)
    assert auts is not None and resync_authorization(cred) == v.rand + auts  # SIP-Authorization of the MAR
    sqn_ms = resync(K, OPC, v.rand, auts)
    assert sqn_ms == s.join(700, 4)
    nxt = generate_vector(K, OPC, s.next_sqn(s.after_resync(sqn_ms, sqn_he=s.join(3, 3))), b"\x80\x00")
    assert usim.authenticate(nxt.rand, nxt.autn).res == nxt.xres


def test_auts_directive_is_checked() -> None:
    assert parse_auts("AwMDAwMDAwMDAwMDAwM=") == b"\x03" * 14
    with pytest.raises(DigestError, match="AUTS is 14"):
        parse_auts(base64.b64encode(bytes(12)).decode())
    with pytest.raises(DigestError, match="not base64"):
        parse_auts("%%%")
