"""Greenlets without gevent's spawn-tree bookkeeping: one parks per connection, so its bytes count."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from gevent.greenlet import Greenlet

__all__ = ["LeanGreenlet", "spawn"]

if TYPE_CHECKING:
    _Greenlet = Greenlet[..., Any]
else:
    _Greenlet = Greenlet  # not subscriptable at run time


class LeanGreenlet(_Greenlet):
    """A gevent ``Greenlet`` that does not record the stack that spawned it.

    gevent keeps that stack (up to 10 frame objects, about 360 bytes) for its
    debugging tools; for a library's internal greenlets, thousands of them at
    once, it is memory and garbage-collector work for nothing. Everything
    else is gevent's: ``link``, ``kill``, ``join``, names.
    """

    spawning_stack_limit = 0


def spawn(function: Callable[..., Any], *args: Any, name: str) -> LeanGreenlet:
    """Start ``function(*args)`` in a new :class:`LeanGreenlet` called ``name``."""
    greenlet = LeanGreenlet(function, *args)
    greenlet.name = name
    greenlet.start()
    return greenlet
