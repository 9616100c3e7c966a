"""Tunnels through a proxy over a connected gevent socket: HTTP CONNECT here,
SOCKS in :mod:`.socks`. The request and the answer's checks are sans-I/O, in
:mod:`geventws.protocol.proxy`.
"""

from __future__ import annotations

import gevent.socket

from ..exceptions import ProxyError
from ..protocol.proxy import (
    MAX_CONNECT_RESPONSE,
    ProxyURL,
    build_connect_request,
    check_connect_response,
)
from .socks import socks_tunnel

__all__ = ["open_tunnel"]


def open_tunnel(sock: gevent.socket.socket, proxy: ProxyURL, host: str, port: int) -> None:
    """Turn ``sock``, connected to ``proxy``, into a tunnel to ``host:port``.

    Raises :class:`ProxyError` when the proxy refuses or answers wrongly and
    :class:`OSError` when the connection breaks. The caller bounds the time.
    """
    if proxy.is_socks:
        socks_tunnel(sock, proxy, host, port)
    else:
        http_tunnel(sock, proxy, host, port)


def http_tunnel(sock: gevent.socket.socket, proxy: ProxyURL, host: str, port: int) -> None:
    """HTTP CONNECT: send the request, read and check the answer's head."""
    sock.sendall(build_connect_request(host, port, proxy))
    head, rest = _read_head(sock, proxy)
    check_connect_response(head, host, port, proxy)
    if rest:
        # Neither a WebSocket server nor a TLS server speaks first: these bytes
        # can only come from a confused proxy, and dropping them would corrupt the stream.
        raise ProxyError(f"proxy {proxy} sent {len(rest)} unexpected bytes after its CONNECT answer")


def _read_head(sock: gevent.socket.socket, proxy: ProxyURL) -> tuple[bytes, bytes]:
    data = bytearray()
    while True:
        end = data.find(b"\r\n\r\n")
        if end >= 0:
            return bytes(data[: end + 4]), bytes(data[end + 4 :])
        if len(data) > MAX_CONNECT_RESPONSE:
            raise ProxyError(f"proxy {proxy} answered CONNECT with more than {MAX_CONNECT_RESPONSE} bytes")
        chunk = sock.recv(4096)
        if not chunk:
            raise ProxyError(f"proxy {proxy} closed the connection before answering CONNECT")
        data += chunk
