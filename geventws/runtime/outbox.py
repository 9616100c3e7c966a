"""The outbox: messages sent while the connection is not open, bounded, and how a send becomes a frame."""

from __future__ import annotations

import collections
from collections.abc import Callable
from typing import Protocol

import gevent.event

from ..exceptions import ConnectionClosed, InvalidMessage, SendBufferFull
from ..protocol.codes import OP_BINARY, OP_TEXT
from ..protocol.options import BINARY_TYPE_ARRAYBUFFER, BINARY_TYPE_BLOB
from .transport import WriteProgress

__all__ = ["Message", "Outbox", "message_for"]

#: A queued message: (opcode, payload).
Message = tuple[int, bytes]


def message_for(data: str | bytes, websocket_type: str | None) -> Message:
    """The frame to send for ``data``: text for ``str``, binary for bytes,
    unless ``websocket_type`` forces one kind."""
    if isinstance(data, str):
        opcode = OP_BINARY if websocket_type == BINARY_TYPE_ARRAYBUFFER else OP_TEXT
        try:
            return opcode, data.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise InvalidMessage(f"text is not encodable as UTF-8: {exc}") from exc
    if isinstance(data, (bytes, bytearray, memoryview)):
        payload = bytes(data)
        if websocket_type != BINARY_TYPE_BLOB:
            return OP_BINARY, payload
        try:
            payload.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InvalidMessage(
                "websocket_type is BINARY_TYPE_BLOB (text frames) but the bytes are not UTF-8"
            ) from exc
        return OP_TEXT, payload
    raise TypeError(f"send() takes str or bytes, not {type(data).__name__}")


class OutboxListener(Protocol):
    """What the outbox tells (the connection)."""

    def _buffer_full(self) -> None:
        """A message did not fit."""

    def _sends_lost(self, text: str) -> None:
        """Queued messages will never be sent (``text`` says which)."""


class Outbox:
    """A FIFO of messages waiting for the next handshake, and its full-buffer policy.

    Bounded by ``max_bytes`` and/or ``max_messages`` (``None``: no bound).
    When a message does not fit, :meth:`offer` tells the listener
    (``_buffer_full()``), then applies the policy: ``"drop_oldest"`` drops
    the oldest messages (reported with ``_sends_lost(text)``), ``"fail"``
    raises :class:`SendBufferFull`,
    ``"block"`` waits until a message was taken out and lets the sender decide
    again (the connection may be open by then).
    """

    __slots__ = (
        "_closed",
        "_in_flight",
        "_items",
        "_listener",
        "_room",
        "max_bytes",
        "max_messages",
        "nbytes",
        "policy",
    )

    def __init__(
        self,
        max_bytes: int | None,
        max_messages: int | None,
        policy: str,
        *,
        listener: OutboxListener | None = None,
    ) -> None:
        # Made on the first queued message, dropped once empty: most connections never queue.
        self._items: collections.deque[Message] | None = None
        #: Payload bytes queued.
        self.nbytes = 0
        self.max_bytes = max_bytes
        self.max_messages = max_messages
        self.policy = policy
        self._listener = listener
        self._room: gevent.event.Event | None = None  # made for a sender that waits ("block")
        self._closed: ConnectionClosed | None = None
        self._in_flight: tuple[Message, WriteProgress] | None = None

    def fits(self, size: int) -> bool:
        """Whether a message of ``size`` bytes fits now."""
        if self.max_messages is not None and len(self) + 1 > self.max_messages:
            return False
        return self.max_bytes is None or not self or self.nbytes + size <= self.max_bytes

    def offer(self, message: Message, *, notify_full: bool = True) -> bool:
        """Queue ``message`` under the policy; ``False`` when, under ``"block"``,
        it waited for room instead: the sender decides again.

        ``notify_full``: tell the listener if it does not fit (once per send,
        not at every retry). Raises the exception given to :meth:`close`.
        """
        if self._closed is not None:
            raise self._closed
        size = len(message[1])
        if not self.fits(size):
            if notify_full and self._listener is not None:
                self._listener._buffer_full()
            if self.policy == "block":
                self._wait_for_room()
                return False
            self._make_room(size)
        self._queue().append(message)
        self.nbytes += size
        return True

    def _make_room(self, size: int) -> None:
        if self.policy != "drop_oldest":
            raise SendBufferFull(f"send buffer full ({len(self)} messages, {self.nbytes} bytes queued)")
        dropped: list[Message] = []
        while not self.fits(size):
            dropped.append(self._popleft())
        if dropped:
            self._lost(f"send buffer full: dropped the {_describe(dropped, 'oldest ')}")

    def _wait_for_room(self) -> None:
        """Wait until a message was taken out or the outbox was closed."""
        if self._closed is not None:
            raise self._closed
        room = self._room
        if room is None:
            room = self._room = gevent.event.Event()
        room.clear()
        room.wait()

    def flush(
        self, write: Callable[[Message, WriteProgress], object], stop: Callable[[], bool] = lambda: False
    ) -> bool:
        """Write the queued messages in order with ``write`` until ``stop()``
        (checked before each message: a close began); whether there were any.

        A message whose write failed (the stream died: it may not have arrived
        whole) or was interrupted before its first byte stays queued, at the
        front, for the next connection or for the report when the connection
        finishes. One interrupted after its first byte is being finished by the
        transport: it is kept aside until the next flush or :meth:`close`, and
        put back at the front then unless it was written whole.
        """
        self._settle_in_flight()
        flushed = bool(self)
        while self and not stop():
            message = self._popleft()
            progress = WriteProgress()
            try:
                write(message, progress)
            except BaseException as exc:
                if isinstance(exc, Exception) or not progress.started:
                    self._push_front(message)
                else:
                    self._in_flight = (message, progress)
                raise
        return flushed

    def _settle_in_flight(self) -> None:
        """The interrupted write that the transport was finishing: put it back
        unless it was written whole (by now the stream it was written to ended)."""
        in_flight, self._in_flight = self._in_flight, None
        if in_flight is not None and not in_flight[1].done:
            self._push_front(in_flight[0])

    def _queue(self) -> collections.deque[Message]:
        if self._items is None:
            self._items = collections.deque()
        return self._items

    def _push_front(self, message: Message) -> None:
        self._queue().appendleft(message)
        self.nbytes += len(message[1])

    def _popleft(self) -> Message:
        items = self._queue()
        message = items.popleft()
        if not items:
            self._items = None
        self.nbytes -= len(message[1])
        self._wake_senders()
        return message

    def _wake_senders(self) -> None:
        if self._room is not None:
            self._room.set()

    def close(self, exc: ConnectionClosed) -> None:
        """Refuse further messages (``exc``), wake blocked senders, drop what was queued."""
        self._closed = exc
        self._settle_in_flight()
        items = list(self._items or ())
        self._items = None
        self.nbytes = 0
        self._wake_senders()
        if items:
            self._lost(f"{_describe(items)} were never sent: the connection is finished")

    def _lost(self, text: str) -> None:
        if self._listener is not None:
            self._listener._sends_lost(text)

    def reopen(self) -> None:
        """Accept messages again (after a reconnect() that followed a close)."""
        self._closed = None

    def __len__(self) -> int:
        return len(self._items) if self._items is not None else 0

    def __bool__(self) -> bool:
        return bool(self._items)


def _describe(messages: list[Message], which: str = "") -> str:
    size = sum(len(payload) for _, payload in messages)
    return f"{len(messages)} {which}queued message(s), {size} bytes"
