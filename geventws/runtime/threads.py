"""Calls from other OS threads, handed over to the hub's thread.

gevent objects (locks, events, sockets) belong to one thread's hub. A public
method called from another OS thread would corrupt them, so it is run by a
greenlet in the connection's own thread instead while the caller's thread
waits on a real (unpatched) lock.

The owning thread is known by an object, not by its thread id: ids are
reused as soon as a thread ends, and a new thread with the old id is not the
owner. When the owning thread ends, calls waiting for it and every later
call raise :class:`~geventws.ConnectionClosedError` (code 1006) at once: its
hub will never run them. (A thread that is alive but never lets its hub run
again, e.g. one blocked joining the caller, still makes callers wait.)
"""

from __future__ import annotations

import functools
import weakref
from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar

import gevent
from gevent.monkey import get_original

from ..exceptions import ConnectionClosed, closed_exception

__all__ = ["HubThread", "from_any_thread", "thread_local"]

_allocate_lock: Callable[[], Any] = get_original("_thread", "allocate_lock")
# A real thread-local, even in a monkey-patched process: a thread's values are
# dropped when it ends, which is how the end of the owning thread is noticed.
_thread_local: Any = get_original("_thread", "_local")()
#: The calling thread's values: ``getattr(thread_local, "hub_thread", None)`` is its
#: :class:`HubThread`, if it has one. The hottest methods (``send``, ``recv``)
#: check it themselves, as :func:`from_any_thread` would, without its call.
thread_local = _thread_local

P = ParamSpec("P")
R = TypeVar("R")

_ENDED_REASON = "the thread that owns the connection has ended"


class _ThreadMark:
    """Lives exactly as long as its thread: held only by the thread-local."""

    __slots__ = ("__weakref__",)


class _Call:
    """One call handed to the owning thread; ``done`` is released with its outcome."""

    __slots__ = ("args", "done", "fn", "outcome")

    def __init__(self, fn: Callable[..., Any], args: tuple[Any, ...]) -> None:
        self.fn = fn
        self.args = args
        self.done = _allocate_lock()
        self.done.acquire()
        self.outcome: tuple[bool, Any] | None = None


class HubThread:
    """The OS thread (and its hub) objects are created in: one per thread.

    ``HubThread()`` returns the calling thread's instance, so a connection
    costs no extra object; a new one once the thread's hub was destroyed
    and replaced (the old one then counts as ended).
    """

    __slots__ = ("_alive", "_guard", "_mark_ref", "_pending", "hub")

    def __new__(cls) -> HubThread:
        current: HubThread | None = getattr(_thread_local, "hub_thread", None)
        if current is None or current.hub is not gevent.get_hub():
            # First use in this thread, or its hub was destroyed and replaced:
            # dropping the old mark ends the old instance like a thread's end.
            current = super().__new__(cls)
            current._bind_to_current_thread()
        return current

    def _bind_to_current_thread(self) -> None:
        self.hub: gevent.hub.Hub = gevent.get_hub()
        self._alive = True
        self._guard: Any = _allocate_lock()
        self._pending: set[_Call] = set()
        mark = _ThreadMark()
        _thread_local.hub_thread = self
        _thread_local.mark = mark
        # The weakref (and its callback) is kept by self; self by its users.
        self._mark_ref = weakref.ref(mark, self._thread_ended)

    @property
    def alive(self) -> bool:
        """Whether the owning thread still runs."""
        return self._alive

    def is_foreign(self) -> bool:
        """Whether the caller runs in another OS thread than the owner."""
        return getattr(_thread_local, "hub_thread", None) is not self

    def call(self, fn: Callable[..., R], *args: Any) -> R:
        """Run ``fn(*args)`` in a new greenlet of the owning thread; wait for it.

        Raises :class:`~geventws.ConnectionClosedError` at once if the owning
        thread has ended or ends before running it.
        """
        call = _Call(fn, args)
        with self._guard:
            if not self._alive:
                raise _ended_error()
            self._pending.add(call)
        try:
            self.hub.loop.run_callback_threadsafe(gevent.spawn, self._run, call)
        except Exception as exc:  # the hub was destroyed: its thread will not run it
            self._settle(call, (False, _ended_error()))
            raise _ended_error() from exc
        call.done.acquire()
        assert call.outcome is not None
        ok, value = call.outcome
        if not ok:
            raise value
        return value  # type: ignore[no-any-return]

    def _run(self, call: _Call) -> None:
        try:
            outcome: tuple[bool, Any] = (True, call.fn(*call.args))
        except BaseException as exc:  # handed to the calling thread
            outcome = (False, exc)
        self._settle(call, outcome)

    def _settle(self, call: _Call, outcome: tuple[bool, Any]) -> None:
        with self._guard:
            if call not in self._pending:
                return  # already settled
            self._pending.discard(call)
            call.outcome = outcome
        call.done.release()

    def _thread_ended(self, _: weakref.ref[_ThreadMark]) -> None:
        # Runs in the ending thread, as its thread-local values are dropped.
        with self._guard:
            self._alive = False
            pending = list(self._pending)
        for call in pending:
            self._settle(call, (False, _ended_error()))


def _ended_error() -> ConnectionClosed:
    return closed_exception(1006, _ENDED_REASON)


def from_any_thread(method: Callable[P, R]) -> Callable[P, R]:
    """Make a method of an object with a ``_hub_thread`` safe to call from any OS thread."""

    @functools.wraps(method)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        hub_thread: HubThread = args[0]._hub_thread  # type: ignore[attr-defined]
        if getattr(_thread_local, "hub_thread", None) is not hub_thread:  # is_foreign(), inlined: every call
            return hub_thread.call(functools.partial(method, *args, **kwargs))
        return method(*args, **kwargs)

    return wrapper
