"""geventws: the sequential face for round trips; :class:`geventws.Fleet` for the scale run."""

from __future__ import annotations

from typing import Any

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


def _open_fleet(urls: list[str], n: int, ping_interval: float) -> tuple[geventws.Fleet, dict[str, Any]]:
    span = gdriver.Span()  # creating the connections counts, as in the other kinds
    fleet = geventws.Fleet(
        urls, n, max_in_flight=gdriver.IN_FLIGHT, ping_interval=ping_interval, open_timeout=60
    )
    report = fleet.open(timeout=600)
    span.stop()
    return fleet, {
        "opened": report.opened,
        "failures": len(report.failed) + report.pending,
        "wall": span.wall,
        "cpu": span.cpu,
        "sys": span.sys,
    }


def _echo_round(fleet: geventws.Fleet) -> float:
    """One 32 B round trip on every open connection: CPU seconds per round trip."""
    span = gdriver.Span()
    replies = fleet.echo(b"x" * 32, timeout=120)
    return span.stop().cpu / max(1, replies)


def scale(
    a: Adapter, urls: list[str], n: int, ramp_n: int, ping_interval: float, seconds: float
) -> dict[str, Any]:
    """The scale run on a Fleet (the phases of gdriver.scale)."""
    small, ref = _open_fleet(urls, ramp_n, ping_interval)
    ref_cpu_per_rt = _echo_round(small)
    small.close(timeout=120)
    del small
    fleet, opening = _open_fleet(urls, n, ping_interval)
    result: dict[str, Any] = {
        "ref_opened": ref["opened"],
        "ref_wall": ref["wall"],
        "ref_cpu": ref["cpu"],
        "ref_sys": ref["sys"],
        "ref_cpu_per_rt": ref_cpu_per_rt,
        "opened": opening["opened"],
        "failures": opening["failures"],
        "open_wall": opening["wall"],
        "open_cpu": opening["cpu"],
        "open_sys": opening["sys"],
    }
    result.update(gdriver.hold(seconds))
    result["cpu_per_rt"] = _echo_round(fleet)
    closing = fleet.close(timeout=120)
    result.update({"not_closed": closing.not_closed, "errors": fleet.totals()["errors"]})
    return result
