"""WebSocket extensions: permessage-deflate (RFC 7692), without I/O.

- :mod:`.header`: the ``Sec-WebSocket-Extensions`` grammar.
- :mod:`.negotiation`: :class:`DeflateOffer` (the request's offer) and the
  strict check of the server's answer into :class:`DeflateParams`.
- :mod:`.codec`: :class:`Deflater` and :class:`Inflater`, one message at a time,
  bomb-proof against ``max_message_size``.
- :mod:`.rsv`: the reserved bits (the parser applies their rules).
- :mod:`.permessage`: :class:`PerMessageDeflate`, one connection's both halves
  as the parser's extension and the writer's compressor.
"""

from __future__ import annotations

from .codec import Deflater, Inflater, client_codecs
from .negotiation import EXTENSION_NAME, Compression, DeflateOffer, DeflateParams, make_offer
from .permessage import PerMessageDeflate
from .rsv import RSV1

__all__ = [
    "EXTENSION_NAME",
    "RSV1",
    "Compression",
    "DeflateOffer",
    "DeflateParams",
    "Deflater",
    "Inflater",
    "PerMessageDeflate",
    "client_codecs",
    "make_offer",
]
