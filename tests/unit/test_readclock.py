"""The reading clock: a fake clock for the arithmetic, greenlets only where it waits on events."""

from __future__ import annotations

import gevent
import gevent.event

from geventws.runtime.readclock import ReadingClock


class FakeClock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def test_the_clock_stands_still_while_paused() -> None:
    fake = FakeClock()
    clock = ReadingClock(fake)
    start = clock.now()
    fake.t += 1
    clock.pause()
    assert clock.paused
    fake.t += 5  # the application took 5 s to take a message
    assert clock.now() - start == 1
    clock.resume()
    fake.t += 2
    assert not clock.paused and clock.now() - start == 3


def test_pause_and_resume_are_idempotent() -> None:
    fake = FakeClock()
    clock = ReadingClock(fake)
    start = clock.now()
    clock.pause()
    fake.t += 1
    clock.pause()  # still the first pause
    fake.t += 1
    clock.resume()
    clock.resume()
    fake.t += 1
    assert clock.now() - start == 1


def test_wait_returns_true_when_an_event_is_set() -> None:
    clock = ReadingClock(FakeClock())
    event = gevent.event.Event()
    event.set()
    assert clock.wait(clock.now(), [event])


def test_wait_returns_false_when_the_reading_time_is_up() -> None:
    clock = ReadingClock(FakeClock())
    assert not clock.wait(clock.now(), [gevent.event.Event()])


def test_a_paused_clock_waits_for_the_resume_and_an_event_ends_the_wait() -> None:
    fake = FakeClock()
    clock = ReadingClock(fake)
    event = gevent.event.Event()
    clock.pause()
    fake.t += 1000  # far past the deadline, but paused: the countdown stands still
    waiter = gevent.spawn(clock.wait, clock.now() + 1, [event])
    gevent.sleep(0)
    assert not waiter.dead
    event.set()
    waiter.join(5)
    assert waiter.value is True


def test_a_resume_wakes_a_paused_wait_which_then_times_out() -> None:
    fake = FakeClock()
    clock = ReadingClock(fake)
    clock.pause()
    waiter = gevent.spawn(clock.wait, clock.now(), [gevent.event.Event()])
    gevent.sleep(0)
    assert not waiter.dead
    clock.resume()  # no reading time left: the wait ends at once
    waiter.join(5)
    assert waiter.value is False
