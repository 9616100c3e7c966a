"""Issue 2, points 1–6: the Workerman-style callback API against real servers.

Every test talks to a server on loopback: the independent ``websockets``
server (``ws_server`` / ``wss_server``) or a scripted raw-socket server
(``raw_server``) that sees the client's bytes exactly. Nothing is mocked.
Tests wait on events with timeouts, never on ``sleep``.
"""

from __future__ import annotations

import itertools
import json
import socket
import ssl
import time
from collections.abc import Callable
from typing import Any

import gevent
import gevent.event
import pytest

import geventws
from geventws import State
from tests.conftest import ServerProcess
from tests.rawserver import BINARY, PING, PONG, TEXT, Peer, RawServer, frame
from tests.support import UNIT

#: Upper bound for anything that should happen "at once" (only reached on failure).
WAIT = 3 * UNIT
#: The short interval of the issue: pings, reconnect delays.
INTERVAL = 0.05 * UNIT

RawServerFactory = Callable[..., RawServer]


# -- helpers -------------------------------------------------------------------


def free_port() -> int:
    """A loopback port nobody listens on (for now)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def record_failure(events: list[Any], done: gevent.event.Event) -> dict[str, Callable[..., None]]:
    """Callbacks recording every event; ``done`` is set by ``on_close``."""

    def on_close(conn: geventws.Connection) -> None:
        events.append("close")
        done.set()

    return {
        "on_connect": lambda conn: events.append("connect"),
        "on_websocket_connect": lambda conn, response: events.append("websocket_connect"),
        "on_message": lambda conn, data: events.append(("message", data)),
        "on_error": lambda conn, code, msg: events.append(("error", code, msg)),
        "on_close": on_close,
    }


# -- 1. event order ------------------------------------------------------------


def test_happy_path_event_order(ws_server: ServerProcess) -> None:
    events: list[Any] = []
    echoed = gevent.event.Event()

    def on_websocket_connect(conn: geventws.Connection, response: geventws.Response) -> None:
        events.append(("websocket_connect", conn.state, response.status))
        conn.send("hello")

    def on_message(conn: geventws.Connection, data: str | bytes) -> None:
        events.append(("message", data))
        echoed.set()

    conn = geventws.Connection(
        ws_server.url("/echo"),
        on_connect=lambda conn: events.append(("connect", conn.state)),
        on_websocket_connect=on_websocket_connect,
        on_message=on_message,
        on_error=lambda conn, code, msg: events.append(("error", code, msg)),
        on_close=lambda conn: events.append("close"),
        ping_interval=None,
    )
    conn.connect()
    try:
        assert echoed.wait(WAIT), events
    finally:
        conn.close()
    assert events == [
        ("connect", State.CONNECTING),
        ("websocket_connect", State.OPEN, 101),
        ("message", "hello"),
        "close",
    ]
    assert conn.response is not None
    assert str(conn.response).startswith("HTTP/1.1 101")
    assert str(conn.response).endswith("\r\n\r\n")
    assert conn.response.headers["upgrade"].lower() == "websocket"
    assert conn.close_code == 1000


def test_on_connect_runs_before_upgrade_request_is_sent(raw_server: RawServerFactory) -> None:
    events: list[Any] = []
    in_on_connect = gevent.event.Event()
    checked = gevent.event.Event()
    got_message = gevent.event.Event()

    def handler(peer: Peer) -> None:
        assert in_on_connect.wait(WAIT)
        # on_connect is running now: no byte of the request may have arrived.
        peer.sock.settimeout(0.1 * UNIT)
        try:
            early: bytes | None = peer.sock.recv(1, socket.MSG_PEEK)
        except TimeoutError:
            early = None
        events.append(("server: bytes while on_connect runs", early))
        peer.sock.settimeout(WAIT)
        checked.set()
        peer.read_request()
        events.append(("server: request", peer.request_line))
        peer.accept()
        peer.send_frame(TEXT, b"first")
        peer.finish()

    def on_connect(conn: geventws.Connection) -> None:
        events.append("on_connect")
        in_on_connect.set()
        checked.wait(WAIT)
        events.append("on_connect returns")

    def on_message(conn: geventws.Connection, data: str | bytes) -> None:
        events.append(("on_message", data))
        got_message.set()

    server = raw_server(handler)
    conn = geventws.Connection(
        server.url("/order"),
        on_connect=on_connect,
        on_websocket_connect=lambda conn, response: events.append("on_websocket_connect"),
        on_message=on_message,
        ping_interval=None,
    )
    conn.connect()
    try:
        assert got_message.wait(WAIT), events
    finally:
        conn.close()
    assert events == [
        "on_connect",
        ("server: bytes while on_connect runs", None),
        "on_connect returns",
        ("server: request", "GET /order HTTP/1.1"),
        "on_websocket_connect",
        ("on_message", "first"),
    ]


# -- 2. headers, request target, TLS ---------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [
        {"Cookie": "PHPSID=abc; token=xyz", "OtherKey": "values"},
        [("Cookie", "PHPSID=abc; token=xyz"), ("OtherKey", "values"), ("X-Twice", "1"), ("X-Twice", "2")],
    ],
    ids=["dict", "pairs"],
)
def test_custom_headers_reach_the_server(ws_server: ServerProcess, headers: Any) -> None:
    messages: list[str | bytes] = []
    got = gevent.event.Event()

    def on_message(conn: geventws.Connection, data: str | bytes) -> None:
        messages.append(data)
        got.set()

    conn = geventws.Connection(
        ws_server.url("/headers/sub?x=1&y=two"), headers=headers, on_message=on_message, ping_interval=None
    )
    conn.connect()
    try:
        assert got.wait(WAIT)
    finally:
        conn.close()
    assert isinstance(messages[0], str)
    seen = json.loads(messages[0])
    pairs = [tuple(pair) for pair in seen["headers"]]
    assert seen["path"] == "/headers/sub?x=1&y=two"
    expected = headers.items() if isinstance(headers, dict) else headers
    for pair in expected:
        assert pair in pairs
    assert [v for n, v in pairs if n.lower() == "host"] == [f"127.0.0.1:{ws_server.port}"]
    assert [v for n, v in pairs if n.lower() == "upgrade"] == ["websocket"]


def test_percent_encoded_url(
    ws_server: ServerProcess, no_greenlet_errors: list[str], caplog: pytest.LogCaptureFixture
) -> None:
    path = "/headers/a%20b?q=%2F&s=50%25"
    messages: list[str | bytes] = []
    got = gevent.event.Event()
    closed = gevent.event.Event()

    def on_message(conn: geventws.Connection, data: str | bytes) -> None:
        messages.append(data)
        got.set()

    conn = geventws.Connection(
        ws_server.url(path), on_message=on_message, on_close=lambda conn: closed.set(), ping_interval=None
    )
    conn.connect()
    try:
        gevent.wait([got, closed], timeout=WAIT, count=1)
    finally:
        conn.close()
    # Take the greenlet errors over from the conftest guard so the failure shows here.
    greenlet_errors = list(no_greenlet_errors)
    no_greenlet_errors.clear()
    assert greenlet_errors == []
    assert isinstance(messages[0], str)
    assert json.loads(messages[0])["path"] == path
    logged = [r.getMessage() for r in caplog.records if r.name == "geventws"]
    assert any(ws_server.url(path) in line for line in logged), logged


@pytest.mark.parametrize(
    ("host", "path", "target"),
    [
        ("127.0.0.1", "/path/sub?query=1&b=two", "/path/sub?query=1&b=two"),
        ("127.0.0.1", "", "/"),
        ("127.0.0.1", "?only=query", "/?only=query"),
        ("localhost", "/chat?room=7", "/chat?room=7"),
    ],
)
def test_request_target_and_host_header(
    raw_server: RawServerFactory, host: str, path: str, target: str
) -> None:
    requests: list[tuple[str, list[tuple[str, str]]]] = []

    def handler(peer: Peer) -> None:
        peer.handshake()
        requests.append((peer.request_line, peer.raw_headers))
        peer.finish()

    server = raw_server(handler)
    opened = gevent.event.Event()
    conn = geventws.Connection(
        f"ws://{host}:{server.port}{path}",
        on_websocket_connect=lambda conn, response: opened.set(),
        ping_interval=None,
    )
    conn.connect()
    try:
        assert opened.wait(WAIT)
    finally:
        conn.close()
    request_line, raw_headers = requests[0]
    assert request_line == f"GET {target} HTTP/1.1"
    assert [v for n, v in raw_headers if n.lower() == "host"] == [f"{host}:{server.port}"]


def test_wss_with_ssl_context(wss_server: ServerProcess, client_ssl_context: ssl.SSLContext) -> None:
    events: list[Any] = []
    echoed = gevent.event.Event()

    def on_message(conn: geventws.Connection, data: str | bytes) -> None:
        events.append(("message", data))
        echoed.set()

    conn = geventws.Connection(
        wss_server.url("/echo"),
        ssl_context=client_ssl_context,
        on_connect=lambda conn: events.append("connect"),
        on_websocket_connect=lambda conn, response: conn.send("over TLS"),
        on_message=on_message,
        on_error=lambda conn, code, msg: events.append(("error", code, msg)),
        ping_interval=None,
    )
    conn.connect()
    try:
        assert echoed.wait(WAIT), events
    finally:
        conn.close()
    assert events == ["connect", ("message", "over TLS")]
    assert conn.close_code == 1000


def test_keepalive_over_tls_pings_from_a_short_lived_greenlet(
    wss_server: ServerProcess, client_ssl_context: ssl.SSLContext
) -> None:
    # TLS records are the ssl module's to write: keepalive pings from a greenlet, not the hub.
    pongs = gevent.event.Event()
    count: list[bytes] = []

    def on_pong(conn: geventws.Connection, payload: bytes) -> None:
        count.append(payload)
        if len(count) >= 3:
            pongs.set()

    conn = geventws.Connection(
        wss_server.url("/echo"), ssl_context=client_ssl_context, ping_interval=0.02 * UNIT, on_pong=on_pong
    )
    conn.connect()
    try:
        assert pongs.wait(WAIT)
        assert conn.latency is not None and len(set(count)) == len(count)  # fresh payload each time
    finally:
        conn.close()
    assert conn.close_code == 1000


def test_wss_default_context_rejects_unknown_ca(wss_server: ServerProcess) -> None:
    events: list[Any] = []
    done = gevent.event.Event()
    conn = geventws.Connection(wss_server.url("/echo"), ping_interval=None, **record_failure(events, done))
    conn.connect()
    try:
        assert done.wait(WAIT), events
        assert conn.wait_closed(WAIT)
    finally:
        conn.close()
    # on_connect means "TCP and TLS are up": it must not fire when TLS fails.
    assert [e if isinstance(e, str) else e[:2] for e in events] == [("error", geventws.TLS_FAIL), "close"]
    assert "certificate" in events[0][2].lower()
    assert isinstance(conn.last_error, geventws.TLSError)


# -- 3. keepalive pings and control frames ------------------------------------------


def test_pings_every_interval_and_pongs_stay_out_of_on_message(raw_server: RawServerFactory) -> None:
    wanted = 5
    ping_times: list[float] = []
    ping_payloads: list[bytes] = []
    pongs_seen: list[bytes] = []
    messages: list[str | bytes] = []
    all_pongs = gevent.event.Event()
    opened_at: list[float] = []

    def handler(peer: Peer) -> None:
        peer.handshake()
        opened_at.append(time.monotonic())
        peer.send_frame(PONG, b"unsolicited")
        while len(ping_times) < wanted:
            _, opcode, payload = peer.read_frame()
            assert opcode == PING, f"expected only pings while idle, got opcode {opcode}"
            ping_times.append(time.monotonic())
            ping_payloads.append(payload)
            peer.send_frame(PONG, payload)
        peer.finish()

    def on_pong(conn: geventws.Connection, data: bytes) -> None:
        pongs_seen.append(data)
        if len(pongs_seen) == wanted + 1:
            all_pongs.set()

    server = raw_server(handler)
    conn = geventws.Connection(
        server.url(),
        ping_interval=INTERVAL,
        on_pong=on_pong,
        on_message=lambda conn, data: messages.append(data),
    )
    conn.connect()
    try:
        assert all_pongs.wait(WAIT), (ping_times, pongs_seen)
        latency = conn.latency
    finally:
        conn.close()
    gaps = [b - a for a, b in itertools.pairwise(opened_at + ping_times)]
    assert len(gaps) == wanted
    assert all(gap >= 0.8 * INTERVAL for gap in gaps), gaps
    assert all(gap < INTERVAL + 0.5 * UNIT for gap in gaps), gaps
    assert messages == []
    assert pongs_seen == [b"unsolicited", *ping_payloads]
    assert latency is not None


@pytest.mark.parametrize(
    "payload",
    [b"", b"\x00\xff\x80 binary\r\n\xc3(", bytes(range(125))],
    ids=["empty", "binary", "125-bytes"],
)
def test_server_ping_answered_with_identical_pong(raw_server: RawServerFactory, payload: bytes) -> None:
    replies: list[tuple[bool, int, bytes]] = []
    answered = gevent.event.Event()
    pings_seen: list[bytes] = []
    messages: list[str | bytes] = []
    got_message = gevent.event.Event()

    def handler(peer: Peer) -> None:
        peer.handshake()
        peer.send_frame(PING, payload)
        replies.append(peer.read_frame())
        answered.set()
        peer.send_frame(TEXT, b"after")
        peer.finish()

    def on_message(conn: geventws.Connection, data: str | bytes) -> None:
        messages.append(data)
        got_message.set()

    server = raw_server(handler)
    conn = geventws.Connection(
        server.url(),
        ping_interval=None,
        on_ping=lambda conn, data: pings_seen.append(data),
        on_message=on_message,
    )
    conn.connect()
    try:
        assert answered.wait(WAIT)
        assert got_message.wait(WAIT)
    finally:
        conn.close()
    assert replies == [(True, PONG, payload)]
    assert pings_seen == [payload]
    assert messages == ["after"]


# -- 4. websocket_type ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("websocket_type", "sends", "expected"),
    [
        (
            geventws.BINARY_TYPE_BLOB,
            ["héllo", b"bytes \xc3\xa9"],
            [(TEXT, "héllo".encode()), (TEXT, b"bytes \xc3\xa9")],
        ),
        (
            geventws.BINARY_TYPE_ARRAYBUFFER,
            ["héllo", b"\x00\xff"],
            [(BINARY, "héllo".encode()), (BINARY, b"\x00\xff")],
        ),
        (
            None,
            ["héllo", b"\x00\xff", bytearray(b"ba"), memoryview(b"mv")],
            [(TEXT, "héllo".encode()), (BINARY, b"\x00\xff"), (BINARY, b"ba"), (BINARY, b"mv")],
        ),
    ],
    ids=["blob", "arraybuffer", "unset"],
)
def test_websocket_type_picks_the_opcode(
    raw_server: RawServerFactory, websocket_type: str | None, sends: list[Any], expected: list[Any]
) -> None:
    frames: list[tuple[int, bytes]] = []
    done = gevent.event.Event()

    def handler(peer: Peer) -> None:
        peer.handshake()
        for _ in expected:
            frames.append(peer.read_message())
        done.set()
        peer.finish()

    def on_websocket_connect(conn: geventws.Connection, response: geventws.Response) -> None:
        for data in sends:
            conn.send(data)

    server = raw_server(handler)
    conn = geventws.Connection(
        server.url(),
        websocket_type=websocket_type,
        on_websocket_connect=on_websocket_connect,
        ping_interval=None,
    )
    conn.connect()
    try:
        assert done.wait(WAIT), frames
    finally:
        conn.close()
    assert frames == expected


@pytest.mark.parametrize(
    ("websocket_type", "sent", "echoed"),
    [
        (geventws.BINARY_TYPE_BLOB, b"abc", "abc"),
        (geventws.BINARY_TYPE_ARRAYBUFFER, "abc", b"abc"),
        (None, "abc", "abc"),
        (None, b"abc", b"abc"),
    ],
    ids=["blob-bytes", "arraybuffer-str", "unset-str", "unset-bytes"],
)
def test_websocket_type_with_independent_echo_server(
    ws_server: ServerProcess, websocket_type: str | None, sent: str | bytes, echoed: str | bytes
) -> None:
    messages: list[str | bytes] = []
    got = gevent.event.Event()

    def on_message(conn: geventws.Connection, data: str | bytes) -> None:
        messages.append(data)
        got.set()

    conn = geventws.Connection(
        ws_server.url("/echo"),
        websocket_type=websocket_type,
        on_websocket_connect=lambda conn, response: conn.send(sent),
        on_message=on_message,
        ping_interval=None,
    )
    conn.connect()
    try:
        assert got.wait(WAIT)
    finally:
        conn.close()
    assert messages == [echoed]
    assert type(messages[0]) is type(echoed)


def test_forced_text_on_non_utf8_bytes_raises(raw_server: RawServerFactory) -> None:
    frames: list[tuple[int, bytes]] = []
    errors: list[BaseException] = []
    done = gevent.event.Event()

    def handler(peer: Peer) -> None:
        peer.handshake()
        frames.extend(peer.read_message() for _ in range(2))
        done.set()
        peer.finish()

    def on_websocket_connect(conn: geventws.Connection, response: geventws.Response) -> None:
        try:
            conn.send(b"\xc3\x28 not utf-8")
        except geventws.InvalidMessage as exc:
            errors.append(exc)
        conn.send("after")

    server = raw_server(handler)
    conn = geventws.Connection(
        server.url(),
        websocket_type=geventws.BINARY_TYPE_BLOB,
        on_websocket_connect=on_websocket_connect,
        ping_interval=None,
    )
    with pytest.raises(geventws.InvalidMessage):
        conn.send(b"\xff\xfe")  # before connect(): refused, not queued
    conn.send("queued")
    conn.connect()
    try:
        assert done.wait(WAIT), frames
    finally:
        conn.close()
    assert len(errors) == 1
    assert isinstance(errors[0], ValueError)
    # Nothing of the refused payloads went out; the connection lived on.
    assert frames == [(TEXT, b"queued"), (TEXT, b"after")]
    assert conn.close_code == 1000


def test_received_text_is_str_and_binary_is_bytes(raw_server: RawServerFactory) -> None:
    sent = [(TEXT, "héllo ✓".encode()), (BINARY, b"\x00\xffbin"), (TEXT, b""), (BINARY, b""), (TEXT, b"{}")]
    messages: list[str | bytes] = []
    got_all = gevent.event.Event()

    def handler(peer: Peer) -> None:
        peer.handshake()
        for opcode, payload in sent:
            peer.send_frame(opcode, payload)
        peer.finish()

    def on_message(conn: geventws.Connection, data: str | bytes) -> None:
        messages.append(data)
        if len(messages) == len(sent):
            got_all.set()

    server = raw_server(handler)
    conn = geventws.Connection(server.url(), on_message=on_message, ping_interval=None)
    conn.connect()
    try:
        assert got_all.wait(WAIT), messages
    finally:
        conn.close()
    assert messages == ["héllo ✓", b"\x00\xffbin", "", b"", "{}"]
    assert [type(m) for m in messages] == [str, bytes, str, bytes, str]


def test_frames_sent_with_the_101_response_are_delivered(raw_server: RawServerFactory) -> None:
    """Frames in the same TCP segment as the response head come after on_websocket_connect."""
    events: list[Any] = []
    got_both = gevent.event.Event()

    def handler(peer: Peer) -> None:
        peer.read_request()
        head = (
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Accept: {peer.accept_key()}\r\n\r\n"
        )
        peer.sock.sendall(head.encode() + frame(TEXT, b"early") + frame(BINARY, b"\x01\x02"))
        peer.finish()

    def on_message(conn: geventws.Connection, data: str | bytes) -> None:
        events.append(("message", data))
        if len(events) == 3:
            got_both.set()

    server = raw_server(handler)
    conn = geventws.Connection(
        server.url(),
        on_websocket_connect=lambda conn, response: events.append("websocket_connect"),
        on_message=on_message,
        ping_interval=None,
    )
    conn.connect()
    try:
        assert got_both.wait(WAIT), events
    finally:
        conn.close()
    assert events == ["websocket_connect", ("message", "early"), ("message", b"\x01\x02")]


# -- 5. sends queued before the handshake ------------------------------------------------


def test_sends_before_handshake_are_queued_in_order(raw_server: RawServerFactory) -> None:
    request_seen = gevent.event.Event()
    go = gevent.event.Event()
    done = gevent.event.Event()
    frames: list[tuple[int, bytes]] = []
    expected = [
        (TEXT, b"before connect() 1"),
        (BINARY, b"before connect() 2"),
        (TEXT, b"right after connect()"),
        (TEXT, b"in on_connect"),
        (TEXT, b"during the handshake"),
        (TEXT, b"in on_websocket_connect"),
    ]

    def handler(peer: Peer) -> None:
        peer.read_request()
        request_seen.set()
        assert go.wait(WAIT)
        peer.accept()
        for _ in expected:
            frames.append(peer.read_message())
        done.set()
        peer.finish()

    server = raw_server(handler)
    conn = geventws.Connection(
        server.url(),
        on_connect=lambda conn: conn.send("in on_connect"),
        on_websocket_connect=lambda conn, response: conn.send("in on_websocket_connect"),
        ping_interval=None,
    )
    conn.send("before connect() 1")
    conn.send(b"before connect() 2")
    conn.connect()
    conn.send("right after connect()")
    try:
        assert request_seen.wait(WAIT)
        assert conn.state is State.CONNECTING
        conn.send("during the handshake")
        go.set()
        assert done.wait(WAIT), frames
    finally:
        go.set()
        conn.close()
    assert frames == expected


# -- 6. failures: connect, DNS, timeout, retry, rejected handshake ---------------------------


def _run_until_closed(url: str, **options: Any) -> tuple[geventws.Connection, list[Any], float]:
    """Connect once, without reconnecting; return the connection, its events and the time taken."""
    events: list[Any] = []
    done = gevent.event.Event()
    conn = geventws.Connection(url, ping_interval=None, **record_failure(events, done), **options)
    started = time.monotonic()
    conn.connect()
    try:
        assert done.wait(WAIT), events
        elapsed = time.monotonic() - started
        assert conn.wait_closed(WAIT)
    finally:
        conn.close()
    return conn, events, elapsed


def _codes(events: list[Any]) -> list[Any]:
    return [e if isinstance(e, str) else e[:2] for e in events]


def test_connection_refused() -> None:
    port = free_port()
    conn, events, _ = _run_until_closed(f"ws://127.0.0.1:{port}/")
    assert _codes(events) == [("error", geventws.CONNECT_FAIL), "close"]
    assert geventws.CONNECT_FAIL == 1
    assert str(port) in events[0][2]
    assert type(conn.last_error) is geventws.ConnectError
    assert conn.finished
    assert conn.state is State.CLOSED


def test_dns_failure() -> None:
    conn, events, _ = _run_until_closed("ws://nonexistent.invalid:8765/")
    assert _codes(events) == [("error", geventws.CONNECT_FAIL), "close"]
    assert "nonexistent.invalid" in events[0][2]
    assert type(conn.last_error) is geventws.ConnectError
    assert conn.finished


def test_open_timeout_when_server_never_answers(raw_server: RawServerFactory) -> None:
    server_saw: list[Any] = []
    server_done = gevent.event.Event()

    def handler(peer: Peer) -> None:
        peer.read_request()
        server_saw.append(peer.request_line)
        server_saw.append(("eof", peer.wait_eof(WAIT)))
        server_done.set()

    server = raw_server(handler)
    open_timeout = 0.2 * UNIT
    conn, events, elapsed = _run_until_closed(server.url("/slow"), open_timeout=open_timeout)
    assert _codes(events) == ["connect", ("error", geventws.CONNECT_FAIL), "close"]
    assert "timeout" in events[1][2].lower()
    assert isinstance(conn.last_error, geventws.OpenTimeout)
    assert isinstance(conn.last_error, TimeoutError)
    assert elapsed >= open_timeout * 0.9  # the server would hold it for WAIT: done.wait bounds the rest
    # The client dropped the TCP connection when the deadline passed.
    assert server_done.wait(WAIT)
    assert server_saw == ["GET /slow HTTP/1.1", ("eof", True)]


def test_reconnect_in_on_close_retries_until_server_appears(raw_server: RawServerFactory) -> None:
    port = free_port()
    failures: list[tuple[float, Any]] = []
    three_failures = gevent.event.Event()
    opened = gevent.event.Event()
    stop = gevent.event.Event()
    welcomed: list[str | bytes] = []

    def handler(peer: Peer) -> None:
        peer.handshake()
        peer.send_frame(TEXT, b"welcome")
        peer.finish()

    def on_error(conn: geventws.Connection, code: int, msg: str) -> None:
        failures.append((time.monotonic(), code))
        if len(failures) >= 3:
            three_failures.set()

    def on_message(conn: geventws.Connection, data: str | bytes) -> None:
        welcomed.append(data)
        opened.set()

    def on_close(conn: geventws.Connection) -> None:
        if not stop.is_set():
            conn.reconnect(INTERVAL)  # the seed's pattern

    conn = geventws.Connection(
        f"ws://127.0.0.1:{port}/",
        on_error=on_error,
        on_message=on_message,
        on_close=on_close,
        ping_interval=None,
    )
    conn.connect()
    try:
        assert three_failures.wait(WAIT), failures
        assert not opened.is_set()
        server = raw_server(handler, port=port)
        assert opened.wait(WAIT), failures
    finally:
        stop.set()
        conn.close()
    assert len(failures) >= 3
    assert {code for _, code in failures} == {geventws.CONNECT_FAIL}
    gaps = [b - a for (a, _), (b, _) in itertools.pairwise(failures)]
    assert all(gap >= 0.8 * INTERVAL for gap in gaps), gaps
    assert welcomed == ["welcome"]
    assert len(server.peers) == 1
    assert conn.finished


@pytest.mark.parametrize("status", [401, 403])
def test_rejected_handshake(ws_server: ServerProcess, status: int) -> None:
    conn, events, _ = _run_until_closed(ws_server.url(f"/reject/{status}"))
    assert _codes(events) == ["connect", ("error", geventws.HANDSHAKE_FAIL), "close"]
    assert geventws.HANDSHAKE_FAIL not in (geventws.CONNECT_FAIL, geventws.SEND_FAIL)
    assert str(status) in events[1][2]
    assert conn.response is not None
    assert conn.response.status == status
    error = conn.last_error
    assert isinstance(error, geventws.HandshakeError)
    assert error.status == status
    assert error.headers["content-type"].startswith("text/plain")
    assert error.body == f"rejected {status}\n".encode()
    assert conn.finished


# -- 6, sequential: geventws.connect() raises --------------------------------------------


@pytest.mark.parametrize("status", [401, 403])
def test_sequential_connect_raises_handshake_error(ws_server: ServerProcess, status: int) -> None:
    with pytest.raises(geventws.HandshakeError) as info:
        geventws.connect(ws_server.url(f"/reject/{status}"), ping_interval=None)
    assert info.value.status == status
    assert str(status) in str(info.value)
    assert info.value.body == f"rejected {status}\n".encode()


def test_sequential_connect_raises_connect_error_when_refused() -> None:
    port = free_port()
    with pytest.raises(geventws.ConnectError) as info:
        geventws.connect(f"ws://127.0.0.1:{port}/", ping_interval=None)
    assert not isinstance(info.value, geventws.HandshakeError)
    assert str(port) in str(info.value)


def test_sequential_connect_raises_connect_error_on_dns_failure() -> None:
    with pytest.raises(geventws.ConnectError) as info:
        geventws.connect("ws://nonexistent.invalid:8765/", ping_interval=None)
    assert not isinstance(info.value, geventws.HandshakeError)
    assert "nonexistent.invalid" in str(info.value)


def test_sequential_connect_raises_open_timeout(raw_server: RawServerFactory) -> None:
    server = raw_server(lambda peer: peer.wait_eof(WAIT))
    with pytest.raises(geventws.OpenTimeout):
        geventws.connect(server.url(), open_timeout=0.2 * UNIT, ping_interval=None)


def test_sequential_connect_raises_tls_error(wss_server: ServerProcess) -> None:
    with pytest.raises(geventws.TLSError):
        geventws.connect(wss_server.url("/echo"), ping_interval=None)


def test_sequential_connect_works(ws_server: ServerProcess) -> None:
    with geventws.connect(ws_server.url("/echo"), ping_interval=None) as ws:
        ws.send("round trip")
        assert ws.recv(timeout=WAIT) == "round trip"
    assert ws.close_code == 1000
