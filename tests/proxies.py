"""Proxies for the tests: real ones in subprocesses (Debian's tinyproxy and
microsocks, installed by .ci/run), an in-test CONNECT relay for machines
without tinyproxy, and a WebSocket round trip over an opened transport.
"""

from __future__ import annotations

import base64
import shutil
import socket
import ssl
import subprocess
import time
import urllib.parse
from collections.abc import Callable
from pathlib import Path

import gevent
import gevent.pool
import gevent.server
import gevent.socket
import pytest

from geventws.protocol.codes import OP_TEXT
from geventws.protocol.handshake import build_request, check_response, new_key, parse_response
from geventws.protocol.headers import Headers
from geventws.protocol.parser import FrameParser
from geventws.protocol.route import make_route
from geventws.protocol.uri import WebSocketURI, parse_uri
from geventws.protocol.writer import encode_frame
from geventws.runtime.connector import open_transport
from geventws.runtime.opening import read_head
from geventws.runtime.transport import Transport
from tests.support import WAIT

USER = "alice"
#: A password that must be quoted in a URL (``:`` and ``@``)...
PASSWORD = "s3cr:t@pw"
#: ...and one tinyproxy's configuration accepts (letters, digits, ``-``, ``.``).
PLAIN_PASSWORD = "s3cr-t.pw"


def proxy_url(scheme: str, port: int, user: str | None = None, password: str | None = None) -> str:
    """A proxy URL on loopback, with quoted credentials."""
    credentials = ""
    if user is not None:
        secret = "" if password is None else ":" + urllib.parse.quote(password, safe="")
        credentials = urllib.parse.quote(user, safe="") + secret + "@"
    return f"{scheme}://{credentials}127.0.0.1:{port}"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _wait_listening(proc: subprocess.Popen[bytes], port: int, timeout: float = 5 * WAIT) -> bool:
    """Whether ``proc`` accepts connections on ``port`` within ``timeout`` (it prints no ready line)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return True
        except OSError:
            time.sleep(0.02)  # the process gives no signal to wait on; bounded by the deadline
    return False


class ProxyProcess:
    """A proxy server in a subprocess on a loopback port; ``url`` carries its credentials."""

    def __init__(self, command: Callable[[int], list[str]], scheme: str, password: str | None) -> None:
        for _ in range(3):  # the free port may be taken between the probe and the start
            self.port = _free_port()
            self.proc = subprocess.Popen(
                command(self.port), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
            )
            if _wait_listening(self.proc, self.port):
                break
            self.stop()
        else:
            raise RuntimeError(f"{command(0)[0]} did not start")
        self.scheme, self.password = scheme, password
        self.url = proxy_url(scheme, self.port, USER if password else None, password)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def tinyproxy(folder: Path, auth: bool) -> ProxyProcess | None:
    """Debian's tinyproxy (HTTP CONNECT, Basic auth if ``auth``); ``None`` if not installed."""
    binary = shutil.which("tinyproxy")
    if binary is None:
        return None

    def command(port: int) -> list[str]:
        config = folder / f"tinyproxy-{port}.conf"
        lines = [
            f"Port {port}",
            "Listen 127.0.0.1",
            "Allow 127.0.0.1",
            "Timeout 30",
            "MaxClients 100",
            "DisableViaHeader Yes",
            "LogLevel Critical",
        ]
        if auth:
            # tinyproxy takes the password as written: it is never URL-decoded there.
            lines.append(f"BasicAuth {USER} {PLAIN_PASSWORD}")
        config.write_text("\n".join(lines) + "\n")
        return [binary, "-d", "-c", str(config)]

    return ProxyProcess(command, "http", PLAIN_PASSWORD if auth else None)


def microsocks(auth: bool) -> ProxyProcess | None:
    """Debian's microsocks (SOCKS5, user/password if ``auth``); ``None`` if not installed."""
    binary = shutil.which("microsocks")
    if binary is None:
        return None

    def command(port: int) -> list[str]:
        args = [binary, "-i", "127.0.0.1", "-p", str(port)]
        return args + (["-u", USER, "-P", PASSWORD] if auth else [])

    return ProxyProcess(command, "socks5", PASSWORD if auth else None)


class RelayProxy:
    """A minimal HTTP CONNECT proxy in this process, for machines without tinyproxy."""

    def __init__(self, auth: bool) -> None:
        self.token = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode() if auth else None
        self.clients: list[str] = []  # the address of each client
        self.targets: list[str] = []  # the host:port of each CONNECT
        # A pool, so that stop() ends the relays too (a relay left running would
        # keep the server's end of the tunnel open after the test).
        self.server = gevent.server.StreamServer(("127.0.0.1", 0), self._handle, spawn=gevent.pool.Pool())
        self.server.start()
        self.port: int = self.server.address[1]
        self.scheme, self.password = "http", PASSWORD if auth else None
        self.url = proxy_url("http", self.port, USER if auth else None, self.password)

    def _handle(self, client: gevent.socket.socket, address: tuple[str, int]) -> None:
        self.clients.append(address[0])
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = client.recv(4096)
            if not chunk:
                return
            head += chunk
        lines = head.decode("latin-1").split("\r\n")
        target = lines[0].split()[1]
        self.targets.append(target)
        host, _, port = target.rpartition(":")
        headers = dict(line.partition(": ")[::2] for line in lines[1:])
        if self.token is not None and headers.get("Proxy-Authorization") != self.token:
            client.sendall(b"HTTP/1.1 407 Proxy Authentication Required\r\n\r\n")
            return
        with gevent.socket.create_connection((host.strip("[]"), int(port))) as upstream:
            client.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
            pumps = [gevent.spawn(_pump, client, upstream), gevent.spawn(_pump, upstream, client)]
            gevent.joinall(pumps, count=1)
            gevent.killall(pumps)

    def stop(self) -> None:
        self.server.stop(timeout=1)


def _pump(source: gevent.socket.socket, sink: gevent.socket.socket) -> None:
    try:
        while data := source.recv(65536):
            sink.sendall(data)
    except OSError:
        pass


def websocket_round_trip(transport: Transport, uri: WebSocketURI, text: str) -> str:
    """Shake hands over ``transport``, send ``text`` and return the first message back."""
    key = new_key()
    transport.write(build_request(uri, key, Headers()))
    head, rest = read_head(transport, b"", 65536)
    check_response(parse_response(head), key)
    transport.write(encode_frame(OP_TEXT, text.encode()))
    parser = FrameParser(None)
    events = parser.feed(rest)
    with gevent.Timeout(WAIT):
        while not events:
            events = parser.feed(transport.recv(65536))
    assert isinstance(events[0], str), events
    return events[0]


Proxy = ProxyProcess | RelayProxy


def open_via(url: str, proxy: str | bool, context: ssl.SSLContext | None = None) -> Transport:
    """open_transport through ``proxy``, bounded in time as Connection bounds it."""
    with gevent.Timeout(WAIT * 2):
        return open_transport(parse_uri(url), context, make_route(proxy=proxy))


def round_trip_via(url: str, proxy: str | bool, context: ssl.SSLContext | None = None) -> str:
    """Open through ``proxy``, echo one message, close; return what came back."""
    transport = open_via(url, proxy, context)
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
