"""One connection's permessage-deflate, as the frame parser and writer use it.

:class:`PerMessageDeflate` holds both halves of the agreement. It is the
:class:`~geventws.protocol.parser.Extension` the :class:`FrameParser` is given
(``reserved_bits``, ``max_wire_size``, :meth:`~PerMessageDeflate.decode`): the
parser applies the RSV1 rules and keeps the first frame's RSV1 for the message.

The writer calls :meth:`encode_message` and sets RSV1 on the first frame when
it says so.
"""

from __future__ import annotations

from .codec import DEFAULT_LEVEL, DEFAULT_MEM_LEVEL, DEFAULT_MIN_SIZE, client_codecs, compressed_size_limit
from .negotiation import DeflateParams
from .rsv import RSV1

__all__ = ["PerMessageDeflate"]


class PerMessageDeflate:
    """permessage-deflate for one connection, client side, as agreed in ``params``.

    ``max_message_size`` bounds each message's inflated size (1009 past it).
    """

    #: The RSV bit a compressed message's first frame sets.
    reserved_bits = RSV1

    def __init__(
        self,
        params: DeflateParams,
        max_message_size: int | None,
        *,
        level: int = DEFAULT_LEVEL,
        mem_level: int = DEFAULT_MEM_LEVEL,
        min_size: int = DEFAULT_MIN_SIZE,
    ) -> None:
        self.params = params
        self.deflater, self.inflater = client_codecs(
            params, max_message_size, level=level, mem_level=mem_level, min_size=min_size
        )
        #: The most wire bytes a compressed message may take (the parser checks it).
        self.max_wire_size = compressed_size_limit(max_message_size)

    def decode(self, data: bytes, reserved_bits: int, end: bool) -> bytes:
        """The parser's hook: inflate a piece of a compressed message; ``end``
        after its final piece (then the stripped tail is inflated too)."""
        out = self.inflater.feed(data)
        return out + self.inflater.finish() if end else out

    def encode_message(
        self, data: bytes | bytearray | memoryview
    ) -> tuple[bool, bytes | bytearray | memoryview]:
        """``(rsv1, payload)`` for an outgoing message sent as one frame."""
        if not self.deflater.should_compress(len(data)):
            return False, data
        return True, self.deflater.compress(data)
