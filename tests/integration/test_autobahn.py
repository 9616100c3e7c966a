"""Autobahn|Testsuite, the independent conformance suite: all client cases.

The fuzzing server (Python 2.7 only) is installed by .ci/run into
``$GEVENTWS_AUTOBAHN_SITE`` (default /tmp/geventws-autobahn). Cases 12 and 13
(permessage-deflate) are left out: the client offers no extension.
"""

from __future__ import annotations

import collections
import json
import os
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.autobahn.client import case_count, run_case, update_reports
from tests.conftest import ROOT

SITE = Path(os.environ.get("GEVENTWS_AUTOBAHN_SITE", "/tmp/geventws-autobahn"))
#: Written by .ci/run: the Python 2.7 interpreter it installed the suite with.
PYTHON27_FILE = SITE / "python27"
AGENT = "geventws"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def fuzzing_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    if not (SITE / "autobahntestsuite").is_dir() or not PYTHON27_FILE.is_file():
        pytest.skip(f"Autobahn|Testsuite (Python 2.7) is not installed in {SITE}: see .ci/run")
    python27 = PYTHON27_FILE.read_text().strip()
    folder = tmp_path_factory.mktemp("autobahn")
    url = f"ws://127.0.0.1:{free_port()}"
    spec = {"url": url, "outdir": str(folder / "reports"), "cases": ["*"], "exclude-cases": ["12.*", "13.*"]}
    (folder / "spec.json").write_text(json.dumps(spec))
    proc = subprocess.Popen(
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
    assert proc.stdout is not None
    for line in proc.stdout:  # ends if the server dies; pytest-timeout bounds it
        if "Fuzzing Server" in line:
            break
    else:
        pytest.fail("the Autobahn fuzzing server did not start")
    yield url, folder / "reports" / "index.json"
    proc.terminate()
    proc.wait(10)
    proc.stdout.close()


@pytest.mark.timeout(600)
def test_every_autobahn_client_case_passes(fuzzing_server: tuple[str, Path]) -> None:
    url, index = fuzzing_server
    count = case_count(url)
    for case in range(1, count + 1):
        run_case(url, case, AGENT)
    update_reports(url, AGENT)
    results = json.loads(index.read_text())[AGENT]
    tally = collections.Counter((r["behavior"], r["behaviorClose"]) for r in results.values())
    print(f"Autobahn|Testsuite, {len(results)} client cases: {dict(tally)}")
    assert len(results) == count
    bad = {
        case: (r["behavior"], r["behaviorClose"])
        for case, r in results.items()
        if r["behavior"] not in ("OK", "INFORMATIONAL") or r["behaviorClose"] not in ("OK", "INFORMATIONAL")
    }
    assert not bad, f"cases not passed strictly: {bad}"
