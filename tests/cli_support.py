"""Running the command line as a user does: ``python -m geventws …`` in a subprocess.

gevent's subprocess module keeps the hub running while the tests wait, so the
scripted raw servers of the same process keep serving.
"""

from __future__ import annotations

import os
import re
import socket
import sys
from typing import Any

import gevent.subprocess

from tests.conftest import ROOT
from tests.support import UNIT

#: Bound for a whole CLI run in a test (only reached on failure).
RUN_TIMEOUT = 30 * UNIT

#: A received message line: ``< HH:MM:SS.mmm <description>``.
RECEIVED = re.compile(r"^< \d\d:\d\d:\d\d\.\d{3} (.*)$")


def command(*args: str) -> list[str]:
    """The command line of ``geventws args…``."""
    return [sys.executable, "-m", "geventws", *args]


def run_cli(
    *args: str,
    stdin: str | None = None,
    env: dict[str, str] | None = None,
    timeout: float = RUN_TIMEOUT,
    text: bool = True,
) -> Any:
    """Run ``geventws args…`` to its end; stdin is empty unless given; ``env`` adds variables.

    ``text=False``: stdout and stderr as the bytes written (a text run turns a lone CR into a newline).
    """
    return gevent.subprocess.run(
        command(*args),
        cwd=ROOT,
        input=(stdin if stdin is not None else "") if text else (stdin or "").encode(),
        capture_output=True,
        text=text,
        timeout=timeout,
        env={**os.environ, **env} if env else None,
    )


def start_cli(*args: str, **kwargs: Any) -> Any:
    """Start ``geventws args…`` with pipes for stdin, stdout and stderr."""
    options: dict[str, Any] = {
        "stdin": gevent.subprocess.PIPE,
        "stdout": gevent.subprocess.PIPE,
        "stderr": gevent.subprocess.PIPE,
        "text": True,
        "cwd": ROOT,
    }
    options.update(kwargs)
    return gevent.subprocess.Popen(command(*args), **options)


def received(stdout: str) -> list[str]:
    """The descriptions of the received-message lines, in order."""
    return [m.group(1) for line in stdout.splitlines() if (m := RECEIVED.match(line))]


def refused_port() -> int:
    """A loopback port nobody listens on (bound, then closed)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port
