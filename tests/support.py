"""Helpers shared by the test modules: the time unit, an event recorder, greenlet checks."""

from __future__ import annotations

import gc
import os
import time
from collections.abc import Callable
from typing import Any

import gevent
import gevent.event
import greenlet

import geventws
from geventws import ErrorCode

#: Scales every timing in the tests (GEVENTWS_TEST_TIME_UNIT=2 on a slow machine).
UNIT = float(os.environ.get("GEVENTWS_TEST_TIME_UNIT", "1"))
#: Upper bound for anything that should happen "at once" (only reached on failure).
WAIT = 3 * UNIT


class Recorder:
    """Records every callback as a tuple in ``events``; :meth:`wait_for` waits for a condition."""

    def __init__(self) -> None:
        self.events: list[tuple[Any, ...]] = []
        self._changed = gevent.event.Event()

    def add(self, *event: Any) -> None:
        self.events.append(event)
        self._changed.set()

    @property
    def n(self) -> int:
        """How many events were recorded."""
        return len(self.events)

    def wait_for(self, predicate: Callable[[], bool], timeout: float = WAIT) -> bool:
        deadline = time.monotonic() + timeout
        while not predicate():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            self._changed.clear()
            self._changed.wait(remaining)
        return True

    def wait_count(self, n: int, timeout: float = WAIT) -> bool:
        """Wait until at least ``n`` events are recorded."""
        return self.wait_for(lambda: self.n >= n, timeout)

    def of(self, kind: str) -> list[tuple[Any, ...]]:
        return [e for e in self.events if e[0] == kind]

    def count(self, kind: str) -> int:
        return len(self.of(kind))

    def codes(self) -> list[ErrorCode]:
        return [e[1] for e in self.of("error")]

    def messages(self) -> list[str | bytes]:
        return [e[1] for e in self.of("message")]

    def callbacks(self, *, messages: bool = True) -> dict[str, Callable[..., None]]:
        callbacks: dict[str, Callable[..., None]] = {
            "on_connect": lambda c: self.add("connect"),
            "on_websocket_connect": lambda c, response: self.add("open"),
            "on_error": lambda c, code, msg: self.add("error", code, msg),
            "on_close": lambda c: self.add("close"),
            "on_reconnecting": lambda c, attempt, delay, error: self.add(
                "reconnecting", attempt, delay, error
            ),
            "on_give_up": lambda c, error: self.add("give_up", error),
            "on_buffer_full": lambda c: self.add("buffer_full"),
            "on_buffer_drain": lambda c: self.add("buffer_drain"),
        }
        if messages:
            callbacks["on_message"] = lambda c, data: self.add("message", data)
        return callbacks

    def attach(self, conn: geventws.Connection) -> None:
        """Set the callbacks on a connection returned by ``geventws.connect`` (no on_message)."""
        for name, callback in self.callbacks(messages=False).items():
            setattr(conn, name, callback)


def live_greenlets() -> list[greenlet.greenlet]:
    """Every greenlet (gevent's or not) that is still alive."""
    return [g for g in gc.get_objects() if isinstance(g, greenlet.greenlet) and not g.dead]


def live_geventws_greenlets() -> list[gevent.Greenlet[Any, Any]]:
    """The live connection greenlets (supervisor, receiver, keepalive): named ``geventws-…``."""
    return [
        g
        for g in gc.get_objects()
        if isinstance(g, gevent.Greenlet) and str(g.name).startswith("geventws-") and not g.dead
    ]


def assert_no_geventws_greenlets(timeout: float = WAIT) -> None:
    """No connection greenlet is left alive, once they had ``timeout`` to finish."""
    alive = live_geventws_greenlets()
    gevent.joinall(alive, timeout=timeout)
    leaked = [g.name for g in alive if not g.dead]
    assert not leaked, f"greenlets still alive: {leaked}"
