"""Other ways to reach a server (issue 11): source_address, sock=, unix_path=,
socket_options=, each through open_transport as every attempt opens its stream."""

from __future__ import annotations

import socket
import ssl
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import gevent
import gevent.socket
import pytest

from geventws import ConnectError
from geventws.protocol.route import Route, make_route
from geventws.protocol.uri import parse_uri
from geventws.runtime.connector import open_transport
from geventws.runtime.transport import Transport
from tests.conftest import ServerProcess
from tests.proxies import RelayProxy, websocket_round_trip
from tests.rawserver import TEXT, Peer, RawServer
from tests.support import WAIT

RawServerFactory = Callable[[Callable[[Peer], Any]], RawServer]


def _open(url: str, route: Route, context: ssl.SSLContext | None = None) -> Transport:
    with gevent.Timeout(WAIT * 2):
        return open_transport(parse_uri(url), context, route)


def _round_trip(url: str, route: Route, context: ssl.SSLContext | None = None) -> Transport:
    """Open, check one echo, and return the (still open) transport; the caller aborts it."""
    transport = _open(url, route, context)
    try:
        assert websocket_round_trip(transport, parse_uri(url), "reached") == "reached"
    except BaseException:
        transport.abort()
        raise
    return transport


@pytest.fixture
def echo_recording_peers(raw_server: RawServerFactory) -> tuple[RawServer, list[str]]:
    """A scripted echo server on 127.0.0.1 that records each client's address."""
    addresses: list[str] = []

    def handler(peer: Peer) -> None:
        addresses.append(peer.sock.getpeername()[0])
        peer.handshake()
        _, payload = peer.read_message()
        peer.send_frame(TEXT, payload)
        peer.wait_eof()

    return raw_server(handler), addresses


# -- source_address ---------------------------------------------------------------------------------


def test_source_address_is_the_address_the_server_sees(
    echo_recording_peers: tuple[RawServer, list[str]],
) -> None:
    server, addresses = echo_recording_peers
    for source in ("127.0.0.2", "127.0.0.3"):
        _round_trip(server.url(), make_route(source_address=(source, 0))).abort()
    assert addresses == ["127.0.0.2", "127.0.0.3"]


def test_source_address_in_use_is_a_connect_error(ws_server: ServerProcess) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.2", 0))
        taken.listen()
        with pytest.raises(ConnectError, match=r"cannot connect to 127.0.0.1.*in use"):
            _open(ws_server.url(), make_route(source_address=taken.getsockname()))


def test_source_address_applies_to_the_connection_to_the_proxy(ws_server: ServerProcess) -> None:
    relay = RelayProxy(auth=False)
    try:
        route = make_route(proxy=relay.url, source_address=("127.0.0.3", 0))
        _round_trip(ws_server.url(), route).abort()
    finally:
        relay.stop()
    assert relay.clients == ["127.0.0.3"]


# -- sock= ------------------------------------------------------------------------------------------


def test_sock_runs_over_the_callers_blocking_socket_and_cannot_reconnect(ws_server: ServerProcess) -> None:
    caller = socket.create_connection(("127.0.0.1", ws_server.port), timeout=WAIT)
    route = make_route(sock=caller)
    transport = _round_trip(ws_server.url(), route)
    try:
        # geventws took the file descriptor over, as a cooperative gevent socket.
        assert caller.fileno() == -1
        assert isinstance(transport.sock, gevent.socket.socket)
    finally:
        transport.abort()
    with pytest.raises(ConnectError, match="cannot reconnect"):
        _open(ws_server.url(), route)


def test_sock_with_wss_runs_tls_over_it(
    wss_server: ServerProcess, client_ssl_context: ssl.SSLContext
) -> None:
    caller = gevent.socket.create_connection(("127.0.0.1", wss_server.port))
    route = make_route(sock=caller, socket_options=[(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)])
    transport = _round_trip(wss_server.url(), route, client_ssl_context)
    try:
        assert transport.sock.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE) == 1
        assert transport.sock.server_hostname == "localhost"  # type: ignore[attr-defined]
    finally:
        transport.abort()
    assert caller.fileno() == -1  # closed with the connection: a second attempt would be refused


# -- unix_path= -------------------------------------------------------------------------------------


@pytest.fixture
def unix_server(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "ws.sock"
    server = ServerProcess(command=[sys.executable, "-m", "tests.servers.unix_server", str(path)])
    yield path
    server.stop()


def test_unix_path_reaches_a_websockets_unix_server(unix_server: Path) -> None:
    route = make_route(unix_path=unix_server)
    for _ in range(2):  # every attempt opens a new stream on the same path
        transport = _round_trip("ws://localhost/", route)
        assert transport.sock.family == socket.AF_UNIX
        transport.abort()


def test_missing_unix_socket_is_a_connect_error(tmp_path: Path) -> None:
    with pytest.raises(ConnectError, match=r"cannot connect to Unix socket .*No such file"):
        _open("ws://localhost/", make_route(unix_path=tmp_path / "absent.sock"))


# -- socket_options= --------------------------------------------------------------------------------

KEEPALIVE = [
    (socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1),
    (socket.IPPROTO_TCP, socket.TCP_KEEPIDLE, 7),
]


def _keepalive(transport: Transport) -> tuple[int, int]:
    sock = transport.sock
    return (
        sock.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE),
        sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE),
    )


def test_socket_options_are_set_on_every_attempt(ws_server: ServerProcess) -> None:
    route = make_route(socket_options=KEEPALIVE)
    for _ in range(2):
        transport = _round_trip(ws_server.url(), route)
        assert _keepalive(transport) == (1, 7)
        assert transport.sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 1
        transport.abort()


def test_socket_options_can_override_our_defaults(ws_server: ServerProcess) -> None:
    route = make_route(socket_options=[(socket.IPPROTO_TCP, socket.TCP_NODELAY, 0)])
    transport = _round_trip(ws_server.url(), route)
    assert transport.sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 0
    transport.abort()


def test_socket_options_apply_through_tls_and_a_proxy(
    wss_server: ServerProcess, client_ssl_context: ssl.SSLContext
) -> None:
    relay = RelayProxy(auth=False)
    try:
        route = make_route(proxy=relay.url, socket_options=KEEPALIVE)
        transport = _round_trip(wss_server.url(), route, client_ssl_context)
        assert _keepalive(transport) == (1, 7)
        transport.abort()
    finally:
        relay.stop()


def test_a_socket_option_the_system_refuses_is_a_connect_error(ws_server: ServerProcess) -> None:
    route = make_route(socket_options=[(socket.SOL_SOCKET, 12345, 1)])
    with pytest.raises(ConnectError, match=r"cannot set socket option \(1, 12345, 1\)") as info:
        _open(ws_server.url(), route)
    assert isinstance(info.value.__cause__, OSError)
