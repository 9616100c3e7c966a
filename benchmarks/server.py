"""The benchmark's echo server, run as a subprocess pinned to its own core.

``python -m benchmarks.server [--raw] [--addresses 4]`` listens on
127.0.0.1 … 127.0.0.4 (loopback all; clients spread their connections over
them, because Linux's search for a free ephemeral port gets slow, hundreds of
µs of system CPU per connect(), once more than ~14,000 connections go to one
address and port), prints ``LISTEN <kind> <url> <url> …``, then reads
commands on stdin, one a line, and answers each with one JSON line:

- ``RESET``: forget the pings recorded so far.
- ``PINGS <t0> <t1> <interval>``: how the pings that arrived between the
  monotonic times t0 and t1 were spaced, per connection (see :func:`ping_report`).
- end of input: exit.

It echoes every data frame as it came (text as text, binary as binary) and
answers pings itself, recording when each arrived (``time.monotonic`` is
system-wide on Linux, so the clients' times compare). It is picows on uvloop
when they are installed, else the minimal asyncio server of
:mod:`benchmarks.rawecho`.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import sys
import time
from typing import Any

from benchmarks.measure import SERVER_CORE, pin, raise_fd_limit

#: Ping arrival times, one list per connection ever accepted since the last RESET.
PINGS: list[list[float]] = []


def new_ping_log() -> list[float]:
    """A fresh ping log for one connection."""
    log: list[float] = []
    PINGS.append(log)
    return log


def ping_report(t0: float, t1: float, interval: float) -> dict[str, Any]:
    """Pings per connection within [t0, t1] and the share of gaps within 10 % of ``interval``."""
    counts, gaps_ok, gaps = [], 0, 0
    for log in PINGS:
        inside = [t for t in log if t0 <= t <= t1]
        if not inside and not log:
            continue
        counts.append(len(inside))
        for a, b in itertools.pairwise(inside):
            gaps += 1
            gaps_ok += abs((b - a) - interval) <= 0.1 * interval
    return {
        "connections": len(counts),
        "pings": sum(counts),
        "per_connection": sum(counts) / len(counts) if counts else 0.0,
        "due_per_connection": (t1 - t0) / interval if interval else 0.0,
        "gaps": gaps,
        "on_time": gaps_ok / gaps if gaps else 0.0,
        "silent_connections": sum(1 for c in counts if c == 0),
    }


def picows_server(host: str, port: int) -> Any:
    """The picows echo server (an awaitable asyncio server)."""
    from picows import WSFrame, WSListener, WSMsgType, WSTransport, ws_create_server

    class Echo(WSListener):  # type: ignore[misc]
        def __init__(self) -> None:
            self.pings = new_ping_log()

        def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
            kind = frame.msg_type
            if kind == WSMsgType.PING:
                self.pings.append(time.monotonic())
                transport.send_pong(frame.get_payload_as_bytes())
            elif kind == WSMsgType.CLOSE:
                transport.send_close(frame.get_close_code(), frame.get_close_message())
                transport.disconnect()
            elif kind != WSMsgType.PONG:
                transport.send(kind, frame.get_payload_as_memoryview(), frame.fin)

    return ws_create_server(
        lambda request: Echo(),
        host,
        port,
        enable_auto_pong=False,
        max_frame_size=64 * 2**20,
        websocket_handshake_timeout=60,
        backlog=4096,
    )


async def listen(raw: bool, addresses: int) -> tuple[list[Any], str]:
    """One server on each of 127.0.0.1 … 127.0.0.<addresses>, on one port where it is free."""
    make: Any = None
    kind = "raw-asyncio"
    if not raw:
        try:
            import picows  # noqa: F401

            make, kind = picows_server, "picows"
        except ImportError:
            pass
    if make is None:
        from benchmarks.rawecho import raw_server

        async def make(host: str, port: int) -> Any:
            return await raw_server(host, port, new_ping_log)

    servers: list[Any] = []
    port = 0
    for index in range(1, addresses + 1):
        host = f"127.0.0.{index}"
        try:
            server = await make(host, port)
        except OSError:  # that port is taken on this address: any port will do
            server = await make(host, 0)
        servers.append(server)
        port = port or server.sockets[0].getsockname()[1]
    return servers, kind


async def serve(raw: bool, addresses: int) -> None:
    """Listen, announce the URLs, obey stdin until it closes."""
    servers, kind = await listen(raw, addresses)
    loop = asyncio.get_running_loop()
    urls = [f"ws://{host}:{port}/" for s in servers for host, port in [s.sockets[0].getsockname()[:2]]]
    flavour = "uvloop" if "uvloop" in type(loop).__module__ else "asyncio"
    print(f"LISTEN {kind}-{flavour} {' '.join(urls)}", flush=True)
    while True:
        line = await loop.run_in_executor(None, sys.stdin.readline)
        if not line:
            break
        command = line.split()
        if command[:1] == ["RESET"]:
            PINGS.clear()
            answer: dict[str, Any] = {"ok": True}
        elif command[:1] == ["PINGS"]:
            answer = ping_report(*(float(x) for x in command[1:4]))
        else:
            answer = {"error": f"unknown command {line.strip()!r}"}
        print(json.dumps(answer), flush=True)
    for server in servers:
        server.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--raw", action="store_true", help="use the minimal asyncio server, not picows")
    parser.add_argument("--addresses", type=int, default=4, help="loopback addresses to listen on")
    args = parser.parse_args()
    pin(SERVER_CORE)
    raise_fd_limit()
    try:
        import uvloop

        uvloop.run(serve(args.raw, args.addresses))
    except ImportError:
        asyncio.run(serve(args.raw, args.addresses))


if __name__ == "__main__":
    main()
