"""The RSV1 rules of RFC 7692 §6, for the frame parser and writer.

RSV1 marks a compressed message. It may be set only on the first frame of a
text or binary message, and only once permessage-deflate was agreed; on a
control frame, on a continuation frame, or without the agreement it fails the
connection with 1002. RSV2 and RSV3 stay reserved (no extension uses them).

The frame parser applies these rules (``FrameParser._check_start``, with the
bits its extension allows) and keeps a message's first-frame RSV1 until its
final frame; the writer sets :data:`RSV1` on the first frame of a compressed
message.
"""

from __future__ import annotations

__all__ = ["RSV1", "RSV2", "RSV3"]

#: The reserved bits as they sit in a frame's first byte.
RSV1 = 0x40
RSV2 = 0x20
RSV3 = 0x10
