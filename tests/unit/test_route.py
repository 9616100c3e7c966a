"""geventws.protocol.route: the proxy, source_address, sock, unix_path and socket_options checks."""

from __future__ import annotations

import pathlib
import socket
from collections.abc import Iterator
from typing import Any

import pytest

from geventws import InvalidURL
from geventws.protocol.backoff import ReconnectPolicy
from geventws.protocol.proxy import ProxyURL
from geventws.protocol.route import DIRECT, Route, check_reconnect, make_route


@pytest.fixture
def pair() -> Iterator[tuple[socket.socket, socket.socket]]:
    a, b = socket.socketpair()
    yield a, b
    a.close()
    b.close()


def test_defaults_connect_directly() -> None:
    assert make_route() == DIRECT == Route()
    assert DIRECT.proxy_for("h", 80, False, {"HTTP_PROXY": "http://p:1"}) is None
    assert DIRECT.can_reconnect


def test_proxy_url_is_parsed_once_and_never_shown() -> None:
    route = make_route(proxy="http://alice:s3cret@proxy:3128")
    assert route.proxy == ProxyURL("http", "proxy", 3128, "alice", "s3cret")
    assert "s3cret" not in repr(route)
    assert route.proxy_for("h", 80, False, {"HTTP_PROXY": "http://other:1"}) is route.proxy


def test_proxy_true_reads_the_environment_per_call() -> None:
    route = make_route(proxy=True)
    assert route.proxy_for("h", 443, True, {}) is None
    assert str(route.proxy_for("h", 443, True, {"HTTPS_PROXY": "http://p:1"})) == "http://p:1"


@pytest.mark.parametrize("proxy", [None, False])
def test_no_proxy(proxy: bool | None) -> None:
    assert make_route(proxy=proxy) == DIRECT


def test_bad_proxy_values() -> None:
    with pytest.raises(InvalidURL):
        make_route(proxy="ftp://proxy")
    with pytest.raises(TypeError):
        make_route(proxy=1)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("address", "error"),
    [
        ("127.0.0.2", TypeError),
        (("127.0.0.2",), TypeError),
        ((b"127.0.0.2", 0), TypeError),
        (("127.0.0.2", "0"), TypeError),
        (("127.0.0.2", True), TypeError),
        (("127.0.0.2", 70000), ValueError),
    ],
)
def test_bad_source_address(address: Any, error: type[Exception]) -> None:
    with pytest.raises(error):
        make_route(source_address=address)


def test_source_address_with_a_proxy() -> None:
    route = make_route(proxy="http://p:1", source_address=("127.0.0.2", 0))
    assert route.source_address == ("127.0.0.2", 0)


def test_sock_excludes_the_other_ways(pair: tuple[socket.socket, socket.socket]) -> None:
    sock = pair[0]
    route = make_route(sock=sock, socket_options=[(socket.SOL_SOCKET, socket.SO_KEEPALIVE, True)])
    assert route.sock is sock and not route.can_reconnect
    assert route.socket_options == ((socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1),)
    for other in ({"proxy": "http://p:1"}, {"proxy": True}, {"source_address": ("127.0.0.2", 0)}):
        with pytest.raises(ValueError, match="excludes"):
            make_route(sock=sock, **other)
    with pytest.raises(ValueError, match="excludes"):
        make_route(sock=sock, unix_path="/tmp/x.sock")


def test_bad_sock(pair: tuple[socket.socket, socket.socket]) -> None:
    with pytest.raises(TypeError, match="connected socket"):
        make_route(sock="127.0.0.1:80")
    closed = socket.socket()
    closed.close()
    with pytest.raises(ValueError, match="closed"):
        make_route(sock=closed)


def test_unix_path(tmp_path: pathlib.Path) -> None:
    assert make_route(unix_path=tmp_path / "s").unix_path == str(tmp_path / "s")
    with pytest.raises(TypeError):
        make_route(unix_path="")
    with pytest.raises(ValueError, match="excludes"):
        make_route(unix_path="/x", proxy="http://p:1")
    with pytest.raises(ValueError, match="excludes"):
        make_route(unix_path="/x", source_address=("127.0.0.2", 0))


@pytest.mark.parametrize(
    "option",
    [(1, 2), (1, 2, 3, 4), ("SOL_SOCKET", 9, 1), (1, 9, "1"), (1, 9, 1.5), [1, 9, 1]],
)
def test_bad_socket_options(option: Any) -> None:
    with pytest.raises(TypeError):
        make_route(socket_options=[option])


def test_socket_options_keep_bytes_values() -> None:
    route = make_route(socket_options=iter([(1, 2, b"\x00\x01")]))
    assert route.socket_options == ((1, 2, b"\x00\x01"),)


def test_a_sock_connection_refuses_a_reconnect_policy(pair: tuple[socket.socket, socket.socket]) -> None:
    policy = ReconnectPolicy()
    check_reconnect(DIRECT, policy)
    check_reconnect(make_route(sock=pair[0]), None)
    with pytest.raises(ValueError, match="cannot reconnect"):
        check_reconnect(make_route(sock=pair[0]), policy)
