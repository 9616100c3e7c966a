"""Counters of one connection, and the read-only views users get of them.

Sans-I/O: the runtime calls the :class:`Counters` methods as things happen and
passes the time in (``time.monotonic()`` seconds); :meth:`Counters.snapshot`
returns a frozen :class:`Stats`. Counting is a few integer additions per
message, so it is always on.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sized
from types import MappingProxyType

from .codes import OP_BINARY, OP_CONT, OP_TEXT, ErrorCode

__all__ = ["ConnectTimings", "Counters", "Stats", "StatsSnapshot", "text_size"]

_NO_ERRORS: Mapping[ErrorCode, int] = MappingProxyType({})
_DATA_OPCODES = frozenset({OP_CONT, OP_TEXT, OP_BINARY})


@dataclasses.dataclass(frozen=True, slots=True)
class Stats:
    """What one connection did since it was created (or a sum over many).

    Sizes are payload bytes of data messages (text counted as UTF-8), without
    frame headers or control frames.
    """

    #: Data messages received (delivered to ``on_message`` or the inbox).
    messages_in: int = 0
    #: Data messages written to the socket.
    messages_out: int = 0
    #: Payload bytes of the messages received.
    bytes_in: int = 0
    #: Payload bytes of the messages written.
    bytes_out: int = 0
    #: Connection attempts started (the first one included).
    connect_attempts: int = 0
    #: Attempts started after the first one.
    reconnects: int = 0
    #: Handshakes that succeeded.
    opens: int = 0
    #: Round-trip time of the last answered ping, in seconds (``None``: none yet).
    last_ping_latency: float | None = None
    #: Seconds spent open, over every attempt, the current one included.
    time_connected: float = 0.0
    #: ``on_error`` reports, by code.
    errors: Mapping[ErrorCode, int] = dataclasses.field(default_factory=lambda: _NO_ERRORS)

    def __add__(self, other: Stats) -> Stats:
        """The sum of two connections' counters (the latency: the latest non-None)."""
        errors = dict(self.errors)
        for code, count in other.errors.items():
            errors[code] = errors.get(code, 0) + count
        latency = other.last_ping_latency if other.last_ping_latency is not None else self.last_ping_latency
        return Stats(
            messages_in=self.messages_in + other.messages_in,
            messages_out=self.messages_out + other.messages_out,
            bytes_in=self.bytes_in + other.bytes_in,
            bytes_out=self.bytes_out + other.bytes_out,
            connect_attempts=self.connect_attempts + other.connect_attempts,
            reconnects=self.reconnects + other.reconnects,
            opens=self.opens + other.opens,
            last_ping_latency=latency,
            time_connected=self.time_connected + other.time_connected,
            errors=MappingProxyType(errors),
        )


@dataclasses.dataclass(frozen=True, slots=True)
class StatsSnapshot:
    """The live connections of one hub at one moment: how many, in which state, and their sums."""

    #: How many connections are running (connecting, open, closing or waiting to reconnect).
    connections: int
    #: How many are in each state, by :class:`~geventws.State` value (``"open"``...).
    states: Mapping[str, int]
    #: Their counters summed (``last_ping_latency``: the last non-None of the sum).
    totals: Stats

    @classmethod
    def of(cls, items: Iterable[tuple[str, Stats]]) -> StatsSnapshot:
        """The snapshot of connections given as ``(state value, stats)`` pairs."""
        states: dict[str, int] = {}
        totals = Stats()
        count = 0
        for state, stats in items:
            states[state] = states.get(state, 0) + 1
            totals = totals + stats
            count += 1
        return cls(count, MappingProxyType(states), totals)


@dataclasses.dataclass(frozen=True, slots=True)
class ConnectTimings:
    """How long each phase of the last connection attempt took, in seconds.

    ``None`` for a phase that did not happen (no DNS lookup for ``unix_path=``
    or ``sock=``, no TLS for ``ws://``, no proxy without one) or did not finish
    (the phase that failed). With redirects, each phase sums its hops.
    """

    #: Resolving the host (or the proxy's host) with ``getaddrinfo``.
    dns: float | None = None
    #: TCP connect (every address tried), or the Unix socket's connect.
    tcp: float | None = None
    #: The proxy's tunnel negotiation (HTTP ``CONNECT`` or SOCKS), after TCP to the proxy.
    proxy: float | None = None
    #: The TLS handshake.
    tls: float | None = None
    #: The HTTP upgrade: request written, response read.
    upgrade: float | None = None
    #: From the start of the attempt to the end of the last finished phase.
    total: float | None = None


def text_size(text: str) -> int:
    """The UTF-8 size of ``text``; only non-ASCII text is encoded to know it."""
    return len(text) if text.isascii() else len(text.encode("utf-8", "surrogatepass"))


class Counters:
    """The mutable counters behind :class:`Stats`; owned by one connection."""

    __slots__ = (
        "_attempts",
        "_bytes_in",
        "_bytes_out",
        "_connected",
        "_errors",
        "_messages_in",
        "_messages_out",
        "_open_since",
        "_opens",
    )

    def __init__(self) -> None:
        self._messages_in = 0
        self._messages_out = 0
        self._bytes_in = 0
        self._bytes_out = 0
        self._attempts = 0
        self._opens = 0
        self._connected = 0.0  # seconds open in attempts that ended
        self._open_since: float | None = None
        self._errors: dict[ErrorCode, int] | None = None  # made at the first error

    def received(self, message: str | bytes) -> None:
        """A data message arrived."""
        self._messages_in += 1
        # Inlined text_size(): this runs for every message.
        if isinstance(message, str) and not message.isascii():
            self._bytes_in += len(message.encode("utf-8", "surrogatepass"))
        else:
            self._bytes_in += len(message)

    def sent(self, opcode: int, payload: Sized, fin: bool = True, wire: object = None) -> None:
        """A frame was written (what ``Transport.sent_to`` is told); only data
        frames count, with the message's size (``wire``, the compressed form, is not counted)."""
        if opcode in _DATA_OPCODES:
            self._bytes_out += len(payload)
            if opcode != OP_CONT:
                self._messages_out += 1

    def attempt_started(self) -> None:
        """A connection attempt begins."""
        self._attempts += 1

    def opened(self, now: float) -> None:
        """The handshake of the current attempt succeeded at ``now``."""
        self._opens += 1
        self._open_since = now

    def ended(self, now: float) -> None:
        """The current attempt ended at ``now`` (a no-op if it never opened)."""
        if self._open_since is not None:
            self._connected += max(now - self._open_since, 0.0)
            self._open_since = None

    def error(self, code: ErrorCode) -> None:
        """``on_error`` was reported with ``code``."""
        if self._errors is None:
            self._errors = {}
        self._errors[code] = self._errors.get(code, 0) + 1

    def snapshot(self, now: float, latency: float | None) -> Stats:
        """The counters at ``now``, with the connection's last ping ``latency``."""
        connected = self._connected
        if self._open_since is not None:
            connected += max(now - self._open_since, 0.0)
        return Stats(
            messages_in=self._messages_in,
            messages_out=self._messages_out,
            bytes_in=self._bytes_in,
            bytes_out=self._bytes_out,
            connect_attempts=self._attempts,
            reconnects=max(self._attempts - 1, 0),
            opens=self._opens,
            last_ping_latency=latency,
            time_connected=connected,
            errors=MappingProxyType(dict(self._errors)) if self._errors else _NO_ERRORS,
        )
