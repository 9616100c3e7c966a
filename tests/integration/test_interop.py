"""Echo, ping and close exchanges against independent server implementations.

- ``websockets`` (Python), from the test extras;
- ``ws`` (Node.js), installed by .ci/run into tests/servers/node.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator

import gevent.event
import pytest

import geventws
from tests.conftest import ROOT, ServerProcess

NODE_DIR = ROOT / "tests" / "servers" / "node"


def start(name: str) -> ServerProcess:
    if name == "websockets":
        return ServerProcess()
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed")
    if not (NODE_DIR / "node_modules" / "ws").is_dir():
        pytest.skip("Node's ws is not installed: run `npm ci --prefix tests/servers/node`")
    return ServerProcess(command=[node, str(NODE_DIR / "echo.js")])


@pytest.fixture(scope="module", params=["websockets", "node-ws"])
def server(request: pytest.FixtureRequest) -> Iterator[ServerProcess]:
    if os.environ.get("CI") and request.param == "node-ws":
        assert shutil.which("node"), "CI must install node for the interop tests"
    proc = start(request.param)
    yield proc
    proc.stop()


@pytest.mark.parametrize("size", [0, 1, 125, 126, 65535, 65536, 2**20])
def test_echo_text_and_binary(server: ServerProcess, size: int) -> None:
    text = ("é" * size)[:size]
    data = os.urandom(size)
    with geventws.connect(server.url("/")) as ws:
        ws.send(text)
        ws.send(data)
        assert ws.recv(timeout=10) == text
        assert ws.recv(timeout=10) == data
    assert ws.close_code == 1000


def test_many_messages_in_order(server: ServerProcess) -> None:
    with geventws.connect(server.url("/")) as ws:
        for i in range(500):
            ws.send(f"message {i}")
        assert [ws.recv(timeout=10) for _ in range(500)] == [f"message {i}" for i in range(500)]


def test_client_ping_gets_pong(server: ServerProcess) -> None:
    with geventws.connect(server.url("/"), ping_interval=None) as ws:
        assert ws.ping(b"interop").wait(5)


def test_server_ping_gets_pong(server: ServerProcess) -> None:
    with geventws.connect(server.url("/ping")) as ws:
        assert ws.recv(timeout=5) == "pong received: hello"


@pytest.mark.parametrize(("code", "reason"), [(1000, ""), (1001, "bye"), (4000, "custom")])
def test_server_close(server: ServerProcess, code: int, reason: str) -> None:
    closed = gevent.event.Event()
    conn = geventws.Connection(server.url(f"/close/{code}/{reason}"), on_close=lambda c: closed.set())
    conn.connect()
    assert closed.wait(5)
    assert (conn.close_code, conn.close_reason) == (code, reason)
    conn.close()


def test_client_close_with_code(server: ServerProcess) -> None:
    ws = geventws.connect(server.url("/"))
    ws.close(4001, "client says bye")
    assert ws.close_code == 4001
    assert ws.close_reason == "client says bye"
    assert ws.finished


def test_callback_style_echo(server: ServerProcess) -> None:
    received: list[str | bytes] = []
    done = gevent.event.Event()

    def on_message(conn: geventws.Connection, data: str | bytes) -> None:
        received.append(data)
        if len(received) == 2:
            done.set()

    conn = geventws.Connection(
        server.url("/"),
        websocket_type=geventws.BINARY_TYPE_ARRAYBUFFER,
        on_websocket_connect=lambda c, r: (c.send("as binary"), c.send(b"bytes")),
        on_message=on_message,
    )
    conn.connect()
    assert done.wait(5)
    assert received == [b"as binary", b"bytes"]
    conn.close()
