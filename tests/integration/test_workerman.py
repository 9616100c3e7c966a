"""Issue 11, "Workerman port": geventws.workerman against real servers on loopback.

Raw-socket servers see the client's frames and headers exactly; the
``websockets`` server (``ws_server``) runs the seed example end to end.
"""

from __future__ import annotations

import itertools
import json
import select
import signal
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import gevent
import gevent.event
import pytest

from geventws import CONNECT_FAIL, InvalidMessage
from geventws.workerman import WORKERMAN_CONNECT_FAIL, AsyncTcpConnection, Worker, Ws
from tests.conftest import ROOT, ServerProcess
from tests.rawserver import BINARY, CLOSE, PING, PONG, TEXT, Peer, RawServer
from tests.support import UNIT, WAIT, Recorder

RawServerFactory = Callable[..., RawServer]
#: A bounded negative wait: long enough to see that something does not happen.
QUIET = 0.3 * UNIT
SEED_HEADERS = {"Cookie": "PHPSID=82u98fjhakfusuanfnahfi; token=2hf9a929jhfihaf9i", "OtherKey": "values"}


def free_port() -> int:
    """A loopback port nobody listens on (for now)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def recording(conn: AsyncTcpConnection) -> Recorder:
    """Record every Workerman callback; each receives the AsyncTcpConnection itself."""
    rec = Recorder()

    def check(c: AsyncTcpConnection) -> None:
        assert c is conn

    def on_web_socket_connect(c: AsyncTcpConnection, response: Any) -> None:
        check(c)
        rec.add("open", str(response))

    conn.onConnect = lambda c: (check(c), rec.add("connect"))
    conn.onWebSocketConnect = on_web_socket_connect
    conn.onMessage = lambda c, data: (check(c), rec.add("message", data))
    conn.onError = lambda c, code, msg: (check(c), rec.add("error", code, msg))
    conn.onClose = lambda c: (check(c), rec.add("close"))
    return rec


def frames_until_close(received: list[tuple[int, bytes]]) -> Callable[[Peer], None]:
    """A server that accepts, records every frame and answers the client's close."""

    def handler(peer: Peer) -> None:
        peer.handshake()
        while True:
            _, opcode, payload = peer.read_frame()
            received.append((opcode, payload))
            if opcode == CLOSE:
                peer.send_frame(CLOSE, payload)
                return

    return handler


def test_blob_sends_text_frames_and_arraybuffer_binary_frames(raw_server: RawServerFactory) -> None:
    received: list[tuple[int, bytes]] = []
    server = raw_server(frames_until_close(received))
    conn = AsyncTcpConnection(server.url())
    rec = recording(conn)
    assert conn.websocketType == Ws.BINARY_TYPE_BLOB  # Workerman's default
    assert conn.send("queued") is None  # before connect(): queued, sent after the handshake
    conn.connect()
    assert rec.wait_for(lambda: rec.count("open") == 1)
    assert conn.send("text") is True
    assert conn.send(b"bytes as text") is True
    conn.websocketType = Ws.BINARY_TYPE_ARRAYBUFFER  # set after connect(): read at every send
    assert conn.send("str as binary") is True
    assert conn.send(b"\xff\x00") is True
    conn.close()
    assert received[:4] == [
        (TEXT, b"queued"),
        (TEXT, b"text"),
        (TEXT, b"bytes as text"),
        (BINARY, b"str as binary"),
    ]
    assert received[4] == (BINARY, b"\xff\x00")
    assert received[5][0] == CLOSE
    assert conn.send("late") is False  # closed: False, as Workerman's send()


def test_blob_refuses_bytes_that_are_not_utf8(raw_server: RawServerFactory) -> None:
    conn = AsyncTcpConnection(raw_server(lambda peer: peer.handshake()).url())
    with pytest.raises(InvalidMessage):
        conn.send(b"\xff")
    conn.close()


def test_the_seed_headers_reach_the_server(raw_server: RawServerFactory) -> None:
    server = raw_server(lambda peer: (peer.handshake(), peer.finish()))
    conn = AsyncTcpConnection(server.url("/feed?x=1"))
    rec = recording(conn)
    conn.connect()
    conn.headers = SEED_HEADERS  # set after connect(): read before the attempt
    assert rec.wait_for(lambda: rec.count("open") == 1)
    conn.close()
    peer = server.peers[0]
    assert peer.request_line == "GET /feed?x=1 HTTP/1.1"
    assert [(n, v) for n, v in peer.raw_headers if n in SEED_HEADERS] == list(SEED_HEADERS.items())
    assert rec.events[0] == ("connect",)
    assert rec.of("open")[0][1].startswith("HTTP/1.1 101 ")  # the raw response head, as in PHP


def test_pings_at_the_interval(raw_server: RawServerFactory) -> None:
    interval = 0.1 * UNIT
    pings: list[float] = []
    done = gevent.event.Event()

    def handler(peer: Peer) -> None:
        peer.handshake()
        while True:
            _, opcode, payload = peer.read_frame()
            if opcode == PING:
                pings.append(time.monotonic())
                peer.send_frame(PONG, payload)
                if len(pings) == 3:
                    done.set()
            elif opcode == CLOSE:
                peer.send_frame(CLOSE, payload)
                return

    server = raw_server(handler)
    conn = AsyncTcpConnection(server.url())
    conn.websocketPingInterval = interval
    rec = recording(conn)
    conn.onWebSocketPong = lambda c, data: rec.add("pong", data)
    started = time.monotonic()
    conn.connect()
    assert done.wait(20 * interval + WAIT)
    conn.close()
    assert pings[0] - started >= interval * 0.9
    assert all(b - a >= interval * 0.9 for a, b in itertools.pairwise(pings))
    assert rec.codes() == []
    assert rec.wait_for(lambda: rec.count("pong") >= 3)


def test_no_pings_by_default(raw_server: RawServerFactory) -> None:
    conn = AsyncTcpConnection(raw_server(lambda peer: peer.handshake()).url())
    conn.connect()
    assert conn.connection is not None and conn.connection.options.ping_interval is None
    conn.close()


def test_refused_connection_reports_error_then_close() -> None:
    conn = AsyncTcpConnection(f"ws://127.0.0.1:{free_port()}")
    rec = recording(conn)
    conn.connect()
    assert rec.wait_for(lambda: rec.count("close") == 1)
    assert [e[0] for e in rec.events] == ["error", "close"]
    _, code, msg = rec.events[0]
    assert code == 1 == WORKERMAN_CONNECT_FAIL == CONNECT_FAIL
    assert msg
    assert conn.connection is not None and conn.connection.wait_closed(WAIT)


def test_errors_are_logged_without_on_error(caplog: pytest.LogCaptureFixture) -> None:
    conn = AsyncTcpConnection(f"ws://user:secret@127.0.0.1:{free_port()}/")
    closed = gevent.event.Event()
    conn.onClose = lambda c: closed.set()
    conn.connect()
    assert closed.wait(WAIT)
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert len(warnings) == 1 and "CONNECT_FAIL" in warnings[0]
    assert "secret" not in caplog.text


def test_reconnect_after_the_server_closes(raw_server: RawServerFactory) -> None:
    def handler(peer: Peer) -> None:
        peer.handshake()
        if len(server.peers) == 1:
            peer.send_close(1001, b"restart")
            peer.read_frame()  # the client's close reply
        else:
            peer.finish()

    server = raw_server(handler)
    conn = AsyncTcpConnection(server.url())
    rec = recording(conn)
    conn.onClose = lambda c: (rec.add("close"), c.reConnect(0.1 * UNIT) if rec.count("close") == 1 else None)
    started = time.monotonic()
    conn.connect()
    assert rec.wait_for(lambda: rec.count("open") == 2)
    assert time.monotonic() - started >= 0.1 * UNIT
    assert [e[0] for e in rec.events] == ["connect", "open", "close", "connect", "open"]
    conn.close()
    assert len(server.peers) == 2


def test_connect_from_on_close_restarts(raw_server: RawServerFactory) -> None:
    def handler(peer: Peer) -> None:
        peer.handshake()
        if len(server.peers) == 1:
            peer.send_close(1000)
            peer.read_frame()  # the client's close reply
        else:
            peer.finish()

    server = raw_server(handler)
    conn = AsyncTcpConnection(server.url())
    rec = recording(conn)
    conn.onClose = lambda c: (rec.add("close"), c.connect() if rec.count("close") == 1 else None)
    conn.connect()
    assert rec.wait_for(lambda: rec.count("open") == 2)
    assert [e[0] for e in rec.events] == ["connect", "open", "close", "connect", "open"]
    conn.close()


def test_options_with_a_workerman_attribute_are_refused() -> None:
    with pytest.raises(TypeError, match="websocketPingInterval"):
        AsyncTcpConnection("ws://127.0.0.1:1", ping_interval=5)


def test_worker_takes_no_listen_address() -> None:
    with pytest.raises(ValueError, match="only runs clients"):
        Worker("ws://0.0.0.0:8080")


def test_run_all_until_stop_all(raw_server: RawServerFactory) -> None:
    server = raw_server(lambda peer: (peer.handshake(), peer.finish()))
    rec = Recorder()
    worker = Worker()

    def on_worker_start(w: Worker) -> None:
        rec.add("start", w)
        conn = AsyncTcpConnection(server.url())
        conn.onWebSocketConnect = lambda c, response: (rec.add("open"), Worker.stopAll())
        conn.onClose = lambda c: (rec.add("close"), c.reConnect(0))  # ignored once stopping
        conn.connect()

    worker.onWorkerStart = on_worker_start
    worker.onWorkerStop = lambda: rec.add("stop")
    Worker.runAll()
    assert [e[0] for e in rec.events] == ["start", "open", "close", "stop"]
    assert rec.events[0][1] is worker


def test_the_seed_example_runs_unchanged_and_sigterm_exits_0(ws_server: ServerProcess) -> None:
    # /headers: the server first sends back the request's headers, then echoes.
    proc = subprocess.Popen(
        [sys.executable, "examples/workerman_port.py", ws_server.url("/headers")],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    lines: list[str] = []
    deadline = time.monotonic() + 20 * UNIT
    while "recv: hello" not in lines and time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line.rstrip("\r\n"))
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=20 * UNIT)
    lines += out.splitlines()
    assert proc.returncode == 0, err
    assert lines[0] == "tcp connected"
    assert lines[1] == "HTTP/1.1 101 Switching Protocols"
    request = json.loads(next(line for line in lines if line.startswith("recv: {"))[len("recv: ") :])
    assert [h for h in request["headers"] if h[0] in SEED_HEADERS] == [
        list(kv) for kv in SEED_HEADERS.items()
    ]
    assert "recv: hello" in lines
    assert lines[-1] == "connection closed and try to reconnect"
    assert lines.count("tcp connected") == 1  # SIGTERM stopped the seed's reConnect(1)
    assert err == ""


def test_origin_and_client_protocol_attributes(raw_server: RawServerFactory) -> None:
    server = raw_server(
        lambda peer: (peer.read_request(), peer.accept([("Sec-WebSocket-Protocol", "b")]), peer.finish())
    )
    conn = AsyncTcpConnection(server.url())
    conn.websocketOrigin = "https://example.com"
    conn.websocketClientProtocol = "a, b"
    rec = recording(conn)
    conn.connect()
    assert rec.wait_for(lambda: rec.count("open") == 1)
    assert conn.connection is not None and conn.connection.subprotocol == "b"
    conn.close()
    headers = server.peers[0].headers
    assert headers["origin"] == "https://example.com"
    assert headers["sec-websocket-protocol"] == "a, b"


def test_transport_ssl_makes_ws_wss(wss_server: ServerProcess, client_ssl_context: ssl.SSLContext) -> None:
    conn = AsyncTcpConnection(wss_server.url("/").replace("wss://", "ws://"), ssl_context=client_ssl_context)
    conn.transport = "ssl"
    rec = recording(conn)
    conn.onWebSocketConnect = lambda c, response: c.send("over tls")
    conn.connect()
    assert rec.wait_for(lambda: rec.messages() == ["over tls"])
    assert conn.connection is not None and conn.connection.url.startswith("wss://")
    conn.close()


RUN_ALL_SCRIPT = """
import sys

if sys.argv[2] == "patched":
    from gevent import monkey

    monkey.patch_all()

import gevent

from geventws.workerman import AsyncTcpConnection, Worker

worker = Worker()


def on_worker_start():
    if sys.argv[3] == "none":  # no connection at all: only a signal ends runAll()
        print("started", flush=True)
        return
    conn = AsyncTcpConnection(sys.argv[1])
    conn.onWebSocketConnect = lambda c, response: gevent.spawn_later(0.05, c.close)
    conn.onClose = lambda c: print("closed", flush=True)  # no reConnect: closed for good
    conn.connect()


worker.onWorkerStart = on_worker_start
worker.onWorkerStop = lambda: print("stop", flush=True)
Worker.runAll()
print("returned", flush=True)
"""


@pytest.mark.parametrize(
    ("patching", "scenario", "ready"),
    [
        ("unpatched", "close", "closed"),
        ("patched", "close", "closed"),
        ("unpatched", "none", "started"),
    ],
)
def test_run_all_keeps_running_with_no_connection_left_until_sigterm(
    ws_server: ServerProcess, tmp_path: Path, patching: str, scenario: str, ready: str
) -> None:
    # Regression: runAll() ended in gevent's LoopExit ("This operation would block
    # forever", status 1) once the only connection was closed for good, or at once
    # with none: gevent's signal watchers do not keep its loop alive.
    script = tmp_path / "run_all.py"
    script.write_text(RUN_ALL_SCRIPT)
    proc = subprocess.Popen(
        [sys.executable, str(script), ws_server.url("/"), patching, scenario],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        ready_fds, _, _ = select.select([proc.stdout], [], [], 20 * UNIT)
        assert ready_fds, "the script printed nothing"
        assert proc.stdout.readline() == f"{ready}\n"
        try:  # like a Workerman worker, it keeps running with nothing left to run
            proc.wait(QUIET)
        except subprocess.TimeoutExpired:
            pass
        else:
            assert proc.stderr is not None
            pytest.fail(f"runAll() ended by itself (status {proc.returncode}): {proc.stderr.read()}")
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=20 * UNIT)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err
    assert "Traceback" not in err and "LoopExit" not in err, err
    assert out == "stop\nreturned\n", err
