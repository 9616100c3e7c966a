"""Reaching the server through proxies (issue 11): real HTTP CONNECT and SOCKS5
proxies on loopback for the happy paths, scripted raw proxies for the rest.

The real proxy is Debian's tinyproxy (.ci/run installs it); without it the
tests fall back to an in-test relay and say so in a warning. SOCKS is in
test_socks.py.
"""

from __future__ import annotations

import base64
import os
import ssl
from collections.abc import Callable, Iterator
from typing import Any

import gevent
import gevent.event
import pytest

from geventws import ConnectError, HandshakeError, ProxyError, TLSError
from geventws.protocol.route import make_route
from geventws.protocol.uri import parse_uri
from geventws.runtime.connector import open_transport
from tests.conftest import ServerProcess
from tests.proxies import (
    PASSWORD,
    USER,
    Proxy,
    RelayProxy,
    assert_no_secret,
    open_via,
    proxy_url,
    round_trip_via,
    websocket_round_trip,
)
from tests.rawserver import Peer, RawServer
from tests.support import UNIT, WAIT

RawServerFactory = Callable[[Callable[[Peer], Any]], RawServer]


# -- HTTP CONNECT, real proxy -----------------------------------------------------------------------


def test_ws_through_http_proxy(ws_server: ServerProcess, http_proxy: Proxy) -> None:
    assert round_trip_via(ws_server.url("/"), http_proxy.url) == "through the proxy"


def test_ws_through_http_proxy_with_basic_auth(ws_server: ServerProcess, http_proxy_auth: Proxy) -> None:
    assert round_trip_via(ws_server.url("/"), http_proxy_auth.url) == "through the proxy"


def test_wss_through_http_proxy_verifies_the_server_by_name(
    wss_server: ServerProcess, http_proxy_auth: Proxy, client_ssl_context: ssl.SSLContext
) -> None:
    url = wss_server.url("/")  # wss://localhost:…: SNI and the check are for the server, not the proxy
    transport = open_via(url, http_proxy_auth.url, client_ssl_context)
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
        open_via(wss_server.url("/"), http_proxy.url, ssl.create_default_context())


def test_wrong_proxy_password_is_refused_and_never_shown(
    ws_server: ServerProcess, http_proxy_auth: Proxy, caplog: pytest.LogCaptureFixture
) -> None:
    url = proxy_url("http", http_proxy_auth.port, USER, "s3cr-wrong")
    with pytest.raises(ProxyError) as info:
        open_via(ws_server.url("/"), url)
    # 407 is the standard answer; tinyproxy sends 401 for wrong credentials (407 for none).
    assert isinstance(info.value, HandshakeError) and info.value.status in (401, 407)
    assert str(info.value.status) in str(info.value)
    assert "rejected the user and password" in str(info.value)
    assert_no_secret(info.value, caplog)


def test_missing_proxy_credentials_is_a_407(ws_server: ServerProcess, http_proxy_auth: Proxy) -> None:
    url = proxy_url("http", http_proxy_auth.port)
    with pytest.raises(ProxyError, match=r"407.*wants credentials"):
        open_via(ws_server.url("/"), url)


def test_unreachable_proxy_is_a_connect_error_naming_it_without_credentials(
    ws_server: ServerProcess, caplog: pytest.LogCaptureFixture
) -> None:
    closed = RelayProxy(auth=False)
    closed.stop()
    with pytest.raises(ConnectError, match=r"cannot connect to proxy http://\*\*\*@127.0.0.1") as info:
        open_via(ws_server.url("/"), proxy_url("http", closed.port, USER, PASSWORD))
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
    monkeypatch.delenv("REQUEST_METHOD", raising=False)  # CGI: HTTP_PROXY would be ignored
    return monkeypatch


def test_proxy_true_takes_http_proxy_from_the_environment(
    ws_server: ServerProcess, relay: RelayProxy, clean_environment: pytest.MonkeyPatch
) -> None:
    clean_environment.setenv("HTTP_PROXY", relay.url)
    clean_environment.setenv("HTTPS_PROXY", "http://127.0.0.1:1")  # for wss:// only
    assert round_trip_via(ws_server.url("/"), True) == "through the proxy"
    assert relay.targets == [f"127.0.0.1:{ws_server.port}"]


def test_proxy_true_takes_https_proxy_for_wss(
    wss_server: ServerProcess,
    relay: RelayProxy,
    clean_environment: pytest.MonkeyPatch,
    client_ssl_context: ssl.SSLContext,
) -> None:
    clean_environment.setenv("https_proxy", relay.url)
    assert round_trip_via(wss_server.url("/"), True, client_ssl_context) == "through the proxy"
    assert relay.targets == [f"localhost:{wss_server.port}"]


def test_no_proxy_reaches_the_server_directly(
    ws_server: ServerProcess, relay: RelayProxy, clean_environment: pytest.MonkeyPatch
) -> None:
    clean_environment.setenv("HTTP_PROXY", relay.url)
    clean_environment.setenv("NO_PROXY", "example.com, 127.0.0.0/8")
    assert round_trip_via(ws_server.url("/"), True) == "through the proxy"
    assert relay.targets == []


def test_in_a_cgi_process_http_proxy_is_ignored(
    ws_server: ServerProcess, clean_environment: pytest.MonkeyPatch
) -> None:
    # httpoxy: a CGI client's "Proxy: …" header arrives as HTTP_PROXY. Here it
    # names a port nothing listens on: following it would fail to connect.
    closed = RelayProxy(auth=False)
    closed.stop()
    clean_environment.setenv("REQUEST_METHOD", "GET")
    clean_environment.setenv("HTTP_PROXY", f"http://127.0.0.1:{closed.port}")
    assert round_trip_via(ws_server.url("/"), True) == "through the proxy"  # echoed: it went direct


def test_no_proxy_with_an_international_name_bypasses(clean_environment: pytest.MonkeyPatch) -> None:
    # No IDN name resolves to loopback here, so this shows the connector's
    # choice (Route.proxy_for with the parsed URL and os.environ), not a connection.
    clean_environment.setenv("HTTP_PROXY", "http://127.0.0.1:1")
    clean_environment.setenv("NO_PROXY", "localhost, BÜCHER.example.")
    route = make_route(proxy=True)
    for url in ("ws://bücher.example/", "ws://www.Bücher.example:8080/"):
        uri = parse_uri(url)
        # Out of the assert: a failure would print os.environ.
        proxy = route.proxy_for(uri.host, uri.port, uri.secure, os.environ)
        assert proxy is None, url
    uri = parse_uri("ws://bucher.example/")
    proxy = route.proxy_for(uri.host, uri.port, uri.secure, os.environ)
    assert str(proxy) == "http://127.0.0.1:1"


def test_the_environment_is_ignored_unless_asked(
    ws_server: ServerProcess, relay: RelayProxy, clean_environment: pytest.MonkeyPatch
) -> None:
    clean_environment.setenv("HTTP_PROXY", relay.url)
    assert round_trip_via(ws_server.url("/"), False) == "through the proxy"
    assert relay.targets == []


def test_a_bad_proxy_in_the_environment_is_a_connect_error(
    ws_server: ServerProcess, clean_environment: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    clean_environment.setenv("HTTP_PROXY", proxy_url("ftp", 1, USER, PASSWORD))
    with pytest.raises(ConnectError, match=r"\$HTTP_PROXY") as info:
        open_via(ws_server.url("/"), True)
    assert_no_secret(info.value, caplog)


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
    transport = open_via(url, proxy_url("http", server.port, USER, PASSWORD))
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
        open_via("ws://127.0.0.1:9/", f"http://127.0.0.1:{server.port}")
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
        open_via("wss://localhost:9/", f"http://127.0.0.1:{server.port}")
