"""Parsing ``ws://`` and ``wss://`` URLs, and showing them without credentials.

The parser is written out rather than left to :func:`urllib.parse.urlsplit`,
which silently drops CR, LF and TAB and whose error messages echo parts of the
URL (a password included). Its rules:

- control characters anywhere are refused, before anything is split;
- the host becomes ASCII: a non-ASCII name is encoded with IDNA (punycode),
  the form used for DNS, TLS SNI and ``Host``; an IPv6 address must be in
  brackets and valid;
- the path and query are percent-encoded where RFC 3986 requires it (spaces,
  non-ASCII as UTF-8, ``"<>\\^`{|}`` and a ``%`` not followed by two hex
  digits), so the request line is always well formed; valid ``%XX`` are kept;
- the credentials (``ws://user:pass@host/``) live only in ``user`` and
  ``password``, never in ``str()``, ``repr()``, or an error message.

A password holding ``/``, ``?``, ``#`` or ``@`` must be percent-encoded, as RFC
3986 requires: ``wss://stream.example:9443/ws/btcusdt@trade`` is a valid URL
with an ``@`` in its path, not a user ``stream.example`` with a password.
"""

from __future__ import annotations

import dataclasses
import functools
import ipaddress
import re
import urllib.parse

from ..exceptions import InvalidURL, hide_userinfo

__all__ = ["WebSocketURI", "ascii_host", "parse_uri", "redact_url"]

# RFC 3986 gen-delims and sub-delims (python-websockets keeps the same set);
# the unreserved characters are always kept by urllib.parse.quote.
_SAFE = ":/?#[]@!$&'()*+,;="
_ESCAPE = re.compile(r"(%[0-9A-Fa-f]{2})")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_HOST_NAME = re.compile(r"[a-z0-9_.-]+")


@dataclasses.dataclass(frozen=True)
class WebSocketURI:
    """A parsed WebSocket URL.

    ``host`` is ASCII (IDNA for an international name, without brackets for
    IPv6); ``resource`` is the request target (path and query), percent-encoded;
    ``user`` and ``password`` the credentials given in the URL, if any.
    """

    secure: bool
    host: str
    port: int
    resource: str
    user: str | None = dataclasses.field(default=None, repr=False)
    password: str | None = dataclasses.field(default=None, repr=False)
    # str(self), made once: parsed URLs are cached and shared, so connections
    # to one URL share this string (each connection's log context holds it).
    _text: str = dataclasses.field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        scheme = "wss" if self.secure else "ws"
        object.__setattr__(self, "_text", f"{scheme}://{self.host_header}{self.resource}")

    @property
    def host_header(self) -> str:
        """The value of the ``Host`` header: the port only when not the default."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        default = 443 if self.secure else 80
        return host if self.port == default else f"{host}:{self.port}"

    def __str__(self) -> str:
        return self._text


def parse_uri(url: str) -> WebSocketURI:
    """Parse and check ``url``; raise :class:`InvalidURL` if it is not usable.

    The error has no cause chained: a lower-level message could quote the URL.
    """
    if not isinstance(url, str):
        raise InvalidURL(f"<{type(url).__name__}>", "the URL must be a str")
    parsed = _parse(url)
    if isinstance(parsed, str):
        raise InvalidURL(url, parsed)
    return parsed


def redact_url(url: str) -> str:
    """``url`` as given, with its credentials replaced by ``***``: safe to show.

    For a valid URL exactly the userinfo goes (``ws://***@host/p``); for a
    malformed one everything up to the last ``@`` (see
    :func:`~geventws.exceptions.hide_userinfo`).
    """
    if "@" not in url or isinstance(_parse(url), str):
        return hide_userinfo(url)
    scheme, sep, rest = url.partition("://")
    authority_end = min((i for i in map(rest.find, "/?") if i >= 0), default=len(rest))
    userinfo, at, _ = rest[:authority_end].rpartition("@")
    if not at:
        return url
    return f"{scheme}{sep}***{rest[len(userinfo) :]}"


@functools.lru_cache(maxsize=256)  # many connections share a URL; the result is immutable
def _parse(url: str) -> WebSocketURI | str:
    """The parsed URL, or why it is not usable (a message quoting no part of it)."""
    control = _CONTROL.search(url)
    if control is not None:
        return f"control character {control.group()!r} in the URL"
    scheme, sep, rest = url.strip(" ").partition("://")
    if not sep or scheme.lower() not in ("ws", "wss"):
        return "the scheme must be ws:// or wss://"
    authority_end = min((i for i in map(rest.find, "/?#") if i >= 0), default=len(rest))
    authority, target = rest[:authority_end], rest[authority_end:]
    if "#" in target:
        return "a WebSocket URL cannot have a fragment"
    userinfo, at, host_port = authority.rpartition("@")
    secure = scheme.lower() == "wss"
    address = _host_and_port(host_port, 443 if secure else 80)
    if isinstance(address, str):
        if "@" in target:
            address += " (in a user name or password, '/', '?', '#' and '@' must be percent-encoded)"
        return address
    resource = _request_target(target)
    if resource is None:
        return "the path or query is not valid Unicode"
    user, colon, password = userinfo.partition(":")
    return WebSocketURI(
        secure,
        *address,
        resource,
        urllib.parse.unquote(user) if at and userinfo else None,
        urllib.parse.unquote(password) if at and colon else None,
    )


def _host_and_port(text: str, default_port: int) -> tuple[str, int] | str:
    """``(ascii host, port)`` from the ``host[:port]`` part, or what is wrong."""
    if text.startswith("["):
        host, bracket, after = text[1:].partition("]")
        if not bracket or (after and not after.startswith(":")):
            return "invalid IPv6 address (unbalanced brackets)"
        if "%" in host:
            return "IPv6 zone identifiers are not supported"
        try:
            host = str(ipaddress.IPv6Address(host))
        except ValueError:
            return "invalid IPv6 address"
        port_text = after[1:]
    else:
        host, _, port_text = text.partition(":")
        if ":" in port_text:
            return "invalid host (an IPv6 address must be in brackets)"
        name = ascii_host(host)
        if name is None:
            return "invalid host name" if host else "no host"
        host = name
    if not port_text:
        if text.endswith(":"):  # "ws://user:/pa@ss@host/" would go to "user"
            return "the port is empty"
        return host, default_port
    if not (port_text.isascii() and port_text.isdigit()) or not 0 < int(port_text) <= 65535:
        return "the port must be a number from 1 to 65535"
    return host, int(port_text)


def ascii_host(host: str) -> str | None:
    """The DNS form of a host name (IDNA for non-ASCII, lowercase), or ``None`` if invalid.

    The form of :attr:`WebSocketURI.host` for a name: whatever compares a host
    name with it (``NO_PROXY``) encodes its side with this function too.
    """
    try:
        host = urllib.parse.unquote(host, errors="strict")
        if not host.isascii():
            host = host.encode("idna").decode("ascii")
    except UnicodeError:
        return None
    host = host.lower()
    return host if _HOST_NAME.fullmatch(host) else None


def _request_target(target: str) -> str | None:
    """Path and query percent-encoded where needed (``None``: not encodable)."""
    path, _, query = target.partition("?")
    try:
        resource = _quote(path or "/")
        if query:
            resource += "?" + _quote(query)
    except UnicodeEncodeError:  # lone surrogates
        return None
    return resource


def _quote(text: str) -> str:
    # Split out the valid %XX escapes and keep them; encode everything else.
    pieces = _ESCAPE.split(text)
    return "".join(p if i % 2 else urllib.parse.quote(p, safe=_SAFE) for i, p in enumerate(pieces))
