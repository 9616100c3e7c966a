"""The inbox that recv() reads: order, back-pressure, timeouts, closing. Greenlets, no sockets."""

from __future__ import annotations

import gevent
import gevent.event
import pytest

from geventws.exceptions import ConcurrencyError, ConnectionClosedError
from geventws.runtime.inbox import Inbox


def test_fifo() -> None:
    inbox = Inbox(4)
    inbox.put("a")
    inbox.put(b"b")
    assert len(inbox) == 2
    assert inbox.get() == "a"
    assert inbox.get() == b"b"


def test_get_times_out_with_the_builtin_timeout_error() -> None:
    with pytest.raises(TimeoutError):
        Inbox(1).get(timeout=0)


def test_put_blocks_while_full_until_a_get() -> None:
    inbox = Inbox(1)
    inbox.put("a")
    putter = gevent.spawn(inbox.put, "b")
    gevent.sleep(0)
    assert not putter.dead  # back-pressure: the receive greenlet would stop reading
    assert inbox.get() == "a"
    putter.join(5)
    assert putter.dead and inbox.get() == "b"


def test_get_wakes_when_a_message_arrives() -> None:
    inbox = Inbox(1)
    getter = gevent.spawn(inbox.get, 5)
    gevent.sleep(0)
    inbox.put("x")
    assert getter.get(timeout=5) == "x"


def test_two_readers_at_once_is_an_error() -> None:
    inbox = Inbox(1)
    getter = gevent.spawn(inbox.get, 5)
    gevent.sleep(0)
    with pytest.raises(ConcurrencyError):
        inbox.get(0)
    inbox.put("x")
    assert getter.get(timeout=5) == "x"


def test_close_raises_after_the_inbox_is_drained_and_reopen_undoes_it() -> None:
    inbox = Inbox(2)
    inbox.put("last")
    closed = ConnectionClosedError(1006)
    inbox.close(closed)
    assert inbox.get() == "last"
    with pytest.raises(ConnectionClosedError) as info:
        inbox.get()
    assert info.value is closed
    inbox.reopen()
    with pytest.raises(TimeoutError):
        inbox.get(0)


def test_close_wakes_a_waiting_reader() -> None:
    inbox = Inbox(1)

    def read() -> object:
        try:
            return inbox.get()
        except ConnectionClosedError as exc:
            return exc

    getter = gevent.spawn(read)
    gevent.sleep(0)
    closed = ConnectionClosedError(1006)
    inbox.close(closed)
    assert getter.get(timeout=5) is closed


def test_put_gives_up_on_a_full_inbox_once_abandoned() -> None:
    # Issue 9, point 10: a closing connection must not wait for the reader.
    inbox = Inbox(1)
    abandon = gevent.event.Event()
    assert inbox.put("a", abandon)
    putter = gevent.spawn(inbox.put, "b", abandon)
    gevent.sleep(0)
    assert not putter.dead
    abandon.set()
    putter.join(5)
    assert putter.value is False and len(inbox) == 1
    assert inbox.put("c", abandon) is False  # still full: dropped at once
    assert inbox.get() == "a" and inbox.put("d", abandon) is True  # room: appended


def test_an_idle_inbox_holds_no_queue() -> None:
    inbox = Inbox(4)
    assert inbox._items is None and len(inbox) == 0
    assert inbox.put(b"x")
    assert len(inbox) == 1
    assert inbox.get(timeout=1) == b"x"


def test_a_ready_message_is_taken_without_a_switch() -> None:
    inbox = Inbox(4)
    inbox.put(b"x")
    ran: list[bool] = []
    gevent.spawn(ran.append, True)  # runs at the next pass through the hub
    assert inbox.get(timeout=1) == b"x"
    assert ran == []  # get() never went through the hub
    gevent.sleep(0)
    assert ran == [True]


class Interrupt(Exception):
    pass


def test_an_interrupted_reader_is_not_woken_later_by_a_put() -> None:
    # The reader's waiter outlives its wait: a later put must not switch into
    # the greenlet, which is now waiting for something else.
    inbox = Inbox(4)
    elsewhere = gevent.event.Event()
    results: list[object] = []

    def reader() -> None:
        try:
            inbox.get()
        except Interrupt:
            results.append("interrupted")
        results.append(elsewhere.wait(5))

    greenlet = gevent.spawn(reader)
    gevent.sleep(0)  # the reader waits in get()
    greenlet.kill(Interrupt, block=False)
    gevent.sleep(0)
    gevent.sleep(0)
    assert results == ["interrupted"]  # and now waits on ``elsewhere``
    inbox.put(b"x")
    gevent.sleep(0)
    gevent.sleep(0)
    assert results == ["interrupted"] and not greenlet.dead
    elsewhere.set()
    greenlet.join(5)
    assert results == ["interrupted", True]
    assert len(inbox) == 1


def test_a_put_and_the_timeout_at_once_give_the_message() -> None:
    inbox = Inbox(4)
    getter = gevent.spawn(inbox.get, 0.0001)
    gevent.sleep(0)
    inbox.put(b"x")
    getter.join(5)
    # Either outcome is allowed by the timing, never both or a hang; no message is lost.
    if getter.successful():
        assert getter.value == b"x" and len(inbox) == 0
    else:
        assert isinstance(getter.exception, TimeoutError) and len(inbox) == 1
