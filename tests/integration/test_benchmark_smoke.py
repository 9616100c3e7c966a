"""The benchmark harness still runs (not timed: it only has to finish and print its table).

The harness is not part of the test suite; this smoke run of one short scenario
for geventws keeps it from rotting. It uses the minimal asyncio echo server of
benchmarks/rawecho.py, so it needs nothing from the ``bench`` extra.
"""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import ROOT


def test_quick_s1_for_geventws_prints_a_table() -> None:
    command = [
        sys.executable,
        "-m",
        "benchmarks.run",
        "--quick",
        "--reps",
        "1",
        "--scenarios",
        "S1",
        "--peers",
        "geventws",
        "--raw-server",
        "--no-files",
    ]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=50)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "| S1 sequential 32 B round trips (/s) |" in done.stdout
    assert "raw-asyncio" in done.stdout  # the fallback server served it


def test_the_s1_anatomy_prints_both_placements_for_every_client() -> None:
    command = [sys.executable, "-m", "benchmarks.s1_anatomy", "--trials", "1", "--n", "20", "--rounds", "1"]
    done = subprocess.run([*command, "--raw-server"], cwd=ROOT, capture_output=True, text=True, timeout=100)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "server: raw-asyncio" in done.stdout
    for placement in ("cross-core", "same core"):
        for kind in ("geventws", "wsclient", "raw-gevent"):
            assert f"| {placement} | {kind} |" in done.stdout


def test_the_fleet_scaling_prints_both_sizes_with_and_without_the_collector() -> None:
    command = [sys.executable, "-m", "benchmarks.fleet_scaling", "--sizes", "20,40", "--raw-server"]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=100)
    assert done.returncode == 0, done.stderr[-2000:]
    for collector in ("on", "off"):
        for size in (20, 40):
            assert f"| {collector} | {size} | {size} |" in done.stdout  # every connection opened
        assert f"collector {collector}, at 40 / at 20:" in done.stdout
