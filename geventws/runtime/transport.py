"""One TCP (and TLS) stream, opened with gevent's own socket and ssl modules.

Using ``gevent.socket`` and ``gevent.ssl`` directly keeps every operation
cooperative whether or not the process was monkey-patched.
"""

from __future__ import annotations

import contextlib
import logging
import socket as stdlib_socket
from collections.abc import Callable, Iterator
from typing import Protocol

import gevent
import gevent.lock
import gevent.socket

from ..protocol.extensions import PerMessageDeflate
from ..protocol.writer import (
    CHUNK_SIZE,
    OP_BINARY,
    OP_TEXT,
    Payload,
    WireForm,
    compress_message,
    encode_frame,
    encode_small_frame,
    frame_chunks,
)
from .bursts import bursts_for
from .greenlets import spawn
from .readturn import ReadTurn
from .writebuffer import WriteBuffer, WriteProgress

__all__ = ["Transport", "WriteProgress"]  # WriteProgress: for the callers of send_frame

logger = logging.getLogger("geventws")

#: The most :meth:`Transport.settle` waits: writes fail at once on an aborted
#: stream, so reaching it means something holds the write lock it should not.
SETTLE_TIMEOUT = 5.0


class FrameSink(Protocol):
    """What a transport tells of each frame it wrote (the counters, or the observer with a trace)."""

    def sent(self, opcode: int, payload: Payload, fin: bool, wire: WireForm | None = None) -> None:
        """A frame was written whole; ``wire``: ``(rsv1, payload on the wire)``
        when that differs from the message's ``payload`` (compressed)."""


class Transport:
    """A connected stream: whole frames written under one lock, reads by one greenlet.

    Every write, automatic pongs and close replies included, goes through
    :meth:`send_frame`, :meth:`try_send_now` or :meth:`write`, which hold one
    gevent lock for the whole frame, so frames never interleave.

    A write is whole or not at all. Interrupting the writing greenlet
    (``gevent.Timeout``, ``kill()``, any ``BaseException``) before its first
    byte reaches the socket cancels the write; after that, the caller's
    exception propagates at once while a helper greenlet, still holding the
    lock, writes the rest. If the stream fails part-way (or the helper is
    killed), the transport is aborted: never a partial frame followed by
    another frame.

    With permessage-deflate agreed, :attr:`deflate` is set and text and
    binary messages are compressed under the lock, so that the compression
    context follows the wire order. A compressed message is committed: an
    interruption after its compression finishes the write (the server's
    inflater must see every message the compressor saw).

    Small frames sent in a burst are coalesced: the first one of a hub pass
    is written at once; the ones the same greenlet sends before it next
    yields to the hub join a :class:`WriteBuffer` that the hub writes in one
    system call at the end of that pass (over TLS, or when a writer holds the
    lock, a helper greenlet writes it; the next writer writes it first, in
    wire order). They are accepted when :meth:`send_frame` returns: written whole,
    or counted in :attr:`unwritten` if the stream dies before they reach the
    kernel.
    """

    __slots__ = (
        "_burst",
        "_bursts",
        "_closed",
        "_coalesced",
        "_drained",
        "_write_lock",
        "deflate",
        "sent_to",
        "sock",
        "turn",
        "unwritten",
    )

    def __init__(self, sock: gevent.socket.socket) -> None:
        self.sock = sock
        #: Told ``sent(opcode, payload, fin)`` after each frame is written (counters, trace).
        self.sent_to: FrameSink | None = None
        self._write_lock = gevent.lock.Semaphore()
        self._closed = False
        #: permessage-deflate, once agreed: the writes use its sending half.
        self.deflate: PerMessageDeflate | None = None
        #: Messages accepted (coalesced) that never reached the kernel whole: the stream died first.
        self.unwritten = 0
        self._bursts = bursts_for()
        self._burst = False  # a frame went out at once in this hub pass: the next ones coalesce
        self._coalesced: WriteBuffer | None = None  # while it exists, a write of it is due
        self._drained = False  # the last read took less than asked: the socket is likely empty
        #: Who reads next, the receive loop or a ``recv()`` caller (plain TCP; set by the session).
        self.turn: ReadTurn | None = None

    @property
    def closed(self) -> bool:
        """Whether :meth:`abort` was called: every later write fails."""
        return self._closed

    def send_frame(
        self, opcode: int, payload: Payload, fin: bool = True, progress: WriteProgress | None = None
    ) -> None:
        """Mask and write one frame; a large payload chunk by chunk, letting
        other greenlets run between chunks.

        Raises :class:`ValueError`/:class:`TypeError` for a bad frame (before
        anything is written), :class:`OSError` if the stream is gone. After an
        interruption, ``progress`` (if given) tells whether the frame was
        cancelled (``not progress.started``) or is being finished.
        """
        deflate = self.deflate
        if deflate is not None and fin and opcode in (OP_TEXT, OP_BINARY):
            wire: list[WireForm] = []  # what went out: the trace shows that

            def compressed() -> Iterator[bytes]:
                rsv1, data = compress_message(opcode, payload, deflate)
                wire.append((rsv1, data))
                return frame_chunks(opcode, data, rsv1=rsv1)

            self._write_whole(compressed, progress, commit=True)
            if self.sent_to is not None:
                self.sent_to.sent(opcode, payload, fin, wire[0] if wire[0][0] else None)
            return
        if not self._send_at_once(opcode, payload, fin, progress):
            pieces = frame_chunks(opcode, payload, fin)
            self._write_whole(lambda: pieces, progress)
            if not self._burst and type(self.sock) is not gevent.socket.socket:
                self._start_burst()  # TLS: the frames sent next in this hub pass coalesce
        if self.sent_to is not None:
            self.sent_to.sent(opcode, payload, fin)

    def _send_at_once(self, opcode: int, payload: Payload, fin: bool, progress: WriteProgress | None) -> bool:
        """The fast path of a small frame: one system call and no bookkeeping;
        whether it took the frame (then it is written, or being written under
        the lock). What the socket did not take is written the careful way,
        lock held."""
        if type(payload) is not bytes or len(payload) > CHUNK_SIZE:
            return False
        if self._burst or self._coalesced is not None:
            frame = encode_small_frame(opcode, payload) if fin else encode_frame(opcode, payload, fin)
            if not self._coalesce(frame, opcode):
                return False  # it does not fit: the careful path writes the buffer, then it
        else:
            started = self._start_at_once(opcode, payload, fin)
            if started is None:
                return False
            data, sent = started
            if sent < len(data):
                pending = WriteProgress() if progress is None else progress
                pending.view, pending.offset, pending.started = memoryview(data), sent, sent > 0
                self._write_whole(lambda: iter(()), pending, held=True)
                return True
            self._write_lock.release()
            self._start_burst()
        if progress is not None:
            progress.started = progress.done = True
        return True

    def _start_burst(self) -> None:
        self._burst = True
        self._bursts.add(self)

    def _coalesce(self, frame: bytes, opcode: int) -> bool:
        """Add ``frame`` to the write due at the end of this hub pass; whether it fit."""
        if self._closed:
            return False
        buffer = self._coalesced
        if buffer is None:
            buffer = self._coalesced = WriteBuffer()
        return buffer.add(frame, message=opcode < 8)

    def _end_burst(self) -> None:
        """The hub's turn (a callback): write what the burst coalesced, without
        waiting. Never raises: a failure aborts the stream."""
        self._burst = False
        buffer = self._coalesced
        if buffer is None or self._closed:
            return
        lock = self._write_lock
        if type(self.sock) is not gevent.socket.socket or not lock.acquire(blocking=False):
            # TLS (the ssl module's writes may wait), or a writer holds the lock:
            # a helper greenlet writes the buffer, after that writer, in order.
            spawn(self._write_coalesced, name="geventws-write-burst")
            return
        self._coalesced = None
        data = buffer.data
        try:
            sent: int = self.sock._sock.send(data)  # type: ignore[attr-defined]  # non-blocking
        except BlockingIOError:
            sent = 0
        except Exception as exc:  # the stream failed: nothing of the burst was written
            logger.debug("a coalesced write failed: %r", exc)
            self.unwritten += buffer.unwritten(0)
            lock.release()
            self.abort()
            return
        if sent == len(data):
            lock.release()
            return
        pending = WriteProgress()
        pending.view, pending.offset, pending.started = memoryview(data), sent, True
        pending.coalesced = buffer
        self._finish_in_background(pending)  # it releases the lock

    def _write_coalesced(self) -> None:
        """Write the coalesced frames once the lock is free (a helper greenlet)."""
        try:
            self._write_whole(lambda: iter(()), None)
        except Exception as exc:  # counted in unwritten; the receive loop sees the dead stream
            logger.debug("a coalesced write failed: %r", exc)

    def try_send_now(self, opcode: int, payload: bytes) -> bool:
        """Write a small control frame at once, if nothing is being written and
        the socket takes it without waiting; whether it did. Never blocks, so
        the hub may call it (keepalive's timer). A frame the socket took only
        in part is finished by a helper greenlet, as after an interruption.
        """
        if self._burst or self._coalesced is not None:
            if not self._coalesce(encode_small_frame(opcode, payload), opcode):
                return False
            if self.sent_to is not None:
                self.sent_to.sent(opcode, payload, True)
            return True
        try:
            started = self._start_at_once(opcode, payload, True)
        except OSError:  # the stream failed: the blocking path will tell
            return False
        if started is None:
            return False
        data, sent = started
        if not sent:
            self._write_lock.release()
            return False
        if sent < len(data):
            pending = WriteProgress()
            pending.view, pending.offset, pending.started = memoryview(data), sent, True
            self._finish_in_background(pending)  # it releases the lock
        else:
            self._write_lock.release()
        if self.sent_to is not None:
            self.sent_to.sent(opcode, payload, True)
        return True

    def _start_at_once(
        self, opcode: int, payload: bytes, fin: bool, data: bytes | None = None
    ) -> tuple[bytes, int] | None:
        """Take the lock if free and hand the frame (or ``data``, bytes already
        made: the handshake request) to the OS socket without waiting:
        ``(bytes, bytes taken)``, the lock still held; ``None`` when the lock is
        busy or the stream is not plain TCP (TLS records are the ``ssl``
        module's to write). Nothing here blocks, so nothing can interrupt it
        half-way; on an error (a bad frame, a dead stream) nothing was written
        and the lock is released."""
        lock = self._write_lock
        if (
            self._closed
            or self._coalesced is not None  # they go first
            or type(self.sock) is not gevent.socket.socket
            or not lock.acquire(blocking=False)
        ):
            return None
        try:
            if data is None:
                data = encode_small_frame(opcode, payload) if fin else encode_frame(opcode, payload, fin)
            try:
                sent: int = self.sock._sock.send(data)  # type: ignore[attr-defined]  # non-blocking
            except BlockingIOError:
                sent = 0
        except BaseException:
            lock.release()
            raise
        return data, sent

    def write(self, data: bytes) -> None:
        """Write all of ``data`` (the handshake request): on plain TCP in one
        system call when the socket takes it, else the careful way."""
        started = self._start_at_once(0, b"", True, data)
        if started is None:
            self._write_whole(lambda: iter((data,)), None)
            return
        sent = started[1]
        if sent == len(data):
            self._write_lock.release()
            return
        pending = WriteProgress()
        pending.view, pending.offset, pending.started = memoryview(data), sent, sent > 0
        self._write_whole(lambda: iter(()), pending, held=True)

    def _write_whole(
        self,
        pieces: Callable[[], Iterator[bytes]],
        progress: WriteProgress | None,
        commit: bool = False,
        held: bool = False,
    ) -> None:
        """Write the frame ``pieces()`` makes, under the lock (``held``: already
        taken); ``commit``: the frame is started (written whole, or the stream
        aborted) once made. Coalesced frames waiting for the lock go first,
        committed, and commit this frame with them."""
        pending = WriteProgress() if progress is None else progress
        lock = self._write_lock
        if not held:
            lock.acquire()  # interrupted here: nothing was written, nothing to undo
        try:
            if self._closed:
                raise ConnectionResetError("the connection is closed")
            made = pieces()  # a bad frame raises here, before anything is taken or written
            buffer = self._coalesced
            if buffer is not None:
                self._coalesced = None
                pending.view, pending.offset, pending.coalesced = memoryview(buffer.data), 0, buffer
                commit = True
            pending.pieces = made
            if commit:
                pending.started = True
            pending.run(self.sock)
        except Exception:
            self.unwritten += pending.coalesced_lost()
            if pending.started:
                self.abort()  # the stream holds part of a frame: unusable
            lock.release()
            raise
        except BaseException:
            if pending.started and not pending.done:
                self._finish_in_background(pending)  # it releases the lock
            else:
                lock.release()
            raise
        lock.release()

    def _finish_in_background(self, pending: WriteProgress) -> None:
        """Write the rest of an interrupted frame in a helper greenlet that holds the lock."""

        def finish() -> None:
            try:
                pending.run(self.sock)
            except Exception as exc:  # the stream failed: the link aborts it
                logger.debug("the rest of an interrupted frame could not be written: %r", exc)

        def finished(_: gevent.Greenlet[[], None]) -> None:
            if not pending.done:
                self.unwritten += pending.coalesced_lost()
                self.abort()  # failed, or killed before the end
            self._write_lock.release()

        helper = gevent.Greenlet(finish)
        helper.name = "geventws-write-rest"
        helper.link(finished)
        helper.start()

    def recv(self, size: int) -> bytes:
        """Up to ``size`` bytes; ``b""`` at end of stream."""
        sock = self.sock
        if self._drained and not self._closed and type(sock) is gevent.socket.socket:
            # The last read emptied the socket: wait for data before reading,
            # instead of a read that fails with EAGAIN first (a system call and
            # an exception per message on a request/response exchange).
            sock._wait(sock._read_event)  # type: ignore[attr-defined]
        data: bytes = sock.recv(size)
        self._drained = len(data) < size
        return data

    @property
    def drained(self) -> bool:
        """Whether the last read found the socket empty (wait before reading again)."""
        return self._drained

    def recv_ready(self, size: int) -> bytes | None:
        """Up to ``size`` bytes the socket holds now (plain TCP), ``None`` if it
        holds none; never waits. ``b""`` at end of stream."""
        try:
            data: bytes = self.sock._sock.recv(size)  # type: ignore[attr-defined]  # non-blocking
        except BlockingIOError:
            self._drained = True
            return None
        self._drained = len(data) < size
        return data

    def settle(self, timeout: float = SETTLE_TIMEOUT) -> bool:
        """After :meth:`abort`: wait until no write is in progress, so that
        :attr:`unwritten` counts every accepted message the stream never took
        (a helper greenlet finishing a burst notices the closed socket only at
        its next turn); whether it settled within ``timeout`` seconds. Every
        write fails fast on the closed socket, so this returns at once or after
        a few turns of the hub."""
        lock = self._write_lock
        if not lock.acquire(timeout=timeout):
            return False
        lock.release()
        return True

    def abort(self) -> None:
        """Close the stream at once; blocked readers and writers get an error."""
        if self._closed:
            return
        self._closed = True
        if self.turn is not None:
            self.turn.cancel()  # before the socket closes: see ReadTurn.cancel
        buffer = self._coalesced
        if buffer is not None:
            self._coalesced = None
            self.unwritten += buffer.unwritten(0)
        with contextlib.suppress(OSError):
            self.sock.shutdown(stdlib_socket.SHUT_RDWR)
        self.sock.close()
