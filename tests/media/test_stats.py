"""RFC 3550 Appendix A receiver statistics: A.1 sequence validation, A.3 loss, A.8 jitter."""

from __future__ import annotations

import pytest

from ims.media.rtp import RtpPacket
from ims.media.stats import ReceiverStats

SSRC = 0x5EED


def feed(stats: ReceiverStats, seqs: list[int], *, ts_step: int = 160, ptime: float = 0.02) -> list[bool]:
    """Packets with the given sequence numbers, timestamps and arrivals from seq (constant transit)."""
    out = []
    for seq in seqs:
        out.append(stats.update(RtpPacket(0, seq & 0xFFFF, (seq * ts_step) & 0xFFFFFFFF, SSRC), 100.0 + seq * ptime))
    return out


def test_a1_in_order_stream_has_no_loss() -> None:
    stats = ReceiverStats(8000)
    assert feed(stats, list(range(1000, 1050))) == [True] * 50
    assert stats.ssrc == SSRC
    assert (stats.received, stats.expected, stats.cumulative_lost) == (50, 50, 0)
    assert stats.extended_highest_seq == 1049
    assert stats.jitter == 0.0 and stats.duplicates == 0 and stats.out_of_order == 0


def test_a8_jitter_matches_the_recurrence() -> None:
    # Transit times (arrival - timestamp, in timestamp units) chosen by hand.
    transits = [400, 430, 410, 480, 400, 400, 520, 390, 395, 600]
    stats = ReceiverStats(8000)
    for i, transit in enumerate(transits):
        ts = 1_000 + 160 * i
        stats.update(RtpPacket(0, i, ts, SSRC), (ts + transit) / 8000)
    expected = 0.0
    for prev, cur in zip(transits, transits[1:]):
        expected += (abs(cur - prev) - expected) / 16      # J(i) = J(i-1) + (|D(i-1,i)| - J(i-1))/16
    assert stats.jitter == pytest.approx(expected)
    assert stats.jitter_ms == pytest.approx(expected / 8)
    assert stats.report_block(0, 0).jitter == int(expected)


def test_a8_jitter_ignores_a_timestamp_wrap() -> None:
    stats = ReceiverStats(8000)
    for i in range(10):
        ts = (0xFFFFFC00 + 160 * i) & 0xFFFFFFFF
        stats.update(RtpPacket(0, i, ts, SSRC), 5.0 + 0.02 * i)
    assert stats.jitter == pytest.approx(0.0, abs=1e-6)


def test_a3_loss_with_gaps_and_fraction_lost() -> None:
    stats = ReceiverStats(8000)
    feed(stats, [0, 1, 2, 5, 6, 7, 8, 9])          # 3 and 4 lost
    assert (stats.expected, stats.received, stats.cumulative_lost) == (10, 8, 2)
    assert stats.fraction_lost_since_last() == (2 << 8) // 10 == 51
    # A.3: the fraction covers the interval since the previous report only.
    feed(stats, list(range(10, 20)))
    assert stats.fraction_lost_since_last() == 0
    feed(stats, [20, 23])
    assert stats.fraction_lost_since_last() == (2 << 8) // 4
    assert stats.cumulative_lost == 4


def test_a1_reordered_packet_is_not_lost() -> None:
    stats = ReceiverStats(8000)
    assert feed(stats, [0, 1, 3, 2, 4]) == [True] * 5
    assert stats.out_of_order == 1 and stats.duplicates == 0
    assert (stats.expected, stats.received, stats.cumulative_lost) == (5, 5, 0)
    assert stats.extended_highest_seq == 4


def test_a3_duplicates_count_as_received_so_loss_goes_negative() -> None:
    stats = ReceiverStats(8000)
    feed(stats, [0, 1, 1, 2, 0])
    assert stats.duplicates == 2 and stats.out_of_order == 0
    assert (stats.expected, stats.received, stats.cumulative_lost) == (3, 5, -2)
    assert stats.fraction_lost_since_last() == 0          # A.3: lost_interval <= 0 reports 0


def test_a1_sequence_wrap_extends_the_highest_number() -> None:
    stats = ReceiverStats(8000)
    feed(stats, list(range(65530, 65536)) + [65536 + i for i in range(6)])
    assert stats.extended_highest_seq == 65536 + 5
    assert (stats.expected, stats.received) == (12, 12)
    # A late packet from before the wrap is reordering, not another cycle.
    stats.update(RtpPacket(0, 65535, 0, SSRC), 1.0)
    assert stats.duplicates == 1 and stats.extended_highest_seq == 65541
    stats2 = ReceiverStats(8000)
    feed(stats2, [65534, 65536, 65535, 65537])
    assert stats2.out_of_order == 1 and stats2.cumulative_lost == 0 and stats2.extended_highest_seq == 65537


def test_a1_large_jump_resyncs_after_two_sequential_packets() -> None:
    stats = ReceiverStats(8000)
    feed(stats, [100, 101, 102])
    # A jump of MAX_DROPOUT or more is ignored once...
    assert feed(stats, [20000]) == [False]
    assert stats.received == 3 and stats.extended_highest_seq == 102
    # ...and taken as a restart when the next packet follows it (A.1 bad_seq).
    assert feed(stats, [20001]) == [True]
    assert stats.extended_highest_seq == 20001 and stats.received == 1 and stats.expected == 1


def test_a1_probation_with_min_sequential_two() -> None:
    stats = ReceiverStats(8000, min_sequential=2)
    assert feed(stats, [500]) == [False]
    assert stats.received == 0 and stats.expected == 0
    assert feed(stats, [501, 502]) == [True, True]
    assert (stats.received, stats.expected, stats.cumulative_lost) == (2, 2, 0)


def test_a1_probation_restarts_on_a_gap() -> None:
    stats = ReceiverStats(8000, min_sequential=2)
    assert feed(stats, [500, 502, 503]) == [False, False, True]
    assert stats.received == 1


def test_6_4_1_cumulative_lost_clamps_to_24_bits() -> None:
    stats = ReceiverStats(8000)
    feed(stats, [2999 * i for i in range(2801)])    # each step just under MAX_DROPOUT
    assert stats.expected - stats.received > 0x7FFFFF
    assert stats.cumulative_lost == 0x7FFFFF


def test_6_4_1_report_block_fields() -> None:
    stats = ReceiverStats(8000)
    feed(stats, list(range(65530, 65536)) + [65537, 65538])
    block = stats.report_block(lsr=0xB7052000, dlsr=0x00054000)
    assert block.ssrc == SSRC
    assert block.highest_seq == 65538 and block.cumulative_lost == 1
    assert block.fraction_lost == (1 << 8) // 9
    assert (block.lsr, block.dlsr) == (0xB7052000, 0x00054000)
    assert stats.report_block(0, 0).fraction_lost == 0       # new interval, nothing lost since


def test_report_block_before_any_packet_is_an_error() -> None:
    with pytest.raises(ValueError):
        ReceiverStats(8000).report_block(0, 0)


def test_8_2_new_ssrc_restarts_statistics() -> None:
    stats = ReceiverStats(8000)
    feed(stats, [0, 1, 5])
    stats.update(RtpPacket(0, 9000, 0, 0xABC), 1.0)
    assert stats.ssrc == 0xABC
    assert (stats.received, stats.expected, stats.cumulative_lost) == (1, 1, 0)
