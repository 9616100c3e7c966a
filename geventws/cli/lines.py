"""Lines of input read without blocking the hub.

A terminal, a pipe and a file all work the same: each ``os.read`` runs in
gevent's thread pool, so the hub keeps receiving (and printing) messages while
the user thinks. Nothing is monkey-patched and the descriptor's blocking mode
is left alone (it is shared with the shell).
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import gevent

__all__ = ["read_lines"]

_CHUNK = 65536


def read_lines(fd: int) -> Iterator[bytes]:
    """Each line of ``fd`` without its ``\\n`` (or ``\\r\\n``), until end of input.

    A read error (a terminal that went away) ends the input like end of file.
    """
    buffer = b""
    while True:
        try:
            chunk = gevent.get_hub().threadpool.apply(os.read, (fd, _CHUNK))
        except OSError:
            chunk = b""
        if not chunk:
            if buffer:
                yield _strip(buffer)
            return
        buffer += chunk
        *complete, buffer = buffer.split(b"\n")
        for line in complete:
            yield _strip(line)


def _strip(line: bytes) -> bytes:
    return line[:-1] if line.endswith(b"\r") else line
