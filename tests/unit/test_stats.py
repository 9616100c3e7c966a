"""The counters of a connection and their read-only views (protocol/stats.py)."""

from __future__ import annotations

import dataclasses

import pytest

from geventws.protocol.codes import OP_BINARY, OP_CLOSE, OP_CONT, OP_PING, OP_PONG, OP_TEXT, ErrorCode
from geventws.protocol.stats import ConnectTimings, Counters, Stats, StatsSnapshot, text_size


def test_fresh_counters_are_zero() -> None:
    assert Counters().snapshot(0.0, None) == Stats()


def test_messages_and_payload_bytes_each_way() -> None:
    counters = Counters()
    counters.received("héllo")  # 6 bytes in UTF-8
    counters.received(b"\x00" * 10)
    counters.sent(OP_TEXT, b"abc", False)
    counters.sent(OP_CONT, b"defg")  # the rest of a fragmented message: bytes, no new message
    counters.sent(OP_BINARY, memoryview(b"12345"))
    for control in (OP_PING, OP_PONG, OP_CLOSE):
        counters.sent(control, b"x" * 100)
    stats = counters.snapshot(0.0, None)
    assert (stats.messages_in, stats.bytes_in) == (2, 16)
    assert (stats.messages_out, stats.bytes_out) == (2, 12)


def test_attempts_reconnects_and_time_connected() -> None:
    counters = Counters()
    counters.attempt_started()
    counters.opened(10.0)
    counters.ended(12.5)
    counters.attempt_started()  # failed: never opened
    counters.ended(13.0)
    counters.attempt_started()
    counters.opened(20.0)
    stats = counters.snapshot(21.0, 0.25)
    assert (stats.connect_attempts, stats.reconnects, stats.opens) == (3, 2, 2)
    assert stats.time_connected == pytest.approx(3.5)  # 2.5 ended, 1.0 still open
    assert stats.last_ping_latency == 0.25


def test_errors_by_code_and_snapshots_do_not_change_afterwards() -> None:
    counters = Counters()
    counters.error(ErrorCode.CONNECT_FAIL)
    before = counters.snapshot(0.0, None)
    counters.error(ErrorCode.CONNECT_FAIL)
    counters.error(ErrorCode.PING_TIMEOUT)
    after = counters.snapshot(0.0, None)
    assert dict(before.errors) == {ErrorCode.CONNECT_FAIL: 1}
    assert dict(after.errors) == {ErrorCode.CONNECT_FAIL: 2, ErrorCode.PING_TIMEOUT: 1}
    with pytest.raises(TypeError):
        after.errors[ErrorCode.SEND_FAIL] = 1  # type: ignore[index]
    with pytest.raises(dataclasses.FrozenInstanceError):
        after.messages_in = 3  # type: ignore[misc]


def test_stats_add_up() -> None:
    one = Stats(messages_in=1, bytes_out=5, connect_attempts=2, reconnects=1, time_connected=1.5,
                last_ping_latency=0.1, errors={ErrorCode.SEND_FAIL: 1})  # fmt: skip
    two = Stats(messages_in=2, bytes_out=7, connect_attempts=1, time_connected=0.5,
                errors={ErrorCode.SEND_FAIL: 2, ErrorCode.TLS_FAIL: 1})  # fmt: skip
    total = one + two
    assert (total.messages_in, total.bytes_out, total.connect_attempts, total.reconnects) == (3, 12, 3, 1)
    assert total.time_connected == pytest.approx(2.0)
    assert total.last_ping_latency == 0.1
    assert dict(total.errors) == {ErrorCode.SEND_FAIL: 3, ErrorCode.TLS_FAIL: 1}


def test_snapshot_counts_states_and_sums() -> None:
    pairs = [("open", Stats(messages_in=1)), ("connecting", Stats()), ("open", Stats(messages_in=4))]
    snapshot = StatsSnapshot.of(pairs)
    assert snapshot.connections == 3
    assert dict(snapshot.states) == {"open": 2, "connecting": 1}
    assert snapshot.totals.messages_in == 5
    assert StatsSnapshot.of([]) == StatsSnapshot(0, {}, Stats())


def test_text_size_is_the_utf8_size() -> None:
    for text in ("", "ascii", "héllo", "€", "😀", "a\udc80b"):
        assert text_size(text) == len(text.encode("utf-8", "surrogatepass"))


def test_timings_default_to_none() -> None:
    assert ConnectTimings() == ConnectTimings(None, None, None, None, None, None)
