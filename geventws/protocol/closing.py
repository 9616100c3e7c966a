"""The closing handshake (RFC 6455 §7) as a small state machine over plain values.

Either side may send the first close frame; the other answers with one, then
the server closes TCP. The connection's close code is the first one known:

- the server's close frame (1005 when it carried no code), whether it opened
  the handshake or answered ours;
- the code we failed the connection with (1002, 1007, 1009) after a protocol
  error;
- 1006 when TCP ended with neither, also when our close frame went unanswered.

The caller writes the frames this machine asks for; it never writes a second
close frame, and it stops answering pings once a close frame was sent.
"""

from __future__ import annotations

from typing import Literal

from .codes import CloseCode
from .events import Close

__all__ = ["ClosingHandshake"]

#: The close frame to write: a code (``None`` for an empty body) and a reason.
CloseFrame = tuple[int | None, str]


class ClosingHandshake:
    """Who closed first, what to answer, and the final close code and reason."""

    __slots__ = ("code", "initiator", "reason", "received", "sent")

    def __init__(self) -> None:
        #: Whether our close frame was sent (or is being written).
        self.sent = False
        #: Whether the server's close frame arrived.
        self.received = False
        #: Who sent the first close frame, once one was.
        self.initiator: Literal["client", "server"] | None = None
        #: The connection's close code, once known.
        self.code: int | None = None
        #: The reason that came with :attr:`code`.
        self.reason = ""

    def close(self, code: int, reason: str) -> CloseFrame | None:
        """We close: the frame to write, or ``None`` if a close frame was already sent."""
        if self.sent:
            return None
        self._send("client")
        return code, reason

    def receive(self, frame: Close) -> CloseFrame | None:
        """The server's close frame arrived: the answer to write, or ``None``
        when it answers ours. Its code becomes the connection's."""
        self.received = True
        self._record(frame.code, frame.reason)
        if self.sent:
            return None
        self._send("server")
        # Echo the server's code; a close frame without one is answered without one.
        return (None if frame.code == CloseCode.NO_STATUS_RCVD else frame.code), frame.reason

    def fail(self, code: int) -> CloseFrame | None:
        """We fail the connection with ``code`` (the server broke the protocol):
        the frame to write, or ``None`` if a close frame was already sent."""
        self._record(code, "")
        if self.sent:
            return None
        self._send("client")
        return code, ""

    def lost(self) -> None:
        """TCP ended: the close code is 1006 unless one is known already."""
        self._record(CloseCode.ABNORMAL_CLOSURE, "")

    def _send(self, side: Literal["client", "server"]) -> None:
        self.sent = True
        if self.initiator is None:
            self.initiator = side

    def _record(self, code: int, reason: str) -> None:
        if self.code is None:
            self.code = code
            self.reason = reason
