"""The one place the runtime takes its frame encoders from.

``protocol/writer.py`` is replacing the encoders of ``protocol/frames.py``
(built on websocket-client's ``ABNF``); switching is this import.
"""

from __future__ import annotations

from ..protocol.frames import encode_close, encode_frame

__all__ = ["encode_close", "encode_frame"]
