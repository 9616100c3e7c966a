"""What a connection knows about itself: counters, phase timings and the frame trace.

The :class:`Observer` outlives attempts (it belongs to the connection); each
attempt's session reports to it through a few calls. Counting is always on and
costs a few additions per message; the trace costs nothing when it is off.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from typing import Any

from ..protocol.codes import ErrorCode
from ..protocol.options import Options
from ..protocol.stats import ConnectTimings, Counters, Stats
from ..protocol.writer import Payload, WireForm
from .timings import PhaseTimer
from .trace import Tracer
from .transport import Transport

__all__ = ["Observer", "new_connection_id"]


def new_connection_id() -> str:
    """A short random id (8 hex digits) that tells connections apart in logs and traces."""
    return os.urandom(4).hex()


class Observer:
    """The counters, the last attempt's timings and the trace of one connection."""

    __slots__ = ("_clock", "_timer", "counters", "id", "tracer")

    def __init__(
        self,
        options: Options,
        conn_id: str,
        log: logging.LoggerAdapter[Any],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        #: The connection's id.
        self.id = conn_id
        self.counters = Counters()
        #: The frame trace, ``None`` unless the ``trace`` option is set.
        self.tracer: Tracer | None = None
        if options.trace is not None:
            self.tracer = Tracer(options.trace, options.trace_payloads, conn_id, log)
        self._clock = clock
        self._timer: PhaseTimer | None = None

    def attempt_started(self) -> None:
        """An attempt begins (before the url and headers callables and the limiter)."""
        self.counters.attempt_started()
        if self.tracer is not None:
            self.tracer.new_stream()

    def new_timer(self) -> PhaseTimer:
        """The attempt starts connecting: the timer of its phases."""
        timer = self._timer = PhaseTimer(self._clock)
        return timer

    def opened(self, transport: Transport) -> None:
        """The attempt's handshake succeeded over ``transport``: watch its frames."""
        self.counters.opened(self._clock())
        # The counters themselves when there is no trace: one call per frame.
        transport.sent_to = self.counters if self.tracer is None else self

    def sent(self, opcode: int, payload: Payload, fin: bool, wire: WireForm | None = None) -> None:
        """A frame was written whole: count it and trace it (as ``wire`` says it went out)."""
        self.counters.sent(opcode, payload)
        if self.tracer is not None:
            self.tracer.sent(opcode, payload, fin, wire)

    def ended(self) -> None:
        """The attempt is over."""
        self.counters.ended(self._clock())

    def error(self, code: ErrorCode) -> None:
        """``on_error`` is reported with ``code``."""
        self.counters.error(code)

    def stats(self, latency: float | None) -> Stats:
        """The counters now, with the connection's last ping ``latency``."""
        return self.counters.snapshot(self._clock(), latency)

    def timings(self) -> ConnectTimings | None:
        """The phases of the last attempt (``None`` before any)."""
        return None if self._timer is None else self._timer.result()
