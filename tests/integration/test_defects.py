"""Regression tests for the runtime defects of issue 9, through the public API.

Each test scripts the situation the issue describes (a flush cut short, an
interrupted ``connect()``, a full inbox at close, a paused reader, a truncated
error body) and checks the invariant the issue asks for.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Iterator

import gevent
import gevent.event
import pytest

import geventws
from geventws import ErrorCode, State
from tests.rawserver import CLOSE, PING, PONG, TEXT, Peer
from tests.support import UNIT, WAIT, Recorder

BIG = 32 * 2**20


def _frames_in(data: bytearray) -> Iterator[tuple[int, int, bytes]]:
    """(opcode, length, first 4 unmasked payload bytes) of every WHOLE client frame in ``data``."""
    pos = 0
    while len(data) - pos >= 2:
        b1, b2 = data[pos], data[pos + 1]
        length, head = b2 & 0x7F, 2
        if length == 126:
            if len(data) - pos < 4:
                return
            (length,) = struct.unpack_from("!H", data, pos + 2)
            head = 4
        elif length == 127:
            if len(data) - pos < 10:
                return
            (length,) = struct.unpack_from("!Q", data, pos + 2)
            head = 10
        end = pos + head + 4 + length
        if end > len(data):
            return  # a frame cut short: not received
        mask = data[pos + head : pos + head + 4]
        first = bytes(b ^ mask[i] for i, b in enumerate(data[pos + head + 4 : pos + head + 8]))
        yield b1 & 0x0F, length, first
        pos = end


def _read_until_eof(peer: Peer, timeout: float, answer_close: bool) -> bytearray:
    """Everything the client sends until it closes TCP (bounded by ``timeout``);
    with ``answer_close``, the client's close frame is echoed as soon as it is whole."""
    data = bytearray(peer.buffer)
    peer.sock.settimeout(timeout)
    answered = False
    try:
        while chunk := peer.sock.recv(2**20):
            data += chunk
            if answer_close and not answered and any(op == CLOSE for op, _, _ in _frames_in(data)):
                peer.send_close(1000)
                answered = True
    except OSError:
        pass
    return data


def _reported(recorder: Recorder) -> int:
    """How many messages on_error(SEND_FAIL) reported as not sent."""
    total = 0
    for _, code, msg in recorder.of("error"):
        if code == ErrorCode.SEND_FAIL:
            total += sum(int(n) for n in re.findall(r"(\d+) (?:queued |oldest queued )?message", msg))
    return total


@pytest.mark.timeout(60)
@pytest.mark.parametrize("interrupt", ["close", "reconnect"])
def test_no_queued_message_lost_when_the_flush_is_cut_short(raw_server, interrupt: str) -> None:  # type: ignore[no-untyped-def]
    # Issue 9, point 2: three big messages queued before connect(); close() or
    # reconnect() while the first is being written. Each one must reach the server
    # whole or be reported through on_error(SEND_FAIL).
    flushing = gevent.event.Event()
    received: list[bytes] = []

    def handler(peer: Peer) -> None:
        peer.handshake()
        first = len(raw.peers) == 1
        if first:
            if not peer.buffer:
                peer.buffer = peer.sock.recv(1)  # the flush has begun; now stop reading
            flushing.set()
            gevent.sleep(0.5 * UNIT)  # a stalled reader: the client's flush blocks in the meantime
        data = _read_until_eof(peer, 20 * UNIT, answer_close=not first)
        received.extend(head[:1] for opcode, _, head in _frames_in(data) if opcode != CLOSE)

    raw = raw_server(handler)
    recorder = Recorder()
    conn = geventws.Connection(
        raw.url(), max_send_buffer_size=None, close_timeout=2 * UNIT, **recorder.callbacks()
    )
    for i in range(3):
        conn.send(bytes([i + 1]) * BIG)
    conn.connect()
    try:
        assert flushing.wait(WAIT)
        if interrupt == "close":
            conn.close()
        else:
            conn.reconnect()
            assert recorder.wait_for(lambda: recorder.count("open") == 1, 20 * UNIT)
            conn.close()
        assert conn.wait_closed(20 * UNIT)
        assert recorder.wait_for(lambda: len(received) + _reported(recorder) >= 3, 5 * UNIT)
        assert len(received) + _reported(recorder) == 3, (received, recorder.of("error"))
        assert len(set(received)) == len(received), "a message was delivered twice"
    finally:
        geventws.stop_all()


@pytest.mark.parametrize("how", ["timeout", "kill"])
def test_interrupted_connect_leaves_nothing_running(raw_server, how: str) -> None:  # type: ignore[no-untyped-def]
    # Issue 9, point 8: interrupting connect() (a timeout, a kill) tears the attempt
    # down, like cancelling a task: no connection left running, no socket open.
    release = gevent.event.Event()
    requested = gevent.event.Event()
    closed_by_client: list[bool] = []

    def handler(peer: Peer) -> None:
        peer.read_request()  # and never answer
        requested.set()
        closed_by_client.append(peer.wait_eof(timeout=WAIT))
        release.wait(WAIT)

    raw = raw_server(handler)
    try:
        for _ in range(3):
            if how == "timeout":
                with pytest.raises(gevent.Timeout), gevent.Timeout(0.2 * UNIT):
                    geventws.connect(raw.url())
            else:
                caller = gevent.spawn(geventws.connect, raw.url())
                assert requested.wait(WAIT)  # it is waiting for the upgrade's answer
                caller.kill()
                requested.clear()
        runner = gevent.spawn(geventws.run_all, handle_signals=False)
        runner.join(WAIT)  # Greenlet.join() returns None: check .dead
        assert runner.dead, "run_all() blocked: a connection still runs"
        assert _wait(lambda: len(closed_by_client) == 3), closed_by_client
        assert closed_by_client == [True, True, True], "the client kept its socket open"
    finally:
        release.set()
        geventws.stop_all()


def _wait(predicate, timeout: float = WAIT) -> bool:  # type: ignore[no-untyped-def]
    with gevent.Timeout(timeout, False):
        while not predicate():
            gevent.sleep(0.01)
        return True
    return False


def test_close_finishes_while_the_inbox_is_full(raw_server) -> None:  # type: ignore[no-untyped-def]
    # Issue 9, point 10: with more than max_queue unread messages, close() still
    # completes the closing handshake within close_timeout and the connection finishes.
    sent = gevent.event.Event()

    def handler(peer: Peer) -> None:
        peer.handshake()
        for i in range(10):
            peer.send_frame(TEXT, str(i).encode())
        sent.set()
        peer.finish()

    raw = raw_server(handler)
    conn = geventws.connect(raw.url(), max_queue=2, close_timeout=2 * UNIT)
    try:
        assert sent.wait(WAIT)
        conn.close()
        assert conn.finished, f"state {conn.state}, close_code {conn.close_code}"
        assert conn.state is State.CLOSED
        assert conn.close_code == 1000
        runner = gevent.spawn(geventws.run_all, handle_signals=False)
        runner.join(WAIT)
        assert runner.dead
    finally:
        geventws.stop_all()


def test_a_paused_reader_does_not_kill_a_healthy_connection(raw_server) -> None:  # type: ignore[no-untyped-def]
    # Issue 9, point 11: the application stops reading for longer than
    # ping_interval + ping_timeout while the server keeps sending and answers
    # every ping at once. The pause is ours: the connection must live, and state,
    # last_error and send() must agree at every moment.
    def handler(peer: Peer) -> None:
        peer.handshake()
        for i in range(50):
            peer.send_frame(TEXT, str(i).encode())
        while True:
            _, opcode, payload = peer.read_frame()
            if opcode == PING:
                peer.send_frame(PONG, payload)
            elif opcode == CLOSE:
                peer.send_frame(CLOSE, payload)
                return

    raw = raw_server(handler)
    conn = geventws.connect(raw.url(), max_queue=4, ping_interval=0.1 * UNIT, ping_timeout=0.1 * UNIT)
    try:
        for _ in range(10):  # a pause of about 1 s, checking consistency along the way
            gevent.sleep(0.1 * UNIT)
            if conn.state is State.OPEN:
                assert conn.last_error is None
                conn.send("still open")  # must not raise while the state says OPEN
        assert [conn.recv(timeout=WAIT) for _ in range(50)] == [str(i) for i in range(50)]
        assert conn.state is State.OPEN
        assert conn.last_error is None
    finally:
        conn.close()
    assert conn.close_code == 1000


def test_a_refusal_with_a_short_body_is_reported_as_the_refusal(raw_server) -> None:  # type: ignore[no-untyped-def]
    # Issue 9, point 13: a 403 whose Content-Length promises more than is sent must
    # be a HandshakeError(403), not an OpenTimeout that a retry policy would retry.
    release = gevent.event.Event()

    def handler(peer: Peer) -> None:
        peer.read_request()
        peer.send_response("403 Forbidden", [("Content-Length", "1000")], b"go away")
        release.wait(WAIT * 3)

    raw = raw_server(handler)
    try:
        with pytest.raises(geventws.HandshakeError) as info:
            geventws.connect(raw.url(), open_timeout=5 * UNIT)
        assert not isinstance(info.value, geventws.OpenTimeout)
        assert info.value.status == 403
        assert info.value.body.startswith(b"go away")
    finally:
        release.set()
