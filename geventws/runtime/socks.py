"""SOCKS4/4a/5/5h tunnels through python-socks, over our own gevent socket.

The one place geventws touches python-socks (the ``socks`` extra). Its public
sync API opens a blocking stdlib socket of its own, so this module drives its
sync connectors (``python_socks._connectors``, present from 2.x to 3.x) over a
stream that wraps our gevent socket, and resolves names with gevent's resolver:
every step stays cooperative. tests/integration/test_proxy.py pins the
behaviour against a real SOCKS5 server; setup.cfg pins the versions tested.
"""

from __future__ import annotations

import socket as stdlib_socket
from typing import Any, cast

import gevent.socket

from ..exceptions import ConnectError, ProxyError
from ..protocol.proxy import ProxyURL

__all__ = ["INSTALL_HINT", "socks_tunnel"]

INSTALL_HINT = 'SOCKS proxies need python-socks: pip install "geventws[socks]"'


class _Stream:
    """The stream python-socks' connectors read and write (names of 2.x and 3.x)."""

    def __init__(self, sock: gevent.socket.socket) -> None:
        self._sock = sock

    def write(self, data: bytes) -> None:
        self._sock.sendall(data)

    write_all = write

    def read(self, max_bytes: int = 65536) -> bytes:
        return self._sock.recv(max_bytes)

    def read_exactly(self, n: int) -> bytes:
        data = bytearray()
        while len(data) < n:
            chunk = self._sock.recv(n - len(data))
            if not chunk:
                raise EOFError("the proxy closed the connection")
            data += chunk
        return bytes(data)

    read_exact = read_exactly

    def close(self) -> None:
        self._sock.close()


class _Resolver:
    """Resolves the server's name here (socks5://, socks4://) with gevent's resolver."""

    def resolve(self, host: str, port: int = 0, family: int = stdlib_socket.AF_UNSPEC) -> tuple[int, str]:
        infos = gevent.socket.getaddrinfo(host, port, family, stdlib_socket.SOCK_STREAM)
        infos.sort(key=lambda info: info[0])  # IPv4 first, as python-socks does
        family, _, _, _, address = infos[0]
        return family, str(address[0])


def socks_tunnel(sock: gevent.socket.socket, proxy: ProxyURL, host: str, port: int) -> None:
    """Ask the SOCKS ``proxy`` behind ``sock`` for a tunnel to ``host:port``.

    Raises :class:`ProxyError` if the proxy refuses, :class:`ConnectError` if
    python-socks is missing or the server's name cannot be resolved here.
    """
    connector = _connector(proxy)
    target = f"{host}:{port}"
    try:
        connector.connect(_Stream(sock), host, port)
    except gevent.socket.gaierror as exc:
        raise ConnectError(f"cannot resolve {host!r} for SOCKS proxy {proxy}: {exc}") from exc
    except (EOFError, OSError) as exc:
        msg = f"SOCKS proxy {proxy} closed the connection during the handshake for {target}"
        raise ProxyError(f"{msg}: {_safe(exc, proxy)}") from None
    except Exception as exc:  # python-socks' ReplyError and friends: causes could carry the user name
        raise ProxyError(f"SOCKS proxy {proxy} refused {target}: {_safe(exc, proxy)}") from None


def _connector(proxy: ProxyURL) -> Any:
    try:
        from python_socks import ProxyType
        from python_socks._connectors.factory_sync import create_connector
    except ImportError:
        raise ConnectError(f"cannot use proxy {proxy}: {INSTALL_HINT}") from None
    kind = ProxyType.SOCKS5 if proxy.scheme.startswith("socks5") else ProxyType.SOCKS4
    return create_connector(
        proxy_type=kind,
        username=proxy.user,
        password=proxy.password,
        rdns=proxy.remote_dns,
        resolver=cast(Any, _Resolver()),
    )


def _safe(exc: BaseException, proxy: ProxyURL) -> str:
    """The exception's text, with the proxy's credentials cut out just in case."""
    text = str(exc) or type(exc).__name__
    for secret in (proxy.password, proxy.user):
        if secret:
            text = text.replace(secret, "***")
    return text
