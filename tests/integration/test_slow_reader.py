"""A reader slower than the server: closing with a full inbox, keepalive while
paused (issue 9, points 10 and 11)."""

from __future__ import annotations

import threading
from collections.abc import Callable

import gevent
import gevent.event
import pytest

import geventws
from geventws import ErrorCode, State
from tests.rawserver import CLOSE, PING, PONG, TEXT, Peer
from tests.support import UNIT, WAIT, Recorder

#: A bounded negative wait: long enough for a wrong timeout to fire.
QUIET = 0.5 * UNIT


def _flood_then(
    after: Callable[[Peer], object], sent: gevent.event.Event | None = None
) -> Callable[[Peer], None]:
    """Accept, send "0"..."9" at once (``sent`` set then), then ``after(peer)``."""

    def handler(peer: Peer) -> None:
        peer.handshake()
        for i in range(10):
            peer.send_frame(TEXT, str(i).encode())
        if sent is not None:
            sent.set()
        after(peer)

    return handler


def _serve(peer: Peer, answer_pings: bool = True) -> None:
    """Read until the client's close: answer pings (or not), echo the close."""
    while True:
        _, opcode, payload = peer.read_frame()
        if opcode == PING and answer_pings:
            peer.send_frame(PONG, payload)
        elif opcode == CLOSE:
            peer.send_frame(CLOSE, payload)
            return


def test_stop_all_finishes_connections_with_full_inboxes(raw_server) -> None:  # type: ignore[no-untyped-def]
    raw = raw_server(_flood_then(_serve))
    conns = [geventws.connect(raw.url(), max_queue=1, close_timeout=2 * UNIT) for _ in range(3)]
    try:
        runner = gevent.spawn(geventws.run_all, handle_signals=False)
        gevent.sleep(0)
        geventws.stop_all()
        runner.join(WAIT)
        assert runner.dead
        assert [(c.state, c.close_code) for c in conns] == [(State.CLOSED, 1001)] * 3
    finally:
        geventws.stop_all()


def test_leaving_the_with_block_with_a_full_inbox_does_not_stall(raw_server) -> None:  # type: ignore[no-untyped-def]
    # The defaults (close_timeout 10 s) stalled the exit before the fix.
    raw = raw_server(_flood_then(_serve))
    with gevent.Timeout(WAIT), geventws.connect(raw.url(), max_queue=2) as conn:
        assert conn.recv(timeout=WAIT) == "0"
    assert conn.finished and conn.close_code == 1000


def test_messages_read_before_the_close_stay_readable(raw_server) -> None:  # type: ignore[no-untyped-def]
    # The server keeps sending after our close frame; the inbox keeps what it
    # held, the rest is dropped, the close reply is read.
    def after(peer: Peer) -> None:
        while peer.read_frame()[1] != CLOSE:
            pass
        for i in range(100):
            peer.send_frame(TEXT, f"late {i}".encode())
        peer.send_close(1000)

    sent = gevent.event.Event()
    raw = raw_server(_flood_then(after, sent))
    conn = geventws.connect(raw.url(), max_queue=3, close_timeout=WAIT)
    assert sent.wait(WAIT)
    conn.close()
    assert conn.finished and conn.close_code == 1000
    assert [conn.recv(timeout=WAIT) for _ in range(3)] == ["0", "1", "2"]
    with pytest.raises(geventws.ConnectionClosedOK):
        conn.recv(timeout=WAIT)


def test_a_paused_reader_still_detects_a_dead_peer_once_it_reads_again(raw_server) -> None:  # type: ignore[no-untyped-def]
    # The keepalive's clock only stands still while we are paused: the pongs
    # that never come are still noticed after the reader catches up.
    raw = raw_server(_flood_then(lambda peer: _serve(peer, answer_pings=False)))
    conn = geventws.connect(raw.url(), max_queue=2, ping_interval=0.1 * UNIT, ping_timeout=0.1 * UNIT)
    try:
        gevent.sleep(QUIET)  # paused for longer than ping_interval + ping_timeout
        assert conn.state is State.OPEN and conn.last_error is None
        assert [conn.recv(timeout=WAIT) for _ in range(10)] == [str(i) for i in range(10)]
        assert conn.wait_closed(WAIT)
        assert isinstance(conn.last_error, geventws.PingTimeout)
    finally:
        conn.close()


def test_a_slow_on_message_callback_does_not_kill_a_healthy_connection(raw_server) -> None:  # type: ignore[no-untyped-def]
    recorder = Recorder()
    first = gevent.event.Event()

    def slow(conn: geventws.Connection, message: str | bytes) -> None:
        if not first.is_set():
            first.set()
            gevent.sleep(QUIET)  # the receive loop is paused meanwhile
        recorder.add("message", message)

    raw = raw_server(_flood_then(_serve))
    callbacks = {**recorder.callbacks(), "on_message": slow}
    conn = geventws.Connection(raw.url(), ping_interval=0.1 * UNIT, ping_timeout=0.1 * UNIT, **callbacks)
    conn.connect()
    try:
        assert recorder.wait_for(lambda: len(recorder.messages()) == 10, WAIT + QUIET)
        assert ErrorCode.PING_TIMEOUT not in recorder.codes()
        assert conn.state is State.OPEN
    finally:
        conn.close()
    assert conn.close_code == 1000


def test_state_and_send_agree_while_a_ping_timeout_ends_the_connection(raw_server) -> None:  # type: ignore[no-untyped-def]
    raw = raw_server(lambda peer: (peer.handshake(), _serve(peer, answer_pings=False)))
    conn = geventws.connect(raw.url(), ping_interval=0.05 * UNIT, ping_timeout=0.05 * UNIT)
    try:
        with gevent.Timeout(WAIT):
            while not conn.finished:
                if conn.state is State.OPEN:
                    assert conn.last_error is None
                    conn.send("x")  # must not raise while the state says OPEN
                gevent.sleep(0.005)
        assert isinstance(conn.last_error, geventws.PingTimeout)
    finally:
        conn.close()


def test_close_from_another_thread_with_a_full_inbox(raw_server) -> None:  # type: ignore[no-untyped-def]
    sent = gevent.event.Event()
    raw = raw_server(_flood_then(_serve, sent))
    conn = geventws.connect(raw.url(), max_queue=1, close_timeout=WAIT)
    assert sent.wait(WAIT)
    thread = threading.Thread(target=conn.close)
    thread.start()
    gevent.get_hub().threadpool.spawn(thread.join).get(timeout=WAIT)
    assert conn.finished and conn.close_code == 1000


def test_an_interrupted_close_still_ends_the_connection(raw_server) -> None:  # type: ignore[no-untyped-def]
    # The caller of close() gives up waiting at once; the close timer still ends it.
    release = gevent.event.Event()

    def handler(peer: Peer) -> None:
        peer.handshake()
        for i in range(10):
            peer.send_frame(TEXT, str(i).encode())
        release.wait(WAIT * 2)  # never answers the close

    raw = raw_server(handler)
    conn = geventws.connect(raw.url(), max_queue=1, close_timeout=0.3 * UNIT)
    try:
        with pytest.raises(gevent.Timeout), gevent.Timeout(0.01 * UNIT):
            conn.close()
        assert conn.wait_closed(WAIT)
        assert conn.state is State.CLOSED and conn.close_code == 1006
    finally:
        release.set()


@pytest.mark.parametrize("ending", ["protocol error", "lost"])
def test_state_is_not_open_while_a_failure_is_reported(raw_server, ending: str) -> None:  # type: ignore[no-untyped-def]
    # In on_error the connection is failing: state must not say OPEN, send() must raise.
    seen: list[tuple[State, bool]] = []

    def on_error(conn: geventws.Connection, code: ErrorCode, msg: str) -> None:
        try:
            conn.send("in on_error")
            sent = True
        except geventws.ConnectionClosed:
            sent = False
        seen.append((conn.state, sent))

    def handler(peer: Peer) -> None:
        peer.handshake()
        if ending == "protocol error":
            peer.send_frame(TEXT, b"x", rsv=0x4)  # RSV1: nobody negotiated it
            peer.wait_eof(timeout=WAIT)

    raw = raw_server(handler)
    conn = geventws.Connection(raw.url(), on_error=on_error)
    conn.connect()
    try:
        assert conn.wait_closed(WAIT)
        assert seen == [(State.CLOSING, False)]
    finally:
        conn.close()
