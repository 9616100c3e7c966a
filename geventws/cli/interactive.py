"""The client run: one connection, input lines sent, messages printed.

Theory of operation: the main greenlet connects, then waits on one event
(``wake``) that every change sets: the connection opened, a message came, the
input ended, the connection finished for good, a signal arrived. Each time it
decides, from that state, whether the run is over and with which exit code.
A *feeder* greenlet sends the input (``--send`` texts, or stdin's lines read in
a worker thread) once the connection first opened.
"""

from __future__ import annotations

import dataclasses
import signal
import time
from collections.abc import Iterable, Iterator
from typing import Any

import gevent
import gevent.event

from .. import (
    BINARY_TYPE_ARRAYBUFFER,
    Connection,
    ConnectionClosed,
    ErrorCode,
    ReconnectPolicy,
    Response,
    WebSocketError,
)
from .display import Output, escape_text, redacted_lines, shown
from .exitcodes import NORMAL_CLOSE_CODES, ExitCode, exit_code_for_error, exit_code_for_signal
from .lines import read_lines

__all__ = ["ClientRun", "RunSettings"]


@dataclasses.dataclass(frozen=True)
class RunSettings:
    """How the run is driven: its input and when it ends."""

    sends: tuple[str, ...] = ()  # --send texts; when given, stdin is not read
    binary: bool = False  # send lines as binary messages
    reconnect: bool = False
    expect: int | None = None  # end after this many messages
    wait: float | None = 2.0  # after the input ends: end after this long without a message
    stdin_fd: int = 0


class ClientRun:
    """One run of ``geventws URL``; :meth:`run` returns the exit code."""

    def __init__(self, url: str, options: dict[str, Any], settings: RunSettings, output: Output) -> None:
        self.settings = settings
        self.output = output
        self.wake = gevent.event.Event()
        self.opened = gevent.event.Event()
        self.finished = gevent.event.Event()
        self.received = 0
        self.last_activity = 0.0
        self.input_ended = False
        self.signum: int | None = None
        self._attempt_error: WebSocketError | None = None
        self._ended_with: ExitCode | None = None  # how the last attempt ended
        output.on_closed = self.wake.set
        self._main: Any = None  # the greenlet that runs run()
        if settings.binary:
            options["websocket_type"] = BINARY_TYPE_ARRAYBUFFER
        if settings.reconnect:
            options["reconnect"] = ReconnectPolicy()
        options["send_buffer_policy"] = "block"  # a pipe waits while reconnecting
        self.conn = Connection(url, **options, **self._callbacks())

    def run(self) -> ExitCode:
        """Connect, feed the input, wait for the end; close and return the exit code."""
        self._main = gevent.getcurrent()
        watchers = [gevent.signal_handler(s, self._on_signal, s) for s in (signal.SIGINT, signal.SIGTERM)]
        helpers = [gevent.spawn(self._feed)]
        try:
            self.conn.connect()
            helpers.append(gevent.spawn(self._watch_finished))
            return self._wait_for_end()
        finally:
            gevent.killall(helpers, block=False)
            for watcher in watchers:
                watcher.cancel()

    # -- deciding when the run is over -------------------------------------------------

    def _wait_for_end(self) -> ExitCode:
        while True:
            self.wake.clear()
            verdict, timeout = self._verdict()
            if verdict is not None:
                return verdict
            self.wake.wait(timeout)

    def _verdict(self) -> tuple[ExitCode | None, float | None]:
        """The exit code if the run is over, else how long to wait at most."""
        if self.signum is not None:
            self.conn.close(1001, "")
            return exit_code_for_signal(self.signum), None
        if self.finished.is_set():
            return self._finished_code(), None
        if self.output.closed:  # e.g. piped into head -1
            self.conn.close()
            return ExitCode.OK, None
        expect = self.settings.expect
        if expect is not None and self.received >= expect:
            self.conn.close()
            return ExitCode.OK, None
        if not self.input_ended or self.settings.wait is None:
            return None, None
        remaining = self.last_activity + self.settings.wait - time.monotonic()
        if remaining > 0:
            return None, remaining
        self.conn.close()
        return self._expect_code(), None

    def _finished_code(self) -> ExitCode:
        ended = self._ended_with if self._ended_with is not None else ExitCode.ABNORMAL_CLOSE
        return self._expect_code() if ended is ExitCode.OK else ended

    def _expect_code(self) -> ExitCode:
        expect = self.settings.expect
        if expect is not None and self.received < expect:
            self.output.error(f"--expect {expect}: received {self.received} message(s)")
            return ExitCode.EXPECT_UNMET
        return ExitCode.OK

    def _watch_finished(self) -> None:
        self.conn.wait_closed()
        self.finished.set()
        self.wake.set()

    def _on_signal(self, signum: int) -> None:
        if self.signum is not None:
            # A second Ctrl-C: stop waiting for the server's close reply.
            error = SystemExit(exit_code_for_signal(signum))
            gevent.get_hub().loop.run_callback(self._main.throw, error)
            return
        self.signum = signum
        self.wake.set()

    # -- input ----------------------------------------------------------------------

    def _feed(self) -> None:
        gevent.wait([self.opened, self.finished], count=1)
        if self.opened.is_set():
            try:
                for payload in self._payloads():
                    self.conn.send(payload)
                    self.output.sent(payload)
            except ConnectionClosed:
                pass  # the run is ending; the close is reported on its own
        self.input_ended = True
        self.last_activity = time.monotonic()
        self.wake.set()

    def _payloads(self) -> Iterator[str | bytes]:
        source: Iterable[bytes] = (
            (text.encode() for text in self.settings.sends)
            if self.settings.sends
            else read_lines(self.settings.stdin_fd)
        )
        for number, line in enumerate(source, 1):
            if self.settings.binary:
                yield line
                continue
            try:
                yield line.decode("utf-8")
            except UnicodeDecodeError:
                self.output.error(f"input line {number} is not UTF-8: not sent (use --binary)")

    # -- connection callbacks -------------------------------------------------------

    def _callbacks(self) -> dict[str, Any]:
        return {
            "on_connect": lambda conn: self.output.trace("TCP connected"),
            "on_websocket_connect": self._on_open,
            "on_message": self._on_message,
            "on_error": self._on_error,
            "on_close": self._on_close,
            "on_ping": lambda conn, data: self.output.trace(f"ping received: {data!r}"),
            "on_pong": lambda conn, data: self.output.trace(f"pong received: {data!r}"),
            "on_reconnecting": self._on_reconnecting,
            "on_give_up": lambda conn, error: self.output.error(f"reconnect gave up: {shown(str(error))}"),
        }

    def _on_open(self, conn: Connection, response: Response) -> None:
        self._attempt_error = None
        status = f"{response.status} {escape_text(response.reason)}"
        self.output.trace(f"open: {status}, subprotocol {conn.subprotocol}")
        for line in redacted_lines(response.headers.raw_items()):
            self.output.trace(f"  {line}")
        self.opened.set()
        self.wake.set()

    def _on_message(self, conn: Connection, data: str | bytes) -> None:
        self.received += 1
        self.last_activity = time.monotonic()
        self.output.received(data)
        self.wake.set()

    def _on_error(self, conn: Connection, code: ErrorCode, msg: str) -> None:
        self.output.error(f"{code.name}: {shown(msg)}")  # the library escaped what the server said
        if code is not ErrorCode.SEND_FAIL:
            self._attempt_error = conn.last_error

    def _on_close(self, conn: Connection) -> None:
        code, reason = conn.close_code, conn.close_reason
        self.output.trace(f"closed: code {code}, reason {reason!r}")  # repr() escapes, once
        if self._attempt_error is not None:
            self._ended_with = exit_code_for_error(self._attempt_error)
        elif code in NORMAL_CLOSE_CODES:
            self._ended_with = ExitCode.OK
        else:
            self.output.error(f"closed abnormally: code {code}, reason {reason!r}")
            self._ended_with = ExitCode.ABNORMAL_CLOSE
        self._attempt_error = None

    def _on_reconnecting(self, conn: Connection, attempt: int, delay: float, error: Any) -> None:
        self.output.trace(f"reconnecting in {delay:.2f} s (attempt {attempt})")
