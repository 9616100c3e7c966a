"""The reading clock: a fake clock for the arithmetic, the hub for its change callbacks."""

from __future__ import annotations

import gevent

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


def test_a_change_calls_back_once_from_the_hub() -> None:
    clock = ReadingClock(FakeClock())
    calls: list[bool] = []
    clock.call_on_change(lambda: calls.append(clock.paused))
    gevent.sleep(0)
    assert calls == []  # nothing changed yet
    clock.pause()
    assert calls == []  # called from the hub, not from inside pause()
    gevent.sleep(0)
    assert calls == [True]
    clock.resume()
    gevent.sleep(0)
    assert calls == [True]  # once: the watcher registers again if it still cares


def test_a_message_delivered_with_no_watcher_costs_no_event() -> None:
    clock = ReadingClock(FakeClock())
    clock.pause()
    clock.resume()
    assert clock._changed is None
