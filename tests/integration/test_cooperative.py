"""geventws stays cooperative with and without monkey-patching (issue 3).

Each scenario of tests/coop_scenarios.py runs in a fresh interpreter, unpatched
and patched before or after importing geventws.
"""

from __future__ import annotations

import re
import subprocess
import sys

import gevent
import pytest

from tests.conftest import ROOT, ServerProcess

MODES = ["unpatched", "patched-before", "patched-after"]

# gevent < 26.7 with patch_all() before logging handlers exist prints this at
# interpreter exit, from logging's own weakref callback (any library's
# NullHandler triggers it); it is not a greenlet of ours failing.
_GEVENT_SHUTDOWN_NOISE = re.compile(
    r"Exception ignored in: <function _removeHandlerRef.*?RuntimeError: greenlet is being finalized\n",
    re.DOTALL,
)


def _our_stderr(stderr: str) -> str:
    if tuple(int(p) for p in gevent.__version__.split(".")[:2]) < (26, 7):
        return _GEVENT_SHUTDOWN_NOISE.sub("", stderr)
    return stderr


@pytest.mark.timeout(120)
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(
    "scenario", ["heartbeat", "big_message_under_pings", "concurrent_senders", "os_thread_send"]
)
def test_scenario(scenario: str, mode: str, ws_server: ServerProcess) -> None:
    url = ws_server.url("").rstrip("/")
    proc = subprocess.run(
        [sys.executable, "-m", "tests.coop_scenarios", scenario, mode, url],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=100,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.startswith("OK"), proc.stdout + proc.stderr
    # A traceback printed from inside a greenlet would land on stderr.
    assert "Traceback" not in _our_stderr(proc.stderr), proc.stderr
    print(scenario, mode, proc.stdout.strip())


def test_import_does_not_patch() -> None:
    code = (
        "import geventws, gevent.monkey, socket, ssl, threading; "
        "assert not gevent.monkey.is_anything_patched(); "
        "assert socket.socket.__module__ == 'socket', socket.socket.__module__; print('clean')"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=30)
    assert proc.stdout.strip() == "clean", proc.stderr
