"""The keepalive's gaps: never longer than the interval, spread so timers do not fire in lockstep."""

from __future__ import annotations

from geventws.runtime.keepalive import JITTER, next_gap
from geventws.runtime.timerwheel import LATE_SHARE


def test_every_gap_is_within_the_jitter_below_the_interval() -> None:
    gaps = [next_gap(5.0) for _ in range(10_000)]
    assert all(5.0 * (1 - JITTER) <= gap <= 5.0 for gap in gaps)


def test_gaps_are_spread_over_the_whole_jitter_band() -> None:
    gaps = [next_gap(1.0) for _ in range(10_000)]
    # Ten equal bins over [0.9, 1 - LATE_SHARE]: each holds about 1,000; none is empty or holds most.
    # The top of the band is left for a shared timer's lateness: no gap exceeds the interval.
    band = JITTER - LATE_SHARE
    bins = [0] * 10
    for gap in gaps:
        assert gap >= 1.0 - JITTER and gap * (1 + LATE_SHARE) <= 1.0 + 1e-9
        bins[min(int((1.0 - LATE_SHARE - gap) / band * 10), 9)] += 1
    assert all(500 < count < 1_500 for count in bins), bins
