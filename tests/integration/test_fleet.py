"""geventws.Fleet: many connections opened, used and closed together.

Happy paths against the independent ``websockets`` echo server (``ws_server``);
refusals, silent servers and the handshake bound against scripted raw servers.
The autouse guards of conftest.py check that no ``geventws-…`` greenlet (the
connections' and the fleet's own) outlives a test.
"""

from __future__ import annotations

import socket
from collections.abc import Callable

import gevent
import gevent.event
import pytest

import geventws
from geventws import ErrorCode, State
from tests.conftest import ServerProcess
from tests.rawserver import Peer, RawServer
from tests.support import UNIT, WAIT

RawServerFactory = Callable[..., RawServer]

N = 50


def free_port() -> int:
    """A loopback port with nothing listening on it."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def test_opens_broadcasts_echoes_and_closes_with_1001(ws_server: ServerProcess) -> None:
    received: list[str | bytes] = []
    all_echoed = gevent.event.Event()

    def hook(conn: geventws.Connection, data: str | bytes) -> None:
        received.append(data)
        if len(received) == N:
            all_echoed.set()

    fleet = geventws.Fleet(ws_server.url(), N, max_in_flight=10, on_message=hook)
    report = fleet.open(timeout=10 * WAIT)
    assert report.all_open and report.opened == N and report.rate > 0
    assert fleet.open_count == N

    assert fleet.broadcast("hello") == N
    assert all_echoed.wait(WAIT)  # else echo() would take them for its replies
    assert fleet.echo(b"x" * 32, timeout=WAIT) == N
    totals = fleet.totals()
    assert totals["messages_out"] == 2 * N and totals["bytes_out"] == N * (5 + 32)
    assert totals["messages_in"] == 2 * N and totals["bytes_in"] == N * (5 + 32)
    assert totals["rtt_samples"] == N and totals["rtt_max"] >= totals["rtt_median"] > 0
    assert totals["errors"] == 0 and totals["reconnects"] == 0
    assert all(len(s.rtts) == 1 and s.opens == 1 for s in fleet.stats)
    assert received.count("hello") == N and received.count(b"x" * 32) == N  # the hook saw them all

    closing = fleet.close(timeout=10 * WAIT)
    assert closing.closed == N and closing.not_closed == 0
    assert {conn.close_code for conn in fleet.connections} == {1001}  # the server echoed our code


def test_connections_go_round_a_list_of_urls(ws_server: ServerProcess) -> None:
    urls = [ws_server.url("/a"), ws_server.url("/b")]
    with geventws.Fleet(urls, 4) as fleet:
        assert fleet.open(timeout=WAIT).all_open
        assert [conn.url for conn in fleet.connections] == urls * 2


def test_options_and_hooks_are_made_once_and_other_callbacks_pass_through(ws_server: ServerProcess) -> None:
    urls = [ws_server.url("/a"), ws_server.url("/b")]
    connected: list[geventws.Connection] = []
    with geventws.Fleet(urls, 4, ping_interval=30, on_connect=connected.append) as fleet:
        first, second, third, fourth = fleet.connections
        assert first.options is third.options and second.options is fourth.options
        assert first.options is not second.options
        assert first.options.limiter is fleet.limiter and first.options.ping_interval == 30
        for name in ("on_websocket_connect", "on_message", "on_error", "on_close", "on_give_up"):
            assert getattr(first, name) is getattr(fourth, name)  # one bound method for all
        assert fleet.open(timeout=WAIT).all_open
        assert sorted(map(id, connected)) == sorted(map(id, fleet.connections))


def test_refused_upgrades_and_ports_are_reported_not_waited_for(raw_server: RawServerFactory) -> None:
    served = 0

    def every_third_refused(peer: Peer) -> None:
        nonlocal served
        served += 1
        peer.read_request()
        if served % 3 == 0:
            peer.send_response("503 Service Unavailable", [("Content-Length", "0")])
            return
        peer.accept()
        peer.finish()

    server = raw_server(every_third_refused)
    dead = f"ws://127.0.0.1:{free_port()}/"
    fleet = geventws.Fleet([server.url(), dead], 30, max_in_flight=5)
    report = fleet.open(timeout=10 * WAIT)  # returns once all settled, well before this

    codes = {index: code for index, code, _ in report.failed}
    assert report.pending == 0 and report.opened + len(report.failed) == 30
    assert all(codes[i] is ErrorCode.CONNECT_FAIL for i in range(1, 30, 2))  # the dead port
    refused = [i for i in range(0, 30, 2) if i in codes]
    assert len(refused) == 5 and all(codes[i] is ErrorCode.HANDSHAKE_FAIL for i in refused)
    assert report.opened == 10 and not report.all_open
    assert all(fleet.stats[i].error_count == 1 for i in codes)
    closing = fleet.close(timeout=10 * WAIT)
    assert closing.closed == 30 and closing.not_closed == 0


def test_a_silent_server_leaves_connections_pending_until_the_deadline(
    raw_server: RawServerFactory,
) -> None:
    release = gevent.event.Event()

    def never_answers(peer: Peer) -> None:
        peer.read_request()
        release.wait(10 * WAIT)

    server = raw_server(never_answers)
    fleet = geventws.Fleet(server.url(), 5, open_timeout=30 * WAIT)
    report = fleet.open(timeout=0.2 * UNIT)
    assert report.opened == 0 and report.pending == 5 and not report.failed
    assert report.seconds >= 0.2 * UNIT
    closing = fleet.close(timeout=WAIT)  # aborts the handshakes in progress
    release.set()
    assert closing.closed == 5 and all(conn.state is State.CLOSED for conn in fleet.connections)


def test_handshakes_in_flight_never_exceed_the_bound(raw_server: RawServerFactory) -> None:
    active = peak = 0

    def slow_accept(peer: Peer) -> None:
        nonlocal active, peak
        peer.read_request()
        active += 1
        peak = max(peak, active)
        gevent.sleep(0.02 * UNIT)
        active -= 1
        peer.accept()
        peer.finish()

    server = raw_server(slow_accept)
    with geventws.Fleet(server.url(), 20, max_in_flight=3) as fleet:
        assert fleet.open(timeout=10 * WAIT).all_open
    assert 1 <= peak <= 3


def test_the_ramp_spaces_the_starts(ws_server: ServerProcess) -> None:
    with geventws.Fleet(ws_server.url(), 5, per_second=50 / UNIT) as fleet:
        report = fleet.open(timeout=10 * WAIT)
        assert report.all_open
        assert report.seconds >= 4 / (50 / UNIT)  # five starts, 20 ms apart


def test_echo_returns_at_its_deadline_when_replies_do_not_come(raw_server: RawServerFactory) -> None:
    def swallows(peer: Peer) -> None:
        peer.handshake()
        peer.finish()  # reads (and drops) data frames until the close

    server = raw_server(swallows)
    with geventws.Fleet(server.url(), 3) as fleet:
        assert fleet.open(timeout=WAIT).all_open
        assert fleet.echo("anyone?", timeout=0.1 * UNIT) == 0
        assert fleet.totals()["rtt_samples"] == 0


def test_callbacks_the_fleet_owns_cannot_be_passed() -> None:
    with pytest.raises(TypeError, match="on_close"):
        geventws.Fleet("ws://127.0.0.1:1/", 1, on_close=lambda c: None)
    with pytest.raises(ValueError):
        geventws.Fleet([], 1)


def test_close_keeps_its_deadline_when_the_server_never_answers(raw_server: RawServerFactory) -> None:
    done = gevent.event.Event()

    def deaf(peer: Peer) -> None:
        peer.handshake()
        done.wait(10 * WAIT)  # never reads the close frame, never answers it

    server = raw_server(deaf)
    fleet = geventws.Fleet(server.url(), 4, close_timeout=1 * UNIT)
    assert fleet.open(timeout=WAIT).all_open
    closing = fleet.close(timeout=0.2 * UNIT)
    assert closing.not_closed == 4 and closing.closed == 0  # reported, not waited for
    assert all(conn.wait_closed(3 * UNIT) for conn in fleet.connections)  # each close_timeout ends it
    assert {conn.close_code for conn in fleet.connections} == {1006}
    done.set()


def test_reconnects_and_errors_are_counted_per_connection(raw_server: RawServerFactory) -> None:
    visits = 0

    def drops_the_first_round(peer: Peer) -> None:
        nonlocal visits
        visits += 1
        first_round = visits <= 3
        peer.handshake()
        if first_round:
            return  # the socket closes without a closing handshake
        peer.send_frame(0x1, b"welcome back")
        peer.finish()

    server = raw_server(drops_the_first_round)
    welcomed = gevent.event.Event()
    count = 0

    def hook(conn: geventws.Connection, data: str | bytes) -> None:
        nonlocal count
        count += 1
        if count == 3:
            welcomed.set()

    policy = geventws.ReconnectPolicy(first_delay=0.05 * UNIT, min_delay=0.05 * UNIT, factor=1, jitter=0)
    with geventws.Fleet(server.url(), 3, reconnect=policy, on_message=hook) as fleet:
        report = fleet.open(timeout=WAIT)  # settles at the first handshakes, dropped or not
        assert not report.failed and report.pending == 0
        assert welcomed.wait(WAIT)
        assert [(s.opens, s.reconnects, s.messages_in) for s in fleet.stats] == [(2, 1, 1)] * 3
        assert all(s.errors[0][0] is ErrorCode.CONNECTION_LOST for s in fleet.stats)
        assert fleet.totals()["reconnects"] == 3


def test_open_again_reopens_connections_the_server_dropped(raw_server: RawServerFactory) -> None:
    visits = 0

    def drops_the_first_round(peer: Peer) -> None:
        nonlocal visits
        visits += 1
        first_round = visits <= 2
        peer.handshake()
        if not first_round:
            peer.finish()

    server = raw_server(drops_the_first_round)
    with geventws.Fleet(server.url(), 2) as fleet:
        assert fleet.open(timeout=WAIT).pending == 0
        assert all(conn.wait_closed(WAIT) for conn in fleet.connections)  # dropped, no policy: finished
        again = fleet.open(timeout=10 * WAIT)  # settles on their second handshakes
        assert again.all_open and again.opened == 2
        assert [s.opens for s in fleet.stats] == [2, 2]
        assert all(
            s.last_error is not None and s.last_error[0] is ErrorCode.CONNECTION_LOST for s in fleet.stats
        )
