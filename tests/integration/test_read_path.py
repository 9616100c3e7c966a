"""The read path: after a read that emptied the socket, the next one waits for
data first instead of failing with EAGAIN (a system call and an exception per
message saved on request/response exchanges), and still ends on an abort."""

from __future__ import annotations

import select
import socket
import time
from collections.abc import Iterator

import gevent
import gevent.socket
import pytest

from geventws.runtime.transport import Transport
from tests.loopback import CountingSocket, counted_transport
from tests.support import WAIT


def wait_buffered(counting: CountingSocket, size: int) -> None:
    """Until the client's kernel holds ``size`` bytes, without letting the hub run."""
    poller = select.poll()
    poller.register(counting.raw.fileno(), select.POLLIN)
    deadline = time.monotonic() + WAIT
    while True:
        try:
            if len(counting.raw.recv(size, socket.MSG_PEEK)) >= size:
                return
        except BlockingIOError:
            pass
        assert time.monotonic() < deadline, "the bytes never arrived"
        poller.poll(10)  # more may come: wait a little for it, bounded by the deadline


@pytest.fixture
def pair() -> Iterator[tuple[Transport, gevent.socket.socket, CountingSocket]]:
    yield from counted_transport()


def test_after_an_emptying_read_the_next_waits_first(
    pair: tuple[Transport, gevent.socket.socket, CountingSocket],
) -> None:
    transport, server, counting = pair
    later = gevent.spawn_later(0.01, server.sendall, b"hello")
    assert transport.recv(4096) == b"hello"  # the first read tries first: one EAGAIN
    assert counting.would_block == 1
    for i in range(20):
        gevent.spawn_later(0.001, server.sendall, b"msg %d" % i)
        assert transport.recv(4096) == b"msg %d" % i
    assert counting.would_block == 1 and counting.reads == 22
    later.join(WAIT)


def test_a_full_read_reads_again_at_once(
    pair: tuple[Transport, gevent.socket.socket, CountingSocket],
) -> None:
    transport, server, counting = pair
    server.sendall(b"x" * 10_000)
    wait_buffered(counting, 10_000)
    yielded: list[bool] = []
    gevent.spawn(yielded.append, True)  # runs only if a read yields to the hub
    assert transport.recv(4096) == b"x" * 4096  # full: more may be there
    assert transport.recv(4096) == b"x" * 4096
    assert transport.recv(4096) == b"x" * (10_000 - 8192)
    assert counting.would_block == 0 and counting.reads == 3 and not yielded
    gevent.sleep(0)
    assert yielded


def test_data_already_there_when_waiting_first_is_read(
    pair: tuple[Transport, gevent.socket.socket, CountingSocket],
) -> None:
    transport, server, _ = pair
    server.sendall(b"a")
    assert transport.recv(4096) == b"a"
    server.sendall(b"b")  # arrives before the wait starts
    with gevent.Timeout(WAIT):
        assert transport.recv(4096) == b"b"


def test_an_abort_ends_a_read_waiting_first(
    pair: tuple[Transport, gevent.socket.socket, CountingSocket],
) -> None:
    transport, server, _ = pair
    server.sendall(b"a")
    assert transport.recv(4096) == b"a"
    gevent.spawn_later(0.01, transport.abort)
    with gevent.Timeout(WAIT), pytest.raises(OSError):
        transport.recv(4096)
    with pytest.raises(OSError):  # and a read after the abort fails at once
        transport.recv(4096)


def test_end_of_stream_after_waiting_first(
    pair: tuple[Transport, gevent.socket.socket, CountingSocket],
) -> None:
    transport, server, _ = pair
    server.sendall(b"a")
    assert transport.recv(4096) == b"a"
    gevent.spawn_later(0.01, server.close)
    with gevent.Timeout(WAIT):
        assert transport.recv(4096) == b""
