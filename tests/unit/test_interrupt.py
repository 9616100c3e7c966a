"""AttemptInterrupt: our kill always lands inside the attempt; anyone else's propagates."""

from __future__ import annotations

from collections.abc import Callable

import gevent
import gevent.event
import greenlet
import pytest

from geventws.runtime.interrupt import AttemptInterrupt


class Calls:
    """An attempt made of two functions: the attempt, and what runs after a late kill."""

    def __init__(self, attempt: Callable[[], object], after_late_kill: Callable[[], object]) -> None:
        self._attempt, self._after = attempt, after_late_kill

    def _run(self) -> None:
        self._attempt()

    def _cleanup(self) -> None:
        self._after()


def test_a_kill_caught_by_the_attempt_ends_it() -> None:
    interrupt = AttemptInterrupt()
    events: list[str] = []

    def attempt() -> None:
        try:
            gevent.sleep(10)
        except gevent.GreenletExit:
            events.append(f"caught, ours: {interrupt.taken()}")

    runner = gevent.spawn(interrupt.run, Calls(attempt, lambda: events.append("late")))
    gevent.sleep(0)
    assert interrupt.greenlet is runner
    interrupt.interrupt()
    interrupt.interrupt()  # once only
    runner.join(5)
    assert events == ["caught, ours: True"] and runner.successful()
    assert interrupt.greenlet is None


def test_a_kill_that_lands_after_the_attempt_is_taken_at_its_end() -> None:
    # The kill is queued while the attempt cannot be switched out of: it ends
    # first, and the kill must not reach the code that runs after run().
    interrupt = AttemptInterrupt()
    after: list[str] = []

    def attempt() -> None:
        greenlet.greenlet(interrupt.interrupt).switch()  # another greenlet, no hub pass

    def supervisor() -> None:
        interrupt.run(Calls(attempt, lambda: after.append("late")))
        after.append("after run")
        gevent.sleep(0.01)  # would receive the kill if it were still pending
        after.append("slept")

    runner = gevent.spawn(supervisor)
    runner.join(5)
    assert runner.successful() and after == ["after run", "slept"]


def test_a_kill_that_lands_in_the_cleanup_runs_it_again() -> None:
    interrupt = AttemptInterrupt()
    after: list[str] = []

    def attempt() -> None:
        try:
            greenlet.greenlet(interrupt.interrupt).switch()
        finally:
            gevent.sleep(0)  # the cleanup blocks: the kill lands here, outside any catch

    runner = gevent.spawn(interrupt.run, Calls(attempt, lambda: after.append("late")))
    runner.join(5)
    assert runner.successful() and after == ["late"]


def test_someone_elses_kill_propagates() -> None:
    interrupt = AttemptInterrupt()
    reached: list[str] = []

    def supervisor() -> None:
        interrupt.run(Calls(lambda: gevent.sleep(10), lambda: None))
        reached.append("after run")

    runner = gevent.spawn(supervisor)
    gevent.sleep(0)
    runner.kill(block=True, timeout=5)
    assert runner.dead and reached == []


def test_the_running_greenlet_cannot_interrupt_itself() -> None:
    interrupt = AttemptInterrupt()

    def attempt() -> None:
        interrupt.interrupt()
        gevent.sleep(0)

    interrupt.run(Calls(attempt, pytest.fail))
