"""Counters, phase timings, the logger context and the frame trace against real
servers on loopback (issue 12, "Observability")."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Callable
from typing import Any

import gevent
import gevent.event
import gevent.socket
import pytest

import geventws
from geventws import ErrorCode, ReconnectPolicy
from tests.conftest import ServerProcess
from tests.proxies import Proxy
from tests.rawserver import CLOSE, CONT, TEXT, Peer, RawServer
from tests.support import UNIT, WAIT, Recorder

RawServerFactory = Callable[[Callable[[Peer], Any]], RawServer]

FAST = ReconnectPolicy(first_delay=0.05 * UNIT, min_delay=0.05 * UNIT, factor=1, jitter=0)


def _echo_round_trips(ws: geventws.Connection, messages: list[str | bytes]) -> None:
    for message in messages:
        ws.send(message)
    for message in messages:
        assert ws.recv(timeout=WAIT) == message


# -- counters ------------------------------------------------------------------------------------


def test_counters_count_messages_and_payload_bytes_each_way(ws_server: ServerProcess) -> None:
    messages: list[str | bytes] = ["héllo", "héllo", "héllo", b"\x00" * 1000, b"\xff" * 1000]
    with geventws.connect(ws_server.url("/"), ping_interval=None) as ws:
        _echo_round_trips(ws, messages)
        stats = ws.stats
    size = 3 * len("héllo".encode()) + 2000
    assert (stats.messages_out, stats.messages_in) == (5, 5)
    assert (stats.bytes_out, stats.bytes_in) == (size, size)
    assert (stats.connect_attempts, stats.reconnects, stats.opens) == (1, 0, 1)
    assert stats.time_connected > 0
    assert dict(stats.errors) == {}
    assert stats.last_ping_latency is None


def test_counters_are_a_frozen_snapshot(ws_server: ServerProcess) -> None:
    with geventws.connect(ws_server.url("/"), ping_interval=None) as ws:
        before = ws.stats
        _echo_round_trips(ws, ["one"])
        after = ws.stats
        with pytest.raises(AttributeError):
            before.messages_in = 7  # type: ignore[misc]
    assert (before.messages_in, after.messages_in) == (0, 1)
    assert after.time_connected >= before.time_connected


def test_time_connected_stops_when_the_connection_ends(ws_server: ServerProcess) -> None:
    with geventws.connect(ws_server.url("/"), ping_interval=None) as ws:
        _echo_round_trips(ws, ["x"])
    first = ws.stats.time_connected
    _echo_round_trips_elsewhere(ws_server)  # time passes
    assert first > 0
    assert ws.stats.time_connected == first


def _echo_round_trips_elsewhere(ws_server: ServerProcess) -> None:
    with geventws.connect(ws_server.url("/"), ping_interval=None) as other:
        _echo_round_trips(other, ["y"])


def test_reconnects_counted_through_a_server_that_closes(ws_server: ServerProcess) -> None:
    opened = Recorder()

    def on_open(conn: geventws.Connection, response: Any) -> None:
        opened.add("open")
        if opened.n == 3:
            conn.close()

    conn = geventws.Connection(
        ws_server.url("/close/1000/bye"), reconnect=FAST, ping_interval=None, on_websocket_connect=on_open
    )
    conn.connect()
    assert conn.wait_closed(5 * WAIT)
    stats = conn.stats
    assert (stats.connect_attempts, stats.reconnects, stats.opens) == (3, 2, 3)


def test_latency_after_a_ping(ws_server: ServerProcess) -> None:
    with geventws.connect(ws_server.url("/"), ping_interval=None) as ws:
        assert ws.ping().wait(WAIT)
        stats = ws.stats
    assert stats.last_ping_latency is not None
    assert stats.last_ping_latency >= 0
    assert stats.last_ping_latency == ws.latency


def test_errors_counted_by_code_and_timings_of_a_failed_connect(ws_server: ServerProcess) -> None:
    conn = geventws.Connection(ws_server.url("/reject/403"), ping_interval=None, on_error=lambda *a: None)
    conn.connect()
    assert conn.wait_closed(WAIT)
    assert dict(conn.stats.errors) == {ErrorCode.HANDSHAKE_FAIL: 1}
    assert conn.stats.opens == 0
    timings = conn.connect_timings
    assert timings is not None
    assert timings.tcp is not None
    assert timings.upgrade is None  # the refused upgrade did not finish


def test_an_attempt_whose_url_callable_fails_is_counted() -> None:
    def no_url() -> str:
        raise RuntimeError("no token service")

    conn = geventws.Connection(no_url, ping_interval=None, on_error=lambda *args: None)
    conn.connect()
    assert conn.wait_closed(WAIT)
    assert (conn.stats.connect_attempts, dict(conn.stats.errors)) == (1, {ErrorCode.CONNECT_FAIL: 1})
    assert conn.connect_timings is None  # it never reached the network


def test_stats_snapshot_sums_the_live_connections(ws_server: ServerProcess) -> None:
    with (
        geventws.connect(ws_server.url("/"), ping_interval=None) as one,
        geventws.connect(ws_server.url("/"), ping_interval=None) as two,
    ):
        _echo_round_trips(one, ["a", "b"])
        _echo_round_trips(two, ["c"])
        snapshot = geventws.stats_snapshot()
        assert snapshot.connections == 2
        assert dict(snapshot.states) == {"open": 2}
        assert (snapshot.totals.messages_out, snapshot.totals.messages_in) == (3, 3)
        assert snapshot.totals.connect_attempts == 2
    assert geventws.stats_snapshot().connections == 0


# -- phase timings -------------------------------------------------------------------------------


def test_connect_timings_of_ws(ws_server: ServerProcess) -> None:
    opened = Recorder()
    conn = geventws.Connection(
        ws_server.url("/"), ping_interval=None, on_websocket_connect=lambda *args: opened.add("open")
    )
    assert conn.connect_timings is None
    conn.connect()
    try:
        assert opened.wait_count(1)
        timings = conn.connect_timings
    finally:
        conn.close()
    assert timings is not None
    assert timings.dns is not None and timings.tcp is not None and timings.upgrade is not None
    assert timings.tls is None and timings.proxy is None
    assert timings.total is not None
    assert timings.total >= timings.dns + timings.tcp + timings.upgrade >= 0


def test_connect_timings_of_wss(wss_server: ServerProcess, client_ssl_context: Any) -> None:
    with geventws.connect(wss_server.url("/"), ssl_context=client_ssl_context, ping_interval=None) as ws:
        timings = ws.connect_timings
    assert timings is not None
    assert None not in (timings.dns, timings.tcp, timings.tls, timings.upgrade)
    assert timings.proxy is None
    assert timings.total is not None
    assert timings.total >= timings.dns + timings.tcp + timings.tls + timings.upgrade  # type: ignore[operator]


def test_connect_timings_through_an_http_proxy(
    ws_server: ServerProcess, http_proxy_auth: Proxy, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="geventws")
    buffer = io.StringIO()
    proxy = http_proxy_auth.url
    with geventws.connect(ws_server.url("/"), proxy=proxy, ping_interval=None, trace=buffer) as ws:
        _echo_round_trips(ws, ["through"])
        timings = ws.connect_timings
    assert timings is not None
    assert None not in (timings.dns, timings.tcp, timings.proxy, timings.upgrade)
    assert timings.tls is None
    assert "s3cr" not in buffer.getvalue()  # PASSWORD and PLAIN_PASSWORD start so, quoted or not
    assert all("s3cr" not in r.getMessage() for r in caplog.records)


def test_connect_timings_over_a_callers_socket(ws_server: ServerProcess) -> None:
    sock = gevent.socket.create_connection(("127.0.0.1", ws_server.port))
    with geventws.connect(ws_server.url("/"), sock=sock, ping_interval=None) as ws:
        timings = ws.connect_timings
    assert timings is not None
    assert (timings.dns, timings.tcp, timings.tls, timings.proxy) == (None, None, None, None)
    assert timings.upgrade is not None


# -- logger context ------------------------------------------------------------------------------


def test_log_records_carry_the_connection_id_and_a_redacted_url(
    ws_server: ServerProcess, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="geventws")
    url = ws_server.url("/").replace("ws://", "ws://user:s3cret@")
    with geventws.connect(url, ping_interval=None) as ws:
        _echo_round_trips(ws, ["x"])
    assert len(ws.id) == 8
    own = [r for r in caplog.records if getattr(r, "geventws_id", None) == ws.id]
    assert own, "no log record carries the connection id"
    for record in own:
        assert f"[{ws.id} ws://" in record.getMessage()
        assert "127.0.0.1" in record.geventws_url  # type: ignore[attr-defined]
    assert all("s3cret" not in r.getMessage() for r in caplog.records)


# -- frame trace ---------------------------------------------------------------------------------


def _lines(buffer: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in buffer.getvalue().splitlines()]


def test_trace_writes_one_json_line_per_frame(ws_server: ServerProcess) -> None:
    buffer = io.StringIO()
    with geventws.connect(ws_server.url("/"), ping_interval=None, trace=buffer) as ws:
        _echo_round_trips(ws, ["hello", b"\x01\x02"])
    records = _lines(buffer)
    summary = [(r["dir"], r["opcode"], r["length"], r["fin"]) for r in records]
    assert summary[:4] == [
        ("out", "text", 5, True),
        ("out", "binary", 2, True),
        ("in", "text", 5, True),
        ("in", "binary", 2, True),
    ]
    closes = [r for r in records if r["opcode"] == "close"]
    assert [(r["dir"], r["code"]) for r in closes] == [("out", 1000), ("in", 1000)]
    assert all(r["conn"] == ws.id and isinstance(r["time"], float) for r in records)
    assert not any("payload" in r or "payload_hex" in r for r in records)


def test_trace_payloads_when_asked_truncated(ws_server: ServerProcess) -> None:
    buffer = io.StringIO()
    with geventws.connect(ws_server.url("/"), ping_interval=None, trace=buffer, trace_payloads=True) as ws:
        _echo_round_trips(ws, ["hello", "z" * 1000])
    records = [r for r in _lines(buffer) if r["opcode"] == "text"]
    assert [r["payload"] for r in records if r["length"] == 5] == ["hello", "hello"]
    long = [r for r in records if r["length"] == 1000]
    assert len(long) == 2
    assert all(r["truncated"] and r["payload"] == "z" * 128 for r in long)


def test_trace_shows_compressed_frames_as_on_the_wire_both_ways(ws_server: ServerProcess) -> None:
    """Issue 21, point 9: an outgoing compressed message is traced as it went
    out (its compressed length, RSV1), like an incoming one; the length before
    compression is an extra field."""
    buffer = io.StringIO()
    message = "geventws " * (2**20 // 9)
    with geventws.connect(
        ws_server.url("/"), ping_interval=None, trace=buffer, compression="deflate", trace_payloads=True
    ) as ws:
        _echo_round_trips(ws, [message])
    records = [r for r in _lines(buffer) if r["opcode"] == "text"]
    out = next(r for r in records if r["dir"] == "out")
    into = next(r for r in records if r["dir"] == "in")
    for record in (out, into):
        assert record["rsv"] == 4 and record["length"] < len(message) // 100, record
        assert "payload" not in record and "payload_hex" in record  # compressed bytes: shown as hex
    assert out["uncompressed_length"] == len(message)
    assert "uncompressed_length" not in into  # the sniffer sees the wire only


def test_trace_to_a_logger(ws_server: ServerProcess, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="trace.frames")
    trace = logging.getLogger("trace.frames")
    with geventws.connect(ws_server.url("/"), ping_interval=None, trace=trace) as ws:
        _echo_round_trips(ws, ["hi"])
    records = [json.loads(r.getMessage()) for r in caplog.records if r.name == "trace.frames"]
    assert ("out", "text", 2) in [(r["dir"], r["opcode"], r["length"]) for r in records]


class CooperativeSink:
    """A trace sink that yields to the hub on every write, like a socket-backed stream."""

    def __init__(self) -> None:
        self.lines: list[dict[str, Any]] = []

    def write(self, text: str) -> None:
        gevent.sleep(0)  # would raise BlockingSwitchOutError if called from the hub
        self.lines.extend(json.loads(line) for line in text.splitlines() if line)


def test_keepalive_pings_are_traced_from_a_greenlet_never_the_hub(
    ws_server: ServerProcess, caplog: pytest.LogCaptureFixture
) -> None:
    sink = CooperativeSink()
    pongs = gevent.event.Event()
    with geventws.connect(ws_server.url("/"), ping_interval=0.02 * UNIT, trace=sink) as ws:
        ws.on_pong = lambda conn, payload: pongs.set() if len(_pings_out(sink)) >= 3 else None
        assert pongs.wait(WAIT)
    assert len(_pings_out(sink)) >= 3
    assert "trace switched off" not in caplog.text


def _pings_out(sink: CooperativeSink) -> list[dict[str, Any]]:
    return [r for r in sink.lines if r["dir"] == "out" and r["opcode"] == "ping"]


def test_trace_shows_the_fragments_of_a_message(raw_server: RawServerFactory) -> None:
    def fragments(peer: Peer) -> None:
        peer.handshake()
        peer.send_frame(TEXT, b"frag", fin=False)
        peer.send_frame(CONT, b"ment", fin=True)
        peer.send_close(1000, b"done")
        assert peer.read_frame()[1] == CLOSE  # the client's answer; the server then closes TCP

    server = raw_server(fragments)
    buffer = io.StringIO()
    with geventws.connect(server.url(), ping_interval=None, trace=buffer) as ws:
        assert ws.recv(timeout=WAIT) == "fragment"
        ws.wait_closed(WAIT)
    incoming = [(r["opcode"], r["length"], r["fin"]) for r in _lines(buffer) if r["dir"] == "in"]
    assert incoming == [("text", 4, False), ("continuation", 4, True), ("close", 6, True)]
    closes_in = [r for r in _lines(buffer) if r["opcode"] == "close" and r["dir"] == "in"]
    assert [r["reason"] for r in closes_in] == ["done"]
    assert ws.stats.messages_in == 1 and ws.stats.bytes_in == 8


def test_a_trace_that_cannot_be_written_is_switched_off(
    ws_server: ServerProcess, caplog: pytest.LogCaptureFixture
) -> None:
    buffer = io.StringIO()
    buffer.close()
    with geventws.connect(ws_server.url("/"), ping_interval=None, trace=buffer) as ws:
        _echo_round_trips(ws, ["still works", "twice"])
    warnings = [r for r in caplog.records if "frame trace switched off" in r.getMessage()]
    assert len(warnings) == 1
