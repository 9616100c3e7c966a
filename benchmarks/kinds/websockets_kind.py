"""python-websockets' asyncio client (its own keepalive), on the stdlib event loop."""

from __future__ import annotations

from typing import Any

RUNTIME = "asyncio"
LABEL = "websockets asyncio"
UVLOOP = False


class Adapter:
    async def open(self, url: str, ping_interval: float | None) -> Any:
        from websockets.asyncio.client import connect

        return await connect(
            url, ping_interval=ping_interval, compression=None, max_size=None, open_timeout=60
        )

    async def send(self, conn: Any, data: bytes) -> None:
        await conn.send(data)

    async def recv(self, conn: Any) -> Any:
        return await conn.recv()

    async def close(self, conn: Any) -> None:
        await conn.close()


async def adapter() -> Adapter:
    return Adapter()
