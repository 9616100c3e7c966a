"""permessage-deflate (issue 13) through the public API, against real servers.

- Against python-websockets (an independent implementation, started with
  ``--deflate`` and each parameter combination it supports): what was agreed,
  and messages both ways, small, large, incompressible, fragmented by the
  server, many in a row (context takeover), on and off.
- Against scripted raw servers: the answers a client must refuse (a
  :class:`NegotiationError`), and the frames it must fail with 1002, 1007 or
  1009, a decompression bomb among them with its memory measured.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import socket
import ssl
import struct
import zlib
from collections.abc import Iterator
from typing import Any

import gevent
import gevent.socket
import pytest
import websockets

import geventws
from geventws.protocol.extensions import DeflateParams, PerMessageDeflate
from geventws.protocol.writer import OP_PING, OP_TEXT, encode_frame
from geventws.runtime.transport import Transport
from tests.conftest import ServerProcess
from tests.faultproxy import FaultProxy
from tests.support import UNIT, WAIT, Recorder


def rand(n: int, seed: int) -> bytes:
    return random.Random(seed).randbytes(n)


def json_feed(n: int, seed: int = 0) -> list[str]:
    """Market-data-like JSON messages: what compression is for."""
    rng = random.Random(seed)
    return [
        json.dumps({"channel": "trades", "symbol": "BTC-USD", "price": rng.randint(60000, 70000), "seq": i})
        for i in range(n)
    ]


#: Messages that cover the codec's edges: empty, tiny, over one inflate chunk
#: (64 KiB) and one write chunk (256 KiB), incompressible, multi-byte UTF-8.
MESSAGES: list[str | bytes] = [
    "",
    b"",
    "a",
    *json_feed(20),
    "κόσμε 😀 " * 20_000,
    b"\x00" * 2**20,
    rand(300_000, 1),
    ("abc" * 100_000)[:299_999],
]

WEBSOCKETS_MAJOR = int(websockets.__version__.split(".")[0])

#: (client options, server factory arguments, the agreement in the response).
COMBINATIONS = [
    pytest.param({}, {}, "permessage-deflate", id="defaults"),
    pytest.param(
        {"client_max_window_bits": 9, "server_max_window_bits": 9},
        {},
        "permessage-deflate; server_max_window_bits=9; client_max_window_bits=9",
        id="client-limits-both-windows",
    ),
    pytest.param(
        {},
        {"server_max_window_bits": 10, "client_max_window_bits": 11},
        "permessage-deflate; server_max_window_bits=10; client_max_window_bits=11",
        id="server-limits-both-windows",
    ),
    pytest.param(
        {"client_no_context_takeover": True, "server_no_context_takeover": True},
        {},
        "permessage-deflate; server_no_context_takeover; client_no_context_takeover",
        id="client-asks-no-takeover",
    ),
    pytest.param(
        {},
        {"server_no_context_takeover": True, "client_no_context_takeover": True},
        "permessage-deflate; server_no_context_takeover; client_no_context_takeover",
        id="server-asks-no-takeover",
    ),
    pytest.param(
        {"client_no_context_takeover": True, "server_max_window_bits": 12},
        {"client_max_window_bits": 9},
        "permessage-deflate; client_no_context_takeover; server_max_window_bits=12; client_max_window_bits=9",
        id="mixed",
    ),
    pytest.param(
        {"client_max_window_bits": None},
        {"client_max_window_bits": 10},
        "permessage-deflate",
        id="client-window-not-offered",
    ),
    pytest.param(
        {"server_max_window_bits": 8},
        {},
        None,
        id="server-declines-window-8",
        marks=pytest.mark.skipif(
            WEBSOCKETS_MAJOR < 17,
            reason="websockets < 17 (Python 3.10) answers server_max_window_bits=8 with HTTP 500",
        ),
    ),
]


@pytest.fixture
def deflate_server(request: pytest.FixtureRequest) -> Iterator[ServerProcess]:
    server = ServerProcess("--deflate", json.dumps(request.param))
    yield server
    server.stop()


def echo_all(url: str, messages: list[str | bytes], **options: Any) -> geventws.Connection:
    """Send every message and check each echo; returns the closed connection."""
    with geventws.connect(url, ping_interval=None, max_message_size=None, **options) as ws:
        for message in messages:
            ws.send(message)
            assert ws.recv(timeout=WAIT) == message
    return ws


@pytest.mark.parametrize(("options", "deflate_server", "agreed"), COMBINATIONS, indirect=["deflate_server"])
@pytest.mark.parametrize("path", ["/", "/fragment/3"])
def test_messages_round_trip_with_websockets_server(
    deflate_server: ServerProcess, options: dict[str, Any], agreed: str | None, path: str
) -> None:
    ws = echo_all(deflate_server.url(path), MESSAGES, compression="deflate", **options)
    assert ws.response is not None
    assert ws.response.headers.get("Sec-WebSocket-Extensions") == agreed
    assert ws.close_code == 1000


@pytest.mark.parametrize("takeover", [True, False], ids=["takeover", "no-takeover"])
def test_both_directions_are_compressed_on_the_wire(ws_server: ServerProcess, takeover: bool) -> None:
    proxy = FaultProxy(ws_server.port)
    try:
        feed = json_feed(500)
        no_takeover = {"client_no_context_takeover": not takeover, "server_no_context_takeover": not takeover}
        echo_all(proxy.url(), feed, compression="deflate", **no_takeover)
        compressed = dict(proxy.forwarded)
        echo_all(proxy.url(), feed)
        plain = {way: proxy.forwarded[way] - compressed[way] for way in ("up", "down")}
    finally:
        proxy.stop()
    ratio = 0.5 if takeover else 0.95  # measured: 24% and 71% of the raw bytes (see the README)
    for way in ("up", "down"):
        assert compressed[way] < ratio * plain[way], (way, compressed, plain)


def test_compression_over_tls(wss_server: ServerProcess, client_ssl_context: ssl.SSLContext) -> None:
    ws = echo_all(wss_server.url(), MESSAGES[:6], compression="deflate", ssl_context=client_ssl_context)
    assert ws.response is not None and "Sec-WebSocket-Extensions" in ws.response.headers


def test_compression_is_off_by_default(ws_server: ServerProcess) -> None:
    ws = echo_all(ws_server.url(), ["hello"])
    assert ws.response is not None
    assert "Sec-WebSocket-Extensions" not in ws.response.headers


def test_every_attempt_starts_fresh_contexts(ws_server: ServerProcess) -> None:
    """A reconnect negotiates again and compresses with new contexts: the new
    server connection never sees references to the old one's data."""
    feed = json_feed(50)
    recorder = Recorder()
    callbacks = recorder.callbacks(messages=False)
    ws = geventws.connect(ws_server.url(), compression="deflate", ping_interval=None, **callbacks)
    try:
        for attempt in (1, 2):
            assert recorder.wait_for(lambda: recorder.count("open") == attempt)  # noqa: B023
            for message in feed:
                ws.send(message)
                assert ws.recv(timeout=WAIT) == message
            ws.reconnect(0)
    finally:
        ws.close()
    assert recorder.codes() == []


def test_queued_messages_are_compressed_when_flushed(ws_server: ServerProcess) -> None:
    """Sends before the handshake wait uncompressed in the outbox; the flush
    compresses them in order, with the agreed parameters."""
    feed = json_feed(30)
    conn = geventws.Connection(ws_server.url(), compression="deflate", ping_interval=None)
    for message in feed:
        conn.send(message)
    conn.connect()
    try:
        assert [conn.recv(timeout=WAIT) for _ in feed] == feed
        assert conn.response is not None and "Sec-WebSocket-Extensions" in conn.response.headers
    finally:
        conn.close()


def test_option_errors_name_the_option() -> None:
    with pytest.raises(ValueError, match="compression"):
        geventws.Connection("ws://127.0.0.1:1/", compression="gzip")  # type: ignore[typeddict-item]
    with pytest.raises(ValueError, match="server_max_window_bits"):
        geventws.Connection("ws://127.0.0.1:1/", compression="deflate", server_max_window_bits=16)
    with pytest.raises(ValueError, match="zlib"):
        geventws.Connection("ws://127.0.0.1:1/", compression="deflate", client_max_window_bits=8)
    with pytest.raises(ValueError, match="client_no_context_takeover only apply with compression"):
        geventws.Connection("ws://127.0.0.1:1/", client_no_context_takeover=True)


def read_messages(sock: gevent.socket.socket) -> list[str]:
    """Every text message in a client's stream up to EOF, inflated with context
    takeover (zlib, not our code); pings skipped."""
    data = bytearray()
    while chunk := sock.recv(65536):
        data += chunk
    inflater, messages, pos = zlib.decompressobj(-15), [], 0
    while pos < len(data):
        first, length = data[pos], data[pos + 1] & 0x7F
        pos += 2
        if length == 126:
            (length,) = struct.unpack_from("!H", data, pos)
            pos += 2
        key, payload = data[pos : pos + 4], data[pos + 4 : pos + 4 + length]
        pos += 4 + length
        payload = bytes(b ^ key[i % 4] for i, b in enumerate(payload))
        if first & 0x0F == 0x1:
            assert first & 0x40, "sent uncompressed"
            messages.append(inflater.decompress(payload + b"\x00\x00\xff\xff").decode())
    return messages


def test_a_send_interrupted_after_compression_is_still_written() -> None:
    """The compressor's context holds every message it compressed, so the
    server must get each of them or every later one inflates wrongly: a send
    interrupted after its compression, before its first byte could be written
    (the socket full), is finished in the background, not cancelled."""
    client, server = gevent.socket.socketpair()
    client.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
    transport = Transport(client)
    transport.deflate = PerMessageDeflate(DeflateParams(), None)
    messages = [f'{{"channel":"trades","seq":{i},"price":{60000 + i}}}' for i in range(3)]
    transport.send_frame(OP_TEXT, messages[0].encode())
    raw = socket.socket(fileno=os.dup(client.fileno()))  # non-blocking, like gevent's
    empty_ping = encode_frame(OP_PING, b"")
    with contextlib.suppress(BlockingIOError):  # whole small frames until the socket is full
        for _ in range(100_000):
            raw.send(empty_ping)
    raw.detach()
    with pytest.raises(gevent.Timeout), gevent.Timeout(0.1 * UNIT):
        transport.send_frame(OP_TEXT, messages[1].encode())  # compressed, then blocked
    reader = gevent.spawn(read_messages, server)
    transport.send_frame(OP_TEXT, messages[2].encode())
    client.shutdown(socket.SHUT_WR)
    try:
        assert reader.get(timeout=WAIT) == messages
    finally:
        transport.abort()
        server.close()
