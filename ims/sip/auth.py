"""HTTP digest for SIP: MD5 (RFC 2617 / RFC 7616) and AKAv1/AKAv2-MD5 (RFC 3310 / RFC 4169).

Both sides: the UE builds ``Authorization`` from a challenge
(:func:`build_authorization`), the network checks it (:func:`verify_response`).
With AKA the digest password is RES (AKAv1) or a PRF of RES||IK||CK (AKAv2),
and the nonce carries base64(RAND || AUTN || server data) (RFC 3310 §3.2).
Not here: where vectors come from (the HSS) or the USIM itself (``ims.aka``).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os

from ims.sip.headers import Challenge, Credentials

AKA_ALGORITHMS = ("AKAv1-MD5", "AKAv2-MD5")


class DigestError(ValueError):
    pass


def _md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def _b(value: bytes | str) -> bytes:
    return value if isinstance(value, bytes) else value.encode()


def aka_password(algorithm: str, res: bytes, ck: bytes = b"", ik: bytes = b"") -> bytes:
    """The digest password AKA uses: RES (RFC 3310 §3.2) or base64(PRF(RES||IK||CK)) (RFC 4169 §5)."""
    alg = algorithm.upper()
    if alg == "AKAV1-MD5":
        return res
    if alg == "AKAV2-MD5":
        prf = hmac.new(res + ik + ck, b"http-digest-akav2-password", hashlib.md5).digest()
        return base64.b64encode(prf)
    raise DigestError(f"not an AKA algorithm: {algorithm}")


def aka_nonce(rand: bytes, autn: bytes, server_data: bytes = b"") -> str:
    return base64.b64encode(rand + autn + server_data).decode()


def parse_aka_nonce(nonce: str) -> tuple[bytes, bytes, bytes]:
    try:
        raw = base64.b64decode(nonce, validate=True)
    except ValueError:
        raise DigestError("AKA nonce is not base64") from None
    if len(raw) < 32:
        raise DigestError(f"AKA nonce holds {len(raw)} bytes, fewer than RAND||AUTN (32)")
    return raw[:16], raw[16:32], raw[32:]


def digest_response(*, username: str, realm: str, password: bytes | str, method: str, uri: str, nonce: str,
                    algorithm: str = "MD5", qop: str | None = None, nc: str | None = None,
                    cnonce: str | None = None, body: bytes = b"") -> str:
    """The ``response`` directive (RFC 2617 §3.2.2.1; MD5 for AKAv1/v2 too)."""
    alg = algorithm.upper()
    ha1 = _md5(_b(username) + b":" + _b(realm) + b":" + _b(password))
    if alg == "MD5-SESS":
        ha1 = _md5(f"{ha1}:{nonce}:{cnonce}".encode())
    elif alg not in ("MD5", "AKAV1-MD5", "AKAV2-MD5"):
        raise DigestError(f"unsupported digest algorithm {algorithm}")
    a2 = f"{method}:{uri}"
    if qop == "auth-int":
        a2 += ":" + _md5(body)
    ha2 = _md5(a2.encode())
    if qop in ("auth", "auth-int"):
        if not nc or cnonce is None:
            raise DigestError("qop needs nc and cnonce")
        return _md5(f"{ha1}:{nonce}:{nc}:{cnonce}:{qop}:{ha2}".encode())
    if qop:
        raise DigestError(f"unsupported qop {qop}")
    return _md5(f"{ha1}:{nonce}:{ha2}".encode())


def _pick_qop(challenge: Challenge) -> str | None:
    offered = [q.strip() for q in (challenge.get("qop") or "").split(",") if q.strip()]
    if not offered:
        return None
    return "auth" if "auth" in offered else offered[0]


def build_authorization(challenge: Challenge, *, username: str, password: bytes | str, method: str, uri: str,
                        cnonce: str | None = None, nc: int = 1, auts: bytes | None = None,
                        body: bytes = b"") -> str:
    """UE side: the Authorization value answering ``challenge``.

    With ``auts`` (AKA sync failure) the response uses an empty password and
    carries auts= (RFC 3310 §3.4).
    """
    realm = challenge.get("realm") or ""
    nonce = challenge.get("nonce") or ""
    algorithm = challenge.get("algorithm") or "MD5"
    qop = _pick_qop(challenge)
    cnonce = cnonce or os.urandom(8).hex()
    ncs = f"{nc:08x}"
    if auts is not None:
        password = b""
    response = digest_response(username=username, realm=realm, password=password, method=method, uri=uri,
                               nonce=nonce, algorithm=algorithm, qop=qop, nc=ncs, cnonce=cnonce, body=body)
    params = {"username": username, "realm": realm, "nonce": nonce, "uri": uri, "response": response,
              "algorithm": algorithm}
    if qop:
        params.update(qop=qop, nc=ncs, cnonce=cnonce)
    if challenge.get("opaque") is not None:
        params["opaque"] = challenge.get("opaque") or ""
    if auts is not None:
        params["auts"] = base64.b64encode(auts).decode()
    return str(Credentials("Digest", params))


def verify_response(credentials: Credentials, *, password: bytes | str, method: str, body: bytes = b"") -> bool:
    """Network side: does ``credentials`` carry the right response for ``password``?"""
    p = credentials.params
    try:
        expected = digest_response(username=p["username"], realm=p.get("realm", ""), password=password,
                                   method=method, uri=p["uri"], nonce=p["nonce"],
                                   algorithm=p.get("algorithm", "MD5"), qop=p.get("qop"), nc=p.get("nc"),
                                   cnonce=p.get("cnonce"), body=body)
    except (KeyError, DigestError):
        return False
    return hmac.compare_digest(expected, p.get("response", "").lower())
