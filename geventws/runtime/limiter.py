"""A limiter shared by many connections: handshakes in flight and per second.

So that a thousand clients do not hit a restarted server at the same instant.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator

import gevent
import gevent.lock

__all__ = ["HandshakeLimiter"]


class HandshakeLimiter:
    """At most ``max_in_flight`` handshakes at once and ``per_second`` starts per second.

    Pass one instance as the ``limiter`` option of many connections. Each
    attempt holds a slot from before TCP connect until its handshake succeeded
    or failed; starts are spaced evenly, ``1 / per_second`` apart. Waiting for
    a slot does not count against ``open_timeout``.
    """

    def __init__(
        self,
        max_in_flight: int | None = None,
        per_second: float | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], object] = gevent.sleep,
    ) -> None:
        if max_in_flight is not None and max_in_flight < 1:
            raise ValueError("max_in_flight must be >= 1 or None")
        if per_second is not None and per_second <= 0:
            raise ValueError("per_second must be > 0 or None")
        self.max_in_flight = max_in_flight
        self.per_second = per_second
        self._semaphore = gevent.lock.Semaphore(max_in_flight) if max_in_flight else None
        self._clock = clock
        self._sleep = sleep
        self._next_start = 0.0
        #: Handshakes holding a slot now.
        self.in_flight = 0

    @contextlib.contextmanager
    def slot(self) -> Iterator[None]:
        """Hold one slot for the duration of a connection attempt."""
        if self._semaphore is not None:
            self._semaphore.acquire()
        try:
            self._wait_turn()
            self.in_flight += 1
            try:
                yield
            finally:
                self.in_flight -= 1
        finally:
            if self._semaphore is not None:
                self._semaphore.release()

    def _wait_turn(self) -> None:
        if self.per_second is None:
            return
        now = self._clock()
        start = max(now, self._next_start)
        self._next_start = start + 1.0 / self.per_second
        if start > now:
            self._sleep(start - now)
