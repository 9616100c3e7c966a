"""RFC 6455 framing of outgoing frames: the only module that imports websocket-client.

Outgoing frames are built and masked by websocket-client's :class:`ABNF`
(a fresh ``os.urandom`` mask key per frame). Incoming frames are parsed by
:mod:`geventws.protocol.parser`, because websocket-client's ``frame_buffer``
reads a whole payload before any size check (so no 1009 without buffering),
guards itself with a ``threading.Lock`` and accepts masked or oversized
control frames.
"""

from __future__ import annotations

import struct

from websocket import ABNF

from .codes import is_valid_close_code

__all__ = [
    "OP_BINARY",
    "OP_CLOSE",
    "OP_CONT",
    "OP_PING",
    "OP_PONG",
    "OP_TEXT",
    "encode_close",
    "encode_frame",
]

OP_CONT: int = ABNF.OPCODE_CONT
OP_TEXT: int = ABNF.OPCODE_TEXT
OP_BINARY: int = ABNF.OPCODE_BINARY
OP_CLOSE: int = ABNF.OPCODE_CLOSE
OP_PING: int = ABNF.OPCODE_PING
OP_PONG: int = ABNF.OPCODE_PONG

_CONTROL = frozenset({OP_CLOSE, OP_PING, OP_PONG})


def encode_frame(opcode: int, payload: bytes, fin: bool = True) -> bytes:
    """A masked client frame carrying ``payload``.

    Raises :class:`ValueError` for a control frame over 125 bytes (RFC 6455 §5.5).
    """
    if opcode in _CONTROL and len(payload) > 125:
        raise ValueError(f"control frame payload of {len(payload)} bytes (the limit is 125)")
    return ABNF(int(fin), 0, 0, 0, opcode, 1, payload).format()


def encode_close(code: int | None, reason: str = "") -> bytes:
    """A masked close frame; ``code=None`` sends an empty body.

    Raises :class:`ValueError` for a code that may not be sent or a reason
    longer than 123 bytes.
    """
    if code is None:
        return encode_frame(OP_CLOSE, b"")
    if not is_valid_close_code(code):
        raise ValueError(f"invalid close code {code}")
    body = reason.encode("utf-8")
    if len(body) > 123:
        raise ValueError("close reason is longer than 123 bytes")
    return encode_frame(OP_CLOSE, struct.pack("!H", code) + body)
