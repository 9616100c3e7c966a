"""Shared timers: the long timers of many connections wake the hub once per slot.

Each keepalive arms a timer per ping (the next ping, then the pong's
deadline). Thousands of connections, each with a libev timer of its own,
make the hub wake up once per timer: measured here, a wake-up costs about
7 µs of CPU before any work is done, a good share of an idle connection's
cost. A :class:`TimerWheel` rounds the due time of a long timer up to a slot
of a coarse grid (:data:`GRID` seconds, at most :data:`LATE_SHARE` of the
delay) and gives each slot one libev timer: the timers due in a slot run in
one pass of the hub, their pings are written together and their pongs come
back together. Jitter still spreads the timers over the slots, so they never
fire in lockstep. Short timers (tests use 0.05 s pings) keep a slot of their
own: nothing is late by more than a 64th of its delay.

A timer's callback runs in the hub; what it raises is logged, never printed.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from typing import Any

from .perhub import PerHub

__all__ = ["GRID", "LATE_SHARE", "TimerWheel", "WheelTimer", "wheel_for"]

logger = logging.getLogger("geventws")

#: The width of a shared slot, in seconds.
GRID = 0.05
#: The largest share of its delay a timer may fire late: only delays of at
#: least ``GRID / LATE_SHARE`` (3.2 s) share slots.
LATE_SHARE = 1 / 64


class WheelTimer:
    """One armed timer: :meth:`cancel` it, or it calls its callback once."""

    __slots__ = ("_owner", "callback")

    def __init__(self, owner: Any, callback: Callable[[], None]) -> None:
        self._owner = owner  # its shared _Slot, or the libev timer of a short one
        #: What runs when the timer is due; ``None`` once it ran or was cancelled.
        self.callback: Callable[[], None] | None = callback

    def cancel(self) -> None:
        """The callback will not run (a no-op once it ran)."""
        if self.callback is not None:
            self.callback = None
            owner = self._owner
            if type(owner) is _Slot:
                owner.cancelled()
            else:
                owner.stop()
                owner.close()

    def _fire_alone(self) -> None:
        self._owner.close()
        _run(self)


def _run(timer: WheelTimer) -> None:
    callback = timer.callback
    if callback is not None:
        timer.callback = None
        try:
            callback()
        except Exception:
            logger.exception("timer callback failed")


class _Slot:
    """The timers due at one point of the grid and their libev timer."""

    __slots__ = ("_key", "_live", "_timer", "_timers", "_wheel")

    def __init__(self, wheel: TimerWheel, key: int, after: float) -> None:
        self._wheel = wheel
        self._key = key
        self._timers: list[WheelTimer] = []
        self._live = 0
        self._timer = wheel.loop.timer(after)
        self._timer.start(self._fire)

    def add(self, timer: WheelTimer) -> WheelTimer:
        self._timers.append(timer)
        self._live += 1
        return timer

    def cancelled(self) -> None:
        self._live -= 1
        if self._live == 0:  # nothing left to run: no wake-up for it
            self._close()

    def _close(self) -> None:
        self._timer.stop()
        self._timer.close()
        self._wheel.slots.pop(self._key, None)

    def _fire(self) -> None:
        self._close()
        for timer in self._timers:
            if timer._owner is self:  # else cancelled here and armed again elsewhere
                _run(timer)


class TimerWheel:
    """The shared timers of one hub (see the module's docstring)."""

    __slots__ = ("__weakref__", "_grid", "_late_share", "loop", "slots")

    def __init__(self, loop: Any, grid: float = GRID, late_share: float = LATE_SHARE) -> None:
        #: The hub's event loop.
        self.loop = loop
        self._grid = grid
        self._late_share = late_share
        #: The shared slots armed now, by their index on the grid.
        self.slots: dict[int, _Slot] = {}

    def call_later(
        self, delay: float, callback: Callable[[], None], timer: WheelTimer | None = None
    ) -> WheelTimer:
        """Call ``callback`` in the hub after ``delay`` seconds (up to
        ``delay * LATE_SHARE`` later); the returned timer cancels it.

        ``timer``: one of this wheel's timers to arm again (cancelled first if
        armed) instead of a new one: a keepalive re-arms its own every ping,
        and an object that lives a whole gap would otherwise reach the garbage
        collector's oldest generation each time.
        """
        if timer is None:
            timer = WheelTimer(None, callback)
        else:
            timer.cancel()
            timer.callback = callback
        grid = self._grid
        if delay * self._late_share < grid:  # short: a libev timer of its own
            libev_timer = timer._owner = self.loop.timer(delay)
            libev_timer.start(timer._fire_alone)
            return timer
        now = self.loop.now()  # the loop's time, which libev timers count from
        index = math.ceil((now + delay) / grid)
        slot = self.slots.get(index)
        if slot is None:
            slot = self.slots[index] = _Slot(self, index, index * grid - now)
        timer._owner = slot
        return slot.add(timer)


#: ``wheel_for(hub=None)``: the timer wheel of ``hub`` (default: the calling thread's hub).
wheel_for: PerHub[TimerWheel] = PerHub(lambda hub: TimerWheel(hub.loop))
