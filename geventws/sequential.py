"""The sequential face of a connection, like python-websockets' sync client.

``recv()`` and iteration read the inbox that receives the messages when no
``on_message`` callback is set; a ``with`` block closes the connection on exit.
"""

from __future__ import annotations

from collections.abc import Iterator
from types import TracebackType
from typing import Any, TypeVar

from .exceptions import ConnectionClosedOK
from .runtime.inbox import Inbox
from .runtime.threads import HubThread, thread_local

__all__ = ["Sequential"]

S = TypeVar("S", bound="Sequential")


class Sequential:
    """``recv()``, iteration and the context manager of :class:`~geventws.Connection`."""

    _inbox: Inbox
    _hub_thread: HubThread
    on_message: Any

    def close(self, code: int = 1000, reason: str = "") -> None:
        """Close the connection (see :meth:`geventws.Connection.close`)."""
        raise NotImplementedError

    def recv(self, timeout: float | None = None) -> str | bytes:
        """The next message: ``str`` for text, ``bytes`` for binary.

        Raises :class:`TimeoutError` after ``timeout`` seconds,
        :class:`ConnectionClosed` once the connection is finished and the
        inbox drained, :class:`ConcurrencyError` if another greenlet is
        already waiting, :class:`RuntimeError` when ``on_message`` is set.
        """
        if getattr(thread_local, "hub_thread", None) is not self._hub_thread:  # from_any_thread, inlined
            return self._hub_thread.call(self.recv, timeout)
        if self.on_message is not None:
            raise RuntimeError("recv() cannot be used when on_message is set")
        return self._inbox.get(timeout)

    def __iter__(self) -> Iterator[str | bytes]:
        """Messages until the connection closes; quiet on a normal close."""
        while True:
            try:
                yield self.recv()
            except ConnectionClosedOK:
                return

    def __enter__(self: S) -> S:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
