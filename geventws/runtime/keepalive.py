"""Keepalive: ping every ``ping_interval`` seconds, fail the attempt on a missing pong.

What ``ping_timeout`` measures: the time to write the ping (it may wait
behind a large send that a dead peer never reads), then the time our receive
loop spends *reading* without meeting the pong. While the receive loop is
paused because the application has not taken the previous message (a full
inbox, a slow ``on_message``), the pong cannot be read: that pause is ours,
so the clock stands still (see :mod:`.readclock`).
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

import gevent

from ..exceptions import PingTimeout, WebSocketError
from ..protocol.options import Options

if TYPE_CHECKING:
    from .session import Session

__all__ = ["keep_alive"]


def keep_alive(session: Session, options: Options, log: logging.LoggerAdapter[Any]) -> None:
    """The keepalive greenlet of one open attempt; returns when the attempt ends.

    It waits on the attempt's end with a timeout, so an ending attempt stops
    it at once. A ping left unanswered for ``ping_timeout`` seconds (of
    reading time, see the module docstring) fails the attempt with
    :class:`PingTimeout`.
    """
    interval = options.ping_interval
    assert interval is not None
    ended = session.ended
    try:
        while not ended.wait(interval):
            if session.closing.sent or _ping_answered(session, options.ping_timeout):
                continue
            if not ended.is_set():
                session.fail(PingTimeout(f"no pong within {options.ping_timeout} seconds"))
            return
    except WebSocketError:
        pass  # the connection closed meanwhile; the receive greenlet reports it
    except Exception:
        log.exception("keepalive failed")


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
