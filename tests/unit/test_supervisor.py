"""The reconnect loop with an injected clock and wait: no real waiting, no sockets."""

from __future__ import annotations

from collections.abc import Callable

import gevent
import gevent.event

from geventws.exceptions import ConnectError, InvalidURL, WebSocketError
from geventws.protocol.backoff import ReconnectPolicy
from geventws.runtime.supervisor import Phase, Supervisor


class FakeTime:
    """A clock that only moves when the supervisor waits."""

    def __init__(self) -> None:
        self.now = 100.0
        self.waits: list[float] = []

    def clock(self) -> float:
        return self.now

    def wait(self, event: gevent.event.Event, timeout: float) -> bool:
        self.waits.append(timeout)
        self.now += timeout
        return False


class Owner:
    """What a connection would be to the supervisor: ``attempt`` and optional hooks."""

    def __init__(
        self,
        attempt: Callable[[], WebSocketError | None],
        on_reconnecting: Callable[..., object] = lambda *_: None,
        on_give_up: Callable[..., object] = lambda *_: None,
        on_finished: Callable[[], object] = lambda: None,
    ) -> None:
        self._run_attempt = attempt
        self.on_reconnecting, self.on_give_up, self.on_finished = on_reconnecting, on_give_up, on_finished

    def _reconnecting(self, attempt: int, delay: float, error: WebSocketError | None) -> None:
        self.on_reconnecting(attempt, delay, error)

    def _giving_up(self, attempts: int, error: WebSocketError | None) -> None:
        self.on_give_up(attempts, error)

    def _finished(self) -> None:
        self.on_finished()


def supervisor(
    outcomes: list[WebSocketError | None],
    policy: ReconnectPolicy | None = None,
    **hooks: object,
) -> tuple[Supervisor, FakeTime, list[float]]:
    """A supervisor whose attempts end with ``outcomes`` in turn; also returns the start times."""
    time = FakeTime()
    starts: list[float] = []

    def attempt() -> WebSocketError | None:
        starts.append(time.now)
        return outcomes.pop(0)

    backoff = policy.start(rng=lambda: 1.0, clock=time.clock) if policy is not None else None
    sup = Supervisor(Owner(attempt, **hooks), backoff=backoff, clock=time.clock, wait=time.wait)  # type: ignore[arg-type]
    return sup, time, starts


def test_one_attempt_without_policy_then_finished() -> None:
    finished: list[bool] = []
    sup, _, starts = supervisor([None], on_finished=lambda: finished.append(True))
    assert sup.phase is Phase.IDLE and sup.is_finished
    assert sup.schedule(0.0) is True
    assert not sup.is_finished
    assert sup.wait_finished(5)
    assert starts == [100.0]
    assert finished == [True]
    assert sup.phase is Phase.FINISHED and not sup.running and not sup.reconnect_pending


def test_delayed_start_waits_on_the_injected_clock() -> None:
    sup, time, starts = supervisor([None])
    sup.schedule(30.0)
    assert sup.wait_finished(5)
    assert time.waits == [30.0]
    assert starts == [130.0]


def test_policy_delays_and_give_up() -> None:
    policy = ReconnectPolicy(first_delay=1.0, min_delay=2.0, factor=2.0, jitter=0.0, max_attempts=3)
    reconnecting: list[tuple[int, float, WebSocketError | None]] = []
    gave_up: list[tuple[int, WebSocketError | None]] = []
    error = ConnectError("refused")
    sup, time, starts = supervisor(
        [error, error, error, error],
        policy,
        on_reconnecting=lambda *args: reconnecting.append(args),
        on_give_up=lambda *args: gave_up.append(args),
    )
    sup.schedule(0.0)
    assert sup.wait_finished(5)
    assert [delay for _, delay, _ in reconnecting] == [1.0, 2.0, 4.0]
    assert [attempt for attempt, _, _ in reconnecting] == [1, 2, 3]
    assert starts == [100.0, 101.0, 103.0, 107.0]
    assert gave_up == [(3, error)]
    assert time.waits == [1.0, 2.0, 4.0]


def test_fatal_error_gives_up_at_once() -> None:
    gave_up: list[object] = []
    sup, _, starts = supervisor(
        [InvalidURL("x", "bad")], ReconnectPolicy(), on_give_up=lambda *args: gave_up.append(args)
    )
    sup.schedule(0.0)
    assert sup.wait_finished(5)
    assert len(starts) == 1 and len(gave_up) == 1


def test_finish_requested_during_an_attempt_stops_the_loop() -> None:
    sup_box: list[Supervisor] = []

    def attempt() -> WebSocketError | None:
        sup_box[0].request_finish()  # close() while the attempt runs
        return ConnectError("refused")

    time = FakeTime()
    sup = Supervisor(
        Owner(attempt), backoff=ReconnectPolicy().start(clock=time.clock), clock=time.clock, wait=time.wait
    )
    sup_box.append(sup)
    sup.schedule(0.0)
    assert sup.wait_finished(5)
    assert time.waits == []


def test_a_callback_may_schedule_instead_of_the_policy() -> None:
    sup_box: list[Supervisor] = []
    sup, time, starts = supervisor(
        [ConnectError("refused"), None],
        ReconnectPolicy(first_delay=1.0, jitter=0.0, max_attempts=1),
        on_reconnecting=lambda *args: sup_box[0].schedule(50.0),  # reconnect(50) in the callback
    )
    sup_box.append(sup)
    sup.schedule(0.0)
    assert sup.wait_finished(5)
    assert starts == [100.0, 150.0]
    assert time.waits == [50.0]


def test_cancel_while_waiting_finishes() -> None:
    woken = gevent.event.Event()

    def attempt() -> WebSocketError | None:
        return None

    def wait(event: gevent.event.Event, timeout: float) -> bool:
        woken.set()
        return event.wait()  # a real wake-up, but no time passes

    sup = Supervisor(Owner(attempt), wait=wait)
    sup.schedule(3600.0)
    assert woken.wait(5)
    assert sup.phase is Phase.WAITING and sup.reconnect_pending
    sup.cancel()
    assert sup.wait_finished(5)
    assert sup.phase is Phase.FINISHED


def test_schedule_while_running_replaces_the_due_time() -> None:
    sup, _, _ = supervisor([None])
    assert sup.schedule(10.0) is True
    assert sup.schedule(0.0) is False  # the loop runs already: only the due time changes
    assert sup.wait_finished(5)


def test_finish_before_any_start() -> None:
    finished: list[bool] = []
    sup, _, starts = supervisor([], on_finished=lambda: finished.append(True))
    sup.finish()
    assert sup.phase is Phase.FINISHED and finished == [True] and starts == []


def test_an_event_exists_only_while_someone_waits_for_the_finish() -> None:
    release = gevent.event.Event()
    sup, _, _ = supervisor([None])
    sup._owner._run_attempt = lambda: release.wait(5) and None  # type: ignore[attr-defined]
    sup.schedule(0.0)
    assert sup._finished_event is None  # idle bytes: nobody waits yet
    woken = [gevent.spawn(sup.wait_finished, 5) for _ in range(3)]
    gevent.sleep(0)
    assert sup._finished_event is not None and not any(g.dead for g in woken)
    release.set()
    gevent.joinall(woken, timeout=5)
    assert [g.value for g in woken] == [True, True, True]
    assert sup._finished_event is None and sup.is_finished
    assert sup.wait_finished(0) is True
    assert sup.wait_finished(None) is True  # no event made to wait on a finished loop
    assert sup._finished_event is None
