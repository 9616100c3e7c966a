"""The :class:`Connection`: the long-lived face of one WebSocket client.

It holds what outlives a connection attempt: the options, the callbacks, the
outbox of sends waiting for a connection, the inbox that :meth:`recv` reads,
and the supervisor that starts attempts. Each attempt is a fresh
:class:`~geventws.runtime.session.Session` (one socket's life); the
connection answers its questions through the ``SessionOwner`` methods below.

Callbacks run in one greenlet, in order: the supervisor's, which runs each
attempt's receive loop itself (``on_close``, ``on_reconnecting`` and
``on_give_up`` after the attempt ended). A callback that raises is logged and the connection goes on. Every
failure is reported once: ``on_error(conn, code, msg)``, then ``on_close(conn)``
once per attempt.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import gevent
from gevent.event import AsyncResult

from .callbacks import CALLBACKS, Callback, Callbacks, checked_callback
from .exceptions import ConnectionClosed, WebSocketError, closed_exception
from .observed import Observed
from .protocol.codes import ErrorCode
from .protocol.handshake import Response
from .protocol.options import Options, URLLike
from .protocol.sharedoptions import options_for
from .protocol.state import State
from .protocol.uri import WebSocketURI, redact_url
from .protocol.writer import close_body, control_payload
from .runtime.inbox import Inbox
from .runtime.log import ConnectionLog
from .runtime.opening import Opened
from .runtime.outbox import Outbox, message_for
from .runtime.pings import Pong
from .runtime.registry import registry_for
from .runtime.session import Session
from .runtime.supervisor import Phase, Supervisor, supervisor_name
from .runtime.threads import HubThread, from_any_thread, thread_local
from .sequential import Sequential

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from .protocol.options import ConnectOptions

__all__ = ["Connection", "Pong"]

logger = logging.getLogger("geventws")


class Connection(Callbacks, Sequential, Observed):
    """A WebSocket client connection, Workerman's ``AsyncTcpConnection("ws://…")``.

    ``url`` is a ``ws://`` or ``wss://`` URL; the options are those of
    :func:`geventws.protocol.options.make_options` (``headers``, ``ping_interval``,
    ``websocket_type``, ``ssl_context``, timeouts, limits…). Instead of a URL
    and options, ``url`` may be the :attr:`options` of another connection (or
    of :func:`~geventws.protocol.options.make_options`): the new connection shares
    them, checked once for all (what :class:`~geventws.Fleet` does). The callbacks
    (``on_message``, ``on_error``…, listed in :class:`~geventws.callbacks.Callbacks`)
    may be passed as keyword arguments or assigned as attributes.

    :meth:`connect` returns at once; greenlets do the work. Without a
    ``reconnect`` policy the connection reconnects only when
    :meth:`reconnect` is called.
    """

    def __init__(
        self,
        url: URLLike | Options,
        *,
        on_connect: Callback | None = None,
        on_websocket_connect: Callback | None = None,
        on_message: Callback | None = None,
        on_error: Callback | None = None,
        on_close: Callback | None = None,
        on_ping: Callback | None = None,
        on_pong: Callback | None = None,
        on_open_replay: Callback | None = None,
        on_reconnecting: Callback | None = None,
        on_give_up: Callback | None = None,
        on_buffer_full: Callback | None = None,
        on_buffer_drain: Callback | None = None,
        **options: Unpack[ConnectOptions],
    ) -> None:
        arguments = locals()  # the callback keywords, assigned by name
        for name in CALLBACKS:
            if arguments[name] is not None:  # else the class default, None
                setattr(self, name, checked_callback(name, arguments[name]))
        opts = self._options = options_for(url, options)  # shared by equal plain options
        self._hub_thread = HubThread()
        self._uri: WebSocketURI | None = opts.uri  # the URL of the current attempt
        self._log = ConnectionLog(logger, str(opts.uri) if opts.uri else "<url callable>")
        self._start_observing(opts)
        self._session: Session | None = None  # the current or last attempt
        self._supervisor = self._new_supervisor()
        self._outbox = self._new_outbox()
        self._inbox = Inbox(opts.max_queue)
        self._first_open: AsyncResult[bool] | None = None  # connect() waits for it: opened, or finished
        self._refuse_reconnect = False  # stop() was called: only connect() restarts
        self._errors_raised = False  # connect() raises them: no warning log then
        self._response: Response | None = None
        self._latency: float | None = None
        self._subprotocol: str | None = None
        self._last_error: WebSocketError | None = None

    def _new_outbox(self) -> Outbox:
        opts = self._options
        return Outbox(
            opts.max_send_buffer_size, opts.max_send_buffer_messages, opts.send_buffer_policy, listener=self
        )

    def _new_supervisor(self) -> Supervisor:
        reconnect = self._options.reconnect
        return Supervisor(
            self,
            backoff=reconnect.start() if reconnect is not None else None,
            log=self._log,
            name=supervisor_name(self._log.url),
        )

    # -- properties ----------------------------------------------------------

    @property
    def url(self) -> str:
        """The URL given to the constructor (the last one used, if it is a
        callable), never with its credentials: ``ws://***@host/`` (they are
        kept only in :attr:`options`, to connect)."""
        url = self._options.url
        if isinstance(url, str):
            return redact_url(url)
        return str(self._uri) if self._uri is not None else ""

    @property
    def options(self) -> Options:
        """The normalised options (frozen; connections made with equal plain
        arguments share one, so treat its ``headers`` as read-only too)."""
        return self._options

    @property
    def state(self) -> State:
        """The current :class:`State`."""
        if self._session is not None:
            return self._session.state
        return State.CLOSED if self._supervisor.phase is Phase.FINISHED else State.INITIAL

    @property
    def close_code(self) -> int | None:
        """How the last attempt closed: the server's close code, ours when we
        failed the connection, 1005 for a close frame with no code, 1006 when
        the connection was lost; ``None`` before any attempt ended."""
        return self._session.closing.code if self._session is not None else None

    @property
    def close_reason(self) -> str:
        """The reason that came with :attr:`close_code`."""
        return self._session.closing.reason if self._session is not None else ""

    @property
    def response(self) -> Response | None:
        """The last handshake response, also a rejected one."""
        return self._response

    @property
    def subprotocol(self) -> str | None:
        """The subprotocol the server chose, if any."""
        return self._subprotocol

    @property
    def latency(self) -> float | None:
        """Round-trip time of the last answered ping, in seconds."""
        return self._latency

    @property
    def last_error(self) -> WebSocketError | None:
        """The exception behind the last ``on_error`` report, if any."""
        return self._last_error

    @property
    def reconnect_pending(self) -> bool:
        """Whether a reconnect is scheduled."""
        return self._supervisor.reconnect_pending

    @property
    def finished(self) -> bool:
        """Whether the connection is finished for good (no greenlet left)."""
        return self._supervisor.is_finished and self.state is not State.INITIAL

    # -- lifecycle -------------------------------------------------------------

    @from_any_thread
    def connect(self) -> None:
        """Start connecting; returns at once. A no-op while already running."""
        self._refuse_reconnect = False
        if not self._supervisor.running:
            self._schedule(0.0)

    @from_any_thread
    def reconnect(self, delay: float = 0) -> None:
        """Connect again after ``delay`` seconds, from any greenlet.

        Replaces a pending reconnect. While connected, the current connection
        is closed first (code 1000). Undoes an earlier :meth:`close`, but not
        :meth:`stop` (nor :func:`geventws.stop_all`): after that, only
        :meth:`connect` restarts.
        """
        if delay < 0:
            raise ValueError("delay must be >= 0")
        if self._refuse_reconnect:
            self._log.debug("reconnect() ignored: stop() or stop_all() was called")
            return
        self._supervisor.cancel_finish()
        # Due before the close, which may wait (behind a stalled write): the
        # attempt may end meanwhile, and the supervisor must find it due then.
        self._schedule(delay)
        if self._session is not None:
            self._session.close(1000, "")

    @from_any_thread
    def cancel_reconnect(self) -> None:
        """Cancel a pending reconnect; an idle connection then finishes."""
        self._supervisor.cancel()

    @from_any_thread
    def close(self, code: int = 1000, reason: str = "") -> None:
        """Close with a closing handshake; no reconnect afterwards.

        Cancels any pending reconnect. Waits (up to ``close_timeout``) until
        the server answered and ``on_close`` ran, unless called from one of
        the connection's own greenlets, where it only starts the close.
        """
        close_body(code, reason)  # checks code and reason before anything changes
        supervisor = self._supervisor
        supervisor.request_finish()
        if self._session is not None:
            self._session.close(code, reason)
        if supervisor.phase is Phase.IDLE and not supervisor.running:
            supervisor.finish()
            return
        if not self._in_own_greenlet():
            timeout = self._options.close_timeout
            # The close timer aborts the socket at close_timeout; the grace
            # covers on_close, which runs after.
            supervisor.wait_finished(None if timeout is None else timeout + 1.0)

    @from_any_thread
    def stop(self, code: int = 1000, reason: str = "") -> None:
        """:meth:`close`, and ignore later :meth:`reconnect` calls (e.g. one in
        ``on_close``) until :meth:`connect`; what :func:`geventws.stop_all` does."""
        self._refuse_reconnect = True
        self.close(code, reason)

    def _cancel(self) -> None:
        """Tear everything down at once, without waiting and without a
        closing handshake: :func:`connect` was interrupted."""
        self._refuse_reconnect = True
        supervisor = self._supervisor
        supervisor.request_finish()
        if self._session is not None:
            self._session.abort()
        if supervisor.phase is Phase.IDLE and not supervisor.running:
            supervisor.finish()

    def wait_closed(self, timeout: float | None = None) -> bool:
        """Wait until the connection is finished for good; whether it is."""
        return self._supervisor.wait_finished(timeout)

    def _schedule(self, delay: float) -> None:
        if self._supervisor.schedule(delay):  # the loop (re)started
            self._inbox.reopen()
            self._outbox.reopen()
            registry_for(self._hub_thread.hub).add(self)

    def _in_own_greenlet(self) -> bool:
        current = gevent.getcurrent()
        session = self._session
        return self._supervisor.owns(current) or (session is not None and session.owns(current))

    # -- sending ---------------------------------------------------------------

    def send(self, data: str | bytes) -> None:
        """Send one message.

        Open: written before this returns, or coalesced when it follows
        another small send before the calling greenlet yields (written at the
        hub's next turn; if the connection dies first, ``on_error(SEND_FAIL)``
        reports it). Before the handshake (even before
        :meth:`connect`) or while a reconnect is pending: queued and written
        in order after the next handshake. Finished or closing: raises
        :class:`ConnectionClosed`. A failed write raises
        :class:`ConnectionClosedError` with the cause chained.

        Like every public method, it may be called from any greenlet and from
        other OS threads (the call is handed to the connection's hub).
        """
        if getattr(thread_local, "hub_thread", None) is not self._hub_thread:  # from_any_thread, inlined
            return self._hub_thread.call(self.send, data)
        message = message_for(data, self._options.websocket_type)
        first_try = True
        while True:
            session = self._session
            if session is not None and (session.state is State.OPEN or session.writable):
                session.send(*message)
                return
            state = self.state
            if state is State.CLOSING or (self._supervisor.finish_requested and state is not State.INITIAL):
                raise self._closed_error()
            if self._outbox.offer(message, notify_full=first_try):
                return
            first_try = False  # "block": room was made; the connection may be open now

    @from_any_thread
    def ping(self, data: str | bytes = b"") -> Pong:
        """Send a ping; the returned :class:`Pong` tells when it was answered.

        ``data``: ``str`` (sent as UTF-8) or bytes-like, up to 125 bytes; empty:
        4 random bytes. Raises :class:`TypeError` or :class:`ValueError` for
        anything else, :class:`ConnectionClosed` when not open.
        """
        data = control_payload(data)
        session = self._session
        if session is None or session.state is not State.OPEN:
            raise self._closed_error()
        return session.ping(data)

    def _closed_error(self) -> ConnectionClosed:
        return closed_exception(self.close_code or 1006, self.close_reason)

    # -- the supervisor's hooks --------------------------------------------------

    def _run_attempt(self) -> WebSocketError | None:
        session = self._session = Session(self, self._options, self._log, self._log.url)
        session.run()
        self._fire("on_close")
        return session.error

    def _finished(self) -> None:
        self._outbox.close(self._closed_error())
        closed = self._closed_error()
        closed.__cause__ = self._session.error if self._session is not None else None
        self._inbox.close(closed)
        registry_for(self._hub_thread.hub).discard(self)
        self._decide_first_open(False)

    def _decide_first_open(self, opened: bool) -> None:
        """Tell a waiting :func:`connect` whether the first attempt opened (the first word counts)."""
        if self._first_open is not None and not self._first_open.ready():
            self._first_open.set(opened)

    # -- the session's hooks (SessionOwner) ----------------------------------------

    def _uri_resolved(self, uri: WebSocketURI) -> None:
        self._uri = uri
        self._log.url = str(uri)

    def _may_open(self) -> bool:
        self._fire("on_connect")
        # close() or reconnect() in on_connect: abandon this attempt.
        supervisor = self._supervisor
        return not (supervisor.finish_requested or supervisor.due is not None)

    def _response_received(self, response: Response) -> None:
        self._response = response

    def _handshake_done(self, opened: Opened) -> None:
        self._subprotocol = opened.subprotocol
        self._supervisor.opened()

    def _replay_and_flush(self, session: Session) -> bool:
        self._fire("on_open_replay")
        return self._outbox.flush(
            lambda message, progress: session.send(*message, progress),
            stop=lambda: session.closing.sent,  # after our close frame, no data frame
        )

    def _now_open(self, response: Response, flushed: bool) -> None:
        self._decide_first_open(True)
        if flushed:
            self._fire("on_buffer_drain")
        self._fire("on_websocket_connect", response)

    def _latency_measured(self, latency: float) -> None:
        self._latency = latency

    def _report(self, code: ErrorCode, exc: BaseException) -> None:
        if isinstance(exc, WebSocketError):
            self._last_error = exc
        self._notify_error(code, str(exc))

    def __repr__(self) -> str:
        return f"<geventws.Connection {self._log.url} {self.state.value}>"
