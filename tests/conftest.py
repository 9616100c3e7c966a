"""Fixtures: an independent server in a subprocess, scripted raw servers, guards.

Shared helpers (the time unit, the recorder, greenlet checks) are in tests/support.py."""

from __future__ import annotations

import logging
import ssl
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import gevent
import pytest
import trustme

from tests.rawserver import Peer, RawServer
from tests.support import assert_no_geventws_greenlets

ROOT = Path(__file__).resolve().parent.parent


class ServerProcess:
    """The ``websockets`` server of tests/servers/ws_server.py in a subprocess
    (or any server command that prints ``PORT <n>`` and exits when stdin closes)."""

    def __init__(self, *args: str, command: list[str] | None = None) -> None:
        self.proc = subprocess.Popen(
            command or [sys.executable, "-m", "tests.servers.ws_server", *args],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line.startswith("PORT "):
            self.proc.kill()
            raise RuntimeError(f"test server did not start: {line!r}")
        self.port = int(line.split()[1])
        self.secure = "--cert" in args

    def url(self, path: str = "/") -> str:
        scheme = "wss" if self.secure else "ws"
        host = "localhost" if self.secure else "127.0.0.1"
        return f"{scheme}://{host}:{self.port}{path}"

    def stop(self) -> None:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.close()
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc.stdout.close()


@pytest.fixture(scope="session")
def ws_server() -> Iterator[ServerProcess]:
    server = ServerProcess()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="session")
def wss_server(ca: trustme.CA, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    cert = ca.issue_cert("localhost", "127.0.0.1")
    folder = tmp_path_factory.mktemp("tls")
    cert_file, key_file = folder / "cert.pem", folder / "key.pem"
    cert.private_key_and_cert_chain_pem.write_to_path(str(cert_file))
    cert.private_key_pem.write_to_path(str(key_file))
    server = ServerProcess("--cert", str(cert_file), "--key", str(key_file))
    yield server
    server.stop()


@pytest.fixture
def client_ssl_context(ca: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context()
    ca.configure_trust(context)
    return context


@pytest.fixture
def raw_server() -> Iterator[Callable[[Callable[[Peer], Any]], RawServer]]:
    """``raw_server(handler)`` starts a scripted server; errors in it fail the test."""
    servers: list[RawServer] = []

    def start(handler: Callable[[Peer], Any], port: int = 0) -> RawServer:
        server = RawServer(handler, port)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()
    errors = [e for server in servers for e in server.errors]
    assert not errors, "scripted server failed:\n" + "\n".join(errors)


@pytest.fixture(autouse=True)
def no_greenlet_errors() -> Iterator[list[str]]:
    """Fail the test if any greenlet dies with an error the hub would print."""
    hub = gevent.get_hub()
    errors: list[str] = []
    original = hub.print_exception

    def record(context: Any, exc_type: Any, value: Any, tb: Any) -> None:
        errors.append(f"{context}: {exc_type.__name__}: {value}")
        original(context, exc_type, value, tb)

    hub.print_exception = record  # type: ignore[method-assign]
    yield errors
    hub.print_exception = original  # type: ignore[method-assign]
    assert not errors, f"greenlet errors: {errors}"


@pytest.fixture(autouse=True)
def no_leaked_greenlets() -> Iterator[None]:
    """Fail the test if a connection greenlet (named ``geventws-…``) outlives it.

    The greenlets get a bounded chance to finish first (a join of up to 3 s,
    only reached on failure).
    """
    yield
    assert_no_geventws_greenlets()


@pytest.fixture(autouse=True)
def geventws_debug_logs(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="geventws")
