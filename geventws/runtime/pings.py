"""Pings waiting for their pong, and the :class:`Pong` handle ``ping()`` returns."""

from __future__ import annotations

import random
import time
from collections.abc import Callable

import gevent.event

__all__ = ["PingTracker", "Pong"]


def _random_payload() -> bytes:
    # Four random bytes to tell pongs apart (as python-websockets does); not
    # a secret, so not drawn from the mask keys' secure source.
    return random.getrandbits(32).to_bytes(4, "big")


class Pong:
    """What :meth:`Connection.ping` returns: wait for the matching pong."""

    __slots__ = ("_event", "latency", "on_settled", "payload", "sent_at", "settled")

    def __init__(self, payload: bytes) -> None:
        self.payload = payload
        self.sent_at = time.monotonic()
        #: Round-trip time in seconds once the pong arrived, else ``None``.
        self.latency: float | None = None
        #: Whether the pong arrived or the connection ended.
        self.settled = False
        #: Called (in the greenlet that settles it) once settled: keepalive's hook.
        self.on_settled: Callable[[], object] | None = None
        self._event: gevent.event.Event | None = None  # made for a waiter only

    def wait(self, timeout: float | None = None) -> bool:
        """Whether the pong arrived within ``timeout`` seconds."""
        if not self.settled:
            self.event.wait(timeout)
        return self.latency is not None

    @property
    def event(self) -> gevent.event.Event:
        """Set once the pong arrived or the connection ended."""
        if self._event is None:
            self._event = gevent.event.Event()
            if self.settled:
                self._event.set()
        return self._event

    def _resolve(self, now: float) -> None:
        self.latency = now - self.sent_at
        self._settle()

    def _cancel(self) -> None:
        self._settle()

    def _settle(self) -> None:
        self.settled = True
        if self._event is not None:
            self._event.set()
        hook, self.on_settled = self.on_settled, None
        if hook is not None:
            hook()


#: Shared by every tracker with no ping waiting, never written to: an idle
#: connection holds no dictionary of its own between pings.
_NONE_WAITING: dict[bytes, Pong] = {}


class PingTracker:
    """The pings of one connection attempt still waiting for their pong."""

    __slots__ = ("_waiting",)

    def __init__(self) -> None:
        self._waiting = _NONE_WAITING

    def new_payload(self, data: bytes) -> bytes:
        """``data``, or random bytes when empty or already waiting for its pong."""
        payload = bytes(data) or _random_payload()
        while payload in self._waiting:
            payload = _random_payload()
        return payload

    def add(self, payload: bytes) -> Pong:
        """Start waiting for the pong of a ping carrying ``payload``."""
        if self._waiting is _NONE_WAITING:
            self._waiting = {}
        pong = self._waiting[payload] = Pong(payload)
        return pong

    def received(self, payload: bytes) -> float | None:
        """A pong arrived: its round-trip time, ``None`` if no ping carried ``payload``.

        A pong acknowledges its ping and every ping sent before it.
        """
        waiting = self._waiting
        pong = waiting.get(payload)
        if pong is None:
            return None
        now = time.monotonic()
        for key in list(waiting):
            waiting.pop(key)._resolve(now)
            if key == payload:
                break
        if not waiting:
            self._waiting = _NONE_WAITING
        return pong.latency

    def cancel_all(self) -> None:
        """The attempt ended: wake every waiter, with no latency."""
        waiting, self._waiting = self._waiting, _NONE_WAITING
        for pong in waiting.values():
            pong._cancel()
