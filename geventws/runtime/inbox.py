"""The bounded inbox that ``recv()`` and iteration read from."""

from __future__ import annotations

import collections
import time
from typing import Any

import gevent
import gevent.event
from gevent.hub import Waiter

from ..exceptions import ConcurrencyError, WebSocketError
from .readturn import READ, ReadTurn

__all__ = ["Inbox"]


class Inbox:
    """A FIFO of received messages with back-pressure.

    :meth:`put` blocks the receive greenlet while the inbox is full, so the
    socket is not read and TCP pushes back on the server (until the
    connection ends: see :meth:`put`). :meth:`get` raises
    the exception given to :meth:`close` once the inbox is empty.

    A ready message is taken without a switch. The one reader waits on a
    bare :class:`gevent.hub.Waiter` that :meth:`put` wakes with a hub
    callback: lighter than an ``Event`` per message (no links, no
    ``Timeout`` object); the Event that holds a full inbox's writer is made
    only when it fills up. With a :attr:`stand_in` (plain TCP), the reader
    that has to wait reads the socket itself instead of being woken by the
    receive loop (:mod:`.readturn`).
    """

    __slots__ = ("_closed", "_items", "_maxsize", "_reader", "_reading", "_writable", "stand_in")

    def __init__(self, maxsize: int) -> None:
        # Made on the first message: an idle connection holds no empty deque.
        self._items: collections.deque[str | bytes] | None = None
        self._maxsize = maxsize
        self._writable: gevent.event.Event | None = None
        self._reader: Waiter[Any] | None = None  # the waiting reader's, while it waits
        self._closed: WebSocketError | None = None
        self._reading = False
        #: While set, a reader about to wait reads the socket itself (see :mod:`.readturn`).
        self.stand_in: ReadTurn | None = None

    def put(self, item: str | bytes, abandon: gevent.event.Event | None = None) -> bool:
        """Append ``item``, waiting while the inbox is full; whether it was appended.

        Once ``abandon`` is set (the connection is ending), a full inbox no
        longer holds the caller: ``item`` is dropped and ``False`` returned.
        """
        while not self.try_put(item):
            if abandon is not None and abandon.is_set():
                return False
            writable = self._writable
            if writable is None:
                writable = self._writable = gevent.event.Event()
            writable.clear()
            if abandon is None:
                writable.wait()
            else:
                gevent.wait([writable, abandon], count=1)
        return True

    def try_put(self, item: str | bytes) -> bool:
        """Append ``item`` if there is room, without waiting; whether it was appended."""
        items = self._items
        if items is None:
            items = self._items = collections.deque()
        elif len(items) >= self._maxsize:
            return False
        items.append(item)
        if self._reader is not None:
            self._wake_reader()
        return True

    def _wake_reader(self) -> None:
        reader, self._reader = self._reader, None
        if reader is not None:
            # Waiter.switch runs in the hub; once the reader stopped waiting it only stores.
            gevent.get_hub().loop.run_callback(reader.switch, None)

    def get(self, timeout: float | None = None) -> str | bytes:
        """The oldest message; :class:`TimeoutError` after ``timeout`` seconds."""
        if self._reading:
            raise ConcurrencyError("another greenlet is already waiting in recv()")
        items = self._items
        if not items:
            self._await_item(timeout)
            items = self._items
        item = items.popleft()  # type: ignore[union-attr]
        if self._writable is not None:
            self._writable.set()
        return item

    def _await_item(self, timeout: float | None) -> None:
        """Until a message is there; raise the close's error or :class:`TimeoutError`."""
        self._reading = True
        try:
            deadline = None if timeout is None else time.monotonic() + timeout
            while not self._items:
                if self._closed is not None:
                    raise self._closed
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    raise TimeoutError(f"no message within {timeout} seconds")
                self._wait(remaining)
        finally:
            self._reading = False

    def _wait(self, timeout: float | None) -> None:
        """Until a put, a close, or ``timeout`` seconds; or, invited by
        :attr:`stand_in`, until the socket is readable, then read it here."""
        hub = gevent.get_hub()
        waiter: Waiter[Any] = Waiter(hub)
        self._reader = waiter
        stand_in = self.stand_in
        invited = stand_in is not None and stand_in.invite(waiter)
        timer = None
        if timeout is not None:
            timer = hub.loop.timer(timeout)
            timer.start(waiter.switch, None)
        try:
            woken = waiter.get()
        finally:
            if self._reader is waiter:
                self._reader = None
            if invited:
                stand_in.leave(waiter)  # type: ignore[union-attr]
            if timer is not None:
                timer.stop()
                timer.close()
        if woken is READ:
            stand_in.reader.read_as_guest()  # type: ignore[union-attr]

    def close(self, exc: WebSocketError) -> None:
        """Make :meth:`get` raise ``exc`` once the inbox is drained."""
        self._closed = exc
        self._wake_reader()

    def reopen(self) -> None:
        """Accept readers again after a reconnect."""
        self._closed = None

    def __len__(self) -> int:
        return len(self._items) if self._items is not None else 0
