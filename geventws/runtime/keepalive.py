"""Keepalive: ping every ``ping_interval`` seconds, fail the attempt on a missing pong.

No greenlet waits between pings: a hub timer starts a short-lived greenlet
for each ping, which lives until the pong came (or ``ping_timeout`` ran
out), so an idle connection parks one greenlet, its receive loop's. Each gap
is ``ping_interval`` shortened by up to 10 % at random, so that thousands of
connections opened together do not ping in lockstep, and no gap is longer
than asked (a server's idle timeout is usually what the interval guards).

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
from typing import TYPE_CHECKING, Any

import gevent
from gevent.greenlet import Greenlet

from ..exceptions import PingTimeout, WebSocketError

if TYPE_CHECKING:
    from .session import Session

__all__ = ["JITTER", "Keepalive", "next_gap"]

#: The largest share of the interval a gap is shortened by.
JITTER = 0.1

_random = random.Random()


def next_gap(interval: float) -> float:
    """The wait before the next ping: ``interval`` shortened by up to :data:`JITTER`."""
    return interval * (1.0 - JITTER * _random.random())


class Keepalive:
    """The keepalive of one open attempt: a timer, and a greenlet only while a ping is out."""

    __slots__ = ("_interval", "_log", "_session", "_timeout", "_timer", "greenlet")

    def __init__(
        self, session: Session, interval: float, timeout: float | None, log: logging.LoggerAdapter[Any]
    ) -> None:
        self._session = session
        self._interval = interval
        self._timeout = timeout
        self._log = log
        self._timer: Any = None
        #: The greenlet of the ping in flight, if any.
        self.greenlet: Greenlet[Any, Any] | None = None

    def start(self) -> None:
        """Arm the timer for the first ping."""
        self._arm()

    def stop(self) -> None:
        """No more pings; wait for the one in flight (the attempt has ended, so it returns at once)."""
        timer, self._timer = self._timer, None
        if timer is not None:
            timer.stop()
            timer.close()
        greenlet = self.greenlet
        if greenlet is not None and greenlet is not gevent.getcurrent():
            greenlet.join()

    def _arm(self) -> None:
        self._timer = gevent.get_hub().loop.timer(next_gap(self._interval))
        self._timer.start(self._due)

    def _due(self) -> None:
        """In the hub: start the ping's greenlet (never in the hub itself: it blocks)."""
        if self._timer is None or self._session.ended.is_set():
            return
        self._timer.close()
        self._timer = None
        greenlet = self.greenlet = gevent.spawn(self._ping_round)
        greenlet.name = f"geventws-keepalive {self._session.label}"

    def _ping_round(self) -> None:
        session = self._session
        try:
            if session.closing.sent or _ping_answered(session, self._timeout):
                if not session.ended.is_set():
                    self._arm()
                return
            if not session.ended.is_set():
                session.fail(PingTimeout(f"no pong within {self._timeout} seconds"))
        except WebSocketError:
            pass  # the connection closed meanwhile; the receive loop reports it
        except Exception:
            self._log.exception("keepalive failed")
        finally:
            self.greenlet = None


def _ping_answered(session: Session, timeout: float | None) -> bool:
    """Ping and wait for the pong: the write in wall time (it may wait behind
    a send that a dead peer never reads), then the wait on the reading clock."""
    deadline = None if timeout is None else time.monotonic() + timeout
    pong = None
    with gevent.Timeout(timeout, False):  # type: ignore[arg-type]
        pong = session.ping()
    if pong is None:
        return False
    if deadline is None:
        gevent.wait([pong.event, session.ended], count=1)
    else:
        # What is left of the timeout after the write, counted on the reading clock.
        until = session.reading.now() + max(deadline - time.monotonic(), 0)
        session.reading.wait(until, (pong.event, session.ended))
    return pong.latency is not None
