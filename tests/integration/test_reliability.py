"""Issue 5: surviving the network, shown under injected faults.

Every test runs on loopback against the independent ``websockets`` echo server
(``ws_server``), usually through a :class:`~tests.faultproxy.FaultProxy` that
resets, stalls or refuses connections on command, or against a scripted raw
server (``raw_server``). Both faces of the library are covered: the callback
API (``Connection`` + ``on_*``) and the sequential one (``geventws.connect`` +
``recv()`` / iteration, which keep working across reconnects).

Tests wait on gevent events with timeouts; the only fixed waits are short,
bounded "nothing happens" checks.
"""

from __future__ import annotations

import gc
import json
import logging
import os
import time
import tracemalloc
from collections.abc import Callable, Iterator
from typing import Any

import gevent
import gevent.event
import pytest

import geventws
from geventws import ErrorCode, ReconnectPolicy, State
from tests.conftest import ServerProcess
from tests.faultproxy import FaultProxy
from tests.rawserver import Peer, RawServer
from tests.support import UNIT, Recorder, assert_no_geventws_greenlets, live_greenlets

#: Upper bound for anything that should happen "at once" (only reached on failure).
WAIT = 3 * UNIT
#: How long a "nothing happens" check watches.
QUIET = 0.3 * UNIT
#: Keepalive of the stall tests: detection is due within PING + PING.
PING = 0.1 * UNIT
#: The fast policy of the issue: no jitter, 50 ms between attempts.
FAST = ReconnectPolicy(first_delay=0.05 * UNIT, min_delay=0.05 * UNIT, factor=1, jitter=0)

RawServerFactory = Callable[..., RawServer]


# -- helpers -------------------------------------------------------------------


def check_delays(reconnecting: list[tuple[Any, ...]], policy: ReconnectPolicy) -> None:
    """Attempts count up from 1; delays are the policy's (the first one is random up to first_delay)."""
    attempts = [e[1] for e in reconnecting]
    assert attempts == list(range(1, len(attempts) + 1))
    for _, attempt, delay, _ in reconnecting:
        if attempt == 1:
            assert 0 <= delay <= policy.first_delay
        else:
            assert delay == pytest.approx(policy.delay(attempt))


def fill_until_blocked(send: Callable[[bytes], None], sent: list[int]) -> None:
    """Send 256 KiB messages until a send raises (the peer never reads)."""
    chunk = b"x" * 2**18
    with gevent.Timeout(10 * WAIT):  # a safety net: the connection must end long before
        while True:
            send(chunk)
            sent.append(len(chunk))


def outcome(function: Callable[..., Any], *args: Any) -> Any:
    """Run in a spawned greenlet: return the result or the exception (the hub prints nothing)."""
    try:
        return function(*args)
    except Exception as exc:
        return exc


@pytest.fixture
def proxy(ws_server: ServerProcess) -> Iterator[FaultProxy]:
    proxy = FaultProxy(ws_server.port)
    yield proxy
    proxy.stop()


# -- 1. server killed mid-stream -------------------------------------------------------


def test_callback_reconnects_after_drop_and_delivers_the_outbox_in_order(proxy: FaultProxy) -> None:
    rec = Recorder()
    conn = geventws.Connection(proxy.url("/echo"), reconnect=FAST, ping_interval=None, **rec.callbacks())
    conn.connect()
    try:
        assert rec.wait_for(lambda: rec.count("open") == 1), rec.events
        conn.send("before")
        assert rec.wait_for(lambda: rec.messages() == ["before"]), rec.events

        proxy.down()  # RST, and the port refuses connections
        assert rec.wait_for(lambda: rec.count("close") == 1), rec.events
        assert rec.codes() == [ErrorCode.CONNECTION_LOST]
        assert conn.close_code == 1006
        assert conn.state is not State.OPEN
        for i in range(5):
            conn.send(f"queued {i}")  # goes to the outbox
        assert rec.wait_for(lambda: rec.codes().count(ErrorCode.CONNECT_FAIL) >= 2), rec.events

        proxy.up()
        assert rec.wait_for(lambda: rec.count("open") == 2), rec.events
        assert rec.wait_for(lambda: len(rec.messages()) == 6), rec.events
        assert rec.messages() == ["before"] + [f"queued {i}" for i in range(5)]
        refused = rec.codes().count(ErrorCode.CONNECT_FAIL)
        # One report and one on_close per drop and per refused attempt, nothing else.
        assert rec.codes() == [ErrorCode.CONNECTION_LOST] + [ErrorCode.CONNECT_FAIL] * refused
        assert rec.count("close") == 1 + refused
        reconnecting = rec.of("reconnecting")
        assert len(reconnecting) == 1 + refused
        check_delays(reconnecting, FAST)
        assert isinstance(reconnecting[0][3], geventws.ConnectionClosedError)
        assert all(isinstance(e[3], geventws.ConnectError) for e in reconnecting[1:])
        assert rec.count("give_up") == 0

        proxy.cut()  # a second drop; the port still listens
        assert rec.wait_for(lambda: rec.count("open") == 3), rec.events
        assert rec.codes().count(ErrorCode.CONNECTION_LOST) == 2
        assert rec.count("close") == 2 + refused
        assert [e[1] for e in rec.of("reconnecting")] == list(range(1, refused + 3))
        conn.send("after cut")
        assert rec.wait_for(lambda: rec.messages()[-1:] == ["after cut"]), rec.events
    finally:
        conn.close()
    assert conn.wait_closed(WAIT)
    assert rec.count("close") == 3 + refused
    assert rec.codes().count(ErrorCode.CONNECTION_LOST) == 2
    assert len(rec.codes()) == 2 + refused  # the clean close reports nothing
    assert len(rec.of("reconnecting")) == 2 + refused


def test_sequential_recv_and_iteration_survive_drops(proxy: FaultProxy) -> None:
    rec = Recorder()
    ws = geventws.connect(proxy.url("/echo"), reconnect=FAST, ping_interval=None)
    rec.attach(ws)
    received: list[str | bytes] = []

    def read_all() -> None:
        for message in ws:  # one iteration across every reconnect, ends on the final close
            received.append(message)
            rec.add("received", message)

    reader = gevent.spawn(read_all)
    try:
        ws.send("one")
        assert rec.wait_for(lambda: received == ["one"]), rec.events

        proxy.down()
        assert rec.wait_for(lambda: rec.count("close") == 1), rec.events
        ws.send("two")
        ws.send("three")
        proxy.up()
        assert rec.wait_for(lambda: received == ["one", "two", "three"]), rec.events
        assert rec.count("open") == 1

        proxy.cut()
        assert rec.wait_for(lambda: rec.count("open") == 2), rec.events
        ws.send("four")
        assert rec.wait_for(lambda: len(received) == 4), rec.events
        assert received == ["one", "two", "three", "four"]
    finally:
        ws.close()
    assert ws.wait_closed(WAIT)
    reader.get(timeout=WAIT)  # iteration ended quietly on the 1000 close
    assert rec.codes().count(ErrorCode.CONNECTION_LOST) == 2
    refused = rec.codes().count(ErrorCode.CONNECT_FAIL)
    assert len(rec.codes()) == 2 + refused
    assert rec.count("close") == 3 + refused
    check_delays(rec.of("reconnecting"), FAST)


def test_sequential_connect_keeps_the_callbacks_passed_to_it(proxy: FaultProxy) -> None:
    rec = Recorder()
    ws = geventws.connect(
        proxy.url("/echo"),
        reconnect=FAST,
        ping_interval=None,
        on_websocket_connect=lambda c, response: rec.add("open"),
        on_error=lambda c, code, msg: rec.add("error", code, msg),
        on_close=lambda c: rec.add("close"),
    )
    try:
        proxy.cut()
        assert rec.wait_for(lambda: rec.count("close") == 1)
        ws.send("back")
        assert ws.recv(timeout=WAIT) == "back"
    finally:
        ws.close()
    assert rec.codes()[:1] == [ErrorCode.CONNECTION_LOST]
    assert rec.count("open") == 2


def test_callback_gives_up_after_max_attempts_and_reports_the_outbox(proxy: FaultProxy) -> None:
    proxy.down()
    policy = ReconnectPolicy(first_delay=0.05, min_delay=0.05, factor=1, jitter=0, max_attempts=3)
    rec = Recorder()
    conn = geventws.Connection(proxy.url("/echo"), reconnect=policy, ping_interval=None, **rec.callbacks())
    conn.send("a")
    conn.send("b")  # queued before connect()
    conn.connect()
    try:
        assert conn.wait_closed(WAIT), rec.events
    finally:
        conn.close()
    assert conn.finished
    assert rec.count("give_up") == 1
    assert isinstance(rec.of("give_up")[0][1], geventws.ConnectError)
    check_delays(rec.of("reconnecting"), policy)
    assert [e[1] for e in rec.of("reconnecting")] == [1, 2, 3]
    # The first attempt and three reconnects were refused, then the queue is reported.
    assert rec.codes() == [ErrorCode.CONNECT_FAIL] * 4 + [ErrorCode.SEND_FAIL]
    assert "2 queued message(s)" in rec.of("error")[-1][2]
    assert rec.count("close") == 4
    kinds = [e[0] for e in rec.events]
    assert kinds[-2:] == ["give_up", "error"]  # the queue is reported when the connection finishes
    with pytest.raises(geventws.ConnectionClosed):
        conn.send("too late")
    assert proxy.accepted == 0


def test_sequential_give_up_ends_recv_and_reports_the_outbox(proxy: FaultProxy) -> None:
    policy = ReconnectPolicy(first_delay=0.05, min_delay=0.05, factor=1, jitter=0, max_attempts=3)
    rec = Recorder()
    ws = geventws.connect(proxy.url("/echo"), reconnect=policy, ping_interval=None)
    rec.attach(ws)
    reader = gevent.spawn(outcome, ws.recv)
    proxy.down()
    assert rec.wait_for(lambda: rec.count("close") == 1), rec.events
    ws.send("lost")  # queued during the outage; the policy gives up before it can go
    assert ws.wait_closed(WAIT), rec.events
    assert isinstance(reader.get(timeout=WAIT), geventws.ConnectionClosedError)
    assert rec.count("give_up") == 1
    assert [e[1] for e in rec.of("reconnecting")] == [1, 2, 3]
    assert rec.codes() == [ErrorCode.CONNECTION_LOST] + [ErrorCode.CONNECT_FAIL] * 3 + [ErrorCode.SEND_FAIL]
    assert "1 queued message(s)" in rec.of("error")[-1][2]


def test_callback_http_403_gives_up_at_once(ws_server: ServerProcess) -> None:
    rec = Recorder()
    conn = geventws.Connection(ws_server.url("/reject/403"), reconnect=FAST, **rec.callbacks())
    conn.connect()
    try:
        assert conn.wait_closed(WAIT), rec.events
    finally:
        conn.close()
    assert rec.codes() == [ErrorCode.HANDSHAKE_FAIL]
    assert rec.count("reconnecting") == 0
    [(_, error)] = rec.of("give_up")
    assert isinstance(error, geventws.HandshakeError) and error.status == 403


def test_callback_http_503_is_retried(ws_server: ServerProcess) -> None:
    policy = ReconnectPolicy(first_delay=0.05, min_delay=0.05, factor=1, jitter=0, max_attempts=2)
    rec = Recorder()
    conn = geventws.Connection(ws_server.url("/reject/503"), reconnect=policy, **rec.callbacks())
    conn.connect()
    try:
        assert conn.wait_closed(WAIT), rec.events
    finally:
        conn.close()
    assert rec.codes() == [ErrorCode.HANDSHAKE_FAIL] * 3
    reconnecting = rec.of("reconnecting")
    check_delays(reconnecting, policy)
    assert len(reconnecting) == 2
    assert all(isinstance(e[3], geventws.HandshakeError) and e[3].status == 503 for e in reconnecting)
    [(_, error)] = rec.of("give_up")
    assert error.status == 503


@pytest.mark.parametrize(("status", "attempts"), [(403, 1), (503, 3)])
def test_sequential_connect_retries_503_not_403(ws_server: ServerProcess, status: int, attempts: int) -> None:
    policy = ReconnectPolicy(first_delay=0.05, min_delay=0.05, factor=1, jitter=0, max_attempts=2)
    rec = Recorder()
    with gevent.Timeout(WAIT), pytest.raises(geventws.HandshakeError) as info:
        geventws.connect(
            ws_server.url(f"/reject/{status}"),
            reconnect=policy,
            on_close=lambda c: rec.add("close"),
            on_reconnecting=lambda c, attempt, delay, error: rec.add("reconnecting", attempt, delay, error),
            on_give_up=lambda c, error: rec.add("give_up", error),
        )
    assert info.value.status == status
    assert rec.count("close") == attempts
    assert [e[1] for e in rec.of("reconnecting")] == list(range(1, attempts))
    assert rec.count("give_up") == 1


# -- 2. silent stall ---------------------------------------------------------------------


def test_callback_stall_detected_by_ping_then_reconnects(proxy: FaultProxy) -> None:
    rec = Recorder()
    conn = geventws.Connection(
        proxy.url("/echo"), reconnect=FAST, ping_interval=PING, ping_timeout=PING, **rec.callbacks()
    )
    conn.connect()
    try:
        assert rec.wait_for(lambda: rec.count("open") == 1), rec.events
        proxy.stall()
        # Without keepalive nothing would ever be reported: the wait only expires on failure.
        assert rec.wait_for(lambda: rec.count("error") >= 1), rec.events
        assert rec.codes() == [ErrorCode.PING_TIMEOUT]
        assert isinstance(conn.last_error, geventws.PingTimeout)
        assert rec.wait_for(lambda: rec.count("close") == 1), rec.events
        assert rec.of("reconnecting")[0][1] == 1
        assert isinstance(rec.of("reconnecting")[0][3], geventws.PingTimeout)
        proxy.resume()
        assert rec.wait_for(lambda: rec.count("open") == 2), rec.events
        conn.send("after the stall")
        assert rec.wait_for(lambda: rec.messages() == ["after the stall"]), rec.events
    finally:
        proxy.resume()
        conn.close()
    assert conn.wait_closed(WAIT)
    assert rec.codes() == [ErrorCode.PING_TIMEOUT]


def test_sequential_stall_detected_by_ping_then_recv_goes_on(proxy: FaultProxy) -> None:
    rec = Recorder()
    ws = geventws.connect(proxy.url("/echo"), reconnect=FAST, ping_interval=PING, ping_timeout=PING)
    rec.attach(ws)
    try:
        ws.send("first")
        assert ws.recv(timeout=WAIT) == "first"
        proxy.stall()
        assert rec.wait_for(lambda: rec.count("error") >= 1), rec.events
        assert rec.codes() == [ErrorCode.PING_TIMEOUT]
        proxy.resume()
        ws.send("second")  # queued or written, depending on where the reconnect is
        assert ws.recv(timeout=WAIT) == "second"
        assert rec.count("open") == 1
    finally:
        proxy.resume()
        ws.close()
    assert ws.wait_closed(WAIT)


# -- 3. bounded by timeouts, no greenlet stuck ----------------------------------------------


def never_answers(requested: gevent.event.Event) -> Callable[[Peer], None]:
    def handler(peer: Peer) -> None:
        peer.read_request()
        requested.set()
        peer.wait_eof(10 * WAIT)

    return handler


def test_callback_slow_handshake_bounded_by_open_timeout(raw_server: RawServerFactory) -> None:
    server = raw_server(never_answers(gevent.event.Event()))
    rec = Recorder()
    conn = geventws.Connection(server.url(), open_timeout=0.2 * UNIT, ping_interval=None, **rec.callbacks())
    started = time.monotonic()
    conn.connect()
    assert conn.wait_closed(WAIT), rec.events  # the server would hold it for 10 * WAIT
    assert time.monotonic() - started >= 0.2 * UNIT
    assert rec.codes() == [ErrorCode.CONNECT_FAIL]
    assert isinstance(conn.last_error, geventws.OpenTimeout)
    assert rec.count("close") == 1
    assert_no_geventws_greenlets()


def test_sequential_slow_handshake_bounded_by_open_timeout(raw_server: RawServerFactory) -> None:
    server = raw_server(never_answers(gevent.event.Event()))
    with gevent.Timeout(WAIT), pytest.raises(geventws.OpenTimeout):  # the server would hold it for 10 * WAIT
        geventws.connect(server.url(), open_timeout=0.2 * UNIT)
    assert_no_geventws_greenlets()


def half_frame(peer: Peer) -> None:
    """Accept, send two bytes of a frame header (a 16-bit length follows), then stall."""
    peer.handshake()
    peer.sock.sendall(b"\x81\x7e")
    peer.wait_eof(10 * WAIT)  # reads (and ignores) pings until the client gives up


def test_callback_half_sent_frame_ended_by_ping_timeout(raw_server: RawServerFactory) -> None:
    server = raw_server(half_frame)
    rec = Recorder()
    conn = geventws.Connection(server.url(), ping_interval=PING, ping_timeout=PING, **rec.callbacks())
    conn.connect()
    assert rec.wait_for(lambda: rec.count("open") == 1), rec.events
    assert conn.wait_closed(WAIT), rec.events  # the server would stall for 10 * WAIT
    assert rec.codes() == [ErrorCode.PING_TIMEOUT]
    assert conn.close_code == 1006
    assert rec.count("close") == 1
    assert_no_geventws_greenlets()


def test_sequential_half_sent_frame_ended_by_ping_timeout(raw_server: RawServerFactory) -> None:
    server = raw_server(half_frame)
    ws = geventws.connect(server.url(), ping_interval=PING, ping_timeout=PING)
    with gevent.Timeout(WAIT), pytest.raises(geventws.ConnectionClosedError) as info:
        ws.recv()
    assert info.value.code == 1006
    assert isinstance(ws.last_error, geventws.PingTimeout)
    assert ws.wait_closed(WAIT)
    assert_no_geventws_greenlets()


def never_reads(release: gevent.event.Event) -> Callable[[Peer], None]:
    def handler(peer: Peer) -> None:
        peer.handshake()
        release.wait(10 * WAIT)

    return handler


def test_callback_send_blocked_by_a_server_that_never_reads_ends_by_ping_timeout(
    raw_server: RawServerFactory,
) -> None:
    release = gevent.event.Event()
    server = raw_server(never_reads(release))
    rec = Recorder()
    conn = geventws.Connection(server.url(), ping_interval=PING, ping_timeout=PING, **rec.callbacks())
    conn.connect()
    try:
        assert rec.wait_for(lambda: rec.count("open") == 1), rec.events
        sent: list[int] = []
        sender = gevent.spawn(outcome, fill_until_blocked, conn.send, sent)
        assert isinstance(sender.get(timeout=WAIT), geventws.ConnectionClosedError)
        assert sum(sent) > 2**20  # it did block on a full socket, not fail at once
        assert conn.wait_closed(WAIT), rec.events
        assert rec.codes() == [ErrorCode.PING_TIMEOUT]
        assert rec.count("close") == 1
    finally:
        release.set()
        conn.close()
    assert_no_geventws_greenlets()


def test_sequential_send_blocked_by_a_server_that_never_reads_ends_by_ping_timeout(
    raw_server: RawServerFactory,
) -> None:
    release = gevent.event.Event()
    server = raw_server(never_reads(release))
    ws = geventws.connect(server.url(), ping_interval=PING, ping_timeout=PING)
    try:
        sent: list[int] = []
        with gevent.Timeout(WAIT), pytest.raises(geventws.ConnectionClosedError):
            fill_until_blocked(ws.send, sent)
        assert sum(sent) > 2**20
        assert isinstance(ws.last_error, geventws.PingTimeout)
        assert ws.wait_closed(WAIT)
    finally:
        release.set()
        ws.close()
    assert_no_geventws_greenlets()


def test_outbox_flush_to_a_server_that_never_reads_is_bounded(raw_server: RawServerFactory) -> None:
    release = gevent.event.Event()
    server = raw_server(never_reads(release))
    rec = Recorder()
    conn = geventws.Connection(
        server.url(),
        ping_interval=PING,
        ping_timeout=PING,
        open_timeout=0.5 * UNIT,
        max_send_buffer_size=None,
        **rec.callbacks(),
    )
    for _ in range(64):
        conn.send(b"x" * 2**18)  # 16 MiB queued: more than the socket buffers hold
    conn.connect()
    try:
        assert conn.wait_closed(2 * UNIT), (conn.state, rec.events)  # observed: still CONNECTING
        assert rec.codes()[0] in (ErrorCode.PING_TIMEOUT, ErrorCode.CONNECT_FAIL)
    finally:
        release.set()
        conn.close()
    assert_no_geventws_greenlets()


# -- 4. 200 connections, 5 cuts -------------------------------------------------------------


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def settle(before: set[int]) -> None:
    """Join the greenlets born since ``before`` (proxy handlers, pumps...), bounded."""
    new = [g for g in live_greenlets() if id(g) not in before and isinstance(g, gevent.Greenlet)]
    gevent.joinall(new, timeout=WAIT)
    gc.collect()


class Fleet:
    """``n`` callback connections through one proxy, with per-round bookkeeping."""

    def __init__(self, proxy: FaultProxy, n: int) -> None:
        self.proxy = proxy
        self.n = n
        self.rec = Recorder()
        self.open_now: set[int] = set()
        self.opened: set[int] = set()
        self.echoes: set[str] = set()
        self.errors: dict[ErrorCode, int] = {}
        self.conns = [
            geventws.Connection(
                proxy.url(f"/echo/{i}"),
                reconnect=FAST,
                on_websocket_connect=self._on_open,
                on_close=self._on_close,
                on_error=self._on_error,
                on_message=self._on_message,
            )
            for i in range(n)
        ]

    def _on_open(self, conn: geventws.Connection, response: Any) -> None:
        self.open_now.add(id(conn))
        self.opened.add(id(conn))
        self.rec.add("open")

    def _on_close(self, conn: geventws.Connection) -> None:
        self.open_now.discard(id(conn))
        self.rec.add("close")

    def _on_error(self, conn: geventws.Connection, code: ErrorCode, msg: str) -> None:
        self.errors[code] = self.errors.get(code, 0) + 1

    def _on_message(self, conn: geventws.Connection, data: Any) -> None:
        self.echoes.add(data)
        self.rec.add("message")

    def start(self) -> None:
        for conn in self.conns:
            conn.connect()
        assert self.rec.wait_for(lambda: len(self.open_now) == self.n, 10 * WAIT), len(self.open_now)

    def round(self, number: int) -> tuple[float, float]:
        """Cut everything, queue one message per connection, restore; (drop, reconnect) seconds."""
        self.opened.clear()
        self.echoes.clear()
        started = time.monotonic()
        self.proxy.down()
        assert self.rec.wait_for(lambda: not self.open_now, 10 * WAIT), len(self.open_now)
        dropped = time.monotonic()
        for i, conn in enumerate(self.conns):
            conn.send(f"round {number} conn {i}")  # into the outbox
        self.proxy.up()
        assert self.rec.wait_for(lambda: len(self.opened) == self.n, 10 * WAIT), len(self.opened)
        reconnected = time.monotonic()
        expected = {f"round {number} conn {i}" for i in range(self.n)}
        assert self.rec.wait_for(lambda: self.echoes == expected, 10 * WAIT), len(self.echoes)
        assert len(self.open_now) == self.n
        return dropped - started, reconnected - dropped

    def close(self) -> None:
        gevent.joinall([gevent.spawn(conn.close) for conn in self.conns], timeout=10 * WAIT)
        assert all(conn.wait_closed(0) for conn in self.conns)


def traced() -> int:
    gc.collect()
    return tracemalloc.get_traced_memory()[0]


@pytest.mark.timeout(120)
def test_200_connections_survive_5_cuts_without_leaks(
    ws_server: ServerProcess, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="geventws")  # captured log records would look like a leak
    n, rounds = 200, 5
    tracemalloc.start()
    try:
        # Warm-up: one full cycle, so lazily built state exists before the baseline.
        warm_proxy = FaultProxy(ws_server.port)
        warm = Fleet(warm_proxy, n)
        warm.start()
        warm.round(0)
        warm.close()
        warm_proxy.stop()
        del warm, warm_proxy
        settle(set())
        greenlets_before = {id(g) for g in live_greenlets()}
        fds_before = open_fds()
        memory_before = traced()

        proxy = FaultProxy(ws_server.port)
        fleet = Fleet(proxy, n)
        started = time.monotonic()
        fleet.start()
        connect_time = time.monotonic() - started
        fleet.round(0)  # a warm-up round with these connections
        memory_open = traced()
        times = [fleet.round(r) for r in range(1, rounds + 1)]
        memory_after_rounds = traced()
        errors = dict(fleet.errors)
        fleet.close()
        proxy.stop()
        del fleet, proxy
        settle(greenlets_before)
        greenlets_after = live_greenlets()
        leaked_greenlets = [g for g in greenlets_after if id(g) not in greenlets_before]
        fds_after = open_fds()
        memory_after = traced()
    finally:
        tracemalloc.stop()

    print(f"\n{n} connections opened in {connect_time * 1000:.0f} ms")
    for r, (drop, reconnect) in enumerate(times, 1):
        print(
            f"round {r}: all {n} saw the drop in {drop * 1000:.0f} ms, "
            f"all reconnected in {reconnect * 1000:.0f} ms"
        )
    print(f"errors reported: { {code.name: count for code, count in errors.items()} }")
    print(
        f"greenlets: {len(greenlets_before)} before, {len(greenlets_after)} after "
        f"({len(leaked_greenlets)} leaked); fds: {fds_before} before, {fds_after} after"
    )
    print(
        f"traced memory: {memory_before / 2**20:.2f} MiB before, {memory_open / 2**20:.2f} MiB open "
        f"after the warm-up round, {memory_after_rounds / 2**20:.2f} MiB after {rounds} rounds, "
        f"{memory_after / 2**20:.2f} MiB after closing"
    )
    assert errors.get(ErrorCode.CONNECTION_LOST) == n * (rounds + 1)
    assert set(errors) <= {ErrorCode.CONNECTION_LOST, ErrorCode.CONNECT_FAIL}
    assert not leaked_greenlets, leaked_greenlets
    # Not ==: a socket left by an earlier test may be collected meanwhile (seen when run after
    # test_observability alone); a leak of ours would still show as more.
    assert fds_after <= fds_before
    assert memory_after_rounds - memory_open < 2**20  # measured: ~20 KiB of noise
    assert memory_after - memory_before < 2 * 2**20


# -- 5. close() during a backoff wait, a handshake, a send ----------------------------------------


@pytest.mark.parametrize("delay", [5.0, 0.15])
def test_callback_close_during_backoff_wait(proxy: FaultProxy, delay: float) -> None:
    # first_delay=0: the first retry is immediate, the second waits exactly ``delay``.
    policy = ReconnectPolicy(first_delay=0, min_delay=delay, factor=1, jitter=0)
    proxy.down()
    rec = Recorder()
    conn = geventws.Connection(proxy.url("/echo"), reconnect=policy, **rec.callbacks())
    conn.connect()
    assert rec.wait_for(lambda: rec.count("reconnecting") == 2), rec.events
    assert rec.of("reconnecting")[1][1:3] == (2, delay)
    assert conn.reconnect_pending
    conn.send("pending")  # queued: reported when close() finishes the connection
    with gevent.Timeout(WAIT):  # a close() that waited for the attempt would take close_timeout + 1 s
        conn.close()
    assert conn.wait_closed(2)
    assert not conn.reconnect_pending
    assert rec.codes() == [ErrorCode.CONNECT_FAIL] * 2 + [ErrorCode.SEND_FAIL]
    proxy.up()
    gevent.sleep(QUIET)  # bounded negative wait: covers the 0.15 s retry that must not happen
    assert proxy.accepted == 0
    assert rec.count("connect") == 0
    assert rec.count("reconnecting") == 2
    assert rec.count("close") == 2
    assert_no_geventws_greenlets()


def test_sequential_close_during_backoff_wait(proxy: FaultProxy) -> None:
    policy = ReconnectPolicy(first_delay=0, min_delay=5.0, factor=1, jitter=0)
    rec = Recorder()
    ws = geventws.connect(proxy.url("/echo"), reconnect=policy)
    rec.attach(ws)
    reader = gevent.spawn(outcome, ws.recv)
    proxy.down()
    assert rec.wait_for(lambda: rec.count("reconnecting") == 2), rec.events
    with gevent.Timeout(WAIT):  # not after the 5 s backoff, nor close_timeout + 1 s
        ws.close()
    assert ws.wait_closed(2)
    assert isinstance(reader.get(timeout=WAIT), geventws.ConnectionClosed)  # recv() is released too
    accepted = proxy.accepted
    proxy.up()
    gevent.sleep(QUIET)
    assert proxy.accepted == accepted == 1
    assert rec.count("connect") == 0  # attached after the first open; the retries were refused
    assert rec.codes() == [ErrorCode.CONNECTION_LOST, ErrorCode.CONNECT_FAIL]
    assert_no_geventws_greenlets()


def test_callback_close_during_handshake(raw_server: RawServerFactory) -> None:
    requested = gevent.event.Event()
    server = raw_server(never_answers(requested))
    rec = Recorder()
    conn = geventws.Connection(server.url(), reconnect=FAST, **rec.callbacks())
    conn.connect()
    assert requested.wait(WAIT)
    gevent.spawn(conn.close).get(timeout=WAIT)  # from another greenlet; the server would hold it
    assert conn.wait_closed(2)
    gevent.sleep(QUIET)  # FAST would have retried after 50 ms
    assert len(server.peers) == 1
    assert rec.count("connect") == 1
    assert rec.count("reconnecting") == 0
    assert rec.count("close") == 1
    assert rec.count("open") == 0
    assert_no_geventws_greenlets()


def test_sequential_close_during_handshake(raw_server: RawServerFactory) -> None:
    requested = gevent.event.Event()
    server = raw_server(never_answers(requested))
    conns: list[geventws.Connection] = []

    def close_when_requested() -> None:
        assert requested.wait(WAIT)
        conns[0].close()

    closer = gevent.spawn(close_when_requested)
    with gevent.Timeout(WAIT), pytest.raises(geventws.ConnectError):
        geventws.connect(server.url(), reconnect=FAST, on_connect=conns.append)
    closer.get(timeout=WAIT)
    assert conns[0].wait_closed(2)
    gevent.sleep(QUIET)
    assert len(server.peers) == 1
    assert_no_geventws_greenlets()


def test_callback_close_during_blocked_send(raw_server: RawServerFactory) -> None:
    release = gevent.event.Event()
    server = raw_server(never_reads(release))
    rec = Recorder()
    conn = geventws.Connection(
        server.url(), reconnect=FAST, ping_interval=None, close_timeout=0.3 * UNIT, **rec.callbacks()
    )
    conn.connect()
    try:
        assert rec.wait_for(lambda: rec.count("open") == 1), rec.events
        sent: list[int] = []
        sender = gevent.spawn(outcome, fill_until_blocked, conn.send, sent)
        gevent.sleep(0)  # the sender runs until a send blocks: sends that fit never yield
        assert not sender.dead and sent
        with gevent.Timeout(WAIT):  # close_timeout (0.3) aborts the stream the sender is blocked on
            conn.close()
        assert conn.wait_closed(2)
        assert isinstance(sender.get(timeout=WAIT), geventws.ConnectionClosedError)
        gevent.sleep(QUIET)
        assert len(server.peers) == 1
        assert rec.count("reconnecting") == 0
        assert rec.count("close") == 1
    finally:
        release.set()
        conn.close()
    assert_no_geventws_greenlets()


def test_sequential_close_during_blocked_send(raw_server: RawServerFactory) -> None:
    release = gevent.event.Event()
    server = raw_server(never_reads(release))
    ws = geventws.connect(server.url(), reconnect=FAST, ping_interval=None, close_timeout=0.3 * UNIT)
    try:
        sent: list[int] = []
        sender = gevent.spawn(outcome, fill_until_blocked, ws.send, sent)
        gevent.sleep(0)
        assert not sender.dead and sent
        with gevent.Timeout(WAIT):
            ws.close()
        assert ws.wait_closed(2)
        assert isinstance(sender.get(timeout=WAIT), geventws.ConnectionClosedError)
        gevent.sleep(QUIET)
        assert len(server.peers) == 1
    finally:
        release.set()
        ws.close()
    assert_no_geventws_greenlets()


# -- 6. outbox, replay hook, header provider, limiter -------------------------------------------


def test_callback_outbox_fail_policy(proxy: FaultProxy) -> None:
    rec = Recorder()
    conn = geventws.Connection(
        proxy.url("/echo"),
        max_send_buffer_messages=3,
        send_buffer_policy="fail",
        ping_interval=None,
        **rec.callbacks(),
    )
    for i in range(3):
        conn.send(f"m{i}")
    with pytest.raises(geventws.SendBufferFull):
        conn.send("m3")
    assert rec.count("buffer_full") == 1
    assert rec.count("buffer_drain") == 0
    conn.connect()
    try:
        assert rec.wait_for(lambda: len(rec.messages()) == 3), rec.events
        assert rec.messages() == ["m0", "m1", "m2"]
        kinds = [e[0] for e in rec.events]
        assert kinds.index("buffer_drain") < kinds.index("open")
        assert rec.count("buffer_drain") == 1
        assert rec.codes() == []  # "fail" raises, it does not report
    finally:
        conn.close()


def test_sequential_outbox_fail_policy_during_an_outage(proxy: FaultProxy) -> None:
    rec = Recorder()
    ws = geventws.connect(
        proxy.url("/echo"), reconnect=FAST, max_send_buffer_messages=3, send_buffer_policy="fail"
    )
    rec.attach(ws)
    try:
        proxy.down()
        assert rec.wait_for(lambda: rec.count("close") == 1), rec.events
        for i in range(3):
            ws.send(f"m{i}")
        with pytest.raises(geventws.SendBufferFull):
            ws.send("m3")
        assert rec.count("buffer_full") == 1
        proxy.up()
        assert [ws.recv(timeout=WAIT) for _ in range(3)] == ["m0", "m1", "m2"]
        assert rec.count("buffer_drain") == 1
        ws.send("end")
        assert ws.recv(timeout=WAIT) == "end"
    finally:
        ws.close()


def test_callback_outbox_drop_oldest_reports_and_keeps_the_newest(proxy: FaultProxy) -> None:
    rec = Recorder()
    conn = geventws.Connection(
        proxy.url("/echo"),
        max_send_buffer_messages=3,
        send_buffer_policy="drop_oldest",
        ping_interval=None,
        **rec.callbacks(),
    )
    for i in range(5):
        conn.send(f"m{i}")
    assert rec.codes() == [ErrorCode.SEND_FAIL] * 2
    assert all("dropped the 1 oldest" in e[2] for e in rec.of("error"))
    assert rec.count("buffer_full") == 2
    conn.connect()
    try:
        assert rec.wait_for(lambda: rec.count("open") == 1), rec.events
        conn.send("end")
        assert rec.wait_for(lambda: rec.messages()[-1:] == ["end"]), rec.events
        assert rec.messages() == ["m2", "m3", "m4", "end"]
    finally:
        conn.close()


def test_sequential_outbox_drop_oldest_during_an_outage(proxy: FaultProxy) -> None:
    rec = Recorder()
    ws = geventws.connect(
        proxy.url("/echo"), reconnect=FAST, max_send_buffer_messages=3, send_buffer_policy="drop_oldest"
    )
    rec.attach(ws)
    try:
        proxy.down()
        assert rec.wait_for(lambda: rec.count("close") == 1), rec.events
        for i in range(5):
            ws.send(f"m{i}")
        assert rec.codes().count(ErrorCode.SEND_FAIL) == 2
        proxy.up()
        assert [ws.recv(timeout=WAIT) for _ in range(3)] == ["m2", "m3", "m4"]
        ws.send("end")
        assert ws.recv(timeout=WAIT) == "end"
    finally:
        ws.close()


def test_callback_outbox_block_policy(proxy: FaultProxy) -> None:
    rec = Recorder()
    conn = geventws.Connection(
        proxy.url("/echo"),
        max_send_buffer_messages=3,
        send_buffer_policy="block",
        ping_interval=None,
        **rec.callbacks(),
    )
    for i in range(3):
        conn.send(f"m{i}")
    sender = gevent.spawn(conn.send, "m3")
    sender.join(QUIET)
    assert not sender.dead  # blocked: no room and no connection
    assert rec.count("buffer_full") == 1
    conn.connect()
    try:
        sender.get(timeout=WAIT)
        assert rec.wait_for(lambda: len(rec.messages()) == 4), rec.events
        assert rec.messages() == ["m0", "m1", "m2", "m3"]
        assert rec.count("buffer_drain") == 1
    finally:
        conn.close()


def test_close_releases_a_sender_blocked_on_a_full_outbox() -> None:
    rec = Recorder()
    conn = geventws.Connection(
        "ws://127.0.0.1:9/never", max_send_buffer_messages=1, send_buffer_policy="block", **rec.callbacks()
    )
    conn.send("queued")
    sender = gevent.spawn(outcome, conn.send, "blocked")
    sender.join(QUIET)
    assert not sender.dead
    conn.close()  # never connected
    assert isinstance(sender.get(timeout=WAIT), geventws.ConnectionClosed)
    assert conn.wait_closed(0)
    assert rec.codes() == [ErrorCode.SEND_FAIL]  # the queued one is reported; the blocked one raised
    assert "1 queued message(s)" in rec.of("error")[0][2]


def test_sequential_outbox_block_policy_during_an_outage(proxy: FaultProxy) -> None:
    rec = Recorder()
    ws = geventws.connect(
        proxy.url("/echo"), reconnect=FAST, max_send_buffer_messages=3, send_buffer_policy="block"
    )
    rec.attach(ws)
    try:
        proxy.down()
        assert rec.wait_for(lambda: rec.count("close") == 1), rec.events
        for i in range(3):
            ws.send(f"m{i}")
        sender = gevent.spawn(ws.send, "m3")
        sender.join(QUIET)
        assert not sender.dead
        proxy.up()
        sender.get(timeout=WAIT)
        assert [ws.recv(timeout=WAIT) for _ in range(4)] == ["m0", "m1", "m2", "m3"]
    finally:
        ws.close()


def test_callback_open_replay_goes_before_the_outbox_on_every_open(proxy: FaultProxy) -> None:
    rec = Recorder()
    conn = geventws.Connection(
        proxy.url("/echo"),
        reconnect=FAST,
        ping_interval=None,
        on_open_replay=lambda c: c.send("subscribe"),
        **rec.callbacks(),
    )
    conn.send("q1")
    conn.send("q2")
    conn.connect()
    try:
        assert rec.wait_for(lambda: len(rec.messages()) == 3), rec.events
        assert rec.messages() == ["subscribe", "q1", "q2"]
        proxy.down()
        assert rec.wait_for(lambda: rec.count("close") == 1), rec.events
        conn.send("q3")
        proxy.up()
        assert rec.wait_for(lambda: len(rec.messages()) == 5), rec.events
        assert rec.messages()[3:] == ["subscribe", "q3"]
    finally:
        conn.close()


def test_sequential_open_replay_goes_before_the_outbox(proxy: FaultProxy) -> None:
    rec = Recorder()
    ws = geventws.connect(proxy.url("/echo"), reconnect=FAST, on_open_replay=lambda c: c.send("subscribe"))
    rec.attach(ws)
    try:
        assert ws.recv(timeout=WAIT) == "subscribe"
        proxy.down()
        assert rec.wait_for(lambda: rec.count("close") == 1), rec.events
        ws.send("q1")
        proxy.up()
        assert [ws.recv(timeout=WAIT) for _ in range(2)] == ["subscribe", "q1"]
    finally:
        ws.close()


def token_headers() -> tuple[Callable[[], list[tuple[str, str]]], list[str]]:
    """A header provider handing out a new token per call, and the tokens handed out."""
    tokens: list[str] = []

    def provider() -> list[tuple[str, str]]:
        tokens.append(f"token-{len(tokens) + 1}")
        return [("X-Token", tokens[-1])]

    return provider, tokens


def token_seen(message: Any) -> str:
    headers = dict((name.lower(), value) for name, value in json.loads(message)["headers"])
    return headers["x-token"]


def test_callback_header_provider_called_before_every_attempt(proxy: FaultProxy) -> None:
    provider, tokens = token_headers()
    rec = Recorder()
    conn = geventws.Connection(
        proxy.url("/headers"), headers=provider, reconnect=FAST, ping_interval=None, **rec.callbacks()
    )
    conn.connect()
    try:
        assert rec.wait_for(lambda: len(rec.messages()) == 1), rec.events
        proxy.down()
        assert rec.wait_for(lambda: rec.codes().count(ErrorCode.CONNECT_FAIL) >= 1), rec.events
        proxy.up()
        assert rec.wait_for(lambda: len(rec.messages()) == 2), rec.events
        seen = [token_seen(m) for m in rec.messages()]
        assert seen == ["token-1", tokens[-1]]
        # Called once per attempt, refused ones included.
        assert len(tokens) == rec.count("connect") + rec.codes().count(ErrorCode.CONNECT_FAIL)
    finally:
        conn.close()


def test_sequential_url_and_header_providers_called_before_every_attempt(proxy: FaultProxy) -> None:
    provider, tokens = token_headers()
    paths: list[str] = []

    def url() -> str:
        paths.append(f"/headers/{len(paths) + 1}")
        return proxy.url(paths[-1])

    ws = geventws.connect(url, headers=provider, reconnect=FAST)  # type: ignore[arg-type]
    try:
        first = json.loads(ws.recv(timeout=WAIT))
        proxy.cut()
        second = json.loads(ws.recv(timeout=WAIT))
    finally:
        ws.close()
    assert (first["path"], token_seen(json.dumps(first))) == ("/headers/1", "token-1")
    assert (second["path"], token_seen(json.dumps(second))) == ("/headers/2", "token-2")
    assert len(tokens) == len(paths) == 2


@pytest.mark.parametrize("api", ["callback", "sequential"])
def test_limiter_caps_handshakes_in_flight(raw_server: RawServerFactory, api: str) -> None:
    in_progress = 0
    peak = 0

    def handler(peer: Peer) -> None:
        nonlocal in_progress, peak
        in_progress += 1  # from the TCP accept...
        peak = max(peak, in_progress)
        try:
            peer.read_request()
            gevent.sleep(0.05)
            peer.accept()
        finally:
            in_progress -= 1  # ...to the 101
        peer.finish()

    server = raw_server(handler)
    limiter = geventws.HandshakeLimiter(max_in_flight=5)
    n = 30
    if api == "callback":
        rec = Recorder()
        conns = [
            geventws.Connection(server.url(), limiter=limiter, ping_interval=None, **rec.callbacks())
            for _ in range(n)
        ]
        for conn in conns:
            conn.connect()
        assert rec.wait_for(lambda: rec.count("open") == n, 10 * WAIT), rec.events
    else:
        jobs = [
            gevent.spawn(geventws.connect, server.url(), limiter=limiter, ping_interval=None)
            for _ in range(n)
        ]
        conns = [job.get(timeout=10 * WAIT) for job in jobs]
    gevent.joinall([gevent.spawn(conn.close) for conn in conns], timeout=WAIT)
    assert all(conn.finished for conn in conns)
    assert len(server.peers) == n
    assert limiter.in_flight == 0
    assert 2 <= peak <= 5, peak


def test_limiter_slot_is_released_once_the_handshake_succeeded(ws_server: ServerProcess) -> None:
    limiter = geventws.HandshakeLimiter(max_in_flight=1)
    second_open = gevent.event.Event()
    seen: list[bool] = []

    def first_open(conn: geventws.Connection, response: Any) -> None:
        seen.append(second_open.wait(1 * UNIT))  # a slow callback of the first connection

    first = geventws.Connection(ws_server.url("/echo"), limiter=limiter, on_websocket_connect=first_open)
    second = geventws.Connection(
        ws_server.url("/echo"), limiter=limiter, on_websocket_connect=lambda c, r: second_open.set()
    )
    first.connect()
    second.connect()
    try:
        assert second_open.wait(WAIT)
    finally:
        first.close()
        second.close()
    assert seen == [True]  # observed: the second waited until the first callback returned


class FakeTime:
    """A clock that never moves and a sleep that records when it would wake."""

    def __init__(self) -> None:
        self.now = 100.0
        self.wakes: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.wakes.append(self.now + seconds)
        gevent.sleep(0)


def test_limiter_spaces_starts_evenly_with_an_injected_clock(ws_server: ServerProcess) -> None:
    fake = FakeTime()
    limiter = geventws.HandshakeLimiter(per_second=10, clock=fake.clock, sleep=fake.sleep)
    n = 6
    callback_conns = [geventws.Connection(ws_server.url("/echo"), limiter=limiter) for _ in range(n // 2)]
    opened = Recorder()
    for conn in callback_conns:
        conn.on_websocket_connect = lambda c, r: opened.add("open")
        conn.connect()
    jobs = [gevent.spawn(geventws.connect, ws_server.url("/echo"), limiter=limiter) for _ in range(n // 2)]
    conns = callback_conns + [job.get(timeout=WAIT) for job in jobs]
    try:
        assert opened.wait_for(lambda: opened.count("open") == n // 2), opened.events
    finally:
        gevent.joinall([gevent.spawn(conn.close) for conn in conns], timeout=WAIT)
    # The first start is at once; each later one 1/per_second after the previous.
    starts = sorted([fake.now, *fake.wakes])
    assert starts == pytest.approx([100.0 + 0.1 * i for i in range(n)])
