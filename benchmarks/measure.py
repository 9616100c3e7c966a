"""Measuring helpers shared by the workers and the server: cores, limits, memory, CPU."""

from __future__ import annotations

import gc
import os
import resource
import time

#: The core the echo server runs on; the clients run on CLIENT_CORE.
SERVER_CORE = 1
CLIENT_CORE = 0


def pin(core: int) -> bool:
    """Pin this process to ``core`` if the machine has it; whether it did."""
    try:
        if core not in os.sched_getaffinity(0) and len(os.sched_getaffinity(0)) < 2:
            return False
        os.sched_setaffinity(0, {core})
    except (AttributeError, OSError):
        return False
    return True


def raise_fd_limit() -> int:
    """Raise the soft descriptor limit to the hard one; the new soft limit."""
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


def cpu_seconds() -> float:
    """User + system CPU time of this process so far."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def rss_bytes() -> int:
    """Resident memory now (from /proc, so it can go down as well as up)."""
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def settled_rss() -> int:
    """Resident memory after a full garbage collection."""
    for _ in range(3):
        gc.collect()
    return rss_bytes()


def system_seconds() -> float:
    """The system (kernel) part of this process's CPU time so far."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_stime


class Span:
    """Wall and CPU time (and its kernel part) from creation to :meth:`stop`."""

    def __init__(self) -> None:
        self.wall0 = time.perf_counter()
        self.cpu0 = cpu_seconds()
        self.sys0 = system_seconds()
        self.wall = self.cpu = self.sys = 0.0

    def stop(self) -> Span:
        self.wall = time.perf_counter() - self.wall0
        self.cpu = cpu_seconds() - self.cpu0
        self.sys = system_seconds() - self.sys0
        return self
