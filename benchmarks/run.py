"""Run the benchmark: ``python -m benchmarks.run [--quick] [--scenarios S1,S2,S3,scale] [--peers ...]``.

Starts the echo server (picows on uvloop when installed; ``--raw-server``
for the minimal asyncio one) pinned to core 1, then runs every scenario for
every client kind, each run in its own process pinned to core 0, interleaved
(repetition by repetition, the kinds' order rotating), and takes the median
of ``--reps`` (3). Prints the tables, writes benchmarks/results/<date>.json
and a chart of the ratios. Every run has a deadline; everything stops by itself.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import importlib.util
import json
import os
import platform
import subprocess
import sys
import textwrap
import time
from importlib import metadata
from pathlib import Path
from typing import Any

from benchmarks import report
from benchmarks.kinds import KINDS

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).resolve().parent / "results"

#: What each kind needs installed (checked without importing: one kind monkey-patches).
REQUIRES = {
    "wsclient": ["websocket", "gevent"],
    "geventws": ["gevent"],
    "websockets": ["websockets"],
    "aiohttp": ["aiohttp"],
    "picows": ["picows"],
    "floor": [],
}
LABELS = {
    "wsclient": "websocket-client+gevent (b)",
    "geventws": "geventws",
    "websockets": "websockets asyncio",
    "aiohttp": "aiohttp",
    "picows": "picows (uvloop)",
    "floor": "raw-socket floor (uvloop)",
}

#: run name -> (scenario group for --scenarios, worker scenario, full params, --quick params, deadline s)
RUNS: dict[str, tuple[str, str, dict[str, Any], dict[str, Any], float]] = {
    "S1": ("S1", "s1", {"n": 20000}, {"n": 2000}, 300),
    "S2-32B": (
        "S2",
        "s2",
        {"n": 100000, "size": 32, "window": 1000},
        {"n": 10000, "size": 32, "window": 1000},
        300,
    ),
    "S2-64KiB": (
        "S2",
        "s2",
        {"n": 2000, "size": 65536, "window": 32},
        {"n": 200, "size": 65536, "window": 32},
        300,
    ),
    "S3": (
        "S3",
        "s3",
        {"n": 10000, "rounds": 10, "ping_interval": 20},
        {"n": 200, "rounds": 5, "ping_interval": 20},
        600,
    ),
    "scale": (
        "scale",
        "scale",
        {"n": 19500, "ramp_n": 2000, "ping_interval": 5, "seconds": 30},
        {"n": 300, "ramp_n": 100, "ping_interval": 1, "seconds": 4},
        900,
    ),
}


#: The runs that take minutes each at full size.
HEAVY = ("S3", "scale")


class EchoServer:
    """The server subprocess and its stdin/stdout command channel."""

    def __init__(self, raw: bool, addresses: int) -> None:
        command = [sys.executable, "-m", "benchmarks.server", "--addresses", str(addresses)]
        command += ["--raw"] if raw else []
        self.proc = subprocess.Popen(
            command, cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline().split()
        if line[:1] != ["LISTEN"]:
            self.stop()
            raise SystemExit(f"the echo server did not start: {line}")
        self.kind, self.urls = line[1], line[2:]

    def ask(self, command: str) -> dict[str, Any]:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            return {"error": "the echo server has exited"}
        answer: dict[str, Any] = json.loads(line)
        return answer

    def stop(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def run_one(
    server: EchoServer,
    kind: str,
    name: str,
    quick: bool,
    overrides: dict[str, dict[str, Any]],
    profile: bool = False,
) -> dict[str, Any]:
    """One worker process: its result, or its error."""
    _, scenario, full, small, deadline = RUNS[name]
    params = dict(small if quick else full, urls=server.urls, limit=deadline)
    params.update(overrides.get(name, {}))
    if profile:
        params["profile"] = True
    if scenario == "scale":
        server.ask("RESET")
    command = [sys.executable, "-m", "benchmarks.worker", kind, scenario, json.dumps(params)]
    record: dict[str, Any] = {"kind": kind, "run": name}
    try:
        done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=deadline + 60)
    except subprocess.TimeoutExpired:
        record["error"] = f"no result within {deadline + 60} s"
        return record
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    if done.returncode != 0 or not lines:
        record["error"] = (done.stderr.strip().splitlines() or [f"exit {done.returncode}"])[-1]
        return record
    result = json.loads(lines[-1][len("RESULT ") :])
    if scenario == "scale":
        result["pings"] = server.ask(
            f"PINGS {result['hold_t0']} {result['hold_t1']} {params['ping_interval']}"
        )
    record["result"] = result
    if profile:
        print(f"--- profile of {kind} {name}\n{done.stderr}", file=sys.stderr)
    return record


def machine(server_kind: str) -> dict[str, Any]:
    """What the figures were measured on."""
    cpu = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as info:
            cpu = next(line.split(":", 1)[1].strip() for line in info if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    versions = {}
    for package in (
        "geventws",
        "gevent",
        "websocket-client",
        "wsaccel",
        "websockets",
        "aiohttp",
        "picows",
        "uvloop",
    ):
        with contextlib.suppress(metadata.PackageNotFoundError):
            versions[package] = metadata.version(package)
    return {
        "cores": os.cpu_count(),
        "cpu": cpu,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "server": server_kind,
        "versions": versions,
    }


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument(
        "--quick", action="store_true", help="small N everywhere: a smoke run of a minute or two"
    )
    parser.add_argument("--scenarios", default="S1,S2,S3,scale", help="comma-separated: S1,S2,S3,scale")
    parser.add_argument("--peers", default=",".join(KINDS), help="comma-separated: " + ",".join(KINDS))
    parser.add_argument("--reps", type=int, default=3, help="repetitions; the median is reported")
    parser.add_argument(
        "--raw-server", action="store_true", help="the minimal asyncio echo server, not picows"
    )
    parser.add_argument("--no-files", action="store_true", help="print only: no JSON, no chart")
    parser.add_argument(
        "--profile",
        action="store_true",
        help="profile every run (cProfile, to stderr); its figures are slower",
    )
    parser.add_argument(
        "--addresses", type=int, default=4, help="loopback addresses the server listens on (1: one only)"
    )
    parser.add_argument("--heavy-reps", type=int, help="repetitions of S3 and scale (default: --reps)")
    parser.add_argument("--budget", type=float, help="start no new run after this many seconds")
    parser.add_argument("--s3-n", type=int, help="connections in S3 (default 10,000; --quick 200)")
    parser.add_argument("--scale-n", type=int, help="connections in the scale run (default 19,500)")
    parser.add_argument("--scale-seconds", type=float, help="how long the scale run holds (default 30 s)")
    return parser.parse_args(argv)


def overrides(args: argparse.Namespace) -> dict[str, dict[str, Any]]:
    """The parameters changed on the command line, per run."""
    changed: dict[str, dict[str, Any]] = {"S3": {}, "scale": {}}
    if args.s3_n:
        changed["S3"]["n"] = args.s3_n
    if args.scale_n:
        changed["scale"]["n"] = args.scale_n
        changed["scale"]["ramp_n"] = min(2000, args.scale_n)
    if args.scale_seconds:
        changed["scale"]["seconds"] = args.scale_seconds
    return changed


def selected(args: argparse.Namespace) -> tuple[list[str], list[str]]:
    """The kinds (installed ones only) and the runs chosen."""
    wanted = {s.strip() for s in args.scenarios.split(",")}
    runs = [name for name, spec in RUNS.items() if spec[0] in wanted or name in wanted]
    kinds = []
    for kind in [k.strip() for k in args.peers.split(",")]:
        if kind not in REQUIRES:
            raise SystemExit(f"unknown peer {kind!r}; choose from {', '.join(KINDS)}")
        if all(importlib.util.find_spec(module) for module in REQUIRES[kind]):
            kinds.append(kind)
        else:
            print(f"skipping {kind}: {', '.join(REQUIRES[kind])} not installed", file=sys.stderr)
    return kinds, runs


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    kinds, runs = selected(args)
    server = EchoServer(args.raw_server, args.addresses)
    records: list[dict[str, Any]] = []
    try:
        sitting(args, server, kinds, runs, records)
    except KeyboardInterrupt:  # Ctrl-C: report what was measured so far
        print("interrupted: the tables show the runs done so far", file=sys.stderr)
    finally:
        server.stop()
    return finish(args, kinds, records, machine(server.kind))


def sitting(
    args: argparse.Namespace,
    server: EchoServer,
    kinds: list[str],
    runs: list[str],
    records: list[dict[str, Any]],
) -> None:
    """Every run, repetition by repetition, the kinds' order rotating; stops early at --budget."""
    started = time.monotonic()
    heavy = args.heavy_reps if args.heavy_reps is not None else args.reps
    for rep in range(max(args.reps, heavy)):
        for name in runs:
            if rep >= (heavy if name in HEAVY else args.reps):
                continue
            order = kinds[rep % len(kinds) :] + kinds[: rep % len(kinds)]
            for kind in order:
                if args.budget and time.monotonic() - started > args.budget:
                    print(f"budget of {args.budget:.0f} s spent: stopping", file=sys.stderr)
                    return
                record = run_one(server, kind, name, args.quick, overrides(args), args.profile)
                record["rep"] = rep
                records.append(record)
                status = record.get("error", "ok")
                elapsed = time.monotonic() - started
                print(
                    f"[{elapsed:6.0f} s] rep {rep + 1} {name:9} {kind:11} {status}",
                    file=sys.stderr,
                    flush=True,
                )


def finish(
    args: argparse.Namespace, kinds: list[str], records: list[dict[str, Any]], box: dict[str, Any]
) -> int:
    """Print the tables; write the JSON and the chart."""
    table = report.medians(records)
    stamp = datetime.datetime.now(datetime.timezone.utc)
    title = (
        f"geventws benchmark {stamp:%Y-%m-%d}{' (quick)' if args.quick else ''}: {box['cores']} cores, "
        f"{box['cpu']}, Python {box['python']}, server {box['server']}\n"
        + textwrap.fill(", ".join(f"{k} {v}" for k, v in box["versions"].items()), 100)
    )
    print(title + "\n")
    print(report.render(table, kinds, LABELS))
    errors = [r for r in records if "error" in r]
    for record in errors:
        print(f"FAILED: rep {record['rep'] + 1} {record['run']} {record['kind']}: {record['error']}")
    if not args.no_files:
        RESULTS.mkdir(exist_ok=True)
        base = RESULTS / f"{stamp:%Y-%m-%dT%H%M}{'-quick' if args.quick else ''}"
        data = {
            "date": stamp.isoformat(),
            "machine": box,
            "quick": args.quick,
            "reps": args.reps,
            "params": {name: RUNS[name][3 if args.quick else 2] for name in RUNS},
            "medians": table,
            "runs": records,
        }
        base.with_suffix(".json").write_text(json.dumps(data, indent=1) + "\n")
        picture = report.chart(table, kinds, LABELS, title, base.with_suffix(".svg"))
        print(f"\nwrote {base.with_suffix('.json')}" + (f" and {picture}" if picture else ""))
    return 1 if errors else 0


if __name__ == "__main__":
    raise SystemExit(main())
