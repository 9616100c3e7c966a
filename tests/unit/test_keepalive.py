"""The keepalive's gaps: never longer than the interval, spread so timers do not fire in lockstep."""

from __future__ import annotations

from geventws.runtime.keepalive import JITTER, next_gap


def test_every_gap_is_within_the_jitter_below_the_interval() -> None:
    gaps = [next_gap(5.0) for _ in range(10_000)]
    assert all(5.0 * (1 - JITTER) <= gap <= 5.0 for gap in gaps)


def test_gaps_are_spread_over_the_whole_jitter_band() -> None:
    gaps = [next_gap(1.0) for _ in range(10_000)]
    # Ten equal bins over [0.9, 1.0]: each holds about 1,000; none is empty or holds most.
    bins = [0] * 10
    for gap in gaps:
        bins[min(int((1.0 - gap) / JITTER * 10), 9)] += 1
    assert all(500 < count < 1_500 for count in bins), bins
