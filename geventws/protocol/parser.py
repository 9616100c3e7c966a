"""The frame parser: bytes in, messages and control frames out (RFC 6455 §5).

Sans-I/O: :meth:`FrameParser.feed` takes whatever bytes arrived and returns
every event they complete, so the rules are tested with plain bytes and a
buffer holding many frames is parsed in one call.

Rules applied, each raising :class:`~geventws.ProtocolError` with the close
code to fail with:

- 1002: reserved bits without an extension, a masked frame, an unknown opcode,
  a fragmented or oversized control frame, a continuation with no message or a
  new message inside a fragmented one, a 64-bit length with its top bit set, a
  bad close frame body.
- 1007: invalid UTF-8 in a text message (checked as the bytes arrive, not when
  the message is complete, RFC 6455 §8.1) or in a close reason.
- 1009 (:class:`~geventws.MessageTooBig`): decided from the frame header,
  before any of the payload is buffered.

A close frame is parsed once, here; bytes after it are ignored.

The seam for an extension (permessage-deflate): an :class:`Extension` given to
the parser may allow reserved bits on a message's first frame and transforms
the payload of the messages that set them as their bytes arrive, before UTF-8
decoding. ``max_message_size`` then bounds the transformed size (the extension
enforces it) and the extension's ``max_wire_size`` the bytes on the wire.
"""

from __future__ import annotations

import codecs
import struct
from typing import Any, Protocol

from ..exceptions import MessageTooBig, ProtocolError
from .codes import (
    CLOSE_CODES_NOT_SENT,
    OP_BINARY,
    OP_CLOSE,
    OP_CONT,
    OP_PING,
    OP_PONG,
    OP_TEXT,
    CloseCode,
    is_valid_close_code,
)
from .events import Close, Event, Ping, Pong

__all__ = ["Extension", "FrameParser", "parse_close"]

_CONTROL = frozenset({OP_CLOSE, OP_PING, OP_PONG})
_DATA = frozenset({OP_TEXT, OP_BINARY})
_RSV_BITS = 0x70


class Extension(Protocol):
    """What a negotiated extension (permessage-deflate) plugs into the parser.

    ``reserved_bits`` are the RSV bits (``0x40`` is RSV1) it allows on the
    first frame of a data message. :meth:`decode` receives the payload of a
    message whose first frame set some of them, piece by piece as it arrives,
    and returns the bytes to use instead; ``end`` is true for the message's
    last piece. The extension enforces its own limit on the decoded size;
    ``max_wire_size`` (``None``: no limit) bounds such a message on the wire.
    """

    reserved_bits: int
    max_wire_size: int | None

    def decode(self, data: bytes, reserved_bits: int, end: bool) -> bytes:
        """The decoded form of ``data``, a piece of a message's payload."""


def parse_close(payload: bytes) -> Close:
    """The code and reason of a close frame's body (1005 when it has no code)."""
    if not payload:
        return Close(CloseCode.NO_STATUS_RCVD, "")
    if len(payload) == 1:
        raise ProtocolError("close frame with a one-byte body")
    (code,) = struct.unpack_from("!H", payload)
    if not is_valid_close_code(code) or code in CLOSE_CODES_NOT_SENT:
        raise ProtocolError(f"invalid close code {code}")
    try:
        reason = payload[2:].decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ProtocolError("close reason is not valid UTF-8", close_code=CloseCode.INVALID_DATA) from exc
    return Close(code, reason)


def _decode_text(payload: bytes) -> str:
    try:
        return payload.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ProtocolError("invalid UTF-8 in a text message", close_code=CloseCode.INVALID_DATA) from exc


#: First bytes of the frames FrameParser._take_whole_messages takes (FIN set,
#: no reserved bit): text, binary, ping, pong.
_WHOLE_SMALL = frozenset({0x81, 0x82, 0x89, 0x8A})


class FrameParser:
    """Parses the server's byte stream into :data:`~geventws.protocol.events.Event` s.

    One parser per connection attempt. :meth:`feed` returns the events the
    bytes completed, in order. When the bytes break a rule, ``feed`` raises
    the :class:`ProtocolError` at once if no event came before it in that
    call; otherwise it returns those events and keeps the error in
    :attr:`error`, for the caller to raise after handling them.
    """

    __slots__ = (
        "_buffer",
        "_closed",
        "_decoder",
        "_extension",
        "_parts",
        "_frame",
        "_max_size",
        "_message_opcode",
        "_message_rsv",
        "_message_size",
        "_pos",
        "error",
    )

    def __init__(self, max_message_size: int | None, extension: Extension | None = None) -> None:
        self._buffer = bytearray()
        self._pos = 0  # where parsing stands in _buffer during feed()
        self._max_size = max_message_size
        self._extension = extension
        self._closed = False  # a close frame was parsed
        #: The rule broken after the events returned by the last :meth:`feed`.
        self.error: ProtocolError | None = None
        # The frame being read: (fin, opcode, payload bytes still to come).
        self._frame: tuple[bool, int, int] | None = None
        # The data message being read.
        self._message_opcode: int | None = None
        self._message_rsv = 0
        self._message_size = 0
        # The parts of a message in several frames: bytes of a binary one,
        # decoded text of a text one. Made only then: most messages are one frame.
        self._parts: list[Any] | None = None
        self._decoder: codecs.IncrementalDecoder | None = None

    @property
    def wanted(self) -> int:
        """How many more bytes the frame being read needs (0 when unknown)."""
        if self._frame is None:
            return 0
        return max(self._frame[2] - len(self._buffer), 0)

    def feed(self, data: bytes) -> list[Event]:
        """Add ``data`` to the stream; return the events it completed."""
        if self.error is not None:
            raise self.error
        if self._closed:
            return []
        events: list[Event] = []
        if not self._buffer and self._frame is None and self._message_opcode is None:
            taken = self._take_whole_messages(data, events)
            if taken == len(data):
                return events
            data = data[taken:]
        self._buffer += data
        try:
            while not self._closed and (self._frame is not None or self._read_header()):
                if not self._read_payload(events):
                    break
        except ProtocolError as exc:
            if not events:
                raise
            self.error = exc
        finally:
            del self._buffer[: self._pos]
            self._pos = 0
        return events

    def _take_whole_messages(self, data: bytes, events: list[Event]) -> int:
        """The common case without the general machinery: whole text and binary
        messages of one unmasked frame under 126 bytes, pings and pongs, without
        reserved bits, at the start of ``data``. Appends them to ``events``;
        returns how many bytes they took. Anything else (and any rule broken)
        is left to the general way, which gives the same events and errors."""
        limit = self._max_size
        end = len(data)
        pos = 0
        while end - pos >= 2:
            first, length = data[pos], data[pos + 1]
            stop = pos + 2 + length
            if length > 125 or first not in _WHOLE_SMALL or stop > end:
                break  # a longer or masked frame, another opcode, reserved bits, or not all here
            payload = data[pos + 2 : stop]
            if first == 0x8A:  # control frames: no size limit, no text rule
                events.append(Pong(payload))
            elif first == 0x89:
                events.append(Ping(payload))
            elif limit is not None and length > limit:
                break
            elif first == 0x82:
                events.append(payload)
            else:
                try:
                    events.append(_decode_text(payload))
                except ProtocolError:
                    break
            pos = stop
        return pos

    # -- headers ---------------------------------------------------------------

    def _read_header(self) -> bool:
        """Parse a frame header if all of it is buffered; whether it was."""
        buffer, pos = self._buffer, self._pos
        available = len(buffer) - pos
        if available < 2:
            return False
        first, second = buffer[pos], buffer[pos + 1]
        fin, opcode = self._check_start(first, second)
        length = second & 0x7F
        size = 2
        if length == 126:
            size = 4
            if available < size:
                return False
            (length,) = struct.unpack_from("!H", buffer, pos + 2)
        elif length == 127:
            size = 10
            if available < size:
                return False
            (length,) = struct.unpack_from("!Q", buffer, pos + 2)
            if length >> 63:
                raise ProtocolError("frame length with the most significant bit set")
        if opcode in _DATA:
            self._message_opcode = opcode
            self._message_rsv = first & _RSV_BITS
        if opcode not in _CONTROL:
            self._check_size(length)
        self._pos = pos + size
        self._frame = (fin, opcode, length)
        return True

    def _check_size(self, length: int) -> None:
        """Refuse a data frame that takes its message past the limit, from its header."""
        limit = self._max_size
        if self._message_rsv:
            assert self._extension is not None
            limit = self._extension.max_wire_size  # the extension bounds the decoded size
        if limit is not None and self._message_size + length > limit:
            raise MessageTooBig(f"message larger than max_message_size ({self._max_size} bytes)")

    def _check_start(self, first: int, second: int) -> tuple[bool, int]:
        """FIN and opcode of a frame whose first two bytes are these, checked."""
        fin = bool(first & 0x80)
        opcode = first & 0x0F
        extension = self._extension
        allowed = extension.reserved_bits if extension is not None and opcode in _DATA else 0
        if first & _RSV_BITS & ~allowed:
            kind = "control" if opcode in _CONTROL else "continuation" if opcode == OP_CONT else "data"
            raise ProtocolError(
                f"reserved bits {first & _RSV_BITS:#x} on a {kind} frame without an extension allowing them"
            )
        if second & 0x80:
            raise ProtocolError("masked frame from the server")
        if opcode in _CONTROL:
            if not fin:
                raise ProtocolError("fragmented control frame")
            if second & 0x7F > 125:
                raise ProtocolError("control frame payload longer than 125 bytes")
        elif opcode == OP_CONT:
            if self._message_opcode is None:
                raise ProtocolError("continuation frame with no message in progress")
        elif opcode in _DATA:
            if self._message_opcode is not None:
                raise ProtocolError("new data frame while a fragmented message is in progress")
        else:
            raise ProtocolError(f"unknown opcode {opcode:#x}")
        return fin, opcode

    # -- payloads --------------------------------------------------------------

    def _read_payload(self, events: list[Event]) -> bool:
        """Consume the current frame's payload; whether the frame is complete."""
        assert self._frame is not None
        fin, opcode, remaining = self._frame
        available = len(self._buffer) - self._pos
        partial = self._message_opcode == OP_TEXT or self._message_rsv
        if partial and opcode not in _CONTROL and available < remaining:
            self._decode_available(remaining, available)
            return False
        if available < remaining:
            return False
        payload = bytes(self._buffer[self._pos : self._pos + remaining])
        self._pos += remaining
        self._frame = None
        if opcode in _CONTROL:
            events.append(self._control(opcode, payload))
            return True
        message = self._add_payload(fin, payload)
        if message is not None:
            events.append(message)
        return True

    def _control(self, opcode: int, payload: bytes) -> Event:
        if opcode == OP_PING:
            return Ping(payload)
        if opcode == OP_PONG:
            return Pong(payload)
        self._closed = True
        return parse_close(payload)

    def _add_payload(self, fin: bool, payload: bytes) -> str | bytes | None:
        """Add a data frame's (remaining) payload; the message once it is whole."""
        size = len(payload)  # on the wire: what max_message_size is checked against
        if self._message_rsv:
            assert self._extension is not None
            payload = self._extension.decode(payload, self._message_rsv, fin)
        if self._message_opcode == OP_BINARY:
            if fin and self._parts is None:
                self._reset()
                return payload  # the common case: a whole message in one frame
            self._add_part(payload)
        elif fin and self._decoder is None:
            self._reset()
            return _decode_text(payload)  # the common case: a whole message in one frame
        else:
            self._decode(payload, final=False)
        self._message_size += size
        if not fin:
            return None
        message: str | bytes
        if self._message_opcode == OP_BINARY:
            message = b"".join(self._parts or ())
        else:
            self._decode(b"", final=True)
            message = "".join(self._parts or ())
        self._reset()
        return message

    def _add_part(self, part: str | bytes) -> None:
        parts = self._parts
        if parts is None:
            parts = self._parts = []
        parts.append(part)

    def _decode_available(self, remaining: int, available: int) -> None:
        """Decode the buffered part of a text or extension-encoded frame now:
        RFC 6455 §8.1 wants bad UTF-8 to fail the connection at once, and a
        compressed message is inflated (and bounded) as it arrives instead of
        buffered. Each byte is decoded once."""
        if not available:
            return
        assert self._frame is not None
        chunk = bytes(self._buffer[self._pos : self._pos + available])
        self._pos += available
        self._frame = (self._frame[0], self._frame[1], remaining - available)
        if self._message_rsv:
            assert self._extension is not None
            chunk = self._extension.decode(chunk, self._message_rsv, False)
        if self._message_opcode == OP_BINARY:
            self._add_part(chunk)
        else:
            self._decode(chunk, final=False)
        self._message_size += available

    def _decode(self, data: bytes, final: bool) -> None:
        if self._decoder is None:
            self._decoder = codecs.getincrementaldecoder("utf-8")()
        try:
            self._add_part(self._decoder.decode(data, final))
        except UnicodeDecodeError as exc:
            raise ProtocolError("invalid UTF-8 in a text message", close_code=CloseCode.INVALID_DATA) from exc

    def _reset(self) -> None:
        self._message_opcode = None
        self._message_rsv = 0
        self._parts = None
        self._message_size = 0
        self._decoder = None
