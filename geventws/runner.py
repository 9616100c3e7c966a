"""``run_all()``: wait for every connection, Workerman's ``Worker::runAll()``."""

from __future__ import annotations

import logging
import signal
from typing import Any

import gevent
import gevent.monkey

from .runtime.registry import registry_for

__all__ = ["close_all", "run_all", "stop_all"]

logger = logging.getLogger("geventws")


def run_all(*, handle_signals: bool = True) -> None:
    """Block until every connection is finished for good.

    With ``handle_signals`` (the default), SIGINT and SIGTERM close every
    connection with code 1001 (going away) and ``run_all`` returns once they
    are closed. The previous signal handlers are restored on return. Signals
    are only handled when ``run_all`` runs in the main thread.
    """
    watchers: list[Any] = []
    previous: dict[signal.Signals, Any] = {}

    def shutdown(signum: int) -> None:
        logger.info("signal %d: closing %d connection(s)", signum, len(registry_for().live()))
        stop_all()

    if handle_signals and _in_main_thread():
        for signum in (signal.SIGINT, signal.SIGTERM):
            previous[signum] = signal.getsignal(signum)
            watchers.append(gevent.signal_handler(signum, shutdown, signum))
    try:
        registry_for().wait_empty()
    finally:
        for watcher in watchers:
            watcher.cancel()
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _in_main_thread() -> bool:
    # Signal handlers can only be set there; the original threading module
    # tells even when the process was monkey-patched.
    current_thread = gevent.monkey.get_original("threading", "current_thread")
    main_thread = gevent.monkey.get_original("threading", "main_thread")
    return bool(current_thread() is main_thread())


def close_all(code: int = 1000, reason: str = "") -> None:
    """Close every live connection at once and wait for them.

    A connection whose ``on_close`` calls ``reconnect()`` reconnects; use
    :func:`stop_all` to prevent that.
    """
    conns = registry_for().live()
    gevent.joinall([gevent.spawn(conn.close, code, reason) for conn in conns])


def stop_all(code: int = 1001, reason: str = "") -> None:
    """Close every connection for good, like Workerman's ``Worker::stopAll()``.

    Unlike :func:`close_all`, ``reconnect()`` calls (e.g. the seed's
    ``reconnect(1)`` in ``on_close``) are ignored afterwards, so
    :func:`run_all` returns. Waits until the connections are closed.
    """
    conns = registry_for().live()
    gevent.joinall([gevent.spawn(conn.stop, code, reason) for conn in conns])
