"""Timing the phases of one attempt (runtime/timings.py), with an injected clock."""

from __future__ import annotations

import pytest

from geventws.runtime.timings import PhaseTimer


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_phases_recorded_and_summed_over_hops() -> None:
    clock = Clock()
    timer = PhaseTimer(clock)
    for phase, seconds in (("dns", 0.5), ("tcp", 1.0), ("upgrade", 2.0), ("tcp", 0.25)):
        with timer.phase(phase):
            clock.now += seconds
    result = timer.result()
    assert (result.dns, result.tcp, result.upgrade) == (0.5, 1.25, 2.0)
    assert result.tls is None and result.proxy is None
    assert result.total == pytest.approx(3.75)


def test_a_phase_that_fails_is_not_recorded() -> None:
    clock = Clock()
    timer = PhaseTimer(clock)
    with timer.phase("dns"):
        clock.now += 1
    with pytest.raises(OSError), timer.phase("tcp"):
        clock.now += 5
        raise OSError("refused")
    result = timer.result()
    assert (result.dns, result.tcp, result.total) == (1.0, None, 1.0)


def test_nothing_measured_yet() -> None:
    result = PhaseTimer(Clock()).result()
    assert result.total is None and result.dns is None
