"""picows (Cython) on uvloop: callbacks into a small box; its own periodic auto-ping."""

from __future__ import annotations

import asyncio
from typing import Any

from benchmarks.kinds.inbox import Box

RUNTIME = "asyncio"
LABEL = "picows"
UVLOOP = True


def _listener_class() -> Any:
    from picows import WSFrame, WSListener, WSMsgType, WSTransport

    class Listener(WSListener):  # type: ignore[misc]
        def __init__(self) -> None:
            self.box = Box()
            self.transport: WSTransport | None = None

        def on_ws_connected(self, transport: WSTransport) -> None:
            self.transport = transport

        def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
            kind = frame.msg_type
            if kind == WSMsgType.BINARY or kind == WSMsgType.TEXT:
                self.box.put(frame.get_payload_as_bytes())
            elif kind == WSMsgType.CLOSE:
                transport.send_close(frame.get_close_code())
                transport.disconnect()

        def on_ws_disconnected(self, transport: WSTransport) -> None:
            self.box.close()

    return Listener


class Adapter:
    def __init__(self) -> None:
        from picows import WSAutoPingStrategy, WSMsgType, ws_connect

        self.connect = ws_connect
        self.binary = WSMsgType.BINARY
        self.periodic = WSAutoPingStrategy.PING_PERIODICALLY
        self.listener = _listener_class()

    async def open(self, url: str, ping_interval: float | None) -> Any:
        _, listener = await self.connect(
            self.listener,
            url,
            enable_auto_ping=bool(ping_interval),
            # picows pings every idle + reply timeout: half each makes the period ping_interval
            auto_ping_idle_timeout=(ping_interval or 10) / 2,
            auto_ping_reply_timeout=(ping_interval or 10) / 2,
            auto_ping_strategy=self.periodic,
            max_frame_size=64 * 2**20,
            websocket_handshake_timeout=60,
        )
        return listener

    async def send(self, conn: Any, data: bytes) -> None:
        conn.transport.send(self.binary, data)

    async def recv(self, conn: Any) -> Any:
        return await conn.box.get()

    async def close(self, conn: Any) -> None:
        conn.transport.send_close()
        await asyncio.wait_for(conn.transport.wait_disconnected(), 10)


async def adapter() -> Adapter:
    return Adapter()
