"""RFC 3264 offer/answer for VoLTE audio: offers, the answer matrix, negotiate, hold (§5, §6, §8.4)."""

from __future__ import annotations

import pytest

from ims.sdp import (
    AMR, AMR_BE, AMR_WB, AMR_WB_BE, PCMA, PCMU, TELEPHONE_EVENT_8K, TELEPHONE_EVENT_16K, VOLTE_CODECS, Codec,
    Crypto, Media, OfferAnswerError, Precondition, RtpMap, SessionDescription, hold_offer, make_answer,
    make_offer, negotiate,
)
from tests.sdp.test_model import VOLTE_OFFER

QOS_NONE = [Precondition.parse("curr:qos local none"), Precondition.parse("curr:qos remote none"),
            Precondition.parse("des:qos mandatory local sendrecv"),
            Precondition.parse("des:qos mandatory remote sendrecv")]


def offer_sdp(*media: str, session: str = "") -> SessionDescription:
    return SessionDescription.parse("v=0\r\no=- 7 7 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\n"
                                    "t=0 0\r\n" + session + "".join(media))


AUDIO = ("m=audio 4000 RTP/AVP 96 0 101\r\na=rtpmap:96 AMR-WB/16000/1\r\n"
         "a=fmtp:96 octet-align=1\r\na=rtpmap:101 telephone-event/16000\r\na=fmtp:101 0-15\r\n")


# --- offers (§5) ------------------------------------------------------------------------------

def test_rfc3264_5_offer_dynamic_payload_types_from_96() -> None:
    sd = make_offer("192.0.2.10", 40000, [AMR_WB, AMR, PCMU, PCMA, TELEPHONE_EVENT_16K, TELEPHONE_EVENT_8K],
                    session_id=1234, maxptime=240)
    m = sd.media[0]
    assert (m.media, m.port, m.proto, m.formats) == ("audio", 40000, "RTP/AVP", ["96", "97", "0", "8", "98", "99"])
    assert m.rtpmap()[96] == RtpMap(96, "AMR-WB", 16000, 1)
    assert m.rtpmap()[99] == RtpMap(99, "telephone-event", 8000)
    assert m.fmtp()[96] == AMR_WB.fmtp and m.fmtp()[98] == "0-15"
    assert (m.ptime, m.maxptime, m.direction) == (20, 240, "sendrecv")
    assert (sd.origin.sess_id, sd.origin.sess_version, sd.origin.address) == ("1234", 0, "192.0.2.10")
    assert m.connection_address(sd) == "192.0.2.10" and sd.times == [(0, 0)]
    assert SessionDescription.parse(sd.to_bytes()) == sd


def test_rfc3551_3_preferred_payload_types_are_kept_and_skipped() -> None:
    sd = make_offer("2001:db8::10", 40000, [Codec("AMR-WB", 16000, 1, payload_type=97), AMR,
                                            Codec("PCMU", 8000), TELEPHONE_EVENT_8K], ptime=None)
    assert sd.media[0].formats == ["97", "96", "0", "98"]  # PCMU gets its static number
    assert sd.origin.addrtype == "IP6" and sd.connection is not None and sd.connection.addrtype == "IP6"
    assert sd.media[0].ptime is None
    with pytest.raises(ValueError):
        make_offer("192.0.2.10", 4000, [Codec("A", 8000, payload_type=96), Codec("B", 8000, payload_type=96)])


def test_rfc4568_offer_with_crypto_is_savp_and_preconditions_are_written() -> None:
    keys = [Crypto.generate(1), Crypto.generate(2, "AES_CM_128_HMAC_SHA1_32")]
    sd = make_offer("192.0.2.10", 40000, [AMR_WB], crypto=keys, preconditions=QOS_NONE, direction="sendonly")
    m = SessionDescription.parse(sd.to_bytes()).media[0]
    assert m.proto == "RTP/SAVP" and m.crypto() == keys
    assert m.preconditions() == QOS_NONE and m.direction == "sendonly"


# --- answers (§6) -----------------------------------------------------------------------------

def test_rfc3264_6_1_codec_intersection_keeps_offerer_numbers_and_order() -> None:
    offer = SessionDescription.parse(VOLTE_OFFER)  # 116 AMR-WB BE, 107 AMR-WB OA, 118 AMR BE, 96 AMR OA
    answer = make_answer(offer, "192.0.2.20", 50000, [AMR, AMR_WB, PCMA, TELEPHONE_EVENT_16K])
    m = answer.media[0]
    # Our list prefers AMR, but the answer keeps the offer's order; BE variants do not match OA.
    assert m.formats == ["107", "96", "111"]
    assert m.rtpmap()[107] == RtpMap(107, "AMR-WB", 16000, 1)
    assert m.fmtp()[107] == "octet-align=1;mode-change-capability=2;max-red=0"  # echoed from the offer
    assert (m.ptime, m.maxptime, m.direction) == (20, 240, "sendrecv")  # ptime echoed
    assert answer.times == offer.times and m.connection_address(answer) == "192.0.2.20"
    assert answer.origin.address == "192.0.2.20"


def test_rfc3264_6_1_our_preference_order_on_request() -> None:
    offer = SessionDescription.parse(VOLTE_OFFER)
    answer = make_answer(offer, "192.0.2.20", 50000, [AMR_BE, AMR_WB_BE, TELEPHONE_EVENT_8K, TELEPHONE_EVENT_16K],
                         prefer_local=True)
    assert answer.media[0].formats == ["118", "116", "111", "110"]
    assert negotiate(answer, offer).codec == RtpMap(118, "AMR", 8000, 1)


def test_rfc3264_6_1_dynamic_payload_type_is_mapped_to_the_offerers() -> None:
    offer = offer_sdp("m=audio 4000 RTP/AVP 122 8\r\na=rtpmap:122 AMR-WB/16000\r\n"
                      "a=fmtp:122 octet-align=1;mode-set=2\r\n")
    m = make_answer(offer, "192.0.2.20", 50000, [AMR_WB]).media[0]  # we would have offered it as 96
    assert m.formats == ["122"] and m.rtpmap()[122].encoding == "AMR-WB"
    assert m.fmtp()[122] == "octet-align=1;mode-set=2"
    assert m.ptime is None  # none offered, none answered


def test_rfc4867_8_3_1_octet_align_distinguishes_amr_formats() -> None:
    be_only = offer_sdp("m=audio 4000 RTP/AVP 97\r\na=rtpmap:97 AMR/8000/1\r\n")  # octet-align absent = 0
    with pytest.raises(OfferAnswerError):
        make_answer(be_only, "192.0.2.20", 50000, [AMR])
    m = make_answer(be_only, "192.0.2.20", 50000, [AMR, AMR_BE]).media[0]
    assert m.formats == ["97"] and m.fmtp()[97] == AMR_BE.fmtp  # our parameters when none offered


def test_rfc4733_telephone_event_only_at_a_kept_rate_we_support() -> None:
    offer = offer_sdp("m=audio 4000 RTP/AVP 0 100 101\r\na=rtpmap:100 telephone-event/16000\r\n"
                      "a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\n")
    assert make_answer(offer, "192.0.2.20", 5000, [PCMU]).media[0].formats == ["0"]
    m = make_answer(offer, "192.0.2.20", 5000, [PCMU, TELEPHONE_EVENT_16K, TELEPHONE_EVENT_8K]).media[0]
    assert m.formats == ["0", "101"] and m.fmtp()[101] == "0-16"


@pytest.mark.parametrize(("offered", "ours", "answered"), [
    ("sendrecv", None, "sendrecv"), ("sendonly", None, "recvonly"), ("recvonly", None, "sendonly"),
    ("inactive", None, "inactive"), ("sendrecv", "sendonly", "sendonly"), ("sendrecv", "inactive", "inactive"),
    ("sendonly", "sendrecv", "recvonly"), ("sendonly", "sendonly", "inactive"), ("recvonly", "recvonly", "inactive"),
])
def test_rfc3264_6_1_direction_mirrored_and_combined(offered: str, ours: str | None, answered: str) -> None:
    offer = offer_sdp(AUDIO + f"a={offered}\r\n")
    assert make_answer(offer, "192.0.2.20", 5000, [AMR_WB], direction=ours).media[0].direction == answered


def test_rfc4566_6_session_level_direction_is_mirrored() -> None:
    offer = offer_sdp(AUDIO, session="a=sendonly\r\n")
    assert make_answer(offer, "192.0.2.20", 5000, [AMR_WB]).media[0].direction == "recvonly"


def test_rfc3264_6_video_is_rejected_with_port_0_and_its_formats() -> None:
    offer = offer_sdp(AUDIO, "m=video 4002 RTP/AVP 99 100\r\na=rtpmap:99 H264/90000\r\n"
                             "a=rtpmap:100 H265/90000\r\n")
    answer = make_answer(offer, "192.0.2.20", 5000, list(VOLTE_CODECS))
    audio, video = answer.media
    assert audio.port == 5000 and audio.formats == ["96", "0", "101"]
    assert (video.media, video.port, video.proto, video.formats) == ("video", 0, "RTP/AVP", ["99", "100"])
    assert video.attributes == []
    assert SessionDescription.parse(answer.to_bytes()) == answer


def test_rfc3264_6_unsupported_audio_stream_rejected_next_one_accepted() -> None:
    offer = offer_sdp("m=audio 4000 RTP/AVP 18\r\n", AUDIO, "m=audio 4004 RTP/AVP 0\r\n")
    first, second, third = make_answer(offer, "192.0.2.20", 5000, [AMR_WB, PCMU]).media
    assert (first.port, first.formats) == (0, ["18"])
    assert (second.port, second.formats) == (5000, ["96", "0"])
    assert third.port == 0  # one audio stream per answer: one port to receive on


def test_rfc3264_6_stream_rejected_in_the_offer_stays_rejected() -> None:
    offer = offer_sdp("m=audio 0 RTP/AVP 0\r\n", AUDIO)
    first, second = make_answer(offer, "192.0.2.20", 5000, [AMR_WB, PCMU]).media
    assert first.port == 0 and second.port == 5000


def test_rfc3261_21_4_20_488_when_nothing_matches() -> None:
    offer = offer_sdp("m=audio 4000 RTP/AVP 18\r\n", "m=video 4002 RTP/AVP 99\r\na=rtpmap:99 H264/90000\r\n")
    with pytest.raises(OfferAnswerError) as exc:
        make_answer(offer, "192.0.2.20", 5000, [AMR_WB, PCMU, PCMA])
    assert exc.value.status == 488 and exc.value.warning == 305
    assert "no common codec" in exc.value.reason and "video" in exc.value.reason


def test_rfc4568_7_1_2_savp_answer_picks_first_supported_suite_same_tag() -> None:
    offer = offer_sdp("m=audio 4000 RTP/SAVP 0\r\n"
                      "a=crypto:1 AES_256_CM_HMAC_SHA1_80 inline:" + "A" * 60 + "==\r\n"
                      "a=crypto:2 AES_CM_128_HMAC_SHA1_80 inline:WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz\r\n"
                      "a=crypto:3 AES_CM_128_HMAC_SHA1_32 inline:WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz\r\n")
    answer = make_answer(offer, "192.0.2.20", 5000, [PCMU],
                         crypto_suites=["AES_CM_128_HMAC_SHA1_32", "AES_CM_128_HMAC_SHA1_80"])
    m = answer.media[0]
    assert m.proto == "RTP/SAVP"
    (ours,) = m.crypto()
    assert (ours.tag, ours.suite) == (2, "AES_CM_128_HMAC_SHA1_80")  # the offerer's order decides
    assert len(ours.master_key_salt()) == 30 and ours.master_key_salt() != offer.media[0].crypto()[1].master_key_salt()
    n = negotiate(answer, offer)
    assert n.local_crypto == ours and n.remote_crypto == offer.media[0].crypto()[1]


def test_rfc4568_savp_without_a_supported_suite_is_rejected() -> None:
    savp = ("m=audio 4000 RTP/SAVP 0\r\n"
            "a=crypto:1 AES_256_CM_HMAC_SHA1_80 inline:" + "A" * 60 + "==\r\n")
    with pytest.raises(OfferAnswerError):
        make_answer(offer_sdp(savp), "192.0.2.20", 5000, [PCMU], crypto_suites=["AES_CM_128_HMAC_SHA1_80"])
    with pytest.raises(OfferAnswerError):
        make_answer(offer_sdp(savp), "192.0.2.20", 5000, [PCMU])  # no SRTP at all
    answer = make_answer(offer_sdp(savp, "m=audio 4002 RTP/AVP 0\r\n"), "192.0.2.20", 5000, [PCMU])
    assert [m.port for m in answer.media] == [0, 5000]


def test_rfc3312_answer_carries_our_preconditions() -> None:
    offer = SessionDescription.parse(VOLTE_OFFER)
    ours = QOS_NONE + [Precondition.parse("conf:qos remote sendrecv")]
    m = make_answer(offer, "192.0.2.20", 5000, [AMR_WB_BE], preconditions=ours).media[0]
    assert m.preconditions() == ours and m.direction == "sendrecv"


# --- negotiate ------------------------------------------------------------------------------------

def test_rfc3264_negotiate_from_both_roles() -> None:
    offer = make_offer("192.0.2.10", 40000, [AMR_WB, AMR, PCMU, TELEPHONE_EVENT_16K, TELEPHONE_EVENT_8K],
                       maxptime=240)
    answer = make_answer(offer, "192.0.2.20", 50000, [PCMU, AMR, TELEPHONE_EVENT_8K])
    caller, callee = negotiate(offer, answer), negotiate(answer, offer)
    assert caller.codec == callee.codec == RtpMap(97, "AMR", 8000, 1)
    assert caller.payload_type == callee.payload_type == 97
    assert caller.telephone_event_pt == callee.telephone_event_pt == 99
    assert (caller.remote_address, caller.remote_port) == ("192.0.2.20", 50000)
    assert (callee.remote_address, callee.remote_port) == ("192.0.2.10", 40000)
    assert caller.direction == callee.direction == "sendrecv"
    assert caller.ptime == 20 and caller.fmtp == AMR.fmtp
    assert caller.local_crypto is None and caller.remote_crypto is None


def test_rfc3264_negotiate_first_codec_of_the_answer_even_in_our_order() -> None:
    offer = make_offer("192.0.2.10", 40000, [AMR_WB, PCMA], ptime=None)
    answer = make_answer(offer, "192.0.2.20", 50000, [PCMA, AMR_WB], prefer_local=True)
    assert answer.media[0].formats == ["8", "96"]
    assert negotiate(offer, answer).codec.encoding == "PCMA"
    assert negotiate(answer, offer, local_is_offer=False).codec.encoding == "PCMA"
    assert negotiate(offer, answer).ptime == 20  # no a=ptime anywhere: 20 ms


def test_rfc4568_negotiate_pairs_crypto_by_tag() -> None:
    keys = [Crypto.generate(1), Crypto.generate(2, "AES_CM_128_HMAC_SHA1_32")]
    offer = make_offer("192.0.2.10", 40000, [AMR_WB], crypto=keys)
    answer = make_answer(offer, "192.0.2.20", 50000, [AMR_WB], crypto_suites=["AES_CM_128_HMAC_SHA1_32"])
    n = negotiate(offer, answer)
    assert n.local_crypto == keys[1] and n.remote_crypto == answer.media[0].crypto()[0]
    answer.media[0].remove("crypto")
    with pytest.raises(OfferAnswerError):
        negotiate(offer, answer)


def test_rfc3264_6_negotiate_rejected_stream_or_nothing_in_common() -> None:
    offer = make_offer("192.0.2.10", 40000, [AMR_WB])
    answer = make_answer(offer, "192.0.2.20", 50000, [AMR_WB])
    answer.media[0].port = 0
    with pytest.raises(OfferAnswerError) as exc:
        negotiate(offer, answer)
    assert exc.value.status == 488 and "rejected" in exc.value.reason
    with pytest.raises(OfferAnswerError):
        negotiate(offer, answer, stream=1)
    other = make_offer("192.0.2.20", 50000, [PCMA])
    with pytest.raises(OfferAnswerError):
        negotiate(offer, other)


# --- hold (§8.4) ----------------------------------------------------------------------------------

def test_rfc3264_8_4_hold_and_resume() -> None:
    offer = make_offer("192.0.2.10", 40000, [AMR_WB, TELEPHONE_EVENT_16K], session_id=9)
    answer = make_answer(offer, "192.0.2.20", 50000, [AMR_WB, TELEPHONE_EVENT_16K])
    held = hold_offer(offer)
    assert held.origin.sess_version == offer.origin.sess_version + 1 and held.origin.sess_id == "9"
    assert held.media[0].direction == "sendonly" and offer.media[0].direction == "sendrecv"
    held.media[0].direction = "sendrecv"
    held.origin.sess_version -= 1
    assert held == offer  # nothing else changed
    hold = hold_offer(offer)
    hold_answer = make_answer(hold, "192.0.2.20", 50000, [AMR_WB, TELEPHONE_EVENT_16K])
    assert hold_answer.media[0].direction == "recvonly"
    assert negotiate(hold, hold_answer).direction == "sendonly"
    assert negotiate(hold_answer, hold).direction == "recvonly"
    resume = hold_offer(hold, "sendrecv")
    assert resume.origin.sess_version == offer.origin.sess_version + 2
    assert make_answer(resume, "192.0.2.20", 50000, [AMR_WB]).media[0].direction == "sendrecv"
    assert answer.media[0].direction == "sendrecv"


def test_rfc3264_8_4_recvonly_stream_goes_inactive_and_rejected_stays_untouched() -> None:
    sd = offer_sdp(AUDIO + "a=recvonly\r\n", "m=video 0 RTP/AVP 99\r\n")
    held = hold_offer(sd)
    assert held.media[0].direction == "inactive"
    assert held.media[1] == Media("video", 0, "RTP/AVP", ["99"])
    with pytest.raises(ValueError):
        hold_offer(sd, "paused")
