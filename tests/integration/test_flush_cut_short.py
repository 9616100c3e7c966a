"""The flush of queued sends cut short, and connect() interrupted (issue 9, points 2 and 8).

The invariant: every message accepted by ``send()`` reaches the server whole
or is reported through ``on_error(SEND_FAIL)``, whatever ends the flush (a
close, a reconnect, ``stop_all()``, a call from another OS thread, the close
timer, the keepalive). An interrupted ``connect()`` leaves nothing behind.
"""

from __future__ import annotations

import socket
import threading
from typing import Any

import gevent
import gevent.event
import pytest

import geventws
from geventws import ErrorCode, ReconnectPolicy
from tests.integration.test_defects import BIG, _frames_in, _read_until_eof, _reported
from tests.rawserver import CLOSE, Peer
from tests.support import UNIT, WAIT, Recorder


def _stall_after_first_byte(peer: Peer, stalled: gevent.event.Event) -> None:
    """Accept, read one byte of the flush (it has begun), then stop reading."""
    peer.handshake()
    if not peer.buffer:
        peer.buffer = peer.sock.recv(1)
    stalled.set()


def _three_queued(url: str, recorder: Recorder, **options: Any) -> geventws.Connection:
    """A connection with three big messages queued before connect(): 1, 2, 3."""
    conn = geventws.Connection(url, max_send_buffer_size=None, **recorder.callbacks(), **options)
    for i in range(3):
        conn.send(bytes([i + 1]) * BIG)
    return conn


def _close_from_another_thread(conn: geventws.Connection) -> None:
    thread = threading.Thread(target=conn.close)
    thread.start()
    gevent.get_hub().threadpool.spawn(thread.join).get(timeout=WAIT)


@pytest.mark.parametrize("how", ["close", "stop_all", "thread"])
def test_close_timer_during_the_flush_reports_every_message(raw_server, how: str) -> None:  # type: ignore[no-untyped-def]
    # The server stops reading for good: the close frame waits behind the first
    # message until close_timeout aborts the stream. Nothing arrived whole, so
    # all three are reported.
    stalled = gevent.event.Event()
    release = gevent.event.Event()

    def handler(peer: Peer) -> None:
        _stall_after_first_byte(peer, stalled)
        release.wait(WAIT * 3)

    raw = raw_server(handler)
    recorder = Recorder()
    conn = _three_queued(raw.url(), recorder, close_timeout=0.3 * UNIT)
    conn.connect()
    try:
        assert stalled.wait(WAIT)
        if how == "close":
            conn.close()
        elif how == "stop_all":
            geventws.stop_all()
        else:
            _close_from_another_thread(conn)
        assert conn.wait_closed(WAIT)
        assert _reported(recorder) == 3, recorder.of("error")
        assert conn.close_code == 1006
        assert recorder.count("open") == 0  # closed during its flush: the attempt never opened
    finally:
        release.set()
        geventws.stop_all()


def test_reconnect_during_a_stalled_flush_sends_everything_on_the_next_connection(raw_server) -> None:  # type: ignore[no-untyped-def]
    stalled = gevent.event.Event()
    received = gevent.event.AsyncResult()
    release = gevent.event.Event()

    def handler(peer: Peer) -> None:
        if len(raw.peers) == 1:
            _stall_after_first_byte(peer, stalled)
            release.wait(WAIT * 3)
            return
        peer.handshake()
        data = _read_until_eof(peer, 20 * UNIT, answer_close=True)
        received.set([head[:1] for opcode, _, head in _frames_in(data) if opcode != CLOSE])

    raw = raw_server(handler)
    recorder = Recorder()
    conn = _three_queued(raw.url(), recorder, close_timeout=0.3 * UNIT)
    conn.connect()
    try:
        assert stalled.wait(WAIT)
        conn.reconnect()
        assert recorder.wait_for(lambda: recorder.count("open") == 1, 20 * UNIT)
        conn.close()
        assert conn.wait_closed(20 * UNIT)
        assert received.get(timeout=WAIT) == [b"\x01", b"\x02", b"\x03"]  # in order, once each
        assert _reported(recorder) == 0
    finally:
        release.set()
        geventws.stop_all()


def test_a_ping_timeout_during_the_flush_reports_every_message(raw_server) -> None:  # type: ignore[no-untyped-def]
    stalled = gevent.event.Event()
    release = gevent.event.Event()

    def handler(peer: Peer) -> None:
        _stall_after_first_byte(peer, stalled)
        release.wait(WAIT * 3)

    raw = raw_server(handler)
    recorder = Recorder()
    conn = _three_queued(raw.url(), recorder, ping_interval=0.2 * UNIT, ping_timeout=0.2 * UNIT)
    conn.connect()
    try:
        assert stalled.wait(WAIT)
        assert recorder.wait_for(lambda: ErrorCode.PING_TIMEOUT in recorder.codes())
        conn.close()
        assert conn.wait_closed(WAIT)
        assert _reported(recorder) == 3, recorder.of("error")
    finally:
        release.set()
        geventws.stop_all()


def test_connect_interrupted_between_reconnect_attempts_stops_the_policy(raw_server) -> None:  # type: ignore[no-untyped-def]
    refused = gevent.event.Event()

    def handler(peer: Peer) -> None:
        peer.read_request()
        peer.send_response("503 Service Unavailable", [("Content-Length", "0")])
        refused.set()

    raw = raw_server(handler)
    policy = ReconnectPolicy(first_delay=0.05 * UNIT, min_delay=0.05 * UNIT, max_delay=0.1 * UNIT, jitter=0)
    caller = gevent.spawn(geventws.connect, raw.url(), reconnect=policy)
    try:
        assert refused.wait(WAIT)
        caller.kill()
        runner = gevent.spawn(geventws.run_all, handle_signals=False)
        runner.join(WAIT)
        assert runner.dead, "run_all() blocked: the reconnect policy still runs"
        attempts = len(raw.peers)
        gevent.sleep(0.3 * UNIT)  # QUIET: no attempt follows the cancellation
        assert len(raw.peers) == attempts
    finally:
        geventws.stop_all()


def test_connect_interrupted_during_the_replay_closes_the_socket(raw_server) -> None:  # type: ignore[no-untyped-def]
    # on_open_replay writes a large message to a server that stopped reading:
    # connect() is still waiting when the timeout cancels it.
    stalled = gevent.event.Event()
    closed_by_client = gevent.event.AsyncResult()

    cancelled = gevent.event.Event()

    def handler(peer: Peer) -> None:
        _stall_after_first_byte(peer, stalled)
        cancelled.wait(WAIT)  # reading on only then: the replay's write is still blocked
        closed_by_client.set(peer.wait_eof(timeout=WAIT))

    raw = raw_server(handler)
    with pytest.raises(gevent.Timeout), gevent.Timeout(0.5 * UNIT):
        geventws.connect(raw.url(), on_open_replay=lambda conn: conn.send(b"x" * BIG))
    cancelled.set()
    runner = gevent.spawn(geventws.run_all, handle_signals=False)
    runner.join(WAIT)
    assert runner.dead
    assert stalled.is_set()
    assert closed_by_client.get(timeout=WAIT * 2) is True, "the client kept its socket open"


def test_close_in_the_replay_hook_sends_no_data_after_the_close_frame(raw_server) -> None:  # type: ignore[no-untyped-def]
    opcodes = gevent.event.AsyncResult()

    def handler(peer: Peer) -> None:
        peer.handshake()
        seen = []
        while True:
            _, opcode, payload = peer.read_frame()
            seen.append(opcode)
            if opcode == CLOSE:
                peer.send_frame(CLOSE, payload)
                peer.sock.shutdown(socket.SHUT_WR)  # TCP closed first by the server; read on
                break
        opcodes.set(seen + [op for _, op, _ in iter(lambda: _next_frame(peer), None)])

    def replay(conn: geventws.Connection) -> None:
        conn.close()
        with pytest.raises(geventws.ConnectionClosed):
            conn.send("after the close")
        recorder.add("replay done")

    raw = raw_server(handler)
    recorder = Recorder()
    conn = geventws.Connection(raw.url(), on_open_replay=replay, **recorder.callbacks())
    conn.send("queued")
    conn.connect()
    try:
        assert conn.wait_closed(WAIT)
        assert recorder.count("replay done") == 1
        assert opcodes.get(timeout=WAIT) == [CLOSE]
        assert conn.close_code == 1000 and recorder.count("open") == 0
        assert _reported(recorder) == 1  # the queued message was never sent
    finally:
        geventws.stop_all()


def _next_frame(peer: Peer) -> tuple[bool, int, bytes] | None:
    """The client's next frame, ``None`` once it closed TCP."""
    try:
        return peer.read_frame()
    except (EOFError, OSError):
        return None


def test_connect_interrupted_during_the_tls_handshake_closes_the_socket(raw_server) -> None:  # type: ignore[no-untyped-def]
    closed_by_client = gevent.event.AsyncResult()
    connected = gevent.event.Event()

    def handler(peer: Peer) -> None:  # accepts TCP, never speaks TLS
        connected.set()
        closed_by_client.set(peer.wait_eof(timeout=WAIT))

    raw = raw_server(handler)
    with pytest.raises(gevent.Timeout), gevent.Timeout(0.3 * UNIT):
        geventws.connect(raw.url(scheme="wss"))
    assert connected.is_set()
    assert closed_by_client.get(timeout=WAIT * 2) is True
    runner = gevent.spawn(geventws.run_all, handle_signals=False)
    runner.join(WAIT)
    assert runner.dead
