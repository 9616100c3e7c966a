"""Writing the frame trace of one connection: JSON lines to a file or a logger.

A trace that cannot be written (a closed file, a full disk) is switched off
with one warning: tracing never breaks the connection it watches.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from ..protocol.extensions.rsv import RSV1
from ..protocol.trace import PAYLOAD_LIMIT, FrameSniffer, format_record, frame_record
from ..protocol.writer import Payload, WireForm

__all__ = ["Tracer"]


class Tracer:
    """The frame trace of one connection; ``sink`` is a file-like object
    (``write``) or a :class:`logging.Logger` (lines logged at INFO)."""

    __slots__ = ("_conn_id", "_log", "_payloads", "_sink", "_sniffer")

    def __init__(self, sink: Any, payloads: bool, conn_id: str, log: logging.LoggerAdapter[Any]) -> None:
        self._sink: Any = sink
        self._payloads = payloads
        self._conn_id = conn_id
        self._log = log
        self._sniffer = FrameSniffer()

    def new_stream(self) -> None:
        """A new attempt's stream starts: forget any partial frame of the last one."""
        self._sniffer = FrameSniffer()

    def received(self, data: bytes) -> None:
        """Bytes read from the server: one line per frame they complete."""
        for opcode, fin, rsv, length, head in self._sniffer.feed(data):
            self._emit(frame_record("in", opcode, fin, length, head, rsv=rsv, payloads=self._payloads))

    def sent(self, opcode: int, payload: Payload, fin: bool, wire: WireForm | None = None) -> None:
        """A frame was written: traced as it went out (``wire``: ``(rsv1,
        compressed payload)``, with the length before compression as an extra field)."""
        rsv = 0
        message_length = len(payload)
        if wire is not None:
            rsv, payload = (RSV1 >> 4 if wire[0] else 0), wire[1]
        head = bytes(payload[: max(PAYLOAD_LIMIT, 125)])
        record = frame_record("out", opcode, fin, len(payload), head, rsv=rsv, payloads=self._payloads)
        if wire is not None:
            record["uncompressed_length"] = message_length
        self._emit(record)

    def _emit(self, record: dict[str, Any]) -> None:
        sink = self._sink
        if sink is None:
            return
        line = format_record(time.time(), self._conn_id, record)
        try:
            if isinstance(sink, (logging.Logger, logging.LoggerAdapter)):
                sink.info("%s", line)
            else:
                sink.write(line + "\n")
                flush = getattr(sink, "flush", None)
                if flush is not None:
                    flush()
        except Exception as exc:
            self._sink = None
            self._log.warning("frame trace switched off: writing it failed: %r", exc)
