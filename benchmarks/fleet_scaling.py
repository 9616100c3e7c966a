"""How a Fleet's costs grow with its size, and how much of that is the garbage collector.

Run: ``python -m benchmarks.fleet_scaling [--sizes 2000,19500]``. Not part of
the test suite. It starts the benchmark's echo server (pinned to core 1) and,
for each size, in a fresh process pinned to core 0 (once with the garbage
collector on, once with ``gc.disable()``):

- opens a :class:`geventws.Fleet` (100 handshakes in flight, keepalive every
  20 s): CPU per connection, and the collector's own time and collections
  during the opening (measured with ``gc.callbacks``);
- runs three echo rounds through the fleet's callbacks (:meth:`Fleet.echo`):
  CPU per round trip;
- runs three rounds with ``on_message`` unset, each reply taken by
  ``recv()`` from the inbox the hub filled: CPU per round trip.

It prints one table; the ratios "at the largest / at the smallest size" are
what the scale run of ``benchmarks.run`` reports as "at N / at reference".
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import subprocess
import sys
import time
from typing import Any

from benchmarks.measure import CLIENT_CORE, cpu_seconds, raise_fd_limit
from benchmarks.run import EchoServer


def child(urls: list[str], size: int, collector: bool) -> dict[str, Any]:
    """One size in this process: the figures as a dict."""
    import gevent

    import geventws

    raise_fd_limit()
    os.sched_setaffinity(0, {CLIENT_CORE})
    geventws.connect(urls[0]).close()  # first-use costs out of the figures
    gc.collect()
    if not collector:
        gc.disable()
    spent = {"seconds": 0.0, "full": 0, "all": 0}
    started = [0.0]

    def watch(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            started[0] = time.perf_counter()
        else:
            spent["seconds"] += time.perf_counter() - started[0]
            spent["all"] += 1
            spent["full"] += info["generation"] == 2

    gc.callbacks.append(watch)
    cpu = cpu_seconds()
    fleet = geventws.Fleet(urls, size, max_in_flight=100, ping_interval=20, open_timeout=60, max_queue=100)
    report = fleet.open(timeout=600)
    open_cpu = cpu_seconds() - cpu
    gc.callbacks.remove(watch)
    callback_rt, inbox_rt = [], []
    for _ in range(3):
        cpu = cpu_seconds()
        replies = fleet.echo(b"x" * 32, timeout=120)
        callback_rt.append((cpu_seconds() - cpu) / max(1, replies))
    connections = fleet.open_connections()
    for conn in connections:
        conn.on_message = None
    for _ in range(3):
        cpu = cpu_seconds()
        for conn in connections:
            conn.send(b"x" * 32)
        for conn in connections:
            conn.recv(timeout=60)
        inbox_rt.append((cpu_seconds() - cpu) / max(1, len(connections)))
    fleet.close(timeout=120)
    gevent.sleep(0)
    return {
        "opened": report.opened,
        "open_cpu": open_cpu / max(1, report.opened),
        "gc_seconds": spent["seconds"],
        "gc_share": spent["seconds"] / open_cpu if open_cpu else 0.0,
        "gc_full": spent["full"],
        "gc_all": spent["all"],
        "callback_rt": sorted(callback_rt)[1],
        "inbox_rt": sorted(inbox_rt)[1],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--sizes", default="2000,19500", help="comma-separated fleet sizes")
    parser.add_argument("--raw-server", action="store_true", help="the minimal asyncio echo server")
    parser.add_argument("--child", nargs=3, metavar=("URLS", "SIZE", "GC"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        urls, size, collector = args.child
        print("RESULT " + json.dumps(child(urls.split(","), int(size), collector == "on")), flush=True)
        return
    server = EchoServer(args.raw_server, 4)
    try:
        urls = ",".join(server.urls)
        sizes = [int(size) for size in args.sizes.split(",")]
        rows: dict[tuple[str, int], dict[str, Any]] = {}
        for collector in ("on", "off"):
            for size in sizes:
                command = [
                    sys.executable,
                    "-m",
                    "benchmarks.fleet_scaling",
                    "--child",
                    urls,
                    str(size),
                    collector,
                ]
                out = subprocess.run(command, capture_output=True, text=True, timeout=900).stdout
                line = next(x for x in out.splitlines() if x.startswith("RESULT "))
                rows[(collector, size)] = json.loads(line[7:])
        report(rows, sizes, server.kind)
    finally:
        server.stop()


def report(rows: dict[tuple[str, int], dict[str, Any]], sizes: list[int], server: str) -> None:
    print(f"Fleet scaling (server {server}); CPU in µs; gc: the collector's time during the opening")
    print(
        "| collector | connections | opened | CPU per open | gc share of it | collections (full) "
        "| CPU per round trip, callbacks | CPU per round trip, recv() |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for (collector, size), row in rows.items():
        print(
            f"| {collector} | {size:,} | {row['opened']:,} | {row['open_cpu'] * 1e6:.0f} "
            f"| {row['gc_share']:.0%} | {row['gc_all']} ({row['gc_full']}) "
            f"| {row['callback_rt'] * 1e6:.1f} | {row['inbox_rt'] * 1e6:.1f} |"
        )
    small, large = min(sizes), max(sizes)
    for collector in ("on", "off"):
        a, b = rows[(collector, small)], rows[(collector, large)]
        print(
            f"collector {collector}, at {large:,} / at {small:,}: "
            f"CPU per open {b['open_cpu'] / a['open_cpu']:.2f}×, "
            f"per round trip {b['callback_rt'] / a['callback_rt']:.2f}× (callbacks), "
            f"{b['inbox_rt'] / a['inbox_rt']:.2f}× (recv())"
        )


if __name__ == "__main__":
    main()
