"""What a benchmark counts: messages, latencies, connections, errors. Pure."""

from __future__ import annotations

import collections
import dataclasses

from .histogram import LatencyHistogram

__all__ = ["BenchStats", "Window"]


@dataclasses.dataclass
class Window:
    """What happened since the previous progress report."""

    seconds: float
    received: int
    latency: LatencyHistogram


@dataclasses.dataclass
class BenchStats:
    """Counters shared by every connection of one benchmark run."""

    connections: int
    opened: int = 0  # successful handshakes, reconnects included
    open_now: int = 0
    open_at_end: int = 0  # open when the duration ended, before closing
    reconnects: int = 0
    sent: int = 0
    received: int = 0
    received_bytes: int = 0
    mismatched: int = 0  # echoes that differ from what was sent
    errors: collections.Counter[str] = dataclasses.field(default_factory=collections.Counter)
    latency: LatencyHistogram = dataclasses.field(default_factory=LatencyHistogram)
    _window: LatencyHistogram = dataclasses.field(default_factory=LatencyHistogram)
    _window_received: int = 0

    def record_echo(self, seconds: float, size: int, matched: bool) -> None:
        """One echo came back ``seconds`` after its message was sent."""
        self.received += 1
        self.received_bytes += size
        if not matched:
            self.mismatched += 1
        self.latency.record(seconds)
        self._window.record(seconds)

    def take_window(self, seconds: float) -> Window:
        """The window since the last call, ``seconds`` long; starts a new one."""
        window = Window(seconds, self.received - self._window_received, self._window)
        self._window_received = self.received
        self._window = LatencyHistogram()
        return window
