"""WebSocket extensions: permessage-deflate (RFC 7692), without I/O.

- :mod:`.header`: the ``Sec-WebSocket-Extensions`` grammar.
- :mod:`.negotiation`: :class:`DeflateOffer` (the request's offer) and the
  strict check of the server's answer into :class:`DeflateParams`.
- :mod:`.codec`: :class:`Deflater` and :class:`Inflater`, one message at a time,
  bomb-proof against ``max_message_size``.
- :mod:`.rsv`: the RSV1 rules the frame parser applies.
- :mod:`.permessage`: :class:`PerMessageDeflate`, one connection's both halves
  and the per-message state, with the hooks the parser and writer call.
"""

from __future__ import annotations

from .codec import Deflater, Inflater, client_codecs
from .negotiation import EXTENSION_NAME, Compression, DeflateOffer, DeflateParams, make_offer
from .permessage import PerMessageDeflate
from .rsv import RSV1, check_rsv

__all__ = [
    "EXTENSION_NAME",
    "RSV1",
    "Compression",
    "DeflateOffer",
    "DeflateParams",
    "Deflater",
    "Inflater",
    "PerMessageDeflate",
    "check_rsv",
    "client_codecs",
    "make_offer",
]
