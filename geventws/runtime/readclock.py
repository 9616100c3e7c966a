"""The reading clock: time during which the receive loop was free to read.

The receive greenlet stops reading while it hands a message to the
application and waits for it (a full inbox, a slow ``on_message``). During
such a pause nothing the server sends is read, pongs included, so the pause
is ours, not the server's: the keepalive measures its ``ping_timeout`` on
this clock, which stands still while the receive loop is paused.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import gevent
import gevent.event

__all__ = ["ReadingClock"]


class ReadingClock:
    """Monotonic time minus the time the receive loop spent paused."""

    __slots__ = ("_changed", "_clock", "_paused_at", "_paused_total")

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._paused_total = 0.0
        self._paused_at: float | None = None
        # Created by a watcher, set and dropped at the next pause or resume: a
        # message delivered while nobody watches costs no Event.
        self._changed: gevent.event.Event | None = None

    @property
    def paused(self) -> bool:
        """Whether the receive loop is paused now."""
        return self._paused_at is not None

    def now(self) -> float:
        """The reading time: it does not advance while paused."""
        now = self._clock()
        paused = self._paused_total
        if self._paused_at is not None:
            paused += now - self._paused_at
        return now - paused

    def pause(self) -> None:
        """The receive loop stops reading (it waits for the application)."""
        if self._paused_at is None:
            self._paused_at = self._clock()
            self._changed_now()

    def resume(self) -> None:
        """The receive loop reads again."""
        if self._paused_at is not None:
            self._paused_total += self._clock() - self._paused_at
            self._paused_at = None
            self._changed_now()

    def _changed_now(self) -> None:
        changed, self._changed = self._changed, None
        if changed is not None:
            changed.set()  # wakes every waiter

    def call_on_change(self, callback: Callable[[], object]) -> None:
        """Call ``callback()`` from the hub at the next pause or resume."""
        if self._changed is None:
            self._changed = gevent.event.Event()
        self._changed.rawlink(lambda _: callback())
