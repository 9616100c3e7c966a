"""aiohttp's client (heartbeat = keepalive), one session, no connection limit, stdlib loop."""

from __future__ import annotations

from typing import Any

RUNTIME = "asyncio"
LABEL = "aiohttp"
UVLOOP = False


class Adapter:
    def __init__(self) -> None:
        import aiohttp

        self.session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))

    async def open(self, url: str, ping_interval: float | None) -> Any:
        return await self.session.ws_connect(url, heartbeat=ping_interval, compress=0, max_msg_size=0)

    async def send(self, conn: Any, data: bytes) -> None:
        await conn.send_bytes(data)

    async def recv(self, conn: Any) -> Any:
        return (await conn.receive()).data

    async def close(self, conn: Any) -> None:
        await conn.close()

    async def finish(self) -> None:
        await self.session.close()


async def adapter() -> Adapter:
    return Adapter()
