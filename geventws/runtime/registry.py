"""The registry: the live connections of each hub, what ``run_all()`` waits for."""

from __future__ import annotations

from typing import Any, Generic, TypeVar

import gevent
import gevent.event

from .perhub import PerHub

__all__ = ["Registry", "registry_for"]

T = TypeVar("T")


class Registry(Generic[T]):
    """The connections of one hub (one OS thread) whose supervisor is running."""

    __slots__ = ("_empty", "_live")

    def __init__(self) -> None:
        self._live: set[T] = set()
        self._empty = gevent.event.Event()
        self._empty.set()

    def add(self, conn: T) -> None:
        """A connection started running."""
        self._live.add(conn)
        self._empty.clear()

    def discard(self, conn: T) -> None:
        """A connection finished for good."""
        self._live.discard(conn)
        if not self._live:
            self._empty.set()

    def live(self) -> list[T]:
        """The connections running now."""
        return list(self._live)

    def wait_empty(self, timeout: float | None = None) -> bool:
        """Wait until no connection runs; whether that happened within ``timeout``."""
        return self._empty.wait(timeout)


#: ``registry_for(hub=None)``: the registry of ``hub`` (default: the calling thread's
#: hub). One per hub, since gevent objects belong to one thread: ``run_all()`` in a
#: thread waits for that thread's connections.
registry_for: PerHub[Registry[Any]] = PerHub(lambda hub: Registry())
