"""What a session asks of the long-lived connection that started it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

import gevent.event

from ..protocol.codes import ErrorCode
from ..protocol.handshake import Response
from ..protocol.uri import WebSocketURI
from .observer import Observer
from .opening import Opened
from .readclock import ReadingClock

if TYPE_CHECKING:
    from .readturn import ReadTurn
    from .session import Session

__all__ = ["Receiving", "SessionOwner"]


class Receiving(Protocol):
    """What :meth:`SessionOwner._deliver` asks of the session that received a message."""

    #: Paused while the receive loop waits for the application.
    reading: ReadingClock

    def stop_event(self) -> gevent.event.Event:
        """Set once the attempt is ending (a full inbox then drops the message)."""


class SessionOwner(Protocol):
    """What a session asks of the long-lived connection that started it."""

    _observer: Observer  # counters, timings, trace
    on_pong: Any  # the callback, if set: then pongs are handled in the receive greenlet

    def _fire(self, name: str, *args: Any) -> None:
        """Run the callback ``name`` (``on_ping``...) with ``args``, logging its errors."""

    def _deliver(self, message: str | bytes, session: Receiving) -> None:
        """A message arrived: to ``on_message`` or the inbox; once the
        session's :meth:`~Session.stop_event` is set, a full inbox drops it
        instead of holding the receive loop. The session's reading clock is
        paused while the receive loop waits for the application (no pong can
        be read meanwhile)."""

    def _deliver_now(self, message: str | bytes) -> bool:
        """Put ``message`` into the inbox if it has room and no ``on_message``
        is set; whether it did (it never waits)."""

    def _guest_reads(self, turn: ReadTurn | None) -> None:
        """While set, a greenlet waiting in ``recv()`` may read in the receive loop's place."""

    def _report(self, code: ErrorCode, exc: BaseException) -> None:
        """The attempt failed with ``exc``: ``on_error``."""

    def _sends_lost(self, text: str) -> None:
        """Messages accepted by ``send()`` were lost (``on_error(SEND_FAIL)``)."""

    def _uri_resolved(self, uri: WebSocketURI) -> None:
        """The attempt connects to ``uri``."""

    def _may_open(self) -> bool:
        """TCP is up (``on_connect``): whether to go on with the upgrade."""

    def _response_received(self, response: Response) -> None:
        """The server answered the upgrade (also a refusal or a redirect)."""

    def _handshake_done(self, opened: Opened) -> None:
        """The upgrade succeeded; keepalive has not started yet."""

    def _replay_and_flush(self, session: Session) -> bool:
        """Run ``on_open_replay`` and write the queued sends (``OSError`` if the
        stream died) until a close begins; whether anything was queued."""

    def _now_open(self, response: Response, flushed: bool) -> None:
        """The attempt is open: ``on_buffer_drain`` if ``flushed``, ``on_websocket_connect``."""

    def _latency_measured(self, latency: float) -> None:
        """A pong answered one of our pings after ``latency`` seconds."""
