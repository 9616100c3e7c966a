"""Calls from other OS threads, handed over to the hub's thread.

gevent objects (locks, events, sockets) belong to one thread's hub. A public
method called from another OS thread would corrupt them, so it is run by a
greenlet in the connection's own thread instead while the caller's thread
waits on a real (unpatched) lock.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar

import gevent
from gevent.monkey import get_original

__all__ = ["HubThread", "from_any_thread"]

_get_ident: Callable[[], int] = get_original("_thread", "get_ident")
_allocate_lock: Callable[[], Any] = get_original("_thread", "allocate_lock")

P = ParamSpec("P")
R = TypeVar("R")


class HubThread:
    """The OS thread (and its hub) an object was created in."""

    __slots__ = ("hub", "ident")

    def __init__(self) -> None:
        self.hub = gevent.get_hub()
        self.ident = _get_ident()

    def is_foreign(self) -> bool:
        """Whether the caller runs in another OS thread."""
        return _get_ident() != self.ident

    def call(self, fn: Callable[..., R], *args: Any) -> R:
        """Run ``fn(*args)`` in a new greenlet of the hub's thread; wait for it."""
        done = _allocate_lock()
        done.acquire()
        outcome: list[Any] = []

        def run() -> None:
            try:
                outcome.append((True, fn(*args)))
            except BaseException as exc:  # handed to the calling thread
                outcome.append((False, exc))
            finally:
                done.release()

        self.hub.loop.run_callback_threadsafe(gevent.spawn, run)
        done.acquire()
        ok, value = outcome[0]
        if not ok:
            raise value
        return value  # type: ignore[no-any-return]


def from_any_thread(method: Callable[P, R]) -> Callable[P, R]:
    """Make a method of an object with a ``_hub_thread`` safe to call from any OS thread."""

    @functools.wraps(method)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        owner: Any = args[0]
        hub_thread: HubThread = owner._hub_thread
        if hub_thread.is_foreign():
            return hub_thread.call(functools.partial(method, *args, **kwargs))
        return method(*args, **kwargs)

    return wrapper
