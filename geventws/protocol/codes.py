"""Error codes passed to ``on_error``, close codes of RFC 6455 §7.4 and frame opcodes.

``CONNECT_FAIL`` and ``SEND_FAIL`` carry Workerman's numbers (1 and 2); the
others are geventws' own.
"""

from __future__ import annotations

import enum

__all__ = [
    "CLOSE_CODES_NOT_SENT",
    "OP_BINARY",
    "OP_CLOSE",
    "OP_CONT",
    "OP_PING",
    "OP_PONG",
    "OP_TEXT",
    "CloseCode",
    "ErrorCode",
    "is_valid_close_code",
]

# Frame opcodes (RFC 6455 §5.2), plain ints: the parser compares them per frame.
OP_CONT = 0x0
OP_TEXT = 0x1
OP_BINARY = 0x2
OP_CLOSE = 0x8
OP_PING = 0x9
OP_PONG = 0xA


class ErrorCode(enum.IntEnum):
    """The ``code`` argument of ``on_error(conn, code, msg)``."""

    #: TCP connection refused, DNS failure or connect timeout.
    CONNECT_FAIL = 1
    #: A message could not be sent (written) or was still queued when the
    #: connection finished for good.
    SEND_FAIL = 2
    #: The server refused or botched the HTTP upgrade (status other than 101,
    #: bad ``Sec-WebSocket-Accept``, ...).
    HANDSHAKE_FAIL = 3
    #: The server broke RFC 6455 (bad frame, bad UTF-8, bad close code ...).
    PROTOCOL_ERROR = 4
    #: A message exceeded ``max_message_size``.
    MESSAGE_TOO_BIG = 5
    #: A ping was not answered within ``ping_timeout``.
    PING_TIMEOUT = 6
    #: TLS handshake or certificate verification failed.
    TLS_FAIL = 7
    #: The connection was lost without a closing handshake (close code 1006).
    CONNECTION_LOST = 8


class CloseCode(enum.IntEnum):
    """Close codes defined by RFC 6455 §7.4.1 and the IANA registry."""

    NORMAL_CLOSURE = 1000
    GOING_AWAY = 1001
    PROTOCOL_ERROR = 1002
    UNSUPPORTED_DATA = 1003
    NO_STATUS_RCVD = 1005
    ABNORMAL_CLOSURE = 1006
    INVALID_DATA = 1007
    POLICY_VIOLATION = 1008
    MESSAGE_TOO_BIG = 1009
    MANDATORY_EXTENSION = 1010
    INTERNAL_ERROR = 1011
    SERVICE_RESTART = 1012
    TRY_AGAIN_LATER = 1013
    BAD_GATEWAY = 1014
    TLS_HANDSHAKE = 1015


#: Codes that report a condition and must never appear in a close frame.
CLOSE_CODES_NOT_SENT = frozenset(
    {CloseCode.NO_STATUS_RCVD, CloseCode.ABNORMAL_CLOSURE, CloseCode.TLS_HANDSHAKE}
)

_VALID_DEFINED = frozenset(range(1000, 1004)) | frozenset(range(1007, 1015))


def is_valid_close_code(code: int) -> bool:
    """Whether ``code`` may appear in a close frame (RFC 6455 §7.4)."""
    return code in _VALID_DEFINED or 3000 <= code <= 4999
