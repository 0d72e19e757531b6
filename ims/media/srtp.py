"""SRTP/SRTCP (RFC 3711) for SDES-keyed calls (RFC 4568), over pylibsrtp.

The cryptography is libsrtp's; this module only fixes the policy the lab uses
and turns libsrtp's status codes into typed errors.  With SDES each side
announces the key it sends with, so a call needs two sessions: an outbound
one keyed with our ``a=crypto`` key and an inbound one keyed with the
peer's, both with a wildcard-SSRC policy (the SSRC is not signalled).

Not here: the ``a=crypto`` attribute itself (``ims/sdp``), DTLS-SRTP, MKI.
"""

from __future__ import annotations

import base64
import binascii
import os
from collections.abc import Callable

import pylibsrtp

__all__ = [
    "SUITES", "SrtpAuthError", "SrtpError", "SrtpReplayError", "SrtpSession", "from_inline",
    "inline", "sdes_key",
]

#: RFC 4568 §6.2 crypto-suite names to libsrtp profiles.  With the _32 suite
#: SRTCP still carries an 80-bit tag (RFC 4568 §6.2.2); libsrtp does that.
SUITES: dict[str, int] = {
    "AES_CM_128_HMAC_SHA1_80": pylibsrtp.Policy.SRTP_PROFILE_AES128_CM_SHA1_80,
    "AES_CM_128_HMAC_SHA1_32": pylibsrtp.Policy.SRTP_PROFILE_AES128_CM_SHA1_32,
}
#: 128-bit master key followed by 112-bit master salt (RFC 3711 §8.2).
KEY_SALT_LEN = 30

_AUTH_FAILURE = "authentication failure"
_REPLAY_FAILURES = frozenset({
    "replay check failed (bad index)", "replay check failed (index too old)",
    "packet index is too old to consider",
})


class SrtpError(ValueError):
    """SRTP could not be applied: bad key or suite, malformed or oversized packet."""


class SrtpAuthError(SrtpError):
    """An incoming packet failed authentication or the replay check (RFC 3711 §3.3)."""


class SrtpReplayError(SrtpAuthError):
    """An incoming packet's index was already seen or is behind the replay window."""


def _check_suite(suite: str) -> int:
    try:
        return SUITES[suite]
    except KeyError:
        raise SrtpError(f"unsupported crypto-suite {suite!r}; expected one of {sorted(SUITES)}") from None


class SrtpSession:
    """One direction of SRTP and SRTCP for one SDES key (wildcard SSRC).

    ``outbound=True`` protects what we send; ``outbound=False`` unprotects
    what the peer sends with its key.  ``auth_failures`` counts packets
    rejected by authentication or the replay check (``replay_failures``
    counts the latter alone).
    """

    __slots__ = ("suite", "outbound", "auth_failures", "replay_failures", "_session")

    def __init__(self, suite: str, master_key_salt: bytes, *, outbound: bool) -> None:
        profile = _check_suite(suite)
        if len(master_key_salt) != KEY_SALT_LEN:
            raise SrtpError(f"master key||salt is {len(master_key_salt)} octets, {suite} needs {KEY_SALT_LEN}")
        self.suite = suite
        self.outbound = outbound
        self.auth_failures = 0
        self.replay_failures = 0
        ssrc_type = pylibsrtp.Policy.SSRC_ANY_OUTBOUND if outbound else pylibsrtp.Policy.SSRC_ANY_INBOUND
        try:
            policy = pylibsrtp.Policy(key=bytes(master_key_salt), ssrc_type=ssrc_type, srtp_profile=profile)
            self._session = pylibsrtp.Session(policy=policy)
        except pylibsrtp.Error as exc:
            raise SrtpError(f"libsrtp refused the {suite} policy: {exc}") from None

    def _run(self, func: Callable[[bytes], bytes], data: bytes, what: str) -> bytes:
        if type(data) is not bytes:
            data = bytes(data)
        try:
            return func(data)
        except pylibsrtp.Error as exc:
            reason = str(exc)
            if not self.outbound:
                if reason == _AUTH_FAILURE:
                    self.auth_failures += 1
                    raise SrtpAuthError(f"{what}: authentication tag mismatch") from None
                if reason in _REPLAY_FAILURES:
                    self.auth_failures += 1
                    self.replay_failures += 1
                    raise SrtpReplayError(f"{what}: {reason}") from None
            raise SrtpError(f"{what}: {reason}") from None
        except ValueError as exc:          # pylibsrtp: "packet is too long"
            raise SrtpError(f"{what}: {exc}") from None

    def protect(self, rtp: bytes) -> bytes:
        """RTP to SRTP."""
        return self._run(self._session.protect, rtp, "SRTP protect")

    def unprotect(self, srtp: bytes) -> bytes:
        """SRTP to RTP; :class:`SrtpAuthError` if forged, corrupted or replayed."""
        return self._run(self._session.unprotect, srtp, "SRTP unprotect")

    def protect_rtcp(self, rtcp: bytes) -> bytes:
        """RTCP compound to SRTCP (encrypted, with the SRTCP index)."""
        return self._run(self._session.protect_rtcp, rtcp, "SRTCP protect")

    def unprotect_rtcp(self, srtcp: bytes) -> bytes:
        """SRTCP to RTCP; :class:`SrtpAuthError` if forged, corrupted or replayed."""
        return self._run(self._session.unprotect_rtcp, srtcp, "SRTCP unprotect")


def sdes_key(suite: str = "AES_CM_128_HMAC_SHA1_80") -> bytes:
    """A fresh random master key||salt for ``suite`` (RFC 4568 §6.1)."""
    _check_suite(suite)
    return os.urandom(KEY_SALT_LEN)


def inline(key: bytes) -> str:
    """The base64 key||salt for ``inline:`` in ``a=crypto`` (RFC 4568 §6.1); no prefix, no lifetime."""
    if len(key) != KEY_SALT_LEN:
        raise SrtpError(f"master key||salt is {len(key)} octets, expected {KEY_SALT_LEN}")
    return base64.b64encode(key).decode("ascii")


def from_inline(text: str) -> bytes:
    """Key||salt from an ``a=crypto`` key-param: ``[inline:]<base64>[|lifetime][|MKI:len]``."""
    value = text.strip()
    if value[:7].lower() == "inline:":
        value = value[7:]
    value = value.split("|", 1)[0]
    try:
        key = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise SrtpError(f"inline key {value!r} is not base64") from None
    if len(key) != KEY_SALT_LEN:
        raise SrtpError(f"inline key decodes to {len(key)} octets, expected {KEY_SALT_LEN}")
    return key
