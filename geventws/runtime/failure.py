"""What ended an attempt, as an ``on_error`` code: one mapping, by exception type."""

from __future__ import annotations

from ..exceptions import (
    ConnectError,
    ConnectionClosed,
    HandshakeError,
    MessageTooBig,
    PingTimeout,
    ProtocolError,
    ProxyError,
    TLSError,
    WebSocketError,
    closed_exception,
)
from ..protocol.codes import CloseCode, ErrorCode

__all__ = ["error_code", "lost_error"]

# Most specific first: TLSError and HandshakeError are ConnectErrors too, and a
# proxy's refusal (a HandshakeError) means the server was never reached.
_ERROR_CODES: tuple[tuple[type[BaseException], ErrorCode], ...] = (
    (TLSError, ErrorCode.TLS_FAIL),
    (ProxyError, ErrorCode.CONNECT_FAIL),
    (HandshakeError, ErrorCode.HANDSHAKE_FAIL),
    (ConnectError, ErrorCode.CONNECT_FAIL),
    (MessageTooBig, ErrorCode.MESSAGE_TOO_BIG),
    (ProtocolError, ErrorCode.PROTOCOL_ERROR),
    (PingTimeout, ErrorCode.PING_TIMEOUT),
    (ConnectionClosed, ErrorCode.CONNECTION_LOST),
)


def error_code(exc: BaseException, *, opening: bool = False) -> ErrorCode:
    """The ``on_error`` code for the exception that ended an attempt.

    ``opening``: the stream was not open yet, so any other
    :class:`WebSocketError` (an :class:`InvalidURL` from a URL callable) is a
    failure to connect.
    """
    for cls, code in _ERROR_CODES:
        if isinstance(exc, cls):
            return code
    if opening and isinstance(exc, WebSocketError):
        return ErrorCode.CONNECT_FAIL
    return ErrorCode.CONNECTION_LOST


def lost_error(code: int | None, exc: BaseException) -> ConnectionClosed:
    """A :class:`ConnectionClosedError` for a connection lost with ``exc``."""
    error = closed_exception(code or CloseCode.ABNORMAL_CLOSURE, "")
    error.args = (f"{error.args[0]}: {exc}",)
    return error
