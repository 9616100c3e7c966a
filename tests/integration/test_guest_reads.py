"""A greenlet waiting in ``recv()``, or the hub, reads the socket in the receive loop's place (issue 10).

While the receive loop is parked, the hub wakes the ``recv()`` caller when
the socket becomes readable; it reads, parses and keeps the messages. What
it cannot do without waiting (a control frame, a full inbox, an error, the
end of the stream) goes to the receive loop, as if the loop had read it.
These tests check that the receive greenlet is really left alone, and that
every hand-over ends as it would without a guest.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import gevent
import gevent.event
import greenlet
import pytest

import geventws
from geventws import ErrorCode
from tests.conftest import ServerProcess
from tests.rawserver import CLOSE, PING, PONG, TEXT, Peer, RawServer, code_of, frame
from tests.support import UNIT, WAIT, Recorder

RawServerFactory = Callable[[Callable[[Peer], Any]], RawServer]

pytestmark = pytest.mark.timeout(30)


def receive_greenlet(conn: geventws.Connection) -> Any:
    session = conn._session
    assert session is not None
    return session._interrupt.greenlet


@pytest.fixture
def switches() -> Iterator[list[Any]]:
    """The greenlets switched to, while the test runs."""
    targets: list[Any] = []

    def trace(event: str, args: Any) -> None:
        if event in ("switch", "throw"):
            targets.append(args[1])

    previous = greenlet.settrace(trace)
    try:
        yield targets
    finally:
        greenlet.settrace(previous)


def test_round_trips_never_wake_the_receive_greenlet(ws_server: ServerProcess, switches: list[Any]) -> None:
    with geventws.connect(ws_server.url("/echo"), ping_interval=None) as conn:
        conn.send("warm up")
        assert conn.recv(WAIT) == "warm up"
        receiver = receive_greenlet(conn)
        switches.clear()
        for i in range(200):
            conn.send(f"m{i}")
            assert conn.recv(WAIT) == f"m{i}"
        woken = sum(1 for target in switches if target is receiver)
        assert woken <= 2, f"the receive greenlet was woken {woken} times for 200 round trips"


def test_over_tls_the_receive_loop_reads(wss_server: ServerProcess, client_ssl_context: Any) -> None:
    # The ssl module may hold decrypted bytes the socket does not show: no guest.
    url = wss_server.url("/echo")
    with geventws.connect(url, ping_interval=None, ssl_context=client_ssl_context) as conn:
        for i in range(20):
            conn.send(f"m{i}")
            assert conn.recv(WAIT) == f"m{i}"
        assert conn._session is not None and conn._session.transport is not None
        assert conn._session.transport.turn is None


def _serve(script: Callable[[Peer], None]) -> Callable[[Peer], None]:
    """A handler: the handshake, then wait for the client's "go" (sent right
    before it calls recv(): the server runs only once the client waits), then ``script``."""

    def handler(peer: Peer) -> None:
        peer.handshake()
        opcode, payload = peer.read_message()
        assert (opcode, payload) == (TEXT, b"go")
        script(peer)

    return handler


def test_control_frames_and_messages_in_one_read_keep_their_order(raw_server: RawServerFactory) -> None:
    pongs: list[bytes] = []
    done = gevent.event.Event()

    def script(peer: Peer) -> None:
        frames = [(TEXT, b"a"), (PING, b"p1"), (TEXT, b"b"), (PING, b"p2"), (TEXT, b"c")]
        peer.sock.sendall(b"".join(frame(*f) for f in frames))  # one read for the guest
        for _ in range(2):
            _, opcode, payload = peer.read_frame()
            assert opcode == PONG
            pongs.append(payload)
        done.set()
        peer.finish()

    server = raw_server(_serve(script))
    pinged_in: list[Any] = []
    conn = geventws.connect(server.url(), ping_interval=None)
    conn.on_ping = lambda c, data: pinged_in.append(gevent.getcurrent())
    receiver = receive_greenlet(conn)
    conn.send("go")
    assert [conn.recv(WAIT) for _ in range(3)] == ["a", "b", "c"]
    assert done.wait(WAIT)
    assert pongs == [b"p1", b"p2"]
    assert pinged_in == [receiver, receiver], "on_ping ran outside the receive greenlet"
    conn.close()


def test_more_messages_than_the_inbox_holds(raw_server: RawServerFactory) -> None:
    def script(peer: Peer) -> None:
        peer.sock.sendall(b"".join(frame(TEXT, b"%d" % i) for i in range(50)) + frame(PING, b"end"))
        _, opcode, payload = peer.read_frame()
        assert (opcode, payload) == (PONG, b"end")
        peer.finish()

    server = raw_server(_serve(script))
    conn = geventws.connect(server.url(), ping_interval=None, max_queue=2)
    conn.send("go")
    assert [conn.recv(WAIT) for _ in range(50)] == [str(i) for i in range(50)]
    conn.close()
    assert conn.wait_closed(WAIT)
    assert conn.close_code == 1000


def test_a_frame_split_across_reads(raw_server: RawServerFactory) -> None:
    payload = bytes(range(256)) * 40

    def script(peer: Peer) -> None:
        data = frame(0x2, payload)
        for start in range(0, len(data), 997):
            peer.sock.sendall(data[start : start + 997])
            gevent.sleep(0.002 * UNIT)  # separate reads, most likely: the result is the same either way
        peer.finish()

    server = raw_server(_serve(script))
    conn = geventws.connect(server.url(), ping_interval=None)
    conn.send("go")
    assert conn.recv(WAIT) == payload
    conn.close()


def test_the_end_of_the_stream(raw_server: RawServerFactory) -> None:
    server = raw_server(_serve(lambda peer: None))  # the handler returns: TCP closes
    recorder = Recorder()
    conn = geventws.connect(server.url(), ping_interval=None, **recorder.callbacks(messages=False))
    conn.send("go")
    with pytest.raises(geventws.ConnectionClosedError):
        conn.recv(WAIT)
    assert conn.wait_closed(WAIT)
    assert recorder.codes() == [ErrorCode.CONNECTION_LOST]
    assert conn.close_code == 1006


def test_a_protocol_violation(raw_server: RawServerFactory) -> None:
    answer: list[int] = []

    def script(peer: Peer) -> None:
        peer.sock.sendall(frame(TEXT, b"ok") + frame(0x3, b"reserved opcode"))
        _, opcode, payload = peer.read_frame()
        assert opcode == CLOSE
        answer.append(code_of(payload))
        answered.set()

    answered = gevent.event.Event()
    server = raw_server(_serve(script))
    recorder = Recorder()
    conn = geventws.connect(server.url(), ping_interval=None, **recorder.callbacks(messages=False))
    conn.send("go")
    assert conn.recv(WAIT) == "ok"  # the message before the violation is kept
    with pytest.raises(geventws.ConnectionClosedError):
        conn.recv(WAIT)
    assert conn.wait_closed(WAIT) and answered.wait(WAIT)
    assert answer == [1002]
    assert recorder.codes() == [ErrorCode.PROTOCOL_ERROR]


def test_a_close_frame(raw_server: RawServerFactory) -> None:
    answer: list[int] = []

    def script(peer: Peer) -> None:
        peer.send_close(1001, b"bye")
        _, opcode, payload = peer.read_frame()
        assert opcode == CLOSE
        answer.append(code_of(payload))

    server = raw_server(_serve(script))
    conn = geventws.connect(server.url(), ping_interval=None)
    conn.send("go")
    with pytest.raises(geventws.ConnectionClosedOK):
        conn.recv(WAIT)
    assert answer == [1001]
    assert conn.close_code == 1001 and conn.close_reason == "bye"


@pytest.mark.parametrize("how", ["timeout argument", "gevent.Timeout", "kill"])
def test_a_guest_that_stops_waiting_loses_nothing(raw_server: RawServerFactory, how: str) -> None:
    send_now = gevent.event.Event()

    def script(peer: Peer) -> None:
        send_now.wait(WAIT)
        peer.send_frame(TEXT, b"later")
        peer.finish()

    server = raw_server(_serve(script))
    conn = geventws.connect(server.url(), ping_interval=None)
    conn.send("go")
    if how == "timeout argument":
        with pytest.raises(TimeoutError):
            conn.recv(0.02 * UNIT)
    elif how == "gevent.Timeout":
        with pytest.raises(gevent.Timeout), gevent.Timeout(0.02 * UNIT):
            conn.recv()
    else:
        waiting = gevent.spawn(conn.recv)
        gevent.sleep(0)  # it waits, invited
        waiting.kill()
        assert waiting.dead
    send_now.set()
    assert conn.recv(WAIT) == "later"  # read by the receive loop, or by this guest
    conn.close()
    assert conn.wait_closed(WAIT) and conn.close_code == 1000


def test_a_dead_peer_found_by_keepalive_while_the_guest_waits(raw_server: RawServerFactory) -> None:
    def script(peer: Peer) -> None:
        peer.wait_eof(WAIT)  # reads the pings, never answers

    server = raw_server(_serve(script))
    recorder = Recorder()
    keepalive = {"ping_interval": 0.05 * UNIT, "ping_timeout": 0.05 * UNIT}
    conn = geventws.connect(server.url(), **keepalive, **recorder.callbacks(messages=False))
    conn.send("go")
    with pytest.raises(geventws.ConnectionClosedError):
        conn.recv(WAIT)
    assert conn.wait_closed(WAIT)
    assert ErrorCode.PING_TIMEOUT in recorder.codes()


def test_close_from_another_greenlet_while_the_guest_waits(raw_server: RawServerFactory) -> None:
    def script(peer: Peer) -> None:
        peer.finish()

    server = raw_server(_serve(script))
    conn = geventws.connect(server.url(), ping_interval=None)
    conn.send("go")
    closer = gevent.spawn_later(0, conn.close)
    with pytest.raises(geventws.ConnectionClosedOK):
        conn.recv(WAIT)
    closer.join(WAIT)
    assert conn.close_code == 1000


# -- with no guest, the hub reads ------------------------------------------------


def test_messages_arriving_while_nobody_waits_never_wake_the_receive_greenlet(
    raw_server: RawServerFactory, switches: list[Any]
) -> None:
    sent = gevent.event.Event()

    def script(peer: Peer) -> None:
        for i in range(20):
            peer.send_frame(TEXT, b"%d" % i)
            gevent.sleep(0)  # separate reads, most likely
        sent.set()
        peer.finish()

    server = raw_server(_serve(script))
    conn = geventws.connect(server.url(), ping_interval=None, max_queue=64)
    receiver = receive_greenlet(conn)
    switches.clear()
    conn.send("go")
    assert sent.wait(WAIT)  # the client does not wait in recv() meanwhile
    deadline = time.monotonic() + WAIT
    while len(conn._inbox) < 20:  # no Event says so: nobody may be woken for it
        assert time.monotonic() < deadline, "the messages never reached the inbox"
        gevent.sleep(0.001)  # a turn of the loop that polls the sockets: the hub reads
    assert [conn.recv(WAIT) for _ in range(20)] == [str(i) for i in range(20)]
    assert not [target for target in switches if target is receiver]
    conn.close()


def test_pongs_are_matched_without_waking_the_receive_greenlet(
    ws_server: ServerProcess, switches: list[Any]
) -> None:
    with geventws.connect(ws_server.url("/echo"), ping_interval=None) as conn:
        receiver = receive_greenlet(conn)
        switches.clear()
        for _ in range(10):
            assert conn.ping().wait(WAIT)
        assert conn.latency is not None
        assert not [target for target in switches if target is receiver]


def test_with_on_pong_or_on_message_callbacks_run_in_the_receive_greenlet(ws_server: ServerProcess) -> None:
    ran_in: list[tuple[str, Any]] = []
    done = gevent.event.Event()

    def on_message(c: geventws.Connection, data: Any) -> None:
        ran_in.append(("message", gevent.getcurrent()))
        done.set()

    conn = geventws.connect(
        ws_server.url("/echo"),
        ping_interval=None,
        on_pong=lambda c, data: ran_in.append(("pong", gevent.getcurrent())),
        on_message=on_message,
    )
    receiver = receive_greenlet(conn)
    assert conn.ping().wait(WAIT)
    conn.send("hello")
    assert done.wait(WAIT)
    assert ran_in == [("pong", receiver), ("message", receiver)]
    conn.close()


def test_keepalive_pongs_read_by_the_hub_keep_a_healthy_connection_open(
    raw_server: RawServerFactory, switches: list[Any]
) -> None:
    answered = gevent.event.Event()

    def script(peer: Peer) -> None:
        for _ in range(10):  # answers ten keepalive pings, while the client waits elsewhere
            _, opcode, payload = peer.read_frame()
            assert opcode == PING
            peer.send_frame(PONG, payload)
        answered.set()
        peer.finish()

    server = raw_server(_serve(script))
    recorder = Recorder()
    keepalive = {"ping_interval": 0.01 * UNIT, "ping_timeout": 0.2 * UNIT}
    conn = geventws.connect(server.url(), **keepalive, **recorder.callbacks(messages=False))
    receiver = receive_greenlet(conn)
    switches.clear()
    conn.send("go")
    assert answered.wait(WAIT)
    latency = conn.latency
    assert latency is not None and conn.state is geventws.State.OPEN
    assert recorder.codes() == [], "a pong matched in the hub was missed: the keepalive failed"
    assert not [target for target in switches if target is receiver], "woken for a pong"
    conn.close()
    assert conn.wait_closed(WAIT) and conn.close_code == 1000
