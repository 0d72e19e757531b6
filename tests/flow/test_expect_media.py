"""``expect_media`` judges a call's RTP figures (ims.flow.runner._media_problems) field by field."""

from __future__ import annotations

from ims.flow.runner import _media_problems
from ims.flow.schema import ExpectMedia

GOOD = {"packets_received": 250, "loss_percent": 0.0, "jitter_ms": 0.6, "srtp": "AES_CM_128_HMAC_SHA1_80",
        "codec": "AMR-WB/16000", "direction": "sendrecv", "dtmf_received": "12#", "rtt_ms": 0.5}


def test_a_healthy_stream_meets_every_expectation() -> None:
    e = ExpectMedia(ue="bob", min_packets=200, max_loss_percent=1, max_jitter_ms=5, srtp=True, codec="amr-wb/16000",
                    direction="sendrecv", dtmf="12#", rtt=True)
    assert _media_problems(GOOD, e) == []


def test_each_shortfall_is_named() -> None:
    bad = {**GOOD, "packets_received": 10, "loss_percent": 7.5, "jitter_ms": 30.0, "srtp": "", "rtt_ms": None,
           "dtmf_received": "1"}
    e = ExpectMedia(ue="bob", min_packets=200, max_loss_percent=1, max_jitter_ms=5, srtp=True, dtmf="12#", rtt=True)
    problems = _media_problems(bad, e)
    assert len(problems) == 6, problems
    assert "received 10 packets, expected at least 200" in problems
    assert "loss 7.5 % above 1.0 %" in problems and "SRTP off, expected on" in problems
    assert _media_problems({**GOOD, "loss_percent": 0.0}, ExpectMedia(ue="b", min_loss_percent=5)) == [
        "loss 0.0 % below 5.0 %"]


def test_a_call_without_media_is_a_problem() -> None:
    assert "no RTP stream" in _media_problems({}, ExpectMedia(ue="bob"))[0]
