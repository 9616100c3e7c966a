"""The closing handshake state machine, with plain values. No greenlets, no I/O."""

from __future__ import annotations

from geventws.protocol.closing import ClosingHandshake
from geventws.protocol.events import Close


def test_we_close_first_and_the_server_answers() -> None:
    closing = ClosingHandshake()
    assert closing.close(1000, "bye") == (1000, "bye")
    assert closing.sent and closing.initiator == "client" and closing.code is None
    assert closing.receive(Close(1000, "ok")) is None  # an answer is not answered
    assert (closing.code, closing.reason) == (1000, "ok")
    closing.lost()
    assert closing.code == 1000


def test_the_server_closes_first_and_we_echo_its_code() -> None:
    closing = ClosingHandshake()
    assert closing.receive(Close(4001, "done")) == (4001, "done")
    assert closing.initiator == "server" and closing.received
    assert (closing.code, closing.reason) == (4001, "done")
    assert closing.close(1000, "") is None  # only one close frame is ever sent


def test_a_close_without_code_is_answered_without_code() -> None:
    closing = ClosingHandshake()
    assert closing.receive(Close(1005, "")) == (None, "")
    assert closing.code == 1005


def test_our_close_unanswered_ends_with_1006() -> None:
    closing = ClosingHandshake()
    closing.close(1000, "")
    closing.lost()
    assert (closing.code, closing.reason) == (1006, "")


def test_lost_without_a_close_is_1006() -> None:
    closing = ClosingHandshake()
    closing.lost()
    assert closing.code == 1006 and not closing.sent and closing.initiator is None


def test_failing_sends_the_error_code_once_and_keeps_it() -> None:
    closing = ClosingHandshake()
    assert closing.fail(1007) == (1007, "")
    assert closing.fail(1002) is None
    closing.lost()
    assert (closing.code, closing.reason) == (1007, "")


def test_failing_after_our_close_records_the_code_but_sends_nothing() -> None:
    closing = ClosingHandshake()
    closing.close(1000, "")
    assert closing.fail(1009) is None
    assert closing.code == 1009
