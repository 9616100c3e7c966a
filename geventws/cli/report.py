"""The benchmark's live progress line, final summary table and JSON results."""

from __future__ import annotations

import json
from typing import Any, TextIO

from .histogram import LatencyHistogram
from .stats import BenchStats, Window

__all__ = ["Progress", "format_seconds", "results", "summary_table"]


def format_seconds(value: float | None) -> str:
    """A latency for people: µs, ms or s; ``-`` when unknown."""
    if value is None:
        return "-"
    if value < 1e-3:
        return f"{value * 1e6:.0f}µs"
    if value < 1:
        return f"{value * 1e3:.2f}ms"
    return f"{value:.2f}s"


class Progress:
    """The live line: redrawn in place (``\\r``) on a terminal, one plain line per report otherwise."""

    def __init__(self, stream: TextIO, *, tty: bool) -> None:
        self.stream = stream
        self.tty = tty
        self._drawn = False

    def show(self, elapsed: float, stats: BenchStats, window: Window) -> None:
        """Report the last window."""
        rate = window.received / window.seconds if window.seconds > 0 else 0.0
        line = (
            f"{elapsed:6.1f}s  open {stats.open_now}/{stats.connections}  msgs/s {rate:,.0f}"
            f"  p50 {format_seconds(window.latency.quantile(0.5))}"
            f"  p99 {format_seconds(window.latency.quantile(0.99))}"
            f"  errors {sum(stats.errors.values())}  reconnects {stats.reconnects}"
        )
        if self.tty:
            self.stream.write("\r" + line + "\x1b[K")  # erase what a longer line left
            self._drawn = True
        else:
            self.stream.write(line + "\n")
        self.stream.flush()

    def finish(self) -> None:
        """End the redrawn line so that what follows starts on its own."""
        if self._drawn:
            self.stream.write("\n")
            self.stream.flush()


def results(stats: BenchStats, settings: dict[str, Any], elapsed: float) -> dict[str, Any]:
    """Everything measured, as JSON-ready data."""
    latency = stats.latency
    return {
        **settings,
        "elapsed_seconds": elapsed,
        "connections_opened": stats.opened,
        "connections_open_at_end": stats.open_at_end,
        "reconnects": stats.reconnects,
        "errors": dict(stats.errors),
        "messages": {
            "sent": stats.sent,
            "received": stats.received,
            "received_bytes": stats.received_bytes,
            "mismatched": stats.mismatched,
            "per_second": stats.received / elapsed if elapsed > 0 else 0.0,
        },
        "latency": _latency_summary(latency),
        "histogram": latency.to_json(),
    }


def _latency_summary(latency: LatencyHistogram) -> dict[str, float | int | None]:
    return {
        "count": latency.count,
        "min": latency.min if latency.count else None,
        "mean": latency.mean,
        "p50": latency.quantile(0.5),
        "p90": latency.quantile(0.9),
        "p99": latency.quantile(0.99),
        "max": latency.max if latency.count else None,
    }


def summary_table(data: dict[str, Any]) -> str:
    """The final results as an aligned two-column table."""
    messages, latency = data["messages"], data["latency"]
    errors = ", ".join(f"{name} {n}" for name, n in sorted(data["errors"].items())) or "none"
    rows = [
        ("url", data["url"]),
        (
            "connections",
            f"{data['connections']} ({data['connections_opened']} handshakes, "
            f"{data['connections_open_at_end']} open at the end)",
        ),
        ("duration", f"{data['elapsed_seconds']:.2f} s"),
        (
            "messages",
            f"{messages['sent']} sent, {messages['received']} echoed, {messages['mismatched']} mismatched",
        ),
        ("throughput", f"{messages['per_second']:,.1f} msgs/s"),
        (
            "latency",
            "  ".join(f"{k} {format_seconds(latency[k])}" for k in ("min", "p50", "p90", "p99", "max")),
        ),
        ("reconnects", str(data["reconnects"])),
        ("errors", errors),
    ]
    width = max(len(name) for name, _ in rows)
    return "\n".join(f"{name:<{width}}  {value}" for name, value in rows)


def write_json(path: str, data: dict[str, Any]) -> None:
    """Write ``data`` to ``path`` (``-``: stdout)."""
    text = json.dumps(data, indent=2) + "\n"
    if path == "-":
        print(text, end="")
        return
    with open(path, "w", encoding="utf-8") as file:
        file.write(text)
