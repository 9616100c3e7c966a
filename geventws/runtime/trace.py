"""Writing the frame trace of one connection: JSON lines to a file or a logger.

A trace that cannot be written (a closed file, a full disk) is switched off
with one warning: tracing never breaks the connection it watches.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from ..protocol.trace import PAYLOAD_LIMIT, FrameSniffer, format_record, frame_record
from ..protocol.writer import Payload

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

    def sent(self, opcode: int, payload: Payload, fin: bool) -> None:
        """A frame was written."""
        head = bytes(payload[: max(PAYLOAD_LIMIT, 125)])
        self._emit(frame_record("out", opcode, fin, len(payload), head, payloads=self._payloads))

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
