"""One :class:`Options` for the many connections made with the same plain arguments.

A fleet opens thousands of connections to a few URLs with the same options.
Checking them costs about 25 µs per connection, and each checked copy (with
its route) holds about 0.4 KiB for the connection's life. :class:`Options`
is frozen, so connections made with equal *plain* arguments (``None``,
``bool``, ``int``, ``float``, ``str``, and tuples of them) share one.
Anything else (a headers mapping, an SSL context, a socket, a callable, a
reconnect policy) is checked for each connection as before, and never kept
alive by a cache.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

from .options import Options, URLLike, make_options

__all__ = ["options_for"]

_PLAIN = frozenset({type(None), bool, int, float, str})


def options_for(url: URLLike | Options, options: Mapping[str, Any]) -> Options:
    """``make_options(url, **options)``, shared when every argument is plain;
    ``url`` itself when it is an :class:`Options` (then ``options`` must be empty)."""
    if isinstance(url, Options):
        if options:
            raise TypeError(f"options given twice: {', '.join(sorted(options))} and an Options")
        return url
    if type(url) is str:
        key = _plain_key(options)
        if key is not None:
            return _shared(url, key)
    return make_options(url, **options)


def _plain_key(options: Mapping[str, Any]) -> tuple[tuple[str, Any, Any], ...] | None:
    """The arguments with their types (``1``, ``1.0`` and ``True`` are equal keys
    otherwise, and are not the same option), or ``None`` if one is not plain."""
    key = []
    for name, value in options.items():
        kind = type(value)
        if kind is tuple:
            kinds: Any = tuple(type(item) for item in value)
            if not _PLAIN.issuperset(kinds):
                return None
        elif kind in _PLAIN:
            kinds = kind
        else:
            return None
        key.append((name, kinds, value))
    key.sort(key=lambda item: item[0])
    return tuple(key)


@functools.lru_cache(maxsize=256)
def _shared(url: str, key: tuple[tuple[str, Any, Any], ...]) -> Options:
    return make_options(url, **{name: value for name, _, value in key})
