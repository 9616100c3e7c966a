"""Opening the stream of one attempt: direct TCP, through a proxy, over a Unix
socket or a socket the caller connected; then TLS for ``wss://``.

Everything goes through gevent's own socket and ssl modules, so each step is
cooperative whether or not the process was monkey-patched. The caller bounds
the time (``open_timeout``); on any failure, or a kill, the socket is closed.
"""

from __future__ import annotations

import _socket
import functools
import ipaddress
import logging
import os
import socket as stdlib_socket
import ssl
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import gevent.socket
import gevent.ssl

from ..exceptions import ConnectError, InvalidURL, TLSError
from ..protocol.proxy import ProxyURL
from ..protocol.route import DIRECT, Route, SocketOption
from ..protocol.uri import WebSocketURI
from .proxy import open_tunnel
from .timings import PhaseTimer
from .transport import Transport

__all__ = ["default_ssl_context", "open_transport"]

logger = logging.getLogger("geventws")


def open_transport(
    uri: WebSocketURI,
    ssl_context: ssl.SSLContext | None,
    route: Route = DIRECT,
    environ: Mapping[str, str] | None = None,
    timings: PhaseTimer | None = None,
) -> Transport:
    """Connect to ``uri`` the way ``route`` says and, for ``wss://``, run TLS
    (verification and SNI for ``uri.host``, also through a proxy).

    ``environ`` (default ``os.environ``) is read only for ``proxy=True``.
    Raises :class:`ConnectError`, or its subclasses :class:`TLSError` and
    :class:`~geventws.ProxyError`, with the low-level cause chained when it
    cannot hold proxy credentials. ``timings`` records the phases.
    """
    timer = timings if timings is not None else PhaseTimer()
    sock = _open_socket(uri, route, os.environ if environ is None else environ, timer)
    try:
        if not uri.secure:
            return Transport(sock)
        context = ssl_context if ssl_context is not None else default_ssl_context()
        with timer.phase("tls"):
            return Transport(_start_tls(sock, uri, context))
    except BaseException:  # also a kill or timeout: never leak the socket
        sock.close()
        raise


@functools.lru_cache(maxsize=1)
def default_ssl_context() -> ssl.SSLContext:
    """``ssl.create_default_context()``, made once: loading the CA store for
    every connection would cost time and memory at scale."""
    return ssl.create_default_context()


def _open_socket(
    uri: WebSocketURI, route: Route, environ: Mapping[str, str], timer: PhaseTimer
) -> gevent.socket.socket:
    if route.sock is not None:
        return _adopt(route.sock, route.socket_options)
    if route.unix_path is not None:
        with timer.phase("tcp"):
            return _connect_unix(route.unix_path, route.socket_options)
    proxy = _proxy_for(uri, route, environ)
    if proxy is None:
        return _connect_tcp(uri.host, uri.port, route, f"{uri.host}:{uri.port}", timer)
    logger.debug("connecting to %s:%s through proxy %s", uri.host, uri.port, proxy)
    sock = _connect_tcp(proxy.host, proxy.port, route, f"proxy {proxy}", timer)
    try:
        with timer.phase("proxy"):
            open_tunnel(sock, proxy, uri.host, uri.port)
    except OSError as exc:
        sock.close()
        raise ConnectError(f"connection to proxy {proxy} lost while opening the tunnel: {exc}") from exc
    except BaseException:
        sock.close()
        raise
    return sock


def _proxy_for(uri: WebSocketURI, route: Route, environ: Mapping[str, str]) -> ProxyURL | None:
    try:
        return route.proxy_for(uri.host, uri.port, uri.secure, environ)
    except InvalidURL as exc:  # only from the environment: explicit URLs were checked at construction
        raise ConnectError(f"invalid proxy setting in the environment: {exc}") from None


def _connect_tcp(host: str, port: int, route: Route, label: str, timer: PhaseTimer) -> gevent.socket.socket:
    """``socket.create_connection``, with our options set before ``connect``."""
    try:
        with timer.phase("dns"):
            infos = _addresses(host, port)
    except gevent.socket.gaierror as exc:
        raise ConnectError(f"cannot resolve {host!r}: {exc}") from exc
    with timer.phase("tcp"):
        return _connect_first(infos, route, label)


def _addresses(host: str, port: int) -> Sequence[Any]:
    """``getaddrinfo`` for a stream to ``host``. An IP address is converted in
    place (no lookup can block), not sent to gevent's resolver, whose default
    hands every call to a thread: that hop cost more than the rest of a
    loopback handshake."""
    if _is_ip_address(host):
        return _numeric_addresses(host, port)
    return gevent.socket.getaddrinfo(host, port, 0, stdlib_socket.SOCK_STREAM)


@functools.lru_cache(maxsize=1024)  # many connections share a host; ipaddress parses slowly
def _is_ip_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


@functools.lru_cache(maxsize=1024)  # a fleet connects to a few: the host's IDNA encoding is costly
def _numeric_addresses(host: str, port: int) -> tuple[Any, ...]:
    # The C module's: never patched by gevent.monkey, and numeric-only here.
    return tuple(_socket.getaddrinfo(host, port, 0, _socket.SOCK_STREAM, 0, _socket.AI_NUMERICHOST))


def _connect_first(infos: Sequence[Any], route: Route, label: str) -> gevent.socket.socket:
    """A socket connected to the first address of ``infos`` that accepts."""
    last: OSError | None = None
    for family, kind, proto, _, address in infos:
        sock = gevent.socket.socket(family, kind, proto)
        try:
            _configure(sock, ((stdlib_socket.IPPROTO_TCP, stdlib_socket.TCP_NODELAY, 1),))
            _configure(sock, route.socket_options)
            if route.source_address is not None:
                sock.bind(route.source_address)
            sock.connect(address)
            return sock
        except OSError as exc:
            sock.close()
            last = exc
        except BaseException:
            sock.close()
            raise
    raise ConnectError(f"cannot connect to {label}: {last}") from last


def _connect_unix(path: str, options: Iterable[SocketOption]) -> gevent.socket.socket:
    sock = gevent.socket.socket(stdlib_socket.AF_UNIX, stdlib_socket.SOCK_STREAM)
    try:
        _configure(sock, options)
        sock.connect(path)
    except OSError as exc:
        sock.close()
        raise ConnectError(f"cannot connect to Unix socket {path!r}: {exc}") from exc
    except BaseException:
        sock.close()
        raise
    return sock


def _adopt(sock: Any, options: Iterable[SocketOption]) -> gevent.socket.socket:
    """Take over the caller's connected socket; a stdlib one becomes a gevent one."""
    if sock.fileno() < 0:
        raise ConnectError("the socket passed as sock= is closed: a connection over sock= cannot reconnect")
    if not isinstance(sock, gevent.socket.socket):
        # The same file descriptor, driven by the hub instead of blocking it.
        sock = gevent.socket.socket(sock.family, sock.type, sock.proto, fileno=sock.detach())
    adopted: gevent.socket.socket = sock
    try:
        _configure(adopted, options)
    except BaseException:
        adopted.close()
        raise
    return adopted


def _configure(sock: gevent.socket.socket, options: Iterable[SocketOption]) -> None:
    for level, name, value in options:
        try:
            sock.setsockopt(level, name, value)
        except OSError as exc:
            raise ConnectError(f"cannot set socket option ({level}, {name}, {value!r}): {exc}") from exc


def _start_tls(
    sock: gevent.socket.socket, uri: WebSocketURI, context: ssl.SSLContext
) -> gevent.ssl.SSLSocket:
    tls: gevent.ssl.SSLSocket | None = None
    try:
        # gevent.ssl.SSLSocket accepts any ssl.SSLContext through _context (what
        # gevent's own SSLContext.wrap_socket passes); a plain context's
        # wrap_socket would build a blocking stdlib SSLSocket instead.
        tls = gevent.ssl.SSLSocket(
            sock=sock,
            server_hostname=uri.host,
            do_handshake_on_connect=False,
            _context=context,
        )
        tls.do_handshake()
    except BaseException as exc:
        if tls is not None:
            tls.close()
        if isinstance(exc, ssl.SSLError):
            raise TLSError(f"TLS handshake with {uri.host}:{uri.port} failed: {exc}") from exc
        if isinstance(exc, OSError):
            raise ConnectError(f"connection to {uri.host}:{uri.port} lost during TLS: {exc}") from exc
        raise
    return tls
