"""Reconnection policy: exponential backoff with jitter and a retry classifier.

Pure: no sockets, no greenlets. A :class:`ReconnectPolicy` is frozen and may
be shared by many connections; each connection keeps its own :class:`Backoff`
(the attempt counter and timers), built with :meth:`ReconnectPolicy.start`.

The delays, for attempt ``n`` (1 = the first reconnect after a drop)::

    n == 1:  uniform(0, first_delay)                        (RFC 6455 §7.2.3)
    n >= 2:  min(max_delay, min_delay * factor ** (n - 2)) * uniform(1 - jitter, 1)

and never less than a server's ``Retry-After``, itself cut to ``max_delay``
(``inf``, ``1e12``, a date years ahead: a server cannot hold a client forever).
No wait reaches past ``max_elapsed``: the last one ends at that deadline.
"""

from __future__ import annotations

import dataclasses
import email.utils
import math
import random
import ssl
import time
from collections.abc import Callable
from typing import NamedTuple

from ..exceptions import (
    HandshakeError,
    InvalidHeader,
    InvalidMessage,
    InvalidURL,
    TLSError,
    WebSocketError,
)

__all__ = ["Verdict", "ReconnectPolicy", "Backoff", "default_classifier", "retry_after"]


class Verdict(NamedTuple):
    """A classifier's decision: retry or give up, and the earliest retry (seconds)."""

    retry: bool
    not_before: float = 0.0


#: Statuses worth retrying: the server is overloaded, restarting or throttling.
RETRY_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})


def retry_after(error: HandshakeError, now: Callable[[], float] = time.time) -> float:
    """The ``Retry-After`` of a rejected handshake in seconds, from now.

    Either delay-seconds or an HTTP-date (RFC 9110 §10.2.3); 0 when absent,
    unreadable, negative, NaN or a date in the past. May be ``inf``: the caller
    bounds it (:class:`Backoff` cuts it to ``max_delay``). ``now`` is the wall
    clock that HTTP-dates are measured against.
    """
    value = (error.headers.get("Retry-After", "") if error.headers else "").strip()
    try:
        seconds = float(value)
    except ValueError:
        seconds = _seconds_until(value, now)
    return seconds if seconds > 0 else 0.0  # NaN > 0 is False


def _seconds_until(http_date: str, now: Callable[[], float]) -> float:
    try:
        when = email.utils.parsedate_to_datetime(http_date)
    except (TypeError, ValueError, IndexError, OverflowError):
        return 0.0
    if when.tzinfo is None:  # "-0000": RFC 9110 dates are in GMT
        return 0.0
    return when.timestamp() - now()


def default_classifier(error: WebSocketError | None) -> Verdict:
    """Retry network failures, timeouts, drops and 5xx/408/425/429 (honouring
    ``Retry-After``); give up on other HTTP statuses (401, 403, 404…), on a
    handshake the server answered wrongly, on certificate failures and on bad
    URLs, headers or payloads. ``None`` means the connection was open and closed."""
    if error is None:
        return Verdict(True)
    if isinstance(error, HandshakeError):
        if error.status in RETRY_STATUSES or 500 <= error.status <= 599:
            return Verdict(True, retry_after(error))
        return Verdict(error.status == 0)  # 0: the connection broke mid-handshake
    if isinstance(error, TLSError):
        return Verdict(not isinstance(error.__cause__, ssl.SSLCertVerificationError))
    if isinstance(error, (InvalidURL, InvalidHeader, InvalidMessage)):
        return Verdict(False)
    return Verdict(True)  # refused, DNS, timeouts, drops, ping timeouts, protocol errors


@dataclasses.dataclass(frozen=True)
class ReconnectPolicy:
    """When and whether to reconnect; frozen, shareable between connections.

    - ``first_delay``: the first reconnect waits a random time up to this.
    - ``min_delay``, ``factor``, ``max_delay``: the exponential backoff after it.
    - ``jitter``: each later delay is scaled by a random factor in
      ``[1 - jitter, 1]`` (0: none).
    - ``reset_after``: a connection that stayed open this long starts the
      sequence over; one that dropped sooner continues it.
    - ``max_attempts``: give up after this many failed reconnects in a row.
    - ``max_elapsed``: give up when this many seconds passed since the first
      failure of the current run.
    - ``classify``: ``classify(error) -> Verdict``; ``error`` is ``None`` when an
      open connection closed. Default: :func:`default_classifier`.
    """

    first_delay: float = 1.0
    min_delay: float = 1.0
    factor: float = 1.618
    max_delay: float = 60.0
    jitter: float = 0.5
    reset_after: float = 10.0
    max_attempts: int | None = None
    max_elapsed: float | None = None
    classify: Callable[[WebSocketError | None], Verdict] = default_classifier

    def __post_init__(self) -> None:
        for name in ("first_delay", "min_delay", "max_delay", "reset_after"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0")
        if self.factor < 1:
            raise ValueError("factor must be >= 1")
        if not 0 <= self.jitter <= 1:
            raise ValueError("jitter must be between 0 and 1")
        if self.max_attempts is not None and self.max_attempts < 1:
            raise ValueError("max_attempts must be >= 1 or None")
        if self.max_elapsed is not None and self.max_elapsed <= 0:
            raise ValueError("max_elapsed must be > 0 or None")

    def start(
        self,
        rng: Callable[[], float] = random.random,
        clock: Callable[[], float] = time.monotonic,
    ) -> Backoff:
        """A fresh :class:`Backoff` for one connection (``rng`` and ``clock`` injectable)."""
        return Backoff(self, rng, clock)

    def delay(self, attempt: int, rng: Callable[[], float] = random.random) -> float:
        """The delay before reconnect number ``attempt`` (1-based), before Retry-After."""
        if attempt <= 1:
            return self.first_delay * rng()
        base = min(self.max_delay, self.min_delay * self.factor ** (attempt - 2))
        return base * (1 - self.jitter * rng())


class Backoff:
    """One connection's progress through a :class:`ReconnectPolicy`."""

    __slots__ = ("policy", "_rng", "_clock", "attempt", "_run_started", "_opened_at")

    def __init__(
        self,
        policy: ReconnectPolicy,
        rng: Callable[[], float],
        clock: Callable[[], float],
    ) -> None:
        self.policy = policy
        self._rng = rng
        self._clock = clock
        #: Reconnects scheduled since the sequence last started over.
        self.attempt = 0
        self._run_started: float | None = None
        self._opened_at: float | None = None

    def opened(self) -> None:
        """The handshake succeeded."""
        self._opened_at = self._clock()

    def next_delay(self, error: WebSocketError | None) -> float | None:
        """Seconds to wait before the next attempt, or ``None`` to give up.

        ``error`` is why the last attempt ended (``None``: it was open and
        closed without an error).
        """
        now = self._clock()
        opened_at, self._opened_at = self._opened_at, None
        if opened_at is not None and now - opened_at >= self.policy.reset_after:
            self.reset()
        verdict = self.policy.classify(error)
        if not verdict.retry:
            return None
        if self._run_started is None:
            self._run_started = now
        policy = self.policy
        if policy.max_attempts is not None and self.attempt >= policy.max_attempts:
            return None
        if policy.max_elapsed is not None and now - self._run_started >= policy.max_elapsed:
            return None
        self.attempt += 1
        delay = max(policy.delay(self.attempt, self._rng), _bounded(verdict.not_before, policy.max_delay))
        if policy.max_elapsed is not None:
            delay = min(delay, self._run_started + policy.max_elapsed - now)
        return delay

    def reset(self) -> None:
        """Start the sequence over (as after a connection that stayed open)."""
        self.attempt = 0
        self._run_started = None


def _bounded(not_before: float, max_delay: float) -> float:
    """A server's (or classifier's) earliest retry, within ``[0, max_delay]``."""
    if math.isnan(not_before) or not_before <= 0:
        return 0.0
    return min(not_before, max_delay)
