"""One TCP (and TLS) stream, opened with gevent's own socket and ssl modules.

Using ``gevent.socket`` and ``gevent.ssl`` directly keeps every operation
cooperative whether or not the process was monkey-patched.
"""

from __future__ import annotations

import contextlib
import logging
import socket as stdlib_socket

import gevent
import gevent.lock
import gevent.socket

from ..exceptions import HandshakeError

__all__ = ["Transport"]

logger = logging.getLogger("geventws")


class Transport:
    """A connected stream: serialised writes, reads by one greenlet.

    Every write, automatic pongs and close replies included, goes through
    :meth:`write`, which holds one gevent lock so frames never interleave.
    """

    __slots__ = ("_closed", "_write_lock", "sock")

    def __init__(self, sock: gevent.socket.socket) -> None:
        self.sock = sock
        self._write_lock = gevent.lock.Semaphore()
        self._closed = False

    def write(self, data: bytes) -> None:
        """Write all of ``data``; raise :class:`OSError` if the stream is gone."""
        with self._write_lock:
            if self._closed:
                raise ConnectionResetError("the connection is closed")
            self.sock.sendall(data)

    def recv(self, size: int) -> bytes:
        """Up to ``size`` bytes; ``b""`` at end of stream."""
        return self.sock.recv(size)

    def read_head(self, initial: bytes, limit: int) -> tuple[bytes, bytes]:
        """Read an HTTP head up to its blank line: return (head, bytes after it)."""
        data = bytearray(initial)
        start = 0
        while True:
            end = data.find(b"\r\n\r\n", start)
            if end >= 0 and end + 4 <= limit:
                return bytes(data[: end + 4]), bytes(data[end + 4 :])
            if end >= 0 or len(data) > limit:
                raise HandshakeError(f"response head longer than {limit} bytes")
            start = max(0, len(data) - 3)
            chunk = self.sock.recv(4096)
            if not chunk:
                raise HandshakeError("connection closed by the server during the handshake")
            data += chunk

    def abort(self) -> None:
        """Close the stream at once; blocked readers and writers get an error."""
        if self._closed:
            return
        self._closed = True
        with contextlib.suppress(OSError):
            self.sock.shutdown(stdlib_socket.SHUT_RDWR)
        self.sock.close()
