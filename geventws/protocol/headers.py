"""HTTP headers: a case-insensitive multi-dict, checks, and secret redaction."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping, MutableMapping

__all__ = [
    "SECRET_HEADERS",
    "Headers",
    "HeadersLike",
    "check_header",
    "check_headers",
    "is_token",
    "redact",
]

#: Header names whose values are never logged.
SECRET_HEADERS = frozenset(
    {"authorization", "proxy-authorization", "cookie", "set-cookie", "sec-websocket-key"}
)

HeadersLike = Mapping[str, str] | Iterable[tuple[str, str]]


class Headers(MutableMapping[str, str]):
    """Case-insensitive headers that keep their order and repeated names.

    ``headers[name]`` gives the values of ``name`` joined by ``", "``;
    :meth:`get_all` gives them one by one; :meth:`raw_items` gives every
    ``(name, value)`` pair as added.
    """

    __slots__ = ("_items",)

    def __init__(self, items: HeadersLike | None = None) -> None:
        self._items: list[tuple[str, str]] = []
        if items is not None:
            pairs = items.items() if isinstance(items, Mapping) else items
            for name, value in pairs:
                self.add(name, value)

    @classmethod
    def of_strings(cls, pairs: list[tuple[str, str]]) -> Headers:
        """Headers holding ``pairs`` (``(str, str)`` tuples: a parsed head), kept as given."""
        headers = cls()
        headers._items = pairs
        return headers

    def by_name(self) -> dict[str, list[str]]:
        """Every value, by lower-case name: several lookups for one pass."""
        values: dict[str, list[str]] = {}
        for name, value in self._items:
            key = name.lower()
            found = values.get(key)
            if found is None:
                values[key] = [value]
            else:
                found.append(value)
        return values

    def add(self, name: str, value: str) -> None:
        """Append one ``name: value`` pair, keeping any earlier ones."""
        self._items.append((str(name), str(value)))

    def get_all(self, name: str) -> list[str]:
        """Every value of ``name``, in order."""
        key = name.lower()
        return [v for n, v in self._items if n == name or n.lower() == key]  # the same case: no lower()

    def raw_items(self) -> list[tuple[str, str]]:
        """Every ``(name, value)`` pair, as added."""
        return list(self._items)

    def __getitem__(self, name: str) -> str:
        values = self.get_all(name)
        if not values:
            raise KeyError(name)
        return ", ".join(values)

    def __setitem__(self, name: str, value: str) -> None:
        del self[name]
        self.add(name, value)

    def __delitem__(self, name: str) -> None:
        key = name.lower()
        self._items = [(n, v) for n, v in self._items if n.lower() != key]

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and any(n.lower() == name.lower() for n, _ in self._items)

    def __iter__(self) -> Iterator[str]:
        seen: set[str] = set()
        for name, _ in self._items:
            if name.lower() not in seen:
                seen.add(name.lower())
                yield name

    def __len__(self) -> int:
        return len({n.lower() for n, _ in self._items})

    def __repr__(self) -> str:
        return f"Headers({redact(self._items)!r})"


def redact(items: Iterable[tuple[str, str]], secret: Iterable[str] = ()) -> list[tuple[str, str]]:
    """Return ``items`` with the values of secret headers replaced by ``"***"``:
    :data:`SECRET_HEADERS` and the names in ``secret`` (any case), e.g. the
    ``redirect_strip_headers`` option, which names the user's secrets."""
    hidden = SECRET_HEADERS | {name.lower() for name in secret}
    return [(n, "***" if n.lower() in hidden else v) for n, v in items]


# RFC 9110 §5.6.2: a token (header names, subprotocols).
_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
# Control characters other than HTAB cannot appear in a field value (§5.5).
_BAD_VALUE = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")


def is_token(text: object) -> bool:
    """Whether ``text`` is a non-empty HTTP token (RFC 9110 §5.6.2)."""
    return isinstance(text, str) and _TOKEN.fullmatch(text) is not None


def check_header(name: object, value: object, option: str = "headers") -> None:
    """Raise :class:`TypeError` or :class:`ValueError` (naming ``option``) unless
    ``name: value`` can be sent. The value is never quoted: it may be a secret."""
    if not isinstance(name, str):
        raise TypeError(f"{option}: a header name must be a str, not {type(name).__name__}")
    if not is_token(name):
        raise ValueError(f"{option}: {name!r} is not a valid header name")
    if not isinstance(value, str):
        raise TypeError(f"{option}: the value of {name!r} must be a str, not {type(value).__name__}")
    if _BAD_VALUE.search(value):
        raise ValueError(f"{option}: the value of {name!r} contains CR, LF, NUL or another control character")


def check_headers(items: object, option: str = "headers") -> Headers:
    """Check user headers (a mapping or ``(name, value)`` pairs) and return them.

    Raises :class:`TypeError` or :class:`ValueError` naming ``option``.
    """
    if items is None:
        return Headers()
    if isinstance(items, (str, bytes, bytearray)):
        raise TypeError(
            f"{option} must be a mapping or (name, value) pairs, not a {type(items).__name__}: "
            f"pass {{'Cookie': '...'}} rather than 'Cookie: ...'"
        )
    if isinstance(items, Headers):
        pairs: list[object] = list(items.raw_items())  # keeps repeated names apart
    elif isinstance(items, Mapping):
        pairs = list(items.items())
    elif isinstance(items, Iterable):
        pairs = list(items)
    else:
        raise TypeError(f"{option} must be a mapping or (name, value) pairs, not {type(items).__name__}")
    headers = Headers()
    for pair in pairs:
        if not isinstance(pair, (tuple, list)) or len(pair) != 2:
            raise TypeError(
                f"{option} must be a mapping or (name, value) pairs; got an item of {type(pair).__name__}"
            )
        name, value = pair
        check_header(name, value, option)
        headers.add(name, value)
    return headers
