"""Issue 12, "Inside a gevent application": examples/gevent_app.py relays an upstream
feed to HTTP clients as server-sent events, and keeps their streams through an
upstream restart.

Everything runs in subprocesses on loopback: the upstream feed (the
``websockets`` package), the app, and this test reading the app over HTTP.
"""

from __future__ import annotations

import contextlib
import http.client
import importlib.util
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tests.conftest import ROOT, ServerProcess
from tests.support import UNIT

READ_TIMEOUT = 10 * UNIT

FEED_SERVER = """
import asyncio, contextlib, sys
from websockets.asyncio.server import serve
from websockets.exceptions import ConnectionClosed

TAG, PORT = sys.argv[1], int(sys.argv[2])

async def feed(ws):
    print("CONNECTION", flush=True)
    with contextlib.suppress(ConnectionClosed):
        for n in range(100_000):
            await ws.send(f"{TAG} {n}")
            await asyncio.sleep(0.02)

async def main():
    async with serve(feed, "127.0.0.1", PORT) as server:
        print(f"PORT {server.sockets[0].getsockname()[1]}", flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)

asyncio.run(main())
"""


def start_feed(script: Path, tag: str, port: int = 0) -> ServerProcess:
    """A feed that sends ``"<tag> <n>"`` to every client, 50 times a second."""
    return ServerProcess(command=[sys.executable, str(script), tag, str(port)])


def next_data(response: http.client.HTTPResponse) -> str:
    """The data of the next event on the stream (comments and ids skipped)."""
    for _ in range(100):
        line = response.readline()
        assert line, "the event stream ended"
        if line.startswith(b"data: "):
            return line[len(b"data: ") :].decode().rstrip("\n")
    raise AssertionError("no event in 100 lines")


def test_the_event_stream_survives_an_upstream_restart(tmp_path: Path) -> None:
    script = tmp_path / "feed_server.py"
    script.write_text(FEED_SERVER)
    first = start_feed(script, "first")
    app = subprocess.Popen(
        [
            *(sys.executable, "examples/gevent_app.py", "--upstream", f"ws://127.0.0.1:{first.port}/"),
            *("--port", "0", "--first-delay", "0.05", "--max-delay", "0.2"),
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    second: ServerProcess | None = None
    client: http.client.HTTPConnection | None = None
    try:
        assert app.stdout is not None
        listening = app.stdout.readline().split()
        assert listening[:1] == ["LISTENING"], listening
        port = int(listening[1].rsplit(":", 1)[1].split("/")[0])
        client = http.client.HTTPConnection("127.0.0.1", port, timeout=READ_TIMEOUT)
        client.request("GET", "/events")
        response = client.getresponse()
        assert response.status == 200
        assert response.getheader("Content-Type") == "text/event-stream"
        before = [next_data(response) for _ in range(3)]
        assert all(data.startswith("first ") for data in before)

        first.proc.kill()  # the upstream dies without a closing handshake...
        first.proc.wait()
        second = start_feed(script, "second", first.port)  # ...and comes back on the same port
        for _ in range(1000):
            data = next_data(response)  # the same HTTP response, still streaming
            if data.startswith("second "):
                break
            assert data.startswith("first ")
        else:
            raise AssertionError("no message from the restarted upstream")

        app.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + READ_TIMEOUT
        while response.readline() and time.monotonic() < deadline:
            pass  # the app ends the stream when it stops
        _, err = app.communicate(timeout=READ_TIMEOUT)
        assert app.returncode == 0, err
        assert "reconnecting in" in err
    finally:
        if client is not None:
            client.close()
        if app.poll() is None:
            app.kill()
            app.communicate()
        for server in (first, second):
            if server is not None:
                server.stop()


@pytest.mark.skipif(
    importlib.util.find_spec("gunicorn") is None, reason='gunicorn is not installed (pip install -e ".[app]")'
)
def test_under_gunicorn_each_worker_owns_its_connection(tmp_path: Path) -> None:
    script = tmp_path / "feed_server.py"
    script.write_text(FEED_SERVER)
    feed = start_feed(script, "feed")
    feed_lines = lines_of(feed)
    port = free_port()
    factory = f'gevent_app:make_app("ws://127.0.0.1:{feed.port}/")'
    app = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "-c",
            "gunicorn_conf.py",
            "-w",
            "2",
            "-b",
            f"127.0.0.1:{port}",
            factory,
        ],
        cwd=ROOT / "examples",
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    client: http.client.HTTPConnection | None = None
    try:
        # post_worker_init started one connection in each worker.
        assert [feed_lines.get(timeout=READ_TIMEOUT) for _ in range(2)] == ["CONNECTION", "CONNECTION"]
        client = http.client.HTTPConnection("127.0.0.1", port, timeout=READ_TIMEOUT)
        client.request("GET", "/events")
        response = client.getresponse()
        assert all(next_data(response).startswith("feed ") for _ in range(3))
        client.close()
        app.send_signal(signal.SIGTERM)
        _, err = app.communicate(timeout=READ_TIMEOUT)
        assert app.returncode == 0, err
        assert "Traceback" not in err
    finally:
        if client is not None:
            client.close()
        if app.poll() is None:
            app.kill()
            app.communicate()
        feed.stop()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def lines_of(server: ServerProcess) -> queue.Queue[str]:
    """The server's next output lines, read by a thread (so that waits can time out)."""
    lines: queue.Queue[str] = queue.Queue()
    stdout = server.proc.stdout
    assert stdout is not None

    def read() -> None:
        with contextlib.suppress(ValueError, OSError):  # the pipe is closed by stop()
            for line in stdout:
                lines.put(line.strip())

    threading.Thread(target=read, daemon=True).start()
    return lines
