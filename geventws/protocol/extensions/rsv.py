"""The RSV1 rules of RFC 7692 §6, for the frame parser and writer.

RSV1 marks a compressed message. It may be set only on the first frame of a
text or binary message, and only once permessage-deflate was agreed; on a
control frame, on a continuation frame, or without the agreement it fails the
connection with 1002. RSV2 and RSV3 stay reserved (no extension uses them).

The parser calls :func:`check_rsv` on every frame header and keeps the answer
of a message's first frame until its final frame (continuations inherit it);
the writer sets :data:`RSV1` on the first frame of a compressed message.
"""

from __future__ import annotations

from ...exceptions import ProtocolError

__all__ = ["RSV1", "RSV2", "RSV3", "check_rsv"]

#: The reserved bits as they sit in a frame's first byte.
RSV1 = 0x40
RSV2 = 0x20
RSV3 = 0x10

_OP_CONT = 0x0
_OP_TEXT = 0x1
_OP_BINARY = 0x2


def check_rsv(first_byte: int, *, deflate: bool) -> bool:
    """Whether the frame starting with ``first_byte`` opens a compressed message.

    ``deflate`` tells whether permessage-deflate was agreed. Raises
    :class:`~geventws.ProtocolError` (1002) for a reserved bit set where RFC
    6455 §5.2 and RFC 7692 §6 forbid it. A continuation or control frame
    returns ``False``: the parser keeps the first frame's answer.
    """
    if first_byte & (RSV2 | RSV3):
        raise ProtocolError("RSV2 or RSV3 set without a negotiated extension")
    if not first_byte & RSV1:
        return False
    if not deflate:
        raise ProtocolError("RSV1 set without a negotiated extension")
    opcode = first_byte & 0x0F
    if opcode == _OP_CONT:
        raise ProtocolError("RSV1 set on a continuation frame")
    if opcode not in (_OP_TEXT, _OP_BINARY):
        raise ProtocolError(f"RSV1 set on a control frame (opcode {opcode:#x})")
    return True
