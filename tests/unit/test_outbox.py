"""The outbox and its full-buffer policy; greenlets only where "block" waits. No sockets."""

from __future__ import annotations

import gevent
import pytest

from geventws.exceptions import ConnectionClosedOK, InvalidMessage, SendBufferFull
from geventws.protocol.codes import OP_BINARY, OP_TEXT
from geventws.protocol.options import BINARY_TYPE_ARRAYBUFFER, BINARY_TYPE_BLOB
from geventws.runtime.outbox import Message, Outbox, message_for
from geventws.runtime.transport import WriteProgress


class Events:
    def __init__(self) -> None:
        self.full = 0
        self.lost: list[str] = []

    def outbox(self, max_bytes: int | None, max_messages: int | None, policy: str) -> Outbox:
        return Outbox(max_bytes, max_messages, policy, listener=self)

    def _buffer_full(self) -> None:
        self.full += 1

    def _sends_lost(self, text: str) -> None:
        self.lost.append(text)


def msg(n: int, size: int = 1) -> Message:
    return OP_BINARY, bytes([n]) * size


def drain(outbox: Outbox) -> list[Message]:
    written: list[Message] = []
    outbox.flush(lambda message, progress: written.append(message))
    return written


def test_fifo_and_flush() -> None:
    outbox = Events().outbox(None, None, "fail")
    for n in range(3):
        assert outbox.offer(msg(n))
    assert len(outbox) == 3 and outbox.nbytes == 3
    assert drain(outbox) == [msg(0), msg(1), msg(2)]
    assert not outbox and outbox.flush(lambda m, p: None) is False


def test_fail_policy_raises_and_reports_full() -> None:
    events = Events()
    outbox = events.outbox(None, 2, "fail")
    outbox.offer(msg(0))
    outbox.offer(msg(1))
    with pytest.raises(SendBufferFull):
        outbox.offer(msg(2))
    assert events.full == 1 and len(outbox) == 2


def test_drop_oldest_makes_room_and_reports_the_loss() -> None:
    events = Events()
    outbox = events.outbox(10, None, "drop_oldest")
    outbox.offer(msg(0, 4))
    outbox.offer(msg(1, 4))
    assert outbox.offer(msg(2, 6))
    assert drain(outbox) == [msg(1, 4), msg(2, 6)]
    assert events.full == 1
    assert events.lost == ["send buffer full: dropped the 1 oldest queued message(s), 4 bytes"]


def test_a_message_larger_than_the_bound_fits_an_empty_outbox() -> None:
    outbox = Events().outbox(10, None, "fail")
    assert outbox.offer(msg(0, 100))


def test_block_waits_for_room_then_lets_the_sender_decide_again() -> None:
    events = Events()
    outbox = events.outbox(None, 1, "block")
    outbox.offer(msg(0))
    results: list[bool] = []
    sender = gevent.spawn(lambda: results.append(outbox.offer(msg(1))))
    gevent.sleep(0)
    assert not sender.dead and events.full == 1
    assert drain(outbox) == [msg(0)]
    sender.join(5)
    assert results == [False]  # not queued: the caller checks whether it can write now
    assert outbox.offer(msg(1), notify_full=False)
    assert events.full == 1


def test_close_refuses_wakes_and_reports_unsent() -> None:
    events = Events()
    outbox = events.outbox(None, 1, "block")
    outbox.offer(msg(0, 3))
    blocked = gevent.spawn(outbox.offer, msg(1))
    gevent.sleep(0)
    outbox.close(ConnectionClosedOK(1000))
    assert blocked.get(timeout=5) is False  # woken: the sender decides again, and finds it closed
    assert events.lost == ["1 queued message(s), 3 bytes were never sent: the connection is finished"]
    with pytest.raises(ConnectionClosedOK):
        outbox.offer(msg(2))
    outbox.reopen()
    assert outbox.offer(msg(2))


def test_a_failed_write_keeps_the_message_at_the_front() -> None:
    outbox = Events().outbox(None, None, "fail")
    outbox.offer(msg(0))
    outbox.offer(msg(1))

    def broken(message: Message, progress: WriteProgress) -> None:
        progress.started = True  # part of it went out before the stream died
        raise ConnectionResetError

    with pytest.raises(ConnectionResetError):
        outbox.flush(broken)
    assert drain(outbox) == [msg(0), msg(1)]


@pytest.mark.parametrize(("started", "done"), [(False, False), (True, False), (True, True)])
def test_an_interrupted_write_is_kept_unless_the_transport_finishes_it(started: bool, done: bool) -> None:
    # Issue 9, point 2: a kill or timeout during the flush. Before the first byte
    # the message stays queued; after it, the transport goes on writing it: it
    # is put back at the next flush unless it was written whole by then.
    outbox = Events().outbox(None, None, "fail")
    outbox.offer(msg(0))
    outbox.offer(msg(1))
    progresses: list[WriteProgress] = []

    def interrupted(message: Message, progress: WriteProgress) -> None:
        progress.started = started
        progresses.append(progress)
        raise gevent.GreenletExit

    with pytest.raises(gevent.GreenletExit):
        outbox.flush(interrupted)
    progresses[0].done = done  # what the transport's helper achieved meanwhile
    assert drain(outbox) == ([msg(1)] if done else [msg(0), msg(1)])


@pytest.mark.parametrize("done", [False, True])
def test_close_reports_an_interrupted_write_that_was_not_finished(done: bool) -> None:
    events = Events()
    outbox = events.outbox(None, None, "fail")
    outbox.offer(msg(0, size=3))

    def interrupted(message: Message, progress: WriteProgress) -> None:
        progress.started = True
        progress.done = done
        raise gevent.GreenletExit

    with pytest.raises(gevent.GreenletExit):
        outbox.flush(interrupted)
    outbox.close(ConnectionClosedOK(1000, ""))
    assert events.lost == (
        [] if done else ["1 queued message(s), 3 bytes were never sent: the connection is finished"]
    )


def test_flush_stops_when_asked_and_keeps_the_rest() -> None:
    outbox = Events().outbox(None, None, "fail")
    for n in range(3):
        outbox.offer(msg(n))
    written: list[Message] = []
    assert outbox.flush(lambda message, progress: written.append(message), stop=lambda: len(written) == 1)
    assert written == [msg(0)] and drain(outbox) == [msg(1), msg(2)]


def test_message_for() -> None:
    assert message_for("é", None) == (OP_TEXT, "é".encode())
    assert message_for(b"\xff", None) == (OP_BINARY, b"\xff")
    assert message_for(bytearray(b"a"), None) == (OP_BINARY, b"a")
    assert message_for("a", BINARY_TYPE_ARRAYBUFFER) == (OP_BINARY, b"a")
    assert message_for(b"a", BINARY_TYPE_BLOB) == (OP_TEXT, b"a")
    with pytest.raises(InvalidMessage):
        message_for(b"\xff", BINARY_TYPE_BLOB)
    with pytest.raises(InvalidMessage):
        message_for("\ud800", None)
    with pytest.raises(TypeError):
        message_for(1, None)  # type: ignore[arg-type]


def test_an_idle_outbox_holds_no_queue_and_drops_it_once_drained() -> None:
    # Memory per idle connection: most connections never queue a message.
    outbox = Outbox(None, None, "fail")
    assert outbox._items is None
    outbox.offer((OP_BINARY, b"a"))
    outbox.offer((OP_BINARY, b"b"))
    written: list[Message] = []
    assert outbox.flush(lambda message, progress: written.append(message))
    assert written == [(OP_BINARY, b"a"), (OP_BINARY, b"b")]
    assert outbox._items is None and len(outbox) == 0 and not outbox


def test_only_a_blocked_sender_makes_the_outbox_an_event() -> None:
    # Memory per idle connection: the room Event exists for "block" waits only.
    outbox = Outbox(None, 1, "block")
    outbox.offer((OP_BINARY, b"a"))
    drain(outbox)
    outbox.close(ConnectionClosedOK(1000))
    assert outbox._room is None
    outbox.reopen()
    outbox.offer((OP_BINARY, b"a"))
    sender = gevent.spawn(outbox.offer, (OP_BINARY, b"b"))
    gevent.sleep(0)
    assert outbox._room is not None and not sender.dead
    drain(outbox)
    assert sender.get(timeout=5) is False  # woken by the room made
