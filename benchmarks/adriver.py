"""The scenarios for asyncio clients (python-websockets, aiohttp, picows, the raw floor).

The same scenarios as :mod:`benchmarks.gdriver`, with coroutines.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any, Protocol

from benchmarks.gdriver import IN_FLIGHT
from benchmarks.measure import Span, cpu_seconds, settled_rss


class Adapter(Protocol):
    async def open(self, url: str, ping_interval: float | None) -> Any: ...
    async def send(self, conn: Any, data: bytes) -> None: ...
    async def recv(self, conn: Any) -> Any: ...
    async def close(self, conn: Any) -> None: ...


async def s1(a: Adapter, urls: list[str], n: int, size: int = 32) -> dict[str, Any]:
    """One connection, ``n`` sequential round trips."""
    conn = await a.open(urls[0], None)
    data = b"x" * size
    for _ in range(min(n, 200)):
        await a.send(conn, data)
        await a.recv(conn)
    span = Span()
    for _ in range(n):
        await a.send(conn, data)
        await a.recv(conn)
    span.stop()
    await a.close(conn)
    return {"ops": n, "wall": span.wall, "cpu": span.cpu}


async def s2(a: Adapter, urls: list[str], n: int, size: int, window: int) -> dict[str, Any]:
    """One connection, ``n`` messages pipelined (at most ``window`` unanswered)."""
    conn = await a.open(urls[0], None)
    data = b"x" * size
    room = asyncio.Event()
    state = {"received": 0}

    async def sender() -> None:
        for sent in range(n):
            while sent - state["received"] >= window:
                room.clear()
                await room.wait()
            await a.send(conn, data)

    span = Span()
    task = asyncio.create_task(sender())
    received = 0
    while received < n:
        await a.recv(conn)
        received += 1
        state["received"] = received
        room.set()
    await task
    span.stop()
    await a.close(conn)
    return {"ops": n, "bytes": n * size, "wall": span.wall, "cpu": span.cpu}


async def open_many(
    a: Adapter, urls: list[str], n: int, ping_interval: float | None
) -> tuple[list[Any], Span, int]:
    """Open ``n`` connections, IN_FLIGHT handshakes at a time: (connections, span, failures)."""
    gate = asyncio.Semaphore(IN_FLIGHT)
    conns: list[Any] = []
    failures = 0

    async def one(url: str) -> None:
        nonlocal failures
        async with gate:
            try:
                conns.append(await a.open(url, ping_interval))
            except Exception:
                failures += 1

    span = Span()
    await asyncio.gather(*(one(urls[i % len(urls)]) for i in range(n)))
    return conns, span.stop(), failures


async def close_many(a: Adapter, conns: list[Any]) -> None:
    """Close them all, IN_FLIGHT at a time."""
    gate = asyncio.Semaphore(IN_FLIGHT)

    async def one(conn: Any) -> None:
        async with gate:
            with contextlib.suppress(Exception):
                await a.close(conn)

    with contextlib.suppress(asyncio.TimeoutError):  # the figures are taken: closing is best effort
        await asyncio.wait_for(asyncio.gather(*(one(c) for c in conns)), 120)


async def s3(a: Adapter, urls: list[str], n: int, rounds: int, ping_interval: float) -> dict[str, Any]:
    """``n`` connections: handshakes, idle memory each (keepalive on), concurrent round trips."""
    await a.close(await a.open(urls[0], ping_interval))
    before = settled_rss()
    conns, opening, failures = await open_many(a, urls, n, ping_interval)
    memory = settled_rss() - before
    data = b"x" * 32

    async def round_trips(conn: Any) -> None:
        for _ in range(rounds):
            await a.send(conn, data)
            await a.recv(conn)

    span = Span()
    await asyncio.wait_for(asyncio.gather(*(round_trips(c) for c in conns)), 300)
    span.stop()
    await close_many(a, conns)
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


async def _tick(period: float, worst: list[float]) -> None:
    while True:
        due = time.perf_counter() + period
        await asyncio.sleep(period)
        worst[0] = max(worst[0], time.perf_counter() - due)


async def hold(seconds: float) -> dict[str, Any]:
    """Let the connections idle for ``seconds``: the window, loop stalls and CPU."""
    worst = [0.0]
    ticker = asyncio.create_task(_tick(0.01, worst))
    t0, cpu0 = time.monotonic(), cpu_seconds()
    await asyncio.sleep(seconds)
    t1, cpu1 = time.monotonic(), cpu_seconds()
    ticker.cancel()
    return {"hold_t0": t0, "hold_t1": t1, "hold_cpu": cpu1 - cpu0, "stall_max": worst[0]}


async def one_round(a: Adapter, conns: list[Any]) -> dict[str, float]:
    """One 32 B round trip on every connection at once: CPU seconds per round trip."""
    data = b"x" * 32

    async def round_trip(conn: Any) -> None:
        await a.send(conn, data)
        await a.recv(conn)

    span = Span()
    await asyncio.wait_for(asyncio.gather(*(round_trip(c) for c in conns)), 120)
    span.stop()
    return {"cpu_per_rt": span.cpu / max(1, len(conns))}


async def scale(
    a: Adapter, urls: list[str], n: int, ramp_n: int, ping_interval: float, seconds: float
) -> dict[str, Any]:
    """Open ``ramp_n`` (the reference), one round trip each, close; open ``n``; hold them
    ``seconds``; one round trip each; close."""
    small, small_span, _ = await open_many(a, urls, ramp_n, ping_interval)
    reference = await one_round(a, small)
    await close_many(a, small)
    conns, span, failures = await open_many(a, urls, n, ping_interval)
    result: dict[str, Any] = {
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
    result.update(await hold(seconds))
    result.update(await one_round(a, conns))
    await close_many(a, conns)
    return result
