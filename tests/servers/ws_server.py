"""An independent WebSocket server for the tests: the ``websockets`` package.

Run as a subprocess: ``python -m tests.servers.ws_server [--cert C --key K] [--deflate JSON]``.
It prints ``PORT <n>`` once listening. ``--deflate`` accepts permessage-deflate
with exactly these ``ServerPerMessageDeflateFactory`` arguments (a JSON object);
without it the server keeps websockets' default (it accepts the client's offer).
Routes, by path:

- ``/headers``: first sends a JSON text message ``{"path", "headers"}``
  describing the request, then echoes.
- ``/close/<code>/<reason>``: closes at once with that code and reason.
- ``/ping``: pings with payload ``hello`` and sends ``pong received: hello``
  once the pong is back, then echoes.
- ``/slow/<seconds>``: waits that long before accepting the upgrade and
  before echoing each message (to expose a client that blocks its hub).
- ``/reject/<status>``: refuses the upgrade with that HTTP status and body
  ``rejected <status>``.
- ``/fragment/<n>``: echoes every message in ``n`` fragments.
- anything else: echoes every message back, text as text, binary as binary.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import http
import json
import ssl
import sys

from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.extensions.permessage_deflate import ServerPerMessageDeflateFactory
from websockets.http11 import Request, Response


async def handler(ws: ServerConnection) -> None:
    with contextlib.suppress(ConnectionClosed):  # clients that drop are the point of some tests
        await serve_one(ws)


async def serve_one(ws: ServerConnection) -> None:
    assert ws.request is not None
    path = ws.request.path
    if path.startswith("/headers"):
        await ws.send(json.dumps({"path": path, "headers": list(ws.request.headers.raw_items())}))
    elif path.startswith("/ping"):
        await (await ws.ping(b"hello"))
        await ws.send("pong received: hello")
    elif path.startswith("/close/"):
        _, _, code, reason = path.split("/", 3)
        await ws.close(int(code), reason)
        return
    delay = float(path.split("/")[2]) if path.startswith("/slow/") else 0.0
    fragments = int(path.split("/")[2]) if path.startswith("/fragment/") else 1
    async for message in ws:
        if delay:
            await asyncio.sleep(delay)
        if fragments > 1 and message:  # an empty iterable is no message
            size = max(1, -(-len(message) // fragments))
            await ws.send([message[i : i + size] for i in range(0, len(message), size)])
        else:
            await ws.send(message)


async def process_request(ws: ServerConnection, request: Request) -> Response | None:
    if request.path.startswith("/slow/"):
        await asyncio.sleep(float(request.path.split("/")[2]))
    if request.path.startswith("/reject/"):
        status = http.HTTPStatus(int(request.path.rsplit("/", 1)[1]))
        return ws.respond(status, f"rejected {status.value}\n")
    return None


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cert")
    parser.add_argument("--key")
    parser.add_argument("--deflate", type=json.loads)
    args = parser.parse_args()
    deflate = {}
    if args.deflate is not None:
        deflate = {"compression": None, "extensions": [ServerPerMessageDeflateFactory(**args.deflate)]}
    context = None
    if args.cert:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(args.cert, args.key)
    async with serve(
        handler,
        "127.0.0.1",
        0,
        ssl=context,
        process_request=process_request,
        ping_interval=None,
        max_size=None,
        **deflate,
    ) as server:
        port = server.sockets[0].getsockname()[1]
        print(f"PORT {port}", flush=True)
        # Exit when the test process goes away (our stdin closes).
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, sys.stdin.read)


if __name__ == "__main__":
    asyncio.run(main())
