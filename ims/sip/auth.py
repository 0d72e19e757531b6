"""HTTP digest for SIP: MD5/SHA-256 (RFC 2617 / RFC 7616) and AKAv1/AKAv2-MD5 (RFC 3310 / RFC 4169).

Two layers:

* the digest math on plain strings and bytes, usable without any SIP object:
  :func:`digest_response`, :func:`aka_password`, :func:`aka_nonce` /
  :func:`parse_aka_nonce`, :func:`parse_auts`;
* thin wrappers over the message layer's ``Challenge`` / ``Credentials``:
  :func:`build_challenge` (network), :func:`build_authorization` (UE),
  :func:`verify_response` (network), and for a sync failure
  :func:`credentials_auts` / :func:`resync_authorization` (network).

With AKA the digest "password" is RES (AKAv1, RFC 3310 §3.3) or
base64(HMAC-MD5(RES||IK||CK, "http-digest-akav2-password")) (AKAv2, RFC 4169
§3), and the nonce is base64(RAND || AUTN || server data) (RFC 3310 §3.2).
After a USIM sync failure the UE answers with ``auts`` = base64(AUTS) and a
response computed over an empty password (RFC 3310 §3.4).

Not here: where vectors come from (the HSS), the USIM (``ims.aka``), nonce
lifetime and nonce-count replay tracking (the registrar's state).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
from collections.abc import Callable

from ims.sip.errors import SipError
from ims.sip.headers import Challenge, Credentials

AKA_ALGORITHMS = ("AKAv1-MD5", "AKAv2-MD5")

# RFC 7616 §3.2 / §6.1 hash algorithms (and "-sess" variants); AKAv1/v2-MD5 hash with MD5 (RFC 3310 §3.1).
_HASHES: dict[str, Callable[[bytes], str]] = {
    "MD5": lambda data: hashlib.md5(data).hexdigest(),
    "SHA-256": lambda data: hashlib.sha256(data).hexdigest(),
    "SHA-512-256": lambda data: hashlib.new("sha512_256", data).hexdigest(),
}
_AKA_HASH = {"AKAV1-MD5": "MD5", "AKAV2-MD5": "MD5"}


class DigestError(SipError, ValueError):
    """Digest input that cannot be used (unknown algorithm, bad AKA nonce...); answers 400."""

    status = 400


def _b(value: bytes | str) -> bytes:
    """The octets of a directive as they were on the wire: the parser decodes with surrogateescape, so a
    non-UTF-8 byte comes back as itself (RFC 7616 §3.4.4: the digest is over octets)."""
    return value if isinstance(value, bytes) else value.encode("utf-8", "surrogateescape")


def _hash_for(algorithm: str) -> tuple[Callable[[bytes], str], bool]:
    """(H, is_sess) for an ``algorithm`` directive value (case-insensitive)."""
    alg = algorithm.upper()
    if alg in _AKA_HASH:
        return _HASHES[_AKA_HASH[alg]], False
    sess = alg.endswith("-SESS")
    base = alg[:-5] if sess else alg
    h = _HASHES.get(base)
    if h is None:
        raise DigestError(f"Unsupported digest algorithm {algorithm!r}")
    return h, sess


def digest_response(*, username: str, realm: str, password: bytes | str, method: str, uri: str, nonce: str,
                    algorithm: str = "MD5", qop: str | None = None, nc: str | None = None,
                    cnonce: str | None = None, body: bytes = b"", ha1: str | None = None) -> str:
    """The ``response`` directive (RFC 7616 §3.4.1; RFC 2617 §3.2.2.1; RFC 3310 uses MD5).

    A1 = username:realm:password (then H(A1):nonce:cnonce for "-sess");
    A2 = method:uri (and :H(body) for qop=auth-int); without qop the RFC 2069
    form KD(H(A1), nonce:H(A2)) is used. ``password`` may be bytes (AKA RES).
    ``ha1``: H(A1) as the HSS gives it (TS 29.229 §6.3.36), instead of a password.
    """
    h, sess = _hash_for(algorithm)
    if ha1 is None:
        ha1 = h(_b(username) + b":" + _b(realm) + b":" + _b(password))
    if sess:
        if cnonce is None:
            raise DigestError(f"Digest algorithm {algorithm} needs cnonce")
        ha1 = h(_b(f"{ha1}:{nonce}:{cnonce}"))
    a2 = f"{method}:{uri}"
    if qop == "auth-int":
        a2 += ":" + h(body)
    elif qop not in (None, "auth"):
        raise DigestError(f"Unsupported qop {qop!r}")
    ha2 = h(_b(a2))
    if qop is None:
        return h(_b(f"{ha1}:{nonce}:{ha2}"))
    if not nc or cnonce is None:
        raise DigestError(f"qop={qop} needs nc and cnonce")
    return h(_b(f"{ha1}:{nonce}:{nc}:{cnonce}:{qop}:{ha2}"))


def aka_password(algorithm: str, res: bytes, ck: bytes = b"", ik: bytes = b"") -> bytes:
    """The digest password of AKA: RES (RFC 3310 §3.3) or base64(PRF(RES||IK||CK, ...)) (RFC 4169 §3)."""
    alg = algorithm.upper()
    if alg == "AKAV1-MD5":
        return res
    if alg == "AKAV2-MD5":
        # RFC 4169: PRF is HMAC with the algorithm's hash, keyed by RES||IK||CK.
        prf = hmac.new(res + ik + ck, b"http-digest-akav2-password", hashlib.md5).digest()
        return base64.b64encode(prf)
    raise DigestError(f"Not an AKA digest algorithm: {algorithm!r}")


def aka_nonce(rand: bytes, autn: bytes, server_data: bytes = b"") -> str:
    """nonce = base64(RAND || AUTN || server data) (RFC 3310 §3.2)."""
    if len(rand) != 16 or len(autn) != 16:
        raise DigestError(f"AKA nonce needs a 16-byte RAND and AUTN, got {len(rand)} and {len(autn)}")
    return base64.b64encode(rand + autn + server_data).decode()


def parse_aka_nonce(nonce: str) -> tuple[bytes, bytes, bytes]:
    """(RAND, AUTN, server data) from an AKA nonce (RFC 3310 §3.2)."""
    try:
        raw = base64.b64decode(nonce, validate=True)
    except (binascii.Error, ValueError):
        raise DigestError("AKA nonce is not base64") from None
    if len(raw) < 32:
        raise DigestError(f"AKA nonce holds {len(raw)} bytes, fewer than RAND || AUTN (32)")
    return raw[:16], raw[16:32], raw[32:]


def parse_auts(value: str) -> bytes:
    """AUTS from the ``auts`` directive (RFC 3310 §3.4: base64 of the 14-byte AUTS)."""
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise DigestError("auts directive is not base64") from None
    if len(raw) != 14:
        raise DigestError(f"auts directive holds {len(raw)} bytes, AUTS is 14")
    return raw


# -- wrappers over Challenge / Credentials ----------------------------------------------------

def build_challenge(*, realm: str, nonce: str, algorithm: str = "MD5", qop: str | None = "auth",
                    opaque: str | None = None, stale: bool = False, ck: bytes | None = None,
                    ik: bytes | None = None) -> Challenge:
    """Network side: a WWW-Authenticate value. ``ck``/``ik`` add the S-CSCF -> P-CSCF
    parameters of TS 24.229 §5.4.1.2.1 (hex), which the P-CSCF removes before the UE sees them."""
    params = {"realm": realm, "nonce": nonce, "algorithm": algorithm}
    if qop:
        params["qop"] = qop
    if opaque is not None:
        params["opaque"] = opaque
    if stale:
        params["stale"] = "TRUE"
    if ik is not None:
        params["ik"] = ik.hex()
    if ck is not None:
        params["ck"] = ck.hex()
    return Challenge("Digest", params)


def _pick_qop(challenge: Challenge) -> str | None:
    offered = [q.strip() for q in (challenge.get("qop") or "").split(",") if q.strip()]
    if not offered:
        return None
    return "auth" if "auth" in offered else offered[0]


def build_authorization(challenge: Challenge, *, username: str, password: bytes | str, method: str, uri: str,
                        cnonce: str | None = None, nc: int = 1, auts: bytes | None = None,
                        body: bytes = b"") -> str:
    """UE side: the Authorization value answering ``challenge`` (qop "auth" preferred).

    With ``auts`` (AKA sync failure) the response is computed over an empty
    password and carries auts="base64(AUTS)" (RFC 3310 §3.4).
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


def credentials_auts(credentials: Credentials) -> bytes | None:
    """The AUTS of a sync-failure answer, or None when ``credentials`` has no auts directive."""
    value = credentials.params.get("auts")
    return None if value is None else parse_auts(value)


def resync_authorization(credentials: Credentials) -> bytes | None:
    """RAND || AUTS for the MAR's SIP-Authorization AVP (TS 29.228 / TS 33.203 resynchronisation),
    or None when ``credentials`` carries no auts; RAND comes from the AKA nonce being answered."""
    auts = credentials_auts(credentials)
    if auts is None:
        return None
    rand, _autn, _server_data = parse_aka_nonce(credentials.params.get("nonce", ""))
    return rand + auts


def verify_response(credentials: Credentials, *, password: bytes | str = b"", method: str, body: bytes = b"",
                    ha1: str | None = None) -> bool:
    """Network side: does ``credentials`` carry the right ``response`` for ``password``?

    False for a wrong response and for credentials the math cannot use (a
    directive missing, an unknown algorithm or qop). Checking that the nonce,
    realm and uri are the ones issued/expected is the caller's part.
    """
    p = credentials.params
    try:
        expected = digest_response(username=p["username"], realm=p.get("realm", ""), password=password,
                                   method=method, uri=p["uri"], nonce=p["nonce"],
                                   algorithm=p.get("algorithm", "MD5"), qop=p.get("qop"), nc=p.get("nc"),
                                   cnonce=p.get("cnonce"), body=body, ha1=ha1)
    except (KeyError, DigestError, UnicodeEncodeError):  # the last: a lone surrogate given through the API
        return False
    return hmac.compare_digest(expected, p.get("response", "").lower())
