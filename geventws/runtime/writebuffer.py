"""What a write has left to do: a burst's coalesced frames, an interrupted frame's rest.

The frames a burst of small sends coalesces are written to the socket together.

The first small frame of a hub pass is written at once; the ones its greenlet
sends before it next yields to the hub wait here, and the hub writes them all
with one system call at the end of that pass (see :class:`Transport`). The
frames here are accepted: they are written whole, or the stream is aborted and
the ones that never reached the kernel are counted as lost.
"""

from __future__ import annotations

from collections.abc import Iterator

import gevent
import gevent.socket

__all__ = ["MAX_COALESCED", "WriteBuffer", "WriteProgress"]

#: Bytes a burst may hold: a larger one is written by the sender itself (back-pressure).
MAX_COALESCED = 64 * 1024


class WriteBuffer:
    """Encoded frames in wire order, and where each message ends."""

    __slots__ = ("data", "ends")

    def __init__(self) -> None:
        self.data = bytearray()
        self.ends: list[int] = []

    def add(self, frame: bytes, message: bool) -> bool:
        """Append one encoded frame (``message``: a data frame, counted if
        lost); ``False`` (nothing added) if it would make the buffer larger
        than :data:`MAX_COALESCED`."""
        data = self.data
        if len(data) + len(frame) > MAX_COALESCED:
            return False
        data += frame
        if message:
            self.ends.append(len(data))
        return True

    def unwritten(self, written: int) -> int:
        """How many messages did not reach the kernel whole when only the
        first ``written`` bytes did."""
        return sum(1 for end in self.ends if end > written)


class WriteProgress:
    """Where one write stands. ``started``: its first byte reached the socket,
    or its message was compressed (from then on it is written whole, or the
    transport aborted). ``done``: written whole."""

    __slots__ = ("coalesced", "done", "offset", "pieces", "started", "view")

    def __init__(self) -> None:
        self.pieces: Iterator[bytes] = iter(())
        self.view = memoryview(b"")
        self.offset = 0
        self.started = False
        self.done = False
        #: The coalesced frames written first, if any.
        self.coalesced: WriteBuffer | None = None

    def coalesced_lost(self) -> int:
        """How many coalesced messages are not written whole (after a failure)."""
        buffer = self.coalesced
        if buffer is None or self.view.obj is not buffer.data:
            return 0  # none, or all written: the write moved past them
        return buffer.unwritten(self.offset)

    def run(self, sock: gevent.socket.socket) -> None:
        """Write the remaining pieces. Resumable: after an interruption, calling
        it again goes on from the first byte not yet written."""
        while True:
            view = self.view
            while self.offset < len(view):
                # One send() at a time: when an interruption comes while it
                # waits for the socket, nothing of that call was written.
                sent = sock.send(view[self.offset :])
                self.offset += sent
                self.started = self.started or sent > 0
            piece = next(self.pieces, None)
            if piece is None:
                self.done = True
                return
            # Kept before yielding: an interruption in the sleep must not lose it.
            self.view = memoryview(piece)
            self.offset = 0
            if self.started:
                _yield_to_hub()  # between the chunks of a large frame


def _yield_to_hub() -> None:
    """Let the hub run one whole loop iteration (timers, I/O, other greenlets).

    ``gevent.sleep(0)`` would only run other callbacks: timers and I/O could
    wait for up to 50 chunks. Any positive sleep lasts until the next iteration.
    """
    gevent.sleep(1e-6)
