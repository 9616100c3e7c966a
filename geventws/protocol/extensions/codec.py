"""permessage-deflate compression of messages (RFC 7692 §7.2), without I/O.

:class:`Deflater` compresses what the client sends, :class:`Inflater`
inflates what it receives. Both honour the agreed window and context takeover:
with takeover, one zlib stream runs across messages (the LZ77 window carries
over); without it, each message gets a fresh stream, and no zlib state is kept
between messages, so an idle connection holds no zlib memory in that direction.

The sender strips the ``00 00 ff ff`` tail of the final ``Z_SYNC_FLUSH``; the
receiver appends it back. :class:`Inflater` enforces ``max_message_size`` on the
inflated size while inflating, chunk by chunk, so a bomb costs at most
``max_message_size`` plus one chunk of memory.

:class:`Inflater` also holds the server to its agreed window. zlib checks a
back-reference only against what it can still reach: the window *plus* the output
of the current ``inflate()`` call. Left at 64 KiB of output per call, a server that
agreed on 512 bytes could use a 32 KiB window unnoticed (or fail, as its frames
happened to be read). Each call produces at most one window, so a reference
twice the window back or farther always fails, one within the window always
passes, and one in between can only reach bytes this call just inflated. Checking
every distance exactly would take decoding the Huffman codes in Python.
"""

from __future__ import annotations

import zlib

from ...exceptions import MessageTooBig, ProtocolError
from .negotiation import DeflateParams

__all__ = [
    "DEFAULT_LEVEL",
    "DEFAULT_MEM_LEVEL",
    "DEFAULT_MIN_SIZE",
    "Deflater",
    "Inflater",
    "client_codecs",
    "compressed_size_limit",
]

#: The empty stored block that ends every ``Z_SYNC_FLUSH`` and that RFC 7692 strips.
TAIL = b"\x00\x00\xff\xff"
#: zlib's default speed / ratio balance.
DEFAULT_LEVEL = 6
#: zlib's hash table size. 5 gives the same ratio as zlib's 8 on a JSON feed (24% of
#: the raw bytes) for 112 KiB less per connection: 190 KiB instead of 302 KiB with
#: both windows at 15 bits (benchmarks/deflate_bench.py).
DEFAULT_MEM_LEVEL = 5
#: Messages shorter than this are sent uncompressed. 0 (always compress): measured,
#: a threshold saved no bytes (with context takeover 16-63-byte JSON messages still
#: shrink to 29%), only ~3 µs of CPU per message (benchmarks/deflate_bench.py).
DEFAULT_MIN_SIZE = 0
#: Bytes inflated per zlib call: bounds the memory one step may take.
CHUNK = 64 * 2**10


class Deflater:
    """Compresses outgoing messages with the client's half of the agreement.

    ``window_bits`` 8 cannot be honoured by zlib: then :meth:`should_compress`
    is always false and every message goes out uncompressed, which RFC 7692
    allows (RSV1 clear). Messages under ``min_size`` bytes also go out
    uncompressed.
    """

    def __init__(
        self,
        window_bits: int = 15,
        no_context_takeover: bool = False,
        *,
        level: int = DEFAULT_LEVEL,
        mem_level: int = DEFAULT_MEM_LEVEL,
        min_size: int = DEFAULT_MIN_SIZE,
    ) -> None:
        if not 8 <= window_bits <= 15:
            raise ValueError(f"window_bits must be between 8 and 15, not {window_bits}")
        self.window_bits = window_bits
        self.no_context_takeover = no_context_takeover
        self.level = level
        self.mem_level = mem_level
        self.min_size = min_size
        self._stream: zlib._Compress | None = None

    def should_compress(self, size: int) -> bool:
        """Whether a message of ``size`` bytes is to be compressed (RSV1 set)."""
        return self.window_bits > 8 and size >= self.min_size

    def compress(self, data: bytes | bytearray | memoryview, fin: bool = True) -> bytes:
        """The compressed payload for ``data``, one whole message or one fragment.

        Call it for every fragment of a message, ``fin=True`` on the last;
        RSV1 goes on the first frame only. Fragments before the last keep the
        flush tail (the receiver inflates it as an empty block).
        """
        stream = self._stream
        if stream is None:
            stream = zlib.compressobj(self.level, zlib.DEFLATED, -self.window_bits, self.mem_level)
            self._stream = stream
        out = stream.compress(data) + stream.flush(zlib.Z_SYNC_FLUSH)
        if not fin:
            return out
        if self.no_context_takeover:
            self._stream = None
        # A sync flush always ends with the empty stored block's LEN/NLEN.
        assert out.endswith(TAIL)
        return out[:-4]


class Inflater:
    """Inflates incoming compressed messages with the server's half of the agreement.

    Feed the payload of each frame of a compressed message to :meth:`feed`, in
    any slicing, then call :meth:`finish` once its final frame is in; both
    return the inflated bytes they produced. Raises
    :class:`~geventws.MessageTooBig` (1009) once a message inflates past
    ``max_message_size`` and :class:`~geventws.ProtocolError` (1007) for data
    that is not a valid deflate stream, a back-reference beyond the agreed
    window among them (see the module's docstring for how far that is checked).

    ``window_bits`` 8 is inflated with a 256-byte window, as agreed. A server
    that compresses with zlib cannot honour 8 (zlib refuses raw deflate with 8;
    Node's zlib uses 9 instead), but zlib never reaches farther back than its
    window minus 262 bytes, 250 bytes with 9, so such streams still fit.
    """

    def __init__(
        self,
        window_bits: int = 15,
        no_context_takeover: bool = False,
        max_message_size: int | None = None,
    ) -> None:
        if not 8 <= window_bits <= 15:
            raise ValueError(f"window_bits must be between 8 and 15, not {window_bits}")
        self.window_bits = window_bits
        self.no_context_takeover = no_context_takeover
        self.max_message_size = max_message_size
        # zlib lets a reference reach the window plus the output of the same call:
        # one window per call bounds that reach to twice the window (module docstring).
        self._step = min(CHUNK, 1 << window_bits)
        self._stream: zlib._Decompress | None = None
        self._size = 0  # inflated bytes of the message in progress

    def feed(self, data: bytes) -> bytes:
        """Inflate more of the current message's compressed payload."""
        stream = self._stream
        if stream is None:
            stream = self._stream = zlib.decompressobj(-self.window_bits)
        if stream.eof:
            if data:
                raise ProtocolError("data after the final deflate block of a message", close_code=1007)
            return b""
        return self._inflate(stream, data)

    def finish(self) -> bytes:
        """End the current message: inflate the stripped tail, reset per the agreement."""
        stream = self._stream
        out = b"" if stream is not None and stream.eof else self.feed(TAIL)
        stream = self._stream
        if self.no_context_takeover or (stream is not None and stream.eof):
            # A final block (BFINAL) ends the zlib stream: the next message needs
            # a new one, and loses the window even with context takeover.
            self._stream = None
        self._size = 0
        return out

    def decompress(self, payload: bytes) -> bytes:
        """Inflate one whole message (the payloads of its frames joined)."""
        return self.feed(payload) + self.finish()

    def _inflate(self, stream: zlib._Decompress, data: bytes) -> bytes:
        # zlib copies the input it could not consume into ``unconsumed_tail`` at every
        # call; slicing the input keeps that copy (and its memory) to one step.
        view = memoryview(data)
        parts: list[bytes] = []
        step = self._step
        for start in range(0, len(view), step):
            self._inflate_slice(stream, view[start : start + step], parts)
        return b"".join(parts)

    def _inflate_slice(self, stream: zlib._Decompress, data: bytes | memoryview, parts: list[bytes]) -> None:
        limit = self.max_message_size
        while True:
            room = self._step if limit is None else min(self._step, limit - self._size + 1)
            try:
                chunk = stream.decompress(data, room)
            except zlib.error as exc:
                # "invalid distance too far back" included: a reference beyond the
                # agreed window gets 1007 like any data invalid for the agreed
                # parameters (as in Node's ws; python-websockets sends 1002 for all).
                raise ProtocolError(f"invalid compressed data: {exc}", close_code=1007) from exc
            self._size += len(chunk)
            if limit is not None and self._size > limit:
                self._stream = None  # the connection fails; drop the state at once
                raise MessageTooBig(f"message inflates past max_message_size ({limit} bytes)")
            parts.append(chunk)
            data = stream.unconsumed_tail
            if stream.eof and stream.unused_data not in (b"", TAIL):
                raise ProtocolError("data after the final deflate block of a message", close_code=1007)
            # A full chunk may leave output pending inside zlib even with no input left.
            if not data and len(chunk) < room:
                return


def compressed_size_limit(max_message_size: int | None) -> int | None:
    """The most wire bytes a compressed message within ``max_message_size`` may take.

    Incompressible data grows a little when deflated (stored blocks, flush
    markers): under 4% plus a few bytes for zlib (its ``deflateBound``). The
    parser bounds compressed messages on the wire with this, so a stream of
    empty blocks cannot make it buffer without end, while the
    :class:`Inflater` bounds the inflated size with ``max_message_size``.
    """
    if max_message_size is None:
        return None
    return max_message_size + max_message_size // 16 + 1024


def client_codecs(
    params: DeflateParams,
    max_message_size: int | None,
    *,
    level: int = DEFAULT_LEVEL,
    mem_level: int = DEFAULT_MEM_LEVEL,
    min_size: int = DEFAULT_MIN_SIZE,
) -> tuple[Deflater, Inflater]:
    """The client's :class:`Deflater` and :class:`Inflater` for what was agreed."""
    deflater = Deflater(
        params.client_max_window_bits,
        params.client_no_context_takeover,
        level=level,
        mem_level=mem_level,
        min_size=min_size,
    )
    inflater = Inflater(params.server_max_window_bits, params.server_no_context_takeover, max_message_size)
    return deflater, inflater
