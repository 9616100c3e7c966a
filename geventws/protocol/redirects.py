"""Redirects of the opening handshake: which user headers go on to the next hop.

A redirect to another origin (scheme, host or port) must not hand the first
server's secrets to the second: the headers named in ``redirect_strip_headers``
are dropped on such a hop, and stay dropped for the hops after it, even one
back to the first origin. The default set is urllib3's: ``Authorization``,
``Cookie``, ``Proxy-Authorization``. Credentials given in the URL follow only
a same-origin redirect (see :func:`~geventws.protocol.handshake.redirect_target`).
"""

from __future__ import annotations

from collections.abc import Collection

from .headers import Headers, HeadersLike, is_token
from .uri import WebSocketURI

__all__ = [
    "DEFAULT_MAX_REDIRECTS",
    "DEFAULT_REDIRECT_STRIP_HEADERS",
    "check_strip_headers",
    "redirect_headers",
    "same_origin",
]

#: How many redirects one connection attempt follows by default.
DEFAULT_MAX_REDIRECTS = 3
#: Headers dropped on a redirect to another origin (lower case), as urllib3 does.
DEFAULT_REDIRECT_STRIP_HEADERS = frozenset({"authorization", "cookie", "proxy-authorization"})


def same_origin(old: WebSocketURI, new: WebSocketURI) -> bool:
    """Whether ``old`` and ``new`` have the same scheme, host and port."""
    return (old.secure, old.host, old.port) == (new.secure, new.host, new.port)


def redirect_headers(
    old: WebSocketURI, new: WebSocketURI, headers: HeadersLike, strip: Collection[str]
) -> Headers:
    """The user headers to send to ``new`` after a redirect from ``old``.

    All of them for a same-origin redirect; otherwise all but those named in
    ``strip`` (case-insensitive). ``headers`` may be a :class:`Headers`, a
    mapping or pairs (what a ``headers`` callable returned); a new
    :class:`Headers` is returned, ``headers`` is left as it was.
    """
    pairs = headers.raw_items() if isinstance(headers, Headers) else Headers(headers).raw_items()
    if same_origin(old, new):
        return Headers(pairs)
    drop = {name.lower() for name in strip}
    return Headers([(name, value) for name, value in pairs if name.lower() not in drop])


def check_strip_headers(names: object, option: str = "redirect_strip_headers") -> frozenset[str]:
    """Check a collection of header names; return it lower-cased.

    Raises :class:`TypeError` or :class:`ValueError` naming ``option``.
    """
    if names is DEFAULT_REDIRECT_STRIP_HEADERS:
        return names  # checked once; shared, not copied per connection
    if isinstance(names, (str, bytes)) or not isinstance(names, Collection):
        raise TypeError(f"{option} must be a collection of header names, not {type(names).__name__}")
    for name in names:
        if not isinstance(name, str):
            raise TypeError(f"{option}: a header name must be a str, not {type(name).__name__}")
        if not is_token(name):
            raise ValueError(f"{option}: {name!r} is not a valid header name")
    return frozenset(name.lower() for name in names)
