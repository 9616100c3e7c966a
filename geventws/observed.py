"""What a connection tells about itself (``conn.id``, ``conn.stats``,
``conn.connect_timings``) and :func:`stats_snapshot` across the live connections."""

from __future__ import annotations

from typing import Any

from .protocol.options import Options
from .protocol.stats import ConnectTimings, Stats, StatsSnapshot
from .runtime.log import ConnectionLog
from .runtime.observer import Observer, new_connection_id
from .runtime.registry import registry_for

__all__ = ["Observed", "stats_snapshot"]


class Observed:
    """The observability properties of :class:`~geventws.Connection`."""

    _observer: Observer
    _log: ConnectionLog
    _latency: float | None

    def _start_observing(self, options: Options) -> None:
        """Give the connection its id (in every log line too) and its observer."""
        conn_id = self._log.conn_id = new_connection_id()
        self._observer = Observer(options, conn_id, self._log)

    @property
    def id(self) -> str:
        """A short random id (8 hex digits), in every log line and trace record
        of this connection (log records also carry it as ``geventws_id``)."""
        return self._observer.id

    @property
    def stats(self) -> Stats:
        """The connection's counters now, a frozen :class:`~geventws.Stats`
        (messages and bytes in/out, attempts, reconnects, time connected,
        last ping latency, errors by code)."""
        return self._observer.stats(self._latency)

    @property
    def connect_timings(self) -> ConnectTimings | None:
        """How long each phase (DNS, TCP, proxy, TLS, upgrade) of the last
        attempt took, a :class:`~geventws.ConnectTimings`; ``None`` before any."""
        return self._observer.timings()


def stats_snapshot(hub: Any = None) -> StatsSnapshot:
    """The live connections of ``hub`` (default: the calling thread's): how
    many, how many in each state, and their counters summed.

    Live: started and not finished for good (connecting, open, closing, or
    waiting to reconnect); a finished connection leaves the sums.
    """
    return StatsSnapshot.of((conn.state.value, conn.stats) for conn in registry_for(hub).live())
