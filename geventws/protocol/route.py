"""How to reach the server: direct, through a proxy, from a source address,
over a Unix socket or over a socket the caller connected. Checked once, used by
every attempt.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterable, Mapping
from typing import Any

from .proxy import ProxyURL, parse_proxy_url, proxy_from_environment

__all__ = ["ProxySetting", "Route", "SocketOption", "check_reconnect", "make_route"]

#: ``(level, option, value)`` as passed to ``socket.setsockopt``.
SocketOption = tuple[int, int, int | bytes]
#: What the ``proxy`` option accepts: a URL, ``True`` (take it from the
#: environment), or ``None`` / ``False`` (connect directly).
ProxySetting = str | ProxyURL | bool | None


@dataclasses.dataclass(frozen=True)
class Route:
    """The checked ``proxy``, ``source_address``, ``sock``, ``unix_path`` and
    ``socket_options`` options. Build it with :func:`make_route`."""

    proxy: ProxyURL | None = None
    proxy_from_env: bool = False
    source_address: tuple[str, int] | None = None
    sock: Any = dataclasses.field(default=None, repr=False)
    unix_path: str | None = None
    socket_options: tuple[SocketOption, ...] = ()

    @property
    def can_reconnect(self) -> bool:
        """False over a caller's socket: once it is closed, there is no way to open another."""
        return self.sock is None

    def proxy_for(self, host: str, port: int, secure: bool, environ: Mapping[str, str]) -> ProxyURL | None:
        """The proxy for this attempt: the explicit one, the environment's
        (only with ``proxy=True``; it may name none) or ``None``."""
        if self.proxy_from_env:
            return proxy_from_environment(host, port, secure, environ)
        return self.proxy


DIRECT = Route()

_C_INT_MIN, _C_INT_MAX = -(2**31), 2**31 - 1


def make_route(
    *,
    proxy: ProxySetting = None,
    source_address: tuple[str, int] | None = None,
    sock: Any = None,
    unix_path: str | os.PathLike[str] | None = None,
    socket_options: Iterable[SocketOption] = (),
) -> Route:
    """Check the options and return a :class:`Route`.

    Raises :class:`~geventws.InvalidURL` for a bad proxy URL, :class:`TypeError`
    or :class:`ValueError` for the rest. ``sock`` excludes every other way to
    reach the server; ``unix_path`` excludes ``proxy`` and ``source_address``.
    """
    explicit, from_env = _check_proxy(proxy)
    if source_address is not None:
        source_address = _check_source_address(source_address)
    if sock is not None:
        _check_sock(sock)
        if explicit is not None or from_env or source_address is not None or unix_path is not None:
            raise ValueError("sock= is already connected: it excludes proxy, source_address and unix_path")
    path = None
    if unix_path is not None:
        path = _check_unix_path(unix_path)
        if explicit is not None or from_env or source_address is not None:
            raise ValueError("unix_path= excludes proxy and source_address")
    return Route(explicit, from_env, source_address, sock, path, _check_socket_options(socket_options))


def check_reconnect(route: Route, reconnect: object) -> None:
    """Refuse a reconnect policy for a connection that cannot reconnect."""
    if reconnect is not None and not route.can_reconnect:
        raise ValueError(
            "a connection over sock= cannot reconnect by itself (geventws cannot open "
            "another socket); drop the reconnect policy or pass a URL instead"
        )


def _check_proxy(proxy: ProxySetting) -> tuple[ProxyURL | None, bool]:
    if proxy is None or proxy is False:
        return None, False
    if proxy is True:
        return None, True
    if isinstance(proxy, ProxyURL):
        return proxy, False
    if isinstance(proxy, str):
        return parse_proxy_url(proxy), False
    raise TypeError(f"proxy must be a URL str, True or None, not {type(proxy).__name__}")


def _check_source_address(address: Any) -> tuple[str, int]:
    if not isinstance(address, tuple) or len(address) != 2:
        raise TypeError(f"source_address must be a (host, port) tuple, not {address!r}")
    host, port = address
    if not isinstance(host, str) or isinstance(port, bool) or not isinstance(port, int):
        raise TypeError(f"source_address must be a (str, int) tuple, not {address!r}")
    if not 0 <= port <= 65535:
        raise ValueError(f"source_address port must be in 0..65535, not {port}")
    return host, port


def _check_sock(sock: Any) -> None:
    if not all(callable(getattr(sock, name, None)) for name in ("recv", "sendall", "close", "fileno")):
        raise TypeError(f"sock must be a connected socket, not {type(sock).__name__}")
    if sock.fileno() < 0:
        raise ValueError("sock is closed")


def _check_unix_path(unix_path: object) -> str:
    # os.fspath's own TypeError would not say which option it was given.
    if not isinstance(unix_path, (str, os.PathLike)):
        raise TypeError(f"unix_path must be a str or os.PathLike, not {type(unix_path).__name__}")
    path = os.fspath(unix_path)
    if not isinstance(path, str) or not path:
        raise TypeError(f"unix_path must be a non-empty str or path, not {path!r}")
    return path


def _check_socket_options(options: object) -> tuple[SocketOption, ...]:
    # A str or bytes is iterable, but never a list of triples: say so, not "not 'a'".
    if isinstance(options, (str, bytes, bytearray)) or not isinstance(options, Iterable):
        kind = type(options).__name__
        raise TypeError(f"socket_options must be an iterable of (level, option, value) tuples, not {kind}")
    return tuple(_check_socket_option(option) for option in options)


def _check_socket_option(option: Any) -> SocketOption:
    if not isinstance(option, tuple) or len(option) != 3:
        raise TypeError(f"socket_options must hold (level, option, value) tuples, not {option!r}")
    level, name, value = option
    if not all(isinstance(n, int) and not isinstance(n, bool) for n in (level, name)):
        raise TypeError(f"socket_options: level and option must be int, not {option!r}")
    if isinstance(value, bool):
        value = int(value)
    if not isinstance(value, (int, bytes)):
        raise TypeError(f"socket_options: the value must be int or bytes, not {option!r}")
    # setsockopt() takes C ints: a larger one would fail every attempt, not here.
    if not all(_C_INT_MIN <= n <= _C_INT_MAX for n in (level, name, value) if isinstance(n, int)):
        raise ValueError(f"socket_options: level, option and an int value must fit a C int, not {option!r}")
    return level, name, value
