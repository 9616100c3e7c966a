"""Calls from other OS threads (issue 9.9): the owner is known by object, and a
call after the owner's thread has ended fails at once instead of hanging.

Real threads, from the original (unpatched) modules."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import gevent
import gevent.event
import pytest
from gevent._hub_local import get_hub_if_exists
from gevent.monkey import get_original

import geventws
from geventws.exceptions import ConnectionClosed, ConnectionClosedError
from geventws.runtime.threads import HubThread
from tests.conftest import ServerProcess
from tests.support import WAIT

Thread: Any = get_original("threading", "Thread")
Event: Any = get_original("threading", "Event")
get_ident: Callable[[], int] = get_original("_thread", "get_ident")
real_sleep: Callable[[float], None] = get_original("time", "sleep")


def in_thread(fn: Callable[[], Any]) -> tuple[Any, BaseException | None, bool]:
    """Run ``fn`` in a new OS thread: (its result, its exception, whether it finished
    within WAIT). A thread that hangs is left behind as a daemon."""
    outcome: list[Any] = [None, None]

    def run() -> None:
        try:
            outcome[0] = fn()
        except BaseException as exc:
            outcome[1] = exc

    thread = Thread(target=run, daemon=True)
    thread.start()
    thread.join(WAIT)
    return outcome[0], outcome[1], not thread.is_alive()


def ended_owner(destroy_hub: bool = False) -> tuple[HubThread, int]:
    """A HubThread whose thread has ended, and its ident. A tidy thread destroys its hub;
    most just end."""
    box: list[Any] = []

    def owner() -> None:
        box.append(HubThread())
        box.append(get_ident())
        if destroy_hub:
            gevent.get_hub().destroy(destroy_loop=True)

    _, error, finished = in_thread(owner)
    assert finished and error is None
    return box[0], box[1]


def test_one_hub_thread_per_thread() -> None:
    mine = HubThread()
    assert HubThread() is mine and not mine.is_foreign() and mine.alive
    theirs, error, _ = in_thread(lambda: (HubThread(), mine.is_foreign()))
    assert error is None
    assert theirs[0] is not mine and theirs[1]


def test_call_runs_in_the_owner_thread() -> None:
    ready = Event()
    box: list[Any] = []

    def owner() -> None:
        box.append(HubThread())
        box.append(get_ident())
        finished = gevent.event.Event()
        box.append(finished)
        ready.set()
        finished.wait(10 * WAIT)  # a timeout keeps the hub's loop alive meanwhile
        gevent.get_hub().destroy(destroy_loop=True)

    thread = Thread(target=owner, daemon=True)
    thread.start()
    assert ready.wait(WAIT)
    hub_thread, ident, finished = box
    assert hub_thread.call(get_ident) == ident
    with pytest.raises(ZeroDivisionError):
        hub_thread.call(lambda: 1 / 0)
    hub_thread.call(finished.set)
    thread.join(WAIT)
    assert not thread.is_alive() and not hub_thread.alive


@pytest.mark.parametrize("destroy_hub", [False, True])
def test_call_after_the_owner_ended_fails_at_once(destroy_hub: bool) -> None:
    """It waited forever for a hub that would never run again."""
    hub_thread, _ = ended_owner(destroy_hub)
    _, error, finished = in_thread(lambda: hub_thread.call(lambda: "never"))
    assert finished, "the call hung"
    assert not hub_thread.alive
    assert isinstance(error, ConnectionClosedError) and error.code == 1006
    with pytest.raises(ConnectionClosedError):  # also from the calling thread's hub
        hub_thread.call(lambda: "never")


def test_call_pending_when_the_owner_ends_fails() -> None:
    """The call was handed over while the owner was busy (its hub not running),
    then the owner ended without running it."""
    ready, gate = Event(), Event()
    box: list[HubThread] = []

    def owner() -> None:
        box.append(HubThread())
        ready.set()
        gate.wait(WAIT)  # busy: never enters its hub again

    thread = Thread(target=owner, daemon=True)
    thread.start()
    assert ready.wait(WAIT)
    hub_thread = box[0]
    caller = Thread(target=lambda: box.append(hub_thread.call(lambda: "never")), daemon=True)
    errors: list[BaseException] = []
    caller.run = _catching(caller.run, errors)
    caller.start()
    deadline = time.monotonic() + WAIT
    while not hub_thread._pending and time.monotonic() < deadline:  # no event tells it: look
        real_sleep(0.001)
    assert hub_thread._pending, "the call was not handed over"
    gate.set()
    thread.join(WAIT)
    caller.join(WAIT)
    assert not caller.is_alive(), "the pending call hung"
    assert len(errors) == 1 and isinstance(errors[0], ConnectionClosedError)


def _catching(run: Callable[[], None], errors: list[BaseException]) -> Callable[[], None]:
    def wrapped() -> None:
        try:
            run()
        except BaseException as exc:
            errors.append(exc)

    return wrapped


def test_a_thread_reusing_the_ident_is_not_the_owner() -> None:
    """Thread ids are reused: the owner is known by object, not by id."""
    hub_thread, ident = ended_owner()
    reused = False
    for _ in range(50):  # the id of an ended thread is usually given to the next one
        (same_ident, foreign), error, finished = in_thread(
            lambda: (get_ident() == ident, hub_thread.is_foreign())
        )
        assert finished and error is None
        assert foreign
        if same_ident:
            reused = True
            _, error, finished = in_thread(lambda: hub_thread.call(lambda: "never"))
            assert finished and isinstance(error, ConnectionClosedError)
            break
    if not reused:
        pytest.skip("no thread reused the ended thread's id here (only is_foreign was checked)")


def test_connection_used_after_its_thread_ended(ws_server: ServerProcess) -> None:
    """A connection made and closed in a thread, used from another thread after
    that thread ended: ConnectionClosed at once (it hung, or raised LoopExit)."""
    box: list[geventws.Connection] = []

    def owner() -> None:
        ws = geventws.connect(ws_server.url("/"))
        ws.send("hello")
        assert ws.recv(timeout=WAIT) == "hello"
        ws.close()
        box.append(ws)

    _, error, finished = in_thread(owner)
    assert finished and error is None
    ws = box[0]
    _, error, finished = in_thread(lambda: ws.send("x"))
    assert finished, "send() hung"
    assert isinstance(error, ConnectionClosed)
    with pytest.raises(ConnectionClosed):
        ws.send("x")


def test_a_replaced_hub_gets_a_new_hub_thread() -> None:
    """A thread that destroys its hub and goes on with a new one: calls for the
    new hub's objects work; those for the destroyed hub fail at once."""
    ready, gate = Event(), Event()
    box: list[Any] = []

    def owner() -> None:
        old = HubThread()
        gevent.get_hub().destroy(destroy_loop=True)
        new = HubThread()
        finished = gevent.event.Event()
        box.extend([old, new, finished])
        ready.set()
        finished.wait(10 * WAIT)
        gate.set()

    thread = Thread(target=owner, daemon=True)
    thread.start()
    assert ready.wait(WAIT)
    old, new, finished = box
    assert new is not old and not old.alive and new.alive
    with pytest.raises(ConnectionClosedError):
        old.call(lambda: "never")
    assert new.call(lambda: "ran") == "ran"
    new.call(finished.set)
    assert gate.wait(WAIT)
    thread.join(WAIT)


def test_send_and_recv_from_another_thread_are_run_by_the_hub(ws_server: ServerProcess) -> None:
    """send() and recv() check the thread themselves (not through from_any_thread):
    from a worker OS thread they are handed to the owner's hub, and their
    results and errors come back to the worker."""
    outcome: dict[str, Any] = {}
    done = gevent.event.AsyncResult()  # set from the worker: gevent wakes the hub's waiter
    writers: list[int] = []  # the thread that wrote each frame (the trace runs in the writer)

    class Sink:
        def write(self, line: str) -> None:
            if "from the worker" in line and '"dir": "out"' in line:
                writers.append(get_ident())

    with geventws.connect(ws_server.url("/"), trace=Sink(), trace_payloads=True) as ws:

        def worker() -> None:
            try:
                outcome["ident"] = get_ident()
                ws.send("from the worker")
                outcome["echo"] = ws.recv(timeout=WAIT)
                try:
                    ws.recv(timeout=0.01)
                except TimeoutError as exc:
                    outcome["timeout"] = exc
                outcome["hub"] = get_hub_if_exists()  # a wait in this thread would have made one
            finally:
                done.set(True)

        Thread(target=worker, daemon=True).start()
        assert done.get(timeout=WAIT)
    assert outcome["ident"] != get_ident()
    assert outcome["echo"] == "from the worker"
    assert isinstance(outcome["timeout"], TimeoutError)
    assert outcome["hub"] is None
    assert writers == [get_ident()]
