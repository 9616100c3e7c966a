"""From raw worker results to figures, medians, the printed tables, the JSON file and the chart."""

from __future__ import annotations

import statistics
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: The reference every ratio is taken to, and the floor.
BASELINE = "wsclient"
FLOOR = "floor"


@dataclass(frozen=True)
class Metric:
    """One row of the table: which run it comes from and how to compute it."""

    key: str
    run: str  # the run name in benchmarks.run.RUNS
    label: str
    unit: str
    compute: Callable[[dict[str, Any]], float | None]
    higher_is_better: bool = True


def _div(a: float, b: float) -> float | None:
    return a / b if b else None


def _ping_share(r: dict[str, Any]) -> float | None:
    pings = r.get("pings") or {}
    return 100.0 * pings["on_time"] if pings.get("gaps") else None


def _pings_per_conn(r: dict[str, Any]) -> float | None:
    pings = r.get("pings") or {}
    return pings.get("per_connection")


METRICS = [
    Metric("s1_rate", "S1", "S1 sequential 32 B round trips", "/s", lambda r: _div(r["ops"], r["wall"])),
    Metric("s1_cpu", "S1", "S1 CPU per round trip", "µs", lambda r: 1e6 * r["cpu"] / r["ops"], False),
    Metric("s2s_rate", "S2-32B", "S2 pipelined 32 B messages", "msg/s", lambda r: _div(r["ops"], r["wall"])),
    Metric("s2s_cpu", "S2-32B", "S2 CPU per 32 B message", "µs", lambda r: 1e6 * r["cpu"] / r["ops"], False),
    Metric(
        "s2l_rate",
        "S2-64KiB",
        "S2 pipelined 64 KiB binary",
        "MB/s",
        lambda r: _div(r["bytes"] / 1e6, r["wall"]),
    ),
    Metric("s3_open", "S3", "S3 handshakes", "/s", lambda r: _div(r["opened"], r["open_wall"])),
    Metric(
        "s3_mem",
        "S3",
        "S3 idle memory per connection",
        "KiB",
        lambda r: _div(r["memory"] / 1024, r["opened"]),
        False,
    ),
    Metric("s3_rate", "S3", "S3 aggregate round trips", "/s", lambda r: _div(r["ops"], r["wall"])),
    Metric("sc_open", "scale", "scale: open rate at N", "/s", lambda r: _div(r["opened"], r["open_wall"])),
    Metric(
        "sc_ref",
        "scale",
        "scale: open rate at the reference N",
        "/s",
        lambda r: _div(r["ref_opened"], r["ref_wall"]),
    ),
    Metric(
        "sc_ratio",
        "scale",
        "scale: open rate at N / at reference",
        "×",
        lambda r: _div(_div(r["opened"], r["open_wall"]) or 0, _div(r["ref_opened"], r["ref_wall"]) or 0),
    ),
    Metric(
        "sc_cpu_conn",
        "scale",
        "scale: CPU per connection opened",
        "µs",
        lambda r: _div(1e6 * r["open_cpu"], r["opened"]),
        False,
    ),
    Metric(
        "sc_sys_conn",
        "scale",
        "scale: of which kernel (system) CPU",
        "µs",
        lambda r: _div(1e6 * r["open_sys"], r["opened"]),
        False,
    ),
    Metric(
        "sc_rt_cpu",
        "scale",
        "scale: CPU per round trip, all at once",
        "µs",
        lambda r: 1e6 * r["cpu_per_rt"],
        False,
    ),
    Metric(
        "sc_rt_growth",
        "scale",
        "scale: CPU per round trip at N / at reference",
        "×",
        lambda r: _div(r["cpu_per_rt"], r["ref_cpu_per_rt"]),
        False,
    ),
    Metric(
        "sc_stall",
        "scale",
        "scale: worst hub/loop stall holding",
        "ms",
        lambda r: 1e3 * r["stall_max"],
        False,
    ),
    Metric("sc_pings_on_time", "scale", "scale: ping gaps within 10 % of the interval", "%", _ping_share),
    Metric("sc_pings", "scale", "scale: pings per connection (due: see JSON)", "", _pings_per_conn),
    Metric(
        "sc_hold_cpu",
        "scale",
        "scale: CPU holding idle",
        "% core",
        lambda r: _div(100.0 * r["hold_cpu"], r["hold_t1"] - r["hold_t0"]),
        False,
    ),
    Metric("sc_failed", "scale", "scale: connections not opened", "", lambda r: float(r["failures"]), False),
]


def medians(runs: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """``{metric key: {kind: median over the repetitions}}`` (runs that failed are left out)."""
    table: dict[str, dict[str, float]] = {}
    for metric in METRICS:
        for kind in sorted({r["kind"] for r in runs}):
            values = []
            for run in runs:
                if run["kind"] == kind and run["run"] == metric.run and "result" in run:
                    try:
                        value = metric.compute(run["result"])
                    except (KeyError, TypeError, ZeroDivisionError):
                        value = None
                    if value is not None:
                        values.append(value)
            if values:
                table.setdefault(metric.key, {})[kind] = statistics.median(values)
    return table


def _fmt(value: float | None) -> str:
    if value is None:
        return "–"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def _ratio(table: dict[str, dict[str, float]], key: str, kind: str, reference: str) -> float | None:
    row = table.get(key, {})
    if kind not in row or not row.get(reference):
        return None
    return row[kind] / row[reference]


def render(table: dict[str, dict[str, float]], kinds: list[str], labels: dict[str, str]) -> str:
    """Markdown: the absolute figures, then the ratios to the baseline and to the floor."""
    head = "| metric | " + " | ".join(labels[k] for k in kinds) + " |"
    rule = "|---|" + "---:|" * len(kinds)
    absolute = [head, rule]
    ratios_b = [head, rule]
    ratios_floor = [head, rule]
    for metric in METRICS:
        if metric.key not in table:
            continue
        notes = [metric.unit] if metric.unit else []
        notes += [] if metric.higher_is_better else ["lower is better"]
        name = metric.label + (f" ({', '.join(notes)})" if notes else "")
        row = table[metric.key]
        absolute.append(f"| {name} | " + " | ".join(_fmt(row.get(k)) for k in kinds) + " |")
        ratios_b.append(
            f"| {name} | " + " | ".join(_fmt(_ratio(table, metric.key, k, BASELINE)) for k in kinds) + " |"
        )
        ratios_floor.append(
            f"| {name} | " + " | ".join(_fmt(_ratio(table, metric.key, k, FLOOR)) for k in kinds) + " |"
        )
    return "\n".join(
        [
            "Absolute figures (medians):",
            *absolute,
            "",
            f"Ratio to {labels.get(BASELINE, BASELINE)}:",
            *ratios_b,
            "",
            f"Ratio to the {labels.get(FLOOR, FLOOR)}:",
            *ratios_floor,
        ]
    )


def _better_ratio(table: dict[str, dict[str, float]], metric: Metric, kind: str) -> float:
    """The ratio to the baseline, turned so that more is better (0 when unknown)."""
    ratio = _ratio(table, metric.key, kind, BASELINE)
    if ratio is not None and not metric.higher_is_better:
        ratio = 1 / ratio if ratio else None
    return ratio or 0.0


def chart(
    table: dict[str, dict[str, float]], kinds: list[str], labels: dict[str, str], title: str, path: Path
) -> Path | None:
    """A bar chart of the ratios to the baseline (higher is better on every bar); None without matplotlib."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        import matplotlib.ticker
    except ImportError:
        return None
    skip = (
        "sc_ref",
        "sc_failed",
        "sc_pings",
        "sc_ratio",
        "sc_rt_growth",
        "sc_sys_conn",
    )  # not ratios to b that mean much
    rows = [m for m in METRICS if m.key in table and m.key not in skip]
    fig, ax = plt.subplots(figsize=(11, 0.55 * len(rows) * max(1, len(kinds)) / 3 + 2))
    height = 0.8 / max(1, len(kinds))
    for i, kind in enumerate(kinds):
        values = [_better_ratio(table, m, kind) for m in rows]
        ax.barh([y + i * height for y in range(len(rows))], values, height, label=labels[kind])
    ax.set_yticks([y + 0.4 - height / 2 for y in range(len(rows))])
    ax.set_yticklabels([m.label + ("" if m.higher_is_better else " (inverted)") for m in rows], fontsize=8)
    ax.invert_yaxis()
    ax.axvline(1.0, color="black", linewidth=0.8)
    ax.set_xscale("log")
    ax.xaxis.set_major_formatter(matplotlib.ticker.FormatStrFormatter("%g"))
    ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    ax.set_xlabel(
        f"× {labels.get(BASELINE, BASELINE)} (higher is better; 'inverted' rows show baseline / value)"
    )
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    fig.savefig(path)
    fig.savefig(path.with_suffix(".png"), dpi=110)
    plt.close(fig)
    return path
