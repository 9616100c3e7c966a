"""permessage-deflate failures (issue 13), against scripted raw servers.

The server's extension answer the client must refuse (a :class:`NegotiationError`,
``HANDSHAKE_FAIL``), the frames it must fail with 1002 (RSV1 misplaced or not
agreed), 1007 (bad compressed data) or 1009 (inflated past ``max_message_size``,
a decompression bomb among them, with the memory it took measured), and the
compressed frames it must accept.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import tracemalloc
import zlib
from collections.abc import Callable, Sequence
from typing import Any

import gevent.event
import pytest

import geventws
from geventws import ErrorCode, NegotiationError
from tests.rawserver import BINARY, CLOSE, CONT, PING, PONG, TEXT, Peer, RawServer, code_of, frame
from tests.support import WAIT

RawServerFactory = Callable[..., RawServer]
RSV1 = 4  # frame(rsv=) shifts by 4: RSV1 is the 0x40 bit
DEFLATE = "permessage-deflate"
PROTOCOL = ErrorCode.PROTOCOL_ERROR
TOO_BIG = ErrorCode.MESSAGE_TOO_BIG


def compressed(data: bytes, *, final: bool = True) -> bytes:
    """``data`` as one permessage-deflate message payload (tail stripped)."""
    stream = zlib.compressobj(6, zlib.DEFLATED, -15)
    out = stream.compress(data) + stream.flush(zlib.Z_SYNC_FLUSH)
    return out[:-4] if final else out


def bomb(mebibytes: int) -> bytes:
    """A compressed payload that inflates to ``mebibytes`` MiB of zeros, about
    1 KiB per MiB: after the first MiB, every MiB compresses to the same block."""
    stream = zlib.compressobj(9, zlib.DEFLATED, -15)
    zeros = b"\0" * 2**20
    first = stream.compress(zeros) + stream.flush(zlib.Z_SYNC_FLUSH)
    repeated = stream.compress(zeros) + stream.flush(zlib.Z_SYNC_FLUSH)
    return first + repeated * (mebibytes - 1)


@dataclasses.dataclass
class Outcome:
    messages: list[str | bytes] = dataclasses.field(default_factory=list)
    errors: list[tuple[ErrorCode, str]] = dataclasses.field(default_factory=list)
    close_code: int | None = None  # the client's close frame, as the server read it
    request_extensions: str | None = None


def run(raw_server: RawServerFactory, answer: str | None, script: Sequence[bytes], **options: Any) -> Outcome:
    """Connect with compression offered; the server answers ``answer`` in
    ``Sec-WebSocket-Extensions``, sends ``script``, then reads up to the client's close."""
    out = Outcome()
    done = gevent.event.Event()

    def handler(peer: Peer) -> None:
        try:
            peer.sock.settimeout(WAIT)
            peer.read_request()
            out.request_extensions = peer.headers.get("sec-websocket-extensions")
            peer.accept([("Sec-WebSocket-Extensions", answer)] if answer is not None else [])
            with contextlib.suppress(OSError, EOFError):  # the client may fail mid-script
                for data in script:
                    peer.sock.sendall(data)
                while True:
                    _, opcode, payload = peer.read_frame()
                    if opcode == CLOSE:
                        out.close_code = code_of(payload)
                        peer.send_frame(CLOSE, payload)
                        break
        finally:
            done.set()

    server = raw_server(handler)
    conn = geventws.Connection(
        server.url(),
        compression="deflate",
        ping_interval=None,
        close_timeout=WAIT,
        on_message=lambda c, data: out.messages.append(data),
        on_error=lambda c, code, msg: out.errors.append((code, msg)),
        **options,
    )
    conn.connect()
    try:
        assert done.wait(2 * WAIT), "the server script did not finish"
        if out.close_code == 1000:
            conn.close()
        assert conn.wait_closed(2 * WAIT)
    finally:
        conn.close()
    return out


# -- negotiation ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "answer", "match"),
    [
        ({}, "x-webkit-deflate-frame", "did not offer"),
        ({}, f"{DEFLATE}; foo=1", "unknown"),
        ({}, f"{DEFLATE}; server_max_window_bits=16", "8..15"),
        ({}, f"{DEFLATE}; server_max_window_bits=08", "8..15"),
        ({}, f"{DEFLATE}; server_no_context_takeover; server_no_context_takeover", "repeated"),
        ({}, f"{DEFLATE}, {DEFLATE}", "more than once"),
        ({}, f"{DEFLATE}; client_no_context_takeover=1", "no value"),
        ({"server_no_context_takeover": True}, DEFLATE, "ignored server_no_context_takeover"),
        ({"server_max_window_bits": 10}, f"{DEFLATE}; server_max_window_bits=11", "exceeds"),
        ({"client_max_window_bits": None}, f"{DEFLATE}; client_max_window_bits=10", "did not offer"),
        ({"compression": None}, DEFLATE, "did not offer"),
    ],
)
def test_a_bad_extension_answer_fails_the_handshake(
    raw_server: RawServerFactory, options: dict[str, Any], answer: str, match: str
) -> None:
    def handler(peer: Peer) -> None:
        peer.sock.settimeout(WAIT)
        peer.handshake([("Sec-WebSocket-Extensions", answer)])
        peer.wait_eof(WAIT)

    server = raw_server(handler)
    with pytest.raises(NegotiationError, match=match) as info:
        geventws.connect(server.url(), **{"compression": "deflate", **options})
    assert info.value.status == 101
    assert info.value.headers["Sec-WebSocket-Extensions"] == answer


def test_the_offer_is_sent_as_configured(raw_server: RawServerFactory) -> None:
    options = {"client_max_window_bits": 10, "server_max_window_bits": 9, "client_no_context_takeover": True}
    out = run(raw_server, None, [frame(CLOSE, b"\x03\xe8")], **options)
    assert out.request_extensions == (
        "permessage-deflate; client_no_context_takeover; server_max_window_bits=9; client_max_window_bits=10"
    )
    assert out.errors == []


# -- frames -----------------------------------------------------------------------------------------


def test_compressed_frames_are_accepted(raw_server: RawServerFactory) -> None:
    stream = zlib.compressobj(6, zlib.DEFLATED, -15)  # one message in three frames
    parts = [stream.compress(b"compressed ") + stream.flush(zlib.Z_SYNC_FLUSH) for _ in range(2)]
    parts.append((stream.compress(b"end") + stream.flush(zlib.Z_SYNC_FLUSH))[:-4])
    script = [
        frame(TEXT, compressed("κόσμε".encode()), rsv=RSV1),
        frame(BINARY, b"sent plain"),  # RFC 7692: a message may go uncompressed
        frame(TEXT, parts[0], rsv=RSV1, fin=False),
        frame(PING, b"between fragments"),
        frame(CONT, parts[1], fin=False),
        frame(CONT, parts[2]),
        frame(BINARY, compressed(b""), rsv=RSV1),
        frame(BINARY, b"\x00", rsv=RSV1),  # an empty message as a final empty block
        frame(CLOSE, b"\x03\xe8"),
    ]
    out = run(raw_server, DEFLATE, script)
    assert out.errors == []
    assert out.messages == ["κόσμε", b"sent plain", "compressed compressed end", b"", b""]


@pytest.mark.parametrize(
    ("answer", "script", "close_code", "error"),
    [
        pytest.param(None, [frame(TEXT, compressed(b"x"), rsv=RSV1)], 1002, PROTOCOL, id="rsv1-not-agreed"),
        pytest.param(DEFLATE, [frame(PING, b"x", rsv=RSV1)], 1002, PROTOCOL, id="rsv1-on-ping"),
        pytest.param(DEFLATE, [frame(PONG, b"x", rsv=RSV1)], 1002, PROTOCOL, id="rsv1-on-pong"),
        pytest.param(DEFLATE, [frame(CLOSE, b"\x03\xe8", rsv=RSV1)], 1002, PROTOCOL, id="rsv1-on-close"),
        pytest.param(
            DEFLATE,
            [frame(TEXT, compressed(b"a", final=False), rsv=RSV1, fin=False), frame(CONT, b"", rsv=RSV1)],
            1002,
            PROTOCOL,
            id="rsv1-on-continuation",
        ),
        pytest.param(DEFLATE, [frame(TEXT, b"x", rsv=2)], 1002, PROTOCOL, id="rsv2"),
        pytest.param(DEFLATE, [frame(BINARY, b"\xff\xff\xff\xff", rsv=RSV1)], 1007, PROTOCOL, id="bad-data"),
        pytest.param(
            DEFLATE,
            [frame(BINARY, zlib.compress(b"x")[2:-4] + b"\x03\x00trailing", rsv=RSV1)],
            1007,
            PROTOCOL,
            id="data-after-final-block",
        ),
        pytest.param(
            DEFLATE, [frame(TEXT, compressed(b"\xff\xfe"), rsv=RSV1)], 1007, PROTOCOL, id="bad-utf8"
        ),
        pytest.param(
            DEFLATE, [frame(TEXT, compressed(b"y" * 2000), rsv=RSV1)], 1009, TOO_BIG, id="too-big-inflated"
        ),
    ],
)
def test_bad_frames_fail_the_connection(
    raw_server: RawServerFactory, answer: str | None, script: list[bytes], close_code: int, error: ErrorCode
) -> None:
    out = run(raw_server, answer, script, max_message_size=1000)
    assert out.close_code == close_code
    assert [code for code, _ in out.errors] == [error]
    assert out.messages == []


@pytest.mark.parametrize("opcode", [TEXT, BINARY])
def test_a_decompression_bomb_fails_with_1009_in_bounded_memory(
    raw_server: RawServerFactory, opcode: int
) -> None:
    """1 MiB on the wire that inflates to 1 GiB, max_message_size 1 MiB: 1009, and
    the whole process (client and server) peaks at a few MiB, not 1 GiB."""
    limit = 2**20
    data = frame(opcode, bomb(1024), rsv=RSV1)
    assert len(data) < 1.1 * limit
    tracemalloc.start()
    try:
        out = run(raw_server, DEFLATE, [data], max_message_size=limit)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    print(f"bomb of {len(data)} bytes (1 GiB inflated), limit {limit}: peak {peak / 2**20:.2f} MiB")
    assert out.close_code == 1009
    assert [code for code, _ in out.errors] == [ErrorCode.MESSAGE_TOO_BIG]
    assert peak < 4 * limit


# -- the agreed window ------------------------------------------------------------------------------


def repeat_at(distance: int) -> bytes:
    """Random bytes whose only redundancy is a 240-byte block repeated ``distance``
    bytes later: deflate can shrink it only with a back-reference that far."""
    block = os.urandom(240)
    return os.urandom(300) + block + os.urandom(distance - len(block)) + block


def deflate_with(window_bits: int, data: bytes) -> bytes:
    """``data`` compressed with a ``window_bits`` window, as one message (tail stripped)."""
    stream = zlib.compressobj(6, zlib.DEFLATED, -window_bits)
    return (stream.compress(data) + stream.flush(zlib.Z_SYNC_FLUSH))[:-4]


def test_a_server_beyond_the_agreed_window_fails_with_1007(raw_server: RawServerFactory) -> None:
    """server_max_window_bits=9 agreed: a message compressed within 512 bytes is
    delivered; one that refers 2 KiB back (a 15-bit window) fails the connection.
    Both frames are small enough to arrive in one read: zlib alone rejects a
    reference that spans two reads, but not one inflated in a single call."""
    within, beyond = repeat_at(250), repeat_at(2048)  # zlib reaches 250 bytes back with 9 bits
    payloads = [deflate_with(9, within), deflate_with(15, beyond)]
    assert len(payloads[0]) < len(within) - 100 and len(payloads[1]) < len(beyond) - 100  # references used
    script = [frame(BINARY, payload, rsv=RSV1) for payload in payloads]
    answer = f"{DEFLATE}; server_max_window_bits=9"
    out = run(raw_server, answer, script, server_max_window_bits=9)
    assert out.request_extensions is not None and "server_max_window_bits=9" in out.request_extensions
    assert out.messages == [within]
    assert [code for code, _ in out.errors] == [PROTOCOL]
    assert "too far back" in out.errors[0][1]
    assert out.close_code == 1007
