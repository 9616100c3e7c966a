"""Nothing per connection waits for the hub's next turn: write bursts end from one hub
callback per pass, in order; what the hub read goes straight to the receive loop."""

from __future__ import annotations

import logging

import gevent
import gevent.event
import pytest

from geventws.runtime.bursts import BurstEnds, bursts_for
from geventws.runtime.perhub import PerHub
from geventws.runtime.readturn import ReadTurn

pytestmark = pytest.mark.timeout(20)


class Burst:
    """A transport stand-in: records when its burst ends."""

    def __init__(self, name: str, ended: list[str], fail: bool = False) -> None:
        self.name, self.ended, self.fail = name, ended, fail

    def _end_burst(self) -> None:
        self.ended.append(self.name)
        if self.fail:
            raise RuntimeError("boom")


def test_the_bursts_of_a_pass_end_together_at_the_next_turn_in_their_order() -> None:
    ends = BurstEnds(gevent.get_hub().loop)
    ended: list[str] = []
    for name in "abc":
        ends.add(Burst(name, ended))
    assert ended == []  # not before the hub's turn
    assert len(ends._due) == 3
    gevent.sleep(0)
    assert ended == ["a", "b", "c"] and ends._due == []
    ends.add(Burst("d", ended))  # a new pass: a new callback
    gevent.sleep(0)
    assert ended == ["a", "b", "c", "d"]


def test_a_pass_costs_one_hub_callback_whatever_the_number_of_bursts() -> None:
    class Counted(BurstEnds):
        passes = 0

        def _run(self) -> None:  # the hub callback: counted
            Counted.passes += 1
            super()._run()

    ends = Counted(gevent.get_hub().loop)
    ended: list[str] = []
    for index in range(100):
        ends.add(Burst(str(index), ended))
    gevent.sleep(0)
    assert len(ended) == 100 and Counted.passes == 1


def test_a_failing_end_is_logged_and_the_others_still_end(caplog: pytest.LogCaptureFixture) -> None:
    ends = BurstEnds(gevent.get_hub().loop)
    ended: list[str] = []
    for burst in (Burst("a", ended), Burst("b", ended, fail=True), Burst("c", ended)):
        ends.add(burst)
    with caplog.at_level(logging.ERROR, logger="geventws"):
        gevent.sleep(0)
    assert ended == ["a", "b", "c"]
    assert any("write burst" in r.getMessage() and r.exc_info for r in caplog.records)


def test_one_per_hub() -> None:
    assert bursts_for() is bursts_for() is bursts_for(gevent.get_hub())


class Watcher:
    """A read watcher stand-in."""

    active = False

    def start(self, callback: object) -> None:
        self.active = True

    def stop(self) -> None:
        self.active = False


def test_a_hub_read_wakes_the_receive_loop_at_once_and_a_guest_read_at_the_next_turn() -> None:
    """The hub hands what it read straight to the parked receive loop (nothing
    is left queued for the next turn); a guest greenlet cannot switch to it
    and queues the hand-over instead."""
    turn = ReadTurn(Watcher(), reader=None)  # type: ignore[arg-type]
    woken: list[object] = []

    def receive_loop() -> None:
        while True:
            handed = turn.wait()
            woken.append(handed)
            if handed is None:
                return

    loop = gevent.spawn(receive_loop)
    gevent.sleep(0)  # parked in wait()
    seen_in_hub: list[list[object]] = []

    def hub_read() -> None:
        turn.done(([], None))
        seen_in_hub.append(list(woken))  # the loop ran before done() returned

    gevent.get_hub().loop.run_callback(hub_read)
    gevent.sleep(0)
    assert seen_in_hub == [[([], None)]]
    turn.done(([], None))  # from this greenlet (a guest's)
    assert len(woken) == 1  # not yet: at the hub's next turn
    gevent.sleep(0)
    assert len(woken) == 2
    turn.cancel()
    loop.join(5)
    assert woken[-1] is None and loop.dead


def test_a_per_hub_object_is_made_once_per_hub_and_can_be_replaced() -> None:
    made: list[object] = []
    per_hub = PerHub(lambda hub: made.append(hub) or len(made))
    hub = gevent.get_hub()
    assert per_hub() == per_hub(hub) == 1 and made == [hub]
    assert per_hub.replace(hub, 7) == 1 and per_hub() == 7
    assert per_hub.replace(hub, None) == 7 and per_hub() == 2  # forgotten: made again
