"""Reaching the server through proxies (issue 11): real HTTP CONNECT and SOCKS5
proxies on loopback for the happy paths, scripted raw proxies for the rest.

The real proxies are Debian's tinyproxy and microsocks (.ci/run installs them).
Without tinyproxy the HTTP tests fall back to an in-test relay and say so in a
warning; without microsocks the SOCKS tests are skipped with the reason.
"""

from __future__ import annotations

import base64
import ssl
import sys
from collections.abc import Callable, Iterator
from typing import Any

import gevent
import gevent.event
import pytest

from geventws import ConnectError, HandshakeError, ProxyError, TLSError
from geventws.protocol.route import make_route
from geventws.protocol.uri import parse_uri
from geventws.runtime.connector import open_transport
from geventws.runtime.transport import Transport
from tests.conftest import ServerProcess
from tests.proxies import (
    PASSWORD,
    PLAIN_PASSWORD,
    USER,
    Proxy,
    ProxyProcess,
    RelayProxy,
    proxy_url,
    websocket_round_trip,
)
from tests.rawserver import Peer, RawServer
from tests.support import UNIT, WAIT

RawServerFactory = Callable[[Callable[[Peer], Any]], RawServer]


def _open(url: str, proxy: str | bool, context: ssl.SSLContext | None = None) -> Transport:
    with gevent.Timeout(WAIT * 2):
        return open_transport(parse_uri(url), context, make_route(proxy=proxy))


def _round_trip(url: str, proxy: str | bool, context: ssl.SSLContext | None = None) -> str:
    transport = _open(url, proxy, context)
    try:
        return websocket_round_trip(transport, parse_uri(url), "through the proxy")
    finally:
        transport.abort()


def assert_no_secret(error: BaseException, caplog: pytest.LogCaptureFixture) -> None:
    """Neither the password nor the user name in the error, its chain, or the logs."""
    seen: BaseException | None = error
    while seen is not None:
        for text in (str(seen), repr(seen), repr(seen.args)):
            for secret in (PASSWORD, PLAIN_PASSWORD, "s3cr", USER):
                assert secret not in text, f"{secret!r} shown in {type(seen).__name__}: {text}"
        seen = seen.__cause__ or (None if seen.__suppress_context__ else seen.__context__)
    assert "s3cr" not in caplog.text and USER not in caplog.text


# -- HTTP CONNECT, real proxy -----------------------------------------------------------------------


def test_ws_through_http_proxy(ws_server: ServerProcess, http_proxy: Proxy) -> None:
    assert _round_trip(ws_server.url("/"), http_proxy.url) == "through the proxy"


def test_ws_through_http_proxy_with_basic_auth(ws_server: ServerProcess, http_proxy_auth: Proxy) -> None:
    assert _round_trip(ws_server.url("/"), http_proxy_auth.url) == "through the proxy"


def test_wss_through_http_proxy_verifies_the_server_by_name(
    wss_server: ServerProcess, http_proxy_auth: Proxy, client_ssl_context: ssl.SSLContext
) -> None:
    url = wss_server.url("/")  # wss://localhost:…: SNI and the check are for the server, not the proxy
    transport = _open(url, http_proxy_auth.url, client_ssl_context)
    try:
        assert isinstance(transport.sock, ssl.SSLSocket) or hasattr(transport.sock, "getpeercert")
        assert transport.sock.server_hostname == "localhost"  # type: ignore[attr-defined]
        assert websocket_round_trip(transport, parse_uri(url), "tls") == "tls"
    finally:
        transport.abort()


def test_wss_through_http_proxy_still_refuses_an_untrusted_certificate(
    wss_server: ServerProcess, http_proxy: Proxy
) -> None:
    with pytest.raises(TLSError, match="certificate verify failed"):
        _open(wss_server.url("/"), http_proxy.url, ssl.create_default_context())


def test_wrong_proxy_password_is_refused_and_never_shown(
    ws_server: ServerProcess, http_proxy_auth: Proxy, caplog: pytest.LogCaptureFixture
) -> None:
    url = proxy_url("http", http_proxy_auth.port, USER, "s3cr-wrong")
    with pytest.raises(ProxyError) as info:
        _open(ws_server.url("/"), url)
    # 407 is the standard answer; tinyproxy sends 401 for wrong credentials (407 for none).
    assert isinstance(info.value, HandshakeError) and info.value.status in (401, 407)
    assert str(info.value.status) in str(info.value)
    assert "rejected the user and password" in str(info.value)
    assert_no_secret(info.value, caplog)


def test_missing_proxy_credentials_is_a_407(ws_server: ServerProcess, http_proxy_auth: Proxy) -> None:
    url = proxy_url("http", http_proxy_auth.port)
    with pytest.raises(ProxyError, match=r"407.*wants credentials"):
        _open(ws_server.url("/"), url)


def test_unreachable_proxy_is_a_connect_error_naming_it_without_credentials(
    ws_server: ServerProcess, caplog: pytest.LogCaptureFixture
) -> None:
    closed = RelayProxy(auth=False)
    closed.stop()
    with pytest.raises(ConnectError, match=r"cannot connect to proxy http://\*\*\*@127.0.0.1") as info:
        _open(ws_server.url("/"), proxy_url("http", closed.port, USER, PASSWORD))
    assert not isinstance(info.value, ProxyError)
    assert_no_secret(info.value, caplog)


# -- the environment, only when asked ---------------------------------------------------------------


@pytest.fixture
def relay() -> Iterator[RelayProxy]:
    proxy = RelayProxy(auth=True)
    yield proxy
    proxy.stop()


@pytest.fixture
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in ("http_proxy", "https_proxy", "all_proxy", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)
    return monkeypatch


def test_proxy_true_takes_http_proxy_from_the_environment(
    ws_server: ServerProcess, relay: RelayProxy, clean_environment: pytest.MonkeyPatch
) -> None:
    clean_environment.setenv("HTTP_PROXY", relay.url)
    clean_environment.setenv("HTTPS_PROXY", "http://127.0.0.1:1")  # for wss:// only
    assert _round_trip(ws_server.url("/"), True) == "through the proxy"
    assert relay.targets == [f"127.0.0.1:{ws_server.port}"]


def test_proxy_true_takes_https_proxy_for_wss(
    wss_server: ServerProcess,
    relay: RelayProxy,
    clean_environment: pytest.MonkeyPatch,
    client_ssl_context: ssl.SSLContext,
) -> None:
    clean_environment.setenv("https_proxy", relay.url)
    assert _round_trip(wss_server.url("/"), True, client_ssl_context) == "through the proxy"
    assert relay.targets == [f"localhost:{wss_server.port}"]


def test_no_proxy_reaches_the_server_directly(
    ws_server: ServerProcess, relay: RelayProxy, clean_environment: pytest.MonkeyPatch
) -> None:
    clean_environment.setenv("HTTP_PROXY", relay.url)
    clean_environment.setenv("NO_PROXY", "example.com, 127.0.0.0/8")
    assert _round_trip(ws_server.url("/"), True) == "through the proxy"
    assert relay.targets == []


def test_the_environment_is_ignored_unless_asked(
    ws_server: ServerProcess, relay: RelayProxy, clean_environment: pytest.MonkeyPatch
) -> None:
    clean_environment.setenv("HTTP_PROXY", relay.url)
    assert _round_trip(ws_server.url("/"), False) == "through the proxy"
    assert relay.targets == []


def test_a_bad_proxy_in_the_environment_is_a_connect_error(
    ws_server: ServerProcess, clean_environment: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    clean_environment.setenv("HTTP_PROXY", proxy_url("ftp", 1, USER, PASSWORD))
    with pytest.raises(ConnectError, match=r"\$HTTP_PROXY") as info:
        _open(ws_server.url("/"), True)
    assert_no_secret(info.value, caplog)


# -- SOCKS5 through python-socks, real proxy --------------------------------------------------------


def test_ws_through_socks5(ws_server: ServerProcess, socks_proxy: ProxyProcess) -> None:
    assert _round_trip(ws_server.url("/"), socks_proxy.url) == "through the proxy"


def test_ws_through_socks5_with_password(ws_server: ServerProcess, socks_proxy_auth: ProxyProcess) -> None:
    assert _round_trip(ws_server.url("/"), socks_proxy_auth.url) == "through the proxy"


@pytest.mark.parametrize("scheme", ["socks5", "socks5h"])
def test_wss_through_socks5_by_name(
    scheme: str,
    wss_server: ServerProcess,
    socks_proxy_auth: ProxyProcess,
    client_ssl_context: ssl.SSLContext,
) -> None:
    # socks5:// resolves localhost here, socks5h:// lets the proxy resolve it.
    proxy = socks_proxy_auth.url.replace("socks5://", f"{scheme}://")
    assert _round_trip(wss_server.url("/"), proxy, client_ssl_context) == "through the proxy"


def test_wrong_socks_password_never_shows_it(
    ws_server: ServerProcess, socks_proxy_auth: ProxyProcess, caplog: pytest.LogCaptureFixture
) -> None:
    url = proxy_url("socks5", socks_proxy_auth.port, USER, "s3cr-wrong")
    with pytest.raises(ProxyError, match=r"SOCKS proxy socks5://\*\*\*@127.0.0.1") as info:
        _open(ws_server.url("/"), url)
    assert info.value.status == 0
    assert_no_secret(info.value, caplog)


def test_socks_proxy_that_cannot_reach_the_server(socks_proxy: ProxyProcess) -> None:
    closed = RelayProxy(auth=False)
    closed.stop()
    with pytest.raises(ProxyError, match=rf"refused 127.0.0.1:{closed.port}"):
        _open(f"ws://127.0.0.1:{closed.port}/", socks_proxy.url)


def test_socks_without_python_socks_names_the_extra(
    raw_server: RawServerFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = raw_server(lambda peer: peer.wait_eof())
    monkeypatch.setitem(sys.modules, "python_socks", None)
    with pytest.raises(ConnectError, match=r'pip install "geventws\[socks\]"'):
        _open("ws://127.0.0.1:9/", f"socks5://127.0.0.1:{server.port}")


# -- scripted proxies: what a real one does not do on demand -----------------------------------------


def _answering(answer: bytes) -> Callable[[Peer], None]:
    def handler(peer: Peer) -> None:
        peer.read_request()
        peer.sock.sendall(answer)

    return handler


def test_connect_request_as_sent_then_a_websocket_through_the_tunnel(raw_server: RawServerFactory) -> None:
    def proxy_then_server(peer: Peer) -> None:
        peer.read_request()
        requests.append((peer.request_line, dict(peer.raw_headers)))
        peer.sock.sendall(b"HTTP/1.1 200 Connection established\r\nVia: scripted\r\n\r\n")
        peer.handshake()  # the "server" at the end of the tunnel
        _, payload = peer.read_message()
        peer.send_frame(0x1, payload)

    requests: list[tuple[str, dict[str, str]]] = []
    server = raw_server(proxy_then_server)
    url = "ws://echo.invalid:8765/"  # the proxy resolves the name: never this client
    transport = _open(url, proxy_url("http", server.port, USER, PASSWORD))
    try:
        assert websocket_round_trip(transport, parse_uri(url), "hi") == "hi"
    finally:
        transport.abort()
    credentials = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    assert requests == [
        (
            "CONNECT echo.invalid:8765 HTTP/1.1",
            {"Host": "echo.invalid:8765", "Proxy-Authorization": f"Basic {credentials}"},
        )
    ]


@pytest.mark.parametrize(
    ("answer", "match", "status"),
    [
        (b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n", "refused CONNECT.*403 Forbidden", 403),
        (b"HTTP/1.1 407 Proxy Authentication Required\r\n\r\n", "407.*wants credentials", 407),
        (b"HTTP/1.1 502 Bad Gateway\r\n\r\n", "502 Bad Gateway", 502),
        (b"\x05\x00garbage that is no HTTP\r\n\r\n", "invalid HTTP", 0),
        (b"HTTP/1.1 200 OK\r\n\r\nearly bytes", "11 unexpected bytes", 0),
        (b"HTTP/1.1 200 OK\r\n" + b"X: " + b"y" * 20000, "more than 16384 bytes", 0),
        (b"HTTP/1.1 200 OK\r\n", "closed the connection before answering", 0),
        (b"", "closed the connection before answering", 0),
    ],
)
def test_bad_connect_answers(raw_server: RawServerFactory, answer: bytes, match: str, status: int) -> None:
    server = raw_server(_answering(answer))
    with pytest.raises(ProxyError, match=match) as info:
        _open("ws://127.0.0.1:9/", f"http://127.0.0.1:{server.port}")
    assert info.value.status == status


def test_a_stalled_proxy_is_bounded_by_the_callers_deadline(raw_server: RawServerFactory) -> None:
    def stall(peer: Peer) -> None:
        peer.read_request()
        if peer.wait_eof(timeout=WAIT):
            closed.set()

    closed = gevent.event.Event()
    server = raw_server(stall)
    uri = parse_uri("ws://127.0.0.1:9/")
    route = make_route(proxy=f"http://127.0.0.1:{server.port}")
    with pytest.raises(gevent.Timeout), gevent.Timeout(0.2 * UNIT):
        open_transport(uri, None, route)
    assert closed.wait(WAIT), "the socket to the proxy was left open"


def test_tunnel_that_breaks_during_tls_is_a_tls_error(raw_server: RawServerFactory) -> None:
    server = raw_server(_answering(b"HTTP/1.1 200 Connection established\r\n\r\n"))
    with pytest.raises(TLSError, match="TLS handshake with localhost:9 failed"):
        _open("wss://localhost:9/", f"http://127.0.0.1:{server.port}")


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
    transport = _open(url, proxy_url(scheme, server.port, USER, PASSWORD))
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
    transport = _open(url, proxy_url(scheme, server.port, USER))
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
        _open("ws://127.0.0.1:9/", proxy_url("socks5", server.port, USER, PASSWORD))


def test_socks5_connect_refused_by_the_proxy(raw_server: RawServerFactory) -> None:
    pytest.importorskip("python_socks")
    server = raw_server(_socks5_then_server([], reply=b"\x05\x05\x00\x01" + bytes(6)))
    with pytest.raises(ProxyError, match=r"refused 127.0.0.1:9.*[Cc]onnection refused") as info:
        _open("ws://127.0.0.1:9/", proxy_url("socks5", server.port))
    assert info.value.status == 0
