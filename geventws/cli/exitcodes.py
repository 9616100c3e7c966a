"""The command line's exit codes, one per way a run can end."""

from __future__ import annotations

import enum
import signal

from .. import CloseCode, ConnectError, HandshakeError, WebSocketError

__all__ = ["NORMAL_CLOSE_CODES", "ExitCode", "exit_code_for_error", "exit_code_for_signal"]

#: Close codes that end a run normally: 1000, 1001, and a close frame without a code (1005).
NORMAL_CLOSE_CODES = frozenset({CloseCode.NORMAL_CLOSURE, CloseCode.GOING_AWAY, CloseCode.NO_STATUS_RCVD})


class ExitCode(enum.IntEnum):
    """What ``geventws`` returns to the shell."""

    #: The run ended as asked: input done, ``--expect`` met, or a normal close (1000, 1001, 1005).
    OK = 0
    #: An unexpected failure (a bug: please report it).
    ERROR = 1
    #: Bad arguments.
    USAGE = 2
    #: The connection could not be opened: DNS, refused, ``--open-timeout``, TLS.
    CONNECT_FAILED = 3
    #: The server refused the upgrade (a status other than 101) or answered it wrongly.
    HANDSHAKE_REJECTED = 4
    #: The connection ended abnormally: a close code other than 1000/1001/1005,
    #: lost without a closing handshake (1006), a protocol error, a ping timeout.
    ABNORMAL_CLOSE = 5
    #: ``--expect N``: the connection or the ``--wait`` ended before N messages came.
    EXPECT_UNMET = 6
    #: Ctrl-C (SIGINT): the connection was closed with 1001.
    INTERRUPTED = 130
    #: SIGTERM: the connection was closed with 1001.
    TERMINATED = 143


def exit_code_for_error(error: BaseException | None) -> ExitCode:
    """The exit code for the error that ended a connection (``None``: lost)."""
    if isinstance(error, HandshakeError):
        return ExitCode.HANDSHAKE_REJECTED
    if isinstance(error, ConnectError):
        return ExitCode.CONNECT_FAILED
    if isinstance(error, WebSocketError) or error is None:
        return ExitCode.ABNORMAL_CLOSE
    return ExitCode.ERROR


def exit_code_for_signal(signum: int) -> ExitCode:
    """130 for SIGINT, 143 for SIGTERM (the shell's 128 + signal number)."""
    return ExitCode.INTERRUPTED if signum == signal.SIGINT else ExitCode.TERMINATED
