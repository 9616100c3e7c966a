"""A fleet: many connections opened, used and closed together.

For load generators, fan-in clients and benchmarks::

    with geventws.Fleet("ws://127.0.0.1:8000/", 5000, max_in_flight=200) as fleet:
        report = fleet.open(timeout=60)          # never hangs: failures are in the report
        fleet.broadcast("subscribe")
        fleet.echo(b"x" * 32, timeout=10)        # one round trip per connection: RTT samples
        print(report.rate, fleet.totals())
    # leaving the block closes every connection with 1001 within close's deadline

Theory of operation
-------------------

The fleet is built on :class:`~geventws.Connection`'s public callback face only.
Every connection shares one :class:`~geventws.HandshakeLimiter` (handshakes in
flight, and an optional ramp in connections per second) and one set of bound
methods as callbacks, so a connection costs the fleet a :class:`ConnStats` and a
dictionary slot, nothing more. :meth:`Fleet.open` and :meth:`Fleet.echo` wait on
one event that the callbacks set when the last connection settled; no polling.
:meth:`Fleet.close` runs the closing handshakes from a bounded pool of
greenlets, under one deadline.
"""

from __future__ import annotations

import collections
import dataclasses
import logging
import time
from collections.abc import Callable, Sequence
from types import TracebackType
from typing import Any

import gevent
import gevent.event
import gevent.pool

from .callbacks import CALLBACKS
from .connection import Connection
from .protocol.codes import ErrorCode
from .protocol.options import Options, make_options
from .protocol.state import State
from .runtime.limiter import HandshakeLimiter

__all__ = ["CloseReport", "ConnStats", "Fleet", "OpenReport"]

logger = logging.getLogger("geventws")

#: The callbacks the fleet sets on its connections (``on_message`` may be chained).
_OWN_CALLBACKS = frozenset(
    {"on_websocket_connect", "on_message", "on_error", "on_close", "on_give_up", "limiter"}
)
#: Errors kept per connection (the count goes on).
_MAX_ERRORS = 8


class ConnStats:
    """What one connection of a fleet did; ``index`` is its place in :attr:`Fleet.connections`."""

    __slots__ = (
        "_echo_sent",
        "bytes_in",
        "bytes_out",
        "error_count",
        "errors",
        "index",
        "last_error",
        "messages_in",
        "messages_out",
        "opens",
        "rtts",
    )

    def __init__(self, index: int) -> None:
        self.index = index
        self.messages_in = 0
        self.bytes_in = 0
        self.messages_out = 0
        self.bytes_out = 0
        #: Handshakes that succeeded (1 + reconnects once open).
        self.opens = 0
        #: Round-trip times in seconds, from :meth:`Fleet.echo`.
        self.rtts: list[float] = []
        #: The first few ``(code, message)`` reports of ``on_error``.
        self.errors: list[tuple[ErrorCode, str]] = []
        self.error_count = 0
        #: The last ``(code, message)`` of ``on_error``.
        self.last_error: tuple[ErrorCode, str] | None = None
        self._echo_sent: collections.deque[float] | None = None

    @property
    def reconnects(self) -> int:
        """Handshakes after the first one."""
        return max(0, self.opens - 1)


@dataclasses.dataclass(frozen=True)
class OpenReport:
    """The result of :meth:`Fleet.open`."""

    #: Connections open when it returned.
    opened: int
    #: ``(index, code, message)`` of every connection that failed to open for good.
    failed: list[tuple[int, ErrorCode | None, str]]
    #: Connections neither open nor failed when the deadline came.
    pending: int
    #: Seconds from the first connect() until the last connection settled (or the deadline).
    seconds: float

    @property
    def all_open(self) -> bool:
        """Whether every connection opened (none failed, none still pending)."""
        return not self.failed and not self.pending

    @property
    def rate(self) -> float:
        """Connections opened per second."""
        return self.opened / self.seconds if self.seconds > 0 else 0.0


@dataclasses.dataclass(frozen=True)
class CloseReport:
    """The result of :meth:`Fleet.close`."""

    #: Connections finished for good when it returned.
    closed: int
    #: Connections still closing at the deadline (each one's own ``close_timeout`` ends it).
    not_closed: int
    seconds: float


class Fleet:
    """``count`` connections to ``url`` (or to each URL of a list in turn), managed together.

    ``max_in_flight`` bounds the handshakes in progress at once and
    ``per_second`` ramps the starts (both through one shared
    :class:`~geventws.HandshakeLimiter`); ``on_message(conn, data)``, if given,
    is called after the fleet counted the message. The other keyword options
    are :class:`~geventws.Connection`'s (``ping_interval``, ``reconnect``,
    ``headers``…), the same for every connection.

    A fleet is used from the greenlets of one hub (its connections' methods
    may still be called from other threads, as always).
    """

    def __init__(
        self,
        url: str | Sequence[str],
        count: int,
        *,
        max_in_flight: int | None = 100,
        per_second: float | None = None,
        on_message: Callable[[Connection, str | bytes], object] | None = None,
        **options: Any,
    ) -> None:
        if count < 0:
            raise ValueError("count must be >= 0")
        taken = _OWN_CALLBACKS.intersection(options)
        if taken:
            raise TypeError(f"Fleet sets these itself: {', '.join(sorted(taken))}")
        urls = [url] if isinstance(url, str) else list(url)
        if not urls:
            raise ValueError("at least one URL is needed")
        self.limiter = HandshakeLimiter(max_in_flight, per_second)
        self._on_message_hook = on_message
        self._stats: dict[Connection, ConnStats] = {}
        #: The connections, in the order they were created.
        self.connections: list[Connection] = []
        callbacks: dict[str, Any] = {name: options.pop(name) for name in CALLBACKS if name in options}
        callbacks.update(  # the fleet's own, bound once: the same method objects for every connection
            on_websocket_connect=self._on_open,
            on_message=self._on_message,
            on_error=self._on_error,
            on_close=self._on_close,
            on_give_up=self._on_give_up,
        )
        shared: dict[str, Options] = {}  # checked once per URL, shared by its connections
        for index in range(count):
            url_of = urls[index % len(urls)]
            opts = shared.get(url_of)
            if opts is None:
                opts = shared[url_of] = make_options(url_of, limiter=self.limiter, **options)
            conn = Connection(opts, **callbacks)
            self._stats[conn] = ConnStats(index)
            self.connections.append(conn)
        self._waiting: set[int] = set()  # indices open() still waits for
        self._settled = gevent.event.Event()
        self._failed: dict[int, tuple[ErrorCode | None, str]] = {}
        self._echo_outstanding = 0
        self._echoed = gevent.event.Event()

    # -- opening -----------------------------------------------------------------

    def open(self, timeout: float | None = 60.0) -> OpenReport:
        """Start every connection and wait until each is open or failed for good.

        Never waits past ``timeout`` seconds: connections still pending then
        are counted in :attr:`OpenReport.pending` (and keep trying). A
        connection without a ``reconnect`` policy fails for good after its
        first failed attempt; with one, when the policy gives up.
        """
        started = time.monotonic()
        self._failed.clear()
        waiting = [c for c in self.connections if c.state is not State.OPEN]
        self._waiting = {self._stats[conn].index for conn in waiting}
        self._settled.clear()
        if not waiting:
            self._settled.set()
        for conn in waiting:
            conn.connect()
        self._settled.wait(timeout)
        seconds = time.monotonic() - started
        failed = [(index, code, message) for index, (code, message) in sorted(self._failed.items())]
        return OpenReport(self.open_count, failed, len(self._waiting), seconds)

    def _settle(self, index: int) -> None:
        self._waiting.discard(index)
        if not self._waiting:
            self._settled.set()

    def _fail_open(self, conn: Connection) -> None:
        stats = self._stats[conn]
        if stats.index not in self._waiting:
            return
        self._failed[stats.index] = stats.last_error or (None, "closed before it opened")
        self._settle(stats.index)

    # -- the callbacks (shared by every connection) ------------------------------

    def _on_open(self, conn: Connection, response: object) -> None:
        stats = self._stats[conn]
        stats.opens += 1
        if stats.index in self._waiting:
            self._settle(stats.index)

    def _on_message(self, conn: Connection, data: str | bytes) -> None:
        stats = self._stats[conn]
        stats.messages_in += 1
        stats.bytes_in += len(data)
        sent = stats._echo_sent
        if sent:
            stats.rtts.append(time.monotonic() - sent.popleft())
            self._echo_outstanding -= 1
            if self._echo_outstanding <= 0:
                self._echoed.set()
        if self._on_message_hook is not None:
            self._on_message_hook(conn, data)

    def _on_error(self, conn: Connection, code: ErrorCode, message: str) -> None:
        stats = self._stats[conn]
        stats.error_count += 1
        stats.last_error = (code, message)
        if len(stats.errors) < _MAX_ERRORS:
            stats.errors.append((code, message))

    def _on_close(self, conn: Connection) -> None:
        stats = self._stats[conn]
        if stats._echo_sent:
            self._echo_outstanding -= len(stats._echo_sent)
            stats._echo_sent.clear()
            if self._echo_outstanding <= 0:
                self._echoed.set()
        if conn.options.reconnect is None:
            self._fail_open(conn)  # no-op unless open() still waits for it

    def _on_give_up(self, conn: Connection, error: object) -> None:
        self._fail_open(conn)

    # -- using -------------------------------------------------------------------

    @property
    def open_count(self) -> int:
        """Connections open now."""
        return sum(1 for conn in self.connections if conn.state is State.OPEN)

    def open_connections(self) -> list[Connection]:
        """The connections open now."""
        return [conn for conn in self.connections if conn.state is State.OPEN]

    def send(self, conn: Connection, data: str | bytes) -> None:
        """``conn.send(data)``, counted in the connection's stats."""
        conn.send(data)
        stats = self._stats[conn]
        stats.messages_out += 1
        stats.bytes_out += len(data)

    def broadcast(self, data: str | bytes) -> int:
        """Send ``data`` on every open connection; how many it was written to.

        A connection that fails during the broadcast is skipped (its error is
        in its stats); the others still get the message.
        """
        written = 0
        for conn in self.open_connections():
            try:
                self.send(conn, data)
            except Exception as exc:  # ConnectionClosed and friends: counted, not raised
                self._on_error(conn, ErrorCode.SEND_FAIL, str(exc))
                continue
            written += 1
        return written

    def echo(self, data: str | bytes, timeout: float | None = 10.0) -> int:
        """One round trip on every open connection, against an echo server.

        Sends ``data`` on each, waits (up to ``timeout``) for one message back
        on each and adds the round-trip time to its :attr:`ConnStats.rtts`.
        Returns how many replies arrived. Messages that arrive later still
        count as replies to the oldest request outstanding.
        """
        self._echoed.clear()
        before = sum(len(stats.rtts) for stats in self._stats.values())
        for conn in self.open_connections():
            stats = self._stats[conn]
            if stats._echo_sent is None:
                stats._echo_sent = collections.deque()
            stats._echo_sent.append(time.monotonic())
            self._echo_outstanding += 1
            try:
                self.send(conn, data)
            except Exception as exc:
                stats._echo_sent.pop()
                self._echo_outstanding -= 1
                self._on_error(conn, ErrorCode.SEND_FAIL, str(exc))
        if self._echo_outstanding > 0:
            self._echoed.wait(timeout)
        return sum(len(stats.rtts) for stats in self._stats.values()) - before

    # -- results -----------------------------------------------------------------

    @property
    def stats(self) -> list[ConnStats]:
        """Per-connection stats, in the order of :attr:`connections`."""
        return [self._stats[conn] for conn in self.connections]

    def totals(self) -> dict[str, float]:
        """Sums over the fleet, and the RTT median and maximum in seconds (0 without samples)."""
        stats = self.stats
        rtts = sorted(rtt for s in stats for rtt in s.rtts)
        return {
            "connections": len(stats),
            "open": self.open_count,
            "messages_in": sum(s.messages_in for s in stats),
            "bytes_in": sum(s.bytes_in for s in stats),
            "messages_out": sum(s.messages_out for s in stats),
            "bytes_out": sum(s.bytes_out for s in stats),
            "errors": sum(s.error_count for s in stats),
            "reconnects": sum(s.reconnects for s in stats),
            "rtt_samples": len(rtts),
            "rtt_median": rtts[len(rtts) // 2] if rtts else 0.0,
            "rtt_max": rtts[-1] if rtts else 0.0,
        }

    # -- closing -----------------------------------------------------------------

    def close(
        self, code: int = 1001, reason: str = "", timeout: float | None = 10.0, concurrency: int = 500
    ) -> CloseReport:
        """Close every connection (1001 "going away" by default) within ``timeout`` seconds.

        Up to ``concurrency`` closing handshakes run at once. Connections
        still closing at the deadline are reported in
        :attr:`CloseReport.not_closed`; their own ``close_timeout`` ends them.
        """
        started = time.monotonic()
        pool = gevent.pool.Pool(concurrency)
        closer = gevent.spawn(self._close_each, pool, code, reason)
        closer.name = "geventws-fleet-closer"
        closer.join(timeout)
        closer.kill()
        pool.kill()
        closed = sum(1 for conn in self.connections if conn.finished or conn.state is State.INITIAL)
        return CloseReport(closed, len(self.connections) - closed, time.monotonic() - started)

    def _close_each(self, pool: gevent.pool.Pool, code: int, reason: str) -> None:
        for conn in self.connections:
            if conn.state is not State.INITIAL and not conn.finished:
                pool.spawn(_close_one, conn, code, reason).name = "geventws-fleet-close"
        pool.join()

    def __enter__(self) -> Fleet:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def _close_one(conn: Connection, code: int, reason: str) -> None:
    try:
        conn.close(code, reason)
    except Exception:  # a close that fails is logged; the other closes go on
        logger.exception("closing %s failed", conn.url)
