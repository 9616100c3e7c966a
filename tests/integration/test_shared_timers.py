"""Keepalives on a shared timer wheel: connections whose pings fall in one slot
ping in one pass of the hub, and every gap stays within 10 % of the interval."""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Iterator

import gevent
import pytest

import geventws
from geventws import ErrorCode
from geventws.runtime import timerwheel
from geventws.runtime.keepalive import Keepalive
from tests.conftest import ServerProcess
from tests.faultproxy import FaultProxy
from tests.support import Recorder

pytestmark = pytest.mark.timeout(30)

INTERVAL = 0.4


class RecordingWheel(timerwheel.TimerWheel):
    """A wheel with a small grid (a 0.4 s interval shares slots) that records when pings are due."""

    def __init__(self, loop: object) -> None:
        super().__init__(loop, grid=0.02, late_share=1 / 16)
        self.pings: dict[int, list[float]] = {}

    def call_later(
        self, delay: float, callback: Callable[[], None], timer: timerwheel.WheelTimer | None = None
    ) -> timerwheel.WheelTimer:
        if isinstance(callback, Keepalive) and callback._pong is None:  # a ping is due then
            times = self.pings.setdefault(id(callback), [])
            keepalive = callback

            def recorded() -> None:
                times.append(time.monotonic())
                keepalive()

            return super().call_later(delay, recorded, timer)
        return super().call_later(delay, callback, timer)


@pytest.fixture
def small_grid() -> Iterator[RecordingWheel]:
    """This hub's wheel, replaced for the test."""
    hub = gevent.get_hub()
    wheel = RecordingWheel(hub.loop)
    before = timerwheel.wheel_for.replace(hub, wheel)
    try:
        yield wheel
    finally:
        timerwheel.wheel_for.replace(hub, before)


def test_pings_share_slots_and_stay_on_time(ws_server: ServerProcess, small_grid: RecordingWheel) -> None:
    url = ws_server.url("/echo")
    conns = [geventws.connect(url, ping_interval=INTERVAL, ping_timeout=INTERVAL) for _ in range(40)]
    most_slots = most_shared = 0
    deadline = time.monotonic() + 5 * INTERVAL
    while time.monotonic() < deadline:
        gevent.sleep(0.01)
        most_slots = max(most_slots, len(small_grid.slots))
        most_shared = max([most_shared, *(slot._live for slot in small_grid.slots.values())])
    try:
        assert all(conn.state is geventws.State.OPEN for conn in conns)
        # 40 armed timers (a ping or a pong deadline each) share fewer slots; some many.
        assert 1 <= most_slots <= 20 and most_shared >= 4, (most_slots, most_shared)
        gaps = [b - a for times in small_grid.pings.values() for a, b in itertools.pairwise(times)]
        assert len(gaps) >= 40 * 3
        # Each gap: the interval less the jitter, plus the pong's round trip, plus a slot's lateness.
        extremes = sorted(gaps)[:3] + sorted(gaps)[-3:]
        assert all(INTERVAL * 0.88 <= gap <= INTERVAL * 1.12 for gap in gaps), extremes
    finally:
        for conn in conns:
            conn.close()


def test_a_pong_deadline_on_a_shared_slot_ends_a_stalled_connection(
    ws_server: ServerProcess, small_grid: RecordingWheel
) -> None:
    proxy = FaultProxy(ws_server.port)
    rec = Recorder()
    conn = geventws.Connection(
        proxy.url("/echo"), ping_interval=INTERVAL, ping_timeout=INTERVAL, **rec.callbacks()
    )
    conn.connect()
    try:
        assert rec.wait_for(lambda: rec.count("open") == 1), rec.events
        assert rec.wait_for(lambda: sum(map(len, small_grid.pings.values())) >= 1)  # pinging from a slot
        proxy.stall()  # nothing goes through any more: the pong never comes
        assert rec.wait_for(lambda: rec.count("error") >= 1), rec.events
        assert rec.codes() == [ErrorCode.PING_TIMEOUT]
        assert rec.wait_for(lambda: rec.count("close") == 1), rec.events
    finally:
        conn.close()
        proxy.stop()
