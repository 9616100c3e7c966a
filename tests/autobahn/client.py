"""Run Autobahn|Testsuite's client cases against geventws.

    python -m tests.autobahn.client ws://127.0.0.1:9001 [AGENT] [--deflate]

Expects a running ``wstest -m fuzzingserver``; echoes every case's messages,
then asks the server to write its reports.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import gevent.event

import geventws


def case_count(base: str) -> int:
    with geventws.connect(f"{base}/getCaseCount") as ws:
        return int(ws.recv(timeout=10))


def run_case(base: str, case: int, agent: str, **options: Any) -> None:
    """Run one case, echoing its messages; ``options`` go to the Connection."""
    done = gevent.event.Event()
    conn = geventws.Connection(
        f"{base}/runCase?case={case}&agent={agent}",
        max_message_size=None,
        ping_interval=None,
        open_timeout=10,
        close_timeout=5,
        on_message=lambda c, data: c.send(data),
        on_close=lambda c: done.set(),
        **options,
    )
    conn.connect()
    if not done.wait(60):
        conn.close()
    conn.wait_closed(10)


def update_reports(base: str, agent: str) -> None:
    with geventws.connect(f"{base}/updateReports?agent={agent}") as ws:
        for _ in ws:  # the server closes once the reports are written
            pass


def main() -> None:
    base = sys.argv[1]
    args = [a for a in sys.argv[2:] if a != "--deflate"]
    agent = args[0] if args else "geventws"
    options: dict[str, Any] = {"compression": "deflate"} if "--deflate" in sys.argv else {}
    count = case_count(base)
    for case in range(1, count + 1):
        run_case(base, case, agent, **options)
    update_reports(base, agent)
    print(json.dumps({"cases": count}))


if __name__ == "__main__":
    main()
