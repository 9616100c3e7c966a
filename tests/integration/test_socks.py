"""Reaching the server through SOCKS proxies (issue 11), with python-socks (the
``socks`` extra) driven over our gevent socket: Debian's microsocks on loopback
for the happy paths (skipped with the reason when missing), scripted SOCKS5 and
SOCKS4(a) proxies that pin the bytes python-socks sends and how refusals are
reported.
"""

from __future__ import annotations

import ssl
import sys
from collections.abc import Callable
from typing import Any

import pytest

from geventws import ConnectError, ProxyError
from geventws.protocol.uri import parse_uri
from tests.conftest import ServerProcess
from tests.proxies import (
    PASSWORD,
    USER,
    ProxyProcess,
    RelayProxy,
    assert_no_secret,
    open_via,
    proxy_url,
    round_trip_via,
    websocket_round_trip,
)
from tests.rawserver import Peer, RawServer

RawServerFactory = Callable[[Callable[[Peer], Any]], RawServer]


# -- SOCKS5 through python-socks, real proxy --------------------------------------------------------


def test_ws_through_socks5(ws_server: ServerProcess, socks_proxy: ProxyProcess) -> None:
    assert round_trip_via(ws_server.url("/"), socks_proxy.url) == "through the proxy"


def test_ws_through_socks5_with_password(ws_server: ServerProcess, socks_proxy_auth: ProxyProcess) -> None:
    assert round_trip_via(ws_server.url("/"), socks_proxy_auth.url) == "through the proxy"


@pytest.mark.parametrize("scheme", ["socks5", "socks5h"])
def test_wss_through_socks5_by_name(
    scheme: str,
    wss_server: ServerProcess,
    socks_proxy_auth: ProxyProcess,
    client_ssl_context: ssl.SSLContext,
) -> None:
    # socks5:// resolves localhost here, socks5h:// lets the proxy resolve it.
    proxy = socks_proxy_auth.url.replace("socks5://", f"{scheme}://")
    assert round_trip_via(wss_server.url("/"), proxy, client_ssl_context) == "through the proxy"


def test_wrong_socks_password_never_shows_it(
    ws_server: ServerProcess, socks_proxy_auth: ProxyProcess, caplog: pytest.LogCaptureFixture
) -> None:
    url = proxy_url("socks5", socks_proxy_auth.port, USER, "s3cr-wrong")
    with pytest.raises(ProxyError, match=r"SOCKS proxy socks5://\*\*\*@127.0.0.1") as info:
        open_via(ws_server.url("/"), url)
    assert info.value.status == 0
    assert_no_secret(info.value, caplog)


def test_socks_proxy_that_cannot_reach_the_server(socks_proxy: ProxyProcess) -> None:
    closed = RelayProxy(auth=False)
    closed.stop()
    with pytest.raises(ProxyError, match=rf"refused 127.0.0.1:{closed.port}"):
        open_via(f"ws://127.0.0.1:{closed.port}/", socks_proxy.url)


def test_socks_without_python_socks_names_the_extra(
    raw_server: RawServerFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = raw_server(lambda peer: peer.wait_eof())
    monkeypatch.setitem(sys.modules, "python_socks", None)
    with pytest.raises(ConnectError, match=r'pip install "geventws\[socks\]"'):
        open_via("ws://127.0.0.1:9/", f"socks5://127.0.0.1:{server.port}")


# -- scripted SOCKS proxies: what python-socks sends, pinned ----------------------------------------


def _socks5_then_server(
    requests: list[tuple[Any, ...]], reply: bytes = b"\x05\x00\x00\x01" + bytes(6)
) -> Callable[[Peer], None]:
    def handler(peer: Peer) -> None:
        version, count = peer.read_exact(2)
        methods = peer.read_exact(count)
        credentials = None
        if 2 in methods:
            peer.sock.sendall(b"\x05\x02")
            _, size = peer.read_exact(2)
            user = peer.read_exact(size)
            (size,) = peer.read_exact(1)
            credentials = (user.decode(), peer.read_exact(size).decode())
            peer.sock.sendall(b"\x01\x00")
        else:
            peer.sock.sendall(b"\x05\x00")
        _, command, _, kind = peer.read_exact(4)
        size = {1: 4, 4: 16}.get(kind) or peer.read_exact(1)[0]
        address, port = peer.read_exact(size), int.from_bytes(peer.read_exact(2), "big")
        requests.append((version, credentials, command, kind, address, port))
        peer.sock.sendall(reply)
        peer.handshake()
        _, payload = peer.read_message()
        peer.send_frame(0x1, payload)

    return handler


@pytest.mark.parametrize(
    ("scheme", "host", "kind", "address"),
    [
        ("socks5h", "echo.invalid", 3, b"echo.invalid"),  # the proxy resolves the name
        ("socks5", "localhost", 1, bytes([127, 0, 0, 1])),  # resolved here, by gevent
    ],
)
def test_socks5_request_as_sent(
    raw_server: RawServerFactory, scheme: str, host: str, kind: int, address: bytes
) -> None:
    pytest.importorskip("python_socks")
    requests: list[tuple[Any, ...]] = []
    server = raw_server(_socks5_then_server(requests))
    url = f"ws://{host}:8765/"
    transport = open_via(url, proxy_url(scheme, server.port, USER, PASSWORD))
    try:
        assert websocket_round_trip(transport, parse_uri(url), "hi") == "hi"
    finally:
        transport.abort()
    assert requests == [(5, (USER, PASSWORD), 1, kind, address, 8765)]


def _read_zstring(peer: Peer) -> bytes:
    data = b""
    while (byte := peer.read_exact(1)) != b"\0":
        data += byte
    return data


@pytest.mark.parametrize(
    ("scheme", "host", "address"),
    [("socks4a", "echo.invalid", b"echo.invalid"), ("socks4", "localhost", b"")],
)
def test_socks4_request_as_sent(raw_server: RawServerFactory, scheme: str, host: str, address: bytes) -> None:
    pytest.importorskip("python_socks")

    def handler(peer: Peer) -> None:
        version, command, port_hi, port_lo, *ip = peer.read_exact(8)
        user = _read_zstring(peer)
        name = _read_zstring(peer) if ip[:3] == [0, 0, 0] and ip[3] else b""
        requests.append((version, command, port_hi * 256 + port_lo, bytes(ip), user, name))
        peer.sock.sendall(b"\x00\x5a" + bytes(6))
        peer.handshake()
        _, payload = peer.read_message()
        peer.send_frame(0x1, payload)

    requests: list[tuple[Any, ...]] = []
    server = raw_server(handler)
    url = f"ws://{host}:8765/"
    transport = open_via(url, proxy_url(scheme, server.port, USER))
    try:
        assert websocket_round_trip(transport, parse_uri(url), "hi") == "hi"
    finally:
        transport.abort()
    ip = bytes([0, 0, 0, 1]) if address else bytes([127, 0, 0, 1])
    assert requests == [(4, 1, 8765, ip, USER.encode(), address)]


@pytest.mark.parametrize(
    ("handler", "match"),
    [
        (lambda peer: peer.sock.sendall(b"\x05\xff"), "refused"),  # no acceptable method
        (lambda peer: (peer.read_exact(3), peer.sock.sendall(b"\x05\x00")), "closed the connection"),
        (lambda peer: peer.sock.sendall(b"HTTP/1.1 400 Bad Request\r\n\r\n"), "refused"),
    ],
)
def test_bad_socks5_answers(raw_server: RawServerFactory, handler: Callable[[Peer], Any], match: str) -> None:
    pytest.importorskip("python_socks")
    server = raw_server(handler)
    with pytest.raises(ProxyError, match=match):
        open_via("ws://127.0.0.1:9/", proxy_url("socks5", server.port, USER, PASSWORD))


def test_socks5_connect_refused_by_the_proxy(raw_server: RawServerFactory) -> None:
    pytest.importorskip("python_socks")
    server = raw_server(_socks5_then_server([], reply=b"\x05\x05\x00\x01" + bytes(6)))
    with pytest.raises(ProxyError, match=r"refused 127.0.0.1:9.*[Cc]onnection refused") as info:
        open_via("ws://127.0.0.1:9/", proxy_url("socks5", server.port))
    assert info.value.status == 0
