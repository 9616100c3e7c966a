"""geventws: a WebSocket client for gevent, after Workerman's ``AsyncTcpConnection``.

Callback style::

    conn = geventws.Connection("ws://127.0.0.1:1234", ping_interval=55)
    conn.on_websocket_connect = lambda conn, response: conn.send("hello")
    conn.on_message = lambda conn, data: print(data)
    conn.connect()
    geventws.run_all()

Sequential style::

    with geventws.connect("ws://127.0.0.1:1234") as ws:
        ws.send("hello")
        print(ws.recv(timeout=5))

geventws never monkey-patches: it uses gevent's own socket and ssl modules.
"""

from __future__ import annotations

import logging

from .client import connect
from .connection import Connection, Pong
from .exceptions import (
    ConcurrencyError,
    ConnectError,
    ConnectionClosed,
    ConnectionClosedError,
    ConnectionClosedOK,
    HandshakeError,
    InvalidHeader,
    InvalidMessage,
    InvalidURL,
    MessageTooBig,
    NegotiationError,
    OpenTimeout,
    PingTimeout,
    ProtocolError,
    ProxyError,
    SendBufferFull,
    TLSError,
    WebSocketError,
)
from .fleet import Fleet
from .observed import stats_snapshot
from .protocol.backoff import ReconnectPolicy, Verdict, default_classifier
from .protocol.codes import CloseCode, ErrorCode
from .protocol.handshake import Response
from .protocol.headers import Headers
from .protocol.options import BINARY_TYPE_ARRAYBUFFER, BINARY_TYPE_BLOB, Options
from .protocol.state import State
from .protocol.stats import ConnectTimings, Stats, StatsSnapshot
from .runner import close_all, run_all, stop_all
from .runtime.limiter import HandshakeLimiter

__version__ = "0.2.0.dev0"

#: ``on_error`` codes, also as module constants (Workerman names the first two).
CONNECT_FAIL = ErrorCode.CONNECT_FAIL
SEND_FAIL = ErrorCode.SEND_FAIL
HANDSHAKE_FAIL = ErrorCode.HANDSHAKE_FAIL
PROTOCOL_ERROR = ErrorCode.PROTOCOL_ERROR
MESSAGE_TOO_BIG = ErrorCode.MESSAGE_TOO_BIG
PING_TIMEOUT = ErrorCode.PING_TIMEOUT
TLS_FAIL = ErrorCode.TLS_FAIL
CONNECTION_LOST = ErrorCode.CONNECTION_LOST

logging.getLogger("geventws").addHandler(logging.NullHandler())

__all__ = [
    "BINARY_TYPE_ARRAYBUFFER",
    "BINARY_TYPE_BLOB",
    "CONNECTION_LOST",
    "CONNECT_FAIL",
    "HANDSHAKE_FAIL",
    "MESSAGE_TOO_BIG",
    "PING_TIMEOUT",
    "PROTOCOL_ERROR",
    "SEND_FAIL",
    "TLS_FAIL",
    "CloseCode",
    "ConcurrencyError",
    "ConnectError",
    "ConnectTimings",
    "Connection",
    "ConnectionClosed",
    "ConnectionClosedError",
    "ConnectionClosedOK",
    "ErrorCode",
    "Fleet",
    "HandshakeError",
    "InvalidHeader",
    "Headers",
    "InvalidMessage",
    "InvalidURL",
    "MessageTooBig",
    "NegotiationError",
    "OpenTimeout",
    "Options",
    "PingTimeout",
    "Pong",
    "ProtocolError",
    "ProxyError",
    "ReconnectPolicy",
    "Verdict",
    "default_classifier",
    "HandshakeLimiter",
    "SendBufferFull",
    "Response",
    "State",
    "Stats",
    "StatsSnapshot",
    "TLSError",
    "WebSocketError",
    "close_all",
    "connect",
    "run_all",
    "stats_snapshot",
    "stop_all",
]
