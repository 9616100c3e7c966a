"""The bounded inbox that ``recv()`` and iteration read from."""

from __future__ import annotations

import collections
import time

import gevent
import gevent.event

from ..exceptions import ConcurrencyError, WebSocketError

__all__ = ["Inbox"]


class Inbox:
    """A FIFO of received messages with back-pressure.

    :meth:`put` blocks the receive greenlet while the inbox is full, so the
    socket is not read and TCP pushes back on the server (until the
    connection ends: see :meth:`put`). :meth:`get` raises
    the exception given to :meth:`close` once the inbox is empty.
    """

    __slots__ = ("_closed", "_items", "_maxsize", "_readable", "_reading", "_writable")

    def __init__(self, maxsize: int) -> None:
        # Made on the first message: an idle connection holds no empty deque.
        self._items: collections.deque[str | bytes] | None = None
        self._maxsize = maxsize
        self._readable = gevent.event.Event()
        self._writable = gevent.event.Event()
        self._writable.set()
        self._closed: WebSocketError | None = None
        self._reading = False

    def put(self, item: str | bytes, abandon: gevent.event.Event | None = None) -> bool:
        """Append ``item``, waiting while the inbox is full; whether it was appended.

        Once ``abandon`` is set (the connection is ending), a full inbox no
        longer holds the caller: ``item`` is dropped and ``False`` returned.
        """
        items = self._items
        if items is None:
            items = self._items = collections.deque()
        while len(items) >= self._maxsize:
            if abandon is None:
                self._writable.clear()
                self._writable.wait()
                continue
            if abandon.is_set():
                return False
            self._writable.clear()
            gevent.wait([self._writable, abandon], count=1)
        items.append(item)
        self._readable.set()
        return True

    def get(self, timeout: float | None = None) -> str | bytes:
        """The oldest message; :class:`TimeoutError` after ``timeout`` seconds."""
        if self._reading:
            raise ConcurrencyError("another greenlet is already waiting in recv()")
        self._reading = True
        try:
            deadline = None if timeout is None else time.monotonic() + timeout
            while not self._items:
                if self._closed is not None:
                    raise self._closed
                self._readable.clear()
                remaining = None if deadline is None else deadline - time.monotonic()
                if (remaining is not None and remaining <= 0) or not self._readable.wait(remaining):
                    raise TimeoutError(f"no message within {timeout} seconds")
            item = self._items.popleft()
            self._writable.set()
            return item
        finally:
            self._reading = False

    def close(self, exc: WebSocketError) -> None:
        """Make :meth:`get` raise ``exc`` once the inbox is drained."""
        self._closed = exc
        self._readable.set()

    def reopen(self) -> None:
        """Accept readers again after a reconnect."""
        self._closed = None

    def __len__(self) -> int:
        return len(self._items) if self._items is not None else 0
