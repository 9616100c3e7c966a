"""The frame trace, sans-I/O: one JSON object per frame, and a header sniffer
that finds the server's frames in the byte stream.

The sniffer reads only frame headers (and keeps the first bytes of a payload
for close codes and payload previews), independently of the parser: the trace
shows every frame as it crossed the wire, fragments and all, and costs nothing
when tracing is off because nothing is fed to it then.

A record never holds a handshake header or a URL password; payloads appear
only when asked for, cut to :data:`PAYLOAD_LIMIT` bytes.
"""

from __future__ import annotations

import json
import struct
from typing import Any

from .codes import OP_BINARY, OP_CLOSE, OP_CONT, OP_PING, OP_PONG, OP_TEXT

__all__ = ["OPCODE_NAMES", "PAYLOAD_LIMIT", "Frame", "FrameSniffer", "format_record", "frame_record"]

#: How many payload bytes a record shows when payloads are traced.
PAYLOAD_LIMIT = 128
#: Bytes of a close frame needed for its code and longest reason.
_CLOSE_BODY = 125

OPCODE_NAMES = {
    OP_CONT: "continuation",
    OP_TEXT: "text",
    OP_BINARY: "binary",
    OP_CLOSE: "close",
    OP_PING: "ping",
    OP_PONG: "pong",
}

#: One frame seen: (opcode, fin, rsv bits, payload length, first payload bytes).
Frame = tuple[int, bool, int, int, bytes]


def frame_record(
    direction: str,
    opcode: int,
    fin: bool,
    length: int,
    head: bytes,
    *,
    rsv: int = 0,
    payloads: bool = False,
) -> dict[str, Any]:
    """The trace record of one frame (without time and connection id).

    ``head`` is the start of the payload (at least the close body for a close
    frame); it shows up only if ``payloads``, cut to :data:`PAYLOAD_LIMIT`.
    """
    record: dict[str, Any] = {
        "dir": direction,
        "opcode": OPCODE_NAMES.get(opcode, f"0x{opcode:x}"),
        "length": length,
        "fin": fin,
    }
    if rsv:
        record["rsv"] = rsv
    if opcode == OP_CLOSE:
        record.update(_close_fields(head))
    if payloads:
        shown = bytes(head[:PAYLOAD_LIMIT])
        if opcode == OP_TEXT and not rsv:  # compressed text is bytes on the wire
            record["payload"] = shown.decode("utf-8", "replace")
        else:
            record["payload_hex"] = shown.hex()
        if length > len(shown):
            record["truncated"] = True
    return record


def _close_fields(body: bytes) -> dict[str, Any]:
    if len(body) < 2:
        return {"code": 1005, "reason": ""}
    (code,) = struct.unpack_from("!H", body)
    return {"code": code, "reason": bytes(body[2:_CLOSE_BODY]).decode("utf-8", "replace")}


def format_record(time: float, conn_id: str, record: dict[str, Any]) -> str:
    """One JSON line (no newline): ``time`` (Unix seconds), ``conn``, then the record.

    Readable non-ASCII text is kept; a line that would hold a character JSON
    leaves raw and a terminal may act on (DEL, C1 controls, bidi overrides, from
    a close reason or a payload) is written with every non-ASCII character escaped.
    """
    fields = {"time": round(time, 6), "conn": conn_id, **record}
    line = json.dumps(fields, ensure_ascii=False)
    return line if line.isprintable() else json.dumps(fields)


class FrameSniffer:
    """Finds frames in a byte stream; :meth:`feed` returns the frames it completed.

    Keeps at most ``keep`` bytes of each payload (at least a close body), so
    memory stays bounded whatever the frame sizes.
    """

    __slots__ = ("_frame", "_header", "_keep", "_kept", "_remaining")

    def __init__(self, keep: int = PAYLOAD_LIMIT) -> None:
        self._keep = max(keep, _CLOSE_BODY)
        self._header = bytearray()
        self._frame: tuple[int, bool, int, int] | None = None  # in its payload
        self._kept = bytearray()
        self._remaining = 0

    def feed(self, data: bytes) -> list[Frame]:
        """The frames whose last byte is in ``data``, in order."""
        frames: list[Frame] = []
        view = memoryview(data)
        while view:
            if self._frame is None:
                view = self._read_header(view)
                if self._frame is None:
                    break
            else:
                take = min(self._remaining, len(view))
                room = self._keep - len(self._kept)
                if room > 0:
                    self._kept += view[: min(take, room)]
                self._remaining -= take
                view = view[take:]
            if self._frame is not None and self._remaining == 0:
                opcode, fin, rsv, length = self._frame
                frames.append((opcode, fin, rsv, length, bytes(self._kept)))
                self._frame = None
                self._kept.clear()
        return frames

    def _read_header(self, view: memoryview) -> memoryview:
        """Move header bytes from ``view``; set the frame once its header is whole."""
        needed = self._header_size()
        take = min(needed - len(self._header), len(view))
        self._header += view[:take]
        view = view[take:]
        if len(self._header) < needed:
            return view
        needed = self._header_size()  # the first two bytes tell the full size
        if len(self._header) < needed:
            return self._read_header(view) if view else view
        first, second = self._header[0], self._header[1]
        length = second & 0x7F
        if length == 126:
            (length,) = struct.unpack_from("!H", self._header, 2)
        elif length == 127:
            (length,) = struct.unpack_from("!Q", self._header, 2)
        self._frame = (first & 0x0F, bool(first & 0x80), (first >> 4) & 0x07, length)
        self._remaining = length
        self._header.clear()
        return view

    def _header_size(self) -> int:
        if len(self._header) < 2:
            return 2
        second = self._header[1]
        size = 2 + {126: 2, 127: 8}.get(second & 0x7F, 0)
        return size + (4 if second & 0x80 else 0)
