"""The supervisor: a plain loop of attempts, and the reconnect policy between them.

::

    wait until a (re)connect is due ─► attempt ─► reconnect asked or planned? ─► loop / finish

The clock and the wait are injectable, so the loop runs in tests without the
wall clock. One greenlet runs the loop while the connection is not finished.
"""

from __future__ import annotations

import enum
import functools
import logging
import time
from collections.abc import Callable
from typing import Any, Protocol

import gevent
import gevent.event
from gevent.greenlet import Greenlet

from ..exceptions import WebSocketError
from ..protocol.backoff import Backoff
from .greenlets import spawn

__all__ = ["Phase", "Supervisor", "SupervisorOwner", "supervisor_name"]

logger = logging.getLogger("geventws")


@functools.lru_cache(maxsize=256)
def supervisor_name(url: str) -> str:
    """The supervisor greenlet's name: one string for the connections to one URL
    (a Fleet opens thousands)."""
    return f"geventws-supervisor {url}"


class Phase(enum.Enum):
    """Where the supervisor stands."""

    #: Never started.
    IDLE = "idle"
    #: An attempt is running.
    ATTEMPTING = "attempting"
    #: Waiting until a reconnect is due.
    WAITING = "waiting"
    #: Finished for good: no attempt runs, none is due.
    FINISHED = "finished"


def _wait_on(event: gevent.event.Event, timeout: float) -> object:
    return event.wait(timeout)


class SupervisorOwner(Protocol):
    """What the supervisor runs and tells (the connection)."""

    def _run_attempt(self) -> WebSocketError | None:
        """Run one attempt to its end; why it failed (``None`` after a clean close)."""

    def _reconnecting(self, attempt: int, delay: float, error: WebSocketError | None) -> None:
        """The policy will try again after ``delay`` seconds."""

    def _giving_up(self, attempts: int, error: WebSocketError | None) -> None:
        """The policy stopped reconnecting."""

    def _finished(self) -> None:
        """The loop is over."""


class Supervisor:
    """Runs ``owner._run_attempt()`` whenever one is due; between attempts asks ``backoff``.

    ``_reconnecting(attempt, delay, error)`` and ``_giving_up(attempts,
    error)`` tell the owner the policy's decisions; ``_finished()`` runs once
    the loop is over. One owner reference rather than four bound methods:
    a connection's idle bytes count.
    """

    __slots__ = (
        "_backoff",
        "_clock",
        "_finished_event",
        "_greenlet",
        "_log",
        "_name",
        "_owner",
        "_wait",
        "_wake",
        "due",
        "finish_requested",
        "is_finished",
        "phase",
    )

    def __init__(
        self,
        owner: SupervisorOwner,
        *,
        backoff: Backoff | None = None,
        clock: Callable[[], float] = time.monotonic,
        wait: Callable[[gevent.event.Event, float], object] = _wait_on,
        name: str = "geventws-supervisor",
        log: logging.LoggerAdapter[Any] | logging.Logger = logger,
    ) -> None:
        self._log = log
        self._owner = owner
        self._backoff = backoff
        self._clock = clock
        self._wait = wait
        self._name = name
        self._wake: gevent.event.Event | None = None  # only while waiting for a due attempt
        self._greenlet: Greenlet[Any, Any] | None = None
        self.phase = Phase.IDLE
        #: When the next attempt is due (clock time), ``None``: none is.
        self.due: float | None = None
        #: close() was called: no attempt after the current one.
        self.finish_requested = False
        #: True while no loop runs: before the start and once finished.
        self.is_finished = True
        self._finished_event: gevent.event.Event | None = None  # only while someone waits

    @property
    def running(self) -> bool:
        """Whether the loop's greenlet is alive."""
        return self._greenlet is not None and not self._greenlet.dead

    @property
    def reconnect_pending(self) -> bool:
        """Whether an attempt is due (now or later)."""
        return self.due is not None and not self.finish_requested

    def schedule(self, delay: float) -> bool:
        """Make an attempt due in ``delay`` seconds, replacing a due one;
        whether this (re)started the loop."""
        self.due = self._clock() + delay
        if self._wake is not None:
            self._wake.set()
        if self.running:
            return False
        self.finish_requested = False
        self.is_finished = False
        self._greenlet = spawn(self._run, name=self._name)
        return True

    def cancel(self) -> None:
        """No attempt is due any more; an idle loop then finishes."""
        self.due = None
        if self._wake is not None:
            self._wake.set()

    def request_finish(self) -> None:
        """Finish after the current attempt, if any; cancels what is due."""
        self.finish_requested = True
        self.cancel()

    def cancel_finish(self) -> None:
        """Undo :meth:`request_finish`: attempts may follow the current one again."""
        self.finish_requested = False

    def opened(self) -> None:
        """The current attempt opened: the backoff starts over."""
        if self._backoff is not None:
            self._backoff.opened()

    def owns(self, greenlet: Any) -> bool:
        """Whether ``greenlet`` is the loop's."""
        return greenlet is not None and greenlet is self._greenlet

    def finish(self) -> None:
        """Finish now (the loop calls it at its end; so does a close() before any start)."""
        self.phase = Phase.FINISHED
        self.finish_requested = True
        self.due = None
        self._owner._finished()
        self.is_finished = True
        event, self._finished_event = self._finished_event, None
        if event is not None:
            event.set()  # its waiters wake even though it is dropped

    def wait_finished(self, timeout: float | None = None) -> bool:
        """Wait until no loop runs (see :attr:`is_finished`); whether none does."""
        if self.is_finished:
            return True
        event = self._finished_event
        if event is None:
            event = self._finished_event = gevent.event.Event()
        return event.wait(timeout)

    def _run(self) -> None:
        try:
            while self._wait_until_due():
                self.due = None
                self.phase = Phase.ATTEMPTING
                error = self._owner._run_attempt()
                self.phase = Phase.WAITING
                if not self.finish_requested and self.due is None:
                    self._plan_reconnect(error)
        except Exception:
            self._log.exception("supervisor failed")
        finally:
            self.finish()

    def _plan_reconnect(self, error: WebSocketError | None) -> None:
        """Ask the reconnect policy, if any, when to try again."""
        backoff = self._backoff
        if backoff is None:
            return
        delay = backoff.next_delay(error)
        if delay is None:
            self._log.info("reconnect policy gave up after %d reconnect(s): %s", backoff.attempt, error)
            self._owner._giving_up(backoff.attempt, error)
            return
        self._log.info("reconnecting in %.3f s (attempt %d)", delay, backoff.attempt)
        self._owner._reconnecting(backoff.attempt, delay, error)
        if not self.finish_requested and self.due is None:  # the callbacks may have decided otherwise
            self.due = self._clock() + delay

    def _wait_until_due(self) -> bool:
        while True:
            due = self.due
            if self.finish_requested or due is None:
                return False
            remaining = due - self._clock()
            if remaining <= 0:
                return True
            self.phase = Phase.WAITING
            wake = self._wake = gevent.event.Event()
            try:
                self._wait(wake, remaining)
            finally:
                self._wake = None
