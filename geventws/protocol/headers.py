"""HTTP headers: a case-insensitive multi-dict and secret redaction."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, MutableMapping

__all__ = ["SECRET_HEADERS", "Headers", "HeadersLike", "redact"]

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

    def add(self, name: str, value: str) -> None:
        """Append one ``name: value`` pair, keeping any earlier ones."""
        self._items.append((str(name), str(value)))

    def get_all(self, name: str) -> list[str]:
        """Every value of ``name``, in order."""
        key = name.lower()
        return [v for n, v in self._items if n.lower() == key]

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


def redact(items: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    """Return ``items`` with the values of secret headers replaced by ``"***"``."""
    return [(n, "***" if n.lower() in SECRET_HEADERS else v) for n, v in items]
