"""The timer wheel: long timers share a libev timer per slot, none fires early or too late."""

from __future__ import annotations

import logging

import gevent
import gevent.event
import pytest

from geventws.runtime import timerwheel
from geventws.runtime.timerwheel import TimerWheel, wheel_for

pytestmark = pytest.mark.timeout(20)

GRID = 0.02  # a wheel with a small grid, so that tests wait fractions of a second
LATE = 1 / 4  # timers of at least GRID / LATE (0.08 s) share slots


def wheel() -> TimerWheel:
    return TimerWheel(gevent.get_hub().loop, grid=GRID, late_share=LATE)


def into_slot(w: TimerWheel, index: int) -> float:
    """The delay that makes a timer due in the slot ``index`` of ``w``, from the loop's
    time now (which may have moved on since that slot was made: a fixed delay could
    then fall in the next slot)."""
    return (index - 0.5) * GRID - w.loop.now()


def test_long_timers_due_in_one_slot_share_one_wake_up_and_are_never_early() -> None:
    w = wheel()
    loop = w.loop
    fired: list[tuple[int, float]] = []
    done = gevent.event.Event()
    start = loop.now()
    delays = [0.2 + i * 0.0005 for i in range(20)]  # 20 timers within 10 ms: one or two slots
    for i, delay in enumerate(delays):
        w.call_later(delay, lambda i=i: (fired.append((i, loop.now())), len(fired) == 20 and done.set()))
    w_slots_seen = list(w.slots)
    assert 1 <= len(w_slots_seen) <= 2
    assert done.wait(5)
    assert not w.slots  # fired slots are gone
    for i, at in fired:
        assert delays[i] - 1e-3 <= at - start <= delays[i] + GRID + 0.05  # late by the grid at most (+ noise)
    # One pass of the hub ran each slot's timers: they saw the same loop time.
    assert len({at for _, at in fired}) == len(set(w_slots_seen)) <= 2


def test_a_cancelled_timer_never_runs_and_an_empty_slot_stops_its_wake_up() -> None:
    w = wheel()
    ran: list[str] = []
    first = w.call_later(0.2, lambda: ran.append("first"))
    second = w.call_later(into_slot(w, next(iter(w.slots))), lambda: ran.append("second"))
    assert len(w.slots) == 1
    first.cancel()
    assert len(w.slots) == 1  # the second still needs it
    second.cancel()
    assert not w.slots  # no timer left: the libev timer is stopped and closed
    second.cancel()  # twice: a no-op
    done = gevent.event.Event()
    kept = w.call_later(0.3, lambda: (ran.append("kept"), done.set()))  # due after the cancelled ones
    assert done.wait(5)
    assert ran == ["kept"] and kept.callback is None
    kept.cancel()  # after it ran: a no-op
    assert not w.slots


def test_short_timers_keep_a_timer_of_their_own() -> None:
    w = wheel()
    ran = gevent.event.Event()
    start = w.loop.now()
    timer = w.call_later(0.03, ran.set)  # 0.03 * LATE < GRID: not rounded to the grid
    assert not w.slots
    assert ran.wait(5)
    assert w.loop.now() - start >= 0.03 - 1e-3 and timer.callback is None


def test_a_failing_callback_is_logged_and_the_others_in_its_slot_still_run(
    caplog: pytest.LogCaptureFixture,
) -> None:
    w = wheel()
    ran: list[int] = []
    done = gevent.event.Event()

    def fail() -> None:
        raise RuntimeError("boom")

    w.call_later(0.1, lambda: ran.append(1))
    w.call_later(0.1, fail)
    w.call_later(0.1, lambda: (ran.append(3), done.set()))
    with caplog.at_level(logging.ERROR, logger="geventws"):
        assert done.wait(5)
    assert ran == [1, 3]
    assert any("timer callback failed" in r.getMessage() and r.exc_info for r in caplog.records)


def test_one_wheel_per_hub() -> None:
    assert wheel_for() is wheel_for() is wheel_for(gevent.get_hub())


def test_a_timer_armed_again_runs_once_at_its_new_time_not_in_its_old_slot() -> None:
    w = wheel()
    loop = w.loop
    ran: list[tuple[str, float]] = []
    done = gevent.event.Event()
    start = loop.now()
    timer = w.call_later(0.1, lambda: ran.append(("old", loop.now())))
    keeper = w.call_later(0.1, lambda: None)  # keeps the old slot armed: it fires, without the timer
    again = w.call_later(0.3, lambda: (ran.append(("new", loop.now())), done.set()), timer)
    assert again is timer and len(w.slots) == 2
    assert done.wait(5)
    assert [what for what, _ in ran] == ["new"] and ran[0][1] - start >= 0.3 - 1e-3
    assert keeper.callback is None and not w.slots
    # Short timers too: the old libev timer is stopped, the object armed again.
    done.clear()
    short = w.call_later(0.02, lambda: ran.append(("short old", loop.now())))
    w.call_later(0.04, lambda: (ran.append(("short new", loop.now())), done.set()), short)
    assert done.wait(5)  # 20 ms after the old one was due
    assert [what for what, _ in ran] == ["new", "short new"]


def test_a_timer_armed_again_into_its_own_slot_runs_once() -> None:
    # A keepalive's pong deadline and its next ping can fall in the same slot: the
    # cancelled entry and the new one are both in the slot's list.
    w = wheel()
    ran: list[str] = []
    done = gevent.event.Event()
    keeper = w.call_later(0.2, lambda: done.set())  # keeps the slot armed across the cancel
    index = next(iter(w.slots))
    timer = w.call_later(into_slot(w, index), lambda: ran.append("old"))
    w.call_later(into_slot(w, index), lambda: ran.append("new"), timer)
    assert list(w.slots) == [index] and w.slots[index]._live == 2
    assert done.wait(5)
    assert ran == ["new"] and keeper.callback is None and not w.slots


@pytest.mark.parametrize("reuse", [False, True], ids=["new timer", "its own timer"])
def test_a_callback_may_arm_a_timer_again(reuse: bool) -> None:
    w = wheel()
    count = [0]
    done = gevent.event.Event()
    holder: list[timerwheel.WheelTimer] = []

    def again() -> None:
        count[0] += 1
        if count[0] < 3:
            w.call_later(0.08, again, holder[0] if reuse else None)
        else:
            done.set()

    holder.append(w.call_later(0.08, again))
    assert done.wait(5) and count[0] == 3 and not w.slots
