"""SRTP/SRTCP (RFC 3711) with SDES keys (RFC 4568), over pylibsrtp."""

from __future__ import annotations

import base64

import pytest

from ims.media.rtcp import ReceiverReport, SenderReport, serialize_compound
from ims.media.rtp import RtpPacket
from ims.media.srtp import (
    SUITES, SrtpAuthError, SrtpError, SrtpReplayError, SrtpSession, from_inline, inline, sdes_key,
)

# libsrtp's srtp_validate() known-answer vectors (AES_CM_128_HMAC_SHA1_80, SSRC 0xcafebabe, SEQ 0x1234).
KAT_KEY = bytes.fromhex("e1f97a0d3e018be0d64fa32c06de4139 0ec675ad498afeebb6960b3aabe6")
KAT_RTP = bytes.fromhex("800f1234decafbadcafebabe") + b"\xab" * 16
KAT_SRTP = bytes.fromhex("800f1234decafbadcafebabe 4e55dc4ce79978d88ca4d215949d2402 b78d6acc99ea179b8dbb")
KAT_RTCP = bytes.fromhex("81c8000bcafebabe") + b"\xab" * 16
KAT_SRTCP = bytes.fromhex("81c8000bcafebabe 7128035be487b9bdbef89041f977a5a8 80000001 993e08cd54d6c1230798")


def rtp(seq: int, payload: bytes = b"\xff" * 160) -> bytes:
    return RtpPacket(0, seq, seq * 160, 0x1234ABCD, payload).to_bytes()


def pair(suite: str) -> tuple[SrtpSession, SrtpSession]:
    key = sdes_key(suite)
    return SrtpSession(suite, key, outbound=True), SrtpSession(suite, key, outbound=False)


def test_rfc3711_known_answer_rtp_and_rtcp() -> None:
    tx = SrtpSession("AES_CM_128_HMAC_SHA1_80", KAT_KEY, outbound=True)
    assert tx.protect(KAT_RTP) == KAT_SRTP
    assert tx.protect_rtcp(KAT_RTCP) == KAT_SRTCP
    rx = SrtpSession("AES_CM_128_HMAC_SHA1_80", KAT_KEY, outbound=False)
    assert rx.unprotect(KAT_SRTP) == KAT_RTP
    assert rx.unprotect_rtcp(KAT_SRTCP) == KAT_RTCP


def test_rfc4568_6_2_2_sha1_32_truncates_the_rtp_tag_only() -> None:
    tx = SrtpSession("AES_CM_128_HMAC_SHA1_32", KAT_KEY, outbound=True)
    assert tx.protect(KAT_RTP) == KAT_SRTP[:-6]                 # 32-bit tag, same keystream
    assert tx.protect_rtcp(KAT_RTCP) == KAT_SRTCP               # SRTCP keeps the 80-bit tag


@pytest.mark.parametrize(("suite", "tag"), [("AES_CM_128_HMAC_SHA1_80", 10), ("AES_CM_128_HMAC_SHA1_32", 4)])
def test_rfc3711_3_protect_unprotect_round_trip(suite: str, tag: int) -> None:
    tx, rx = pair(suite)
    for seq in range(65530, 65540):                 # across a sequence wrap (ROC increments)
        plain = rtp(seq & 0xFFFF, bytes([seq & 0xFF]) * 160)
        protected = tx.protect(plain)
        assert len(protected) == len(plain) + tag
        assert protected[:12] == plain[:12] and protected[12:172] != plain[12:]
        assert rx.unprotect(protected) == plain
    assert rx.auth_failures == 0


@pytest.mark.parametrize("suite", sorted(SUITES))
def test_rfc3711_3_4_srtcp_round_trip(suite: str) -> None:
    tx, rx = pair(suite)
    compound = serialize_compound([SenderReport(0x1234ABCD, 1 << 40, 160, 1, 160), ReceiverReport(1)])
    protected = tx.protect_rtcp(compound)
    assert len(protected) == len(compound) + 4 + 10           # E+index, 80-bit tag
    assert rx.unprotect_rtcp(protected) == compound


@pytest.mark.parametrize("suite", sorted(SUITES))
def test_rfc3711_3_4_tampered_packet_fails_authentication(suite: str) -> None:
    tx, rx = pair(suite)
    good = tx.protect(rtp(1))
    for index in (2, 20, len(good) - 1):            # header, payload, tag
        bad = bytearray(good)
        bad[index] ^= 0x01
        with pytest.raises(SrtpAuthError, match="authentication"):
            rx.unprotect(bytes(bad))
    assert rx.auth_failures == 3
    assert rx.unprotect(good) == rtp(1)             # the genuine packet still passes


def test_rfc3711_3_3_2_replayed_packet_is_rejected() -> None:
    tx, rx = pair("AES_CM_128_HMAC_SHA1_80")
    first, second = tx.protect(rtp(10)), tx.protect(rtp(11))
    rx.unprotect(first)
    rx.unprotect(second)
    with pytest.raises(SrtpReplayError):
        rx.unprotect(first)
    assert issubclass(SrtpReplayError, SrtpAuthError)
    assert (rx.auth_failures, rx.replay_failures) == (1, 1)


def test_rfc3711_3_4_srtcp_tamper_and_replay() -> None:
    tx, rx = pair("AES_CM_128_HMAC_SHA1_32")
    good = tx.protect_rtcp(serialize_compound([ReceiverReport(7)]))
    bad = bytearray(good)
    bad[5] ^= 0x80
    with pytest.raises(SrtpAuthError):
        rx.unprotect_rtcp(bytes(bad))
    rx.unprotect_rtcp(good)
    with pytest.raises(SrtpReplayError):
        rx.unprotect_rtcp(good)
    assert rx.auth_failures == 2


def test_wrong_key_fails_authentication() -> None:
    tx = SrtpSession("AES_CM_128_HMAC_SHA1_80", sdes_key(), outbound=True)
    rx = SrtpSession("AES_CM_128_HMAC_SHA1_80", sdes_key(), outbound=False)
    with pytest.raises(SrtpAuthError):
        rx.unprotect(tx.protect(rtp(1)))


def test_bad_suite_key_and_packets_raise_srtp_error() -> None:
    with pytest.raises(SrtpError, match="unsupported crypto-suite"):
        SrtpSession("F8_128_HMAC_SHA1_80", bytes(30), outbound=True)
    with pytest.raises(SrtpError, match="29 octets"):
        SrtpSession("AES_CM_128_HMAC_SHA1_80", bytes(29), outbound=True)
    tx, rx = pair("AES_CM_128_HMAC_SHA1_80")
    with pytest.raises(SrtpError):
        tx.protect(rtp(1, bytes(1490)))             # beyond libsrtp's buffer
    with pytest.raises(SrtpError) as info:
        rx.unprotect(b"\x80\x00")
    assert not isinstance(info.value, SrtpAuthError)
    assert rx.auth_failures == 0


def test_rfc4568_6_1_inline_key_params() -> None:
    key = sdes_key("AES_CM_128_HMAC_SHA1_32")
    assert len(key) == 30 and key != sdes_key()
    text = inline(key)
    assert len(text) == 40 and from_inline(text) == key
    assert from_inline(f"inline:{text}|2^20|1:32") == key
    # RFC 4568 §9.1 example key-params.
    assert len(from_inline("inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR|2^20|1:32")) == 30
    with pytest.raises(SrtpError, match="not base64"):
        from_inline("inline:not*base64")
    with pytest.raises(SrtpError, match="20 octets"):
        from_inline("inline:" + base64.b64encode(key[:20]).decode())
    with pytest.raises(SrtpError):
        sdes_key("NULL")
