"""geventws.cli.histogram and stats: fixed log-spaced buckets and their quantiles."""

from __future__ import annotations

import itertools
import math

import pytest

from geventws.cli.histogram import BUCKET_EDGES, LatencyHistogram
from geventws.cli.stats import BenchStats


def test_edges_are_log_spaced_from_1us_to_100s() -> None:
    assert BUCKET_EDGES[0] == pytest.approx(1e-6)
    assert BUCKET_EDGES[-1] == pytest.approx(100.0)
    ratios = {round(b / a, 6) for a, b in itertools.pairwise(BUCKET_EDGES)}
    assert ratios == {round(10**0.1, 6)}


def test_empty() -> None:
    histogram = LatencyHistogram()
    assert histogram.quantile(0.5) is None and histogram.mean is None


def test_quantiles_are_bucket_edges_clamped_to_the_max() -> None:
    histogram = LatencyHistogram()
    for _ in range(98):
        histogram.record(0.001)  # exactly an edge: that bucket
    histogram.record(0.0105)
    histogram.record(0.5)
    assert histogram.quantile(0.5) == pytest.approx(0.001)
    assert histogram.quantile(0.99) == pytest.approx(10**-1.9)  # the edge above 0.0105
    assert histogram.quantile(1.0) == 0.5
    assert histogram.min == 0.001 and histogram.max == 0.5
    assert histogram.mean == pytest.approx((98 * 0.001 + 0.0105 + 0.5) / 100)


def test_overflow_and_json() -> None:
    histogram = LatencyHistogram()
    histogram.record(1000.0)
    histogram.record(0.0)
    data = histogram.to_json()
    buckets = data["buckets"]
    assert len(buckets) == len(BUCKET_EDGES) + 1
    assert buckets[-1] == {"le": None, "count": 1} and buckets[0]["count"] == 1
    assert histogram.quantile(1.0) == 1000.0


def test_merge() -> None:
    a, b = LatencyHistogram(), LatencyHistogram()
    a.record(0.002)
    b.record(0.02)
    a.merge(b)
    assert a.count == 2 and a.max == 0.02 and a.min == 0.002 and sum(a.counts) == 2


def test_stats_windows() -> None:
    stats = BenchStats(connections=2)
    stats.record_echo(0.001, 10, matched=True)
    stats.record_echo(0.003, 10, matched=False)
    window = stats.take_window(0.5)
    assert window.received == 2 and window.latency.count == 2 and window.seconds == 0.5
    stats.record_echo(0.002, 10, matched=True)
    assert stats.take_window(1.0).received == 1
    assert stats.received == 3 and stats.received_bytes == 30 and stats.mismatched == 1
    assert stats.latency.count == 3 and not math.isinf(stats.latency.min)
