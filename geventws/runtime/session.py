"""One connection attempt: one socket's life, from TCP connect to the last byte.

A :class:`Session` is created fresh for every attempt, so nothing is reset by
hand: it opens the stream (:mod:`.opening`), runs the receive loop in the
supervisor's greenlet (so an open connection parks one greenlet), starts
keepalive, answers pings and close frames, and ends by reporting at most one
failure, mapped to its ``on_error`` code by
:func:`~geventws.runtime.failure.error_code`.

Rules that keep it correct under gevent:

- Only the receive greenlet reads the socket, or, while it is parked, a
  greenlet waiting in ``recv()`` or the hub in its place (:mod:`.readturn`),
  which keep data messages and match pongs and hand everything else back. Every frame, automatic pongs
  and close replies included, goes through :meth:`Transport.send_frame`,
  which holds one gevent lock for the whole frame and writes a started frame
  whole even if its caller is interrupted.
- Another greenlet ends the attempt with :meth:`Session.fail` (keepalive) or
  :meth:`Session.close`; the receive greenlet reports it, so callbacks keep
  running in one greenlet, in order.
- Loops catch ``Exception``, never ``BaseException``: ``GreenletExit`` and
  ``gevent.Timeout`` pass through.
"""

from __future__ import annotations

import contextlib
import logging
from typing import Any

import gevent
import gevent.event

from ..exceptions import ConnectionClosed, ProtocolError, WebSocketError
from ..protocol.closing import ClosingHandshake
from ..protocol.codes import OP_CLOSE, OP_PING
from ..protocol.events import Close
from ..protocol.extensions import PerMessageDeflate
from ..protocol.options import Options
from ..protocol.state import State
from ..protocol.writer import Payload, close_body
from .failure import error_code, lost_error
from .interrupt import AttemptInterrupt
from .keepalive import Keepalive
from .opening import Opened, open_websocket, resolve
from .owner import SessionOwner
from .pings import PingTracker
from .pings import Pong as PongWaiter
from .readclock import ReadingClock
from .receiveloop import READ_MIN, ReceiveLoop
from .transport import SETTLE_TIMEOUT, Transport, WriteProgress

__all__ = ["Session"]


class Session(ReceiveLoop):
    """One connection attempt; :meth:`run` runs it in the calling greenlet (the supervisor's)."""

    __slots__ = (
        "_close_timer",
        "_failure",
        "_interrupt",
        "_keepalive",
        "_log",
        "_observer",
        "_options",
        "_owner",
        "_pings",
        "_stop_event",
        "_stopping",
        "closing",
        "ended",
        "error",
        "label",
        "reading",
        "replaying",
        "state",
        "transport",
    )

    def __init__(
        self, owner: SessionOwner, options: Options, log: logging.LoggerAdapter[Any], label: str
    ) -> None:
        self._owner = owner
        self._observer = owner._observer
        self._observer.attempt_started()
        #: Names the attempt's greenlets (after the connection's URL).
        self.label = label
        self._options = options
        self._log = log
        #: Where this attempt stands; ``CLOSED`` once it ended.
        self.state = State.CONNECTING
        #: The closing handshake, and the close code once known.
        self.closing = ClosingHandshake()
        #: The stream, once the upgrade succeeded.
        self.transport: Transport | None = None
        #: Why the attempt ended, if it failed (what the reconnect policy judges).
        self.error: WebSocketError | None = None
        #: Whether the attempt is over and its greenlets are gone.
        self.ended = False
        #: While ``on_open_replay`` runs: its sends are written at once.
        self.replaying = False
        #: Time during which the receive loop was free to read (keepalive's clock).
        self.reading = ReadingClock()
        # Once the attempt is ending, the receive loop must not wait for room in
        # the inbox; the Event that says so is made only for a loop that waits.
        self._stopping = False
        self._stop_event: gevent.event.Event | None = None
        self._failure: WebSocketError | None = None
        self._pings = PingTracker()
        self._close_timer: Any = None
        self._interrupt = AttemptInterrupt()  # abort() from another greenlet: see run()
        self._keepalive: Keepalive | None = None
        self._parser = None  # made by the receive loop

    # -- commands from other greenlets -------------------------------------------

    def run(self) -> None:
        """Run the attempt to its end in the calling greenlet, which becomes its
        receive greenlet (one parked greenlet per open connection, not two)."""
        self._interrupt.run(self)

    def close(self, code: int, reason: str) -> None:
        """End the attempt: a closing handshake once the upgrade is done (during the
        flush too: it stops after the message being written), else abort the opening."""
        if self.state is State.OPEN or (self.state is State.CONNECTING and self.transport is not None):
            self._start_closing(code, reason)
        elif self.state is State.CONNECTING:
            self.abort()

    def abort(self) -> None:
        """End the attempt at once, without a closing handshake and without
        waiting (the opening was cancelled): no report, the socket closed."""
        self._ending()
        self._interrupt.interrupt()
        if self.transport is not None:
            self.transport.abort()

    def fail(self, exc: WebSocketError) -> None:
        """End the attempt with ``exc``: the receive greenlet reports it."""
        if self._failure is None:
            self._failure = exc
        self._ending()
        if self.transport is not None:
            self.transport.abort()

    def _ending(self) -> None:
        """The stream is being torn down: say so at once (``send()`` and
        ``state`` agree) and free the receive loop from a full inbox."""
        if self.state is State.OPEN:
            self.state = State.CLOSING
        self._stop_waiting()

    def _stop_waiting(self) -> None:
        self._stopping = True
        if self._stop_event is not None:
            self._stop_event.set()

    def stop_event(self) -> gevent.event.Event:
        """Set once the attempt is ending: a receive loop waiting for room in
        the inbox waits for it too (then drops the message)."""
        event = self._stop_event
        if event is None:
            event = self._stop_event = gevent.event.Event()
            if self._stopping:
                event.set()
        return event

    def owns(self, greenlet: Any) -> bool:
        """Whether ``greenlet`` is one of this attempt's."""
        if greenlet is None:
            return False
        if greenlet is self._interrupt.greenlet:
            return True
        return self._keepalive is not None and greenlet is self._keepalive.greenlet

    @property
    def writable(self) -> bool:
        """Whether a message may be written now (open, or the replay hook's own
        sends until a close began)."""
        if self.state is State.OPEN:
            return True
        receiver = self._interrupt.greenlet
        return self.replaying and self.state is State.CONNECTING and gevent.getcurrent() is receiver

    def send(self, opcode: int, payload: Payload, progress: WriteProgress | None = None) -> None:
        """Write one frame; a dead stream raises :class:`ConnectionClosedError`.

        ``progress`` tells an interrupted caller whether the frame was
        cancelled or is being finished (see :meth:`Transport.send_frame`).
        """
        transport = self.transport
        assert transport is not None
        try:
            transport.send_frame(opcode, payload, progress=progress)
        except OSError as exc:
            self._ending()
            transport.abort()
            raise lost_error(self.closing.code, exc) from exc

    def ping(self, payload: bytes = b"") -> PongWaiter:
        """Send a ping (``payload`` checked by the caller, or empty for a fresh
        one); the returned :class:`Pong` tells when it was answered."""
        payload = self._pings.new_payload(payload)
        pong = self._pings.add(payload)
        self.send(OP_PING, payload)
        return pong

    def try_ping_now(self) -> PongWaiter | None:
        """Send a keepalive ping without waiting (the hub may call it); ``None``
        if it would have to wait (a write in progress, a full socket buffer)."""
        transport = self.transport
        if transport is None or self._observer.tracer is not None:
            return None  # a frame trace writes to the user's sink, which may block: not from the hub
        payload = self._pings.new_payload(b"")
        if not transport.try_send_now(OP_PING, payload):
            return None
        return self._pings.add(payload)

    # -- the receive greenlet ----------------------------------------------------

    def _run(self) -> None:
        try:
            opened = self._open()
            if opened is not None:
                transport, leftover = opened.transport, opened.leftover
                del opened  # not held by this frame while the loop runs
                self._receive_loop(transport, leftover)
        except gevent.GreenletExit:
            self.closing.lost()
            if not self._interrupt.taken():
                raise  # someone else killed the supervisor's greenlet: it ends
        except WebSocketError as exc:
            self._end_with(exc)
        except Exception as exc:
            self._log.exception("unexpected error in the receive loop")
            self._end_with(exc)
        finally:
            self._cleanup()

    def _open(self) -> Opened | None:
        opts = self._options
        limiter = opts.limiter
        with limiter.slot() if limiter is not None else contextlib.nullcontext():
            uri = resolve(opts.resolve_uri)
            self._owner._uri_resolved(uri)
            opened = open_websocket(
                opts,
                uri,
                resolve(opts.resolve_headers),
                self._log,
                tcp_connected=self._owner._may_open,
                response_received=self._owner._response_received,
                timings=self._observer.new_timer(),
            )
        if opened is None:
            self.closing.lost()
            return None
        self.transport = opened.transport
        self._observer.opened(opened.transport)
        if opened.deflate is not None:  # both compression contexts are new with every attempt
            opened.transport.deflate = PerMessageDeflate(opened.deflate, self._options.max_message_size)
        try:
            self._after_handshake(opened)
        except (OSError, ConnectionClosed) as exc:  # the replay or the flush met a dead connection
            self._lost(exc)
        return opened

    def _after_handshake(self, opened: Opened) -> None:
        """Keepalive, the replay hook and the queued sends, then OPEN."""
        owner = self._owner
        owner._handshake_done(opened)
        interval = self._options.ping_interval
        if interval is not None:
            # Started before the replay and the flush, so that writing them to a
            # peer that stopped reading is bounded by ping_interval + ping_timeout.
            self._keepalive = Keepalive(self, interval, self._options.ping_timeout, self._log)
            self._keepalive.start()
        self.replaying = True  # the replay hook's sends are written at once, ahead of the queue
        try:
            flushed = owner._replay_and_flush(self)
        finally:
            self.replaying = False
        if self.state is not State.CONNECTING:
            return  # close() or reconnect() during the flush: the attempt never opens
        # Only now: sends that arrived during the flush queued behind it.
        self.state = State.OPEN
        owner._now_open(opened.response, flushed)

    # -- closing -----------------------------------------------------------------

    def _close_received(self, transport: Transport, frame: Close) -> None:
        self._log.debug("close frame received: %s %r", frame.code, frame.reason)
        answer = self.closing.receive(frame)
        if answer is not None:
            self.state = State.CLOSING
            try:
                transport.send_frame(OP_CLOSE, close_body(*answer))
            except OSError:
                return
        # RFC 6455 §7.1.1: the server closes TCP first; wait for it, bounded by
        # the close timer (a total deadline: a server that trickles bytes
        # cannot keep us here).
        self._arm_close_timer(transport)
        with contextlib.suppress(OSError):
            while transport.recv(READ_MIN):
                pass

    def _start_closing(self, code: int, reason: str) -> None:
        transport = self.transport
        if transport is None:
            return
        frame = self.closing.close(code, reason)
        if frame is None:
            return
        self.state = State.CLOSING
        self._stop_waiting()  # the close reply must be read, whatever the inbox holds
        self._arm_close_timer(transport)
        try:
            transport.send_frame(OP_CLOSE, close_body(*frame))
        except OSError:
            transport.abort()

    def _arm_close_timer(self, transport: Transport) -> None:
        """Abort the stream ``close_timeout`` seconds after the close began."""
        if self._close_timer is None and self._options.close_timeout is not None:
            self._close_timer = gevent.get_hub().loop.timer(self._options.close_timeout)
            self._close_timer.start(transport.abort)

    # -- the end -----------------------------------------------------------------

    def _lost(self, exc: BaseException) -> None:
        """The stream ended or broke: a failure asked for meanwhile, a normal end
        of a closing handshake, or a lost connection."""
        if self._failure is not None:
            raise self._failure
        if self.closing.sent:
            self.closing.lost()  # close_timeout expired or the server dropped during close
            return
        if isinstance(exc, ConnectionClosed):
            raise exc
        raise lost_error(None, exc) from exc

    def _end_with(self, exc: Exception) -> None:
        """Report the failure that ended the attempt, failing the connection
        with a close frame when the server broke the protocol."""
        code = error_code(exc, opening=self.transport is None)
        self._ending()  # not OPEN while failing: no user send after our close frame
        if isinstance(exc, ProtocolError):
            frame = self.closing.fail(exc.close_code)
            if frame is not None and self.transport is not None:
                with contextlib.suppress(OSError), gevent.Timeout(self._options.close_timeout, False):  # type: ignore[arg-type]
                    self.transport.send_frame(OP_CLOSE, close_body(*frame))
        self.closing.lost()
        self._log.info("%s: %s", code.name, exc)
        if isinstance(exc, WebSocketError):
            self.error = exc
        self._owner._report(code, exc)

    def _report_unwritten(self, transport: Transport) -> None:
        """Coalesced messages the dead stream never took: say so, never drop them in silence."""
        count, transport.unwritten = transport.unwritten, 0
        if count:
            self._owner._sends_lost(
                f"{count} message(s) accepted by send() were not written: the connection was lost first"
            )

    def _cleanup(self) -> None:
        """Tear the attempt down; safe to run twice (a late kill may cut it short)."""
        if not self.ended:
            self._observer.ended()
            self.closing.lost()
            self.state = State.CLOSED
            if self._close_timer is not None:
                self._close_timer.stop()
            if self.transport is not None:
                self.transport.abort()
                if not self.transport.settle():
                    self._log.warning("a write still ran %.0f s after the stream closed", SETTLE_TIMEOUT)
                self._report_unwritten(self.transport)
            self.ended = True
        if self._keepalive is not None:
            self._keepalive.stop()
        self._pings.cancel_all()
