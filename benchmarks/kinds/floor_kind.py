"""The raw-socket floor: a hand-written minimal client on asyncio (uvloop) protocols.

Enough WebSocket to talk to the echo server and nothing more: a fixed
upgrade request (the 101 is taken on trust), a zero mask key (valid framing,
no masking work), server frames parsed just enough, pings from one timer per
connection. No client can do less work per message: the floor.
"""

from __future__ import annotations

import asyncio
import base64
import os
import struct
from typing import Any
from urllib.parse import urlsplit

from benchmarks.kinds.inbox import Box

RUNTIME = "asyncio"
LABEL = "raw-socket floor"
UVLOOP = True

_ZERO_MASK = b"\x00\x00\x00\x00"


def client_frame(opcode: int, payload: bytes) -> bytes:
    """A masked client frame with the zero key (the payload goes out as it is)."""
    n = len(payload)
    if n < 126:
        head = bytes((0x80 | opcode, 0x80 | n))
    elif n < 1 << 16:
        head = struct.pack("!BBH", 0x80 | opcode, 0xFE, n)
    else:
        head = struct.pack("!BBQ", 0x80 | opcode, 0xFF, n)
    return head + _ZERO_MASK + payload


class FloorProtocol(asyncio.Protocol):
    def __init__(self, request: bytes, ping_interval: float | None) -> None:
        self.request = request
        self.ping_interval = ping_interval
        self.box = Box()
        self.buffer = bytearray()
        self.opened: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.transport: asyncio.Transport | None = None
        self.timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's are not asyncio.Transport subclasses
        transport.write(self.request)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if not self.opened.done():
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            del self.buffer[: end + 4]
            self.opened.set_result(None)
            self._schedule_ping()
        position = 0
        while True:
            consumed = self._one_frame(position)
            if not consumed:
                break
            position += consumed
        del self.buffer[:position]  # once per read: deleting per frame moves the rest each time

    def _one_frame(self, at: int) -> int:
        """Handle the frame at ``at`` if it is whole; how many bytes it took (0: not yet)."""
        buf = self.buffer
        available = len(buf) - at
        if available < 2:
            return 0
        length, offset = buf[at + 1] & 0x7F, 2
        if length == 126:
            if available < 4:
                return 0
            (length,), offset = struct.unpack_from("!H", buf, at + 2), 4
        elif length == 127:
            if available < 10:
                return 0
            (length,), offset = struct.unpack_from("!Q", buf, at + 2), 10
        if available < offset + length:
            return 0
        opcode = buf[at] & 0x0F
        if opcode in (0x1, 0x2):
            with memoryview(buf) as view:
                self.box.put(bytes(view[at + offset : at + offset + length]))
        elif opcode == 0x8 and self.transport is not None:
            self.transport.close()
        return offset + length

    def _schedule_ping(self) -> None:
        if self.ping_interval:
            self.timer = asyncio.get_running_loop().call_later(self.ping_interval, self._ping)

    def _ping(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(client_frame(0x9, b""))
            self._schedule_ping()

    def connection_lost(self, exc: Exception | None) -> None:
        if self.timer is not None:
            self.timer.cancel()
        if not self.opened.done():
            self.opened.set_exception(ConnectionError("closed before the upgrade"))
        self.box.close()


class Adapter:
    async def open(self, url: str, ping_interval: float | None) -> FloorProtocol:
        parts = urlsplit(url)
        key = base64.b64encode(os.urandom(16)).decode()
        request = (
            f"GET {parts.path or '/'} HTTP/1.1\r\nHost: {parts.netloc}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        ).encode()
        loop = asyncio.get_running_loop()
        _, protocol = await loop.create_connection(
            lambda: FloorProtocol(request, ping_interval), parts.hostname, parts.port
        )
        await asyncio.wait_for(protocol.opened, 60)
        return protocol

    async def send(self, conn: FloorProtocol, data: bytes) -> None:
        assert conn.transport is not None
        conn.transport.write(client_frame(0x2, data))

    async def recv(self, conn: FloorProtocol) -> Any:
        return await conn.box.get()

    async def close(self, conn: FloorProtocol) -> None:
        assert conn.transport is not None
        conn.transport.write(client_frame(0x8, struct.pack("!H", 1000)))
        conn.transport.close()  # after the buffered close frame is written


async def adapter() -> Adapter:
    return Adapter()
