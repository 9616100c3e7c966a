"""The write path, measured: masking speed, frame encoding, hub gaps and memory of large sends.

Run: ``python benchmarks/write_path.py [--quick]``. Not part of the test suite.
Compares geventws' writer (pure Python and with the ``speedups`` extra) with
websocket-client's ``ABNF`` (the old path: encode the whole frame, then ``sendall``).
"""

from __future__ import annotations

import functools
import os
import sys
import time
import tracemalloc
from collections.abc import Callable

import gevent
import gevent.event
import gevent.socket
from websocket import ABNF

from geventws.protocol import writer
from geventws.runtime.transport import Transport


def rate(fn: Callable[[], object], size: int, budget: float = 0.5) -> tuple[float, float]:
    """(MB/s, µs per call) of ``fn`` over about ``budget`` seconds."""
    calls = 0
    start = time.perf_counter()
    while True:
        fn()
        calls += 1
        elapsed = time.perf_counter() - start
        if elapsed > budget:
            return size * calls / elapsed / 1e6, elapsed / calls * 1e6


def python_chunks(data: bytes, key: bytes) -> bytes:
    """The pure-Python masking of frame_chunks: 256 KiB at a time, the key's integer made once."""
    accelerated = writer.mask_accelerated
    writer.mask_accelerated = None
    try:
        apply = writer._chunk_masker(key, writer.CHUNK_SIZE)
    finally:
        writer.mask_accelerated = accelerated
    view = memoryview(data)
    return b"".join(apply(view[i : i + writer.CHUNK_SIZE]) for i in range(0, len(data), writer.CHUNK_SIZE))


def masking() -> None:
    key = os.urandom(4)
    implementations: dict[str, Callable[[bytes, bytes], object]] = {
        "python, whole": writer.mask_python,
        "python, 256 KiB chunks": python_chunks,
        "websocket-client ABNF.mask": lambda data, key: ABNF.mask(key, data),
    }
    if writer.mask_accelerated is not None:
        implementations["speedups (websockets C)"] = writer.mask_accelerated
    print("masking throughput (MB/s, µs per call)")
    for size in (32, 64 * 1024, 16 * 2**20):
        data = os.urandom(size)
        for name, implementation in implementations.items():
            if implementation is python_chunks and size <= writer.CHUNK_SIZE:
                continue  # frames up to a chunk are masked whole
            mbs, us = rate(functools.partial(implementation, data, key), size)
            print(f"  {size:>9} B  {name:<28} {mbs:10.1f} MB/s {us:12.2f} µs")


def encoding() -> None:
    payload = b"x" * 32
    print("encoding one 32 B text frame (µs)")
    print(f"  geventws encode_frame      {rate(lambda: writer.encode_frame(1, payload), 32)[1]:.2f}")
    print(f"  ABNF(...).format()         {rate(lambda: ABNF(1, 0, 0, 0, 1, 1, payload).format(), 32)[1]:.2f}")
    keys = writer.MaskKeys()
    print(f"  one mask key (MaskKeys)    {rate(keys.next, 4)[1]:.2f}")


def loopback() -> tuple[Transport, gevent.socket.socket]:
    listener = gevent.socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    client = gevent.socket.create_connection(listener.getsockname())
    server, _ = listener.accept()
    listener.close()
    return Transport(client), server


def drain(server: gevent.socket.socket, size: int) -> None:
    buffer = bytearray(2**20)
    total = 0
    while total < size:
        total += server.recv_into(buffer)


def old_send(transport: Transport, payload: bytes) -> None:
    transport.sock.sendall(ABNF(1, 0, 0, 0, 2, 1, payload).format())


def new_send(transport: Transport, payload: bytes) -> None:
    transport.send_frame(2, payload)


def large_send(label: str, send: Callable[[Transport, bytes], None], size: int) -> None:
    transport, server = loopback()
    payload = bytes(size)
    done = gevent.event.Event()
    gaps: list[float] = []

    def ticker() -> None:
        last = time.perf_counter()
        while not done.is_set():
            gevent.sleep(0.01)
            now = time.perf_counter()
            gaps.append(now - last - 0.01)
            last = now

    reader = gevent.spawn(drain, server, size + 14)
    tick = gevent.spawn(ticker)
    gevent.sleep(0.02)
    start = time.perf_counter()
    send(transport, payload)
    elapsed = time.perf_counter() - start
    done.set()
    gevent.joinall([reader, tick])
    print(
        f"  {label:<34} {size >> 20} MiB in {elapsed * 1000:6.0f} ms ({size / elapsed / 1e6:6.0f} MB/s);"
        f" 10 ms ticker: longest extra wait {max(gaps) * 1000:6.1f} ms"
    )
    transport.abort()
    server.close()


def large_send_memory(label: str, send: Callable[[Transport, bytes], None], size: int) -> None:
    transport, server = loopback()
    payload = bytes(size)
    reader = gevent.spawn(drain, server, size + 14)
    tracemalloc.start()
    before, _ = tracemalloc.get_traced_memory()
    send(transport, payload)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    reader.join()
    extra = peak - before
    shown = f"{extra / 2**20:8.1f} MiB ({extra / size:.2f}x the payload)"
    print(f"  {label:<34} {size >> 20} MiB: peak extra {shown}")
    transport.abort()
    server.close()


def main() -> None:
    quick = "--quick" in sys.argv
    masking()
    encoding()
    accelerated = writer.mask_accelerated
    variants: list[tuple[str, Callable[[Transport, bytes], None]]] = [("old: ABNF + sendall", old_send)]
    variants.append(("new: send_frame, speedups" if accelerated else "new: send_frame", new_send))
    print("large sends to a reading loopback server")
    for label, send in variants:
        large_send(label, send, 16 * 2**20 if quick else 50 * 2**20)
    for label, send in variants:
        large_send_memory(label, send, 16 * 2**20 if quick else 100 * 2**20)
    if accelerated is not None:
        writer.mask_accelerated = None
        writer.mask = writer.mask_python
        large_send("new: send_frame, pure Python", new_send, 16 * 2**20 if quick else 50 * 2**20)
        large_send_memory("new: send_frame, pure Python", new_send, 16 * 2**20 if quick else 100 * 2**20)


if __name__ == "__main__":
    main()
