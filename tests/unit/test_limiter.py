"""The handshake limiter with an injected clock and sleep: no real waiting, no sockets."""

from __future__ import annotations

import gevent
import gevent.event
import pytest

from geventws.runtime.limiter import HandshakeLimiter


class FakeTime:
    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def test_starts_are_spaced_per_second() -> None:
    time = FakeTime()
    limiter = HandshakeLimiter(per_second=4, clock=time.clock, sleep=time.sleep)
    starts = []
    for _ in range(3):
        with limiter.slot():
            starts.append(time.now)
    assert starts == [0.0, 0.25, 0.5]
    assert time.sleeps == [0.25, 0.25]


def test_no_wait_when_starts_are_far_apart() -> None:
    time = FakeTime()
    limiter = HandshakeLimiter(per_second=1, clock=time.clock, sleep=time.sleep)
    with limiter.slot():
        pass
    time.now += 5
    with limiter.slot():
        pass
    assert time.sleeps == []


def test_in_flight_is_capped() -> None:
    limiter = HandshakeLimiter(max_in_flight=2)
    release = gevent.event.Event()
    peak = 0

    def handshake() -> None:
        nonlocal peak
        with limiter.slot():
            peak = max(peak, limiter.in_flight)
            release.wait()

    workers = [gevent.spawn(handshake) for _ in range(5)]
    gevent.sleep(0)
    assert limiter.in_flight == 2
    release.set()
    gevent.joinall(workers, timeout=5)
    assert all(w.dead for w in workers)
    assert peak == 2 and limiter.in_flight == 0


def test_a_failing_attempt_releases_its_slot() -> None:
    limiter = HandshakeLimiter(max_in_flight=1)
    with pytest.raises(RuntimeError), limiter.slot():
        raise RuntimeError("handshake failed")
    assert limiter.in_flight == 0
    with limiter.slot():
        assert limiter.in_flight == 1


@pytest.mark.parametrize("kwargs", [{"max_in_flight": 0}, {"per_second": 0}, {"per_second": -1}])
def test_bad_arguments(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        HandshakeLimiter(**kwargs)  # type: ignore[arg-type]
