"""Pings waiting for their pong: payloads, acknowledgement order, cancelling. No sockets."""

from __future__ import annotations

from geventws.runtime.pings import PingTracker


def test_payload_is_the_data_or_random_and_never_one_already_waiting() -> None:
    tracker = PingTracker()
    assert tracker.new_payload(b"hi") == b"hi"
    assert len(tracker.new_payload(b"")) == 4
    tracker.add(b"hi")
    again = tracker.new_payload(b"hi")
    assert again != b"hi" and len(again) == 4


def test_a_pong_answers_its_ping_and_every_earlier_one() -> None:
    tracker = PingTracker()
    first, second, third = tracker.add(b"1"), tracker.add(b"2"), tracker.add(b"3")
    latency = tracker.received(b"2")
    assert latency is not None and latency >= 0
    assert first.wait(0) and second.wait(0) and second.latency == latency
    assert not third.wait(0)
    assert tracker.received(b"2") is None  # already answered
    assert tracker.received(b"unknown") is None


def test_cancel_all_wakes_the_waiters_without_latency() -> None:
    tracker = PingTracker()
    pong = tracker.add(b"x")
    tracker.cancel_all()
    assert pong.event.is_set()
    assert not pong.wait(0) and pong.latency is None
    assert tracker.received(b"x") is None
