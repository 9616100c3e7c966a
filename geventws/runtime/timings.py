"""Timing the phases of one connection attempt (DNS, TCP, proxy, TLS, upgrade)."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator

from ..protocol.stats import ConnectTimings

__all__ = ["PHASES", "PhaseTimer"]

#: The phases, in the order they happen (the fields of :class:`ConnectTimings`).
PHASES = ("dns", "tcp", "proxy", "tls", "upgrade")


class PhaseTimer:
    """Measures the phases of one attempt; a phase that raises is not recorded."""

    __slots__ = ("_clock", "_durations", "_end", "_start")

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._start = clock()
        self._end: float | None = None
        self._durations: dict[str, float] = {}

    @contextlib.contextmanager
    def phase(self, name: str) -> Iterator[None]:
        """Time the ``with`` block as phase ``name`` (added to earlier hops' time)."""
        started = self._clock()
        yield
        self._end = self._clock()
        self._durations[name] = self._durations.get(name, 0.0) + (self._end - started)

    def result(self) -> ConnectTimings:
        """The phases measured so far."""
        total = None if self._end is None else self._end - self._start
        return ConnectTimings(**{name: self._durations.get(name) for name in PHASES}, total=total)
