"""Showing messages on a terminal safely, and the client's output streams.

A hostile server must not be able to drive the terminal: text is printed with
every non-printable character escaped (``\\x1b``, ``\\n``, bidi overrides…)
and binary is printed as hex, never as raw bytes.
"""

from __future__ import annotations

import contextlib
import datetime
import logging
import os
from collections.abc import Callable, Iterable
from typing import Any, TextIO

from ..protocol.escape import escape_text
from ..protocol.headers import redact

__all__ = ["Output", "TerminalFormatter", "describe", "escape_text", "hex_bytes", "redacted_lines", "shown"]


def shown(text: str) -> str:
    """``text`` as it is if it is printable, else escaped (:func:`escape_text`).

    For text the library already made safe (error messages, log lines: what a
    server sent is escaped in them), which must not be escaped twice; the last
    guard of the terminal against anything that would still hold a control character.
    """
    return text if text.isprintable() else escape_text(text)


def hex_bytes(data: bytes) -> str:
    """``data`` as space-separated hex pairs."""
    return data.hex(" ")


def describe(data: str | bytes) -> str:
    """One line describing a message: its type and its safely shown content."""
    if isinstance(data, str):
        return f"text: {escape_text(data)}"
    unit = "byte" if len(data) == 1 else "bytes"
    return f"binary ({len(data)} {unit}): {hex_bytes(data)}"


def redacted_lines(pairs: Iterable[tuple[str, str]]) -> list[str]:
    """``Name: value`` lines with secret values (Cookie, Authorization…) hidden."""
    return [f"{escape_text(name)}: {escape_text(value)}" for name, value in redact(pairs)]


class TerminalFormatter(logging.Formatter):
    """Log lines fit for a terminal (``-v``): what is still not printable in a
    message (the library already escapes what servers send) is escaped, and a
    traceback's lines one by one, so no record can drive the terminal or forge a line."""

    def formatMessage(self, record: logging.LogRecord) -> str:  # noqa: N802 - logging's name
        return shown(super().formatMessage(record))

    def formatException(self, ei: Any) -> str:  # noqa: N802 - logging's name
        return "\n".join(map(shown, super().formatException(ei).split("\n")))

    def formatStack(self, stack_info: str) -> str:  # noqa: N802 - logging's name
        return "\n".join(map(shown, super().formatStack(stack_info).split("\n")))


def _clock() -> str:
    return datetime.datetime.now().strftime("%H:%M:%S.%f")[:-3]


class Output:
    """Where the client writes: messages on ``out``, trace and errors on ``err``.

    Every line is flushed at once, so a pipe sees it while the run goes on.
    """

    def __init__(self, out: TextIO, err: TextIO, *, verbose: bool = False) -> None:
        self._out = out
        self._err = err
        self.verbose = verbose
        #: Whether the reader of ``out`` went away (``geventws URL | head -1``).
        self.closed = False
        #: Called once when that happens.
        self.on_closed: Callable[[], object] | None = None

    def received(self, data: str | bytes) -> None:
        """A message from the server: ``< time type: content``."""
        self._write(self._out, f"< {_clock()} {describe(data)}")

    def sent(self, data: str | bytes) -> None:
        """A message we sent, shown only with ``-v``: ``> time type: content``."""
        if self.verbose:
            self._write(self._out, f"> {_clock()} {describe(data)}")

    def trace(self, text: str) -> None:
        """A frame-level event, shown only with ``-v``."""
        if self.verbose:
            self._write(self._err, f"* {_clock()} {text}")

    def error(self, text: str) -> None:
        """A failure, always shown."""
        self._write(self._err, f"! {_clock()} {text}")

    def _write(self, stream: TextIO, line: str) -> None:
        if self.closed and stream is self._out:
            return
        try:
            stream.write(shown(line) + "\n")
            stream.flush()
        except BrokenPipeError:
            if stream is self._out:
                self._reader_gone()

    def _reader_gone(self) -> None:
        self.closed = True
        with contextlib.suppress(OSError, ValueError):
            # What is still buffered would fail again when Python exits.
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, self._out.fileno())
            os.close(devnull)
        if self.on_closed is not None:
            self.on_closed()
