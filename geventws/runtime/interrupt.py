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
from typing import Any, Protocol

import gevent

__all__ = ["Attempt", "AttemptInterrupt"]


class Attempt(Protocol):
    """What :meth:`AttemptInterrupt.run` runs (the session)."""

    def _run(self) -> None:
        """The attempt, to its end."""

    def _cleanup(self) -> None:
        """Tear it down after a kill that landed once ``_run`` stopped catching."""


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

    def run(self, attempt: Attempt) -> None:
        """Run ``attempt._run()`` here. Our kill, caught by it through
        :meth:`taken`, ends it; one that lands after it stopped catching (in
        its last report or cleanup) is taken here, then ``attempt._cleanup()``
        runs. Anyone else's kill propagates. (One object, not two bound
        methods, is held while a connection is open.)"""
        self._greenlet = gevent.getcurrent()
        try:
            attempt._run()
        except gevent.GreenletExit:
            if not self.taken():
                raise
            attempt._cleanup()
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
