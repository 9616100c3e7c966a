"""Who reads a plain-TCP socket while the receive loop is parked: a guest, or the hub.

On a request/response exchange the receive loop would wake for every reply
only to hand it to the greenlet waiting in ``recv()``: two greenlet switches
and a hub callback per message; an idle connection would wake it for every
pong. A :class:`ReadTurn` keeps the receive loop parked instead: when the
socket becomes readable, the hub wakes the greenlet waiting in ``recv()``
(the guest), which reads the socket itself; with no guest, the hub reads.

Both do only what never blocks and runs no callback: read what the socket
holds, parse it, put the data messages into the inbox and match pongs to
their pings. Anything else (a ping, a close frame, a message for
``on_message``, a full inbox, an error, the end of the stream) is handed
over to the receive loop, which deals with it as if it had read the bytes
itself. So the rules of :mod:`.session` hold: pongs we send, close replies
and callbacks keep running in the receive greenlet, in order.

The socket's read watcher calls the :class:`ReadTurn` itself (its
``__call__``) in the hub. Only one read runs at a time: the watcher is
stopped while one runs, and a guest is only invited while the receive loop
is parked.
"""

from __future__ import annotations

from typing import Any, Protocol

import gevent
from gevent.hub import Waiter

from ..protocol.events import Event

__all__ = ["READ", "GuestReader", "Handover", "ReadTurn"]

#: What a guest's waiter is switched with when the socket became readable.
READ: Any = object()

#: What the guest leaves to the receive loop: the events it did not handle,
#: and the error to raise after them (``None``: read on).
Handover = tuple[list[Event], BaseException | None]


class GuestReader(Protocol):
    """What reads in the receive loop's place (the session)."""

    def read_as_guest(self) -> None:
        """Read what the socket holds, in the calling greenlet (a guest's or
        the hub), then :meth:`ReadTurn.done`; never blocks, never raises."""


class ReadTurn:
    """The read watcher of one plain-TCP socket while the receive loop is parked."""

    __slots__ = ("_guest", "_host", "_hub", "_watcher", "reader")

    def __init__(self, watcher: Any, reader: GuestReader) -> None:
        self._watcher = watcher  # the gevent socket's own read watcher (an io watcher)
        self._hub = gevent.get_hub()
        self._host: Waiter[Any] | None = None  # the receive loop's, while it is parked
        self._guest: Waiter[Any] | None = None  # a recv() caller's, while it waits
        #: Reads in the guest's greenlet when its turn comes.
        self.reader = reader

    def wait(self) -> Handover | None:
        """The receive loop: park until a guest or the hub hands work over;
        :meth:`cancel` wakes it with ``None`` (it reads then, and fails)."""
        waiter: Waiter[Any] = Waiter(self._hub)
        self._host = waiter
        self._watcher.start(self)
        try:
            handed: Handover | None = waiter.get()
            return handed
        finally:
            self._host = None
            self._guest = None
            self._watcher.stop()

    def invite(self, waiter: Waiter[Any]) -> bool:
        """A greenlet about to wait in ``recv()``: it takes the next read if the
        receive loop is parked; whether it was invited (then :meth:`leave`)."""
        if self._host is None or not self._watcher.active:
            return False  # the loop is busy (or a guest is reading): the inbox will be fed
        self._guest = waiter
        return True

    def leave(self, waiter: Waiter[Any]) -> None:
        """The invited greenlet stopped waiting (a message, a timeout, a kill)."""
        if self._guest is waiter:
            self._guest = None

    def done(self, handed: Handover | None = None) -> None:
        """A read in the loop's place is over: watch the socket again, or hand the rest to
        the receive loop (it runs at the hub's next turn)."""
        host = self._host
        if host is None:
            return  # cancelled meanwhile
        if handed is None:
            self._watcher.start(self)
        elif gevent.getcurrent() is self._hub:
            # The hub read (the watcher's callback): wake the loop from here, as
            # gevent wakes any waiter. A callback would keep the handover alive
            # until the hub's next turn; with thousands of connections read in
            # one turn, the collector would promote them all to its oldest
            # generation and run a full collection per burst of messages.
            host.switch(handed)
        else:
            self._hub.loop.run_callback(host.switch, handed)

    def cancel(self) -> None:
        """The stream is being closed: stop watching and wake the receive loop
        (before the socket closes: gevent would throw into the watcher's owner)."""
        host = self._host
        if host is None:
            return  # the receive loop reads on its own (the watcher is gevent's now)
        self._watcher.stop()
        self._guest = None
        self._hub.loop.run_callback(host.switch, None)

    def __call__(self) -> None:
        # The watcher's callback (the turn itself: no bound method per wait).
        # The hub: the socket can be read. Stopped until the woken one has read.
        self._watcher.stop()
        guest, self._guest = self._guest, None
        if guest is not None:
            guest.switch(READ)
        elif self._host is not None:
            self.reader.read_as_guest()  # here, in the hub: it never blocks, never raises
