"""Every message ``send()`` accepted is written whole or reported, however the connection ends.

A server that accepts the upgrade and then stops reading, small socket buffers
on both sides: a burst of small sends is accepted at once (coalesced), the
hub's end-of-burst write takes only part of it, and the rest waits for the
socket. Then the connection ends — ``close()``, ``reconnect()``, a reset by
the server, a ping timeout — over plain TCP and over TLS. Afterwards the
server reads whatever the kernel still holds: each accepted message either
reached it whole or is counted in an ``on_error(SEND_FAIL, "N message(s) …")``.
"""

from __future__ import annotations

import socket
import ssl
import struct
from collections.abc import Iterator
from typing import Any

import gevent
import gevent.event
import gevent.server
import gevent.socket
import gevent.ssl
import pytest
import trustme

import geventws
from geventws import ErrorCode
from tests.integration.test_defects import _frames_in, _reported
from tests.rawserver import BINARY, TEXT, Peer
from tests.support import UNIT, WAIT, Recorder

#: Small socket buffers: a burst of 250 × 200 B (about 52 KB) cannot fit in them.
BUFFER = 4096
BURST = 250
PAYLOAD = 200


class StallingServer:
    """Accepts one upgrade, then reads nothing until :attr:`release` is set;
    then reads until the client's end of the stream and counts the whole data
    frames. With ``reset``, it resets the connection once :attr:`sent` is set."""

    def __init__(self, context: ssl.SSLContext | None, reset: bool) -> None:
        self.reset = reset
        self.opened = gevent.event.Event()
        self.sent = gevent.event.Event()
        self.release = gevent.event.Event()
        self.done = gevent.event.Event()
        self.received = 0
        self.buffers = 0  # the most bytes the server's kernel may hold for it
        listener = gevent.socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, BUFFER)  # inherited by the accepted socket
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        self.buffers = listener.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)
        kwargs: dict[str, Any] = {} if context is None else {"ssl_context": context}
        self.server = gevent.server.StreamServer(listener, self._handle, **kwargs)
        self.server.start()
        self.url = f"{'wss' if context else 'ws'}://127.0.0.1:{listener.getsockname()[1]}/"

    def _handle(self, sock: Any, _address: Any) -> None:
        try:
            peer = Peer(sock)
            peer.handshake()
            self.opened.set()
            if self.reset:
                self.sent.wait(WAIT)
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                return
            self.release.wait(WAIT)
            data = bytearray(peer.buffer)
            sock.settimeout(WAIT)
            try:
                while chunk := sock.recv(2**16):
                    data += chunk
            except (OSError, ssl.SSLError):
                pass  # a reset, or a TLS record cut short: what came before counts
            self.received = sum(1 for opcode, _, _ in _frames_in(data) if opcode in (TEXT, BINARY))
        finally:
            sock.close()
            self.done.set()

    def stop(self) -> None:
        self.server.stop(timeout=1)


@pytest.fixture
def server_context(ca: trustme.CA, request: pytest.FixtureRequest) -> ssl.SSLContext | None:
    if request.param == "tcp":
        return None
    context = gevent.ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)  # a cooperative server side
    ca.issue_cert("127.0.0.1").configure_cert(context)
    return context


@pytest.fixture
def stalling(
    server_context: ssl.SSLContext | None, request: pytest.FixtureRequest
) -> Iterator[StallingServer]:
    server = StallingServer(server_context, reset=request.node.callspec.params["ending"] == "reset")
    yield server
    server.release.set()
    server.stop()


def _client_buffers() -> int:
    probe = socket.socket()
    try:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, BUFFER)
        return probe.getsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF)
    finally:
        probe.close()


@pytest.mark.parametrize("server_context", ["tcp", "tls"], indirect=True)
@pytest.mark.parametrize("ending", ["close", "reconnect", "reset", "ping_timeout"])
def test_every_accepted_message_is_written_or_reported(
    stalling: StallingServer, server_context: ssl.SSLContext | None, ca: trustme.CA, ending: str
) -> None:
    recorder = Recorder()
    options: dict[str, Any] = {
        "socket_options": [(socket.SOL_SOCKET, socket.SO_SNDBUF, BUFFER)],
        "close_timeout": 0.3 * UNIT,
        "ping_interval": None,
    }
    if ending == "ping_timeout":
        options.update(ping_interval=0.05 * UNIT, ping_timeout=0.2 * UNIT)
    if server_context is not None:
        client_context = ssl.create_default_context()
        ca.configure_trust(client_context)
        options["ssl_context"] = client_context
    conn = geventws.Connection(stalling.url, **options, **recorder.callbacks())
    conn.connect()
    try:
        assert recorder.wait_for(lambda: recorder.count("open") == 1)
        accepted = 0
        for i in range(BURST):
            conn.send(i.to_bytes(4, "big") * (PAYLOAD // 4))
            accepted += 1
        gevent.sleep(0)  # the hub's turn: the burst's write takes what the socket buffers hold
        stalling.sent.set()
        if ending == "close":
            conn.close()
        elif ending == "reconnect":
            conn.reconnect(5 * UNIT)
        assert recorder.wait_for(lambda: recorder.count("close") == 1, 5 * UNIT)
        conn.close()  # after reconnect(): cancels the pending one
        stalling.release.set()
        assert stalling.done.wait(WAIT)
        reported = _reported(recorder)
        if ending == "reset":
            # What the kernels held when the server reset is lost in flight (the
            # README allows it); everything beyond that must be reported.
            in_kernels = (_client_buffers() + stalling.buffers) // PAYLOAD
            assert accepted - in_kernels <= reported <= accepted, (reported, recorder.of("error"))
        else:
            assert stalling.received + reported == accepted, (stalling.received, recorder.of("error"))
        send_fails = [msg for _, code, msg in recorder.of("error") if code == ErrorCode.SEND_FAIL]
        assert len(send_fails) <= 1, send_fails  # reported once, not piecemeal
    finally:
        conn.close()
