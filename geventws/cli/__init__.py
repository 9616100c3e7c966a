"""The ``geventws`` command line (also ``python -m geventws``).

- ``geventws URL``: an interactive or scripted client (:mod:`.client`).
- ``geventws bench URL -c N -d SECONDS``: many connections echoing (:mod:`.bench`).
- ``geventws echo-server``: a local echo server on the ``websockets`` package
  (:mod:`.echo_server`, needs ``pip install geventws[cli]``).

Exit codes are in :class:`.exitcodes.ExitCode`.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line with ``argv`` (default: ``sys.argv[1:]``); return the exit status."""
    args = list(sys.argv[1:] if argv is None else argv)
    for stream in (sys.stdout, sys.stderr):
        # A terminal that cannot show a character gets its escape, not a crash.
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            reconfigure(errors="backslashreplace")
    try:
        return _dispatch(args)
    except KeyboardInterrupt:  # Ctrl-C before a command set its own handling
        return 130


def _dispatch(args: list[str]) -> int:
    command = args[0] if args else ""
    if command == "bench":
        from . import bench

        return bench.main(args[1:])
    if command == "echo-server":
        from . import echo_server

        return echo_server.main(args[1:])
    from . import client

    return client.main(args)
