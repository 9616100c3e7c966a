"""``geventws echo-server``: starts, echoes, stops cleanly on Ctrl-C and SIGTERM."""

from __future__ import annotations

import signal

import gevent
import pytest

from tests.cli_support import received, run_cli, start_cli
from tests.support import WAIT


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_echo_server_serves_then_stops_cleanly(signum: int) -> None:
    server = start_cli("echo-server", "--port", "0")
    try:
        with gevent.Timeout(WAIT * 5):
            line = server.stdout.readline()
        assert line.startswith("listening on ws://127.0.0.1:"), line + server.stderr.read()
        url = line.split()[-1]
        proc = run_cli(url, "--send", "hello", "--expect", "1")
        assert proc.returncode == 0, proc.stderr
        assert received(proc.stdout) == ["text: hello"]
        proc = run_cli(url, "--binary", "--expect", "1", stdin="\x01\n")
        assert received(proc.stdout) == ["binary (1 byte): 01"]
        server.send_signal(signum)
        assert server.wait(WAIT * 3) == 0
        assert server.stderr.read() == ""
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
        for stream in (server.stdin, server.stdout, server.stderr):
            stream.close()
