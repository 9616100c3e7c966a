"""What one sequential round trip costs (S1), and where the time goes: CPU or waiting.

Run: ``python -m benchmarks.s1_anatomy [--trials 9] [--n 5000]``. Not part of
the test suite. It starts the benchmark's echo server (pinned to core 1) and
runs each client in its own process, twice: pinned to core 0 (the harness's
placement: every reply wakes the client on another core) and pinned to core 1
with the server (no wake-up crosses cores: the figure is nearly all CPU). For
each it prints the median round trips per second, the user and system CPU per
round trip and the voluntary context switches per round trip (how often the
client went to sleep waiting for the reply), over ``--trials`` interleaved
trials of ``--n`` round trips.

The clients: geventws (``connect()``, ``send()``, ``recv(timeout=30)``),
websocket-client on gevent (b, monkey-patched in its own process, as in the
harness) and a raw gevent socket that sends a masked 32 B frame and reads the
echo with one ``recv`` (no parsing: the least any gevent client can do).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

from benchmarks.measure import CLIENT_CORE, SERVER_CORE
from benchmarks.run import EchoServer

KINDS = ("geventws", "wsclient", "raw-gevent")
PLACEMENTS = {"cross-core": CLIENT_CORE, "same core": SERVER_CORE}


def _client(kind: str, url: str) -> tuple[Callable[[bytes], Any], Callable[[], Any]]:
    """(send, receive) of one open connection of ``kind``."""
    if kind == "geventws":
        import geventws

        conn = geventws.connect(url, ping_interval=None, max_queue=64)
        return conn.send, lambda: conn.recv(timeout=30)
    if kind == "wsclient":
        import websocket

        ws = websocket.create_connection(url, timeout=60)
        return ws.send_bytes, ws.recv
    import gevent.socket

    from benchmarks.kinds.floor_kind import client_frame

    host, _, port = url.removeprefix("ws://").rstrip("/").rpartition(":")
    sock = gevent.socket.create_connection((host, int(port)))
    sock.sendall(
        b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    head = b""
    while b"\r\n\r\n" not in head:
        head += sock.recv(4096)
    frame = client_frame(2, b"x" * 32)
    return lambda data: sock.send(frame), lambda: sock.recv(65536)


def child(kind: str, url: str, core: int, trials: int, n: int) -> None:
    """One client process: prints one JSON line of per-trial figures."""
    if kind == "wsclient":
        from gevent import monkey

        monkey.patch_all()
    os.sched_setaffinity(0, {core})
    send, receive = _client(kind, url)
    data = b"x" * 32
    for _ in range(500):  # warm up
        send(data)
        receive()
    rows = []
    for _ in range(trials):
        before, start = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
        for _ in range(n):
            send(data)
            receive()
        wall, after = time.perf_counter() - start, resource.getrusage(resource.RUSAGE_SELF)
        rows.append(
            {
                "rate": n / wall,
                "user": (after.ru_utime - before.ru_utime) / n * 1e6,
                "sys": (after.ru_stime - before.ru_stime) / n * 1e6,
                "vcsw": (after.ru_nvcsw - before.ru_nvcsw) / n,
            }
        )
    print("RESULT " + json.dumps(rows), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--trials", type=int, default=9)
    parser.add_argument("--n", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=3, help="interleaved processes per kind and placement")
    parser.add_argument("--raw-server", action="store_true", help="the minimal asyncio echo server")
    parser.add_argument("--child", nargs=3, metavar=("KIND", "URL", "CORE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        kind, url, core = args.child
        child(kind, url, int(core), args.trials, args.n)
        return
    server = EchoServer(args.raw_server, 1)
    try:
        url = server.urls[0]
        print(f"server: {server.kind}")
        rows: dict[tuple[str, str], list[dict[str, float]]] = {}
        for _ in range(args.rounds):
            for placement, core in PLACEMENTS.items():
                for kind in KINDS:
                    command = [sys.executable, "-m", "benchmarks.s1_anatomy", "--trials", str(args.trials)]
                    command += ["--n", str(args.n), "--child", kind, url, str(core)]
                    out = subprocess.run(command, capture_output=True, text=True, timeout=600).stdout
                    line = next(x for x in out.splitlines() if x.startswith("RESULT "))
                    rows.setdefault((placement, kind), []).extend(json.loads(line[7:]))
        report(rows)
    finally:
        server.stop()


def report(rows: dict[tuple[str, str], list[dict[str, float]]]) -> None:
    print(f"S1 anatomy: 32 B round trips, medians over {len(next(iter(rows.values())))} trials each")
    print("| placement | client | round trips/s | ratio to b | user µs/rt | system µs/rt | sleeps/rt |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for placement in PLACEMENTS:
        b_rate = statistics.median(r["rate"] for r in rows[(placement, "wsclient")])
        for kind in KINDS:
            trials = rows[(placement, kind)]
            rate = statistics.median(r["rate"] for r in trials)
            user = statistics.median(r["user"] for r in trials)
            system = statistics.median(r["sys"] for r in trials)
            sleeps = statistics.median(r["vcsw"] for r in trials)
            print(
                f"| {placement} | {kind} | {rate:,.0f} | {rate / b_rate:.2f} | {user:.1f} | {system:.1f} "
                f"| {sleeps:.2f} |"
            )


if __name__ == "__main__":
    main()
