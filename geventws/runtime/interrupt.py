"""Interrupting an attempt that runs in another greenlet: the supervisor's.

The supervisor's greenlet runs each attempt itself (so an open connection
parks one greenlet). To cancel an opening, another greenlet throws
``GreenletExit`` into it: a gevent kill, delivered by a hub callback. That
kill must land inside the attempt, never in the supervisor's code after it:
if the attempt ends before the kill arrived, the kill is taken at the
attempt's end (hub callbacks run in order, so a ``sleep(0)`` there receives
it at the latest).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

import gevent

__all__ = ["AttemptInterrupt"]


class AttemptInterrupt:
    """Runs one attempt in the calling greenlet and interrupts it on demand."""

    __slots__ = ("_greenlet", "_pending")

    def __init__(self) -> None:
        self._greenlet: Any = None
        self._pending = False  # a kill was sent and has not landed yet

    @property
    def greenlet(self) -> Any:
        """The greenlet running the attempt, while it runs."""
        return self._greenlet

    def run(self, attempt: Callable[[], None], after_late_kill: Callable[[], None]) -> None:
        """Run ``attempt()`` here. Our kill, caught by ``attempt`` through
        :meth:`taken`, ends it; one that lands after ``attempt`` stopped catching
        (in its last report or cleanup) is taken here, then ``after_late_kill()``
        runs. Anyone else's kill propagates."""
        self._greenlet = gevent.getcurrent()
        try:
            attempt()
        except gevent.GreenletExit:
            if not self.taken():
                raise
            after_late_kill()
        finally:
            if self._pending:
                with contextlib.suppress(gevent.GreenletExit):
                    gevent.sleep(0)
                self._pending = False
            self._greenlet = None

    def interrupt(self) -> None:
        """Kill the attempt from another greenlet (once; never the caller itself)."""
        greenlet = self._greenlet
        if greenlet is not None and greenlet is not gevent.getcurrent() and not self._pending:
            self._pending = True
            greenlet.kill(block=False)

    def taken(self) -> bool:
        """A ``GreenletExit`` was caught: whether it was our kill (now spent)."""
        if not self._pending:
            return False
        self._pending = False
        return True
