"""A Transport on one end of a real loopback TCP connection, its system calls counted."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import gevent.socket

from geventws.runtime.transport import Transport


def tcp_pair() -> tuple[gevent.socket.socket, gevent.socket.socket]:
    """Both ends of a loopback TCP connection: ``(client, server)``."""
    listener = gevent.socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    client = gevent.socket.create_connection(listener.getsockname())
    server, _ = listener.accept()
    listener.close()
    return client, server


class CountingSocket:
    """The OS socket under a gevent socket, counting its ``send`` and ``recv``
    system calls and the reads that found nothing (EAGAIN)."""

    def __init__(self, raw: Any) -> None:
        self.raw = raw
        self.sends = 0
        self.reads = 0
        self.would_block = 0

    def send(self, *args: Any) -> int:
        self.sends += 1
        return int(self.raw.send(*args))

    def recv(self, *args: Any) -> bytes:
        self.reads += 1
        try:
            return bytes(self.raw.recv(*args))
        except BlockingIOError:
            self.would_block += 1
            raise

    def __getattr__(self, name: str) -> Any:
        return getattr(self.raw, name)


def counted_transport() -> Iterator[tuple[Transport, gevent.socket.socket, CountingSocket]]:
    """For a fixture: a Transport whose system calls are counted, and the server's end."""
    client, server = tcp_pair()
    counting = CountingSocket(client._sock)
    client._sock = counting
    transport = Transport(client)
    yield transport, server, counting
    transport.abort()
    server.close()
