"""Issue 9.1 through the public API: a send cut by a timeout or a kill is still
written whole, and the connection stays usable."""

from __future__ import annotations

import struct
from typing import Any

import gevent
import gevent.event
import pytest

import geventws
from tests.rawserver import TEXT, Peer, frame
from tests.support import WAIT, Recorder

SIZE = 32 * 2**20  # more than loopback socket buffers hold: the send waits for the server


def read_frame(peer: Peer) -> tuple[int, bytes]:
    """One client frame, read in large pieces (Peer.read_frame is slow for 32 MiB)."""
    buffer = bytearray(peer.buffer)

    def take(n: int) -> bytes:
        while len(buffer) < n:
            chunk = peer.sock.recv(2**20)
            if not chunk:
                raise EOFError("client closed")
            buffer.extend(chunk)
        data = bytes(buffer[:n])
        del buffer[:n]
        return data

    first, second = take(2)
    length = second & 0x7F
    if length == 126:
        (length,) = struct.unpack("!H", take(2))
    elif length == 127:
        (length,) = struct.unpack("!Q", take(8))
    key = take(4)
    data = take(length)
    peer.buffer = bytes(buffer)
    repeated = int.from_bytes((key * (length // 4 + 1))[:length], "big")
    return first & 0x0F, (int.from_bytes(data, "big") ^ repeated).to_bytes(length, "big")


@pytest.mark.parametrize("interruption", ["timeout", "kill"])
def test_interrupted_send_is_written_whole(raw_server: Any, interruption: str) -> None:
    payload = bytes(range(256)) * (SIZE // 256)
    interrupted = gevent.event.Event()
    seen: list[tuple[int, int]] = []

    def handler(peer: Peer) -> None:
        peer.handshake()
        interrupted.wait(WAIT)  # read nothing until the client's send was cut
        peer.sock.settimeout(WAIT)
        opcode, data = read_frame(peer)
        seen.append((opcode, len(data)))
        assert data == payload, "the interrupted frame was not written whole"
        opcode, data = read_frame(peer)
        seen.append((opcode, len(data)))
        peer.sock.sendall(frame(TEXT, b"echo " + data))
        peer.finish()

    server = raw_server(handler)
    ws = geventws.connect(server.url(), ping_interval=None)

    def send_big() -> None:
        try:
            with gevent.Timeout(0.05):
                ws.send(payload)
        except gevent.Timeout:
            pass

    sender = gevent.spawn(send_big)
    if interruption == "kill":
        gevent.sleep(0.05)
        sender.kill(timeout=WAIT)
    sender.join(WAIT)
    assert sender.dead
    interrupted.set()
    ws.send("hello")
    assert ws.recv(timeout=WAIT) == "echo hello"
    ws.close()
    assert ws.close_code == 1000
    assert seen == [(0x2, SIZE), (0x1, 5)]


def test_connection_lost_while_the_rest_is_written(raw_server: Any) -> None:
    """The rest of an interrupted frame cannot be written (the server drops):
    the transport is aborted and CONNECTION_LOST is reported once."""
    interrupted = gevent.event.Event()

    def handler(peer: Peer) -> None:
        peer.handshake()
        interrupted.wait(WAIT)
        peer.sock.recv(65536)  # a little of the frame, then drop with unread data: a reset

    server = raw_server(handler)
    rec = Recorder()
    conn = geventws.Connection(server.url(), ping_interval=None, **rec.callbacks())
    conn.connect()
    assert rec.wait_for(lambda: rec.count("open") == 1)

    def send_big() -> None:
        try:
            with gevent.Timeout(0.05):
                conn.send(bytes(SIZE))
        except gevent.Timeout:
            interrupted.set()

    gevent.spawn(send_big).join(WAIT)
    assert interrupted.is_set()
    assert rec.wait_for(lambda: rec.count("close") == 1)
    assert rec.codes() == [geventws.ErrorCode.CONNECTION_LOST]
    assert conn.close_code == 1006
    with pytest.raises(geventws.ConnectionClosed):
        conn.send("after")
    conn.close()
