"""The boundary counter and its log rate limit (ims/net/boundary.py)."""

import logging

import pytest

from ims.net import boundary


@pytest.fixture(autouse=True)
def _clean():
    boundary.reset_for_tests()
    yield
    boundary.reset_for_tests()


def _fail(place: str) -> None:
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        boundary.internal_error(place, "a message")


def test_every_error_is_counted_but_a_flood_logs_a_burst_then_one_line(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.ERROR, logger="ims.boundary"):
        for _ in range(1000):
            _fail("rtp")
        _fail("sip.udp")
    assert boundary.internal_errors() == 1001
    assert boundary.internal_errors_by_place() == {"rtp": 1000, "sip.udp": 1}
    rtp = [r for r in caplog.records if "in rtp" in r.getMessage()]
    # the burst, then one rate-limited line at once; the rest waits for the interval
    assert len(rtp) == boundary.LOG_BURST + 1
    assert all(r.exc_info for r in rtp)
    assert [r for r in caplog.records if "in sip.udp" in r.getMessage()]  # another place logs on its own


def test_a_rate_limited_place_says_how_many_it_left_out(caplog: pytest.LogCaptureFixture,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    clock = [100.0]
    monkeypatch.setattr(boundary.time, "monotonic", lambda: clock[0])
    with caplog.at_level(logging.ERROR, logger="ims.boundary"):
        for _ in range(boundary.LOG_BURST + 1 + 5):
            _fail("relay")
        clock[0] += boundary.LOG_INTERVAL + 1
        _fail("relay")
    last = caplog.records[-1].getMessage()
    assert "5 more in relay not logged" in last
