"""The outbox: messages sent while the connection is not open, bounded."""

from __future__ import annotations

import collections

import gevent.event

from ..exceptions import ConnectionClosed, SendBufferFull

__all__ = ["Outbox"]

#: A queued message: (opcode, payload).
Message = tuple[int, bytes]


class Outbox:
    """A FIFO of messages waiting for the next handshake.

    Bounded by ``max_bytes`` and/or ``max_messages`` (``None``: no bound).
    When full, ``"drop_oldest"`` makes room by dropping the oldest messages;
    ``"fail"`` raises :class:`SendBufferFull`; under ``"block"`` the sender
    waits with :meth:`wait_for_room` and tries again.
    """

    __slots__ = ("_items", "nbytes", "max_bytes", "max_messages", "policy", "_room", "_closed")

    def __init__(self, max_bytes: int | None, max_messages: int | None, policy: str) -> None:
        self._items: collections.deque[Message] = collections.deque()
        #: Payload bytes queued.
        self.nbytes = 0
        self.max_bytes = max_bytes
        self.max_messages = max_messages
        self.policy = policy
        self._room = gevent.event.Event()
        self._closed: ConnectionClosed | None = None

    def fits(self, size: int) -> bool:
        """Whether a message of ``size`` bytes fits now."""
        if self.max_messages is not None and len(self._items) + 1 > self.max_messages:
            return False
        return self.max_bytes is None or not self._items or self.nbytes + size <= self.max_bytes

    def put(self, message: Message) -> list[Message]:
        """Queue ``message``; return the messages dropped to make room.

        When full: ``"drop_oldest"`` drops, otherwise :class:`SendBufferFull`
        (a ``"block"`` caller waits with :meth:`wait_for_room` first).
        """
        if self._closed is not None:
            raise self._closed
        size = len(message[1])
        dropped: list[Message] = []
        while not self.fits(size):
            if self.policy != "drop_oldest":
                raise SendBufferFull(
                    f"send buffer full ({len(self._items)} messages, {self.nbytes} bytes queued)"
                )
            dropped.append(self.popleft())
        self._items.append(message)
        self.nbytes += size
        return dropped

    def wait_for_room(self) -> None:
        """Wait until a message was taken out or the outbox was closed."""
        if self._closed is not None:
            raise self._closed
        self._room.clear()
        self._room.wait()

    def popleft(self) -> Message:
        """Take the oldest message."""
        message = self._items.popleft()
        self.nbytes -= len(message[1])
        self._room.set()
        return message

    def appendleft(self, message: Message) -> None:
        """Put a message back at the front (its write failed)."""
        self._items.appendleft(message)
        self.nbytes += len(message[1])

    def close(self, exc: ConnectionClosed) -> list[Message]:
        """Refuse further messages, wake blocked senders; return what was queued."""
        self._closed = exc
        items = list(self._items)
        self._items.clear()
        self.nbytes = 0
        self._room.set()
        return items

    def reopen(self) -> None:
        """Accept messages again (after a reconnect() that followed a close)."""
        self._closed = None

    def __len__(self) -> int:
        return len(self._items)

    def __bool__(self) -> bool:
        return bool(self._items)
