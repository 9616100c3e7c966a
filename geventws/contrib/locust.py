"""A Locust user whose ``self.ws`` is a geventws :class:`~geventws.Connection`.

Needs ``pip install "geventws[locust]"``. In a locustfile::

    from locust import between, task
    from geventws.contrib.locust import WebSocketUser

    class EchoUser(WebSocketUser):
        wait_time = between(0.1, 0.5)

        @task
        def echo(self):
            self.request("hello", name="echo")   # send, wait for the reply, timed

    # locust -f locustfile.py --host ws://127.0.0.1:8765/

What reaches Locust's statistics (type, name):

- ``WSCONN``, ``connect`` (:attr:`~WebSocketUser.connect_name`): every
  connect, timed from ``connect()`` to the end of the handshake; a failed one
  is a failure carrying the geventws error code and message
  (:class:`WebSocketFailure`). With :attr:`~WebSocketUser.connect_phases`,
  also ``connect: tcp+tls`` and ``connect: upgrade``.
- ``WSCONN``, ``connection error``: errors after the handshake (connection
  lost, ping timeout, protocol error...).
- ``WS``, *name*: round trips of :meth:`~WebSocketUser.request` and waits of
  :meth:`~WebSocketUser.expect`; a timeout, a closed connection or a failed
  send is a failure (a failed send is also one under ``WSS``).
- ``WSS`` / ``WSR``, *name*: every message sent / received, with its size in
  bytes (no response time), when :attr:`~WebSocketUser.count_messages` is
  true. Replies count under their request's name, other messages under
  :meth:`~WebSocketUser.unsolicited` (``unsolicited`` by default).

The connection opens in ``on_start`` and closes in ``on_stop`` (call
``super()`` if you override them). Once closed or lost, it reopens at the next
``send``, ``request`` or ``expect``, which returns ``None`` (the failure
already recorded) if it cannot.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, ClassVar

import gevent
import gevent.event
from locust import User

from ..connection import Connection
from ..exceptions import ConnectionClosed, WebSocketError
from ..protocol.codes import ErrorCode
from ..protocol.state import State

__all__ = ["WebSocketFailure", "WebSocketUser"]

Matcher = Callable[[str | bytes], bool]
Message = str | bytes


class WebSocketFailure(Exception):
    """A failure reported to Locust: ``code`` is the geventws error code (``None`` if none)."""

    def __init__(self, code: int | None, msg: str) -> None:
        self.code = code
        super().__init__(f"{ErrorCode(code).name} ({int(code)}): {msg}" if code is not None else msg)


class _Waiter:
    """A request or expect waiting for the message its matcher accepts."""

    __slots__ = ("match", "result")

    def __init__(self, match: Matcher) -> None:
        self.match = match
        self.result: gevent.event.AsyncResult[Message] = gevent.event.AsyncResult()


def _any_message(data: Message) -> bool:
    return True


def _size(data: Message) -> int:
    if isinstance(data, bytes):
        return len(data)
    return len(data) if data.isascii() else len(data.encode("utf-8"))


class WebSocketUser(User):
    """A Locust ``User`` with a geventws connection in ``self.ws`` to the user's ``host``.

    ``host`` is a ``ws://``/``wss://`` URL (``http``/``https`` are turned into
    ``ws``/``wss``), followed by :attr:`ws_path`; :attr:`ws_options` are the
    :class:`~geventws.Connection` options. Send with :meth:`send`, time round
    trips with :meth:`request` and server pushes with :meth:`expect`.
    """

    abstract = True
    #: Appended to ``host`` to make the URL.
    ws_path: ClassVar[str] = ""
    #: Options of :class:`geventws.Connection` (``headers``, ``ssl_context``...).
    ws_options: ClassVar[dict[str, Any]] = {}
    #: The statistics entry of connects.
    connect_name: ClassVar[str] = "connect"
    #: Also report ``connect: tcp+tls`` and ``connect: upgrade`` entries.
    connect_phases: ClassVar[bool] = False
    #: The statistics entry of errors after the handshake.
    error_name: ClassVar[str] = "connection error"
    #: Seconds :meth:`request` and :meth:`expect` wait by default.
    request_timeout: ClassVar[float] = 10.0
    #: Report every message sent (``WSS``) and received (``WSR``) with its size. Each report
    #: is a Locust event: turn it off for the last third of a saturated generator's throughput.
    count_messages: ClassVar[bool] = True
    #: The entry of received messages that no request or expect waited for.
    unsolicited_name: ClassVar[str | None] = "unsolicited"

    def __init__(self, environment: Any) -> None:
        super().__init__(environment)
        if "reconnect" in self.ws_options:
            raise ValueError(
                "WebSocketUser reconnects at the next send/request: leave out the reconnect option"
            )
        self._waiters: list[_Waiter] = []
        self._opened = gevent.event.Event()
        self._ended = gevent.event.Event()
        self._connecting = False
        self._tcp_at: float | None = None
        self._connect_error: WebSocketFailure | None = None
        self.ws = Connection(self.ws_url(), **self.ws_options)
        self.ws.on_connect = self._tcp_connected
        self.ws.on_websocket_connect = lambda conn, response: self._opened.set()
        self.ws.on_message = self._message_received
        self.ws.on_error = self._error
        self.ws.on_close = self._closed

    def ws_url(self) -> str:
        """The URL to connect to: ``host`` (``http`` becomes ``ws``) plus :attr:`ws_path`."""
        host = self.host
        if not host:
            raise ValueError(f"{type(self).__name__} needs a host: --host ws://... or a host attribute")
        for web, ws in (("http://", "ws://"), ("https://", "wss://")):
            if host.startswith(web):
                host = ws + host[len(web) :]
        return host + self.ws_path

    # -- lifecycle ---------------------------------------------------------------

    def on_start(self) -> None:
        """Open the connection (a failed connect is recorded, and retried at the next send)."""
        self.ws_connect()

    def on_stop(self) -> None:
        """Close the connection (a closing handshake, bounded by ``close_timeout``)."""
        self.ws.close()

    def ws_connect(self) -> bool:
        """Open the connection unless it is open, recording the connect; whether it opened."""
        conn = self.ws
        if self._is_open():
            return True
        if conn.state is not State.CONNECTING and conn.state is not State.INITIAL and not conn.finished:
            conn.wait_closed(self._bound(conn.options.close_timeout))  # let the ending attempt end
        self._opened.clear()
        self._ended.clear()
        self._tcp_at = None
        self._connect_error = None
        self._connecting = True
        started = time.perf_counter()
        try:
            if conn.state is State.INITIAL or conn.finished:
                conn.connect()
            elif conn.state is not State.CONNECTING:
                conn.reconnect(0)  # closing: connect again once that attempt ended
            gevent.wait([self._opened, self._ended], timeout=self._bound(conn.options.open_timeout), count=1)
        finally:
            self._connecting = False
        self._record_connect(started, time.perf_counter())
        # Opened counts even if the server closed it at once: the caller's send
        # then fails and is recorded, rather than being skipped in silence.
        return self._opened.is_set()

    @staticmethod
    def _bound(timeout: float | None) -> float | None:
        # The connection ends the attempt at its own timeout; this is only a backstop.
        return None if timeout is None else timeout + 5.0

    def _is_open(self) -> bool:
        return self.ws.state is State.OPEN

    def _record_connect(self, started: float, ended: float) -> None:
        if not self._opened.is_set():
            error = self._connect_error or WebSocketFailure(None, "the connection did not open")
            self._fire("WSCONN", self.connect_name, (ended - started) * 1000, 0, error)
            return
        self._fire("WSCONN", self.connect_name, (ended - started) * 1000, 0)
        if self.connect_phases and self._tcp_at is not None:
            self._fire("WSCONN", f"{self.connect_name}: tcp+tls", (self._tcp_at - started) * 1000, 0)
            self._fire("WSCONN", f"{self.connect_name}: upgrade", (ended - self._tcp_at) * 1000, 0)

    # -- sending and receiving ---------------------------------------------------

    def send(self, data: Message, name: str = "message") -> bool:
        """Send one message, counted under ``name``; whether it was sent (or queued).

        A closed connection is reopened first; a failure is recorded under ``name``.
        """
        if not self.ws_connect():
            return False
        return self._send_opened(data, name) is None

    def _send_opened(self, data: Message, name: str) -> WebSocketError | None:
        """Send on the connection :meth:`ws_connect` opened, counted as ``WSS``; the failure if any."""
        try:
            self.ws.send(data)
        except WebSocketError as exc:
            self._fire("WSS", name, None, _size(data), exc)
            return exc
        if self.count_messages:
            self._fire("WSS", name, None, _size(data))
        return None

    def request(
        self,
        data: Message,
        *,
        name: str = "request",
        match: Matcher | None = None,
        timeout: float | None = None,
    ) -> Message | None:
        """Send ``data`` and wait for the reply ``match`` accepts (default: the next message).

        Recorded as ``WS``/``name`` with the round-trip time and the reply's
        size; no reply within ``timeout`` (default :attr:`request_timeout`), a
        closed connection or a failed send is a failure (a failed send also
        counts under ``WSS``/``name``). Returns the reply, or ``None`` on failure.
        """
        if not self.ws_connect():
            return None
        waiter = _Waiter(match or _any_message)
        self._waiters.append(waiter)
        started = time.perf_counter()
        try:
            # Not send(): it would reopen a connection that closed since, and
            # its failure would miss this request's entry.
            failure = self._send_opened(data, name)
            if failure is not None:
                self._fire("WS", name, (time.perf_counter() - started) * 1000, 0, failure)
                return None
            return self._wait(waiter, name, started, timeout)
        finally:
            self._discard(waiter)

    def expect(
        self, match: Matcher | None = None, *, name: str = "expect", timeout: float | None = None
    ) -> Message | None:
        """Wait for a message ``match`` accepts (default: the next one), without sending.

        Recorded as ``WS``/``name``, timed from the call; a timeout is a
        failure. Returns the message, or ``None`` on failure.
        """
        if not self.ws_connect():
            return None
        waiter = _Waiter(match or _any_message)
        self._waiters.append(waiter)
        try:
            return self._wait(waiter, name, time.perf_counter(), timeout)
        finally:
            self._discard(waiter)

    def unsolicited(self, data: Message) -> str | None:
        """The entry a message nobody waited for counts under; ``None``: not counted.

        Override it to sort pushed messages by kind (default: :attr:`unsolicited_name`).
        """
        return self.unsolicited_name

    def _wait(self, waiter: _Waiter, name: str, started: float, timeout: float | None) -> Message | None:
        limit = self.request_timeout if timeout is None else timeout
        waiter.result.wait(limit)
        elapsed = (time.perf_counter() - started) * 1000
        if not waiter.result.ready():
            self._fire("WS", name, elapsed, 0, TimeoutError(f"no reply within {limit} s"))
            return None
        if not waiter.result.successful():
            self._fire("WS", name, elapsed, 0, waiter.result.exception)
            return None
        reply = waiter.result.value
        assert reply is not None
        self._fire("WS", name, elapsed, _size(reply))
        if self.count_messages:
            self._fire("WSR", name, None, _size(reply))
        return reply

    def _discard(self, waiter: _Waiter) -> None:
        if waiter in self._waiters:
            self._waiters.remove(waiter)

    # -- connection callbacks (in the connection's receive greenlet) --------------

    def _tcp_connected(self, conn: Connection) -> None:
        self._tcp_at = time.perf_counter()

    def _message_received(self, conn: Connection, data: Message) -> None:
        for waiter in self._waiters:
            if waiter.result.ready():
                continue
            try:
                matched = waiter.match(data)
            except Exception as exc:
                waiter.result.set_exception(exc)
                continue
            if matched:
                waiter.result.set(data)
                return
        name = self.unsolicited(data)
        if name is not None and self.count_messages:
            self._fire("WSR", name, None, _size(data))

    def _error(self, conn: Connection, code: int, msg: str) -> None:
        failure = WebSocketFailure(code, msg)
        if self._connecting:
            self._connect_error = failure
        else:
            self._fire("WSCONN", self.error_name, None, 0, failure)

    def _closed(self, conn: Connection) -> None:
        self._ended.set()
        closed = ConnectionClosed(conn.close_code or 1006, conn.close_reason)
        for waiter in self._waiters:
            if not waiter.result.ready():
                waiter.result.set_exception(closed)

    def _fire(
        self,
        request_type: str,
        name: str,
        response_time: float | None,
        length: int,
        exception: BaseException | None = None,
    ) -> None:
        self.environment.events.request.fire(
            request_type=request_type,
            name=name,
            response_time=response_time,
            response_length=length,
            exception=exception,
            context=self.context(),
        )
