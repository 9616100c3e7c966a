"""The scenarios for clients that run on gevent (geventws, websocket-client + gevent).

A client kind gives an adapter (open, send, recv, close one connection); the
scenarios here are the same for every kind. Each returns raw figures (counts,
wall and CPU seconds, bytes); benchmarks/run.py turns them into rates.
"""

from __future__ import annotations

import time
from typing import Any, Protocol

import gevent
import gevent.event
import gevent.pool

from benchmarks.measure import Span, cpu_seconds, settled_rss

#: Handshakes in flight when opening many connections (the same for every kind).
IN_FLIGHT = 100


class Adapter(Protocol):
    def open(self, url: str, ping_interval: float | None) -> Any: ...
    def send(self, conn: Any, data: bytes) -> None: ...
    def recv(self, conn: Any) -> Any: ...
    def close(self, conn: Any) -> None: ...


def s1(a: Adapter, urls: list[str], n: int, size: int = 32) -> dict[str, Any]:
    """One connection, ``n`` sequential round trips."""
    conn = a.open(urls[0], None)
    data = b"x" * size
    for _ in range(min(n, 200)):  # warm up
        a.send(conn, data)
        a.recv(conn)
    span = Span()
    for _ in range(n):
        a.send(conn, data)
        a.recv(conn)
    span.stop()
    a.close(conn)
    return {"ops": n, "wall": span.wall, "cpu": span.cpu}


def s2(a: Adapter, urls: list[str], n: int, size: int, window: int) -> dict[str, Any]:
    """One connection, ``n`` messages pipelined (at most ``window`` unanswered)."""
    conn = a.open(urls[0], None)
    data = b"x" * size
    room = gevent.event.Event()
    state = {"received": 0}

    def sender() -> None:
        for sent in range(n):
            while sent - state["received"] >= window:
                room.clear()
                room.wait(30)
            a.send(conn, data)

    span = Span()
    greenlet = gevent.spawn(sender)
    received = 0
    while received < n:
        a.recv(conn)
        received += 1
        state["received"] = received
        room.set()
    greenlet.join()
    span.stop()
    a.close(conn)
    return {"ops": n, "bytes": n * size, "wall": span.wall, "cpu": span.cpu}


def open_many(
    a: Adapter, urls: list[str], n: int, ping_interval: float | None
) -> tuple[list[Any], Span, int]:
    """Open ``n`` connections, IN_FLIGHT handshakes at a time: (connections, span, failures)."""
    pool = gevent.pool.Pool(IN_FLIGHT)
    conns: list[Any] = []
    failures = 0

    def one(url: str) -> None:
        nonlocal failures
        try:
            conns.append(a.open(url, ping_interval))
        except Exception:
            failures += 1

    span = Span()
    for i in range(n):
        pool.spawn(one, urls[i % len(urls)])
    pool.join()
    return conns, span.stop(), failures


def close_many(a: Adapter, conns: list[Any]) -> None:
    """Close them all, IN_FLIGHT at a time."""
    pool = gevent.pool.Pool(IN_FLIGHT)
    for conn in conns:
        pool.spawn(a.close, conn)
    pool.join(timeout=120)
    pool.kill()


def s3(a: Adapter, urls: list[str], n: int, rounds: int, ping_interval: float) -> dict[str, Any]:
    """``n`` connections: handshakes, idle memory each (keepalive on), concurrent round trips."""
    a.close(a.open(urls[0], ping_interval))  # first-use costs out of the memory figure
    before = settled_rss()
    conns, opening, failures = open_many(a, urls, n, ping_interval)
    memory = settled_rss() - before
    data = b"x" * 32

    def round_trips(conn: Any) -> None:
        for _ in range(rounds):
            a.send(conn, data)
            a.recv(conn)

    span = Span()
    gevent.joinall([gevent.spawn(round_trips, conn) for conn in conns], timeout=300)
    span.stop()
    close_many(a, conns)
    return {
        "opened": len(conns),
        "failures": failures,
        "open_wall": opening.wall,
        "open_cpu": opening.cpu,
        "open_sys": opening.sys,
        "memory": memory,
        "ops": len(conns) * rounds,
        "wall": span.wall,
        "cpu": span.cpu,
    }


class Ticker:
    """A greenlet that wakes every ``period`` s and records how late it woke: hub stalls."""

    def __init__(self, period: float = 0.01) -> None:
        self.period = period
        self.worst = 0.0
        self._greenlet = gevent.spawn(self._run)

    def _run(self) -> None:
        while True:
            due = time.perf_counter() + self.period
            gevent.sleep(self.period)
            self.worst = max(self.worst, time.perf_counter() - due)

    def stop(self) -> float:
        """Stop; the worst lateness in seconds."""
        self._greenlet.kill()
        return self.worst


def hold(seconds: float) -> dict[str, Any]:
    """Let the connections idle for ``seconds``: the window, stalls and CPU."""
    ticker = Ticker()
    t0, cpu0 = time.monotonic(), cpu_seconds()
    gevent.sleep(seconds)
    t1, cpu1 = time.monotonic(), cpu_seconds()
    return {"hold_t0": t0, "hold_t1": t1, "hold_cpu": cpu1 - cpu0, "stall_max": ticker.stop()}


def one_round(a: Adapter, conns: list[Any]) -> dict[str, float]:
    """One 32 B round trip on every connection at once: CPU seconds per round trip."""
    data = b"x" * 32

    def round_trip(conn: Any) -> None:
        a.send(conn, data)
        a.recv(conn)

    span = Span()
    gevent.joinall([gevent.spawn(round_trip, conn) for conn in conns], timeout=120)
    span.stop()
    return {"cpu_per_rt": span.cpu / max(1, len(conns))}


def scale(
    a: Adapter, urls: list[str], n: int, ramp_n: int, ping_interval: float, seconds: float
) -> dict[str, Any]:
    """Open ``ramp_n`` (the reference), one round trip each, close; open ``n``; hold them
    ``seconds``; one round trip each; close."""
    small, small_span, _ = open_many(a, urls, ramp_n, ping_interval)
    reference = one_round(a, small)
    close_many(a, small)
    conns, span, failures = open_many(a, urls, n, ping_interval)
    result = {
        "ref_opened": len(small),
        "ref_wall": small_span.wall,
        "ref_cpu": small_span.cpu,
        "ref_sys": small_span.sys,
        "ref_cpu_per_rt": reference["cpu_per_rt"],
        "opened": len(conns),
        "failures": failures,
        "open_wall": span.wall,
        "open_cpu": span.cpu,
        "open_sys": span.sys,
    }
    del small
    result.update(hold(seconds))
    result.update(one_round(a, conns))
    close_many(a, conns)
    return result
