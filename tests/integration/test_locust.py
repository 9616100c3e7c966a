"""Issue 12, "Locust": geventws.contrib.locust run by Locust itself, headless, in subprocesses.

Locust is never imported here (importing it monkey-patches the process);
each test runs Locust in a subprocess against the ``websockets`` echo server:
the ``locust`` command, reading the statistics it wrote as CSV, or a script
on Locust's ``Environment`` that prints them. Skipped when locust is not installed
(CI installs the extra: ``pip install -e ".[test,locust]"``).
"""

from __future__ import annotations

import csv
import importlib.util
import json
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT, ServerProcess
from tests.support import UNIT

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("locust") is None,
    reason='locust is not installed (pip install -e ".[locust]")',
)

LOCUSTFILE = str(ROOT / "examples" / "locustfile.py")
RUN_TIME = "3s"
TIMEOUT = 40 * UNIT

Row = dict[str, str]


def locust(*args: str) -> list[str]:
    return [sys.executable, "-m", "locust", "--only-summary", "--loglevel", "WARNING", *args]


def run_headless(
    locustfile: str, host: str, csv_prefix: Path, *args: str
) -> subprocess.CompletedProcess[str]:
    command = locust("-f", locustfile, "--headless", "-u", "5", "-r", "5", "-t", RUN_TIME)
    command += ["--host", host, "--csv", str(csv_prefix), *args]
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=TIMEOUT)


def read_csv(path: Path) -> list[Row]:
    with path.open(newline="") as file:
        return list(csv.DictReader(file))


def stats(prefix: Path) -> dict[tuple[str, str], Row]:
    """Locust's ``*_stats.csv`` rows by (type, name)."""
    return {(row["Type"], row["Name"]): row for row in read_csv(Path(f"{prefix}_stats.csv"))}


def count(row: Row) -> int:
    return int(row["Request Count"])


def test_headless_run_reports_connects_round_trips_and_messages(
    ws_server: ServerProcess, tmp_path: Path
) -> None:
    proc = run_headless(LOCUSTFILE, ws_server.url("/"), tmp_path / "echo")
    assert proc.returncode == 0, proc.stderr
    rows = stats(tmp_path / "echo")
    connect = rows[("WSCONN", "connect")]
    assert count(connect) == 5 and connect["Failure Count"] == "0"  # one per user
    assert float(connect["Average Response Time"]) > 0
    assert count(rows[("WSCONN", "connect: tcp+tls")]) == count(rows[("WSCONN", "connect: upgrade")]) == 5
    for name, size in (("echo", 5.0), ("echo json", None)):
        round_trip = rows[("WS", name)]
        assert count(round_trip) > 0 and round_trip["Failure Count"] == "0"
        # Measured round trips, below the request timeout (10 s) since none failed.
        assert 0 < float(round_trip["Min Response Time"]) <= float(round_trip["Max Response Time"]) < 10_000
        assert count(rows[("WSS", name)]) >= count(round_trip)  # every request's message, counted out
        assert count(rows[("WSR", name)]) >= count(round_trip)  # and its reply, counted in
        if size is not None:
            assert float(round_trip["Average Content Size"]) == size
    assert float(rows[("WSS", "blob")]["Average Content Size"]) == 256
    unsolicited = rows[("WSR", "unsolicited")]  # the echoes of fire-and-forget sends
    assert count(unsolicited) > 0 and float(unsolicited["Average Content Size"]) == 256
    assert read_csv(tmp_path / "echo_failures.csv") == []


def test_a_refused_upgrade_counts_as_connect_failures(ws_server: ServerProcess, tmp_path: Path) -> None:
    proc = run_headless(LOCUSTFILE, ws_server.url("/reject/403"), tmp_path / "rejected")
    assert proc.returncode == 1, proc.stderr  # Locust's exit status when requests failed
    rows = stats(tmp_path / "rejected")
    connect = rows[("WSCONN", "connect")]
    assert count(connect) > 5  # each user retries at its next task
    assert connect["Failure Count"] == connect["Request Count"]
    assert ("WS", "echo") not in rows  # no request was sent
    failures = read_csv(tmp_path / "rejected_failures.csv")
    assert [(row["Method"], row["Name"]) for row in failures] == [("WSCONN", "connect")]
    assert "HANDSHAKE_FAIL (3)" in failures[0]["Error"] and "403" in failures[0]["Error"]


SLOW_LOCUSTFILE = """
import itertools
from locust import constant, task
from geventws.contrib.locust import WebSocketUser

ids = itertools.count()

class SlowUser(WebSocketUser):
    wait_time = constant(0)
    request_timeout = 0.2

    @task
    def slow_echo(self):
        text = f"late {next(ids)}"
        # The echo of this very message (a late echo of an earlier one is not the reply).
        self.request(text, name="slow echo", match=lambda reply: reply == text)
"""


def test_a_reply_after_the_timeout_is_a_failure(ws_server: ServerProcess, tmp_path: Path) -> None:
    locustfile = tmp_path / "slow_locustfile.py"
    locustfile.write_text(SLOW_LOCUSTFILE)
    # /slow/0.5: the server waits 0.5 s before the upgrade and before each echo.
    proc = run_headless(str(locustfile), ws_server.url("/slow/0.5"), tmp_path / "slow", "-u", "2", "-r", "2")
    assert proc.returncode == 1, proc.stderr
    rows = stats(tmp_path / "slow")
    slow = rows[("WS", "slow echo")]
    assert count(slow) > 0 and slow["Failure Count"] == slow["Request Count"]
    assert float(slow["Min Response Time"]) >= 200  # waited the whole timeout
    failures = read_csv(tmp_path / "slow_failures.csv")
    assert any("TimeoutError" in row["Error"] and row["Name"] == "slow echo" for row in failures)
    assert count(rows[("WSR", "unsolicited")]) > 0  # the late echoes, counted when they came


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_a_master_holds_its_workers_statistics(ws_server: ServerProcess, tmp_path: Path) -> None:
    port = str(free_port())
    host = ws_server.url("/")
    master = subprocess.Popen(
        [
            *locust(
                "-f", LOCUSTFILE, "--master", "--headless", "--expect-workers", "1", "-u", "4", "-r", "4"
            ),
            *("-t", RUN_TIME, "--host", host, "--csv", str(tmp_path / "master")),
            *("--master-bind-host", "127.0.0.1", "--master-bind-port", port),
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    worker = subprocess.Popen(
        locust(
            "-f", LOCUSTFILE, "--worker", "--master-host", "127.0.0.1", "--master-port", port, "--host", host
        ),
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        _, master_err = master.communicate(timeout=TIMEOUT)
        _, worker_err = worker.communicate(timeout=TIMEOUT)
    finally:
        for proc in (master, worker):
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
    assert master.returncode == 0, master_err
    assert worker.returncode == 0, worker_err
    rows = stats(tmp_path / "master")  # the master runs no user: every request is the worker's
    assert count(rows[("WSCONN", "connect")]) == 4
    assert count(rows[("WS", "echo")]) > 0 and rows[("WS", "echo")]["Failure Count"] == "0"
    assert count(rows[("WSS", "blob")]) > 0


def test_a_closed_connection_is_reopened_at_the_next_request(
    ws_server: ServerProcess, tmp_path: Path
) -> None:
    # /close/1000/bye: the server closes every connection right after the handshake.
    proc = run_headless(
        LOCUSTFILE, ws_server.url("/close/1000/bye"), tmp_path / "closing", "-u", "2", "-r", "2"
    )
    assert proc.returncode == 1, proc.stderr  # the requests fail: nobody answers them
    rows = stats(tmp_path / "closing")
    connect = rows[("WSCONN", "connect")]
    assert count(connect) > 2 and connect["Failure Count"] == "0"  # reopened, again and again
    failures = read_csv(tmp_path / "closing_failures.csv")
    closed = [row for row in failures if "connection closed: code 1000" in row["Error"]]
    assert closed, failures  # requests on a connection the server closed fail, and say why
    # Besides those, only a message queued for a reconnect that the stop at the end
    # of the run cut short may be reported (SEND_FAIL: reported, never dropped in
    # silence); a clean close itself is no connection error.
    others = [row for row in failures if row not in closed]
    assert all(
        (row["Method"], row["Name"]) == ("WSCONN", "connection error") and "SEND_FAIL (2)" in row["Error"]
        for row in others
    ), others


SEND_FAILS_SCRIPT = """
import json
import sys

from locust.env import Environment

from geventws.contrib.locust import WebSocketUser


class ClosingUser(WebSocketUser):
    host = sys.argv[1]

    def __init__(self, environment):
        super().__init__(environment)
        opened = self.ws.on_websocket_connect

        def open_then_close(conn, response):
            opened(conn, response)
            conn.close()  # in the connection's greenlet: only starts the close

        # Closing by the time request() sends, which then fails.
        self.ws.on_websocket_connect = open_then_close


env = Environment(user_classes=[ClosingUser])
env.create_local_runner()  # what listens to the request events and fills env.stats
reply = ClosingUser(env).request("hello", name="echo")
entries = {
    f"{method} {name}": [entry.num_requests, entry.num_failures]
    for (name, method), entry in env.stats.entries.items()
}
errors = sorted(f"{error.method} {error.name}: {error.error}" for error in env.stats.errors.values())
print(json.dumps({"reply": reply, "entries": entries, "errors": errors}))
"""


def test_a_request_whose_send_fails_is_a_failed_request(ws_server: ServerProcess, tmp_path: Path) -> None:
    # Regression: only the WSS (message) entry recorded the failed send; the
    # request's own WS entry, the one people watch, recorded nothing.
    script = tmp_path / "send_fails.py"
    script.write_text(SEND_FAILS_SCRIPT)
    proc = subprocess.run(
        [sys.executable, str(script), ws_server.url("/")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["reply"] is None
    entries = result["entries"]
    assert entries["WSS echo"] == [1, 1]  # the send did fail (the scenario happened)
    assert entries.get("WS echo") == [1, 1]  # and the request counts it, once
    assert entries["WSCONN connect"] == [1, 0]  # opened once: no reopening for the send
    ws_errors = [e for e in result["errors"] if e.startswith("WS echo: ")]
    assert len(ws_errors) == 1 and "connection closed" in ws_errors[0], result["errors"]
