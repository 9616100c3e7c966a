"""Parsing ``ws://`` and ``wss://`` URLs."""

from __future__ import annotations

import dataclasses
import urllib.parse

from ..exceptions import InvalidURL

__all__ = ["WebSocketURI", "parse_uri"]


@dataclasses.dataclass(frozen=True)
class WebSocketURI:
    """A parsed WebSocket URL.

    ``resource`` is the request target (path and query), ``user`` and
    ``password`` the credentials given in the URL, if any.
    """

    secure: bool
    host: str
    port: int
    resource: str
    user: str | None = dataclasses.field(default=None, repr=False)
    password: str | None = dataclasses.field(default=None, repr=False)

    @property
    def host_header(self) -> str:
        """The value of the ``Host`` header: the port only when not the default."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        default = 443 if self.secure else 80
        return host if self.port == default else f"{host}:{self.port}"

    def __str__(self) -> str:
        scheme = "wss" if self.secure else "ws"
        return f"{scheme}://{self.host_header}{self.resource}"


def parse_uri(url: str) -> WebSocketURI:
    """Parse and check ``url``; raise :class:`InvalidURL` if it is not usable."""
    if not isinstance(url, str):
        raise InvalidURL(repr(url), "the URL must be a str")
    try:
        parts = urllib.parse.urlsplit(url.strip())
        port = parts.port
    except ValueError as exc:
        raise InvalidURL(url, str(exc)) from exc
    if parts.scheme not in ("ws", "wss"):
        raise InvalidURL(url, "the scheme must be ws:// or wss://")
    if not parts.hostname:
        raise InvalidURL(url, "no host")
    if parts.fragment or "#" in url:
        raise InvalidURL(url, "a WebSocket URL cannot have a fragment")
    secure = parts.scheme == "wss"
    if port is None:
        port = 443 if secure else 80
    resource = parts.path or "/"
    if parts.query:
        resource += "?" + parts.query
    user = urllib.parse.unquote(parts.username) if parts.username is not None else None
    password = urllib.parse.unquote(parts.password) if parts.password is not None else None
    return WebSocketURI(secure, parts.hostname, port, resource, user, password)
