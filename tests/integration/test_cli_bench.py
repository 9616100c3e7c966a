"""``geventws bench``, run as a user runs it: results, JSON, progress output."""

from __future__ import annotations

import json
import os
import pty
import re
import signal
from pathlib import Path

import gevent

from tests.cli_support import RUN_TIMEOUT, refused_port, run_cli, start_cli
from tests.conftest import ServerProcess

PROGRESS = re.compile(r"\d+\.\ds  open \d+/\d+  msgs/s [\d,]+  p50 \S+  p99 \S+  errors \d+  reconnects \d+")


def test_closed_loop_json_results(ws_server: ServerProcess, tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    proc = run_cli("bench", ws_server.url(), "-c", "3", "-d", "1", "--interval", "0.2", "--json", str(out))
    assert proc.returncode == 0, proc.stderr
    data = json.loads(out.read_text())
    assert data["url"] == ws_server.url()
    assert data["connections"] == 3 and data["connections_opened"] == 3
    assert data["connections_open_at_end"] == 3
    assert data["errors"] == {} and data["reconnects"] == 0
    messages = data["messages"]
    assert messages["received"] > 0 and messages["mismatched"] == 0
    assert (
        messages["sent"] >= messages["received"] and messages["received_bytes"] == 32 * messages["received"]
    )
    latency, histogram = data["latency"], data["histogram"]
    assert latency["count"] == messages["received"]
    assert 0 < latency["min"] <= latency["p50"] <= latency["p99"] <= latency["max"]
    edges = [bucket["le"] for bucket in histogram["buckets"]]
    assert edges[-1] is None and edges[:-1] == sorted(edges[:-1])
    assert sum(bucket["count"] for bucket in histogram["buckets"]) == latency["count"]
    for name in ("throughput", "latency", "errors"):
        assert name in proc.stdout  # the summary table


def test_piped_progress_is_plain_lines(ws_server: ServerProcess) -> None:
    proc = run_cli("bench", ws_server.url(), "-c", "3", "-d", "1", "--interval", "0.2")
    assert proc.returncode == 0, proc.stderr
    assert "\r" not in proc.stderr
    lines = proc.stderr.splitlines()
    assert lines and all(PROGRESS.fullmatch(line.strip()) for line in lines), proc.stderr


def test_progress_is_redrawn_in_place_on_a_terminal(ws_server: ServerProcess) -> None:
    master, slave = pty.openpty()
    try:
        proc = start_cli(
            "bench", ws_server.url(), "-c", "3", "-d", "1", "--interval", "0.2", "--rate", "20", stderr=slave
        )
        os.close(slave)
        slave = -1
        proc.stdin.close()
        assert proc.wait(RUN_TIMEOUT) == 0
        proc.stdout.close()
        shown = _read_all(master)
    finally:
        os.close(master)
        if slave >= 0:
            os.close(slave)
    assert shown.count("\r") >= 2 and "\x1b[K" in shown
    assert PROGRESS.search(shown), shown


def test_open_loop_rate_and_size_with_json_on_stdout(ws_server: ServerProcess) -> None:
    proc = run_cli(
        "bench", ws_server.url(), "-c", "2", "-d", "1", "--rate", "20", "--size", "100",
        "--ramp", "10", "--json", "-",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "throughput" in proc.stderr  # the table moved out of the JSON's way
    data = json.loads(proc.stdout)
    assert data["rate_per_connection"] == 20 and data["size"] == 100 and data["ramp_per_second"] == 10
    messages = data["messages"]
    assert messages["received"] > 0 and messages["received_bytes"] == 100 * messages["received"]
    # Paced on a grid from the start: at most one send per slot and connection.
    assert messages["sent"] <= 2 * (20 * data["elapsed_seconds"] + 1)


def test_nothing_to_connect_to() -> None:
    proc = run_cli("bench", f"ws://127.0.0.1:{refused_port()}/", "-c", "2", "-d", "0.5", "--no-reconnect")
    assert proc.returncode == 3
    assert "CONNECT_FAIL 2" in proc.stdout
    assert "Traceback" not in proc.stderr


def test_rejected_handshakes(ws_server: ServerProcess) -> None:
    proc = run_cli("bench", ws_server.url("/reject/403"), "-c", "2", "-d", "0.5")
    assert proc.returncode == 4
    assert "HANDSHAKE_FAIL 2" in proc.stdout


def _read_all(fd: int) -> str:
    chunks = []
    while True:
        try:
            chunk = os.read(fd, 65536)
        except OSError:  # EIO: the other side is closed and drained
            break
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks).decode()


def test_ctrl_c_stops_early_with_a_summary(ws_server: ServerProcess) -> None:
    proc = start_cli("bench", ws_server.url(), "-c", "2", "-d", "60", "--interval", "0.1")
    try:
        with gevent.Timeout(RUN_TIMEOUT):
            first = proc.stderr.readline()  # running: the first progress line
        assert PROGRESS.search(first), first
        proc.send_signal(signal.SIGINT)
        assert proc.wait(RUN_TIMEOUT) == 130
        assert "throughput" in proc.stdout.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for stream in (proc.stdin, proc.stdout, proc.stderr):
            stream.close()
