"""One benchmark run of one client kind, in its own process (so memory and loops don't mix).

``python -m benchmarks.worker KIND SCENARIO PARAMS_JSON`` pins itself to the
client core, raises its descriptor limit, runs the scenario and prints one
line ``RESULT {json}``. Every scenario runs under a deadline (``limit`` seconds).
With ``"profile": true`` in the parameters it runs under cProfile and prints
the costliest functions to stderr (``python -m benchmarks.run --profile`` shows
them for every run).
"""

from __future__ import annotations

import asyncio
import importlib
import json
import sys
from typing import Any

from benchmarks.measure import CLIENT_CORE, pin, raise_fd_limit

SCENARIOS = ("s1", "s2", "s3", "scale")


def run_gevent(kind: Any, scenario: str, params: dict[str, Any], limit: float) -> dict[str, Any]:
    import gevent

    from benchmarks import gdriver

    function = getattr(kind, scenario, None) or getattr(gdriver, scenario)
    with gevent.Timeout(limit):
        result: dict[str, Any] = function(kind.adapter(), **params)
    return result


async def _run_async(kind: Any, scenario: str, params: dict[str, Any], limit: float) -> dict[str, Any]:
    from benchmarks import adriver

    function = getattr(kind, scenario, None) or getattr(adriver, scenario)
    adapter = await kind.adapter()
    try:
        result: dict[str, Any] = await asyncio.wait_for(function(adapter, **params), limit)
    finally:
        finish = getattr(adapter, "finish", None)
        if finish is not None:
            await finish()
    return result


def run_asyncio(kind: Any, scenario: str, params: dict[str, Any], limit: float) -> dict[str, Any]:
    if getattr(kind, "UVLOOP", False):
        try:
            import uvloop

            return uvloop.run(_run_async(kind, scenario, params, limit))
        except ImportError:
            pass
    return asyncio.run(_run_async(kind, scenario, params, limit))


def profiled(run: Any, kind: Any, scenario: str, params: dict[str, Any], limit: float) -> dict[str, Any]:
    """Run under cProfile; the 30 costliest functions (own time) go to stderr."""
    import cProfile
    import pstats

    profiler = cProfile.Profile()
    result: dict[str, Any] = profiler.runcall(run, kind, scenario, params, limit)
    pstats.Stats(profiler, stream=sys.stderr).sort_stats("tottime").print_stats(30)
    return result


def main() -> None:
    name, scenario, raw = sys.argv[1], sys.argv[2], sys.argv[3]
    if scenario not in SCENARIOS:
        raise SystemExit(f"unknown scenario {scenario!r}")
    params = json.loads(raw)
    limit = float(params.pop("limit", 600))
    pin(CLIENT_CORE)
    raise_fd_limit()
    profile = bool(params.pop("profile", False))
    kind = importlib.import_module(f"benchmarks.kinds.{name}_kind")
    run = run_gevent if kind.RUNTIME == "gevent" else run_asyncio
    result = profiled(run, kind, scenario, params, limit) if profile else run(kind, scenario, params, limit)
    print("RESULT " + json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
