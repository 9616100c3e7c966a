"""The frame writer: client frames, masked, as bytes (RFC 6455 §5.2, §5.3).

Sans-I/O: it returns bytes and never touches a socket. websocket-client's
``ABNF.format()`` stays the reference; tests prove the frames byte-identical
for the same mask key.

Theory of operation:

- **Mask keys** come from :class:`MaskKeys`: ``os.urandom`` read a block at a
  time and sliced 4 bytes per key, so a frame costs no system call. A key
  never repeats within the last ``window`` keys (a repeat is harmless for
  RFC 6455, but 100k random 32-bit keys would repeat about once).
- **Masking** is one XOR over the payload: websockets' C ``apply_mask`` when
  the optional ``speedups`` extra is installed, else Python integers
  (``int.from_bytes`` of the whole chunk), both exact.
- **Large payloads** go through :func:`frame_chunks`, which yields the header
  and then the payload masked ``chunk_size`` bytes at a time from memoryview
  slices: a send holds at most one chunk of extra memory and no single step
  masks more than one chunk, so the caller can yield to its event loop
  between chunks.
- **Compression** (permessage-deflate): :func:`message_chunks` compresses a
  message with the connection's :class:`Compressor` and sets RSV1 on its frame
  when it did. The caller calls it under its write lock, so the compressor's
  context (shared by consecutive messages) follows the order on the wire.
"""

from __future__ import annotations

import os
import struct
from array import array
from collections.abc import Callable, Iterator
from typing import Protocol

from .codes import CLOSE_CODES_NOT_SENT, is_valid_close_code

__all__ = [
    "CHUNK_SIZE",
    "OP_BINARY",
    "OP_CLOSE",
    "OP_CONT",
    "OP_PING",
    "OP_PONG",
    "OP_TEXT",
    "RSV1",
    "Compressor",
    "MaskKeys",
    "close_body",
    "control_payload",
    "encode_close",
    "encode_frame",
    "frame_chunks",
    "mask",
    "mask_python",
    "WireForm",
    "compress_message",
    "message_chunks",
    "new_mask_key",
]

OP_CONT = 0x0
OP_TEXT = 0x1
OP_BINARY = 0x2
OP_CLOSE = 0x8
OP_PING = 0x9
OP_PONG = 0xA

#: The first byte's bit that marks a compressed message (RFC 7692).
RSV1 = 0x40

_OPCODES = frozenset({OP_CONT, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG})
_CONTROL = frozenset({OP_CLOSE, OP_PING, OP_PONG})

#: How much of a large payload is masked and written per step: about 1 ms of
#: pure-Python masking on a slow core, far less with the accelerator.
CHUNK_SIZE = 256 * 1024

#: What a payload may be: anything exposing a contiguous byte buffer.
Payload = bytes | bytearray | memoryview


def mask_python(data: Payload, key: bytes) -> bytes:
    """``data`` XOR the repeated 4-byte ``key``, with Python integers."""
    n = len(data)
    repeated = int.from_bytes((key * (n // 4 + 1))[:n], "little")
    return (int.from_bytes(data, "little") ^ repeated).to_bytes(n, "little")


def _load_accelerator() -> Callable[[Payload, bytes], bytes] | None:
    try:
        from websockets.speedups import apply_mask
    except ImportError:  # the optional "speedups" extra is not installed
        return None
    return apply_mask


#: websockets' C masking function, or None without the ``speedups`` extra.
mask_accelerated = _load_accelerator()
#: Mask (or unmask) ``data`` with a 4-byte key: the fastest exact implementation available.
mask: Callable[[Payload, bytes], bytes] = mask_accelerated or mask_python


class MaskKeys:
    """A source of unpredictable 4-byte mask keys (RFC 6455 §5.3).

    Keys are sliced from blocks of ``os.urandom``. A key whose low 20 bits
    match one of the last ``window`` keys is skipped, so no key repeats
    within ``window`` keys; this excludes at most ``window / 2**20`` of the
    key space (an eighth by default), about 0.2 bits of the 32. The tables
    (1.5 MiB by default) are made on first use.

    No lock: OS threads sharing one source never make it fail, but may now and
    then draw the same key at the same moment (keys stay unpredictable).
    """

    __slots__ = ("_block", "_block_keys", "_buckets", "_ints", "_pos", "_ring", "_ring_pos", "_window")

    _BUCKETS = 2**20

    def __init__(self, window: int = 2**17, block_keys: int = 1024) -> None:
        if not 0 < window <= self._BUCKETS // 2:
            raise ValueError(f"window must be in 1..{self._BUCKETS // 2}")
        self._window = window
        self._block_keys = block_keys
        self._block = b""
        self._ints = array("I")  # the block's keys as integers, to find their buckets
        self._pos = 0
        self._buckets = bytearray()
        # The bucket of each of the last ``window`` keys, plus one (0: an empty slot).
        self._ring = array("I")
        self._ring_pos = 0

    def next(self) -> bytes:
        """A fresh mask key."""
        buckets = self._buckets
        while True:
            i = self._pos
            if i >= len(self._ints):
                self._refill()
                buckets = self._buckets
                i = 0
            self._pos = i + 1
            bucket = self._ints[i] & (self._BUCKETS - 1)
            if buckets[bucket]:
                continue  # may repeat a recent key: draw another
            ring, slot = self._ring, self._ring_pos
            if ring[slot]:
                buckets[ring[slot] - 1] = 0
            ring[slot] = bucket + 1
            self._ring_pos = slot + 1 if slot + 1 < self._window else 0
            buckets[bucket] = 1
            return self._block[4 * i : 4 * i + 4]

    def _refill(self) -> None:
        if not self._buckets:
            self._buckets = bytearray(self._BUCKETS)
            self._ring = array("I", bytes(4 * self._window))
        self._block = os.urandom(4 * self._block_keys)
        self._ints = array("I", self._block)
        self._pos = 0


_keys = MaskKeys()
#: The process-wide key source every frame uses unless given a key.
new_mask_key: Callable[[], bytes] = _keys.next


def _as_bytes(payload: Payload) -> Payload:
    """``payload`` with ``len()`` in bytes; raises TypeError for what is not bytes-like."""
    if isinstance(payload, (bytes, bytearray)):
        return payload
    if isinstance(payload, memoryview):
        if not payload.c_contiguous:
            return payload.tobytes()
        # Flat unsigned bytes: what len() counts in bytes and the accelerator takes.
        return payload if payload.format == "B" and payload.ndim == 1 else payload.cast("B")
    raise TypeError(f"a frame payload must be bytes-like, not {type(payload).__name__}")


class Compressor(Protocol):
    """What compresses whole messages: the sending half of permessage-deflate."""

    def encode_message(self, data: Payload) -> tuple[bool, Payload]:
        """``(rsv1, payload)``: the payload to send and whether it is compressed."""


def _header(opcode: int, length: int, fin: bool, key: bytes, rsv1: bool = False) -> bytes:
    first = (0x80 if fin else 0) | (RSV1 if rsv1 else 0) | opcode
    if length < 126:
        return bytes((first, 0x80 | length)) + key
    if length < 65536:
        return struct.pack("!BBH", first, 0xFE, length) + key
    if length >= 2**63:
        raise ValueError("a frame payload may not reach 2**63 bytes")
    return struct.pack("!BBQ", first, 0xFF, length) + key


def _check(opcode: int, length: int, fin: bool, rsv1: bool = False) -> None:
    if opcode not in _OPCODES:
        raise ValueError(f"invalid opcode {opcode!r}")
    if rsv1 and opcode not in (OP_TEXT, OP_BINARY):
        raise ValueError("RSV1 (compressed) is only for the first frame of a text or binary message")
    if opcode in _CONTROL and (length > 125 or not fin):
        raise ValueError(f"control frame payload of {length} bytes (the limit is 125) or not final")


def encode_frame(
    opcode: int, payload: Payload, fin: bool = True, mask_key: bytes | None = None, rsv1: bool = False
) -> bytes:
    """One masked client frame carrying ``payload`` (bytes, bytearray or memoryview).

    Byte-identical to ``ABNF(fin, rsv1, 0, 0, opcode, 1, payload).format()`` for
    the same ``mask_key`` (a fresh one from :func:`new_mask_key` by default).
    Raises :class:`ValueError` for an unknown opcode or a control frame over
    125 bytes or fragmented (RFC 6455 §5.5), :class:`TypeError` for a payload
    that is not bytes-like.
    """
    payload = _as_bytes(payload)
    length = len(payload)
    _check(opcode, length, fin, rsv1)
    key = new_mask_key() if mask_key is None else mask_key
    return _header(opcode, length, fin, key, rsv1) + mask(payload, key)


#: The opcodes whose final frames :func:`encode_small_frame` builds itself.
_SMALL_OPCODES = frozenset({OP_TEXT, OP_BINARY, OP_PING, OP_PONG})


def encode_small_frame(opcode: int, payload: bytes, mask_key: bytes | None = None) -> bytes:
    """:func:`encode_frame` of a final frame, with a shortcut for the common
    case: a text, binary, ping or pong frame of ``bytes`` under 126 bytes
    skips the general checks. Anything else takes :func:`encode_frame` (the
    same bytes, the same errors)."""
    length = len(payload)
    if length > 125 or opcode not in _SMALL_OPCODES or type(payload) is not bytes:
        return encode_frame(opcode, payload, True, mask_key)
    key = new_mask_key() if mask_key is None else mask_key
    return bytes((0x80 | opcode, 0x80 | length)) + key + mask(payload, key)


def frame_chunks(
    opcode: int,
    payload: Payload,
    fin: bool = True,
    chunk_size: int = CHUNK_SIZE,
    mask_key: bytes | None = None,
    rsv1: bool = False,
) -> Iterator[bytes]:
    """The frame of :func:`encode_frame` in pieces whose concatenation is that frame.

    A payload of at most ``chunk_size`` bytes comes as one piece. A larger
    one comes as the header, then the payload masked ``chunk_size`` bytes at
    a time, lazily: only the chunk being handed out is held. Arguments are
    checked on the call, before the first piece is asked for.
    """
    payload = _as_bytes(payload)
    if chunk_size <= 0 or chunk_size % 4:
        raise ValueError("chunk_size must be a positive multiple of 4")
    length = len(payload)
    _check(opcode, length, fin, rsv1)
    key = new_mask_key() if mask_key is None else mask_key
    header = _header(opcode, length, fin, key, rsv1)
    if length <= chunk_size:
        return iter((header + mask(payload, key),))
    return _chunks(header, memoryview(payload), key, chunk_size)


def message_chunks(
    opcode: int, payload: Payload, compressor: Compressor, chunk_size: int = CHUNK_SIZE
) -> Iterator[bytes]:
    """A whole text or binary message as one final frame, in the pieces of
    :func:`frame_chunks`, compressed by ``compressor`` (RSV1 set) when it
    chooses to. Compresses at once: call it where the compressor's order must
    be the wire order (under the write lock)."""
    rsv1, data = compress_message(opcode, payload, compressor)
    return frame_chunks(opcode, data, chunk_size=chunk_size, rsv1=rsv1)


#: A message as it went out when that differs from its payload: ``(rsv1, compressed payload)``.
WireForm = tuple[bool, Payload]


def compress_message(opcode: int, payload: Payload, compressor: Compressor) -> WireForm:
    """``(rsv1, payload on the wire)`` of a whole text or binary message, as
    ``compressor`` chooses; compresses at once (see :func:`message_chunks`)."""
    if opcode not in (OP_TEXT, OP_BINARY):
        raise ValueError(f"only text and binary messages are compressed, not opcode {opcode!r}")
    return compressor.encode_message(_as_bytes(payload))


def _chunks(header: bytes, view: memoryview, key: bytes, chunk_size: int) -> Iterator[bytes]:
    yield header
    apply = _chunk_masker(key, chunk_size)
    for start in range(0, len(view), chunk_size):
        yield apply(view[start : start + chunk_size])


def _chunk_masker(key: bytes, chunk_size: int) -> Callable[[memoryview], bytes]:
    """Mask successive chunks of one payload (each starts at a multiple of 4)."""
    accelerated = mask_accelerated
    if accelerated is not None:
        return lambda chunk: accelerated(chunk, key)
    full = int.from_bytes(key * (chunk_size // 4), "little")  # computed once per frame

    def apply(chunk: memoryview) -> bytes:
        n = len(chunk)
        repeated = full if n == chunk_size else full & ((1 << (8 * n)) - 1)
        return (int.from_bytes(chunk, "little") ^ repeated).to_bytes(n, "little")

    return apply


def control_payload(data: Payload | str) -> bytes:
    """The payload of a ping or pong as bytes: ``str`` is sent as UTF-8 (like
    python-websockets), bytes-like as is.

    Raises :class:`TypeError` for anything else (``ping(5)`` must not send
    five NUL bytes) and :class:`ValueError` over 125 bytes.
    """
    if isinstance(data, str):
        payload = data.encode("utf-8")
    elif isinstance(data, (bytes, bytearray, memoryview)):
        payload = bytes(_as_bytes(data))
    else:
        raise TypeError(f"a ping payload must be str or bytes-like, not {type(data).__name__}")
    if len(payload) > 125:
        raise ValueError(f"control frame payload of {len(payload)} bytes (the limit is 125)")
    return payload


def close_body(code: int | None = None, reason: str = "") -> bytes:
    """The body of a close frame, checked: empty when ``code`` is None.

    Raises :class:`TypeError` for a code that is not an ``int`` (``1000.0``,
    ``True``) or a reason that is not a ``str`` (``None``), and
    :class:`ValueError` for a code that may not be sent, a reason without a
    code, or a reason longer than 123 bytes in UTF-8.
    """
    if not isinstance(reason, str):
        raise TypeError(f"close reason must be str, not {type(reason).__name__}")
    if code is None:
        if reason:
            raise ValueError("a close reason needs a close code")
        return b""
    if not isinstance(code, int) or isinstance(code, bool):
        raise TypeError(f"close code must be int, not {type(code).__name__}")
    if not is_valid_close_code(code) or code in CLOSE_CODES_NOT_SENT:
        raise ValueError(f"invalid close code {code}")
    body = reason.encode("utf-8")
    if len(body) > 123:
        raise ValueError("close reason is longer than 123 bytes")
    return struct.pack("!H", code) + body


def encode_close(code: int | None = None, reason: str = "", mask_key: bytes | None = None) -> bytes:
    """A masked close frame; checks its arguments like :func:`close_body`."""
    return encode_frame(OP_CLOSE, close_body(code, reason), mask_key=mask_key)
