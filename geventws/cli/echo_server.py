"""``geventws echo-server``: a local echo server for demos and tests.

Built on the ``websockets`` package (``pip install geventws[cli]``), an
independent implementation, so a demo of geventws talks to someone else's
code. It echoes text as text and binary as binary, prints
``listening on ws://HOST:PORT`` once ready and exits with status 0 on Ctrl-C
or SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from collections.abc import Sequence
from typing import Any

from .exitcodes import ExitCode

__all__ = ["build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    """The echo server's argument parser."""
    parser = argparse.ArgumentParser(
        prog="geventws echo-server",
        description="A local WebSocket echo server (the websockets package). Ctrl-C stops it.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8765, help="port (default 8765; 0: any free port)")
    return parser


def main(argv: Sequence[str]) -> int:
    """Serve until Ctrl-C or SIGTERM; return the exit status."""
    args = build_parser().parse_args(argv)
    try:
        import websockets  # noqa: F401
    except ImportError:
        print(
            "geventws: error: echo-server needs the websockets package: pip install 'geventws[cli]'",
            file=sys.stderr,
        )
        return ExitCode.USAGE
    try:
        asyncio.run(_serve(args.host, args.port))
    except OSError as exc:
        print(f"geventws: error: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return ExitCode.CONNECT_FAILED
    return ExitCode.OK


async def _echo(ws: Any) -> None:
    from websockets.exceptions import ConnectionClosed

    try:
        async for message in ws:
            await ws.send(message)
    except ConnectionClosed:
        pass  # a client that drops is not the server's problem


async def _serve(host: str, port: int) -> None:
    from websockets.asyncio.server import serve

    stop = asyncio.get_running_loop().create_future()
    for signum in (signal.SIGINT, signal.SIGTERM):
        asyncio.get_running_loop().add_signal_handler(signum, _resolve, stop)
    async with serve(_echo, host, port) as server:
        bound = server.sockets[0].getsockname()
        shown = f"[{bound[0]}]" if ":" in bound[0] else bound[0]
        print(f"listening on ws://{shown}:{bound[1]}", flush=True)
        await stop
    print("stopped", flush=True)


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)
