"""Reception statistics of one RTP source, as RFC 3550 Appendix A computes them.

:class:`ReceiverStats` is fed every packet of one SSRC with its arrival time
(seconds on any monotonic clock, handed in: sans-IO) and yields what an RTCP
report block carries: extended highest sequence number and loss (A.1, A.3),
interarrival jitter (A.8).  Deciding when to report, and the LSR/DLSR of the
last SR received, are the caller's.

Hand-written because it is the RFC's own reference code transcribed; the only
additions are duplicate / out-of-order counters (a 128-packet bitmap behind
the highest sequence number, enough for MAX_MISORDER = 100) for the lab's
call-quality view.

Deviations, on purpose:

* ``min_sequential`` defaults to 1, so the first packet is accepted at once
  (the A.1 code with MIN_SEQUENTIAL = 1); pass 2 for the RFC's probation.
* Duplicates count as received, as A.3 says (so cumulative loss can go
  negative), but do not feed the jitter estimator: a copy is not a new
  data packet and its late arrival would only inflate J.
* A packet from another SSRC restarts the statistics for that source
  (RFC 3550 §8.2: a new SSRC is a new source).
"""

from __future__ import annotations

from ims.media.rtcp import ReportBlock
from ims.media.rtp import RtpPacket

__all__ = ["ReceiverStats"]

RTP_SEQ_MOD = 1 << 16
MAX_DROPOUT = 3000
MAX_MISORDER = 100
_WINDOW_MASK = (1 << 128) - 1


class ReceiverStats:
    """RFC 3550 A.1/A.3/A.8 state for one source (``source`` struct of A.1)."""

    __slots__ = ("clock_rate", "min_sequential", "ssrc", "_max_seq", "_cycles", "_base_seq",
                 "_bad_seq", "_probation", "_received", "_expected_prior", "_received_prior",
                 "_transit", "_jitter", "_window", "_valid", "duplicates", "out_of_order")

    def __init__(self, clock_rate: int, *, min_sequential: int = 1) -> None:
        if min_sequential < 1:
            raise ValueError(f"min_sequential {min_sequential} must be at least 1")
        self.clock_rate = clock_rate
        self.min_sequential = min_sequential
        self.ssrc: int | None = None
        self._reset()

    def _reset(self) -> None:
        self._max_seq = 0
        self._cycles = 0
        self._base_seq = 0
        self._bad_seq = RTP_SEQ_MOD + 1
        self._probation = 0
        self._received = 0
        self._expected_prior = 0
        self._received_prior = 0
        self._transit: float | None = None
        self._jitter = 0.0
        self._window = 0
        self._valid = False
        self.duplicates = 0
        self.out_of_order = 0

    def _init_seq(self, seq: int) -> None:
        # A.1 init_seq()
        self._base_seq = seq
        self._max_seq = seq
        self._bad_seq = RTP_SEQ_MOD + 1
        self._cycles = 0
        self._received = 0
        self._received_prior = 0
        self._expected_prior = 0
        self._window = 1
        self._transit = None
        self._valid = True

    def _update_seq(self, seq: int) -> bool | None:
        """A.1 update_seq(): True valid, False not (yet) valid, None duplicate."""
        udelta = (seq - self._max_seq) & 0xFFFF
        if self._probation:
            # Source not valid until min_sequential packets in sequence.
            if seq == (self._max_seq + 1) & 0xFFFF:
                self._probation -= 1
                self._max_seq = seq
                if self._probation == 0:
                    self._init_seq(seq)
                    self._received += 1
                    return True
            else:
                self._probation = self.min_sequential - 1
                self._max_seq = seq
            return False
        if udelta < MAX_DROPOUT:
            # In order, with permissible gap.
            if udelta == 0:
                self.duplicates += 1
                self._received += 1
                return None
            if seq < self._max_seq:
                self._cycles += RTP_SEQ_MOD      # sequence number wrapped
            self._max_seq = seq
            self._window = ((self._window << udelta) | 1) & _WINDOW_MASK
        elif udelta <= RTP_SEQ_MOD - MAX_MISORDER:
            # The sequence number made a very large jump.
            if seq == self._bad_seq:
                # Two sequential packets: assume the other side restarted
                # without telling us, so just re-sync.
                self._init_seq(seq)
            else:
                self._bad_seq = (seq + 1) & 0xFFFF
                return False
        else:
            # Duplicate or reordered packet.
            behind = RTP_SEQ_MOD - udelta
            bit = 1 << behind
            self._received += 1
            if self._window & bit:
                self.duplicates += 1
                return None
            self._window |= bit
            self.out_of_order += 1
            return True
        self._received += 1
        return True

    def update(self, packet: RtpPacket, arrival: float) -> bool:
        """Account one packet that arrived at ``arrival`` seconds; False if not counted as valid."""
        if packet.ssrc != self.ssrc:
            self._reset()
            self.ssrc = packet.ssrc
            # A.1 new source: s->max_seq = seq - 1; s->probation = MIN_SEQUENTIAL
            self._max_seq = (packet.sequence - 1) & 0xFFFF
            self._probation = self.min_sequential
        valid = self._update_seq(packet.sequence)
        if not valid:
            return valid is None     # a duplicate is received, but not a jitter sample
        # A.8: transit time in timestamp units; D compared modulo 2^32 so a
        # timestamp wrap is not a jump.
        transit = arrival * self.clock_rate - packet.timestamp
        if self._transit is not None:
            d = (transit - self._transit + 2147483648.0) % 4294967296.0 - 2147483648.0
            self._jitter += (abs(d) - self._jitter) / 16.0
        self._transit = transit
        return True

    # -- the report block's fields -----------------------------------------

    @property
    def received(self) -> int:
        return self._received

    @property
    def extended_highest_seq(self) -> int:
        return self._cycles + self._max_seq

    @property
    def expected(self) -> int:
        """A.3: extended highest minus base, plus one (0 before the first valid packet)."""
        if not self._valid:
            return 0
        return self.extended_highest_seq - self._base_seq + 1

    @property
    def cumulative_lost(self) -> int:
        """A.3 expected - received, clamped to the 24-bit signed field of §6.4.1."""
        lost = self.expected - self._received
        return max(-0x800000, min(0x7FFFFF, lost))

    @property
    def jitter(self) -> float:
        """A.8 interarrival jitter J in timestamp units (the report carries int(J))."""
        return self._jitter

    @property
    def jitter_ms(self) -> float:
        return self._jitter * 1000.0 / self.clock_rate

    def fraction_lost_since_last(self) -> int:
        """A.3 loss fraction over the interval since the last call, in 1/256; starts a new interval."""
        expected = self.expected
        expected_interval = expected - self._expected_prior
        self._expected_prior = expected
        received_interval = self._received - self._received_prior
        self._received_prior = self._received
        lost_interval = expected_interval - received_interval
        if expected_interval == 0 or lost_interval <= 0:
            return 0
        return min(255, (lost_interval << 8) // expected_interval)

    def report_block(self, lsr: int, dlsr: int) -> ReportBlock:
        """The §6.4.1 report block for this source; starts a new loss interval."""
        if self.ssrc is None:
            raise ValueError("no packet received yet: nothing to report on")
        return ReportBlock(self.ssrc, self.fraction_lost_since_last(), self.cumulative_lost,
                           self.extended_highest_seq & 0xFFFFFFFF, int(self._jitter), lsr, dlsr)
