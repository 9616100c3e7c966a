"""The states of a connection."""

from __future__ import annotations

import enum

__all__ = ["State"]


class State(enum.Enum):
    """Where a :class:`~geventws.Connection` is in its life.

    ``INITIAL`` until :meth:`~geventws.Connection.connect`; ``CONNECTING``
    during DNS, TCP, TLS and the upgrade; ``OPEN`` once the handshake is done;
    ``CLOSING`` during the closing handshake; ``CLOSED`` between attempts and
    when finished. :attr:`Connection.reconnect_pending` and
    :attr:`Connection.finished` tell those two apart (internally, the
    supervisor's ``Phase``: ``WAITING`` or ``FINISHED``).
    """

    INITIAL = "initial"
    CONNECTING = "connecting"
    OPEN = "open"
    CLOSING = "closing"
    CLOSED = "closed"
