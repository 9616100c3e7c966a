"""The sequential face: connect / send / recv / iterate (issue 3)."""

from __future__ import annotations

import socket
import time

import gevent
import gevent.event
import gevent.select
import pytest

import geventws
from tests.conftest import ServerProcess
from tests.rawserver import BINARY, CLOSE, TEXT, Peer


def test_connect_returns_open_and_context_manager_closes_1000(ws_server: ServerProcess) -> None:
    with geventws.connect(ws_server.url("/")) as ws:
        assert ws.state is geventws.State.OPEN
        ws.send("text")
        ws.send(b"\x00\xff")
        assert ws.recv(timeout=5) == "text"
        assert ws.recv(timeout=5) == b"\x00\xff"
    assert ws.state is geventws.State.CLOSED
    assert ws.close_code == 1000
    assert ws.finished


def test_recv_timeout_raises_builtin_timeout_error(ws_server: ServerProcess) -> None:
    with geventws.connect(ws_server.url("/")) as ws:
        started = time.monotonic()
        with pytest.raises(TimeoutError):
            ws.recv(timeout=0.05)
        assert time.monotonic() - started >= 0.05
        # The connection is still usable after a timeout.
        ws.send("still here")
        assert ws.recv(timeout=5) == "still here"


def test_iteration_ends_quietly_on_normal_close(raw_server) -> None:  # type: ignore[no-untyped-def]
    def handler(peer: Peer) -> None:
        peer.handshake()
        for text in (b"one", b"two", b"three"):
            peer.send_frame(TEXT, text)
        peer.send_close(1000, b"done")
        peer.read_frame()

    server = raw_server(handler)
    ws = geventws.connect(server.url())
    assert list(ws) == ["one", "two", "three"]
    assert ws.close_code == 1000
    assert ws.close_reason == "done"
    with pytest.raises(geventws.ConnectionClosedOK):
        ws.recv(timeout=1)


def test_iteration_raises_on_abnormal_close(raw_server) -> None:  # type: ignore[no-untyped-def]
    def handler(peer: Peer) -> None:
        peer.handshake()
        peer.send_frame(BINARY, b"data")
        peer.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")

    server = raw_server(handler)
    ws = geventws.connect(server.url())
    received = []
    with pytest.raises(geventws.ConnectionClosedError) as info:
        for message in ws:
            received.append(message)
    assert received == [b"data"]
    assert info.value.code == 1006
    assert ws.close_code == 1006


def test_recv_is_an_error_with_on_message(ws_server: ServerProcess) -> None:
    with (
        geventws.connect(ws_server.url("/"), on_message=lambda c, d: None) as ws,
        pytest.raises(RuntimeError, match="on_message"),
    ):
        ws.recv(timeout=1)


def test_concurrent_recv_raises_concurrency_error(ws_server: ServerProcess) -> None:
    with geventws.connect(ws_server.url("/")) as ws:
        first = gevent.spawn(ws.recv, 5)
        gevent.sleep(0)  # let the first reader start waiting
        with pytest.raises(geventws.ConcurrencyError):
            ws.recv(timeout=1)
        ws.send("for the first reader")
        assert first.get(timeout=5) == "for the first reader"


def test_full_inbox_stops_reading_and_loses_nothing(raw_server) -> None:  # type: ignore[no-untyped-def]
    """With max_queue=4 the client stops reading: the server's sends block (TCP
    back-pressure); once the client reads, every message arrives in order."""
    total = 4000  # 16 MiB: more than the loopback socket buffers hold
    payload = b"x" * 4096
    sent = []
    blocked = gevent.event.Event()

    def handler(peer: Peer) -> None:
        peer.sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 65536)
        peer.handshake()
        for i in range(total):
            if not blocked.is_set() and not gevent.select.select([], [peer.sock], [], 0.5)[1]:
                blocked.set()  # not writable for 0.5 s: the client stopped reading
            peer.send_frame(BINARY, i.to_bytes(4, "big") + payload)
            sent.append(i)
        peer.read_frame()

    server = raw_server(handler)
    ws = geventws.connect(server.url(), max_queue=4, ping_interval=None)
    assert blocked.wait(10), "the server never felt back-pressure"
    assert len(sent) < total
    received = [int.from_bytes(ws.recv(timeout=10)[:4], "big") for _ in range(total)]  # type: ignore[index, arg-type]
    assert received == list(range(total))
    ws.close()


def test_ping_wait_and_latency(ws_server: ServerProcess) -> None:
    with geventws.connect(ws_server.url("/"), ping_interval=None) as ws:
        assert ws.latency is None
        pong = ws.ping(b"abc")
        assert pong.wait(5)
        assert pong.latency is not None and pong.latency > 0
        assert ws.latency == pong.latency


def test_ping_unanswered_wait_returns_false(raw_server) -> None:  # type: ignore[no-untyped-def]
    def handler(peer: Peer) -> None:
        peer.handshake()
        while peer.read_frame()[1] != CLOSE:  # never answers pings
            pass
        peer.send_close(1000)

    server = raw_server(handler)
    with geventws.connect(server.url(), ping_interval=None) as ws:
        assert not ws.ping(b"x").wait(0.1)


def test_connect_errors_are_typed_and_chained(raw_server) -> None:  # type: ignore[no-untyped-def]
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(geventws.ConnectError) as refused:
        geventws.connect(f"ws://127.0.0.1:{port}/")
    assert isinstance(refused.value.__cause__, ConnectionRefusedError)

    def never_answers(peer: Peer) -> None:
        peer.read_request()
        gevent.sleep(10)

    server = raw_server(never_answers)
    with pytest.raises(TimeoutError) as timeout:
        geventws.connect(server.url(), open_timeout=0.1)
    assert isinstance(timeout.value, geventws.OpenTimeout)
    assert isinstance(timeout.value, geventws.ConnectError)

    with pytest.raises(geventws.InvalidURL):
        geventws.connect("http://example.com/")


def test_send_after_close_raises(ws_server: ServerProcess) -> None:
    with geventws.connect(ws_server.url("/")) as ws:
        pass
    with pytest.raises(geventws.ConnectionClosedOK):
        ws.send("too late")


def test_exception_tree_has_one_root() -> None:
    for name in geventws.__all__:
        obj = getattr(geventws, name)
        if isinstance(obj, type) and issubclass(obj, Exception):
            assert issubclass(obj, geventws.WebSocketError), name
    assert issubclass(geventws.ConnectionClosedOK, geventws.ConnectionClosed)
    assert issubclass(geventws.ConnectionClosedError, geventws.ConnectionClosed)
    assert issubclass(geventws.ConcurrencyError, RuntimeError)
    assert issubclass(geventws.InvalidURL, ValueError)


def test_protocol_failure_is_chained_as_the_cause(raw_server) -> None:  # type: ignore[no-untyped-def]
    def handler(peer: Peer) -> None:
        peer.handshake()
        peer.send_frame(TEXT, b"ok")
        peer.send_frame(TEXT, b"\xff\xfe")  # invalid UTF-8: the client fails with 1007
        peer.read_frame()

    server = raw_server(handler)
    ws = geventws.connect(server.url())
    assert ws.recv(timeout=5) == "ok"
    with pytest.raises(geventws.ConnectionClosedError) as info:
        ws.recv(timeout=5)
    assert info.value.code == 1007
    assert isinstance(info.value.__cause__, geventws.ProtocolError)


def test_interim_responses_before_101_are_skipped(raw_server) -> None:  # type: ignore[no-untyped-def]
    def handler(peer: Peer) -> None:
        peer.read_request()
        peer.send_response("100 Continue")
        peer.send_response("103 Early Hints", [("Link", "</style.css>; rel=preload")])
        peer.accept()
        peer.send_frame(TEXT, b"after interim")
        peer.read_frame()

    server = raw_server(handler)
    with geventws.connect(server.url()) as ws:
        assert ws.response is not None and ws.response.status == 101
        assert ws.recv(timeout=5) == "after interim"


def test_a_close_frame_without_a_code_is_a_normal_close(raw_server) -> None:  # type: ignore[no-untyped-def]
    def handler(peer: Peer) -> None:
        peer.handshake()
        peer.send_frame(TEXT, b"last")
        peer.send_close(None)  # RFC 6455 §7.1.5: no status code, reported as 1005
        peer.read_frame()

    server = raw_server(handler)
    ws = geventws.connect(server.url())
    assert list(ws) == ["last"]  # ends quietly, like 1000
    assert ws.close_code == 1005
    with pytest.raises(geventws.ConnectionClosedOK):
        ws.recv(timeout=1)
