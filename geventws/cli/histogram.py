"""A latency histogram with fixed log-spaced buckets, comparable across runs.

Ten buckets per decade from 1 µs to 100 s (each edge ≈ 1.26 × the one
before) and one overflow bucket. Quantiles are reported as the upper edge of
the bucket they fall in (clamped to the largest sample), so they overstate by
at most 26 %. Pure: no greenlets, no clock.
"""

from __future__ import annotations

import bisect
import math
from typing import Any

__all__ = ["BUCKET_EDGES", "LatencyHistogram"]

_PER_DECADE = 10
_LOWEST_EXPONENT = -6  # 1 µs
_DECADES = 8  # up to 100 s

#: Upper edges of the buckets, in seconds; a last bucket holds anything larger.
BUCKET_EDGES: tuple[float, ...] = tuple(
    10 ** (_LOWEST_EXPONENT + i / _PER_DECADE) for i in range(_PER_DECADE * _DECADES + 1)
)


class LatencyHistogram:
    """Counts of latencies (seconds) per fixed bucket, with count, sum, min and max."""

    def __init__(self) -> None:
        self.counts = [0] * (len(BUCKET_EDGES) + 1)
        self.count = 0
        self.total = 0.0
        self.min = math.inf
        self.max = 0.0

    def record(self, seconds: float) -> None:
        """Add one sample."""
        self.counts[bisect.bisect_left(BUCKET_EDGES, seconds)] += 1
        self.count += 1
        self.total += seconds
        self.min = min(self.min, seconds)
        self.max = max(self.max, seconds)

    def merge(self, other: LatencyHistogram) -> None:
        """Add every sample of ``other``."""
        for index, n in enumerate(other.counts):
            self.counts[index] += n
        self.count += other.count
        self.total += other.total
        self.min = min(self.min, other.min)
        self.max = max(self.max, other.max)

    def quantile(self, q: float) -> float | None:
        """The upper edge of the bucket holding quantile ``q`` (0 < q <= 1); ``None`` if empty."""
        if not self.count:
            return None
        rank = max(1, math.ceil(q * self.count))
        seen = 0
        for index, n in enumerate(self.counts):
            seen += n
            if seen >= rank:
                edge = BUCKET_EDGES[index] if index < len(BUCKET_EDGES) else self.max
                return min(edge, self.max)
        return self.max  # pragma: no cover - the counts add up to self.count

    @property
    def mean(self) -> float | None:
        """The mean sample, ``None`` if empty."""
        return self.total / self.count if self.count else None

    def to_json(self) -> dict[str, Any]:
        """Every bucket as ``{"le": upper edge in seconds or null for overflow, "count": n}``."""
        edges: list[float | None] = [*BUCKET_EDGES, None]
        return {
            "unit": "seconds",
            "buckets_per_decade": _PER_DECADE,
            "buckets": [{"le": edge, "count": n} for edge, n in zip(edges, self.counts, strict=True)],
        }
