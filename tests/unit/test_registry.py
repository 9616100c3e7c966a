"""The registry of live connections per hub. Greenlets, no sockets."""

from __future__ import annotations

import gevent

from geventws.runtime.registry import Registry, registry_for


def test_add_discard_and_wait_empty() -> None:
    registry: Registry[str] = Registry()
    assert registry.wait_empty(0)
    registry.add("a")
    registry.add("b")
    assert sorted(registry.live()) == ["a", "b"]
    assert not registry.wait_empty(0)
    waiter = gevent.spawn(registry.wait_empty, 5)
    registry.discard("a")
    gevent.sleep(0)
    assert not waiter.dead
    registry.discard("b")
    assert waiter.get(timeout=5) is True
    registry.discard("never added")
    assert registry.live() == []


class OtherHub:
    """Stands for the hub of another thread."""


def test_one_registry_per_hub() -> None:
    assert registry_for() is registry_for(gevent.get_hub())
    other = OtherHub()
    assert registry_for(other) is registry_for(other)
    assert registry_for(other) is not registry_for()
