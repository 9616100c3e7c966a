"""A fault-injecting TCP proxy for the reliability tests.

It forwards 127.0.0.1:<port> to a target and can, on command, reset every
connection (RST), stall them (stop forwarding both ways, sockets kept open),
refuse new connections, and come back on the same port. ``forwarded`` counts
the bytes passed each way (``"up"``: client to server, ``"down"``: back).
"""

from __future__ import annotations

import contextlib
import socket
import struct
from typing import Any

import gevent
import gevent.event
import gevent.server
import gevent.socket


def _reset(sock: gevent.socket.socket) -> None:
    """Close with RST instead of FIN."""
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


class FaultProxy:
    """``FaultProxy(target_port)``; ``url(path)`` goes through it."""

    def __init__(self, target_port: int, port: int = 0) -> None:
        self.target_port = target_port
        self.flowing = gevent.event.Event()
        self.flowing.set()
        self.accepted = 0
        self.forwarded = {"up": 0, "down": 0}
        self._pairs: list[tuple[gevent.socket.socket, gevent.socket.socket]] = []
        self._greenlets: set[gevent.Greenlet[Any, Any]] = set()  # live pumps only
        self.server = gevent.server.StreamServer(("127.0.0.1", port), self._handle)
        self.server.start()
        self.port: int = self.server.address[1]

    def url(self, path: str = "/") -> str:
        return f"ws://127.0.0.1:{self.port}{path}"

    @property
    def active(self) -> int:
        return len(self._pairs)

    def _handle(self, client: gevent.socket.socket, address: Any) -> None:
        try:
            upstream = gevent.socket.create_connection(("127.0.0.1", self.target_port))
        except OSError:
            _reset(client)
            return
        self.accepted += 1
        pair = (client, upstream)
        self._pairs.append(pair)
        pumps = [
            gevent.spawn(self._pump, client, upstream, "up"),
            gevent.spawn(self._pump, upstream, client, "down"),
        ]
        self._greenlets.update(pumps)
        gevent.joinall(pumps)
        self._greenlets.difference_update(pumps)  # a long run must not pile up dead pumps
        for sock in pair:
            sock.close()
        if pair in self._pairs:
            self._pairs.remove(pair)

    def _pump(self, source: gevent.socket.socket, sink: gevent.socket.socket, direction: str) -> None:
        try:
            while True:
                data = source.recv(65536)
                if not data:
                    break
                self.flowing.wait()
                sink.sendall(data)
                self.forwarded[direction] += len(data)
        except OSError:
            pass
        finally:
            with contextlib.suppress(OSError):
                sink.shutdown(socket.SHUT_WR)

    def cut(self) -> None:
        """Reset every open connection, both sides."""
        for client, upstream in list(self._pairs):
            _reset(client)
            _reset(upstream)
        self._pairs.clear()

    def stall(self) -> None:
        """Stop forwarding bytes, in both directions, without closing anything."""
        self.flowing.clear()

    def resume(self) -> None:
        self.flowing.set()

    def down(self) -> None:
        """Reset every connection and refuse new ones (the port stops listening)."""
        self.server.stop(timeout=0)
        self.cut()

    def up(self) -> None:
        """Listen again on the same port."""
        self.server = gevent.server.StreamServer(("127.0.0.1", self.port), self._handle)
        self.server.start()

    def stop(self) -> None:
        self.resume()
        self.server.stop(timeout=0)
        self.cut()
        gevent.killall(list(self._greenlets), timeout=1)
