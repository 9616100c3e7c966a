"""Proxies and other ways to reach a server through the public API (issue 11).

tests/integration/test_proxy.py and test_reach.py test the same paths at the
runtime.connector.open_transport seam.
"""

from __future__ import annotations

import socket
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import gevent.event
import pytest

import geventws
from geventws import ErrorCode, OpenTimeout, ProxyError, ReconnectPolicy
from tests.conftest import ServerProcess
from tests.proxies import PASSWORD, PLAIN_PASSWORD, USER, Proxy, RelayProxy, proxy_url
from tests.rawserver import TEXT, Peer, RawServer
from tests.support import UNIT, WAIT, Recorder

RawServerFactory = Callable[[Callable[[Peer], Any]], RawServer]


def test_connect_through_an_http_proxy_with_credentials(
    ws_server: ServerProcess, http_proxy_auth: Proxy
) -> None:
    with geventws.connect(ws_server.url("/"), proxy=http_proxy_auth.url) as ws:
        ws.send("via proxy")
        assert ws.recv(timeout=WAIT) == "via proxy"


def test_a_refused_proxy_is_reported_without_credentials(
    ws_server: ServerProcess, http_proxy_auth: Proxy, caplog: pytest.LogCaptureFixture
) -> None:
    wrong = proxy_url("http", http_proxy_auth.port, USER, "s3cr-wrong")
    with pytest.raises(ProxyError) as info:
        geventws.connect(ws_server.url("/"), proxy=wrong)
    assert str(info.value.status) in str(info.value)

    rec = Recorder()
    conn = geventws.Connection(ws_server.url("/"), proxy=wrong, **rec.callbacks())
    conn.connect()
    assert rec.wait_for(lambda: rec.count("close") == 1), rec.events
    [(_, code, message)] = rec.of("error")
    assert code in (ErrorCode.CONNECT_FAIL, ErrorCode.HANDSHAKE_FAIL)
    for text in (message, caplog.text, repr(conn._options)):
        for secret in ("s3cr", PASSWORD, PLAIN_PASSWORD, USER):
            assert secret not in text


def test_open_timeout_bounds_a_stalled_proxy(raw_server: RawServerFactory) -> None:
    closed = gevent.event.Event()

    def stall(peer: Peer) -> None:
        peer.read_request()
        if peer.wait_eof(timeout=WAIT):
            closed.set()

    server = raw_server(stall)
    with pytest.raises(OpenTimeout):
        geventws.connect("ws://127.0.0.1:9/", proxy=proxy_url("http", server.port), open_timeout=0.2 * UNIT)
    assert closed.wait(WAIT)


def test_proxy_true_takes_the_environment(ws_server: ServerProcess, monkeypatch: pytest.MonkeyPatch) -> None:
    relay = RelayProxy(auth=True)
    try:
        for name in ("http_proxy", "all_proxy", "no_proxy", "NO_PROXY", "ALL_PROXY", "REQUEST_METHOD"):
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setenv("HTTP_PROXY", relay.url)
        with geventws.connect(ws_server.url("/"), proxy=True) as ws:
            ws.send("env")
            assert ws.recv(timeout=WAIT) == "env"
    finally:
        relay.stop()
    assert relay.targets == [f"127.0.0.1:{ws_server.port}"]


def test_socks5_proxy(ws_server: ServerProcess, socks_proxy_auth: Proxy) -> None:
    with geventws.connect(ws_server.url("/"), proxy=socks_proxy_auth.url) as ws:
        ws.send("socks")
        assert ws.recv(timeout=WAIT) == "socks"


def test_source_address(raw_server: RawServerFactory) -> None:
    addresses: list[str] = []

    def handler(peer: Peer) -> None:
        addresses.append(peer.sock.getpeername()[0])
        peer.handshake()
        peer.send_frame(TEXT, b"hello")
        peer.finish()

    server = raw_server(handler)
    for source in ("127.0.0.2", "127.0.0.3"):
        with geventws.connect(server.url(), source_address=(source, 0)) as ws:
            assert ws.recv(timeout=WAIT) == "hello"
    assert addresses == ["127.0.0.2", "127.0.0.3"]


@pytest.fixture
def unix_server(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "ws.sock"
    server = ServerProcess(command=[sys.executable, "-m", "tests.servers.unix_server", str(path)])
    yield path
    server.stop()


def test_unix_path(unix_server: Path) -> None:
    with geventws.connect("ws://localhost/", unix_path=unix_server) as ws:
        ws.send("unix")
        assert ws.recv(timeout=WAIT) == "unix"


def test_sock_refuses_a_reconnect_policy_at_construction(ws_server: ServerProcess) -> None:
    with (
        socket.create_connection(("127.0.0.1", ws_server.port)) as caller,
        pytest.raises(ValueError, match="cannot reconnect"),
    ):
        geventws.Connection(ws_server.url("/"), sock=caller, reconnect=ReconnectPolicy())


def test_sock_runs_once_and_an_explicit_reconnect_reports_why_not(ws_server: ServerProcess) -> None:
    caller = socket.create_connection(("127.0.0.1", ws_server.port))
    rec = Recorder()
    conn = geventws.Connection(ws_server.url("/close/1000/bye"), sock=caller, **rec.callbacks())
    conn.connect()
    assert rec.wait_for(lambda: rec.count("close") == 1), rec.events
    assert rec.count("open") == 1
    conn.reconnect(0)
    assert rec.wait_for(lambda: rec.count("close") == 2), rec.events
    [(_, code, message)] = rec.of("error")
    assert code is ErrorCode.CONNECT_FAIL and "cannot reconnect" in message
