"""The one mapping from an exception to its on_error code. No greenlets, no I/O."""

from __future__ import annotations

import pytest

from geventws.exceptions import (
    ConnectError,
    ConnectionClosedError,
    HandshakeError,
    InvalidURL,
    MessageTooBig,
    OpenTimeout,
    PingTimeout,
    ProtocolError,
    TLSError,
)
from geventws.protocol.codes import ErrorCode
from geventws.runtime.failure import error_code, lost_error


@pytest.mark.parametrize(
    ("exc", "code"),
    [
        (TLSError("bad certificate"), ErrorCode.TLS_FAIL),
        (HandshakeError("HTTP 403", 403), ErrorCode.HANDSHAKE_FAIL),
        (ConnectError("refused"), ErrorCode.CONNECT_FAIL),
        (OpenTimeout("open_timeout expired"), ErrorCode.CONNECT_FAIL),
        (MessageTooBig("too big"), ErrorCode.MESSAGE_TOO_BIG),
        (ProtocolError("bad frame"), ErrorCode.PROTOCOL_ERROR),
        (ProtocolError("bad UTF-8", close_code=1007), ErrorCode.PROTOCOL_ERROR),
        (PingTimeout("no pong"), ErrorCode.PING_TIMEOUT),
        (ConnectionClosedError(1006), ErrorCode.CONNECTION_LOST),
        (RuntimeError("a bug"), ErrorCode.CONNECTION_LOST),
    ],
)
def test_error_code_by_type(exc: BaseException, code: ErrorCode) -> None:
    assert error_code(exc) is code
    assert error_code(exc, opening=True) is code


def test_other_errors_while_opening_are_connect_failures() -> None:
    # An InvalidURL from a URL callable keeps its type (the reconnect policy gives up on it).
    assert error_code(InvalidURL("x", "bad"), opening=True) is ErrorCode.CONNECT_FAIL
    assert error_code(InvalidURL("x", "bad")) is ErrorCode.CONNECTION_LOST
    assert error_code(RuntimeError("a bug"), opening=True) is ErrorCode.CONNECTION_LOST


def test_lost_error() -> None:
    error = lost_error(None, ConnectionResetError("reset"))
    assert isinstance(error, ConnectionClosedError) and error.code == 1006
    assert "reset" in str(error)
    assert lost_error(1002, OSError()).code == 1002
