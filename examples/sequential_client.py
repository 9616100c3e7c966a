"""A sequential request/response client: connect, send, recv, close.

python examples/sequential_client.py                 # against a local echo server
python examples/sequential_client.py ws://host:port  # against your server
"""

from __future__ import annotations

import sys

import geventws


def ask(url: str, questions: list[str]) -> list[str | bytes]:
    """Send each question and wait for its answer."""
    answers = []
    with geventws.connect(url, open_timeout=10) as ws:
        for question in questions:
            ws.send(question)
            answers.append(ws.recv(timeout=5))
        pong = ws.ping()
        if pong.wait(5):
            print(f"ping round trip: {pong.latency * 1000:.2f} ms")
    return answers


def main() -> None:
    if len(sys.argv) > 1:
        url = sys.argv[1]
    else:
        from _local_server import start_echo_server

        url = start_echo_server()
    for answer in ask(url, ["hello", "how are you?", "bye"]):
        print(f"recv: {answer}")


if __name__ == "__main__":
    main()
