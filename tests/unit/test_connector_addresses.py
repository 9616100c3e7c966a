"""How a host becomes addresses: IP literals in place, names through gevent's resolver."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import gevent
import pytest

from geventws.runtime.connector import _addresses


class RecordingResolver:
    """Stands in for the hub's resolver: records every lookup, answers loopback."""

    def __init__(self) -> None:
        self.asked: list[str] = []

    def getaddrinfo(self, host: str, port: int, *args: Any, **kwargs: Any) -> list[Any]:
        self.asked.append(host)
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", port))]

    def close(self) -> None:
        pass


@pytest.fixture
def resolver() -> Iterator[RecordingResolver]:
    hub = gevent.get_hub()
    before = hub.resolver
    hub.resolver = RecordingResolver()  # type: ignore[assignment]
    try:
        yield hub.resolver  # type: ignore[misc]
    finally:
        hub.resolver = before


@pytest.mark.parametrize(
    ("host", "family", "address"),
    [
        ("127.0.0.1", socket.AF_INET, ("127.0.0.1", 8765)),
        ("10.1.2.3", socket.AF_INET, ("10.1.2.3", 8765)),
        ("::1", socket.AF_INET6, ("::1", 8765, 0, 0)),
    ],
)
def test_an_ip_address_is_never_sent_to_the_resolver(
    resolver: RecordingResolver, host: str, family: int, address: tuple[Any, ...]
) -> None:
    infos = _addresses(host, 8765)
    assert resolver.asked == []
    assert [(info[0], info[1], info[4]) for info in infos] == [(family, socket.SOCK_STREAM, address)]


def test_a_name_goes_through_the_resolver(resolver: RecordingResolver) -> None:
    assert _addresses("example.invalid", 80)[0][4] == ("127.0.0.1", 80)
    assert resolver.asked == ["example.invalid"]


@pytest.mark.parametrize("host", ["1.2.3.4.5", "256.1.1.1", "127.1"])
def test_what_only_looks_like_an_address_goes_through_the_resolver(
    resolver: RecordingResolver, host: str
) -> None:
    _addresses(host, 80)
    assert resolver.asked == [host]
