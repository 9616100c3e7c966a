"""Coalesced writes: a burst of small sends reaches the socket in a few system
calls, in order, and what the stream never took is counted, never lost in silence."""

from __future__ import annotations

import gc
import select
import socket
import ssl
import struct
from collections.abc import Iterator
from typing import Any

import gevent
import gevent.event
import gevent.socket
import pytest

import geventws
from geventws import ErrorCode
from geventws.protocol.extensions import DeflateParams, PerMessageDeflate
from geventws.protocol.writer import CHUNK_SIZE, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG, OP_TEXT
from geventws.runtime.transport import Transport, WriteProgress
from geventws.runtime.writebuffer import MAX_COALESCED, WriteBuffer
from tests.integration.test_write_path import FrameReader, pattern
from tests.loopback import CountingSocket, counted_transport
from tests.rawserver import Peer
from tests.support import WAIT


@pytest.fixture
def pair() -> Iterator[tuple[Transport, gevent.socket.socket, CountingSocket]]:
    yield from counted_transport()


def in_kernel(server: gevent.socket.socket) -> int:
    """Bytes the server's kernel holds for it now, without letting the hub run."""
    try:
        return len(server._sock.recv(2**20, socket.MSG_PEEK | socket.MSG_DONTWAIT))
    except BlockingIOError:
        return 0


def test_a_burst_takes_a_few_system_calls_and_keeps_its_order(
    pair: tuple[Transport, gevent.socket.socket, CountingSocket],
) -> None:
    transport, server, counting = pair
    frames = [(OP_TEXT if i % 3 else OP_BINARY, pattern(1 + i % 200, i)) for i in range(5000)]
    for opcode, payload in frames:
        transport.send_frame(opcode, payload)
    # About one per 64 KiB (536 KB here), and a few more where the socket buffer was full.
    assert counting.sends <= len(frames) // 100, counting.sends
    reader = FrameReader(server)
    assert [reader.read_frame() for _ in frames] == [(True, op, payload) for op, payload in frames]


def test_the_first_frame_of_a_pass_is_in_the_kernel_when_send_returns(
    pair: tuple[Transport, gevent.socket.socket, CountingSocket],
) -> None:
    transport, server, counting = pair
    progress = WriteProgress()
    transport.send_frame(OP_TEXT, b"first", progress=progress)
    assert progress.done and counting.sends == 1
    assert in_kernel(server) == 7 + 4  # header, key, payload: before any yield
    transport.send_frame(OP_TEXT, b"second")  # the same pass: coalesced
    assert counting.sends == 1 and in_kernel(server) == 11
    gevent.sleep(0)  # the hub's turn: the burst is written
    assert counting.sends == 2 and in_kernel(server) == 11 + 12
    transport.send_frame(OP_TEXT, b"third")  # a new pass: at once again
    assert counting.sends == 3 and in_kernel(server) == 11 + 12 + 11
    reader = FrameReader(server)
    assert [reader.read_frame()[2] for _ in range(3)] == [b"first", b"second", b"third"]


def test_frames_of_every_path_stay_in_wire_order(
    pair: tuple[Transport, gevent.socket.socket, CountingSocket],
) -> None:
    """Coalesced frames, a large frame, a keepalive ping from the hub's path and
    a control frame, in one pass: the order the sender chose."""
    transport, server, _ = pair
    big = pattern(CHUNK_SIZE * 3 + 7)
    sent: list[tuple[int, bytes]] = []

    def send(opcode: int, payload: bytes) -> None:
        transport.send_frame(opcode, payload)
        sent.append((opcode, payload))

    received: list[tuple[bool, int, bytes]] = []

    def read_all() -> None:
        reader = FrameReader(server)
        while len(received) < 9:
            received.append(reader.read_frame())

    reading = gevent.spawn(read_all)
    send(OP_TEXT, b"a")
    send(OP_TEXT, b"b")
    send(OP_BINARY, big)  # the careful path writes the coalesced ones first
    send(OP_TEXT, b"c")
    send(OP_TEXT, b"d")
    assert transport.try_send_now(OP_PING, b"ka")  # joins the burst, behind "d"
    sent.append((OP_PING, b"ka"))
    send(OP_TEXT, b"e")
    send(OP_BINARY, pattern(MAX_COALESCED))  # does not fit: the sender writes the burst, then it
    send(OP_CLOSE, b"\x03\xe8")
    reading.join(WAIT)
    assert received == [(True, op, payload) for op, payload in sent]


def test_a_burst_larger_than_the_buffer_makes_the_sender_write(
    pair: tuple[Transport, gevent.socket.socket, CountingSocket],
) -> None:
    """Back-pressure: a sender that never yields still writes every 64 KiB,
    and waits for a slow reader instead of buffering without bound."""
    transport, server, _ = pair
    payload = pattern(1000)
    count = 20 * 2**20 // len(payload)  # far more than the socket buffers hold
    received: list[bytes] = []

    def read_slowly() -> None:
        reader = FrameReader(server)
        for i in range(count):
            received.append(reader.read_frame()[2])
            if i % 100 == 0:
                gevent.sleep(0.001)

    reading = gevent.spawn(read_slowly)
    largest = 0
    for _ in range(count):
        transport.send_frame(OP_BINARY, payload)
        buffer = transport._coalesced
        largest = max(largest, len(buffer.data) if buffer is not None else 0)
    reading.join(WAIT * 6)
    assert len(received) == count and set(received) == {payload}
    assert 0 < largest <= MAX_COALESCED


def test_other_greenlets_frames_are_never_split(
    pair: tuple[Transport, gevent.socket.socket, CountingSocket],
) -> None:
    transport, server, _ = pair
    per_sender = 300

    def sender(tag: int) -> None:
        for i in range(per_sender):
            transport.send_frame(OP_BINARY, bytes([tag]) * (1 + (i * 37) % 3000))
            if i % 7 == 0:
                gevent.sleep(0)

    senders = [gevent.spawn(sender, tag) for tag in range(4)]
    reader = FrameReader(server)
    seen = {tag: 0 for tag in range(4)}
    for _ in range(4 * per_sender):
        fin, opcode, payload = reader.read_frame()
        tag = payload[0]
        assert fin and opcode == OP_BINARY and payload == bytes([tag]) * (1 + (seen[tag] * 37) % 3000)
        seen[tag] += 1
    gevent.joinall(senders, timeout=WAIT, raise_error=True)


def test_an_abort_counts_the_coalesced_messages_never_written(
    pair: tuple[Transport, gevent.socket.socket, CountingSocket],
) -> None:
    transport, server, _ = pair
    transport.send_frame(OP_TEXT, b"written")
    for _ in range(5):
        transport.send_frame(OP_TEXT, b"waiting")
    transport.send_frame(OP_PING, b"")  # a control frame is not a message
    transport.abort()
    assert transport.unwritten == 5
    gevent.sleep(0)  # the burst's turn finds the stream closed: nothing more
    assert transport.unwritten == 5
    reader = FrameReader(server)
    assert reader.read_frame() == (True, OP_TEXT, b"written")
    with pytest.raises(EOFError):
        reader.read_frame()


def reset_by_server(server: gevent.socket.socket, client: Transport) -> None:
    """The server resets the connection; return once the client's kernel knows,
    without letting the hub run (a burst waiting for its turn stays waiting)."""
    server.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    server.close()
    poller = select.poll()
    poller.register(client.sock.fileno(), select.POLLERR | select.POLLHUP)
    assert poller.poll(WAIT * 1000), "the reset never arrived"


def test_a_burst_the_stream_refuses_is_counted_and_aborts_it(
    pair: tuple[Transport, gevent.socket.socket, CountingSocket],
) -> None:
    transport, server, _ = pair
    transport.send_frame(OP_TEXT, b"written")
    for _ in range(3):
        transport.send_frame(OP_TEXT, b"waiting")
    reset_by_server(server, transport)
    gevent.sleep(0)  # the burst's turn: its write fails
    assert transport.closed and transport.unwritten == 3


def test_the_write_buffer_counts_messages_by_their_ends() -> None:
    buffer = WriteBuffer()
    assert buffer.add(b"12345", message=True)
    assert buffer.add(b"ab", message=False)
    assert buffer.add(b"6789", message=True)
    assert buffer.unwritten(0) == 2
    assert buffer.unwritten(5) == 1 and buffer.unwritten(10) == 1 and buffer.unwritten(11) == 0
    assert not buffer.add(b"x" * MAX_COALESCED, message=True)
    assert buffer.unwritten(0) == 2 and len(buffer.data) == 11


def test_a_burst_left_to_a_helper_then_lost_counts_the_rest(
    pair: tuple[Transport, gevent.socket.socket, CountingSocket],
) -> None:
    """The socket is full when the burst's turn comes: a helper greenlet waits
    to write it, and the stream dies first: every message of it is counted."""
    transport, server, counting = pair
    transport.send_frame(OP_TEXT, b"at once")
    for _ in range(60):
        transport.send_frame(OP_BINARY, pattern(1000))
    while True:  # fill the socket buffers behind the transport's back: nobody reads
        try:
            counting.raw.send(pattern(65536), socket.MSG_DONTWAIT)
        except BlockingIOError:
            break
    gevent.sleep(0)  # the burst's turn: nothing taken, a helper waits for room
    assert transport._coalesced is None and not transport.closed and transport.unwritten == 0
    (helper,) = [
        g for g in gc.get_objects() if isinstance(g, gevent.Greenlet) and g.name == "geventws-write-rest"
    ]
    reset_by_server(server, transport)
    helper.join(WAIT)  # it meets the reset and aborts
    assert helper.dead and transport.closed and transport.unwritten == 60


def test_a_connection_reports_the_coalesced_messages_it_lost(raw_server: Any) -> None:
    """Through the public face: the stream dies with a burst waiting for its turn;
    ``on_error(SEND_FAIL)`` says how many accepted messages were not written."""
    peers: list[Peer] = []
    connected, finished = gevent.event.Event(), gevent.event.Event()

    def handler(peer: Peer) -> None:
        peer.handshake()
        peers.append(peer)
        connected.set()
        finished.wait(WAIT)  # not reading: gevent closes a socket a reader waits on later, in the hub

    server = raw_server(handler)
    errors: list[tuple[ErrorCode, str]] = []
    closed, opened = gevent.event.Event(), gevent.event.Event()
    conn = geventws.Connection(
        server.url(),
        on_websocket_connect=lambda _c, _r: opened.set(),
        on_error=lambda _c, code, msg: errors.append((code, msg)),
        on_close=lambda _c: closed.set(),
    )
    conn.connect()
    assert connected.wait(WAIT) and opened.wait(WAIT)
    conn.send("written at once")
    conn.send("coalesced 1")
    conn.send("coalesced 2")
    transport = conn._session.transport  # type: ignore[union-attr]
    reset_by_server(peers[0].sock, transport)
    assert closed.wait(WAIT)
    assert [code for code, _ in errors] == [ErrorCode.CONNECTION_LOST, ErrorCode.SEND_FAIL]
    assert errors[1][1].startswith("2 message(s) accepted by send() were not written")
    finished.set()


def test_a_bad_message_on_the_careful_path_leaves_the_burst_alone(
    pair: tuple[Transport, gevent.socket.socket, CountingSocket],
) -> None:
    """With compression, a message's frame is made under the lock: one that
    cannot be made must not take the coalesced frames down with it."""
    transport, server, _ = pair
    transport.deflate = PerMessageDeflate(DeflateParams(), None)
    transport.send_frame(OP_PING, b"one")
    transport.send_frame(OP_PONG, b"two")  # coalesced
    with pytest.raises(TypeError):
        transport.send_frame(OP_TEXT, 12345)  # type: ignore[arg-type]  # compressed under the lock: refused there
    transport.send_frame(OP_PING, b"three")
    gevent.sleep(0)
    reader = FrameReader(server)
    assert [reader.read_frame()[2] for _ in range(3)] == [b"one", b"two", b"three"]
    assert transport.unwritten == 0 and not transport.closed


def test_a_burst_over_tls_is_coalesced_and_echoed_in_order(
    wss_server: Any, client_ssl_context: ssl.SSLContext
) -> None:
    """Over TLS a helper greenlet writes the burst (the ssl module's writes may
    wait): far fewer TLS writes than messages, every echo back in order."""
    ws = geventws.connect(wss_server.url("/echo"), ssl_context=client_ssl_context)
    try:
        tls = ws._session.transport.sock  # type: ignore[union-attr]
        writes = 0
        original = tls.send

        def counted(data: Any, *args: Any) -> int:
            nonlocal writes
            writes += 1
            return int(original(data, *args))

        tls.send = counted
        messages = [f"message {i}" for i in range(2000)]
        for message in messages:
            ws.send(message)  # no yield between them: one burst
        assert [ws.recv(timeout=WAIT) for _ in messages] == messages
        assert writes <= len(messages) // 100, writes
    finally:
        ws.close()
