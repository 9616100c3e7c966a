"""The callbacks of a connection, and how they are run.

A callback that raises is logged and the connection goes on: it never kills
the greenlet that runs it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .protocol.codes import ErrorCode

if TYPE_CHECKING:
    from .exceptions import WebSocketError
    from .runtime.inbox import Inbox
    from .runtime.log import ConnectionLog
    from .runtime.observer import Observer
    from .runtime.owner import Receiving
    from .runtime.readturn import ReadTurn

__all__ = ["CALLBACKS", "Callback", "Callbacks", "checked_callback"]

#: A callback: called with the connection first, then the arguments below.
Callback = Callable[..., object]

CALLBACKS = (
    "on_connect",
    "on_websocket_connect",
    "on_message",
    "on_error",
    "on_close",
    "on_ping",
    "on_pong",
    "on_open_replay",
    "on_reconnecting",
    "on_give_up",
    "on_buffer_full",
    "on_buffer_drain",
)


def checked_callback(name: str, callback: object) -> Callback:
    """``callback``, if it can be called; else a :class:`TypeError` naming ``name``
    (at construction, rather than an error logged at every event it misses)."""
    if not callable(callback):
        raise TypeError(f"{name} must be callable or None, not {type(callback).__name__}")
    return callback


class Callbacks:
    """The callback attributes of :class:`~geventws.Connection` (``None``: not set).

    - ``on_connect(conn)``: TCP (and TLS) is up; the upgrade is sent after it returns.
    - ``on_websocket_connect(conn, response)``: the handshake is done.
    - ``on_message(conn, data)``: ``str`` for text, ``bytes`` for binary. Without
      it, messages go to an inbox read by :meth:`recv` and iteration.
    - ``on_error(conn, code, msg)``: see :class:`geventws.ErrorCode`.
    - ``on_close(conn)``: the attempt is over (also after a failed connect).
    - ``on_ping(conn, data)`` / ``on_pong(conn, data)``: control frames received.
    - ``on_open_replay(conn)``: after each handshake, before queued messages are
      flushed: resubscribe here (its sends go out first).
    - ``on_reconnecting(conn, attempt, delay, error)``: the ``reconnect`` policy
      will try again after ``delay`` seconds (``error`` is why the last attempt
      ended, ``None`` after a clean close).
    - ``on_give_up(conn, error)``: the policy stopped reconnecting.
    - ``on_buffer_full(conn)`` / ``on_buffer_drain(conn)``: the outbox of sends
      waiting for a connection filled up / was flushed empty.
    """

    on_connect: Callback | None = None
    on_websocket_connect: Callback | None = None
    on_message: Callback | None = None
    on_error: Callback | None = None
    on_close: Callback | None = None
    on_ping: Callback | None = None
    on_pong: Callback | None = None
    on_open_replay: Callback | None = None
    on_reconnecting: Callback | None = None
    on_give_up: Callback | None = None
    on_buffer_full: Callback | None = None
    on_buffer_drain: Callback | None = None
    # Class defaults: an instance stores only the callbacks set on it (idle bytes count).

    _log: ConnectionLog
    _errors_raised: bool  # connect() raises the errors: no warning log then
    _observer: Observer
    _inbox: Inbox  # what recv() reads when there is no on_message

    def _fire(self, name: str, *args: Any) -> None:
        """Run the callback ``name`` with the connection and ``args``; log what it raises."""
        callback = getattr(self, name)
        if callback is None:
            return
        try:
            callback(self, *args)
        except Exception:
            self._log.exception("error in %s callback", name)

    def _notify_error(self, code: ErrorCode, msg: str) -> None:
        """``on_error(conn, code, msg)``; a warning in the log when nobody listens."""
        self._observer.error(code)
        if self.on_error is None and not self._errors_raised:
            self._log.warning("%s: %s", code.name, msg)
        self._fire("on_error", code, msg)

    # The hooks the outbox and the supervisor call (methods, not closures: one
    # object fewer each per connection).

    def _buffer_full(self) -> None:
        self._fire("on_buffer_full")

    def _sends_lost(self, text: str) -> None:
        self._notify_error(ErrorCode.SEND_FAIL, text)

    def _reconnecting(self, attempt: int, delay: float, error: WebSocketError | None) -> None:
        self._fire("on_reconnecting", attempt, delay, error)

    def _giving_up(self, attempts: int, error: WebSocketError | None) -> None:
        self._fire("on_give_up", error)

    # Where a received message goes (the session calls it).

    def _deliver_now(self, message: str | bytes) -> bool:
        return self.on_message is None and self._inbox.try_put(message)

    def _guest_reads(self, turn: ReadTurn | None) -> None:
        self._inbox.stand_in = turn

    def _deliver(self, message: str | bytes, session: Receiving) -> None:
        if self.on_message is None and self._inbox.try_put(message):
            return  # the inbox had room: the receive loop did not wait
        reading = session.reading
        reading.pause()
        try:
            if self.on_message is not None:
                self._fire("on_message", message)
            elif not self._inbox.put(message, session.stop_event()):
                # As in python-websockets: unread messages go with the closed connection.
                self._log.debug("closing with a full inbox: a message received meanwhile is dropped")
        finally:
            reading.resume()
