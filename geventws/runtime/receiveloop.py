"""The receive loop of a session, and the reads a guest or the hub makes in its place.

A mixin of :class:`~geventws.runtime.session.Session`: the loop reads and
parses the stream and acts on each event (:meth:`ReceiveLoop._handle`);
while it is parked on a plain-TCP socket, a greenlet waiting in ``recv()``
or the hub reads for it (:meth:`ReceiveLoop.read_as_guest`, see
:mod:`.readturn`) and hands back what only the loop may do.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import gevent.socket

from ..protocol.closing import ClosingHandshake
from ..protocol.codes import OP_PONG
from ..protocol.events import Close, Event, Ping, Pong
from ..protocol.options import Options
from ..protocol.parser import FrameParser
from .observer import Observer
from .owner import SessionOwner
from .pings import PingTracker
from .readturn import Handover, ReadTurn
from .transport import Transport

if TYPE_CHECKING:
    import gevent.event

    from .readclock import ReadingClock

__all__ = ["READ_MIN", "ReceiveLoop"]

#: The smallest and the largest read.
READ_MIN = 4096
READ_MAX = 2**18


def _read_size(parser: FrameParser) -> int:
    """How much to read next: what the frame being read still needs, within bounds."""
    return min(max(parser.wanted, READ_MIN), READ_MAX)


class ReceiveLoop:
    """The reading half of :class:`~geventws.runtime.session.Session`: every
    attribute but the parser is the session's."""

    __slots__ = ("_parser",)
    _parser: FrameParser | None  # the loop's parser (a guest or the hub uses it too)

    # What the session holds (see Session.__init__).
    _options: Options
    _observer: Observer
    _owner: SessionOwner
    _pings: PingTracker
    closing: ClosingHandshake
    transport: Transport | None

    if TYPE_CHECKING:  # the session's, used here
        reading: ReadingClock

        def stop_event(self) -> gevent.event.Event: ...

        def _lost(self, exc: BaseException) -> None: ...

        def _close_received(self, transport: Transport, frame: Close) -> None: ...

    def _receive_loop(self, transport: Transport, data: bytes) -> None:
        parser = self._parser = FrameParser(self._options.max_message_size, transport.deflate)
        turn = self._new_turn(transport)
        try:
            if data and not self._handle_all(transport, parser, self._parse(parser, data)):
                return
            while self._handle_all(transport, parser, self._next_events(transport, parser, turn)):
                pass
        except (OSError, EOFError) as exc:
            self._lost(exc)
        finally:
            if turn is not None:
                self._owner._guest_reads(None)

    def _handle_all(self, transport: Transport, parser: FrameParser, events: list[Event]) -> bool:
        """Handle a batch in order; whether the loop goes on. A method of its own
        so that no batch or event stays referenced while the loop waits."""
        for event in events:
            if not self._handle(transport, event):
                return False
        if parser.error is not None:
            raise parser.error
        return True

    def _new_turn(self, transport: Transport) -> ReadTurn | None:
        """Let a greenlet waiting in ``recv()``, or the hub, read in this loop's
        place while it is parked (plain TCP only: over TLS the ``ssl`` module
        holds data the socket does not show; not with a frame trace, whose sink
        may block)."""
        sock = transport.sock
        if type(sock) is not gevent.socket.socket or self._observer.tracer is not None:
            return None
        turn = transport.turn = ReadTurn(sock._read_event, self)  # type: ignore[attr-defined]
        self._owner._guest_reads(turn)
        return turn

    def _parse(self, parser: FrameParser, data: bytes) -> list[Event]:
        tracer = self._observer.tracer
        if tracer is not None:
            tracer.received(data)
        return parser.feed(data)

    def _next_events(self, transport: Transport, parser: FrameParser, turn: ReadTurn | None) -> list[Event]:
        """Read and parse what comes next, or take what a guest handed over."""
        size = _read_size(parser)
        if turn is None:
            data = transport.recv(size)
        else:
            while True:
                if transport.drained:
                    handed = turn.wait()
                    if handed is not None:
                        events, error = handed
                        if error is not None:
                            raise error
                        return events
                ready = transport.recv_ready(size)
                if ready is not None:
                    data = ready
                    break
        if not data:
            raise EOFError("connection closed by the server")
        return self._parse(parser, data)

    def read_as_guest(self) -> None:
        """Read in the receive loop's place, in a ``recv()`` caller's greenlet
        or in the hub (see :mod:`.readturn`): data messages go to the inbox,
        pongs are matched; the rest is handed over to the receive loop.
        Never blocks, never runs a callback, never raises."""
        transport, parser = self.transport, self._parser
        assert transport is not None and transport.turn is not None and parser is not None
        handed: Handover | None = None
        try:
            data = transport.recv_ready(_read_size(parser))
            if data is not None:
                if not data:
                    raise EOFError("connection closed by the server")
                events = parser.feed(data)
                owner, counters = self._owner, self._observer.counters
                for index, event in enumerate(events):
                    if isinstance(event, (str, bytes)):
                        if not owner._deliver_now(event):
                            handed = (events[index:], None)
                            break
                        counters.received(event)
                    elif isinstance(event, Pong) and owner.on_pong is None:
                        self._pong_received(event.payload)
                    else:
                        handed = (events[index:], None)
                        break
                else:
                    if parser.error is not None:
                        handed = ([], None)  # the receive loop raises it
        except Exception as exc:  # the receive loop raises it: the same end as if it had read
            handed = ([], exc)
        finally:
            transport.turn.done(handed)

    def _pong_received(self, payload: bytes) -> None:
        latency = self._pings.received(payload)
        if latency is not None:
            self._owner._latency_measured(latency)

    def _handle(self, transport: Transport, event: Event) -> bool:
        """Act on one event; whether to read on."""
        if isinstance(event, (str, bytes)):
            self._observer.counters.received(event)
            self._owner._deliver(event, self)
        elif isinstance(event, Ping):
            if not self.closing.sent:
                transport.send_frame(OP_PONG, event.payload)
            self._owner._fire("on_ping", event.payload)
        elif isinstance(event, Pong):
            self._pong_received(event.payload)
            self._owner._fire("on_pong", event.payload)
        else:
            self._close_received(transport, event)
            return False
        return True
