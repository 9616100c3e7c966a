"""websocket-client on gevent (monkey-patched, in this worker process only), with wsaccel
if installed (websocket-client picks it up by itself): a greenlet per connection pings."""

from __future__ import annotations

from gevent import monkey

monkey.patch_all()

from typing import Any  # noqa: E402

import gevent  # noqa: E402
import websocket  # noqa: E402

RUNTIME = "gevent"
LABEL = "websocket-client+gevent"


class Conn:
    __slots__ = ("pinger", "ws")

    def __init__(self, ws: websocket.WebSocket, pinger: gevent.Greenlet | None) -> None:
        self.ws = ws
        self.pinger = pinger


def _ping_every(ws: websocket.WebSocket, interval: float) -> None:
    while True:
        gevent.sleep(interval)
        ws.ping()


class Adapter:
    def open(self, url: str, ping_interval: float | None) -> Conn:
        ws = websocket.create_connection(url, timeout=60, skip_utf8_validation=False)
        pinger = gevent.spawn(_ping_every, ws, ping_interval) if ping_interval else None
        return Conn(ws, pinger)

    def send(self, conn: Conn, data: bytes) -> None:
        conn.ws.send_bytes(data)

    def recv(self, conn: Conn) -> Any:
        return conn.ws.recv()

    def close(self, conn: Conn) -> None:
        if conn.pinger is not None:
            conn.pinger.kill()
        conn.ws.close(timeout=5)


def adapter() -> Adapter:
    return Adapter()
