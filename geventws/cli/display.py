"""Showing messages on a terminal safely, and the client's output streams.

A hostile server must not be able to drive the terminal: text is printed with
every non-printable character escaped (``\\x1b``, ``\\n``, bidi overrides…)
and binary is printed as hex, never as raw bytes.
"""

from __future__ import annotations

import contextlib
import datetime
import os
from collections.abc import Callable, Iterable
from typing import TextIO

from ..protocol.headers import redact

__all__ = ["Output", "describe", "escape_text", "hex_bytes", "redacted_lines"]

_ESCAPES = {"\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def escape_text(text: str) -> str:
    """``text`` with backslashes and non-printable characters escaped, Python-style."""
    if text.isprintable() and "\\" not in text:
        return text
    return "".join(_escape_char(char) for char in text)


def _escape_char(char: str) -> str:
    if char in _ESCAPES:
        return _ESCAPES[char]
    if char.isprintable():
        return char
    code = ord(char)
    if code < 0x100:
        return f"\\x{code:02x}"
    if code < 0x10000:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


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
            stream.write(line + "\n")
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
