"""A connection's life against real servers on loopback (issue 2, points 7 to 11).

Positive checks wait on gevent events with timeouts; the few negative checks
("no further attempt arrives") wait a bounded window for an event that a
wrong behaviour would set.
"""

from __future__ import annotations

import logging
import select
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any

import gevent
import gevent.event
import greenlet
import pytest

import geventws
from tests.conftest import ROOT, ServerProcess
from tests.rawserver import CLOSE, Peer, RawServer, code_of
from tests.support import UNIT, Recorder, live_greenlets

RawServerFactory = Callable[[Callable[[Peer], Any]], RawServer]
ConnFactory = Callable[..., geventws.Connection]

#: How long a positive check may wait.
WAIT = 3 * UNIT
#: How long a negative check watches for something that must not happen.
WINDOW = 0.3 * UNIT


@pytest.fixture
def make_conn(raw_server: RawServerFactory) -> Iterator[ConnFactory]:
    """``make_conn(url, **options)``: a Connection closed at the end of the test.

    Depends on ``raw_server`` so that connections are closed before the raw
    servers stop.
    """
    conns: list[geventws.Connection] = []

    def make(url: str, **options: Any) -> geventws.Connection:
        options.setdefault("ping_interval", None)
        options.setdefault("close_timeout", 1 * UNIT)
        conn = geventws.Connection(url, **options)
        conns.append(conn)
        return conn

    yield make
    for conn in conns:
        conn.close()
        assert conn.wait_closed(WAIT), f"{conn!r} did not finish"


def connection_greenlets(conn: geventws.Connection) -> list[str]:
    """The kinds (receiver, keepalive, supervisor) of the live greenlets of ``conn``."""
    suffix = f" {conn.options.uri}"
    kinds = []
    for g in live_greenlets():
        name = getattr(g, "name", "")
        if isinstance(name, str) and name.startswith("geventws-") and name.endswith(suffix):
            kinds.append(name[len("geventws-") : -len(suffix)])
    return sorted(kinds)


# -- 7. reconnect() / cancel_reconnect() / close() ---------------------------------------


def test_reconnect_from_another_greenlet_closes_and_connects_again(
    raw_server: RawServerFactory, make_conn: ConnFactory
) -> None:
    handshakes = Recorder()
    closes: list[bytes] = []

    def handler(peer: Peer) -> None:
        peer.handshake()
        handshakes.add()
        closes.append(peer.finish())

    server = raw_server(handler)
    opened = Recorder()
    conn = make_conn(server.url(), on_websocket_connect=opened.add)
    conn.connect()
    assert opened.wait_count(1)
    assert conn.state is geventws.State.OPEN

    gevent.spawn(conn.reconnect, 0).join(WAIT)

    assert handshakes.wait_count(2), "no second handshake after reconnect()"
    assert opened.wait_count(2)
    assert [code_of(p) for p in closes] == [1000], "the first connection was not closed with 1000"
    assert conn.state is geventws.State.OPEN
    conn.close()
    assert conn.close_code == 1000
    assert handshakes.n == 2


def test_second_reconnect_replaces_the_pending_one(
    raw_server: RawServerFactory, make_conn: ConnFactory
) -> None:
    handshakes = Recorder()
    closes: list[bytes] = []

    def handler(peer: Peer) -> None:
        peer.handshake()
        handshakes.add()
        closes.append(peer.finish())

    server = raw_server(handler)
    opened = Recorder()
    conn = make_conn(server.url(), on_websocket_connect=opened.add)
    conn.connect()
    assert opened.wait_count(1)

    def reconnect_twice() -> None:
        conn.reconnect(0.05 * UNIT)
        conn.reconnect(0.4 * UNIT)  # replaces the first: one attempt, after 0.4

    start = time.monotonic()
    gevent.spawn(reconnect_twice).join(WAIT)
    assert conn.reconnect_pending

    assert handshakes.wait_count(2), "the replacing reconnect never connected"
    elapsed = time.monotonic() - start
    assert elapsed >= 0.35 * UNIT, f"connected after {elapsed:.3f}s: the first reconnect was not replaced"
    # Had the first one not been replaced, a further attempt would come now.
    assert not handshakes.wait_count(3, WINDOW), "two reconnect attempts were made"
    assert len(closes) == 1
    conn.close()


def test_shorter_reconnect_replaces_a_long_one(raw_server: RawServerFactory, make_conn: ConnFactory) -> None:
    handshakes = Recorder()

    def handler(peer: Peer) -> None:
        peer.handshake()
        handshakes.add()
        peer.finish()

    server = raw_server(handler)
    opened = Recorder()
    conn = make_conn(server.url(), on_websocket_connect=opened.add)
    conn.connect()
    assert opened.wait_count(1)
    gevent.spawn(conn.reconnect, 60).join(WAIT)
    gevent.spawn(conn.reconnect, 0.05 * UNIT).join(WAIT)
    assert handshakes.wait_count(2), "reconnect(0.05) did not replace the pending reconnect(60)"
    conn.close()


def _closing_server(raw_server: RawServerFactory, attempts: Recorder) -> RawServer:
    """Accepts, counts the attempt, and closes every connection from its side."""

    def handler(peer: Peer) -> None:
        attempts.add()
        peer.handshake()
        peer.send_close(1000)
        peer.read_frame()  # the client's answer; then the server closes TCP first

    return raw_server(handler)


def test_close_cancels_a_pending_reconnect(raw_server: RawServerFactory, make_conn: ConnFactory) -> None:
    attempts = Recorder()
    server = _closing_server(raw_server, attempts)
    closed = Recorder()

    def on_close(conn: geventws.Connection) -> None:
        closed.add()
        conn.reconnect(0.1 * UNIT)

    conn = make_conn(server.url(), on_close=on_close)
    conn.connect()
    assert closed.wait_count(1)
    assert conn.reconnect_pending

    conn.close()

    assert not conn.reconnect_pending
    assert conn.wait_closed(WAIT)
    assert conn.finished
    assert not attempts.wait_count(2, 0.1 * UNIT + WINDOW), "close() did not cancel the pending reconnect"
    assert closed.n == 1


def test_cancel_reconnect_cancels_a_pending_reconnect(
    raw_server: RawServerFactory, make_conn: ConnFactory
) -> None:
    attempts = Recorder()
    server = _closing_server(raw_server, attempts)
    closed = Recorder()

    def on_close(conn: geventws.Connection) -> None:
        closed.add()
        conn.reconnect(0.1 * UNIT)

    conn = make_conn(server.url(), on_close=on_close)
    conn.connect()
    assert closed.wait_count(1)
    assert conn.reconnect_pending

    gevent.spawn(conn.cancel_reconnect).join(WAIT)

    assert not conn.reconnect_pending
    assert conn.wait_closed(WAIT), "an idle connection with its reconnect cancelled must finish"
    assert not attempts.wait_count(2, 0.1 * UNIT + WINDOW), "cancel_reconnect() did not cancel"
    assert closed.n == 1


def test_reconnect_after_close_connects_again(raw_server: RawServerFactory, make_conn: ConnFactory) -> None:
    handshakes = Recorder()
    closes: list[bytes] = []

    def handler(peer: Peer) -> None:
        peer.handshake()
        handshakes.add()
        closes.append(peer.finish())

    server = raw_server(handler)
    opened = Recorder()
    conn = make_conn(server.url(), on_websocket_connect=opened.add)
    conn.connect()
    assert opened.wait_count(1)
    conn.close()
    assert conn.finished
    assert conn.state is geventws.State.CLOSED

    gevent.spawn(conn.reconnect).join(WAIT)

    assert handshakes.wait_count(2), "reconnect() after close() did not connect"
    assert opened.wait_count(2)
    assert conn.state is geventws.State.OPEN
    conn.close()
    assert [code_of(p) for p in closes] == [1000, 1000]


# -- 8. closing handshake ------------------------------------------------------------------


def test_server_initiated_close_is_answered(raw_server: RawServerFactory, make_conn: ConnFactory) -> None:
    answer: list[tuple[bool, int, bytes]] = []
    served = gevent.event.Event()

    def handler(peer: Peer) -> None:
        peer.handshake()
        peer.send_close(4001, b"bye")
        answer.append(peer.read_frame())
        served.set()

    server = raw_server(handler)
    closed = Recorder()
    conn = make_conn(server.url(), on_close=closed.add)
    conn.connect()

    assert served.wait(WAIT), "the client did not answer the close frame"
    fin, opcode, payload = answer[0]
    assert (fin, opcode) == (True, CLOSE)
    assert code_of(payload) == 4001
    assert conn.wait_closed(WAIT)
    assert conn.close_code == 4001
    assert conn.close_reason == "bye"
    assert closed.n == 1


def test_client_close_sends_1000_and_waits_for_the_reply(
    raw_server: RawServerFactory, make_conn: ConnFactory
) -> None:
    received: list[tuple[bool, int, bytes]] = []

    def handler(peer: Peer) -> None:
        peer.handshake()
        frame = peer.read_frame()
        received.append(frame)
        peer.send_frame(CLOSE, frame[2])

    server = raw_server(handler)
    opened = gevent.event.Event()
    closed = Recorder()
    conn = make_conn(
        server.url(),
        close_timeout=None,  # only the server's reply can end the close
        on_websocket_connect=lambda c, r: opened.set(),
        on_close=closed.add,
    )
    conn.connect()
    assert opened.wait(WAIT)

    with gevent.Timeout(WAIT):
        conn.close()

    assert len(received) == 1
    fin, opcode, payload = received[0]
    assert (fin, opcode) == (True, CLOSE)
    assert code_of(payload) == 1000
    assert conn.finished, "close() returned before the connection finished"
    assert closed.n == 1, "close() returned before on_close ran"
    assert conn.close_code == 1000
    assert conn.close_reason == ""


def test_close_is_bounded_when_the_server_never_answers(
    raw_server: RawServerFactory, make_conn: ConnFactory
) -> None:
    received: list[bytes] = []
    eof: list[bool] = []
    done = gevent.event.Event()

    def handler(peer: Peer) -> None:
        peer.handshake()
        received.append(peer.read_frame()[2])
        eof.append(peer.wait_eof(WAIT))  # never answers
        done.set()

    server = raw_server(handler)
    opened = gevent.event.Event()
    closed = Recorder()
    conn = make_conn(
        server.url(),
        close_timeout=0.2 * UNIT,
        on_websocket_connect=lambda c, r: opened.set(),
        on_close=closed.add,
    )
    conn.connect()
    assert opened.wait(WAIT)

    start = time.monotonic()
    conn.close()
    elapsed = time.monotonic() - start

    assert elapsed >= 0.18 * UNIT, f"close() took {elapsed:.3f}s with close_timeout=0.2"
    assert conn.finished  # close() waits close_timeout + 1 s at most: the timer did end it
    assert done.wait(WAIT) and eof == [True]  # the client dropped TCP, long before the server's WAIT
    assert conn.close_code == 1006
    assert closed.n == 1
    assert [code_of(p) for p in received] == [1000]
    assert done.wait(WAIT)
    assert eof == [True], "the client did not drop the TCP connection"


def test_tcp_dying_gives_1006(raw_server: RawServerFactory, make_conn: ConnFactory) -> None:
    def handler(peer: Peer) -> None:
        peer.handshake()  # then the socket is closed, no close frame

    server = raw_server(handler)
    errors: list[int] = []
    closed = Recorder()
    conn = make_conn(server.url(), on_close=closed.add, on_error=lambda c, code, msg: errors.append(code))
    conn.connect()

    assert closed.wait_count(1), "on_close did not fire when TCP died"
    assert conn.wait_closed(WAIT)
    assert conn.close_code == 1006
    assert conn.close_reason == ""
    assert closed.n == 1
    assert errors == [geventws.CONNECTION_LOST]


def test_independent_server_close_4000(ws_server: ServerProcess, make_conn: ConnFactory) -> None:
    closed = Recorder()
    conn = make_conn(ws_server.url("/close/4000/bye"), on_close=closed.add)
    conn.connect()
    assert closed.wait_count(1)
    assert conn.wait_closed(WAIT)
    assert conn.close_code == 4000
    assert conn.close_reason == "bye"
    assert closed.n == 1


# -- 9. greenlets ---------------------------------------------------------------------------


def test_one_greenlet_while_open_none_after_close(ws_server: ServerProcess) -> None:
    # The supervisor's greenlet runs the receive loop; keepalive is a timer between pings.
    conn = geventws.connect(ws_server.url("/greenlets"), ping_interval=10 * UNIT)
    try:
        assert conn.state is geventws.State.OPEN
        assert connection_greenlets(conn) == ["supervisor"]
    finally:
        conn.close()
    assert conn.finished
    gevent.sleep(0)
    gevent.sleep(0)
    assert connection_greenlets(conn) == []


def test_no_keepalive_greenlet_while_a_ping_waits_for_its_pong(
    raw_server: RawServerFactory, make_conn: ConnFactory
) -> None:
    # The ping was written from the hub (nothing else was being written) and a
    # timer watches for its pong: no greenlet.
    pinged = gevent.event.Event()
    release = gevent.event.Event()

    def handler(peer: Peer) -> None:
        peer.handshake()
        peer.read_frame()  # the ping: never answered
        pinged.set()
        release.wait(WAIT)

    server = raw_server(handler)
    conn = make_conn(server.url(), ping_interval=0.05 * UNIT, ping_timeout=WAIT)
    conn.connect()
    try:
        assert pinged.wait(WAIT)
        assert connection_greenlets(conn) == ["supervisor"]
    finally:
        release.set()
        conn.close()
    assert conn.wait_closed(WAIT)
    assert connection_greenlets(conn) == []


def test_a_late_abort_kill_never_hits_the_supervisor(raw_server: RawServerFactory) -> None:
    # abort() (a cancelled opening) kills the receive loop, which is the
    # supervisor's greenlet. Here the attempt runs to its end before that kill
    # lands: it must land in the attempt, not in the wait for the reconnect.
    answered = gevent.event.Event()
    attempts: list[int] = []

    def handler(peer: Peer) -> None:
        attempts.append(1)
        peer.sock.sendall(b"HTTP/1.1 503 Busy\r\nContent-Length: 0\r\n\r\n")
        answered.set()
        peer.wait_eof(WAIT)

    connects: list[int] = []
    again = gevent.event.Event()

    def on_connect(conn: geventws.Connection) -> None:
        connects.append(1)
        if len(connects) == 2:
            again.set()
        elif len(connects) == 1:
            assert answered.wait(WAIT)  # the 503 is waiting in our socket: no more blocking
            session = conn._session
            assert session is not None
            # Abort from another greenlet without passing through the hub: the kill is queued.
            greenlet.greenlet(session.abort).switch()

    server = raw_server(handler)
    policy = geventws.ReconnectPolicy(first_delay=0.05 * UNIT, min_delay=0.05 * UNIT, jitter=0)
    conn = geventws.Connection(server.url(), on_connect=on_connect, reconnect=policy)
    conn.connect()
    try:
        assert again.wait(WAIT), "the kill ended the supervisor: no reconnect"
    finally:
        conn.stop()


def test_no_greenlet_leak_after_100_cycles(ws_server: ServerProcess) -> None:
    url = ws_server.url("/leak")

    def cycle() -> None:
        conn = geventws.connect(url, ping_interval=10 * UNIT, close_timeout=1 * UNIT)
        assert conn.state is geventws.State.OPEN
        conn.close()
        assert conn.finished
        assert conn.close_code == 1000

    cycle()  # warm-up: resolver threads, hub
    gevent.sleep(0)
    gevent.sleep(0)
    before = len(live_greenlets())
    with gevent.Timeout(20 * UNIT):
        for _ in range(100):
            cycle()
    after = len(live_greenlets())
    for _ in range(2):
        if after <= before:
            break
        gevent.sleep(0)
        after = len(live_greenlets())
    assert after - before <= 0, f"{after - before} greenlet(s) leaked over 100 cycles"


# -- 10. run_all ----------------------------------------------------------------------------


def test_run_all_returns_when_every_connection_is_finished(
    ws_server: ServerProcess, raw_server: RawServerFactory, make_conn: ConnFactory
) -> None:
    def slow_closer(peer: Peer) -> None:
        peer.handshake()
        gevent.sleep(0.2 * UNIT)  # part of the scenario: this one closes later
        peer.send_close(1000, b"later")
        peer.read_frame()

    server = raw_server(slow_closer)
    first = make_conn(ws_server.url("/close/1000/now"))
    second = make_conn(server.url())
    first.connect()
    second.connect()

    with gevent.Timeout(5 * UNIT):
        geventws.run_all()

    assert first.finished
    assert second.finished, "run_all() returned before the second connection finished"
    assert (first.close_code, first.close_reason) == (1000, "now")
    assert (second.close_code, second.close_reason) == (1000, "later")


def test_run_all_without_connections_returns_at_once() -> None:
    with gevent.Timeout(WAIT):
        geventws.run_all()


SIGNAL_SCRIPT = """
import sys

import geventws

conn = geventws.Connection(sys.argv[1], ping_interval=None, close_timeout=2)
conn.on_websocket_connect = lambda c, r: print("open", flush=True)
conn.connect()
geventws.run_all()
print("closed", conn.close_code, conn.finished, flush=True)
"""


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_run_all_closes_with_1001_on_signal(ws_server: ServerProcess, signum: signal.Signals) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-c", SIGNAL_SCRIPT, ws_server.url("/signal")],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        ready, _, _ = select.select([proc.stdout], [], [], 10 * UNIT)
        assert ready, "the script never opened its connection"
        assert proc.stdout.readline() == "open\n"

        proc.send_signal(signum)
        out, err = proc.communicate(timeout=4 * UNIT)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    assert out == "closed 1001 True\n", err


RUN_ALL_ENDS_SCRIPT = """
import sys

if sys.argv[2] == "patched":
    from gevent import monkey

    monkey.patch_all()

import gevent

import geventws

if sys.argv[3] == "close":  # the only connection is closed for good while run_all() waits
    conn = geventws.Connection(sys.argv[1], ping_interval=None)
    conn.on_websocket_connect = lambda c, r: gevent.spawn_later(0.05, c.close)
    conn.on_close = lambda c: print("closed", flush=True)
    conn.connect()
geventws.run_all()
print("returned", flush=True)
"""


@pytest.mark.parametrize(
    ("patching", "scenario", "out"),
    [
        ("unpatched", "close", "closed\nreturned\n"),
        ("patched", "close", "closed\nreturned\n"),
        ("unpatched", "none", "returned\n"),
        ("patched", "none", "returned\n"),
    ],
)
def test_run_all_returns_without_loop_exit_when_nothing_is_left(
    ws_server: ServerProcess, patching: str, scenario: str, out: str
) -> None:
    # Out of pytest's process: there a test's gevent.Timeout would keep the loop
    # alive and hide a LoopExit ("This operation would block forever").
    proc = subprocess.run(
        [sys.executable, "-c", RUN_ALL_ENDS_SCRIPT, ws_server.url("/"), patching, scenario],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=20 * UNIT,
    )
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr and "LoopExit" not in proc.stderr, proc.stderr
    assert proc.stdout == out, proc.stderr


# -- 11. exceptions in callbacks ------------------------------------------------------------


def _error_records(caplog: pytest.LogCaptureFixture, callback: str) -> list[logging.LogRecord]:
    return [
        r
        for r in caplog.records
        if r.name == "geventws" and r.levelno >= logging.ERROR and callback in r.getMessage()
    ]


def test_exception_in_on_message_is_logged_and_connection_survives(
    ws_server: ServerProcess, make_conn: ConnFactory, caplog: pytest.LogCaptureFixture
) -> None:
    received: list[str | bytes] = []
    second = gevent.event.Event()

    def on_message(conn: geventws.Connection, data: str | bytes) -> None:
        received.append(data)
        if data == "one":
            raise RuntimeError("boom in on_message")
        second.set()

    def on_websocket_connect(conn: geventws.Connection, response: geventws.Response) -> None:
        conn.send("one")
        conn.send("two")

    conn = make_conn(ws_server.url("/"), on_message=on_message, on_websocket_connect=on_websocket_connect)
    conn.connect()

    assert second.wait(WAIT), "the message after the failing callback was not delivered"
    assert received == ["one", "two"]
    assert conn.state is geventws.State.OPEN
    records = _error_records(caplog, "on_message")
    assert len(records) == 1
    assert records[0].exc_info is not None
    assert records[0].exc_info[0] is RuntimeError
    conn.close()
    assert conn.close_code == 1000


def test_exception_in_on_websocket_connect_is_logged_and_connection_survives(
    ws_server: ServerProcess, make_conn: ConnFactory, caplog: pytest.LogCaptureFixture
) -> None:
    received = gevent.event.AsyncResult()

    def on_websocket_connect(conn: geventws.Connection, response: geventws.Response) -> None:
        conn.send("still here")
        raise ValueError("boom in on_websocket_connect")

    conn = make_conn(
        ws_server.url("/"),
        on_websocket_connect=on_websocket_connect,
        on_message=lambda c, data: received.set(data),
    )
    conn.connect()

    assert received.get(timeout=WAIT) == "still here"
    assert conn.state is geventws.State.OPEN
    records = _error_records(caplog, "on_websocket_connect")
    assert len(records) == 1
    assert records[0].exc_info is not None
    assert records[0].exc_info[0] is ValueError
    conn.close()
    assert conn.close_code == 1000


def test_run_all_in_another_os_thread(ws_server: ServerProcess) -> None:
    """A thread with its own hub runs its own connections; run_all() there
    skips signal handling (main thread only) and returns when they finish."""
    import threading

    outcome: list[object] = []

    def thread_main() -> None:
        conn = geventws.Connection(
            ws_server.url("/"),
            on_websocket_connect=lambda c, r: c.send("from a thread"),
            on_message=lambda c, data: (outcome.append(data), c.close()),
        )
        conn.connect()
        geventws.run_all()
        outcome.append(conn.close_code)

    thread = threading.Thread(target=thread_main)
    thread.start()
    thread.join(10)
    assert outcome == ["from a thread", 1000]


def test_close_wait_is_one_deadline_even_if_the_server_trickles(raw_server: RawServerFactory) -> None:
    """After the close exchange the client waits for the server to drop TCP; a
    server that keeps sending a byte now and then must not stretch that wait."""
    stop = gevent.event.Event()

    def handler(peer: Peer) -> None:
        peer.handshake()
        peer.send_close(1000)
        peer.read_frame()  # the client's echo
        while not stop.wait(0.05 * UNIT):  # never closes TCP, never falls silent
            peer.sock.sendall(b"\x00")

    server = raw_server(handler)
    conn = geventws.Connection(server.url(), ping_interval=None, close_timeout=0.3 * UNIT)
    conn.connect()
    try:
        # The trickling server never stops: only the close timer can end the drain.
        assert conn.wait_closed(WAIT), "the client kept draining a trickling server"
        assert conn.close_code == 1000
    finally:
        stop.set()
        conn.close()
