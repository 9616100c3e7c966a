"""RFC 6455 framing: the only module that imports websocket-client.

Outgoing frames are built and masked by websocket-client's :class:`ABNF`
(a fresh ``os.urandom`` mask key per frame). Incoming frames are parsed here,
because websocket-client's ``frame_buffer`` reads a whole payload before any
size check (so no 1009 without buffering), guards itself with a
``threading.Lock`` and accepts masked or oversized control frames. The parser
applies every rule of RFC 6455 §5 and reports a violation as
:class:`~geventws.ProtocolError` carrying the close code to fail with.
"""

from __future__ import annotations

import codecs
import struct
from collections.abc import Callable
from typing import NamedTuple

from websocket import ABNF

from ..exceptions import MessageTooBig, ProtocolError
from .codes import CLOSE_CODES_NOT_SENT, is_valid_close_code

__all__ = [
    "OP_BINARY",
    "OP_CLOSE",
    "OP_CONT",
    "OP_PING",
    "OP_PONG",
    "OP_TEXT",
    "Frame",
    "FrameParser",
    "encode_close",
    "encode_frame",
    "parse_close",
]

OP_CONT: int = ABNF.OPCODE_CONT
OP_TEXT: int = ABNF.OPCODE_TEXT
OP_BINARY: int = ABNF.OPCODE_BINARY
OP_CLOSE: int = ABNF.OPCODE_CLOSE
OP_PING: int = ABNF.OPCODE_PING
OP_PONG: int = ABNF.OPCODE_PONG

_CONTROL = frozenset({OP_CLOSE, OP_PING, OP_PONG})
_DATA = frozenset({OP_TEXT, OP_BINARY})
_MAX_RECV = 2**18


class Frame(NamedTuple):
    """One event read from the server.

    For ``OP_TEXT`` and ``OP_BINARY`` it is a whole (reassembled) message and
    ``data`` is ``str`` or ``bytes``; for control frames ``data`` is the payload.
    """

    opcode: int
    data: str | bytes


def encode_frame(opcode: int, payload: bytes, fin: bool = True) -> bytes:
    """A masked client frame carrying ``payload``.

    Raises :class:`ValueError` for a control frame over 125 bytes (RFC 6455 §5.5).
    """
    if opcode in _CONTROL and len(payload) > 125:
        raise ValueError(f"control frame payload of {len(payload)} bytes (the limit is 125)")
    return ABNF(int(fin), 0, 0, 0, opcode, 1, payload).format()


def encode_close(code: int | None, reason: str = "") -> bytes:
    """A masked close frame; ``code=None`` sends an empty body.

    Raises :class:`ValueError` for a code that may not be sent or a reason
    longer than 123 bytes.
    """
    if code is None:
        return encode_frame(OP_CLOSE, b"")
    if not is_valid_close_code(code):
        raise ValueError(f"invalid close code {code}")
    body = reason.encode("utf-8")
    if len(body) > 123:
        raise ValueError("close reason is longer than 123 bytes")
    return encode_frame(OP_CLOSE, struct.pack("!H", code) + body)


def parse_close(payload: bytes) -> tuple[int, str]:
    """Code and reason of a close frame's body (1005 when it has no code)."""
    if not payload:
        return 1005, ""
    if len(payload) == 1:
        raise ProtocolError("close frame with a one-byte body")
    (code,) = struct.unpack("!H", payload[:2])
    if not is_valid_close_code(code) or code in CLOSE_CODES_NOT_SENT:
        raise ProtocolError(f"invalid close code {code}")
    try:
        reason = payload[2:].decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ProtocolError("close reason is not valid UTF-8", close_code=1007) from exc
    return code, reason


def _decode_text(payload: bytes) -> str:
    try:
        return payload.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ProtocolError("invalid UTF-8 in a text message", close_code=1007) from exc


class FrameParser:
    """Reads frames from a byte source and yields messages and control frames.

    ``recv(n)`` must return up to ``n`` bytes, and ``b""`` at end of stream
    (then :class:`EOFError` is raised). ``initial`` holds bytes already read
    past the handshake. One parser per connection, used by one greenlet.
    """

    def __init__(
        self,
        recv: Callable[[int], bytes],
        max_message_size: int | None,
        initial: bytes = b"",
    ) -> None:
        self._recv = recv
        self._buffer = bytearray(initial)
        self._max_size = max_message_size
        self._message_opcode: int | None = None
        self._fragments: list[bytes] = []  # of a binary message
        self._text: list[str] = []  # decoded parts of a text message
        self._message_size = 0
        self._decoder: codecs.IncrementalDecoder | None = None

    def read(self) -> Frame:
        """The next message or control frame. Raises :class:`ProtocolError`."""
        while True:
            fin, opcode, length = self._read_header()
            if opcode in _CONTROL:
                payload = self._read_exact(length)
                if opcode == OP_CLOSE:
                    parse_close(payload)
                return Frame(opcode, payload)
            if opcode != OP_CONT:
                self._message_opcode = opcode
            if self._message_opcode == OP_BINARY:
                message = self._add_binary(fin, self._read_exact(length))
            elif self._decoder is None and fin and len(self._buffer) >= length:
                self._reset()  # the common case: a whole text message, already buffered
                message = Frame(OP_TEXT, _decode_text(self._read_exact(length)))
            else:
                message = self._add_text(fin, length)
            if message is not None:
                return message

    def _read_header(self) -> tuple[bool, int, int]:
        first, second = self._read_exact(2)
        fin = bool(first & 0x80)
        opcode = first & 0x0F
        if first & 0x70:
            raise ProtocolError("reserved bits set without a negotiated extension")
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
        length = second & 0x7F
        if length == 126:
            (length,) = struct.unpack("!H", self._read_exact(2))
        elif length == 127:
            (length,) = struct.unpack("!Q", self._read_exact(8))
            if length >> 63:
                raise ProtocolError("frame length with the most significant bit set")
        limit = self._max_size
        if opcode not in _CONTROL and limit is not None and self._message_size + length > limit:
            raise MessageTooBig(f"message larger than max_message_size ({limit} bytes)")
        return fin, opcode, length

    def _add_binary(self, fin: bool, payload: bytes) -> Frame | None:
        if fin and not self._fragments:
            self._reset()
            return Frame(OP_BINARY, payload)
        self._fragments.append(payload)
        self._message_size += len(payload)
        if not fin:
            return None
        data = b"".join(self._fragments)
        self._reset()
        return Frame(OP_BINARY, data)

    def _add_text(self, fin: bool, length: int) -> Frame | None:
        """Decode a text payload that is fragmented or not buffered yet as its
        bytes arrive: RFC 6455 §8.1 wants bad UTF-8 to fail the connection at
        once, not when the message is complete. Each byte is decoded once."""
        if self._decoder is None:
            self._decoder = codecs.getincrementaldecoder("utf-8")()
        buffer = self._buffer
        remaining = length
        while True:
            take = min(len(buffer), remaining)
            if take:
                self._decode(bytes(buffer[:take]), final=False)
                del buffer[:take]
                remaining -= take
            if not remaining:
                break
            chunk = self._recv(min(max(remaining, 4096), _MAX_RECV))
            if not chunk:
                raise EOFError("connection closed by the server")
            buffer += chunk
        self._message_size += length
        if not fin:
            return None
        self._decode(b"", final=True)
        text = "".join(self._text)
        self._reset()
        return Frame(OP_TEXT, text)

    def _decode(self, data: bytes, final: bool) -> None:
        assert self._decoder is not None
        try:
            self._text.append(self._decoder.decode(data, final))
        except UnicodeDecodeError as exc:
            raise ProtocolError("invalid UTF-8 in a text message", close_code=1007) from exc

    def _reset(self) -> None:
        self._message_opcode = None
        self._fragments = []
        self._text = []
        self._message_size = 0
        self._decoder = None

    def _read_exact(self, n: int) -> bytes:
        buffer = self._buffer
        while len(buffer) < n:
            chunk = self._recv(min(max(n - len(buffer), 4096), _MAX_RECV))
            if not chunk:
                raise EOFError("connection closed by the server")
            buffer += chunk
        data = bytes(buffer[:n])
        del buffer[:n]
        return data
