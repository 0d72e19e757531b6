"""Error boundaries: what a driver does with an exception that no handler expected.

Every driver (SIP UDP/TCP/TLS, Diameter peer, M3UA, RTP/RTCP, the relay, gRPC handlers) wraps the
handling of *one* message in ``try: ... except Exception: internal_error(...)``.  The exception is
logged once with the message's summary and the traceback, counted, and the driver then answers where
the protocol has an answer (SIP 500 with a Reason header, Diameter 5012 DIAMETER_UNABLE_TO_COMPLY, a
stream whose framing is lost is closed while the listener keeps serving) and goes on with the next
message.  Nothing a single message throws ends a task other than that message's.

A bug that fires on every packet of a media stream would otherwise write thousands of tracebacks a
second: each place logs at most ``LOG_BURST`` tracebacks, then one line per ``LOG_INTERVAL`` seconds
saying how many it left out; every one is counted all the same.

The count is per process (one node per process) and reaches ``ims status`` as the node counter
``internal_errors``; ``internal_errors_by_place`` says which boundaries caught them.

This module holds no protocol logic; the answers are built by each driver, which knows its protocol.
"""

from __future__ import annotations

import logging
import time
from collections import Counter

log = logging.getLogger("ims.boundary")

LOG_BURST = 10  # tracebacks a place logs before it is rate-limited
LOG_INTERVAL = 10.0  # s between two log lines of a rate-limited place

_counts: Counter[str] = Counter()
_quiet: dict[str, tuple[float, int]] = {}  # place -> (when it may log again, errors left out since)


def internal_error(place: str, summary: str, *, logger: logging.Logger | None = None) -> None:
    """Log the exception being handled (call it inside ``except``) and count it against ``place``.

    ``place`` names the boundary ("sip.udp", "diameter.request", "m3ua", "rtp", "grpc.Stats"...);
    ``summary`` names the message that was being handled (method and Call-ID, command code, ...)."""
    _counts[place] += 1
    if _counts[place] > LOG_BURST:
        now = time.monotonic()
        until, left_out = _quiet.get(place, (0.0, 0))
        if now < until:
            _quiet[place] = (until, left_out + 1)
            return
        _quiet[place] = (now + LOG_INTERVAL, 0)
        if left_out:
            summary = f"{summary} ({left_out} more in {place} not logged in the last {LOG_INTERVAL:.0f} s)"
    (logger or log).exception("internal error in %s while handling %s", place, summary,
                              extra={"result": "internal_error"})


def internal_errors() -> int:
    """How many unexpected exceptions this process's boundaries have caught."""
    return sum(_counts.values())


def internal_errors_by_place() -> dict[str, int]:
    return dict(_counts)


def reset_for_tests() -> None:
    _counts.clear()
    _quiet.clear()
