"""geventws: the sequential face for round trips; :class:`geventws.Fleet` for the scale run."""

from __future__ import annotations

import time
from typing import Any

import gevent

import geventws
from benchmarks import gdriver

RUNTIME = "gevent"
LABEL = "geventws"


class Adapter:
    def open(self, url: str, ping_interval: float | None) -> geventws.Connection:
        return geventws.connect(url, ping_interval=ping_interval, open_timeout=60, max_queue=64)

    def send(self, conn: geventws.Connection, data: bytes) -> None:
        conn.send(data)

    def recv(self, conn: geventws.Connection) -> Any:
        return conn.recv(timeout=30)

    def close(self, conn: geventws.Connection) -> None:
        conn.close()


def adapter() -> Adapter:
    return Adapter()


def _open_fleet(url: str, n: int, ping_interval: float) -> tuple[geventws.Fleet, dict[str, Any]]:
    fleet = geventws.Fleet(
        url, n, max_in_flight=gdriver.IN_FLIGHT, ping_interval=ping_interval, open_timeout=60
    )
    span = gdriver.Span()
    report = fleet.open(timeout=600)
    span.stop()
    return fleet, {
        "opened": report.opened,
        "failures": len(report.failed) + report.pending,
        "wall": span.wall,
        "cpu": span.cpu,
    }


def scale(a: Adapter, url: str, n: int, ramp_n: int, ping_interval: float, seconds: float) -> dict[str, Any]:
    """The scale run on a Fleet (same phases as gdriver.scale)."""
    small, ref = _open_fleet(url, ramp_n, ping_interval)
    small.close(timeout=120)
    del small
    fleet, opening = _open_fleet(url, n, ping_interval)
    result: dict[str, Any] = {
        "ref_opened": ref["opened"],
        "ref_wall": ref["wall"],
        "ref_cpu": ref["cpu"],
        "opened": opening["opened"],
        "failures": opening["failures"],
        "open_wall": opening["wall"],
        "open_cpu": opening["cpu"],
    }
    result.update(gdriver.hold(seconds))
    t0 = time.perf_counter()
    closing = fleet.close(timeout=120)
    result.update(
        {
            "close_wall": time.perf_counter() - t0,
            "not_closed": closing.not_closed,
            "errors": fleet.totals()["errors"],
        }
    )
    gevent.sleep(0)
    return result
