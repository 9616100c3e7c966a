"""The reconnect policy, driven by an injected random source and clock (no waiting)."""

from __future__ import annotations

import ssl

import pytest

import geventws
from geventws.exceptions import InvalidHeader
from geventws.protocol.backoff import Backoff, ReconnectPolicy, Verdict, default_classifier, retry_after
from geventws.protocol.headers import Headers


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def start(policy: ReconnectPolicy, rng: float = 1.0) -> tuple[Backoff, FakeClock]:
    clock = FakeClock()
    return policy.start(rng=lambda: rng, clock=clock), clock


def refused() -> geventws.ConnectError:
    return geventws.ConnectError("refused")


def test_exact_delay_sequence_without_jitter() -> None:
    policy = ReconnectPolicy(first_delay=5, min_delay=1, factor=2, max_delay=10, jitter=0)
    backoff, _ = start(policy, rng=0.5)
    delays = [backoff.next_delay(refused()) for _ in range(7)]
    # first: uniform(0, 5) -> 2.5 with rng 0.5; then 1, 2, 4, 8, capped at 10
    assert delays == [2.5, 1, 2, 4, 8, 10, 10]


def test_jitter_scales_down_within_bounds() -> None:
    policy = ReconnectPolicy(first_delay=1, min_delay=4, factor=1, jitter=0.5)
    low, _ = start(policy, rng=1.0)
    high, _ = start(policy, rng=0.0)
    low.next_delay(None)
    high.next_delay(None)
    assert low.next_delay(None) == 2.0  # 4 * (1 - 0.5 * 1.0)
    assert high.next_delay(None) == 4.0  # 4 * (1 - 0.5 * 0.0)


def test_first_delay_is_random_between_zero_and_first_delay() -> None:
    policy = ReconnectPolicy(first_delay=5)
    assert start(policy, rng=0.0)[0].next_delay(None) == 0.0
    assert start(policy, rng=0.999)[0].next_delay(None) == pytest.approx(4.995)


def test_reset_after_a_connection_that_stayed_open() -> None:
    policy = ReconnectPolicy(first_delay=1, min_delay=1, factor=2, jitter=0, reset_after=10)
    backoff, clock = start(policy, rng=1.0)
    assert [backoff.next_delay(refused()) for _ in range(3)] == [1, 1, 2]
    backoff.opened()
    clock.now += 9.9  # dropped too soon: the sequence goes on
    assert backoff.next_delay(None) == 4
    backoff.opened()
    clock.now += 10  # stayed open long enough: start over
    assert backoff.next_delay(None) == 1
    assert backoff.attempt == 1


def test_max_attempts_gives_up() -> None:
    backoff, _ = start(ReconnectPolicy(max_attempts=3))
    assert [backoff.next_delay(refused()) is not None for _ in range(4)] == [True, True, True, False]


def test_max_elapsed_gives_up() -> None:
    backoff, clock = start(ReconnectPolicy(max_elapsed=30))
    assert backoff.next_delay(refused()) is not None
    clock.now += 29
    assert backoff.next_delay(refused()) is not None
    clock.now += 1
    assert backoff.next_delay(refused()) is None


def handshake_error(status: int, **headers: str) -> geventws.HandshakeError:
    return geventws.HandshakeError(f"HTTP {status}", status, Headers(headers))


@pytest.mark.parametrize("status", [401, 403, 404, 400, 426])
def test_client_errors_give_up(status: int) -> None:
    assert default_classifier(handshake_error(status)) == Verdict(False)


@pytest.mark.parametrize("status", [500, 502, 503, 504, 429, 408])
def test_server_errors_and_throttling_retry(status: int) -> None:
    assert default_classifier(handshake_error(status)).retry


def test_retry_after_is_honoured() -> None:
    backoff, _ = start(ReconnectPolicy(first_delay=1, jitter=0))
    assert backoff.next_delay(handshake_error(503, **{"Retry-After": "7"})) == 7.0
    assert default_classifier(handshake_error(429, **{"Retry-After": "soon"})) == Verdict(True, 0.0)


def test_certificate_failure_gives_up_other_tls_failures_retry() -> None:
    verify = geventws.TLSError("bad cert")
    verify.__cause__ = ssl.SSLCertVerificationError("self-signed")
    other = geventws.TLSError("eof")
    other.__cause__ = ssl.SSLEOFError()
    assert default_classifier(verify) == Verdict(False)
    assert default_classifier(other).retry


@pytest.mark.parametrize(
    "error",
    [
        None,
        geventws.ConnectError("refused"),
        geventws.OpenTimeout("slow"),
        geventws.PingTimeout("dead"),
        geventws.ConnectionClosedError(1006),
        geventws.ProtocolError("bad frame"),
    ],
)
def test_network_failures_retry(error: geventws.WebSocketError | None) -> None:
    assert default_classifier(error).retry


def test_bad_url_gives_up() -> None:
    assert not default_classifier(geventws.InvalidURL("x", "bad")).retry


def test_custom_classifier() -> None:
    policy = ReconnectPolicy(jitter=0, first_delay=1, classify=lambda e: Verdict(e is None, 3.0))
    backoff, _ = start(policy)
    assert backoff.next_delay(None) == 3.0
    assert backoff.next_delay(refused()) is None


def test_policy_is_frozen_and_checked() -> None:
    policy = ReconnectPolicy()
    with pytest.raises(AttributeError):
        policy.max_delay = 1  # type: ignore[misc]
    for bad in ({"factor": 0.5}, {"jitter": 2}, {"max_attempts": 0}, {"first_delay": -1}):
        with pytest.raises(ValueError):
            ReconnectPolicy(**bad)  # type: ignore[arg-type]


# -- issue 9 #7: a server's Retry-After cannot override the policy's bounds ------------------------


@pytest.mark.parametrize("value", ["inf", "Infinity", "1e12", "1e400", "Fri, 31 Dec 9999 23:59:59 GMT"])
def test_retry_after_is_cut_to_max_delay(value: str) -> None:
    backoff, _ = start(ReconnectPolicy(first_delay=0.5, min_delay=0.5, max_delay=1, jitter=0))
    assert backoff.next_delay(handshake_error(503, **{"Retry-After": value})) == 1


@pytest.mark.parametrize("value", ["nan", "-5", "-inf", "", "soon", "Thu, 01 Jan 1970 00:00:00 GMT", "3, 4"])
def test_retry_after_that_says_nothing_useful_is_ignored(value: str) -> None:
    backoff, _ = start(ReconnectPolicy(first_delay=0.5, jitter=0))
    assert backoff.next_delay(handshake_error(503, **{"Retry-After": value})) == 0.5


def test_retry_after_http_date_is_measured_on_the_injected_wall_clock() -> None:
    error = handshake_error(503, **{"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"})
    assert retry_after(error, now=lambda: 1445412480.0 - 30) == 30.0  # 30 s before that date
    assert retry_after(error, now=lambda: 1445412480.0 + 30) == 0.0
    assert retry_after(handshake_error(503, **{"Retry-After": " 7 "})) == 7.0


def test_max_elapsed_stops_a_server_that_always_says_retry_after_inf() -> None:
    # The issue: max_delay=1, max_elapsed=2 and "Retry-After: inf" retried after inf seconds.
    backoff, clock = start(ReconnectPolicy(first_delay=1, min_delay=1, max_delay=1, max_elapsed=2, jitter=0))
    error = handshake_error(503, **{"Retry-After": "inf"})
    waited = []
    for _ in range(10):
        delay = backoff.next_delay(error)
        if delay is None:
            break
        waited.append(delay)
        clock.now += delay
    assert waited == [1, 1]
    assert sum(waited) <= 2


def test_max_attempts_stops_a_server_that_always_says_retry_after_1e12() -> None:
    backoff, _ = start(ReconnectPolicy(max_attempts=3, max_delay=5))
    error = handshake_error(429, **{"Retry-After": "1e12"})
    assert [backoff.next_delay(error) for _ in range(4)] == [5, 5, 5, None]


def test_no_wait_reaches_past_max_elapsed() -> None:
    backoff, clock = start(
        ReconnectPolicy(first_delay=1, min_delay=8, max_delay=60, max_elapsed=10, jitter=0)
    )
    assert backoff.next_delay(refused()) == 1
    clock.now += 7
    assert backoff.next_delay(refused()) == 3  # 8 would end past the 10 s deadline
    clock.now += 3
    assert backoff.next_delay(refused()) is None


@pytest.mark.parametrize("not_before", [float("nan"), float("inf"), -1.0])
def test_a_classifier_not_before_is_bounded_too(not_before: float) -> None:
    policy = ReconnectPolicy(
        first_delay=1, max_delay=2, jitter=0, classify=lambda e: Verdict(True, not_before)
    )
    backoff, _ = start(policy)
    delay = backoff.next_delay(None)
    assert delay is not None and 0 <= delay <= 2


def test_bad_headers_give_up() -> None:
    assert not default_classifier(InvalidHeader("bad")).retry
