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
from tests.support import WAIT

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
