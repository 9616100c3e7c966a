"""Bursts of messages over many connections leave nothing for the garbage collector.

In one pass of the hub, a broadcast writes to every connection and a burst of
replies is read for every connection. Whatever the library makes per
connection and keeps until the hub's next turn (a hub callback, a bound
method, a handed-over batch) outlives the young generation's collections:
the collector promotes it to its oldest generation and, a few bursts later,
scans every object of the process (200 ms at 19,500 connections). The write
bursts end from one callback per pass (runtime/bursts.py) and the hub hands
what it read straight to the receive greenlet (runtime/readturn.py), so a
burst makes nothing that lives past it.
"""

from __future__ import annotations

import gc
from typing import Any

import pytest

import geventws
from tests.conftest import ServerProcess
from tests.support import WAIT

pytestmark = pytest.mark.timeout(60)

N = 800  # a burst of this many connections: more than a young generation (700 objects)


def test_echo_rounds_over_many_connections_trigger_no_collection(ws_server: ServerProcess) -> None:
    with geventws.Fleet(ws_server.url("/"), N, ping_interval=None) as fleet:
        assert fleet.open(timeout=10 * WAIT).all_open
        assert fleet.echo(b"warm up", timeout=WAIT) == N
        seen: list[int] = []

        def watch(phase: str, info: dict[str, Any]) -> None:
            if phase == "start":
                seen.append(info["generation"])

        gc.collect()
        gc.callbacks.append(watch)
        try:
            for _ in range(3):
                assert fleet.echo(b"x" * 32, timeout=WAIT) == N
        finally:
            gc.callbacks.remove(watch)
        assert seen == [], f"collections of generations {seen} during 3 rounds of {N} round trips"
