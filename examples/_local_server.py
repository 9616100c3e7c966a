"""A local echo server for the examples, so they run with no outside server.

It is the ``websockets`` package (an independent implementation, installed by
``pip install .[examples]``) serving on 127.0.0.1 in a background OS thread.
"""

from __future__ import annotations

import asyncio
import threading


def start_echo_server() -> str:
    """Start the echo server; return its ``ws://`` URL."""
    from websockets.asyncio.server import ServerConnection, serve

    async def echo(ws: ServerConnection) -> None:
        async for message in ws:
            await ws.send(message)

    ready = threading.Event()
    address: list[int] = []

    async def main() -> None:
        async with serve(echo, "127.0.0.1", 0) as server:
            address.append(server.sockets[0].getsockname()[1])
            ready.set()
            await asyncio.Future()  # until the process exits

    threading.Thread(target=asyncio.run, args=(main(),), daemon=True, name="echo-server").start()
    if not ready.wait(10):
        raise RuntimeError("the local echo server did not start")
    return f"ws://127.0.0.1:{address[0]}"
