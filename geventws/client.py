"""``connect()``: open a :class:`Connection` and return it once open, like
python-websockets' ``connect()`` (the sequential entry point)."""

from __future__ import annotations

from typing import Any

from gevent.event import AsyncResult

from .connection import Connection
from .exceptions import ConnectError
from .protocol.options import URLLike

__all__ = ["connect"]


def connect(url: URLLike, **options: Any) -> Connection:
    """Open a connection and return it once the handshake is done.

    Takes the options and callbacks of :class:`Connection`. Raises
    :class:`ConnectError` (:class:`HandshakeError`, :class:`TLSError`,
    :class:`OpenTimeout`…) if it cannot be opened; with a ``reconnect`` policy
    it keeps trying until the policy gives up. Use it as a context manager to
    close it on exit.

    Interrupted (``gevent.Timeout``, ``kill()``), it tears the attempt down
    before the exception propagates, like a cancelled task: the socket is
    closed, nothing keeps running, no reconnect follows.
    """
    conn = Connection(url, **options)
    conn._errors_raised = True
    first_open = conn._first_open = AsyncResult()  # dropped once decided: idle bytes count
    interrupted = True
    try:
        conn.connect()
        opened = first_open.get()  # True at the open, False if it finished first
        interrupted = False
    finally:
        conn._errors_raised = False
        conn._first_open = None
        if interrupted:
            conn._cancel()
    if not opened:
        error = conn.last_error
        raise error if error is not None else ConnectError("connection failed")
    return conn
