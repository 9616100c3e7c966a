"""Workerman's spellings, for people porting PHP code: a thin layer over :class:`Connection`.

The PHP ws-client example becomes, name for name::

    from geventws.workerman import AsyncTcpConnection, Worker, Ws

    worker = Worker()

    def on_worker_start():
        ws_connection = AsyncTcpConnection("ws://127.0.0.1:1234")
        ws_connection.websocketPingInterval = 55
        ws_connection.headers = {"Cookie": "PHPSID=...", "OtherKey": "values"}
        ws_connection.websocketType = Ws.BINARY_TYPE_BLOB
        ws_connection.onWebSocketConnect = lambda con, response: con.send("hello")
        ws_connection.onMessage = lambda connection, data: print(f"recv: {data}")
        ws_connection.onClose = lambda connection: connection.reConnect(1)
        ws_connection.connect()

    worker.onWorkerStart = on_worker_start
    Worker.runAll()

When the attributes are read, as in PHP:

- callbacks (``onMessage``…): each time they fire, so they may be set or
  changed at any time;
- ``websocketType``: at every :meth:`AsyncTcpConnection.send`;
- ``headers``: before every attempt, reconnects included;
- ``websocketPingInterval``, ``websocketOrigin``, ``websocketClientProtocol``,
  ``transport``: when the underlying :class:`Connection` is built, at the
  first :meth:`AsyncTcpConnection.connect` (or ``send()`` before it) and at a
  ``connect()`` after the connection finished; ``reConnect()`` keeps them.

``Worker.runAll()`` runs, like a Workerman worker's event loop, until SIGINT,
SIGTERM or ``Worker.stopAll()``, also once no connection is left (closed for
good, e.g. ``close()`` with no ``reConnect`` in ``onClose``); then it returns
and the script exits with status 0. (``geventws.run_all()`` instead returns as
soon as no connection is left.)

Everything else in geventws is snake_case; only this module speaks Workerman.
"""

# ruff: noqa: N802, N815 - the names are Workerman's, camelCase on purpose

from __future__ import annotations

import inspect
import itertools
import logging
import signal
from collections.abc import Callable
from typing import Any, ClassVar, cast

import gevent
import gevent.event
import gevent.monkey

from .connection import Connection
from .exceptions import ConnectionClosed, InvalidMessage, SendBufferFull
from .protocol.codes import ErrorCode
from .protocol.handshake import Response
from .protocol.options import BINARY_TYPE_ARRAYBUFFER, BINARY_TYPE_BLOB
from .protocol.state import State
from .runner import run_all, stop_all

__all__ = ["WORKERMAN_CONNECT_FAIL", "WORKERMAN_SEND_FAIL", "AsyncTcpConnection", "Worker", "Ws"]

logger = logging.getLogger("geventws")

#: Workerman's ``onError`` codes (``geventws.CONNECT_FAIL`` and ``geventws.SEND_FAIL``).
WORKERMAN_CONNECT_FAIL = ErrorCode.CONNECT_FAIL
WORKERMAN_SEND_FAIL = ErrorCode.SEND_FAIL

# Options that have a Workerman attribute: set the attribute instead.
_ATTRIBUTE_OPTIONS = {
    "headers": "headers",
    "ping_interval": "websocketPingInterval",
    "websocket_type": "websocketType",
    "origin": "websocketOrigin",
    "subprotocols": "websocketClientProtocol",
}

_ids = itertools.count(1)


class Ws:
    """Workerman's ``Workerman\\Protocols\\Ws`` constants."""

    #: ``send()`` writes text frames (Workerman's default).
    BINARY_TYPE_BLOB: ClassVar[str] = BINARY_TYPE_BLOB
    #: ``send()`` writes binary frames.
    BINARY_TYPE_ARRAYBUFFER: ClassVar[str] = BINARY_TYPE_ARRAYBUFFER


class AsyncTcpConnection:
    """Workerman's ``new AsyncTcpConnection("ws://…")`` over a :class:`geventws.Connection`.

    ``options`` are geventws' snake_case options for what Workerman has no
    attribute for (``ssl_context``, ``ping_timeout``, ``reconnect``…). Callbacks
    receive this object, so ``connection.reConnect(1)`` works in them.
    """

    onConnect: Callable[..., object] | None
    onWebSocketConnect: Callable[..., object] | None
    onMessage: Callable[..., object] | None
    onError: Callable[..., object] | None
    onClose: Callable[..., object] | None
    onWebSocketPing: Callable[..., object] | None
    onWebSocketPong: Callable[..., object] | None
    onBufferFull: Callable[..., object] | None
    onBufferDrain: Callable[..., object] | None

    def __init__(self, remote_address: str, **options: Any) -> None:
        for option, attribute in _ATTRIBUTE_OPTIONS.items():
            if option in options:
                raise TypeError(f"set the {attribute} attribute instead of the {option} option")
        self.id = next(_ids)
        self.remoteAddress = remote_address
        #: Seconds between pings; ``0`` or ``None``: no pings (Workerman's default).
        self.websocketPingInterval: float | None = None
        #: Extra handshake headers, read before every attempt.
        self.headers: Any = {}
        #: ``Ws.BINARY_TYPE_BLOB`` (text frames, the default) or ``Ws.BINARY_TYPE_ARRAYBUFFER``.
        self.websocketType: str = Ws.BINARY_TYPE_BLOB
        self.websocketOrigin: str | None = None
        #: Offered subprotocols, comma-separated as in the header.
        self.websocketClientProtocol: str | None = None
        #: ``"ssl"`` turns a ``ws://`` address into ``wss://``.
        self.transport = "tcp"
        self.onConnect = self.onWebSocketConnect = self.onMessage = None
        self.onError = self.onClose = self.onWebSocketPing = self.onWebSocketPong = None
        self.onBufferFull = self.onBufferDrain = None
        self._options = options
        self._conn: Connection | None = None

    @property
    def connection(self) -> Connection | None:
        """The underlying :class:`geventws.Connection`, once built."""
        return self._conn

    def connect(self) -> None:
        """Start connecting with the current attributes; returns at once.

        A no-op while connecting or open; restarts a connection that is
        closing or closed (also from ``onClose``).
        """
        conn = self._conn
        if conn is None or conn.finished:
            self._build().connect()
        elif conn.state is State.INITIAL:
            conn.connect()
        elif conn.state not in (State.CONNECTING, State.OPEN):
            conn.reconnect(0)

    def reConnect(self, after: float = 0) -> None:
        """Connect again ``after`` seconds from now (Workerman's ``reConnect``).

        Keeps the options read by the last :meth:`connect` (``headers`` are
        read again); ignored after ``Worker.stopAll()`` / ``geventws.stop_all()``.
        """
        conn = self._conn if self._conn is not None else self._build()
        conn.reconnect(after)

    def cancelReconnect(self) -> None:
        """Cancel a pending :meth:`reConnect`."""
        if self._conn is not None:
            self._conn.cancel_reconnect()

    def send(self, data: str | bytes) -> bool | None:
        """Send one message, as a text or binary frame after ``websocketType``.

        Returns ``True`` once written (or coalesced with the sends before it,
        see ``Connection.send``), ``None`` when queued (not open yet, it
        goes out after the handshake), ``False`` when the connection is closed
        or the send buffer is full (then ``onError(conn, WORKERMAN_SEND_FAIL,
        msg)`` fires, as in Workerman). Raises :class:`geventws.InvalidMessage`
        for bytes that are not UTF-8 under ``BINARY_TYPE_BLOB``.
        """
        payload = self._typed(data)
        conn = self._conn if self._conn is not None else self._build()
        was_open = conn.state is State.OPEN
        try:
            conn.send(payload)
        except ConnectionClosed:
            return False
        except SendBufferFull as exc:
            self._fire("onError", WORKERMAN_SEND_FAIL, f"send buffer full and drop package: {exc}")
            return False
        return True if was_open else None

    def close(self, data: str | bytes | None = None) -> None:
        """Send ``data`` if given, then close (code 1000); cancels a pending reconnect."""
        if data is not None:
            self.send(data)
        if self._conn is not None:
            self._conn.close()

    def _typed(self, data: str | bytes) -> str | bytes:
        kind = self.websocketType
        if kind == BINARY_TYPE_ARRAYBUFFER:
            return data.encode("utf-8") if isinstance(data, str) else data
        if kind != BINARY_TYPE_BLOB:
            raise ValueError(
                f"websocketType must be Ws.BINARY_TYPE_BLOB or Ws.BINARY_TYPE_ARRAYBUFFER, not {kind!r}"
            )
        if isinstance(data, str):
            return data
        try:
            return bytes(data).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InvalidMessage(
                "websocketType is Ws.BINARY_TYPE_BLOB (text frames) but the bytes are not UTF-8"
            ) from exc

    def _build(self) -> Connection:
        url = self.remoteAddress
        if self.transport == "ssl" and url.startswith("ws://"):
            url = "wss://" + url[len("ws://") :]
        protocols = self.websocketClientProtocol
        conn = Connection(
            url,
            # A callable (read before every attempt); ConnectOptions types only mappings.
            headers=cast(Any, lambda: self.headers or {}),
            ping_interval=self.websocketPingInterval or None,
            # websocketType is applied by _typed() at every send(), as in PHP.
            websocket_type=None,
            origin=self.websocketOrigin,
            subprotocols=[p.strip() for p in protocols.split(",")] if protocols else (),
            **self._options,
        )
        conn.on_connect = lambda c: self._fire("onConnect")
        conn.on_websocket_connect = self._websocket_connected
        conn.on_message = lambda c, data: self._fire("onMessage", data)
        conn.on_error = self._error
        conn.on_close = lambda c: self._fire("onClose")
        conn.on_ping = lambda c, data: self._fire("onWebSocketPing", data)
        conn.on_pong = lambda c, data: self._fire("onWebSocketPong", data)
        conn.on_buffer_full = lambda c: self._fire("onBufferFull")
        conn.on_buffer_drain = lambda c: self._fire("onBufferDrain")
        self._conn = conn
        return conn

    def _error(self, conn: Connection, code: ErrorCode, msg: str) -> None:
        if self.onError is None:  # never silent, as Connection without on_error
            logger.warning("%r %s: %s", conn, code.name, msg)
        self._fire("onError", code, msg)

    def _websocket_connected(self, conn: Connection, response: Response) -> None:
        self._fire("onWebSocketConnect", response)

    def _fire(self, name: str, *args: Any) -> None:
        callback = getattr(self, name)
        if callback is not None:
            # Connection._fire logs what this raises; it is called from there.
            callback(self, *args)

    def __repr__(self) -> str:
        return f"<AsyncTcpConnection #{self.id} {self._conn!r}>"


class Worker:
    """Workerman's ``Worker`` for client-only processes: ``onWorkerStart`` and ``runAll()``.

    A geventws process runs one worker per ``Worker()`` in one process (no
    listening socket, no forked children, no daemon mode).
    """

    _workers: ClassVar[list[Worker]] = []
    _stopping: ClassVar[gevent.event.Event | None] = None

    onWorkerStart: Callable[..., object] | None
    onWorkerStop: Callable[..., object] | None

    def __init__(self, socket_name: str = "") -> None:
        if socket_name:
            raise ValueError(
                "geventws.workerman.Worker only runs clients: it takes no listen address "
                f"({socket_name!r}); open connections with AsyncTcpConnection in onWorkerStart"
            )
        self.name = "none"
        self.count = 1
        self.onWorkerStart = None
        self.onWorkerStop = None
        Worker._workers.append(self)

    @classmethod
    def runAll(cls) -> None:
        """Call every worker's ``onWorkerStart``, then run until SIGINT, SIGTERM or :meth:`stopAll`.

        Like Workerman's event loop, it keeps running when no connection is
        left (all closed for good, or none opened yet): a timer or another
        greenlet may still open one. Then every connection is closed for good
        (code 1001, later ``reConnect()`` calls are ignored), ``onWorkerStop``
        runs, and ``runAll()`` returns: a script that ends there exits with
        status 0. Signals are only handled in the main thread; elsewhere only
        :meth:`stopAll` ends it.
        """
        workers, cls._workers = list(cls._workers), []
        stopping = cls._stopping = gevent.event.Event()
        restore = _handle_signals(stopping)
        try:
            for worker in workers:
                _call_with_worker(worker.onWorkerStart, worker)
            _wait_until_stopped(stopping)
        finally:
            restore()
            cls._stopping = None
            stop_all()
            run_all(handle_signals=False)  # returns at once: stop_all() waited for them
        for worker in workers:
            _call_with_worker(worker.onWorkerStop, worker)

    @classmethod
    def stopAll(cls) -> None:
        """End :meth:`runAll` (from any greenlet); without it running, close every connection for good."""
        if cls._stopping is not None:
            cls._stopping.set()
        else:
            stop_all()


#: Seconds between the idle wake-ups of ``runAll()`` (see :func:`_wait_until_stopped`).
_IDLE_TICK = 3600.0


def _wait_until_stopped(stopping: gevent.event.Event) -> None:
    """Wait for ``stopping``, even when nothing else keeps the hub busy.

    gevent's signal watchers do not keep its loop alive, so with no
    connection left a plain ``stopping.wait()`` raises ``LoopExit``. The
    timer of a bounded wait does keep it alive (as the idle timer
    Workerman's ``Worker`` adds so that its loop never runs dry), and a
    signal still ends the wait at once.
    """
    while not stopping.wait(_IDLE_TICK):
        pass


def _call_with_worker(callback: Callable[..., object] | None, worker: Worker) -> None:
    """PHP passes the worker to callbacks that take it; closures often take nothing."""
    if callback is None:
        return
    try:
        inspect.signature(callback).bind(worker)
    except TypeError:
        callback()
    except ValueError:  # no signature (a builtin): give it the worker
        callback(worker)
    else:
        callback(worker)


def _handle_signals(stopping: gevent.event.Event) -> Callable[[], None]:
    """Let SIGINT and SIGTERM set ``stopping``; return what undoes it."""
    current_thread = gevent.monkey.get_original("threading", "current_thread")
    main_thread = gevent.monkey.get_original("threading", "main_thread")
    if current_thread() is not main_thread():
        return lambda: None
    previous = {signum: signal.getsignal(signum) for signum in (signal.SIGINT, signal.SIGTERM)}
    watchers = [gevent.signal_handler(signum, _on_signal, signum, stopping) for signum in previous]

    def restore() -> None:
        for watcher in watchers:
            watcher.cancel()
        for signum, handler in previous.items():
            signal.signal(signum, handler)

    return restore


def _on_signal(signum: int, stopping: gevent.event.Event) -> None:
    logger.info("signal %d: stopping the workers", signum)
    stopping.set()
