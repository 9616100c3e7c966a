"""The :class:`Connection`: one WebSocket client, run by greenlets.

Theory of operation
-------------------

A connection's life is a loop in its *supervisor* greenlet::

    wait until a (re)connect is due ─► attempt ─► on_close ─► reconnect asked? ─► loop / finish

Each *attempt* runs in a *receiver* greenlet: TCP (and TLS), ``on_connect``,
the upgrade, then a blocking-looking receive loop that dispatches messages and
answers pings. While open, a *keepalive* greenlet sends a ping every
``ping_interval`` seconds and aborts the attempt if no pong comes back within
``ping_timeout``. All three greenlets are gone when the connection is finished.

Rules that keep it correct under gevent:

- Only the receiver reads the socket. Every write, automatic pongs and close
  replies included, goes through :meth:`Transport.write`, which holds one
  gevent lock.
- Callbacks run in the receiver, in order (``on_close`` in the supervisor,
  after the receiver has ended). A callback that raises is logged and the
  connection goes on.
- Loops catch ``Exception``, never ``BaseException``: ``GreenletExit`` and
  ``gevent.Timeout`` pass through.
- Every failure is reported once: ``on_error(conn, code, msg)`` from the
  greenlet that met it, then ``on_close(conn)`` once per attempt.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import Callable, Iterator, MutableMapping
from types import TracebackType
from typing import TYPE_CHECKING, Any

import gevent
import gevent.event
import gevent.lock
from gevent.greenlet import Greenlet

from .exceptions import (
    ConnectError,
    ConnectionClosed,
    ConnectionClosedOK,
    HandshakeError,
    InvalidMessage,
    OpenTimeout,
    PingTimeout,
    ProtocolError,
    TLSError,
    WebSocketError,
    closed_exception,
)
from .protocol.codes import ErrorCode
from .protocol.frames import (
    OP_BINARY,
    OP_CLOSE,
    OP_PING,
    OP_PONG,
    OP_TEXT,
    FrameParser,
    encode_close,
    encode_frame,
    parse_close,
)
from .protocol.handshake import (
    MAX_REDIRECTS,
    Response,
    build_request,
    check_response,
    new_key,
    parse_response,
    redirect_target,
)
from .protocol.headers import Headers, redact
from .protocol.options import BINARY_TYPE_ARRAYBUFFER, BINARY_TYPE_BLOB, Options, URLLike, make_options
from .protocol.state import State
from .protocol.uri import WebSocketURI
from .runtime.inbox import Inbox
from .runtime.outbox import Message, Outbox
from .runtime.registry import registry_for
from .runtime.threads import HubThread, from_any_thread
from .runtime.transport import Transport, open_transport

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from .protocol.options import ConnectOptions

__all__ = ["Connection", "Pong", "connect"]

logger = logging.getLogger("geventws")

Callback = Callable[..., object]

_MAX_ERROR_BODY = 64 * 2**10


class _ConnLogger(logging.LoggerAdapter):  # type: ignore[type-arg]
    """Prefixes every message with the connection's URL (without credentials)."""

    def process(self, msg: Any, kwargs: MutableMapping[str, Any]) -> tuple[Any, MutableMapping[str, Any]]:
        # The prefix becomes part of the format string: a "%" in the URL must not.
        prefix = str(self.extra["url"] if self.extra else "").replace("%", "%%")
        return f"[{prefix}] {msg}", kwargs


class _Failure(Exception):
    """An attempt ended with an error already worth reporting."""

    def __init__(self, code: ErrorCode, exc: BaseException) -> None:
        super().__init__(str(exc))
        self.code = code
        self.exc = exc


class Pong:
    """What :meth:`Connection.ping` returns: wait for the matching pong."""

    __slots__ = ("_event", "latency", "payload", "sent_at")

    def __init__(self, payload: bytes) -> None:
        self.payload = payload
        self.sent_at = time.monotonic()
        #: Round-trip time in seconds once the pong arrived, else ``None``.
        self.latency: float | None = None
        self._event = gevent.event.Event()

    def wait(self, timeout: float | None = None) -> bool:
        """Whether the pong arrived within ``timeout`` seconds."""
        return self._event.wait(timeout) and self.latency is not None

    def _resolve(self, now: float) -> None:
        self.latency = now - self.sent_at
        self._event.set()

    def _cancel(self) -> None:
        self._event.set()


class Connection:
    """A WebSocket client connection, Workerman's ``AsyncTcpConnection("ws://…")``.

    ``url`` is a ``ws://`` or ``wss://`` URL; the options are those of
    :func:`geventws.options.make_options` (``headers``, ``ping_interval``,
    ``websocket_type``, ``ssl_context``, timeouts, limits…). Callbacks may be
    passed as keyword arguments or assigned as attributes:

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

    :meth:`connect` returns at once; greenlets do the work. Without a
    ``reconnect`` policy the connection reconnects only when
    :meth:`reconnect` is called.
    """

    on_connect: Callback | None
    on_websocket_connect: Callback | None
    on_message: Callback | None
    on_error: Callback | None
    on_close: Callback | None
    on_ping: Callback | None
    on_pong: Callback | None
    on_open_replay: Callback | None
    on_reconnecting: Callback | None
    on_give_up: Callback | None
    on_buffer_full: Callback | None
    on_buffer_drain: Callback | None

    def __init__(
        self,
        url: URLLike,
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
        self._options: Options = make_options(url, **options)
        self._hub_thread = HubThread()
        self.on_connect = on_connect
        self.on_websocket_connect = on_websocket_connect
        self.on_message = on_message
        self.on_error = on_error
        self.on_close = on_close
        self.on_ping = on_ping
        self.on_pong = on_pong
        self.on_open_replay = on_open_replay
        self.on_reconnecting = on_reconnecting
        self.on_give_up = on_give_up
        self.on_buffer_full = on_buffer_full
        self.on_buffer_drain = on_buffer_drain
        opts = self._options
        self._uri: WebSocketURI | None = opts.uri  # the URL of the current attempt
        self._log_context = {"url": str(opts.uri) if opts.uri else "<url callable>"}
        self._log = _ConnLogger(logger, self._log_context)
        self._state = State.INITIAL
        self._supervisor: Greenlet[Any, Any] | None = None
        self._receiver: Greenlet[Any, Any] | None = None
        self._keepalive: Greenlet[Any, Any] | None = None
        self._transport: Transport | None = None  # set while OPEN or CLOSING
        self._outbox = Outbox(
            opts.max_send_buffer_size, opts.max_send_buffer_messages, opts.send_buffer_policy
        )
        self._backoff = opts.reconnect.start() if opts.reconnect is not None else None
        self._attempt_error: WebSocketError | None = None
        self._replaying = False
        self._inbox = Inbox(self._options.max_queue)
        self._pings: dict[bytes, Pong] = {}
        self._reconnect_at: float | None = None
        self._wake = gevent.event.Event()
        self._finished = gevent.event.Event()
        self._finished.set()
        self._for_good = False
        self._stopped = False
        self._attempt_ended = gevent.event.Event()
        self._opened = gevent.event.Event()  # set while the current attempt is open
        self._errors_raised = False  # connect() raises them: no warning log then
        self._close_sent = False
        self._abort_reason: _Failure | None = None
        self._close_timer: Any = None
        self._close_code: int | None = None
        self._close_reason = ""
        self._response: Response | None = None
        self._latency: float | None = None
        self._subprotocol: str | None = None
        self._last_error: WebSocketError | None = None

    # -- properties ----------------------------------------------------------

    @property
    def url(self) -> str:
        """The URL given to the constructor (the last one used, if it is a callable)."""
        url = self._options.url
        if isinstance(url, str):
            return url
        return str(self._uri) if self._uri is not None else ""

    @property
    def options(self) -> Options:
        """The normalised options."""
        return self._options

    @property
    def state(self) -> State:
        """The current :class:`State`."""
        return self._state

    @property
    def close_code(self) -> int | None:
        """How the last attempt closed: the server's close code, ours when we
        failed the connection, 1005 for a close frame with no code, 1006 when
        the connection was lost; ``None`` before any attempt ended."""
        return self._close_code

    @property
    def close_reason(self) -> str:
        """The reason that came with :attr:`close_code`."""
        return self._close_reason

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
        return self._reconnect_at is not None and not self._for_good

    @property
    def finished(self) -> bool:
        """Whether the connection is finished for good (no greenlet left)."""
        return self._finished.is_set() and self._state is not State.INITIAL

    # -- lifecycle -------------------------------------------------------------

    @from_any_thread
    def connect(self) -> None:
        """Start connecting; returns at once. A no-op while already running."""
        self._stopped = False
        if self._supervisor is not None and not self._supervisor.dead:
            return
        self._schedule(0.0)

    @from_any_thread
    def reconnect(self, delay: float = 0) -> None:
        """Connect again after ``delay`` seconds, from any greenlet.

        Replaces a pending reconnect. While connected, the current connection
        is closed first (code 1000). Undoes an earlier :meth:`close`, but not
        :func:`geventws.stop_all`: after that, only :meth:`connect` restarts.
        """
        if delay < 0:
            raise ValueError("delay must be >= 0")
        if self._stopped:
            self._log.debug("reconnect() ignored: stop_all() was called")
            return
        self._for_good = False
        if self._state in (State.CONNECTING, State.OPEN):
            self._end_attempt(1000, "")
        self._schedule(delay)

    @from_any_thread
    def cancel_reconnect(self) -> None:
        """Cancel a pending reconnect; an idle connection then finishes."""
        self._reconnect_at = None
        self._wake.set()

    @from_any_thread
    def close(self, code: int = 1000, reason: str = "") -> None:
        """Close with a closing handshake; no reconnect afterwards.

        Cancels any pending reconnect. Waits (up to ``close_timeout``) until
        the server answered and ``on_close`` ran, unless called from one of
        the connection's own greenlets, where it only starts the close.
        """
        encode_close(code, reason)  # checks code and reason before anything changes
        self._for_good = True
        self._reconnect_at = None
        self._wake.set()
        if self._state in (State.CONNECTING, State.OPEN):
            self._end_attempt(code, reason)
        if self._supervisor is None and self._state is State.INITIAL:
            self._state = State.CLOSED
            self._finish()
            return
        if not self._in_own_greenlet():
            timeout = self._options.close_timeout
            # The close timer aborts the socket at close_timeout; the grace
            # covers on_close, which runs after.
            self._finished.wait(None if timeout is None else timeout + 1.0)

    def _stop(self, code: int, reason: str) -> None:
        """Close for good, refusing later reconnect() calls (stop_all)."""
        self._stopped = True
        self.close(code, reason)

    def __enter__(self) -> Connection:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def wait_closed(self, timeout: float | None = None) -> bool:
        """Wait until the connection is finished for good; whether it is."""
        return self._finished.wait(timeout)

    # -- sending ---------------------------------------------------------------

    @from_any_thread
    def send(self, data: str | bytes) -> None:
        """Send one message.

        Open: written before this returns. Before the handshake (even before
        :meth:`connect`) or while a reconnect is pending: queued and written
        in order after the next handshake. Finished or closing: raises
        :class:`ConnectionClosed`. A failed write raises
        :class:`ConnectionClosedError` with the cause chained.

        Like every public method, it may be called from any greenlet and from
        other OS threads (the call is handed to the connection's hub).
        """
        message = self._message_payload(data)
        full_reported = False
        while True:
            transport = self._transport
            if transport is not None and (
                self._state is State.OPEN or (self._replaying and gevent.getcurrent() is self._receiver)
            ):
                self._write(transport, encode_frame(*message))
                return
            if self._state is State.CLOSING or (self._for_good and self._state is not State.INITIAL):
                raise self._closed_error()
            if self._outbox.fits(len(message[1])):
                self._outbox.put(message)
                return
            if not full_reported:
                full_reported = True
                self._fire("on_buffer_full")
            if self._outbox.policy != "block":
                self._queue_when_full(message)
                return
            self._outbox.wait_for_room()  # then decide again: the connection may be open now

    @from_any_thread
    def ping(self, data: bytes = b"") -> Pong:
        """Send a ping; the returned :class:`Pong` tells when it was answered."""
        transport = self._transport
        if self._state is not State.OPEN or transport is None:
            raise self._closed_error()
        return self._send_ping(transport, data)

    def _send_ping(self, transport: Transport, data: bytes = b"") -> Pong:
        payload = bytes(data) or os.urandom(4)
        while payload in self._pings:
            payload = os.urandom(4)
        frame = encode_frame(OP_PING, payload)  # checks the 125-byte limit first
        pong = self._pings[payload] = Pong(payload)
        self._write(transport, frame)
        return pong

    def _queue_when_full(self, message: Message) -> None:
        dropped = self._outbox.put(message)  # raises SendBufferFull under "fail"
        if dropped:
            size = sum(len(payload) for _, payload in dropped)
            self._report(
                ErrorCode.SEND_FAIL,
                f"send buffer full: dropped the {len(dropped)} oldest queued message(s), {size} bytes",
            )

    def _message_payload(self, data: str | bytes) -> Message:
        forced = self._options.websocket_type
        if isinstance(data, str):
            opcode = OP_BINARY if forced == BINARY_TYPE_ARRAYBUFFER else OP_TEXT
            try:
                return opcode, data.encode("utf-8")
            except UnicodeEncodeError as exc:
                raise InvalidMessage(f"text is not encodable as UTF-8: {exc}") from exc
        if isinstance(data, (bytes, bytearray, memoryview)):
            payload = bytes(data)
            if forced != BINARY_TYPE_BLOB:
                return OP_BINARY, payload
            try:
                payload.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise InvalidMessage(
                    "websocket_type is BINARY_TYPE_BLOB (text frames) but the bytes are not UTF-8"
                ) from exc
            return OP_TEXT, payload
        raise TypeError(f"send() takes str or bytes, not {type(data).__name__}")

    def _write(self, transport: Transport, frame: bytes) -> None:
        try:
            transport.write(frame)
        except OSError as exc:
            transport.abort()
            raise _lost_error(self._close_code, exc) from exc

    def _closed_error(self) -> ConnectionClosed:
        return closed_exception(self._close_code or 1006, self._close_reason)

    # -- receiving (sequential API) ----------------------------------------------

    @from_any_thread
    def recv(self, timeout: float | None = None) -> str | bytes:
        """The next message: ``str`` for text, ``bytes`` for binary.

        Raises :class:`TimeoutError` after ``timeout`` seconds,
        :class:`ConnectionClosed` once the connection is finished and the
        inbox drained, :class:`ConcurrencyError` if another greenlet is
        already waiting, :class:`RuntimeError` when ``on_message`` is set.
        """
        if self.on_message is not None:
            raise RuntimeError("recv() cannot be used when on_message is set")
        return self._inbox.get(timeout)

    def __iter__(self) -> Iterator[str | bytes]:
        """Messages until the connection closes; quiet on a normal close."""
        while True:
            try:
                yield self.recv()
            except ConnectionClosedOK:
                return

    # -- supervisor ------------------------------------------------------------

    def _schedule(self, delay: float) -> None:
        self._reconnect_at = time.monotonic() + delay
        self._wake.set()
        if self._supervisor is None or self._supervisor.dead:
            self._for_good = False
            self._finished.clear()
            self._inbox.reopen()
            self._outbox.reopen()
            registry_for(self._hub_thread.hub).add(self)
            self._supervisor = gevent.spawn(self._supervise)
            self._supervisor.name = f"geventws-supervisor {self._log_context['url']}"

    def _supervise(self) -> None:
        try:
            while self._wait_until_due():
                self._reconnect_at = None
                self._run_attempt()
                self._fire("on_close")
                if not self._for_good and self._reconnect_at is None:
                    self._plan_reconnect()
        except Exception:
            self._log.exception("supervisor failed")
        finally:
            self._finish()

    def _plan_reconnect(self) -> None:
        """Ask the reconnect policy, if any, when to try again."""
        backoff = self._backoff
        if backoff is None:
            return
        error = self._attempt_error
        delay = backoff.next_delay(error)
        if delay is None:
            self._log.info("reconnect policy gave up after %d attempt(s): %s", backoff.attempt, error)
            self._fire("on_give_up", error)
            return
        self._log.info("reconnecting in %.3f s (attempt %d)", delay, backoff.attempt)
        self._fire("on_reconnecting", backoff.attempt, delay, error)
        if not self._for_good and self._reconnect_at is None:  # the callbacks may have decided otherwise
            self._reconnect_at = time.monotonic() + delay

    def _wait_until_due(self) -> bool:
        while True:
            due = self._reconnect_at
            if self._for_good or due is None:
                return False
            remaining = due - time.monotonic()
            if remaining <= 0:
                return True
            self._wake.clear()
            self._wake.wait(remaining)

    def _finish(self) -> None:
        self._state = State.CLOSED
        self._for_good = True
        self._reconnect_at = None
        unsent = self._outbox.close(self._closed_error())
        if unsent:
            size = sum(len(payload) for _, payload in unsent)
            self._report(
                ErrorCode.SEND_FAIL,
                f"{len(unsent)} queued message(s), {size} bytes, were never sent: the connection is finished",
            )
        closed = self._closed_error()
        closed.__cause__ = self._attempt_error  # e.g. the ProtocolError that failed it
        self._inbox.close(closed)
        registry_for(self._hub_thread.hub).discard(self)
        self._finished.set()

    def _in_own_greenlet(self) -> bool:
        current = gevent.getcurrent()
        return current in (self._supervisor, self._receiver, self._keepalive)

    # -- one attempt -------------------------------------------------------------

    def _run_attempt(self) -> None:
        self._state = State.CONNECTING
        self._close_code = None
        self._close_reason = ""
        self._close_sent = False
        self._abort_reason = None
        self._attempt_error = None
        self._attempt_ended.clear()
        self._opened.clear()
        receiver = self._receiver = gevent.spawn(self._attempt)
        receiver.name = f"geventws-receiver {self._log_context['url']}"
        receiver.join()
        self._receiver = None

    def _end_attempt(self, code: int, reason: str) -> None:
        """Close the current attempt: a closing handshake if open, else abort."""
        if self._state is State.OPEN:
            self._start_closing(code, reason)
        elif self._state is State.CONNECTING:
            receiver = self._receiver
            if receiver is not None and receiver is not gevent.getcurrent():
                receiver.kill(block=False)

    def _attempt(self) -> None:
        transport: Transport | None = None
        try:
            transport = self._open()
            if transport is None:
                return
            self._receive_loop(transport)
        except _Failure as failure:
            self._fail(transport, failure)
        except gevent.GreenletExit:
            self._set_closed(1006, "")
        except Exception as exc:
            self._log.exception("unexpected error in the receive loop")
            self._fail(transport, _Failure(ErrorCode.CONNECTION_LOST, exc))
        finally:
            self._cleanup(transport)

    def _open(self) -> Transport | None:
        """Connect and shake hands, following redirects; ``None`` if close()
        or reconnect() came in between."""
        opts = self._options
        limiter = opts.limiter
        with limiter.slot() if limiter is not None else contextlib.nullcontext():
            upgraded = self._connect_and_upgrade()
        if upgraded is None:
            return None
        transport, leftover = upgraded
        try:
            self._on_open(transport, leftover)
        except OSError as exc:  # the replay or the flush met a dead connection
            self._lost(exc)
        return transport

    def _connect_and_upgrade(self) -> tuple[Transport, bytes] | None:
        opts = self._options
        deadline = None if opts.open_timeout is None else time.monotonic() + opts.open_timeout
        uri = self._uri = self._resolve(opts.resolve_uri)
        self._log_context["url"] = str(uri)
        headers = self._resolve(opts.resolve_headers)
        for hop in range(MAX_REDIRECTS + 1):
            transport = self._open_stream(uri, deadline)
            try:
                if hop == 0:
                    self._fire("on_connect")
                    if self._for_good or self._reconnect_at is not None:
                        transport.abort()
                        self._set_closed(1006, "")
                        return None
                with _timeout(deadline, "the opening handshake"):
                    leftover, redirect = self._handshake(transport, uri, headers)
            except BaseException:
                transport.abort()
                raise
            if redirect is None:
                return transport, leftover
            transport.abort()
            self._log.info("redirected (HTTP %s) to %s", self._response and self._response.status, redirect)
            uri = redirect
        raise _Failure(ErrorCode.HANDSHAKE_FAIL, HandshakeError(f"more than {MAX_REDIRECTS} redirects"))

    def _open_stream(self, uri: WebSocketURI, deadline: float | None) -> Transport:
        try:
            with _timeout(deadline, "connecting"):
                transport = open_transport(uri, self._options.ssl_context)
        except ConnectError as exc:
            code = ErrorCode.TLS_FAIL if isinstance(exc, TLSError) else ErrorCode.CONNECT_FAIL
            raise _Failure(code, exc) from exc
        self._log.debug("TCP connected to %s:%s", uri.host, uri.port)
        return transport

    def _resolve(self, provider: Callable[[], Any]) -> Any:
        """Call a URL or headers provider, turning its failure into a report."""
        try:
            return provider()
        except WebSocketError as exc:
            raise _Failure(ErrorCode.CONNECT_FAIL, exc) from exc
        except Exception as exc:
            error = ConnectError(f"the url or headers callable failed: {exc!r}")
            error.__cause__ = exc
            raise _Failure(ErrorCode.CONNECT_FAIL, error) from exc

    def _handshake(
        self, transport: Transport, uri: WebSocketURI, headers: Headers
    ) -> tuple[bytes, WebSocketURI | None]:
        """Send the upgrade; return the bytes read past the response head and,
        for a redirect, where to go instead."""
        opts = self._options
        key = new_key()
        first = self._uri
        assert first is not None
        if (uri.host, uri.port) != (first.host, first.port):
            headers = Headers([(n, v) for n, v in headers.raw_items() if n.lower() != "authorization"])
        request = build_request(uri, key, headers, origin=opts.origin, subprotocols=opts.subprotocols)
        self._log.debug("upgrade request for %s, headers %s", uri, redact(headers.raw_items()))
        try:
            transport.write(request)
            head, rest = transport.read_head(b"", opts.max_response_head)
            response = parse_response(head)
            while 100 <= response.status < 200 and response.status != 101:
                # An interim response (100 Continue, 103 Early Hints): the real one follows.
                head, rest = transport.read_head(rest, opts.max_response_head)
                response = parse_response(head)
            if response.status != 101:
                body = self._read_error_body(transport, response, rest)
                response = Response(response.status, response.reason, response.headers, head, body)
            self._response = response
            redirect = redirect_target(uri, response)
            if redirect is not None:
                return b"", redirect
            self._subprotocol = check_response(response, key, opts.subprotocols)
        except HandshakeError as exc:
            raise _Failure(ErrorCode.HANDSHAKE_FAIL, exc) from exc
        except OSError as exc:
            raise _Failure(
                ErrorCode.CONNECT_FAIL, ConnectError(f"connection lost during the handshake: {exc}")
            ) from exc
        self._log.debug("handshake done: %s %s", response.status, response.reason)
        return rest, None

    def _read_error_body(self, transport: Transport, response: Response, data: bytes) -> bytes:
        try:
            wanted = min(int(response.headers.get("Content-Length", "0")), _MAX_ERROR_BODY)
        except ValueError:
            wanted = 0
        buffer = bytearray(data)
        try:
            while len(buffer) < wanted:
                chunk = transport.recv(wanted - len(buffer))
                if not chunk:
                    break
                buffer += chunk
        except OSError:
            pass
        return bytes(buffer[:wanted])

    def _on_open(self, transport: Transport, leftover: bytes) -> None:
        self._parser = FrameParser(transport.recv, self._options.max_message_size, leftover)
        self._transport = transport
        if self._backoff is not None:
            self._backoff.opened()
        if self._options.ping_interval is not None:
            # Started before the replay and the flush, so that writing them to a
            # peer that stopped reading is bounded by ping_interval + ping_timeout.
            self._keepalive = gevent.spawn(self._keepalive_loop, transport)
            self._keepalive.name = f"geventws-keepalive {self._log_context['url']}"
        if self.on_open_replay is not None:
            self._replaying = True  # the hook's sends are written at once, ahead of the outbox
            try:
                self._fire("on_open_replay")
            finally:
                self._replaying = False
        # Flush what was queued before the handshake, in order, before the state
        # says OPEN: sends that arrive meanwhile queue behind it.
        flushed = bool(self._outbox)
        while self._outbox:
            message = self._outbox.popleft()
            try:
                transport.write(encode_frame(*message))
            except OSError:
                self._outbox.appendleft(message)
                raise
        self._state = State.OPEN
        self._opened.set()
        if flushed:
            self._fire("on_buffer_drain")
        self._fire("on_websocket_connect", self._response)

    def _receive_loop(self, transport: Transport) -> None:
        parser = self._parser
        while True:
            try:
                opcode, data = parser.read()
                if opcode in (OP_TEXT, OP_BINARY):
                    self._deliver(data)
                    continue
                assert isinstance(data, bytes)
                if opcode == OP_PING:
                    if not self._close_sent:
                        transport.write(encode_frame(OP_PONG, data))
                    self._fire("on_ping", data)
                elif opcode == OP_PONG:
                    self._pong_received(data)
                    self._fire("on_pong", data)
                elif opcode == OP_CLOSE:
                    self._close_received(transport, *parse_close(data))
                    return
            except ProtocolError as exc:
                code = ErrorCode.MESSAGE_TOO_BIG if exc.close_code == 1009 else ErrorCode.PROTOCOL_ERROR
                raise _Failure(code, exc) from exc
            except (OSError, EOFError) as exc:
                self._lost(exc)
                return

    def _deliver(self, data: str | bytes) -> None:
        if self.on_message is not None:
            self._fire("on_message", data)
        else:
            self._inbox.put(data)

    def _pong_received(self, payload: bytes) -> None:
        pong = self._pings.get(payload)
        if pong is None:
            return
        now = time.monotonic()
        # A pong acknowledges its ping and every ping sent before it.
        for key in list(self._pings):
            self._pings.pop(key)._resolve(now)
            if key == payload:
                break
        self._latency = pong.latency

    def _close_received(self, transport: Transport, code: int, reason: str) -> None:
        self._log.debug("close frame received: %s %r", code, reason)
        self._set_closed(code, reason)
        if not self._close_sent:
            self._close_sent = True
            self._state = State.CLOSING
            try:
                transport.write(encode_close(None if code == 1005 else code, reason))
            except OSError:
                return
        # RFC 6455 §7.1.1: the server closes TCP first; wait for it, bounded by
        # the close timer (a total deadline: a server that trickles bytes
        # cannot keep us here).
        self._arm_close_timer(transport)
        with contextlib.suppress(OSError):
            while transport.recv(4096):
                pass

    def _start_closing(self, code: int, reason: str) -> None:
        transport = self._transport
        if transport is None or self._close_sent:
            return
        self._close_sent = True
        self._state = State.CLOSING
        self._arm_close_timer(transport)
        try:
            transport.write(encode_close(code, reason))
        except OSError:
            transport.abort()

    def _arm_close_timer(self, transport: Transport) -> None:
        """Abort the stream ``close_timeout`` seconds after the close began."""
        if self._close_timer is None and self._options.close_timeout is not None:
            self._close_timer = gevent.get_hub().loop.timer(self._options.close_timeout)
            self._close_timer.start(transport.abort)

    def _lost(self, exc: BaseException) -> None:
        if self._abort_reason is not None:
            raise self._abort_reason
        if self._close_sent:
            self._set_closed(1006, "")  # close_timeout expired or the server dropped during close
            return
        raise _Failure(ErrorCode.CONNECTION_LOST, _lost_error(None, exc)) from exc

    def _fail(self, transport: Transport | None, failure: _Failure) -> None:
        exc = failure.exc
        if isinstance(exc, ProtocolError):
            self._set_closed(exc.close_code, "")
            if transport is not None and not self._close_sent:
                self._close_sent = True
                try:
                    with gevent.Timeout(self._options.close_timeout, False):  # type: ignore[arg-type]
                        transport.write(encode_close(exc.close_code, ""))
                except OSError:
                    pass
        elif self._close_code is None:
            self._set_closed(1006, "")
        self._log.info("%s: %s", failure.code.name, exc)
        if isinstance(exc, WebSocketError):
            self._last_error = exc
            self._attempt_error = exc
        self._report(failure.code, str(exc))

    def _set_closed(self, code: int, reason: str) -> None:
        if self._close_code is None:
            self._close_code = code
            self._close_reason = reason

    def _cleanup(self, transport: Transport | None) -> None:
        self._set_closed(1006, "")
        self._state = State.CLOSED
        self._transport = None
        if self._close_timer is not None:
            self._close_timer.stop()
            self._close_timer = None
        if transport is not None:
            transport.abort()
        keepalive = self._keepalive
        self._keepalive = None
        self._attempt_ended.set()
        if keepalive is not None and keepalive is not gevent.getcurrent():
            keepalive.join()
        for pong in self._pings.values():
            pong._cancel()
        self._pings.clear()

    # -- keepalive ---------------------------------------------------------------

    def _keepalive_loop(self, transport: Transport) -> None:
        opts = self._options
        assert opts.ping_interval is not None
        ended = self._attempt_ended
        try:
            while not ended.wait(opts.ping_interval):
                if self._close_sent or self._ping_answered(transport, opts.ping_timeout):
                    continue
                if not ended.is_set():
                    error = PingTimeout(f"no pong within {opts.ping_timeout} seconds")
                    self._abort_reason = _Failure(ErrorCode.PING_TIMEOUT, error)
                    transport.abort()
                return
        except WebSocketError:
            pass  # the connection closed meanwhile; the receiver reports it
        except Exception:
            self._log.exception("keepalive failed")

    def _ping_answered(self, transport: Transport, timeout: float | None) -> bool:
        """Ping and wait for the pong; the time to write the ping counts too,
        since it may wait behind a send that a dead peer never reads."""
        deadline = None if timeout is None else time.monotonic() + timeout
        pong = None
        with gevent.Timeout(timeout, False):  # type: ignore[arg-type]
            pong = self._send_ping(transport)
        if pong is None:
            return False
        remaining = None if deadline is None else max(deadline - time.monotonic(), 0)
        gevent.wait([pong._event, self._attempt_ended], timeout=remaining, count=1)
        return pong.latency is not None

    # -- callbacks ---------------------------------------------------------------

    def _fire(self, name: str, *args: Any) -> None:
        callback = getattr(self, name)
        if callback is None:
            return
        try:
            callback(self, *args)
        except Exception:
            self._log.exception("error in %s callback", name)

    def _report(self, code: ErrorCode, msg: str) -> None:
        if self.on_error is None and not self._errors_raised:
            self._log.warning("%s: %s", code.name, msg)
        self._fire("on_error", code, msg)

    def __repr__(self) -> str:
        return f"<geventws.Connection {self._log_context['url']} {self._state.value}>"


def _lost_error(code: int | None, exc: BaseException) -> ConnectionClosed:
    """A :class:`ConnectionClosedError` for a connection lost with ``exc``."""
    error = closed_exception(code or 1006, "")
    error.args = (f"{error.args[0]}: {exc}",)
    return error


class _timeout:  # noqa: N801 - used as a context manager, like gevent.Timeout
    """Turn a deadline into :class:`OpenTimeout` (a ConnectError and a TimeoutError)."""

    def __init__(self, deadline: float | None, what: str) -> None:
        self._deadline = deadline
        self._what = what
        self._timer: gevent.Timeout | None = None

    def __enter__(self) -> None:
        if self._deadline is not None:
            self._timer = gevent.Timeout(max(self._deadline - time.monotonic(), 0))
            self._timer.start()

    def __exit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> None:
        timer = self._timer
        if timer is None:
            return
        timer.close()
        if exc is timer:
            raise _Failure(
                ErrorCode.CONNECT_FAIL, OpenTimeout(f"open_timeout expired during {self._what}")
            ) from None


def connect(url: URLLike, **options: Any) -> Connection:
    """Open a connection and return it once the handshake is done.

    Takes the options and callbacks of :class:`Connection`. Raises
    :class:`ConnectError` (:class:`HandshakeError`, :class:`TLSError`,
    :class:`OpenTimeout`…) if it cannot be opened; with a ``reconnect`` policy
    it keeps trying until the policy gives up. Use it as a context manager to
    close it on exit.
    """
    conn = Connection(url, **options)
    conn._errors_raised = True
    try:
        conn.connect()
        gevent.wait([conn._opened, conn._finished], count=1)
    finally:
        conn._errors_raised = False
    if not conn._opened.is_set():
        error = conn.last_error
        raise error if error is not None else ConnectError("connection failed")
    return conn
