"""A minimal asyncio WebSocket echo server: the fallback when picows is not installed.

Enough of RFC 6455 for the benchmark: the upgrade, masked client frames,
echo of data frames as they came, pongs, and the closing handshake.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import struct
import time
from collections.abc import Callable

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def unmask(key: bytes, data: bytes) -> bytes:
    """XOR ``data`` with the 4-byte ``key``, a whole int at a time."""
    n = len(data)
    if not n:
        return b""
    repeated = int.from_bytes((key * (n // 4 + 1))[:n], "little")
    return (int.from_bytes(data, "little") ^ repeated).to_bytes(n, "little")


def server_frame(first_byte: int, payload: bytes) -> bytes:
    """An unmasked frame with the given first byte (FIN, opcode)."""
    n = len(payload)
    if n < 126:
        return bytes((first_byte, n)) + payload
    if n < 1 << 16:
        return struct.pack("!BBH", first_byte, 126, n) + payload
    return struct.pack("!BBQ", first_byte, 127, n) + payload


class EchoProtocol(asyncio.Protocol):
    """One client: the upgrade, then echo."""

    def __init__(self, pings: list[float]) -> None:
        self.pings = pings
        self.buffer = bytearray()
        self.upgraded = False
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's are not asyncio.Transport subclasses

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if not self.upgraded and not self._upgrade():
            return
        while self._one_frame():
            pass

    def _upgrade(self) -> bool:
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0:
            return False
        head = bytes(self.buffer[:end]).decode("latin-1")
        del self.buffer[: end + 4]
        key = next(
            line.split(":", 1)[1].strip()
            for line in head.split("\r\n")
            if ":" in line and line.split(":", 1)[0].strip().lower() == "sec-websocket-key"
        )
        accept = base64.b64encode(hashlib.sha1(key.encode() + GUID).digest()).decode()
        assert self.transport is not None
        self.transport.write(
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            + f"Sec-WebSocket-Accept: {accept}\r\n\r\n".encode()
        )
        self.upgraded = True
        return True

    def _one_frame(self) -> bool:
        buf = self.buffer
        if len(buf) < 2:
            return False
        b1, b2 = buf[0], buf[1]
        length, offset = b2 & 0x7F, 2
        if length == 126:
            if len(buf) < 4:
                return False
            (length,) = struct.unpack_from("!H", buf, 2)
            offset = 4
        elif length == 127:
            if len(buf) < 10:
                return False
            (length,) = struct.unpack_from("!Q", buf, 2)
            offset = 10
        if len(buf) < offset + 4 + length:
            return False
        key = bytes(buf[offset : offset + 4])
        payload = unmask(key, bytes(buf[offset + 4 : offset + 4 + length]))
        del buf[: offset + 4 + length]
        self._handle(b1, payload)
        return True

    def _handle(self, b1: int, payload: bytes) -> None:
        assert self.transport is not None
        opcode = b1 & 0x0F
        if opcode == 0x9:
            self.pings.append(time.monotonic())
            self.transport.write(server_frame(0x8A, payload))
        elif opcode == 0x8:
            self.transport.write(server_frame(0x88, payload))
            self.transport.close()
        elif opcode != 0xA:
            self.transport.write(server_frame(b1 & 0x8F, payload))


async def raw_server(host: str, port: int, new_ping_log: Callable[[], list[float]]) -> asyncio.Server:
    """Listen on ``host``; each connection records its pings in a fresh log."""
    loop = asyncio.get_running_loop()
    return await loop.create_server(lambda: EchoProtocol(new_ping_log()), host, port, backlog=4096)
