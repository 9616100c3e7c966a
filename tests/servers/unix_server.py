"""The test server of tests/servers/ws_server.py on a Unix domain socket.

Run as ``python -m tests.servers.unix_server PATH``; prints ``PORT 0`` once
listening (the line ServerProcess waits for) and exits when stdin closes.
"""

from __future__ import annotations

import asyncio
import sys

from websockets.asyncio.server import unix_serve

from tests.servers.ws_server import handler, process_request


async def main(path: str) -> None:
    async with unix_serve(handler, path, process_request=process_request, ping_interval=None):
        print("PORT 0", flush=True)
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, sys.stdin.read)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
