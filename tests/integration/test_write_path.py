"""The write path: whole frames over a real loopback TCP connection, even when the
writer is interrupted, with bounded memory and the hub free between chunks."""

from __future__ import annotations

import struct
import tracemalloc
from collections.abc import Iterator
from typing import Any

import gevent
import gevent.event
import gevent.socket
import pytest

from geventws.protocol import writer
from geventws.protocol.writer import OP_BINARY, OP_PING, OP_PONG, OP_TEXT
from geventws.runtime import transport as transport_module
from geventws.runtime import writebuffer as writebuffer_module
from geventws.runtime.transport import Transport, WriteProgress
from tests.loopback import CountingSocket, tcp_pair
from tests.support import WAIT

BIG = 32 * 2**20  # larger than what loopback socket buffers hold: a send of it must wait for the reader


def pattern(size: int, seed: int = 0) -> bytes:
    """Payload bytes that show where a frame was cut."""
    block = bytes((seed + i) % 251 for i in range(251))
    return (block * (size // 251 + 1))[:size]


class FrameReader:
    """The server's side: reads and unmasks client frames (RFC 6455 §5.2), by hand."""

    def __init__(self, sock: gevent.socket.socket) -> None:
        self.sock = sock
        self.buffer = bytearray()
        self.received = 0
        sock.settimeout(WAIT)  # a cut frame makes the parser wait: fail, do not hang

    def fill(self, n: int) -> None:
        """Read until at least ``n`` bytes are buffered."""
        while len(self.buffer) < n:
            chunk = self.sock.recv(2**20)
            if not chunk:
                raise EOFError("client closed")
            self.received += len(chunk)
            self.buffer += chunk

    def take(self, n: int) -> bytes:
        self.fill(n)
        data = bytes(self.buffer[:n])
        del self.buffer[:n]
        return data

    def read_frame(self) -> tuple[bool, int, bytes]:
        first, second = self.take(2)
        assert second & 0x80, "client frame not masked"
        length = second & 0x7F
        if length == 126:
            (length,) = struct.unpack("!H", self.take(2))
        elif length == 127:
            (length,) = struct.unpack("!Q", self.take(8))
        key = self.take(4)
        data = self.take(length)
        repeated = int.from_bytes((key * (length // 4 + 1))[:length], "big")
        payload = (int.from_bytes(data, "big") ^ repeated).to_bytes(length, "big")
        return bool(first & 0x80), first & 0x0F, payload


def send_catching_timeout(
    transport: Transport, opcode: int, payload: bytes, progress: WriteProgress | None = None
) -> gevent.Timeout | None:
    """``send_frame``, returning the ``gevent.Timeout`` thrown into it (the hub would print it)."""
    try:
        transport.send_frame(opcode, payload, progress=progress)
    except gevent.Timeout as exc:
        return exc
    return None


@pytest.fixture
def pair() -> Iterator[tuple[Transport, gevent.socket.socket]]:
    """A Transport on one end of a loopback TCP connection, the raw socket on the other."""
    client, server = tcp_pair()
    transport = Transport(client)
    yield transport, server
    transport.abort()
    server.close()


@pytest.fixture(params=["python", "accelerated"])
def masking(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    if request.param == "python":
        monkeypatch.setattr(writer, "mask_accelerated", None)
        monkeypatch.setattr(writer, "mask", writer.mask_python)
    elif writer.mask_accelerated is None:
        pytest.skip("the speedups extra (websockets) is not installed")
    return str(request.param)


@pytest.mark.parametrize("size", [0, 125, 126, 65535, 65536, 3 * 2**20 + 5])
def test_send_frame_round_trip(pair: tuple[Transport, gevent.socket.socket], size: int) -> None:
    transport, server = pair
    payload = pattern(size)
    reader = gevent.spawn(FrameReader(server).read_frame)
    transport.send_frame(OP_BINARY, payload)
    transport.send_frame(OP_TEXT, b"x", fin=False)
    assert reader.get(timeout=WAIT) == (True, OP_BINARY, payload)


@pytest.mark.parametrize("interruption", ["kill", "timeout"])
@pytest.mark.parametrize("after", [1, 2**20, 16 * 2**20])
def test_interrupted_frame_is_finished_before_the_next(
    pair: tuple[Transport, gevent.socket.socket], interruption: str, after: int
) -> None:
    """Issue 9.1: interrupted after ``after`` bytes reached the server, the frame is
    still written whole, and the next frame follows it intact."""
    transport, server = pair
    payload = pattern(BIG)
    progress = WriteProgress()
    sender = gevent.spawn(send_catching_timeout, transport, OP_BINARY, payload, progress)
    reader = FrameReader(server)
    reader.fill(after)
    assert not sender.dead
    exception = gevent.GreenletExit if interruption == "kill" else gevent.Timeout()
    sender.kill(exception, block=True, timeout=WAIT)
    # The caller's exception came at once, while the server was not reading.
    assert sender.dead
    if interruption == "timeout":
        assert sender.value is exception
    assert progress.started and not progress.done  # the caller can tell: it will be written
    follower = gevent.spawn(transport.send_frame, OP_TEXT, b"after")
    assert reader.read_frame() == (True, OP_BINARY, payload)
    assert reader.read_frame() == (True, OP_TEXT, b"after")
    follower.get(timeout=WAIT)
    assert progress.done and not transport.closed


def test_interrupted_between_two_chunks(
    pair: tuple[Transport, gevent.socket.socket], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Interrupted while yielding to the hub between two chunks (the chunk just
    made must not be lost: it was, once)."""
    transport, server = pair
    payload = pattern(BIG)
    yielding = gevent.event.Event()
    original = writebuffer_module._yield_to_hub
    calls = 0

    def noted_yield() -> None:
        nonlocal calls
        calls += 1
        if calls == 3:
            yielding.set()
        original()

    monkeypatch.setattr(writebuffer_module, "_yield_to_hub", noted_yield)
    reader = FrameReader(server)
    sender = gevent.spawn(transport.send_frame, OP_BINARY, payload)
    assert yielding.wait(WAIT)  # we run now: the sender is in its third yield
    sender.kill(block=True, timeout=WAIT)
    assert sender.dead
    follower = gevent.spawn(transport.send_frame, OP_TEXT, b"after")
    assert reader.read_frame() == (True, OP_BINARY, payload)
    assert reader.read_frame() == (True, OP_TEXT, b"after")
    follower.get(timeout=WAIT)


def test_gevent_timeout_around_a_send(pair: tuple[Transport, gevent.socket.socket]) -> None:
    """The scenario of issue 9.1: ``with gevent.Timeout(...)`` cuts a large send."""
    transport, server = pair
    payload = pattern(BIG)
    interrupted = gevent.event.Event()

    def send() -> None:
        try:
            with gevent.Timeout(0.05):
                transport.send_frame(OP_BINARY, payload)
        except gevent.Timeout:
            interrupted.set()
            transport.send_frame(OP_TEXT, b"hello")

    sender = gevent.spawn(send)
    assert interrupted.wait(WAIT)  # the server reads nothing until then: the send cannot finish
    reader = FrameReader(server)
    assert reader.read_frame() == (True, OP_BINARY, payload)
    assert reader.read_frame() == (True, OP_TEXT, b"hello")
    sender.get(timeout=WAIT)


@pytest.mark.parametrize("interruption", ["kill", "timeout"])
def test_interrupted_before_the_first_byte_cancels(
    pair: tuple[Transport, gevent.socket.socket], interruption: str
) -> None:
    transport, server = pair
    first = gevent.spawn(transport.send_frame, OP_BINARY, pattern(BIG))
    gevent.sleep(0)  # it takes the lock and fills the socket buffers
    progress = WriteProgress()
    waiting = gevent.spawn(send_catching_timeout, transport, OP_TEXT, b"cancelled", progress)
    gevent.sleep(0)  # it waits for the lock
    assert not first.dead and not waiting.dead
    waiting.kill(gevent.GreenletExit if interruption == "kill" else gevent.Timeout(), timeout=WAIT)
    assert waiting.dead
    assert not progress.started  # the caller can tell: cancelled (e.g. to queue it again)
    last = gevent.spawn(transport.send_frame, OP_TEXT, b"last")
    reader = FrameReader(server)
    assert reader.read_frame() == (True, OP_BINARY, pattern(BIG))
    assert reader.read_frame() == (True, OP_TEXT, b"last")
    gevent.joinall([first, last], timeout=WAIT, raise_error=True)


def test_stream_lost_while_finishing_aborts(pair: tuple[Transport, gevent.socket.socket]) -> None:
    """If the rest of an interrupted frame cannot be written, the transport is
    aborted (the session reports the loss), and later writes fail at once."""
    transport, server = pair
    sender = gevent.spawn(transport.send_frame, OP_BINARY, pattern(BIG))
    FrameReader(server).fill(1)
    sender.kill(timeout=WAIT)
    assert sender.dead and not transport.closed
    server.close()  # unread data: the client gets a reset
    with gevent.Timeout(WAIT), pytest.raises(OSError):
        transport.send_frame(OP_TEXT, b"after")  # waits for the helper, which failed
    assert transport.closed


def test_concurrent_and_interrupted_senders_never_interleave(
    pair: tuple[Transport, gevent.socket.socket],
) -> None:
    transport, server = pair
    sizes = [10, 2**20 + 3, 100, 3 * 2**20, 70_000, 5]

    def send(seed: int) -> None:
        transport.send_frame(OP_BINARY, pattern(sizes[seed % len(sizes)], seed))
        transport.send_frame(OP_PONG, bytes([seed]))

    senders = [gevent.spawn(send, seed) for seed in range(24)]
    gevent.sleep(0)
    for victim in senders[::5]:
        victim.kill(block=False)  # some before their first byte, some part-way
    reader = FrameReader(server)
    gevent.spawn(lambda: gevent.joinall(senders) and transport.send_frame(OP_TEXT, b"end"))
    frames = []
    while (frame := reader.read_frame()) != (True, OP_TEXT, b"end"):
        frames.append(frame)
    for fin, opcode, payload in frames:
        assert fin and opcode in (OP_BINARY, OP_PONG)
        if opcode == OP_BINARY:
            whole = any(pattern(len(payload), seed) == payload for seed in range(24))
            assert whole, f"a binary frame of {len(payload)} bytes is not a whole message"
    assert sum(op == OP_BINARY for _, op, _ in frames) >= 24 - len(senders[::5])


def test_large_send_lets_the_hub_run(
    pair: tuple[Transport, gevent.socket.socket], masking: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 9.3: the payload is masked a chunk at a time and other greenlets run
    between chunks (it was masked whole, in one step of 568 ms for 50 MiB).
    Counted, not timed: a greenlet notes how many chunks were made each time it runs."""
    transport, server = pair
    size = 16 * 2**20
    made = 0

    def counted_chunks(*args: Any, **kwargs: Any) -> Iterator[bytes]:
        nonlocal made
        for piece in writer.frame_chunks(*args, **kwargs):
            made += 1
            yield piece

    monkeypatch.setattr(transport_module, "frame_chunks", counted_chunks)
    done = gevent.event.Event()
    seen: set[int] = set()

    def watch() -> None:
        while not done.is_set():
            seen.add(made)
            gevent.sleep(0)

    def drain() -> int:
        buffer = bytearray(2**20)
        total = 0
        while total < size + 14:
            total += server.recv_into(buffer)
        return total

    reader = gevent.spawn(drain)
    watcher = gevent.spawn(watch)
    transport.send_frame(OP_BINARY, bytes(size))
    done.set()
    watcher.join(WAIT)
    assert reader.get(timeout=WAIT) == size + 14
    chunks = size // writer.CHUNK_SIZE
    assert made == 1 + chunks
    # The watcher ran between (almost) every two chunks, whatever the socket did.
    assert len(seen) >= chunks - 1, f"the hub ran at {len(seen)} of {chunks} chunks"


def test_memory_of_a_large_send(pair: tuple[Transport, gevent.socket.socket], masking: str) -> None:
    """Issue 9.3: a send holds far less extra memory than its payload (it was 5x)."""
    transport, server = pair
    size = 100 * 2**20
    payload = bytes(size)

    def drain() -> int:
        buffer = bytearray(2**20)
        total = 0
        while total < size + 14:
            total += server.recv_into(buffer)
        return total

    reader = gevent.spawn(drain)
    tracemalloc.start()
    try:
        before, _ = tracemalloc.get_traced_memory()
        transport.send_frame(OP_BINARY, payload)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert reader.get(timeout=WAIT) == size + 14
    extra = peak - before
    assert extra < 1.5 * size, f"{extra / 2**20:.1f} MiB extra for a {size / 2**20:.0f} MiB send"


def test_small_frames_take_one_system_call_when_the_socket_has_room(
    pair: tuple[Transport, gevent.socket.socket], monkeypatch: pytest.MonkeyPatch
) -> None:
    transport, server = pair
    careful: list[object] = []
    original = Transport._write_whole

    def counting(self: Transport, *args: Any, **kwargs: Any) -> None:
        careful.append(args)
        original(self, *args, **kwargs)

    monkeypatch.setattr(Transport, "_write_whole", counting)
    progress = WriteProgress()
    transport.send_frame(OP_BINARY, b"a" * 100, progress=progress)
    transport.send_frame(OP_TEXT, b"b", fin=False)
    assert careful == [] and progress.started and progress.done
    reader = FrameReader(server)
    assert reader.read_frame() == (True, OP_BINARY, b"a" * 100)
    assert reader.read_frame() == (False, OP_TEXT, b"b")
    transport.send_frame(OP_BINARY, pattern(writer.CHUNK_SIZE + 1))  # large: the careful way
    assert len(careful) == 1


def test_small_frames_the_socket_takes_in_part_arrive_whole_and_in_order(
    pair: tuple[Transport, gevent.socket.socket],
) -> None:
    # A slow reader: the socket buffer fills, so small frames meet a full buffer
    # (nothing taken) or one with room for part of them (the rest written under the lock).
    transport, server = pair
    sizes = [1, 125, 126, 1000, 4093, 65535, 65536, 200_000]
    frames = [(OP_BINARY, pattern(sizes[i % len(sizes)], i)) for i in range(400)]
    received: list[tuple[bool, int, bytes]] = []

    def read_slowly() -> None:
        reader = FrameReader(server)
        for _ in frames:
            received.append(reader.read_frame())
            gevent.sleep(0)

    reading = gevent.spawn(read_slowly)
    for opcode, payload in frames:
        transport.send_frame(opcode, payload)
    reading.join(WAIT * 10)
    assert received == [(True, opcode, payload) for opcode, payload in frames]


def test_a_bad_frame_on_the_at_once_paths_leaves_the_lock_free(
    pair: tuple[Transport, gevent.socket.socket],
) -> None:
    transport, server = pair
    with pytest.raises(ValueError):
        transport.try_send_now(OP_PING, b"x" * 126)  # a control frame over 125 bytes
    with pytest.raises(ValueError):
        transport.send_frame(OP_PONG, b"x" * 126)
    with gevent.Timeout(WAIT):  # a lock left held would hang here
        transport.send_frame(OP_TEXT, b"still usable")
    assert FrameReader(server).read_frame() == (True, OP_TEXT, b"still usable")


def test_write_is_one_call_when_the_socket_takes_it_and_finishes_what_it_did_not() -> None:
    client, server = tcp_pair()
    transport = Transport(client)
    counting = client._sock = CountingSocket(client._sock)  # type: ignore[attr-defined]
    try:
        transport.write(b"GET / HTTP/1.1\r\n\r\n")
        assert counting.sends == 1
        assert server.recv(100) == b"GET / HTTP/1.1\r\n\r\n"
        # More than the socket buffers hold: the rest is written as the reader drains it.
        data = pattern(BIG // 4)
        received = bytearray()

        def read_all() -> None:
            server.settimeout(WAIT)
            while len(received) < len(data):
                received.extend(server.recv(2**20))

        reader = gevent.spawn_later(0.05, read_all)
        transport.write(data)
        reader.join(WAIT)
        assert bytes(received) == data
        transport.write(b"after")  # the lock was released
        assert server.recv(100) == b"after"
    finally:
        transport.abort()
        server.close()
