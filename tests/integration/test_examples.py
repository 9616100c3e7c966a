"""The examples run as the README says, with no outside server."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.conftest import ROOT


def run_example(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True, text=True, timeout=60)


@pytest.mark.timeout(90)
def test_workerman_client_prints_the_seed_lines() -> None:
    proc = run_example("examples/workerman_client.py", "--seconds", "1")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0] == "tcp connected"
    assert lines[1] == "HTTP/1.1 101 Switching Protocols"
    assert "Upgrade: websocket" in lines
    assert "recv: hello" in lines
    assert lines.index("recv: hello") > lines.index("Upgrade: websocket")
    # The end reads as a clean stop, not a failure (issue 9, point 14).
    assert lines[-2:] == ["connection closed: stopping, no reconnect", "done"]
    assert "connection closed and try to reconnect" not in lines
    assert lines.count("tcp connected") == 1  # stop_all() stopped the seed's reconnect(1)
    assert proc.stderr == ""


@pytest.mark.timeout(90)
def test_sequential_client() -> None:
    proc = run_example("examples/sequential_client.py")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[-3:] == ["recv: hello", "recv: how are you?", "recv: bye"]
    assert "ping round trip" in proc.stdout


@pytest.mark.timeout(90)
def test_many_clients() -> None:
    proc = run_example("examples/many_clients.py", "--clients", "50", "--messages", "5")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "50 clients, 250 round trips" in proc.stdout
    assert "0 failed" in proc.stdout
