"""The fast paths are correct (issue 10): what the receive buffer holds never changes what arrives.

Not timed: these check results, whatever the speed. A stream of mixed frames
(small and large data frames, fragments, pings) is delivered split at every
byte boundary across reads, and whole in one read; pings keep being answered
and sent while the connection is flooded.
"""

from __future__ import annotations

import socket
from collections.abc import Callable
from typing import Any

import gevent
import gevent.event

import geventws
from tests.rawserver import BINARY, CONT, PING, PONG, TEXT, Peer, RawServer, frame
from tests.support import UNIT, WAIT

RawServerFactory = Callable[[Callable[[Peer], Any]], RawServer]

#: (frames, the messages they carry, the ping payloads among them)
MIXED = (
    [
        frame(TEXT, "héllo".encode()),
        frame(BINARY, bytes(range(200))),  # 16-bit length
        frame(PING, b"p1"),
        frame(TEXT, b"fr", fin=False),
        frame(PING, b"p2"),  # between fragments
        frame(CONT, "agé".encode()),
        frame(BINARY, b""),
        frame(BINARY, b"\x00" * 70_000),  # 64-bit length
    ],
    ["héllo", bytes(range(200)), "fragé", b"", b"\x00" * 70_000],
    [b"p1", b"p2"],
)


def _pongs(peer: Peer, count: int) -> list[bytes]:
    """Read ``count`` client frames, all pongs; their payloads."""
    payloads = []
    for _ in range(count):
        _, opcode, payload = peer.read_frame()
        assert opcode == PONG
        payloads.append(payload)
    return payloads


def _nodelay(peer: Peer) -> None:
    peer.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def test_a_stream_split_at_every_byte_boundary(raw_server: RawServerFactory) -> None:
    frames, messages, pings = MIXED
    stream = b"".join(frames[:7])  # without the large frame: one split per byte of the rest
    small_messages = messages[:4]
    answered: list[bytes] = []
    done = gevent.event.Event()

    def handler(peer: Peer) -> None:
        peer.handshake()
        _nodelay(peer)
        for cut in range(1, len(stream)):
            peer.sock.sendall(stream[:cut])
            gevent.sleep(0)  # most often read apart; the outcome must not depend on it
            peer.sock.sendall(stream[cut:])
            answered.extend(_pongs(peer, len(pings)))
        done.set()
        peer.finish()

    server = raw_server(handler)
    with geventws.connect(server.url(), ping_interval=None, max_queue=10_000) as conn:
        for cut in range(1, len(stream)):
            got = [conn.recv(timeout=WAIT) for _ in small_messages]
            assert got == small_messages, f"split at byte {cut}"
        assert done.wait(WAIT)
    assert answered == pings * (len(stream) - 1)


def test_many_frames_in_one_read_large_and_small_mixed(raw_server: RawServerFactory) -> None:
    frames, messages, pings = MIXED
    rounds = 50
    answered: list[bytes] = []

    def handler(peer: Peer) -> None:
        peer.handshake()
        peer.sock.sendall(b"".join(frames) * rounds)  # hundreds of frames in a few reads
        answered.extend(_pongs(peer, len(pings) * rounds))
        peer.finish()

    server = raw_server(handler)
    with geventws.connect(server.url(), ping_interval=None, max_queue=10_000) as conn:
        got = [conn.recv(timeout=WAIT) for _ in range(len(messages) * rounds)]
    assert got == messages * rounds
    assert answered == pings * rounds


def test_pings_are_sent_and_answered_while_flooded(raw_server: RawServerFactory) -> None:
    # The server floods the client with messages and pings it; the client keeps
    # answering, and its own keepalive pings keep going out and being answered.
    interval = 0.05 * UNIT
    flood = 20_000
    client_pings: list[bytes] = []
    server_pongs: list[bytes] = []

    def reader(peer: Peer) -> None:
        while True:
            _, opcode, payload = peer.read_frame()
            if opcode == PING:
                client_pings.append(payload)
                peer.send_frame(PONG, payload)
            elif opcode == PONG:
                server_pongs.append(payload)
            else:
                return  # the client's close

    def handler(peer: Peer) -> None:
        peer.handshake()
        reading = gevent.spawn(reader, peer)
        for i in range(flood):
            peer.send_frame(BINARY, i.to_bytes(4, "big") * 8)
            if i % 500 == 0:
                peer.send_frame(PING, i.to_bytes(4, "big"))
            if i % 50 == 0:
                gevent.sleep(0.001 * UNIT)
        reading.join(WAIT * 5)

    server = raw_server(handler)
    conn = geventws.connect(server.url(), ping_interval=interval, ping_timeout=WAIT, max_queue=64)
    try:
        for i in range(flood):
            assert conn.recv(timeout=WAIT) == i.to_bytes(4, "big") * 8
        latency = conn.latency
    finally:
        conn.close()
    assert server_pongs == [i.to_bytes(4, "big") for i in range(0, flood, 500)]
    # The flood lasted at least flood / 50 ms-long pauses = 0.4 s: several intervals.
    assert len(client_pings) >= 3, client_pings
    assert latency is not None
