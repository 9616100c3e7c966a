"""``geventws bench URL -c N -d SECONDS``: many connections echoing, measured.

One process opens ``N`` connections, ramped (``--ramp`` per second) with at
most ``--max-handshakes`` in flight through one shared
:class:`~geventws.HandshakeLimiter`; each sends messages and times their
echoes. A progress line goes to stderr every ``--interval`` seconds (redrawn
in place on a terminal); after ``--duration`` seconds every connection is
closed and a summary table is printed; ``--json FILE`` writes the results
with the latency histogram.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import signal
import sys
import time
from collections.abc import Sequence
from typing import Any

import gevent
import gevent.event

from .. import HandshakeLimiter, ReconnectPolicy
from ..protocol.uri import parse_uri
from .benchclient import BenchClient
from .common import UsageError, add_connection_arguments, connection_options, positive_float, positive_int
from .exitcodes import ExitCode, exit_code_for_signal
from .report import Progress, results, summary_table, write_json
from .stats import BenchStats

__all__ = ["BenchConfig", "build_parser", "main", "run_bench"]

#: The default ``--close-timeout`` of a benchmark: how long closing may take at the end.
CLOSE_TIMEOUT = 3.0


@dataclasses.dataclass(frozen=True)
class BenchConfig:
    """What one benchmark run does."""

    connections: int
    duration: float
    rate: float | None  # messages per second per connection; None: closed loop
    size: int
    interval: float  # seconds between progress reports


def build_parser() -> argparse.ArgumentParser:
    """The benchmark's argument parser."""
    parser = argparse.ArgumentParser(
        prog="geventws bench",
        description="Open many connections to an echo server; measure throughput and latency.",
    )
    parser.add_argument("url", metavar="URL", help="ws:// or wss:// URL of an echo server")
    _add_load_arguments(parser)
    add = parser.add_argument
    add("--no-reconnect", action="store_true", help="do not reconnect dropped connections")
    add(
        "--interval",
        type=positive_float,
        default=1.0,
        metavar="SECONDS",
        help="seconds between progress reports on stderr (default 1)",
    )
    add("--json", metavar="FILE", help="write the results, with the latency histogram, as JSON ('-': stdout)")
    add_connection_arguments(parser)
    parser.set_defaults(close_timeout=CLOSE_TIMEOUT)
    return parser


def _add_load_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("load")
    add = group.add_argument
    add("-c", "--connections", type=positive_int, default=10, metavar="N", help="connections (default 10)")
    add(
        "-d",
        "--duration",
        type=positive_float,
        default=10.0,
        metavar="SECONDS",
        help="how long to run, ramp included (default 10)",
    )
    add(
        "--rate",
        type=positive_float,
        metavar="MSGS_PER_SEC",
        help="messages per second per connection (default: the next as soon as the echo is back)",
    )
    add("--size", type=_size, default=32, metavar="BYTES", help="binary message size (default 32)")
    add(
        "--ramp",
        type=positive_float,
        metavar="CONNS_PER_SEC",
        help="new connections per second (default: no limit)",
    )
    add(
        "--max-handshakes",
        type=positive_int,
        default=100,
        metavar="K",
        help="handshakes in flight at most (default 100)",
    )


def _size(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError("must be >= 0")
    return value


def main(argv: Sequence[str]) -> int:
    """Run a benchmark with ``argv``; return the exit status."""
    args = build_parser().parse_args(argv)
    try:
        options = connection_options(args)
        shown_url = str(parse_uri(args.url))  # no credentials in the output
    except (UsageError, ValueError) as exc:
        print(f"geventws: error: {exc}", file=sys.stderr)
        return ExitCode.USAGE
    options["limiter"] = HandshakeLimiter(args.max_handshakes, args.ramp)
    options["reconnect"] = None if args.no_reconnect else ReconnectPolicy()
    config = BenchConfig(args.connections, args.duration, args.rate, args.size, args.interval)
    progress = Progress(sys.stderr, tty=sys.stderr.isatty())
    stats, elapsed, signum = run_bench(args.url, options, config, progress)
    data = results(stats, _settings(shown_url, config, args), elapsed)
    # With --json -, stdout carries only the JSON.
    print(summary_table(data), file=sys.stderr if args.json == "-" else sys.stdout, flush=True)
    if args.json:
        write_json(args.json, data)
    if signum is not None:
        return exit_code_for_signal(signum)
    if stats.opened == 0:
        return ExitCode.HANDSHAKE_REJECTED if stats.errors["HANDSHAKE_FAIL"] else ExitCode.CONNECT_FAILED
    return ExitCode.OK


def _settings(url: str, config: BenchConfig, args: argparse.Namespace) -> dict[str, Any]:
    return {
        "url": url,
        "connections": config.connections,
        "duration_seconds": config.duration,
        "rate_per_connection": config.rate,
        "size": config.size,
        "ramp_per_second": args.ramp,
        "max_handshakes": args.max_handshakes,
    }


def run_bench(
    url: str, options: dict[str, Any], config: BenchConfig, progress: Progress
) -> tuple[BenchStats, float, int | None]:
    """Run one benchmark; return its stats, its length in seconds and the signal that cut it short."""
    stats = BenchStats(config.connections)
    stopping = gevent.event.Event()
    interrupted: list[int] = []

    def on_signal(signum: int) -> None:
        interrupted.append(signum)
        stopping.set()

    watchers = [gevent.signal_handler(s, on_signal, s) for s in (signal.SIGINT, signal.SIGTERM)]
    payload = os.urandom(config.size)
    clients = [
        BenchClient(url, options, stats, payload, config.rate, stopping) for _ in range(config.connections)
    ]
    started = time.monotonic()
    try:
        for client in clients:
            client.start()
        _report_until(started + config.duration, stopping, stats, config.interval, progress)
        elapsed = time.monotonic() - started
        stats.open_at_end = stats.open_now
        stopping.set()
        progress.finish()
        close_timeout = options.get("close_timeout") or CLOSE_TIMEOUT
        gevent.joinall([gevent.spawn(client.stop) for client in clients], timeout=close_timeout + 2)
    finally:
        for watcher in watchers:
            watcher.cancel()
    return stats, elapsed, interrupted[0] if interrupted else None


def _report_until(
    deadline: float, stopping: gevent.event.Event, stats: BenchStats, interval: float, progress: Progress
) -> None:
    started = last = time.monotonic()
    while True:
        now = time.monotonic()
        if now >= deadline or stopping.wait(min(last + interval, deadline) - now):
            return
        now = time.monotonic()
        if now - last >= interval:
            progress.show(now - started, stats, stats.take_window(now - last))
            last = now
