"""What the frame parser hands back: whole messages and control frames.

A message is ``str`` (text) or ``bytes`` (binary), already reassembled from its
fragments; control frames are the small classes below.
"""

from __future__ import annotations

import dataclasses

__all__ = ["Close", "Event", "Ping", "Pong"]


@dataclasses.dataclass(frozen=True, slots=True)
class Ping:
    """A ping from the server; it must be answered with a pong carrying ``payload``."""

    payload: bytes


@dataclasses.dataclass(frozen=True, slots=True)
class Pong:
    """A pong from the server, answering the ping that carried ``payload``."""

    payload: bytes


@dataclasses.dataclass(frozen=True, slots=True)
class Close:
    """A close frame from the server; ``code`` is 1005 when it carried none."""

    code: int
    reason: str


#: One thing received: a text message, a binary message or a control frame.
Event = str | bytes | Ping | Pong | Close
