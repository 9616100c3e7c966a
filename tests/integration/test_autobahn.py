"""Autobahn|Testsuite, the independent conformance suite: all client cases.

The fuzzing server (Python 2.7 only) is installed by .ci/run into
``$GEVENTWS_AUTOBAHN_SITE`` (default /tmp/geventws-autobahn).

- :func:`test_every_autobahn_client_case_passes`: every case but 12.* and 13.*
  (301), the client offering no extension.
- :func:`test_every_autobahn_compression_case_passes`: 12.* and 13.* (216,
  permessage-deflate), the client offering compression. The fuzzing server
  compresses in Python 2.7: on two fuzzing servers in parallel (12.* and 13.*)
  they took 819 s on a busy 2-core machine, so they run only with
  ``GEVENTWS_AUTOBAHN_COMPRESSION=1`` (once per CI run, not once per Python
  version). These cases read the suite's test data files at every case: a
  reinstall of the suite while they run fails every later case with HTTP 500.
"""

from __future__ import annotations

import collections
import json
import os
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import gevent
import pytest

from tests.autobahn.client import case_count, run_case, update_reports
from tests.conftest import ROOT

SITE = Path(os.environ.get("GEVENTWS_AUTOBAHN_SITE", "/tmp/geventws-autobahn"))
#: Written by .ci/run: the Python 2.7 interpreter it installed the suite with.
PYTHON27_FILE = SITE / "python27"
AGENT = "geventws"
#: Set to 1 to run the compression cases (12.* and 13.*).
COMPRESSION_ENV = "GEVENTWS_AUTOBAHN_COMPRESSION"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class FuzzingServer:
    """``wstest -m fuzzingserver`` running ``cases`` (minus ``exclude``) in a subprocess."""

    def __init__(self, folder: Path, cases: list[str], exclude: list[str]) -> None:
        if not (SITE / "autobahntestsuite").is_dir() or not PYTHON27_FILE.is_file():
            pytest.skip(f"Autobahn|Testsuite (Python 2.7) is not installed in {SITE}: see .ci/run")
        python27 = PYTHON27_FILE.read_text().strip()
        self.url = f"ws://127.0.0.1:{free_port()}"
        self.index = folder / "reports" / "index.json"
        spec = {"url": self.url, "outdir": str(folder / "reports"), "cases": cases, "exclude-cases": exclude}
        (folder / "spec.json").write_text(json.dumps(spec))
        self.proc = subprocess.Popen(
            [
                python27,
                str(ROOT / "tests/autobahn/wstest_py27.py"),
                str(SITE),
                "-m",
                "fuzzingserver",
                "-s",
                "spec.json",
                "-u",  # no embedded web server: its fixed port 8080 collides with concurrent runs
                "0",
            ],
            cwd=folder,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        assert self.proc.stdout is not None
        for line in self.proc.stdout:  # ends if the server dies; pytest-timeout bounds it
            if "Fuzzing Server" in line:
                break
        else:
            self.stop()
            pytest.fail("the Autobahn fuzzing server did not start")
        # Drained in a thread: a full pipe would block the server; the tail explains a failure.
        self.output: collections.deque[str] = collections.deque(maxlen=200)
        self.drain = threading.Thread(target=self.output.extend, args=(self.proc.stdout,), daemon=True)
        self.drain.start()

    def run_all(self, **options: Any) -> dict[str, Any]:
        """Run every case with a client built with ``options``; the results by case."""
        count = case_count(self.url)
        for case in range(1, count + 1):
            run_case(self.url, case, AGENT, **options)
        update_reports(self.url, AGENT)
        results: dict[str, Any] = json.loads(self.index.read_text())[AGENT]
        assert len(results) == count, "".join(self.output)
        return results

    def stop(self) -> None:
        assert self.proc.stdout is not None
        self.proc.terminate()
        self.proc.wait(10)
        if hasattr(self, "drain"):
            self.drain.join(10)
        self.proc.stdout.close()


@pytest.fixture(scope="module")
def fuzzing_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FuzzingServer]:
    server = FuzzingServer(tmp_path_factory.mktemp("autobahn"), ["*"], ["12.*", "13.*"])
    yield server
    server.stop()


def assert_all_ok(results: dict[str, Any], what: str) -> None:
    tally = collections.Counter((r["behavior"], r["behaviorClose"]) for r in results.values())
    print(f"Autobahn|Testsuite, {len(results)} {what}: {dict(tally)}")
    bad = {
        case: (r["behavior"], r["behaviorClose"])
        for case, r in results.items()
        if r["behavior"] not in ("OK", "INFORMATIONAL") or r["behaviorClose"] not in ("OK", "INFORMATIONAL")
    }
    assert not bad, f"cases not passed strictly: {bad}"


@pytest.mark.timeout(600)
def test_every_autobahn_client_case_passes(fuzzing_server: FuzzingServer) -> None:
    assert_all_ok(fuzzing_server.run_all(), "client cases")


@pytest.mark.timeout(3600)
def test_every_autobahn_compression_case_passes(tmp_path: Path) -> None:
    if os.environ.get(COMPRESSION_ENV) != "1":
        pytest.skip(
            f"the 216 compression cases (12.*, 13.*) take about 14 minutes: set {COMPRESSION_ENV}=1 "
            "to run them (.ci/run does, once per CI run)"
        )
    servers: list[FuzzingServer] = []
    try:
        for part in ("12", "13"):  # two servers: the Python 2.7 side is the bottleneck
            (tmp_path / part).mkdir()
            servers.append(FuzzingServer(tmp_path / part, [f"{part}.*"], []))
        started = time.monotonic()
        runs = [gevent.spawn(server.run_all, compression="deflate") for server in servers]
        gevent.joinall(runs, raise_error=True)
        results: dict[str, Any] = {}
        for run in runs:
            results.update(run.get())
        print(f"compression cases took {time.monotonic() - started:.0f} s")
    finally:
        for server in servers:
            server.stop()
    assert len(results) == 216
    assert_all_ok(results, "compression cases")
