"""One TCP (and TLS) stream, opened with gevent's own socket and ssl modules.

Using ``gevent.socket`` and ``gevent.ssl`` directly keeps every operation
cooperative whether or not the process was monkey-patched.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import socket as stdlib_socket
import ssl

import gevent
import gevent.lock
import gevent.socket
import gevent.ssl

from ..exceptions import ConnectError, HandshakeError, TLSError
from ..protocol.uri import WebSocketURI

__all__ = ["Transport", "open_transport"]

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


def open_transport(uri: WebSocketURI, ssl_context: ssl.SSLContext | None) -> Transport:
    """Resolve, connect and, for ``wss://``, run the TLS handshake.

    The caller bounds the time (``open_timeout``). Raises :class:`ConnectError`
    or :class:`TLSError` with the low-level cause chained.
    """
    try:
        sock = gevent.socket.create_connection((uri.host, uri.port))
    except gevent.socket.gaierror as exc:
        raise ConnectError(f"cannot resolve {uri.host!r}: {exc}") from exc
    except OSError as exc:
        raise ConnectError(f"cannot connect to {uri.host}:{uri.port}: {exc}") from exc
    try:
        sock.setsockopt(stdlib_socket.IPPROTO_TCP, stdlib_socket.TCP_NODELAY, 1)
        if not uri.secure:
            return Transport(sock)
        context = ssl_context if ssl_context is not None else default_ssl_context()
        return Transport(_start_tls(sock, uri, context))
    except BaseException:  # also a kill or timeout while connecting: never leak the socket
        sock.close()
        raise


@functools.lru_cache(maxsize=1)
def default_ssl_context() -> ssl.SSLContext:
    """``ssl.create_default_context()``, made once: loading the CA store for
    every connection would cost time and memory at scale."""
    return ssl.create_default_context()


def _start_tls(
    sock: gevent.socket.socket, uri: WebSocketURI, context: ssl.SSLContext
) -> gevent.ssl.SSLSocket:
    tls: gevent.ssl.SSLSocket | None = None
    try:
        # gevent.ssl.SSLSocket accepts any ssl.SSLContext through _context (what
        # gevent's own SSLContext.wrap_socket passes); a plain context's
        # wrap_socket would build a blocking stdlib SSLSocket instead.
        tls = gevent.ssl.SSLSocket(
            sock=sock,
            server_hostname=uri.host,
            do_handshake_on_connect=False,
            _context=context,
        )
        tls.do_handshake()
    except BaseException as exc:
        if tls is not None:
            tls.close()
        if isinstance(exc, ssl.SSLError):
            raise TLSError(f"TLS handshake with {uri.host}:{uri.port} failed: {exc}") from exc
        if isinstance(exc, OSError):
            raise ConnectError(f"connection to {uri.host}:{uri.port} lost during TLS: {exc}") from exc
        raise
    return tls
