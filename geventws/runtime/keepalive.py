"""Keepalive: ping every ``ping_interval`` seconds, fail the attempt on a missing pong.

No greenlet waits between pings, nor for a pong: a hub timer sends each ping
at once when nothing else is being written and the socket takes it (the
usual case), and is armed again to watch for the pong (one timer, shared
with other connections' on a :mod:`.timerwheel` slot). A greenlet is started
only when the ping has to wait (behind a large send, a full socket buffer,
TLS) or to fail the attempt, so an idle connection parks one greenlet, its
receive loop's. Each gap is ``ping_interval`` shortened by up to 10 % at
random, so that thousands of connections opened together do not ping in
lockstep, and no gap is longer than asked (a server's idle timeout is usually
what the interval guards). The next gap starts when the pong arrived.

What ``ping_timeout`` measures: the time to write the ping (it may wait
behind a large send that a dead peer never reads), then the time our receive
loop spends *reading* without meeting the pong. While the receive loop is
paused because the application has not taken the previous message (a full
inbox, a slow ``on_message``), the pong cannot be read: that pause is ours,
so the clock stands still (see :mod:`.readclock`).
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import gevent
from gevent.greenlet import Greenlet

from ..exceptions import PingTimeout, WebSocketError
from .greenlets import spawn
from .timerwheel import LATE_SHARE, WheelTimer, wheel_for

if TYPE_CHECKING:
    from .pings import Pong
    from .session import Session

__all__ = ["JITTER", "Keepalive", "next_gap"]

#: The largest share of the interval a gap is shortened by.
JITTER = 0.1

_random = random.Random()


def next_gap(interval: float) -> float:
    """The wait before the next ping: ``interval`` shortened by up to :data:`JITTER`,
    and by at least what a shared timer may add (the gap never exceeds ``interval``)."""
    return interval * (1.0 - LATE_SHARE - (JITTER - LATE_SHARE) * _random.random())


class Keepalive:
    """The keepalive of one open attempt: timers, and a greenlet only when a ping must wait."""

    __slots__ = (
        "_interval",
        "_log",
        "_pong",
        "_session",
        "_timeout",
        "_timer",
        "_until",
        "_wheel",
        "greenlet",
    )

    def __init__(
        self, session: Session, interval: float, timeout: float | None, log: logging.LoggerAdapter[Any]
    ) -> None:
        self._session = session
        self._interval = interval
        self._timeout = timeout
        self._log = log
        self._wheel = wheel_for()
        self._timer: WheelTimer | None = None  # the next ping's, or the pong's deadline
        self._pong: Pong | None = None  # the ping out, waiting for its pong
        self._until = 0.0  # the pong's deadline, on the reading clock
        #: The greenlet of a ping that had to wait to be written, if any.
        self.greenlet: Greenlet[Any, Any] | None = None

    def start(self) -> None:
        """Arm the timer for the first ping."""
        self._arm(next_gap(self._interval))

    def stop(self) -> None:
        """No more pings; wait for a ping being written (the attempt has ended,
        so it returns at once)."""
        self._disarm()
        pong, self._pong = self._pong, None
        if pong is not None:
            pong.on_settled = None
        greenlet = self.greenlet
        if greenlet is not None and greenlet is not gevent.getcurrent():
            greenlet.join()

    def _arm(self, delay: float) -> None:
        """Arm the one timer again: a ping is due then, or, while a ping waits
        for its pong, the pong's deadline (see :meth:`__call__`)."""
        self._timer = self._wheel.call_later(delay, self, self._timer)

    def _disarm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()

    def __call__(self) -> None:
        """The timer's callback, in the hub (the keepalive itself: no bound method per ping)."""
        if self._pong is None:
            self._in_hub(self._ping_now_or_later)
        else:
            self._in_hub(self._check_pong)

    @property
    def _over(self) -> bool:
        return self._session.ended

    # -- sending the ping ------------------------------------------------------

    def _in_hub(self, work: Callable[[], None]) -> None:
        """Run a timer's ``work``: log what it raises, never let the hub print it."""
        try:
            work()
        except Exception:
            self._log.exception("keepalive failed")

    def _ping_now_or_later(self) -> None:
        """Ping now if that cannot block, else from a greenlet."""
        self._disarm()
        session = self._session
        if self._over:
            return
        if session.closing.sent:  # closing: no ping, but the close may yet be cancelled by a loss
            self._arm(next_gap(self._interval))
            return
        started = time.monotonic()
        pong = session.try_ping_now()
        if pong is not None:
            self._await(pong, started)
            return
        self._spawn(self._ping_waiting)

    def _spawn(self, work: Callable[[], None]) -> None:
        self.greenlet = spawn(work, name=f"geventws-keepalive {self._session.label}")

    def _ping_waiting(self) -> None:
        """The ping must wait to be written: at most ``ping_timeout`` seconds."""
        session = self._session
        started = time.monotonic()
        try:
            pong = None
            with gevent.Timeout(self._timeout, False):  # type: ignore[arg-type]
                pong = session.ping()
            if pong is not None:
                self._await(pong, started)
            elif not self._over:
                self._session.fail(PingTimeout(f"no pong within {self._timeout} seconds"))
        except WebSocketError:
            pass  # the connection closed meanwhile; the receive loop reports it
        except Exception:
            self._log.exception("keepalive failed")
        finally:
            self.greenlet = None

    # -- waiting for the pong ----------------------------------------------------

    def _await(self, pong: Pong, started: float) -> None:
        """Watch for ``pong``: what is left of the timeout after the write, on the reading clock."""
        self._pong = pong
        pong.on_settled = self._settled
        if pong.settled:
            self._settled()
            return
        if self._timeout is not None:
            left = max(started + self._timeout - time.monotonic(), 0.0)
            self._until = self._session.reading.now() + left
            self._arm(left)

    def _settled(self) -> None:
        """The pong arrived (or the attempt ended): the next gap starts."""
        pong, self._pong = self._pong, None
        self._disarm()
        if pong is not None and pong.latency is not None and not self._over:
            self._arm(next_gap(self._interval))

    def _pong_due(self) -> None:
        """In the hub: the timeout ran out in wall time; on the reading clock?"""
        self._in_hub(self._check_pong)

    def _check_pong(self) -> None:
        self._disarm()
        pong = self._pong
        if pong is None or pong.settled or self._over:
            return
        reading = self._session.reading
        if reading.paused:
            reading.call_on_change(self._pong_due)  # the countdown goes on at the resume
            return
        left = self._until - reading.now()
        if left > 0:
            self._arm(left)
            return
        self._pong = None
        pong.on_settled = None
        self._spawn(self._fail)

    def _fail(self) -> None:
        try:
            if not self._over:
                self._session.fail(PingTimeout(f"no pong within {self._timeout} seconds"))
        finally:
            self.greenlet = None
