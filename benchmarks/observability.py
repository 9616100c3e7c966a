"""What observability costs: messages through a loopback echo, in one process.

Run: ``python benchmarks/observability.py [--messages N] [--rounds R]``. Not
part of the test suite. Counters are always on, so their cost shows only
against a tree without them: run the same script with that tree first on the
path (``PYTHONPATH=/path/to/other/tree python benchmarks/observability.py``);
on such a tree the trace variants are skipped.

Each round sends the messages in batches of ``--batch`` and reads the echoes
back (sequential face), over one connection to an echo server in the same
process (raw gevent sockets, not geventws, so it is the same on both trees).
Variants run interleaved, round after round; the best round of each is
reported (the least disturbed by other processes on the machine).
"""

from __future__ import annotations

import argparse
import base64
import functools
import hashlib
import inspect
import os
import struct
import sys
import time
from collections.abc import Callable
from typing import Any

import gevent
import gevent.server
import gevent.socket

import geventws
from geventws.protocol.options import make_options
from geventws.protocol.writer import mask

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def _accept(sock: gevent.socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise EOFError
        data += chunk
    head, rest = data.split(b"\r\n\r\n", 1)
    key = next(
        line.split(b":", 1)[1].strip()
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"sec-websocket-key:")
    )
    accept = base64.b64encode(hashlib.sha1(key + GUID).digest())
    sock.sendall(
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Accept: " + accept + b"\r\n\r\n"
    )
    return rest


def _server_frame(first: int, payload: bytes) -> bytes:
    length = len(payload)
    if length < 126:
        return struct.pack("!BB", first, length) + payload
    if length < 2**16:
        return struct.pack("!BBH", first, 126, length) + payload
    return struct.pack("!BBQ", first, 127, length) + payload


def echo(sock: gevent.socket.socket, _address: Any) -> None:
    """Echo every (unfragmented) message; answer a close and hang up."""
    buffer = _accept(sock)
    while True:
        replies, pos, closing = [], 0, False
        while len(buffer) - pos >= 6:
            first, second = buffer[pos], buffer[pos + 1] & 0x7F
            start = pos + 2 + {126: 2, 127: 8}.get(second, 0)
            if len(buffer) < start + 4:
                break
            length = second
            if second == 126:
                (length,) = struct.unpack_from("!H", buffer, pos + 2)
            elif second == 127:
                (length,) = struct.unpack_from("!Q", buffer, pos + 2)
            if len(buffer) < start + 4 + length:
                break
            payload = mask(buffer[start + 4 : start + 4 + length], buffer[start : start + 4])
            replies.append(_server_frame(first, payload))
            closing = closing or first & 0x0F == 0x8
            pos = start + 4 + length
        buffer = buffer[pos:]
        if replies:
            sock.sendall(b"".join(replies))
        if closing:
            return
        chunk = sock.recv(2**18)
        if not chunk:
            return
        buffer += chunk


def run(url: str, messages: int, batch: int, size: int, **options: Any) -> tuple[float, float]:
    """(wall, CPU) seconds to echo ``messages`` text messages of ``size`` bytes.

    The CPU time of this process (client and server) is the figure to compare
    on a busy machine: other processes lengthen the wall time, not it.
    """
    payload = "x" * size
    with geventws.connect(url, ping_interval=None, max_queue=batch, **options) as ws:
        start, cpu = time.perf_counter(), time.process_time()
        for _ in range(messages // batch):
            for _ in range(batch):
                ws.send(payload)
            for _ in range(batch):
                ws.recv()
        return time.perf_counter() - start, time.process_time() - cpu


def variants(trace: bool) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {"default (counters)": {}}
    if trace and "trace" in inspect.signature(make_options).parameters:
        sink = open(os.devnull, "w")  # noqa: SIM115 - lives as long as the benchmark
        found["trace to /dev/null"] = {"trace": sink}
        found["trace + payloads"] = {"trace": sink, "trace_payloads": True}
    return found


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--size", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--no-trace", action="store_true", help="only the default variant")
    args = parser.parse_args(argv)
    server = gevent.server.StreamServer(("127.0.0.1", 0), echo)
    server.start()
    url = f"ws://127.0.0.1:{server.server_port}/"
    tree = os.path.dirname(os.path.dirname(os.path.abspath(geventws.__file__)))
    print(f"geventws from {tree}; {args.messages} messages of {args.size} B, batches of {args.batch}")
    best: dict[str, tuple[float, float]] = {}
    runs: dict[str, Callable[[], tuple[float, float]]] = {
        name: functools.partial(run, url, args.messages, args.batch, args.size, **options)
        for name, options in variants(not args.no_trace).items()
    }
    for _ in range(args.rounds):
        for name, measure in runs.items():
            wall, cpu = measure()
            old_wall, old_cpu = best.get(name, (wall, cpu))
            best[name] = (min(wall, old_wall), min(cpu, old_cpu))
    for name, (wall, cpu) in best.items():
        per_wall, per_cpu = wall / args.messages * 1e6, cpu / args.messages * 1e6
        print(f"  {name:<22} best wall {per_wall:6.2f} µs/msg   best CPU {per_cpu:6.2f} µs/msg")
    server.stop()


if __name__ == "__main__":
    main(sys.argv[1:])
