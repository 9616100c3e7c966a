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

    # One slot per phase, not a dictionary: a timer lives as long as its attempt.
    __slots__ = ("_clock", "_end", "_start", *PHASES)

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._start = clock()
        self._end: float | None = None

    @contextlib.contextmanager
    def phase(self, name: str) -> Iterator[None]:
        """Time the ``with`` block as phase ``name`` (added to earlier hops' time)."""
        started = self._clock()
        yield
        self._end = self._clock()
        setattr(self, name, getattr(self, name, 0.0) + (self._end - started))

    def result(self) -> ConnectTimings:
        """The phases measured so far."""
        total = None if self._end is None else self._end - self._start
        return ConnectTimings(**{name: getattr(self, name, None) for name in PHASES}, total=total)
