"""Cooperation scenarios, each run in a fresh subprocess by test_cooperative.py.

    python -m tests.coop_scenarios SCENARIO MODE [URL]

MODE is ``unpatched`` (gevent.monkey never called), ``patched-before``
(``patch_all()`` before importing geventws) or ``patched-after`` (after). A
scenario prints ``OK …`` and exits 0, or raises.
"""

from __future__ import annotations

import sys

MODE = sys.argv[2]
if MODE == "patched-before":
    from gevent import monkey

    monkey.patch_all()

import hashlib  # noqa: E402
import os  # noqa: E402
import struct  # noqa: E402
import time  # noqa: E402
from typing import Any  # noqa: E402

import gevent  # noqa: E402
import gevent.event  # noqa: E402
import gevent.monkey  # noqa: E402

import geventws  # noqa: E402
from tests.rawserver import BINARY, PING, PONG, TEXT, Peer, RawServer  # noqa: E402

if MODE == "patched-after":
    gevent.monkey.patch_all()
if MODE == "unpatched":
    assert not gevent.monkey.is_anything_patched(), "importing geventws patched something"


def heartbeat(url: str) -> str:
    """(a) A 10 ms ticker keeps ticking while 200 connections talk to a slow server.

    The server waits 0.3 s before each handshake answer and each echo, so a
    client that blocked its hub would stall the ticker for >= 0.3 s.
    """
    gaps: list[float] = []
    stop = gevent.event.Event()

    def tick() -> None:
        last = time.monotonic()
        while not stop.wait(0.01):
            now = time.monotonic()
            gaps.append(now - last)
            last = now

    def client(i: int) -> None:
        with geventws.connect(f"{url}/slow/0.3", open_timeout=30) as ws:
            ws.send(f"hello {i}")
            ws.send(b"bytes %d" % i)
            assert ws.recv(timeout=30) == f"hello {i}"
            assert ws.recv(timeout=30) == b"bytes %d" % i

    ticker = gevent.spawn(tick)
    clients = [gevent.spawn(client, i) for i in range(200)]
    gevent.joinall(clients, timeout=60, raise_error=True)
    assert all(c.successful() for c in clients), "some clients failed"
    stop.set()
    ticker.join()
    worst = max(gaps)
    assert worst < 0.25, f"the hub was blocked for {worst:.3f} s"
    return f"{len(gaps)} ticks, worst gap {worst * 1000:.1f} ms"


class _SlowReader:
    """A server socket that reads in small bites with pauses, so the client's
    big send blocks again and again while pings keep arriving."""

    def __init__(self, sock: Any) -> None:
        self._sock = sock

    def recv(self, size: int) -> bytes:
        gevent.sleep(0.0005)
        return bytes(self._sock.recv(min(size, 16384)))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)


def big_message_under_pings(_: str) -> str:
    """(b) A 16 MiB message sent while the server pings every millisecond arrives
    intact, and every ping is answered, in order, byte for byte."""
    payload = os.urandom(16 * 2**20)
    result: dict[str, Any] = {}

    def handler(peer: Peer) -> None:
        peer.handshake()
        peer.sock = _SlowReader(peer.sock)  # type: ignore[assignment]
        sent: list[bytes] = []
        pinging = gevent.event.Event()

        def pinger() -> None:
            i = 0
            while not pinging.is_set():
                data = struct.pack("!I", i)
                peer.send_frame(PING, data)
                sent.append(data)
                i += 1
                gevent.sleep(0.001)

        gevent.spawn(pinger)
        pongs: list[bytes] = []
        parts: list[bytes] = []
        while True:
            fin, opcode, data = peer.read_frame()
            if opcode == PONG:
                pongs.append(data)
                continue
            parts.append(data)
            if fin:
                break
        pinging.set()
        result["pings_during_send"] = len(sent)
        result["intact"] = hashlib.sha256(b"".join(parts)).digest() == hashlib.sha256(payload).digest()
        peer.send_frame(TEXT, b"done")
        while True:  # the pongs queued behind the big frame, then the client's close
            _, opcode, data = peer.read_frame()
            if opcode != PONG:
                break
            pongs.append(data)
        result["all_pongs_in_order"] = pongs == sent

    server = RawServer(handler)
    with geventws.connect(server.url(), ping_interval=None) as ws:
        ws.send(payload)
        assert ws.recv(timeout=30) == "done"
    server.stop()
    assert result["intact"], "the message was corrupted"
    assert result["all_pongs_in_order"], "a ping went unanswered, or a pong was wrong"
    assert result["pings_during_send"] > 10, "too few pings raced the send to prove anything"
    return f"intact, {result['pings_during_send']} pings during the send, all answered in order"


def concurrent_senders(_: str) -> str:
    """(c) 50 greenlets sending on one connection at once: every message whole."""
    senders, per_sender = 50, 20
    seen: dict[int, list[int]] = {}
    done = gevent.event.Event()

    def handler(peer: Peer) -> None:
        peer.handshake()
        for _ in range(senders * per_sender):
            opcode, data = peer.read_message()
            assert opcode == BINARY, opcode
            sender, seq, size = struct.unpack("!III", data[:12])
            assert data[12:] == bytes([sender]) * size, "message torn or mixed"
            seen.setdefault(sender, []).append(seq)
        done.set()
        peer.read_frame()

    server = RawServer(handler)

    def sender(conn: geventws.Connection, n: int) -> None:
        for seq in range(per_sender):
            size = 1000 + (n * 7919 + seq * 104729) % 120_000
            conn.send(struct.pack("!III", n, seq, size) + bytes([n]) * size)

    with geventws.connect(server.url(), ping_interval=None) as ws:
        gevent.joinall([gevent.spawn(sender, ws, n) for n in range(senders)], raise_error=True)
        assert done.wait(30), "not every message arrived"
    assert all(seqs == list(range(per_sender)) for seqs in seen.values()), "per-sender order broken"
    assert len(seen) == senders
    server.stop()
    return f"{senders * per_sender} messages whole and in per-sender order"


def os_thread_send(url: str) -> str:
    """(d) send() from a real OS thread is handed to the hub and delivered."""
    start_new_thread = gevent.monkey.get_original("_thread", "start_new_thread")
    get_ident = gevent.monkey.get_original("_thread", "get_ident")
    main_ident = get_ident()
    thread_ident: list[int] = []
    errors: list[BaseException] = []
    count = 100

    with geventws.connect(f"{url}/") as ws:

        def worker() -> None:
            thread_ident.append(get_ident())
            try:
                for i in range(count):
                    ws.send(f"from thread {i}")
            except BaseException as exc:
                errors.append(exc)

        start_new_thread(worker, ())
        got = [ws.recv(timeout=10) for _ in range(count)]
    assert not errors, errors
    assert thread_ident and thread_ident[0] != main_ident, "the worker was not another OS thread"
    assert got == [f"from thread {i}" for i in range(count)], "lost or reordered"
    return f"{count} messages from OS thread delivered in order"


SCENARIOS = {
    "heartbeat": heartbeat,
    "big_message_under_pings": big_message_under_pings,
    "concurrent_senders": concurrent_senders,
    "os_thread_send": os_thread_send,
}

if __name__ == "__main__":
    name = sys.argv[1]
    url = sys.argv[3] if len(sys.argv) > 3 else ""
    print("OK", SCENARIOS[name](url), flush=True)
    if MODE == "unpatched":
        assert not gevent.monkey.is_anything_patched(), "geventws patched something"
