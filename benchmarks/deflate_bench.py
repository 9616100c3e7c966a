"""permessage-deflate trade-offs: bytes on the wire, CPU per message, memory per idle connection.

Standalone and sans-I/O (it drives geventws' Deflater and Inflater directly, no sockets)::

    python benchmarks/deflate_bench.py                 # every table, short run
    python benchmarks/deflate_bench.py --messages 20000 --contexts 1000

Tables:

1. wire: bytes on the wire (frame headers included) for a JSON market-data feed,
   off and on, per window size and context takeover; CPU to compress and to
   inflate each message (µs, best of ``--repeat`` runs).
2. small: whether sending small messages uncompressed (``min_size``) pays.
3. memory: zlib memory per idle connection, measured over ``--contexts``
   connections (tracemalloc, which sees zlib's allocations, and RSS).
"""

from __future__ import annotations

import argparse
import gc
import itertools
import json
import random
import time
import tracemalloc
from collections.abc import Callable, Sequence
from pathlib import Path

from geventws.protocol.extensions import Deflater, Inflater


def json_feed(count: int, seed: int = 13) -> list[bytes]:
    """Trades with a depth snapshot every 50 messages, like an exchange's public feed."""
    rng = random.Random(seed)
    price = 43125.0
    messages = []
    for i in range(count):
        price += rng.choice((-1, 1)) * rng.random() * 3
        if i % 50 == 49:
            levels = [[f"{price - k * 0.5:.2f}", f"{rng.random() * 4:.4f}"] for k in range(20)]
            body: dict[str, object] = {
                "e": "depthUpdate",
                "E": 1700000000000 + i,
                "s": "BTCUSDT",
                "b": levels,
            }
        else:
            body = {
                "e": "trade",
                "E": 1700000000000 + i,
                "s": "BTCUSDT",
                "t": 3000000 + i,
                "p": f"{price:.2f}",
                "q": f"{rng.random():.5f}",
                "T": 1700000000000 + i,
                "m": rng.random() < 0.5,
            }
        messages.append(json.dumps(body, separators=(",", ":")).encode())
    return messages


def header_size(length: int, masked: bool) -> int:
    """RFC 6455 frame header bytes for a payload of ``length``."""
    size = 2 if length < 126 else 4 if length < 65536 else 10
    return size + (4 if masked else 0)


def best_of(repeat: int, action: Callable[[], None]) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    return min(times)


def wire_row(
    messages: Sequence[bytes], bits: int | None, no_takeover: bool, mem_level: int, repeat: int
) -> str:
    if bits is None:
        wire = sum(len(m) + header_size(len(m), masked=False) for m in messages)
        return f"| off | - | - | {wire:,} | 100% | - | - |"
    compressed: list[bytes] = []

    def compress() -> None:
        deflater = Deflater(bits, no_takeover, mem_level=mem_level)
        compressed[:] = [deflater.compress(m) for m in messages]

    def inflate() -> None:
        inflater = Inflater(bits, no_takeover, max_message_size=2**24)
        for payload in compressed:
            inflater.decompress(payload)

    t_compress = best_of(repeat, compress) / len(messages) * 1e6
    t_inflate = best_of(repeat, inflate) / len(messages) * 1e6
    wire = sum(len(p) + header_size(len(p), masked=False) for p in compressed)
    raw = sum(len(m) + header_size(len(m), masked=False) for m in messages)
    takeover = "no" if no_takeover else "yes"
    return (
        f"| {bits} | {takeover} | {mem_level} | {wire:,} | {wire / raw:.0%} "
        f"| {t_compress:.1f} | {t_inflate:.1f} |"
    )


def wire_table(messages: Sequence[bytes], repeat: int) -> None:
    sizes = sorted(len(m) for m in messages)
    print(
        f"\n### Bytes on the wire and CPU: {len(messages)} JSON messages, median {sizes[len(sizes) // 2]} B\n"
    )
    print("| window bits | context takeover | mem_level | wire bytes | of off | compress µs | inflate µs |")
    print("|---|---|---|---|---|---|---|")
    print(wire_row(messages, None, False, 0, repeat))
    for bits, no_takeover, mem_level in [
        (15, False, 8),
        (15, False, 5),
        (12, False, 5),
        (10, False, 5),
        (9, False, 5),
        (15, True, 5),
        (9, True, 5),
    ]:
        print(wire_row(messages, bits, no_takeover, mem_level, repeat))


def small_table(messages: Sequence[bytes], repeat: int) -> None:
    print("\n### Small messages: send uncompressed below min_size? (window 15)\n")
    print("| messages | context takeover | min_size | compressed | wire bytes | compress µs/msg |")
    print("|---|---|---|---|---|---|")
    tiny = [m[: 16 + i % 48] for i, m in enumerate(messages)]  # 16..63-byte messages
    for label, feed in (("tiny 16-63 B", tiny), ("JSON feed", messages)):
        for no_takeover, min_size in itertools.product((False, True), (0, 64, 128)):
            out: list[tuple[bool, bytes]] = []

            def send(
                feed: Sequence[bytes] = feed,
                no_takeover: bool = no_takeover,
                min_size: int = min_size,
                out: list[tuple[bool, bytes]] = out,
            ) -> None:
                deflater = Deflater(15, no_takeover, min_size=min_size)
                out[:] = [
                    (True, deflater.compress(m)) if deflater.should_compress(len(m)) else (False, m)
                    for m in feed
                ]

            seconds = best_of(repeat, send)
            wire = sum(len(p) + header_size(len(p), masked=True) for _, p in out)
            count = sum(c for c, _ in out)
            takeover = "no" if no_takeover else "yes"
            print(
                f"| {label} | {takeover} | {min_size} | {count}/{len(feed)} | {wire:,} "
                f"| {seconds / len(feed) * 1e6:.1f} |"
            )


def rss() -> int:
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * 4096


def idle_memory(contexts: int, make: Callable[[], object]) -> tuple[float, float]:
    """KiB per idle connection: (tracemalloc, RSS)."""
    gc.collect()
    tracemalloc.start()
    before_traced, before_rss = tracemalloc.get_traced_memory()[0], rss()
    held = [make() for _ in range(contexts)]
    gc.collect()
    traced, now_rss = tracemalloc.get_traced_memory()[0], rss()
    tracemalloc.stop()
    del held
    return (traced - before_traced) / contexts / 1024, (now_rss - before_rss) / contexts / 1024


def memory_table(contexts: int) -> None:
    message = json_feed(1)[0]

    def pair(client_bits: int, server_bits: int, no_takeover: bool, mem_level: int) -> Callable[[], object]:
        def make() -> object:
            deflater = Deflater(client_bits, no_takeover, mem_level=mem_level)
            inflater = Inflater(server_bits, no_takeover)
            # One message each way: zlib allocates its windows on first use.
            inflater.decompress(Deflater(server_bits).compress(message))
            deflater.compress(message)
            return deflater, inflater

        return make

    print(f"\n### Memory per idle connection ({contexts} connections, one message each way)\n")
    print("| compression | client/server window bits | mem_level | KiB (tracemalloc) | KiB (RSS) |")
    print("|---|---|---|---|---|")

    def receive_only(server_bits: int) -> object:
        # The Deflater makes its zlib stream on the first send: a feed reader never pays it.
        deflater, inflater = Deflater(), Inflater(server_bits)
        inflater.decompress(Deflater(server_bits).compress(message))
        return deflater, inflater

    rows: list[tuple[str, str, str, Callable[[], object]]] = [
        ("off", "-", "-", lambda: (None, None)),
        ("takeover, receive only", "-/15", "-", lambda: receive_only(15)),
        ("takeover, receive only", "-/10", "-", lambda: receive_only(10)),
        ("takeover", "15/15", "8", pair(15, 15, False, 8)),
        ("takeover", "15/15", "5", pair(15, 15, False, 5)),
        ("takeover", "12/12", "5", pair(12, 12, False, 5)),
        ("takeover", "10/10", "5", pair(10, 10, False, 5)),
        ("takeover", "9/9", "5", pair(9, 9, False, 5)),
        ("no takeover", "15/15", "5", pair(15, 15, True, 5)),
    ]
    for mode, bits, mem_level, make in rows:
        traced, resident = idle_memory(contexts, make)
        print(f"| {mode} | {bits} | {mem_level} | {traced:.1f} | {resident:.1f} |")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--messages", type=int, default=5000, help="JSON messages in the feed")
    parser.add_argument("--contexts", type=int, default=1000, help="connections for the memory table")
    parser.add_argument("--repeat", type=int, default=3, help="runs per timing (the best is kept)")
    parser.add_argument("--only", choices=("wire", "small", "memory"), help="one table only")
    args = parser.parse_args()
    messages = json_feed(args.messages)
    if args.only in (None, "wire"):
        wire_table(messages, args.repeat)
    if args.only in (None, "small"):
        small_table(messages, args.repeat)
    if args.only in (None, "memory"):
        memory_table(args.contexts)


if __name__ == "__main__":
    main()
