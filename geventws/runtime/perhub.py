"""One object per gevent hub, made on first use.

gevent objects (loops, locks, events) belong to one thread's hub, so the
library's shared helpers (the connection registry, the timer wheel, the
write-burst ends) are kept per hub, and dropped with it.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import Any, Generic, TypeVar

import gevent

__all__ = ["PerHub"]

T = TypeVar("T")


class PerHub(Generic[T]):
    """``per_hub(hub=None)``: the ``T`` of ``hub`` (default: the calling thread's),
    made by ``make(hub)`` the first time."""

    __slots__ = ("_make", "_of")

    def __init__(self, make: Callable[[Any], T]) -> None:
        self._make = make
        self._of: weakref.WeakKeyDictionary[Any, T] = weakref.WeakKeyDictionary()

    def __call__(self, hub: Any = None) -> T:
        hub = gevent.get_hub() if hub is None else hub
        found = self._of.get(hub)
        if found is None:
            found = self._of[hub] = self._make(hub)
        return found

    def replace(self, hub: Any, value: T | None) -> T | None:
        """Put ``value`` in place of ``hub``'s object (``None``: forget it); the old
        one, if any. For tests."""
        old = self._of.pop(hub, None)
        if value is not None:
            self._of[hub] = value
        return old
