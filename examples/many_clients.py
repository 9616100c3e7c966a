"""Many sequential clients in one process, one greenlet each.

    python examples/many_clients.py [--clients 100] [--messages 10] [URL]

Each greenlet runs the plain connect/send/recv script of sequential_client.py;
gevent interleaves them on one thread, with no monkey-patching.
"""

from __future__ import annotations

import argparse
import time

import gevent

import geventws


def client(url: str, n: int, messages: int) -> int:
    """One user's script: connect, ask ``messages`` questions, close."""
    with geventws.connect(url) as ws:
        for i in range(messages):
            ws.send(f"client {n} message {i}")
            assert ws.recv(timeout=10) == f"client {n} message {i}"
    return messages


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url", nargs="?")
    parser.add_argument("--clients", type=int, default=100)
    parser.add_argument("--messages", type=int, default=10)
    args = parser.parse_args()
    url = args.url
    if url is None:
        from _local_server import start_echo_server

        url = start_echo_server()
    started = time.monotonic()
    greenlets = [gevent.spawn(client, url, n, args.messages) for n in range(args.clients)]
    gevent.joinall(greenlets)
    failed = [g.exception for g in greenlets if not g.successful()]
    total = sum(g.value for g in greenlets if g.successful())
    elapsed = time.monotonic() - started
    print(f"{args.clients} clients, {total} round trips in {elapsed:.2f} s, {len(failed)} failed")
    for error in failed[:5]:
        print(f"  {type(error).__name__}: {error}")
    raise SystemExit(1 if failed else 0)


if __name__ == "__main__":
    main()
