"""One benchmark connection: send, wait for the echo, measure the round trip.

Closed loop (no rate): one message in flight, the next sent as soon as the
echo is back. Open loop (``rate`` messages per second): a pacer greenlet sends
on a fixed grid, skipping (never bursting) the slots it missed. An echo
server answers in order, so the send times of a connection form a FIFO and no
sequence number is needed in the payload.

Each client owns its :class:`~geventws.Connection`; a fleet of them is opened
by :func:`geventws.cli.bench.run_bench` (the piece to move onto a shared fleet).
"""

from __future__ import annotations

import collections
import math
import time
from typing import Any

import gevent
import gevent.event

from .. import Connection, ErrorCode, State, WebSocketError
from .stats import BenchStats

__all__ = ["BenchClient"]


class BenchClient:
    """One connection of a benchmark, reporting into shared :class:`BenchStats`."""

    def __init__(
        self,
        url: str,
        options: dict[str, Any],
        stats: BenchStats,
        payload: bytes,
        rate: float | None,
        stopping: gevent.event.Event,
    ) -> None:
        self.stats = stats
        self.payload = payload
        self.rate = rate
        self.stopping = stopping
        self._sent_at: collections.deque[float] = collections.deque()
        self._is_open = False
        self._pacer: gevent.Greenlet[Any, Any] | None = None
        self.conn = Connection(
            url,
            on_websocket_connect=self._on_open,
            on_message=self._on_message,
            on_error=self._on_error,
            on_close=self._on_close,
            on_reconnecting=self._on_reconnecting,
            **options,
        )

    def start(self) -> None:
        """Connect (through the shared limiter, if any); returns at once."""
        self.conn.connect()
        if self.rate is not None:
            self._pacer = gevent.spawn(self._pace, 1.0 / self.rate)

    def stop(self) -> None:
        """Stop sending and close (waits up to the close timeout)."""
        if self._pacer is not None:
            self._pacer.kill()
        self.conn.close()

    def _send(self) -> None:
        self._sent_at.append(time.monotonic())
        try:
            self.conn.send(self.payload)
        except WebSocketError:
            self._sent_at.pop()  # the attempt ended meanwhile; its on_error tells why
            return
        self.stats.sent += 1

    def _pace(self, interval: float) -> None:
        """Send on the grid ``start + k * interval``; slots missed while late or not open are skipped."""
        due = time.monotonic()
        while not self.stopping.wait(max(due - time.monotonic(), 0)):
            if self._is_open and self.conn.state is State.OPEN:
                self._send()
            due += interval
            late = time.monotonic() - due
            if late > 0:
                due += math.ceil(late / interval) * interval

    # -- callbacks --------------------------------------------------------------

    def _on_open(self, conn: Connection, response: object) -> None:
        self._is_open = True
        self.stats.opened += 1
        self.stats.open_now += 1
        if self.rate is None and not self.stopping.is_set():
            self._send()

    def _on_message(self, conn: Connection, data: str | bytes) -> None:
        now = time.monotonic()
        if not self._sent_at:
            self.stats.mismatched += 1  # an echo of nothing we sent
            return
        self.stats.record_echo(now - self._sent_at.popleft(), len(data), data == self.payload)
        if self.rate is None and not self.stopping.is_set():
            self._send()

    def _on_error(self, conn: Connection, code: ErrorCode, msg: str) -> None:
        self.stats.errors[code.name] += 1

    def _on_close(self, conn: Connection) -> None:
        if self._is_open:
            self._is_open = False
            self.stats.open_now -= 1
        self._sent_at.clear()  # lost in flight with the attempt

    def _on_reconnecting(self, conn: Connection, attempt: int, delay: float, error: object) -> None:
        self.stats.reconnects += 1
