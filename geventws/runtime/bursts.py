"""The end of every transport's write burst, one hub callback per pass.

After a small frame goes out at once, the frames its greenlet sends before
yielding are coalesced, and the hub writes them at its next turn
(:meth:`Transport._end_burst`). A hub callback per transport would hold a
callback and a bound method for each until that turn: a broadcast to
thousands of connections would make thousands of them in one pass, and the
garbage collector, finding them alive, would promote them all to its oldest
generation and soon scan every object in the process. :class:`BurstEnds`
keeps one list per hub instead and ends every burst of the pass from one
callback, in the order the bursts began.
"""

from __future__ import annotations

import logging
from typing import Any, Protocol

from .perhub import PerHub

__all__ = ["BurstEnds", "bursts_for"]

logger = logging.getLogger("geventws")


class Bursting(Protocol):
    """What ends a burst (the transport)."""

    def _end_burst(self) -> None: ...


class BurstEnds:
    """The transports whose write burst ends at the hub's next turn."""

    __slots__ = ("_due", "_loop")

    def __init__(self, loop: Any) -> None:
        self._loop = loop
        self._due: list[Bursting] = []

    def add(self, transport: Bursting) -> None:
        """End ``transport``'s burst at the hub's next turn."""
        due = self._due
        if not due:
            self._loop.run_callback(self._run)
        due.append(transport)

    def _run(self) -> None:
        due, self._due = self._due, []
        for transport in due:
            try:
                transport._end_burst()
            except Exception:  # it never raises; if it did, the other bursts still end
                logger.exception("ending a write burst failed")


#: ``bursts_for(hub=None)``: the burst ends of ``hub`` (default: the calling thread's hub).
bursts_for: PerHub[BurstEnds] = PerHub(lambda hub: BurstEnds(hub.loop))
