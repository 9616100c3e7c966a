"""Issue 4: RFC 6455 conformance, table-driven, against scripted raw servers.

Every case runs a real :class:`geventws.Connection` against a raw-socket server
on loopback (tests/rawserver.py) that sends hand-crafted bytes after the
handshake and then reads exactly what the client answers. Nothing is mocked.
Waits are on gevent events with timeouts; the only bounded negative waits are
where a test asserts that something does NOT happen.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import logging
import random
import socket
import struct
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import gevent
import gevent.event
import pytest

import geventws
from geventws import ErrorCode
from geventws.protocol.handshake import Response, redirect_target
from geventws.protocol.headers import Headers
from geventws.protocol.options import DEFAULT_MAX_MESSAGE_SIZE
from geventws.protocol.uri import parse_uri
from tests.rawserver import BINARY, CLOSE, CONT, PING, PONG, TEXT, Peer, RawServer, code_of, frame
from tests.support import UNIT

RawServerFactory = Callable[..., RawServer]

#: Upper bound for anything that should happen "at once" (only reached on failure).
WAIT = 3 * UNIT

PROTOCOL = ErrorCode.PROTOCOL_ERROR
TOO_BIG = ErrorCode.MESSAGE_TOO_BIG


# -- helpers -------------------------------------------------------------------------------


def close_body(code: int, reason: bytes = b"") -> bytes:
    return struct.pack("!H", code) + reason


CLOSE_1000 = frame(CLOSE, close_body(1000))


def message(opcode: int, parts: Sequence[bytes], *, last_fin: bool = True) -> list[bytes]:
    """The frames of one message split into ``parts`` (one frame per part)."""
    frames = []
    for i, part in enumerate(parts):
        fin = last_fin and i == len(parts) - 1
        frames.append(frame(opcode if i == 0 else CONT, part, fin=fin))
    return frames


def ascii_text(n: int) -> bytes:
    return (b"abcdefghijklmnopqrstuvwxyz0123456789" * (n // 36 + 1))[:n]


def rand(n: int, seed: int = 0) -> bytes:
    return random.Random(seed * 1000 + n).randbytes(n)


def drain(peer: Peer, timeout: float = WAIT) -> tuple[bool, bytes]:
    """Read until the client closes TCP: (whether it did within ``timeout``, bytes it sent).

    A reset counts as closed: the client may close with our unread bytes in its buffer.
    """
    data = peer.buffer
    peer.buffer = b""
    peer.sock.settimeout(timeout)
    try:
        while chunk := peer.sock.recv(65536):
            data += chunk
    except ConnectionResetError:
        pass
    except OSError:
        return False, data
    return True, data


def shut_write(peer: Peer) -> None:
    """Close the server's side of TCP (first, as RFC 6455 §7.1.1 wants)."""
    with contextlib.suppress(OSError):
        peer.sock.shutdown(socket.SHUT_WR)


class Trickle(bytes):
    """Script step: bytes the server sends one at a time, each in its own TCP segment."""


class Expect(NamedTuple):
    """Script step: the server reads one client frame now and checks it."""

    opcode: int
    payload: bytes


@dataclass
class Outcome:
    """What both sides saw during one scripted case."""

    conn: geventws.Connection | None = None
    messages: list[str | bytes] = field(default_factory=list)
    errors: list[tuple[int, str]] = field(default_factory=list)
    closes: int = 0
    pongs: list[bytes] = field(default_factory=list)
    #: Frames the server read after its script ran, up to the client's close.
    client_frames: list[tuple[int, bytes]] = field(default_factory=list)
    #: len(messages) when each Expect step's frame arrived at the server.
    messages_at_expect: list[int] = field(default_factory=list)
    #: Bytes the client sent after its close frame (must be none).
    after_close: bytes = b""
    eof: bool = False

    @property
    def client_close(self) -> int | None:
        """The code of the client's close frame (1005: empty body); None: no close frame."""
        closes = [payload for opcode, payload in self.client_frames if opcode == CLOSE]
        return code_of(closes[-1]) if closes else None

    @property
    def error_codes(self) -> list[int]:
        return [code for code, _ in self.errors]


def run_case(raw_server: RawServerFactory, script: Sequence[bytes | Expect], **options: Any) -> Outcome:
    """Connect, let the server play ``script`` and read the client's answer up to its close.

    The server then closes TCP first (RFC 6455 §7.1.1) and checks that the client
    closes too. Returns once the connection is finished.
    """
    out = Outcome()
    done = gevent.event.Event()

    def handler(peer: Peer) -> None:
        try:
            peer.sock.settimeout(WAIT)
            peer.handshake()
            for step in script:
                if isinstance(step, Expect):
                    _, opcode, payload = peer.read_frame()
                    out.messages_at_expect.append(len(out.messages))
                    assert (opcode, payload) == (step.opcode, step.payload)
                elif isinstance(step, Trickle):
                    peer.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                    for i in range(len(step)):
                        peer.sock.sendall(step[i : i + 1])
                        gevent.sleep(0)
                else:
                    peer.sock.sendall(step)
            while True:
                _, opcode, payload = peer.read_frame()
                out.client_frames.append((opcode, payload))
                if opcode == CLOSE:
                    break
            shut_write(peer)
            out.eof, out.after_close = drain(peer)
        finally:
            done.set()

    server = raw_server(handler)
    closed = gevent.event.Event()

    def on_close(conn: geventws.Connection) -> None:
        out.closes += 1
        closed.set()

    options = {"ping_interval": None, "close_timeout": WAIT, **options}
    conn = out.conn = geventws.Connection(
        server.url(),
        on_message=lambda c, data: out.messages.append(data),
        on_error=lambda c, code, msg: out.errors.append((code, msg)),
        on_pong=lambda c, data: out.pongs.append(data),
        on_close=on_close,
        **options,
    )
    conn.connect()
    try:
        assert closed.wait(2 * WAIT), "on_close never ran"
        assert done.wait(WAIT), "the server script did not finish"
        assert conn.wait_closed(WAIT)
    finally:
        conn.close()
    return out


def assert_clean(out: Outcome, messages: Sequence[str | bytes]) -> None:
    """The messages arrived whole and the server's close 1000 was echoed."""
    assert out.messages == list(messages)
    assert out.errors == []
    assert out.client_close == 1000
    assert out.after_close == b""
    assert out.eof, "the client did not close TCP"
    assert out.closes == 1
    assert out.conn is not None and out.conn.close_code == 1000


def assert_failed(out: Outcome, close_code: int, error: ErrorCode, messages: Sequence[Any] = ()) -> None:
    """The client failed the connection with ``close_code`` and reported it once."""
    assert out.client_close == close_code, f"client sent {out.client_frames}"
    assert out.error_codes == [error], out.errors
    assert out.closes == 1
    assert out.conn is not None and out.conn.close_code == close_code
    assert out.after_close == b""
    assert out.eof, "the client did not close TCP"
    assert out.messages == list(messages)


# -- framing: messages arrive exactly ---------------------------------------------------------

SIZES = [0, 125, 126, 65535, 65536, 2**20]


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("opcode", [TEXT, BINARY], ids=["text", "binary"])
def test_message_sizes_arrive_exactly(raw_server: RawServerFactory, opcode: int, size: int) -> None:
    payload = ascii_text(size) if opcode == TEXT else rand(size)
    out = run_case(raw_server, [frame(opcode, payload), CLOSE_1000])
    expected = payload.decode() if opcode == TEXT else payload
    assert_clean(out, [expected])
    assert type(out.messages[0]) is type(expected)


FRAGMENTED = [
    pytest.param(TEXT, [b"Hello, ", b"world"], id="text-2"),
    pytest.param(TEXT, [b"a", b"b", b"c"], id="text-3"),
    pytest.param(TEXT, [ascii_text(i + 1) for i in range(10)], id="text-10"),
    pytest.param(TEXT, [b"x"] * 200, id="text-200"),
    pytest.param(TEXT, [b"", b"abc"], id="text-empty-first"),
    pytest.param(TEXT, [b"ab", b"", b"", b"cd"], id="text-empty-middle"),
    pytest.param(TEXT, [b"abc", b""], id="text-empty-last"),
    pytest.param(TEXT, [b"", b"", b""], id="text-all-empty"),
    pytest.param(TEXT, [b"\xc3", b"\xa9t\xc3", b"\xa9"], id="text-utf8-2byte-split"),
    pytest.param(TEXT, [b"\xe2\x82", b"\xac"], id="text-utf8-3byte-split"),
    pytest.param(TEXT, [b"\xf0", b"\x9f", b"\x98", b"\x80"], id="text-utf8-4byte-every-byte"),
    pytest.param(TEXT, [b"\xf0\x9f", b"", b"\x98\x80"], id="text-utf8-split-around-empty"),
    pytest.param(TEXT, [ascii_text(70000), ascii_text(126)], id="text-long-fragments"),
    pytest.param(BINARY, [b"\x00\x01", b"\xff"], id="binary-2"),
    pytest.param(BINARY, [bytes([i]) * i for i in range(50)], id="binary-50"),
    pytest.param(BINARY, [b"", b""], id="binary-all-empty"),
    pytest.param(BINARY, [b"\xff", b""], id="binary-empty-last"),
    pytest.param(BINARY, [rand(65536, 1), rand(125, 2), rand(65535, 3)], id="binary-long-fragments"),
]


@pytest.mark.parametrize(("opcode", "parts"), FRAGMENTED)
def test_fragmented_messages_are_reassembled(
    raw_server: RawServerFactory, opcode: int, parts: list[bytes]
) -> None:
    out = run_case(raw_server, [*message(opcode, parts), CLOSE_1000])
    whole = b"".join(parts)
    assert_clean(out, [whole.decode() if opcode == TEXT else whole])


INTERLEAVED = [
    pytest.param(
        [frame(TEXT, b"Hel", fin=False), frame(PING, b"mid"), Expect(PONG, b"mid"), frame(CONT, b"lo")],
        "Hello",
        [],
        id="ping-between-2-fragments",
    ),
    pytest.param(
        [
            frame(BINARY, b"1", fin=False),
            frame(PING, b"p1"),
            Expect(PONG, b"p1"),
            frame(CONT, b"2", fin=False),
            frame(PING, b"p2"),
            Expect(PONG, b"p2"),
            frame(CONT, b"3", fin=False),
            frame(PING, b""),
            Expect(PONG, b""),
            frame(CONT, b"4"),
        ],
        b"1234",
        [],
        id="ping-between-every-fragment",
    ),
    pytest.param(
        [
            frame(TEXT, b"a", fin=False),
            frame(PING, rand(125, 7)),
            Expect(PONG, rand(125, 7)),
            frame(CONT, b"b"),
        ],
        "ab",
        [],
        id="ping-125-bytes-mid-message",
    ),
    pytest.param(
        [
            frame(TEXT, b"\xe2", fin=False),
            frame(PING, b"\xe2"),
            Expect(PONG, b"\xe2"),
            frame(CONT, b"\x82\xac"),
        ],
        "€",
        [],
        id="ping-inside-a-split-utf8-sequence",
    ),
    pytest.param(
        [frame(TEXT, b"", fin=False), frame(PING, b"x"), Expect(PONG, b"x"), frame(CONT, b"")],
        "",
        [],
        id="ping-between-empty-fragments",
    ),
    pytest.param(
        [frame(BINARY, b"a", fin=False), frame(PONG, b"unsolicited"), frame(CONT, b"b")],
        b"ab",
        [b"unsolicited"],
        id="pong-between-fragments",
    ),
    pytest.param(
        [
            frame(TEXT, b"a", fin=False),
            frame(PONG, b"1"),
            frame(PING, b"2"),
            Expect(PONG, b"2"),
            frame(PONG, b"3"),
            frame(CONT, b"b"),
        ],
        "ab",
        [b"1", b"3"],
        id="pong-ping-pong-between-fragments",
    ),
]


@pytest.mark.parametrize(("script", "expected", "pongs"), INTERLEAVED)
def test_control_frames_between_fragments_are_handled_at_once(
    raw_server: RawServerFactory, script: list[bytes | Expect], expected: str | bytes, pongs: list[bytes]
) -> None:
    """The server does not send the rest of the message before it got the pong."""
    out = run_case(raw_server, [*script, CLOSE_1000])
    assert_clean(out, [expected])
    assert out.pongs == pongs
    assert out.messages_at_expect == [0] * len(out.messages_at_expect)


TRICKLED = [
    pytest.param(
        [Trickle(frame(TEXT, ascii_text(200)))], [ascii_text(200).decode()], id="text-200-16bit-length"
    ),
    pytest.param(
        [Trickle(frame(BINARY, rand(70000))[:10]), frame(BINARY, rand(70000))[10:]],
        [rand(70000)],
        id="binary-64bit-length-header",
    ),
    pytest.param(
        [
            Trickle(b"".join(message(TEXT, [b"\xe2", b"\x82"], last_fin=False))),
            Trickle(frame(PING, b"tick")),
            Expect(PONG, b"tick"),
            Trickle(frame(CONT, b"\xac!")),
        ],
        ["€!"],
        id="fragments-and-ping",
    ),
    pytest.param([Trickle(frame(TEXT, b"a") + frame(BINARY, b"b"))], ["a", b"b"], id="two-messages"),
]


@pytest.mark.parametrize(("script", "expected"), TRICKLED)
def test_frames_split_across_tcp_segments(
    raw_server: RawServerFactory, script: list[bytes | Expect], expected: list[str | bytes]
) -> None:
    out = run_case(raw_server, [*script, Trickle(CLOSE_1000)])
    assert_clean(out, expected)


def test_close_between_fragments_is_answered_at_once(raw_server: RawServerFactory) -> None:
    out = run_case(raw_server, [frame(TEXT, b"half", fin=False), frame(CLOSE, close_body(1001, b"bye"))])
    assert out.client_close == 1001
    assert out.messages == []
    assert out.errors == []
    assert out.closes == 1
    assert out.eof
    assert out.conn is not None
    assert (out.conn.close_code, out.conn.close_reason) == (1001, "bye")


PING_PAYLOADS = [
    *[pytest.param(rand(n, 5), id=f"random-{n}") for n in (0, 1, 2, 3, 4, 5, 8, 16, 31, 64, 100, 124, 125)],
    pytest.param(b"\x00" * 125, id="zeros-125"),
    pytest.param(b"\xff" * 125, id="ff-125"),
    pytest.param(bytes(range(125)), id="range-125"),
    pytest.param(b"\xed\xa0\x80\xc0\x80", id="invalid-utf8"),
    pytest.param(b"\x88\x02\x03\xe8", id="looks-like-a-close-frame"),
]


@pytest.mark.parametrize("payload", PING_PAYLOADS)
def test_ping_payload_is_echoed_byte_for_byte(raw_server: RawServerFactory, payload: bytes) -> None:
    out = run_case(raw_server, [frame(PING, payload), Expect(PONG, payload), CLOSE_1000])
    assert_clean(out, [])


@pytest.mark.parametrize("payload", [b"", b"\x00", rand(125, 9)], ids=["0", "1", "125"])
def test_ping_payload_mid_message_is_echoed_byte_for_byte(
    raw_server: RawServerFactory, payload: bytes
) -> None:
    script = [frame(BINARY, b"x", fin=False), frame(PING, payload), Expect(PONG, payload), frame(CONT, b"y")]
    out = run_case(raw_server, [*script, CLOSE_1000])
    assert_clean(out, [b"xy"])
    assert out.messages_at_expect == [0]


@pytest.mark.parametrize(
    "text",
    ["\uffff", "\ufffe", "\U0010ffff", "\x00", "\U0001f600 κόσμε", "\ud7ff\ue000"],
    ids=["U+FFFF", "U+FFFE", "U+10FFFF", "NUL", "emoji-greek", "around-surrogates"],
)
def test_valid_utf8_edge_cases_are_accepted(raw_server: RawServerFactory, text: str) -> None:
    encoded = text.encode()
    out = run_case(raw_server, [frame(TEXT, encoded), *message(TEXT, [encoded[:1], encoded[1:]]), CLOSE_1000])
    assert_clean(out, [text, text])


# -- failures: the client's close code ------------------------------------------------------------


def fail(id: str, script: Sequence[bytes], code: int, error: ErrorCode = PROTOCOL, **options: Any) -> Any:
    return pytest.param(list(script), code, error, options, id=id)


def text_then(f: bytes) -> list[bytes]:
    return [frame(TEXT, b"a", fin=False), f]


RESERVED_BITS = [
    fail(f"rsv{rsv}-{name}", script, 1002)
    for rsv in (1, 2, 4)
    for name, script in [
        ("text", [frame(TEXT, b"x", rsv=rsv)]),
        ("binary", [frame(BINARY, b"x", rsv=rsv)]),
        ("ping", [frame(PING, b"x", rsv=rsv)]),
        ("close", [frame(CLOSE, close_body(1000), rsv=rsv)]),
        ("continuation", text_then(frame(CONT, b"b", rsv=rsv))),
    ]
]

UNKNOWN_OPCODES = [
    *[fail(f"opcode-{op:#x}", [frame(op, b"x")], 1002) for op in (3, 4, 5, 6, 7, 0xB, 0xC, 0xD, 0xE, 0xF)],
    fail("opcode-0x3-mid-message", text_then(frame(3, b"")), 1002),
    fail("opcode-0xb-mid-message", text_then(frame(0xB, b"")), 1002),
]

MASKED = [
    fail(f"masked-{name}", [frame(op, payload, mask=True)], 1002)
    for name, op, payload in [
        ("text", TEXT, b"hi"),
        ("binary", BINARY, b"\x00"),
        ("ping", PING, b"p"),
        ("pong", PONG, b"p"),
        ("close", CLOSE, close_body(1000)),
    ]
]

BAD_CONTROL = [
    fail("ping-126-bytes", [frame(PING, b"x" * 126)], 1002),
    fail("pong-126-bytes", [frame(PONG, b"x" * 126)], 1002),
    fail("close-126-bytes", [frame(CLOSE, close_body(1000, b"r" * 124))], 1002),
    fail("ping-65536-bytes-64bit-length", [frame(PING, b"x" * 65536)], 1002),
    fail("ping-fragmented", [frame(PING, b"x", fin=False)], 1002),
    fail("pong-fragmented", [frame(PONG, b"x", fin=False)], 1002),
    fail("close-fragmented", [frame(CLOSE, close_body(1000), fin=False)], 1002),
    fail("ping-fragmented-mid-message", text_then(frame(PING, b"x", fin=False)), 1002),
]

BAD_SEQUENCE = [
    fail("continuation-first-fin", [frame(CONT, b"x")], 1002),
    fail("continuation-first-not-fin", [frame(CONT, b"x", fin=False)], 1002),
    fail("continuation-empty", [frame(CONT, b"")], 1002),
    fail("text-in-progress-then-text", text_then(frame(TEXT, b"b")), 1002),
    fail("text-in-progress-then-binary", text_then(frame(BINARY, b"b")), 1002),
    fail("text-in-progress-then-text-not-fin", text_then(frame(TEXT, b"b", fin=False)), 1002),
    fail("binary-in-progress-then-text", [frame(BINARY, b"a", fin=False), frame(TEXT, b"b")], 1002),
    fail("binary-in-progress-then-binary", [frame(BINARY, b"a", fin=False), frame(BINARY, b"b")], 1002),
]

BAD_LENGTH = [
    fail("text-length-2**63", [frame(TEXT, length=2**63)], 1002),
    fail("binary-length-2**64-1", [frame(BINARY, length=2**64 - 1)], 1002),
    fail("continuation-length-2**63", text_then(frame(CONT, length=2**63)), 1002),
    fail("binary-length-msb-no-limit", [frame(BINARY, length=2**63 + 5)], 1002, max_message_size=None),
]

INVALID_UTF8 = {
    "ff": b"\xff",
    "fe": b"\xfe",
    "lone-continuation": b"\x80",
    "overlong-nul": b"\xc0\x80",
    "overlong-c1": b"\xc1\xbf",
    "overlong-3byte-slash": b"\xe0\x80\xaf",
    "surrogate-d800": b"\xed\xa0\x80",
    "surrogate-dfff": b"\xed\xbf\xbf",
    "above-10ffff": b"\xf4\x90\x80\x80",
    "5-byte-form": b"\xf8\x88\x80\x80\x80",
    "truncated-2byte": b"\xce",
    "truncated-at-end": b"Hello\xe2\x82",
    "autobahn-6.4.1": b"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80edited",
}

UTF8 = [
    *[fail(f"text-{name}", [frame(TEXT, data)], 1007) for name, data in INVALID_UTF8.items()],
    # Invalid in a fragment that is not the last: failed at once, the rest never comes.
    fail("fragment-1-invalid-fail-fast", message(TEXT, [b"ok\xff"], last_fin=False), 1007),
    fail("fragment-2-completes-surrogate", message(TEXT, [b"\xed", b"\xa0\x80"], last_fin=False), 1007),
    fail(
        "fragment-2-completes-above-10ffff", message(TEXT, [b"\xf4", b"\x90\x80\x80"], last_fin=False), 1007
    ),
    fail("fragment-2-completes-overlong", message(TEXT, [b"\xe0", b"\x80\xaf"], last_fin=False), 1007),
    fail(
        "fragment-3-invalid",
        message(
            TEXT, [b"\xce\xba", b"\xe1\xbd", b"\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80"], last_fin=False
        ),
        1007,
    ),
    fail("final-fragment-invalid", message(TEXT, [b"abc", b"\xff"]), 1007),
    fail("truncated-before-empty-final", message(TEXT, [b"abc\xe2\x82", b""]), 1007),
    fail("truncated-in-final", message(TEXT, [b"abc", b"\xe2"]), 1007),
    # Close reasons must be UTF-8 too.
    *[
        fail(f"close-reason-{name}", [frame(CLOSE, close_body(1000, reason))], 1007)
        for name, reason in [
            ("ff", b"\xff"),
            ("surrogate", b"\xed\xa0\x80"),
            ("truncated", b"ok\xce"),
            ("overlong", b"\xc0\x80"),
        ]
    ],
]

BAD_CLOSE = [
    *[fail(f"close-1-byte-{b:#x}", [frame(CLOSE, bytes([b]))], 1002) for b in (0x00, 0x03, 0xE8)],
    *[
        fail(f"close-code-{code}", [frame(CLOSE, close_body(code))], 1002)
        for code in (0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535)
    ],
]

LIMIT = {"max_message_size": 1000}

TOO_BIG_CASES = [
    fail("text-1001-one-frame", [frame(TEXT, ascii_text(1001))], 1009, TOO_BIG, **LIMIT),
    fail("binary-1001-one-frame", [frame(BINARY, rand(1001))], 1009, TOO_BIG, **LIMIT),
    fail("binary-65536-one-frame", [frame(BINARY, rand(65536))], 1009, TOO_BIG, **LIMIT),
    fail("binary-600+600", message(BINARY, [rand(600), rand(600)]), 1009, TOO_BIG, **LIMIT),
    fail("text-1000+1", message(TEXT, [ascii_text(1000), b"x"]), 1009, TOO_BIG, **LIMIT),
    fail("text-11x100", message(TEXT, [ascii_text(100)] * 11), 1009, TOO_BIG, **LIMIT),
    # Only a header: the client must refuse at once, not wait for (or buffer) the payload.
    fail("header-2**40-no-payload", [frame(BINARY, length=2**40)], 1009, TOO_BIG, **LIMIT),
    fail("header-2**63-1-no-payload", [frame(TEXT, length=2**63 - 1)], 1009, TOO_BIG, **LIMIT),
    fail("continuation-header-2**40", text_then(frame(CONT, length=2**40)), 1009, TOO_BIG, **LIMIT),
    fail("header-1001-no-payload", [frame(BINARY, length=1001)], 1009, TOO_BIG, **LIMIT),
    fail("default-limit-header-only", [frame(BINARY, length=DEFAULT_MAX_MESSAGE_SIZE + 1)], 1009, TOO_BIG),
]


@pytest.mark.parametrize(
    ("script", "code", "error", "options"),
    [
        *RESERVED_BITS,
        *UNKNOWN_OPCODES,
        *MASKED,
        *BAD_CONTROL,
        *BAD_SEQUENCE,
        *BAD_LENGTH,
        *UTF8,
        *BAD_CLOSE,
        *TOO_BIG_CASES,
    ],
)
def test_server_violation_fails_the_connection(
    raw_server: RawServerFactory,
    script: list[bytes],
    code: int,
    error: ErrorCode,
    options: dict[str, Any],
) -> None:
    out = run_case(raw_server, script, **options)
    assert_failed(out, code, error)
    assert out.conn is not None
    assert isinstance(out.conn.last_error, geventws.ProtocolError)
    assert out.conn.last_error.close_code == code


def test_violation_after_a_complete_message_keeps_the_message(raw_server: RawServerFactory) -> None:
    out = run_case(raw_server, [frame(TEXT, b"first"), frame(CONT, b"orphan")])
    assert_failed(out, 1002, PROTOCOL, ["first"])


@pytest.mark.parametrize(
    ("script", "code", "cls"),
    [
        ([frame(3, b"x")], 1002, geventws.ProtocolError),
        ([frame(TEXT, b"ok"), frame(TEXT, b"\xff")], 1007, geventws.ProtocolError),
        ([frame(BINARY, length=2**40)], 1009, geventws.MessageTooBig),
        ([], 1006, geventws.PingTimeout),
    ],
    ids=["protocol-error", "invalid-utf8", "too-big", "ping-timeout"],
)
def test_sequential_api_raises_once_with_the_close_code(
    raw_server: RawServerFactory, script: list[bytes], code: int, cls: type[Exception]
) -> None:
    sent: list[int | None] = []
    done = gevent.event.Event()

    def handler(peer: Peer) -> None:
        try:
            peer.sock.settimeout(WAIT)
            peer.handshake()
            peer.sock.sendall(b"".join(script))
            frames = []
            with contextlib.suppress(EOFError):
                while not frames or frames[-1][0] != CLOSE:
                    frames.append(peer.read_frame()[1:])
            sent.extend(code_of(p) for op, p in frames if op == CLOSE)
            shut_write(peer)
            drain(peer)
        finally:
            done.set()

    server = raw_server(handler)
    pings = {"ping_interval": 0.05 * UNIT, "ping_timeout": 0.05 * UNIT} if code == 1006 else {}
    ws = geventws.connect(server.url(), max_message_size=1000, **{"ping_interval": None, **pings})
    try:
        received = []
        with pytest.raises(geventws.ConnectionClosedError) as info:
            for data in ws:
                received.append(data)
    finally:
        ws.close()
    assert received == (["ok"] if code == 1007 else [])
    assert info.value.code == code
    assert ws.close_code == code
    assert isinstance(ws.last_error, cls)
    assert done.wait(WAIT)
    assert sent == ([] if code == 1006 else [code])


@pytest.mark.parametrize(
    ("parts", "opcode"),
    [([ascii_text(1000)], TEXT), ([rand(500), rand(500)], BINARY), ([b""] * 3 + [rand(1000)], BINARY)],
    ids=["text-1000-one-frame", "binary-500+500", "binary-empties+1000"],
)
def test_message_of_exactly_max_message_size_is_accepted(
    raw_server: RawServerFactory, parts: list[bytes], opcode: int
) -> None:
    out = run_case(raw_server, [*message(opcode, parts), CLOSE_1000], max_message_size=1000)
    whole = b"".join(parts)
    assert_clean(out, [whole.decode() if opcode == TEXT else whole])


def test_max_message_size_none_lifts_the_limit(raw_server: RawServerFactory) -> None:
    payload = rand(DEFAULT_MAX_MESSAGE_SIZE + 1)
    out = run_case(raw_server, [frame(BINARY, payload), CLOSE_1000], max_message_size=None)
    assert_clean(out, [payload])


# -- close codes from the server ------------------------------------------------------------------

VALID_CLOSE_CODES = [1000, 1001, 1002, 1003, *range(1007, 1015), 3000, 3999, 4000, 4999]


@pytest.mark.parametrize("code", VALID_CLOSE_CODES)
def test_valid_close_code_is_echoed_and_reported(raw_server: RawServerFactory, code: int) -> None:
    out = run_case(raw_server, [frame(CLOSE, close_body(code, b"why \xc3\xa9"))])
    assert out.client_close == code
    assert out.errors == []
    assert out.closes == 1
    assert out.eof
    assert out.conn is not None
    assert (out.conn.close_code, out.conn.close_reason) == (code, "why é")


@pytest.mark.parametrize("reason", ["r" * 123, "é" * 61 + "r"], ids=["ascii-123", "utf8-123"])
def test_close_reason_of_123_bytes_is_accepted_and_echoed(raw_server: RawServerFactory, reason: str) -> None:
    out = run_case(raw_server, [frame(CLOSE, close_body(4000, reason.encode()))])
    assert out.client_frames[-1] == (CLOSE, close_body(4000, reason.encode()))
    assert out.errors == []
    assert out.conn is not None
    assert (out.conn.close_code, out.conn.close_reason) == (4000, reason)


def test_empty_close_is_answered_and_reported_as_1005(raw_server: RawServerFactory) -> None:
    out = run_case(raw_server, [frame(CLOSE, b"")])
    assert out.client_frames[-1] == (CLOSE, b"")
    assert out.errors == []
    assert out.closes == 1
    assert out.eof
    assert out.conn is not None
    assert (out.conn.close_code, out.conn.close_reason) == (1005, "")


# -- handshake -------------------------------------------------------------------------------------


def accept_of(key: str) -> str:
    return base64.b64encode(
        hashlib.sha1(key.encode() + b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11").digest()
    ).decode()


WRONG_ACCEPT = accept_of("dGhlIHNhbXBsZSBub25jZQ==")

Responder = Callable[[Peer], None]


def respond(status: str = "101 Switching Protocols", drop: Sequence[str] = (), **replace: Any) -> Responder:
    """A 101-like answer with the three right headers, minus ``drop``, plus/over ``replace``.

    ``replace`` maps a header name (``_`` for ``-``) to a value or a list of values;
    ``"ACCEPT"`` in a value stands for the right Sec-WebSocket-Accept.
    """

    def answer(peer: Peer) -> None:
        good = {"Upgrade": "websocket", "Connection": "Upgrade", "Sec-WebSocket-Accept": "ACCEPT"}
        headers: list[tuple[str, str]] = []
        for name, value in good.items():
            if name not in drop and name.replace("-", "_") not in replace:
                headers.append((name, value))
        for name, values in replace.items():
            for value in values if isinstance(values, list) else [values]:
                headers.append((name.replace("_", "-"), value))
        headers = [(n, v.replace("ACCEPT", peer.accept_key())) for n, v in headers]
        peer.send_response(status, headers)

    return answer


def raw_answer(data: bytes, eof: bool = False) -> Responder:
    """Send ``data`` as the answer; ``eof``: then close the server's side of TCP."""

    def answer(peer: Peer) -> None:
        peer.sock.sendall(data)
        if eof:
            peer.sock.shutdown(socket.SHUT_WR)

    return answer


NO_UPGRADE = ["Upgrade", "Connection", "Sec-WebSocket-Accept"]

HANDSHAKE_FAILURES = [
    pytest.param(respond(drop=["Upgrade"]), 101, {}, id="no-upgrade"),
    pytest.param(respond(Upgrade="h2c"), 101, {}, id="upgrade-h2c"),
    pytest.param(respond(Upgrade=""), 101, {}, id="upgrade-empty"),
    pytest.param(respond(Upgrade="websocket, h2c"), 101, {}, id="upgrade-two-protocols"),
    pytest.param(respond(drop=["Connection"]), 101, {}, id="no-connection"),
    pytest.param(respond(Connection="keep-alive"), 101, {}, id="connection-keep-alive"),
    pytest.param(respond(Connection="close"), 101, {}, id="connection-close"),
    pytest.param(respond(drop=["Sec-WebSocket-Accept"]), 101, {}, id="no-accept"),
    pytest.param(respond(Sec_WebSocket_Accept=WRONG_ACCEPT), 101, {}, id="wrong-accept"),
    pytest.param(respond(Sec_WebSocket_Accept=""), 101, {}, id="empty-accept"),
    pytest.param(respond(Sec_WebSocket_Accept="ACCEPTx"), 101, {}, id="accept-with-suffix"),
    pytest.param(respond(Sec_WebSocket_Accept=["ACCEPT", "ACCEPT"]), 101, {}, id="accept-duplicated"),
    pytest.param(
        respond(Sec_WebSocket_Accept=["ACCEPT", WRONG_ACCEPT]), 101, {}, id="accept-right-and-wrong"
    ),
    pytest.param(
        lambda peer: respond(Sec_WebSocket_Accept=peer.headers["sec-websocket-key"])(peer),
        101,
        {},
        id="accept-echoes-key",
    ),
    pytest.param(respond(Sec_WebSocket_Extensions="permessage-deflate"), 101, {}, id="extension-deflate"),
    pytest.param(respond(Sec_WebSocket_Extensions="x-unknown"), 101, {}, id="extension-unknown"),
    pytest.param(respond(Sec_WebSocket_Protocol="chat"), 101, {}, id="subprotocol-none-offered"),
    pytest.param(
        respond(Sec_WebSocket_Protocol="superchat"),
        101,
        {"subprotocols": ["chat"]},
        id="subprotocol-not-offered",
    ),
    pytest.param(
        respond(Sec_WebSocket_Protocol="chat, v2"),
        101,
        {"subprotocols": ["chat", "v2"]},
        id="subprotocol-two",
    ),
    pytest.param(
        respond(Sec_WebSocket_Protocol=["chat", "chat"]),
        101,
        {"subprotocols": ["chat"]},
        id="subprotocol-twice",
    ),
    *[
        pytest.param(
            respond(f"{status} Nope", drop=NO_UPGRADE, Content_Length="0"), status, {}, id=f"status-{status}"
        )
        for status in (200, 400, 401, 403, 404, 426, 500, 503)
    ],
    pytest.param(respond("200 OK"), 200, {}, id="status-200-with-upgrade-headers"),
    pytest.param(respond("302 Found", drop=NO_UPGRADE), 302, {}, id="redirect-without-location"),
    pytest.param(raw_answer(b"garbage\r\n\r\n"), 0, {}, id="garbage-status-line"),
    pytest.param(raw_answer(b"HTTP/1.1 101 Switching Protocols\r\n", eof=True), 0, {}, id="eof-mid-head"),
]


@dataclass
class Attempt:
    """A connection attempt through the callback API."""

    conn: geventws.Connection
    errors: list[tuple[int, str]] = field(default_factory=list)
    closes: int = 0
    opened: int = 0
    closed: gevent.event.Event = field(default_factory=gevent.event.Event)

    @property
    def error_codes(self) -> list[int]:
        return [code for code, _ in self.errors]


def attempt(url: str, **options: Any) -> Attempt:
    """Connect with callbacks that record everything; return once on_close ran."""
    options = {"ping_interval": None, "close_timeout": WAIT, **options}
    conn = geventws.Connection(url, **options)
    result = Attempt(conn)

    def on_close(c: geventws.Connection) -> None:
        result.closes += 1
        result.closed.set()

    def on_open(c: geventws.Connection, response: Any) -> None:
        result.opened += 1

    conn.on_error = lambda c, code, msg: result.errors.append((code, msg))
    conn.on_close = on_close
    conn.on_websocket_connect = on_open
    conn.connect()
    try:
        assert result.closed.wait(2 * WAIT), "on_close never ran"
        assert conn.wait_closed(WAIT)
    finally:
        conn.close()
    return result


def run_handshake(
    raw_server: RawServerFactory, answer: Responder, api: str, **options: Any
) -> dict[str, Any]:
    """The server answers the upgrade with ``answer`` and then waits for the client to close TCP."""
    seen: dict[str, Any] = {}
    done = gevent.event.Event()

    def handler(peer: Peer) -> None:
        try:
            peer.sock.settimeout(WAIT)
            peer.read_request()
            answer(peer)
            seen["eof"], seen["sent_after"] = drain(peer)
        finally:
            done.set()

    server = raw_server(handler)
    if api == "connect":
        with pytest.raises(geventws.HandshakeError) as info:
            geventws.connect(server.url(), ping_interval=None, **options)
        seen["error"] = info.value
    else:
        result = attempt(server.url(), **options)
        assert result.error_codes == [ErrorCode.HANDSHAKE_FAIL], result.errors
        assert result.closes == 1
        assert result.opened == 0
        assert result.conn.close_code == 1006
        assert isinstance(result.conn.last_error, geventws.HandshakeError)
        seen["error"] = result.conn.last_error
    assert done.wait(WAIT)
    return seen


@pytest.mark.parametrize("api", ["callback", "connect"])
@pytest.mark.parametrize(("answer", "status", "options"), HANDSHAKE_FAILURES)
def test_bad_handshake_response_fails(
    raw_server: RawServerFactory, answer: Responder, status: int, options: dict[str, Any], api: str
) -> None:
    seen = run_handshake(raw_server, answer, api, **options)
    assert seen["error"].status == status
    assert seen["eof"], "the client did not close TCP"
    assert seen["sent_after"] == b"", "the client sent bytes on a connection that never opened"


def run_open(raw_server: RawServerFactory, answer: Responder, **options: Any) -> geventws.Connection:
    """Connect through ``answer``; the server then sends a text and closes 1000."""

    def handler(peer: Peer) -> None:
        peer.sock.settimeout(WAIT)
        peer.read_request()
        answer(peer)
        peer.send_frame(TEXT, b"opened")
        peer.send_close(1000)
        while peer.read_frame()[1] != CLOSE:
            pass

    server = raw_server(handler)
    conn = geventws.connect(server.url(), ping_interval=None, **options)
    try:
        assert conn.recv(WAIT) == "opened"
        assert conn.wait_closed(WAIT)
    finally:
        conn.close()
    assert conn.close_code == 1000
    return conn


@pytest.mark.parametrize(
    ("answer", "options", "subprotocol"),
    [
        pytest.param(respond(), {}, None, id="plain"),
        pytest.param(respond("101"), {}, None, id="status-without-reason-phrase"),
        pytest.param(respond(Upgrade="WebSocket"), {}, None, id="upgrade-mixed-case"),
        pytest.param(respond(Connection="keep-alive, Upgrade"), {}, None, id="connection-list"),
        pytest.param(respond(Connection="upgrade"), {}, None, id="connection-lower-case"),
        pytest.param(
            respond(
                drop=NO_UPGRADE, upgrade="websocket", connection="upgrade", sec_websocket_accept="ACCEPT"
            ),
            {},
            None,
            id="lower-case-header-names",
        ),
        pytest.param(
            respond(Sec_WebSocket_Protocol="v2"), {"subprotocols": ["v1", "v2"]}, "v2", id="subprotocol"
        ),
        pytest.param(respond(), {"subprotocols": ["v1"]}, None, id="subprotocol-offered-none-chosen"),
    ],
)
def test_good_handshake_variants_open(
    raw_server: RawServerFactory, answer: Responder, options: dict[str, Any], subprotocol: str | None
) -> None:
    conn = run_open(raw_server, answer, **options)
    assert conn.subprotocol == subprotocol
    assert conn.response is not None and conn.response.status == 101


def endless_head(peer: Peer) -> None:
    """A 101 status line followed by header lines that never end."""
    peer.sock.sendall(b"HTTP/1.1 101 Switching Protocols\r\n")
    for i in range(10_000):  # bounded: 10 MB
        peer.sock.sendall(b"".join(b"X-Filler-%06d: %s\r\n" % (i, b"y" * 16) for _ in range(30)))
        gevent.sleep(0)


@pytest.mark.parametrize("api", ["callback", "connect"])
def test_endless_response_head_is_cut_by_max_response_head(raw_server: RawServerFactory, api: str) -> None:
    def handler(peer: Peer) -> None:
        peer.read_request()
        endless_head(peer)  # ends with a broken pipe once the client gave up

    server = raw_server(handler)
    # open_timeout is 10 * WAIT: only the size limit can end the handshake before the WAIT.
    with gevent.Timeout(WAIT, AssertionError("the head was not cut by its size limit")):
        if api == "connect":
            with pytest.raises(geventws.HandshakeError, match="4096"):
                geventws.connect(server.url(), max_response_head=4096, open_timeout=10 * WAIT)
        else:
            result = attempt(server.url(), max_response_head=4096, open_timeout=10 * WAIT)
            assert result.error_codes == [ErrorCode.HANDSHAKE_FAIL]
            assert result.closes == 1


def test_complete_head_over_max_response_head_is_refused(raw_server: RawServerFactory) -> None:
    def handler(peer: Peer) -> None:
        peer.read_request()
        respond(X_Padding=["p" * 1000] * 5)(peer)  # a complete head of ~5.1 KB against a 4 KiB limit
        shut_write(peer)  # a client that wrongly opened sees EOF at once
        drain(peer)

    server = raw_server(handler)
    result = attempt(server.url(), max_response_head=4096)
    assert result.error_codes == [ErrorCode.HANDSHAKE_FAIL]
    assert result.opened == 0


@pytest.mark.parametrize("api", ["callback", "connect"])
def test_server_that_never_answers_is_cut_by_open_timeout(raw_server: RawServerFactory, api: str) -> None:
    eof: list[bool] = []
    done = gevent.event.Event()

    def handler(peer: Peer) -> None:
        peer.read_request()
        eof.append(drain(peer)[0])  # answers nothing
        done.set()

    server = raw_server(handler)
    started = time.monotonic()
    if api == "connect":
        with gevent.Timeout(WAIT), pytest.raises(geventws.OpenTimeout):  # the server never answers
            geventws.connect(server.url(), open_timeout=0.2 * UNIT)
    else:
        result = attempt(server.url(), open_timeout=0.2 * UNIT)
        assert result.error_codes == [ErrorCode.CONNECT_FAIL]
        assert isinstance(result.conn.last_error, geventws.OpenTimeout)
        assert result.closes == 1
        assert result.opened == 0
    assert time.monotonic() - started >= 0.18 * UNIT
    assert done.wait(WAIT)
    assert eof == [True], "the client did not close TCP"


def test_open_timeout_is_one_deadline_for_a_slow_head(raw_server: RawServerFactory) -> None:
    """A server dripping one header line every 50 ms never trips a per-read timeout."""

    def handler(peer: Peer) -> None:
        peer.read_request()
        peer.sock.sendall(b"HTTP/1.1 101 Switching Protocols\r\n")
        for i in range(100):  # 5 s in all
            gevent.sleep(0.05 * UNIT)
            peer.sock.sendall(b"X-Drip-%d: x\r\n" % i)

    server = raw_server(handler)
    started = time.monotonic()
    # The drip lasts 5 * UNIT: a per-read timeout would outlast the WAIT.
    with gevent.Timeout(WAIT, AssertionError("open_timeout was not one deadline")):
        result = attempt(server.url(), open_timeout=0.3 * UNIT)
    assert result.error_codes == [ErrorCode.CONNECT_FAIL]
    assert isinstance(result.conn.last_error, geventws.OpenTimeout)
    assert time.monotonic() - started >= 0.28 * UNIT


# -- redirects -------------------------------------------------------------------------------------


class Router:
    """A raw server that redirects per path (``route(path)`` gives (status, location) or None to accept).

    An accepted request gets 101, a text ``landed:<path>`` and a close 1000.
    """

    def __init__(self, raw_server: RawServerFactory, route: Callable[[str], tuple[int, str] | None]) -> None:
        self.route = route
        self.requests: list[tuple[str, dict[str, str]]] = []
        self.redirect_eofs: list[bool] = []
        self.server = raw_server(self.handle)

    def handle(self, peer: Peer) -> None:
        peer.sock.settimeout(WAIT)
        peer.read_request()
        path = peer.request_line.split()[1]
        self.requests.append((path, dict(peer.headers)))
        target = self.route(path)
        if target is not None:
            status, location = target
            peer.send_response(f"{status} Moved", [("Location", location), ("Content-Length", "0")])
            self.redirect_eofs.append(drain(peer)[0])
            return
        respond()(peer)
        peer.send_frame(TEXT, b"landed:" + path.encode())
        peer.send_close(1000)
        while peer.read_frame()[1] != CLOSE:
            pass

    def url(self, path: str, scheme: str = "ws") -> str:
        return self.server.url(path, scheme)

    @property
    def paths(self) -> list[str]:
        return [path for path, _ in self.requests]


def open_and_read(url: str, **options: Any) -> tuple[geventws.Connection, str | bytes]:
    conn = geventws.connect(url, ping_interval=None, **options)
    try:
        data = conn.recv(WAIT)
        assert conn.wait_closed(WAIT)
    finally:
        conn.close()
    return conn, data


@pytest.mark.parametrize("kind", ["absolute-ws", "absolute-http", "relative", "relative-dot"])
@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_redirect_is_followed(raw_server: RawServerFactory, status: int, kind: str) -> None:
    other = Router(raw_server, lambda path: None)
    locations = {
        "absolute-ws": other.url("/landed?q=1"),
        "absolute-http": other.url("/landed?q=1", scheme="http"),
        "relative": "/landed?q=1",
        "relative-dot": "landed?q=1",
    }
    first = Router(raw_server, lambda path: (status, locations[kind]) if path == "/start" else None)
    conn, data = open_and_read(first.url("/start"))
    assert data == "landed:/landed?q=1"
    assert conn.close_code == 1000
    target = other if kind.startswith("absolute") else first
    assert target.paths[-1] == "/landed?q=1"
    assert target.requests[-1][1]["host"] == f"127.0.0.1:{target.server.port}"
    assert first.paths[0] == "/start"
    assert first.redirect_eofs == [True], "the client did not close the redirected connection"


@pytest.mark.parametrize("hops", [1, 2, 3])
def test_up_to_three_redirects_are_followed(raw_server: RawServerFactory, hops: int) -> None:
    router = Router(raw_server, lambda path: None if path == "/hop/0" else (302, f"/hop/{int(path[5:]) - 1}"))
    _, data = open_and_read(router.url(f"/hop/{hops}"))
    assert data == "landed:/hop/0"
    assert router.paths == [f"/hop/{n}" for n in range(hops, -1, -1)]


@pytest.mark.parametrize("hops", [4, 5, "loop"])
def test_more_than_three_redirects_fail(raw_server: RawServerFactory, hops: int | str) -> None:
    def route(path: str) -> tuple[int, str] | None:
        if hops == "loop":
            return 307, path
        return None if path == "/hop/0" else (302, f"/hop/{int(path[5:]) - 1}")

    router = Router(raw_server, route)
    start = "/loop" if hops == "loop" else f"/hop/{hops}"
    result = attempt(router.url(start))
    assert result.error_codes == [ErrorCode.HANDSHAKE_FAIL]
    assert "redirect" in result.errors[0][1]
    assert result.closes == 1
    assert result.opened == 0
    assert len(router.requests) == 4, "one request plus three redirects, no more"
    with pytest.raises(geventws.HandshakeError):
        geventws.connect(router.url(start), ping_interval=None)


def test_redirect_keeps_credentials_on_the_same_server_only(raw_server: RawServerFactory) -> None:
    other = Router(raw_server, lambda path: None)
    first = Router(
        raw_server,
        lambda path: {"/start": (302, "/same"), "/same": (302, other.url("/other"))}.get(path),
    )
    url = first.url("/start").replace("ws://", "ws://alice:s3cret@")
    _, data = open_and_read(url)
    assert data == "landed:/other"
    expected = "Basic " + base64.b64encode(b"alice:s3cret").decode()
    assert [h.get("authorization") for _, h in first.requests] == [expected, expected]
    assert [h.get("authorization") for _, h in other.requests] == [None]


def response(status: int, location: str) -> Response:
    return Response(status, "Moved", Headers([("Location", location)]), b"")


@pytest.mark.parametrize(
    "location",
    ["ws://example.com/", "ws://example.com:443/x", "http://example.com/x", "HTTP://example.com/"],
)
def test_redirect_from_wss_to_ws_is_refused(location: str) -> None:
    with pytest.raises(geventws.HandshakeError, match="wss"):
        redirect_target(parse_uri("wss://example.com/start"), response(302, location))


@pytest.mark.parametrize(
    ("location", "expected"),
    [
        ("wss://other.example/x", "wss://other.example/x"),
        ("https://other.example:8443/x", "wss://other.example:8443/x"),
        ("/relative?q=1", "wss://example.com/relative?q=1"),
    ],
)
def test_redirect_from_wss_stays_secure(location: str, expected: str) -> None:
    target = redirect_target(parse_uri("wss://example.com/start"), response(301, location))
    assert target is not None and target.secure
    assert str(target) == expected


def test_redirect_target_ignores_non_redirects() -> None:
    assert redirect_target(parse_uri("ws://example.com/"), response(101, "ws://x/")) is None


# -- request options ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "origin", "protocols"),
    [
        ({}, None, None),
        ({"origin": "https://example.com"}, "https://example.com", None),
        ({"subprotocols": ["chat"]}, None, "chat"),
        (
            {"subprotocols": ["chat", "superchat"], "origin": "http://a.test:8080"},
            "http://a.test:8080",
            "chat, superchat",
        ),
    ],
)
def test_origin_and_subprotocols_arrive_as_headers(
    raw_server: RawServerFactory, options: dict[str, Any], origin: str | None, protocols: str | None
) -> None:
    router = Router(raw_server, lambda path: None)
    open_and_read(router.url("/"), **options)
    headers = router.requests[0][1]
    assert headers.get("origin") == origin
    assert headers.get("sec-websocket-protocol") == protocols
    assert headers["sec-websocket-version"] == "13"
    assert len(base64.b64decode(headers["sec-websocket-key"])) == 16


@pytest.mark.parametrize("outcome", ["open", "rejected-401"])
@pytest.mark.parametrize(
    ("userinfo", "user", "password"),
    [
        ("alice:s3cr3t-Pa55", "alice", "s3cr3t-Pa55"),
        ("al%40ice:p%3As%20w-0rd-Zq", "al@ice", "p:s w-0rd-Zq"),
        ("t0ken-only-Xy", "t0ken-only-Xy", ""),
    ],
)
def test_url_credentials_become_basic_auth_and_are_never_logged(
    raw_server: RawServerFactory,
    caplog: pytest.LogCaptureFixture,
    userinfo: str,
    user: str,
    password: str,
    outcome: str,
) -> None:
    caplog.set_level(logging.DEBUG, logger="geventws")
    seen: list[dict[str, str]] = []

    def handler(peer: Peer) -> None:
        peer.sock.settimeout(WAIT)
        peer.read_request()
        seen.append(dict(peer.headers))
        if outcome == "open":
            respond()(peer)
            peer.send_close(1000)
            peer.read_frame()
        else:
            respond("401 Unauthorized", drop=NO_UPGRADE, Content_Length="0")(peer)
            drain(peer)

    server = raw_server(handler)
    url = server.url("/private").replace("ws://", f"ws://{userinfo}@")
    result = attempt(url)
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    assert seen[0]["authorization"] == f"Basic {token}"
    if outcome == "open":
        assert result.opened == 1 and result.errors == []
    else:
        assert result.error_codes == [ErrorCode.HANDSHAKE_FAIL]
    assert caplog.records, "nothing was logged: the check below would prove nothing"
    secrets = [token, userinfo] + ([password] if password else [])
    texts = [caplog.text, repr(result.conn), str(result.conn.last_error), *(msg for _, msg in result.errors)]
    for secret in secrets:
        for text in texts:
            assert secret not in text


# -- timeouts --------------------------------------------------------------------------------------


def test_ping_timeout_aborts_without_close_handshake(raw_server: RawServerFactory) -> None:
    received: list[int] = []
    eof: list[bool] = []
    done = gevent.event.Event()

    def handler(peer: Peer) -> None:
        peer.sock.settimeout(WAIT)
        peer.handshake()
        try:
            while True:  # reads everything, answers nothing
                received.append(peer.read_frame()[1])
        except EOFError:
            eof.append(True)
        finally:
            done.set()

    server = raw_server(handler)
    result = attempt(server.url(), ping_interval=0.05 * UNIT, ping_timeout=0.05 * UNIT)
    assert result.error_codes == [ErrorCode.PING_TIMEOUT]
    assert isinstance(result.conn.last_error, geventws.PingTimeout)
    assert result.closes == 1
    assert result.conn.close_code == 1006
    assert done.wait(WAIT)
    assert eof == [True], "the client did not close TCP"
    assert received and set(received) == {PING}, "the client must abort, not start a close handshake"


def test_stalled_server_is_detected_within_ping_interval_plus_timeout(raw_server: RawServerFactory) -> None:
    release = gevent.event.Event()

    def handler(peer: Peer) -> None:
        peer.handshake()
        release.wait(10 * WAIT)  # reads nothing, sends nothing

    server = raw_server(handler)
    opened = gevent.event.Event()
    failed_at: list[float] = []
    conn = geventws.Connection(
        server.url(),
        ping_interval=0.1 * UNIT,
        ping_timeout=0.1 * UNIT,
        on_websocket_connect=lambda c, r: opened.set(),
        on_error=lambda c, code, msg: failed_at.append(time.monotonic()) or failed_at.append(code),
    )
    conn.connect()
    try:
        assert opened.wait(WAIT)
        started = time.monotonic()
        assert conn.wait_closed(2 * WAIT)
    finally:
        release.set()
        conn.close()
    assert failed_at[1::2] == [ErrorCode.PING_TIMEOUT]
    detected = failed_at[0] - started
    assert detected < 2 * UNIT, f"stall detected after {detected:.2f}s with interval 0.1 + timeout 0.1"
    assert conn.close_code == 1006


def test_close_timeout_when_the_server_answers_but_keeps_tcp_open(raw_server: RawServerFactory) -> None:
    eof: list[bool] = []
    done = gevent.event.Event()

    def handler(peer: Peer) -> None:
        peer.sock.settimeout(WAIT)
        peer.handshake()
        payload = peer.read_frame()[2]
        peer.send_frame(CLOSE, payload)  # answers, but never closes TCP itself
        eof.append(drain(peer)[0])
        done.set()

    server = raw_server(handler)
    conn = geventws.connect(server.url(), ping_interval=None, close_timeout=0.2 * UNIT)
    conn.close(4001, "done")
    # close() waits close_timeout + 1 s at most; the server keeps TCP open for WAIT:
    # finished now means the close timer ended it.
    assert conn.finished
    assert (conn.close_code, conn.close_reason) == (4001, "done")
    assert done.wait(WAIT)
    assert eof == [True]


# -- the client's own frames -----------------------------------------------------------------------


def read_raw_frame(peer: Peer) -> tuple[int, bytes, bytes]:
    """(first byte, mask key, unmasked payload) of one client frame, parsed by hand."""
    b1, b2 = peer.read_exact(2)
    assert b2 & 0x80, "client frame not masked"
    length = b2 & 0x7F
    if length == 126:
        (length,) = struct.unpack("!H", peer.read_exact(2))
    elif length == 127:
        (length,) = struct.unpack("!Q", peer.read_exact(8))
    key = peer.read_exact(4)
    data = peer.read_exact(length)
    return b1, key, bytes(b ^ key[i % 4] for i, b in enumerate(data))


def test_mask_keys_differ_across_frames(raw_server: RawServerFactory) -> None:
    frames: list[tuple[int, bytes, bytes]] = []

    def handler(peer: Peer) -> None:
        peer.sock.settimeout(WAIT)
        peer.handshake()
        while True:
            frames.append(read_raw_frame(peer))
            if frames[-1][0] & 0x0F == CLOSE:
                break
        peer.send_frame(CLOSE, frames[-1][2])

    server = raw_server(handler)
    conn = geventws.connect(server.url(), ping_interval=None)
    sent = []
    for i in range(49):
        data: str | bytes = f"text {i}" if i % 3 == 0 else b"\x00" * (i % 7) + bytes([i])
        if i % 3 == 2:
            conn.ping(b"p%d" % i)
            sent.append((0x80 | PING, b"p%d" % i))
        else:
            conn.send(data)
            sent.append(
                (
                    0x80 | (TEXT if isinstance(data, str) else BINARY),
                    data.encode() if isinstance(data, str) else data,
                )
            )
    conn.close()
    assert [(b1, payload) for b1, _, payload in frames[:-1]] == sent
    keys = [key for _, key, _ in frames]
    assert len(keys) == 50
    assert len(set(keys)) == 50, "mask keys repeat"
    assert b"\x00\x00\x00\x00" not in keys


def run_client(
    raw_server: RawServerFactory, script: Callable[[geventws.Connection], None]
) -> list[tuple[int, bytes]]:
    """Open, run ``script`` on the connection, close; return the frames the server read."""
    frames: list[tuple[int, bytes]] = []

    def handler(peer: Peer) -> None:
        peer.sock.settimeout(WAIT)
        peer.handshake()
        while True:
            fin, opcode, payload = peer.read_frame()
            assert fin
            frames.append((opcode, payload))
            if opcode == CLOSE:
                break
        peer.send_frame(CLOSE, payload)

    server = raw_server(handler)
    conn = geventws.connect(server.url(), ping_interval=None)
    try:
        script(conn)
    finally:
        conn.close()
    assert conn.wait_closed(WAIT)
    return frames


@pytest.mark.parametrize(
    "text",
    ["", "ascii", "héllo", "日本語", "\U0001f600", "\uffff\U0010ffff", "\x00nul", "κόσμε" * 100],
)
def test_text_frames_carry_valid_utf8(raw_server: RawServerFactory, text: str) -> None:
    frames = run_client(raw_server, lambda conn: conn.send(text))
    assert frames[0][0] == TEXT
    assert frames[0][1].decode("utf-8") == text


@pytest.mark.parametrize(
    ("data", "options"),
    [("\ud800", {}), ("a\udfffb", {}), (b"\xff\xfe", {"websocket_type": geventws.BINARY_TYPE_BLOB})],
    ids=["lone-high-surrogate", "lone-low-surrogate", "forced-text-not-utf8"],
)
def test_text_that_is_not_utf8_is_refused_before_sending(
    raw_server: RawServerFactory, data: str | bytes, options: dict[str, Any]
) -> None:
    frames: list[tuple[int, bytes]] = []

    def handler(peer: Peer) -> None:
        peer.sock.settimeout(WAIT)
        peer.handshake()
        while True:
            frames.append(peer.read_frame()[1:])
            if frames[-1][0] == CLOSE:
                break
        peer.send_frame(CLOSE, frames[-1][1])

    server = raw_server(handler)
    with geventws.connect(server.url(), ping_interval=None, **options) as conn:
        with pytest.raises(geventws.InvalidMessage):
            conn.send(data)
        conn.send("after")
    assert frames == [(TEXT, b"after"), (CLOSE, close_body(1000))]


@pytest.mark.parametrize("code", [0, 999, 1004, 1005, 1006, 1015, 1016, 2000, 2999, 5000])
def test_invalid_close_code_raises_before_anything_is_sent(raw_server: RawServerFactory, code: int) -> None:
    def script(conn: geventws.Connection) -> None:
        with pytest.raises(ValueError):
            conn.close(code)
        assert conn.state is geventws.State.OPEN
        conn.send("still open")

    frames = run_client(raw_server, script)
    assert frames == [(TEXT, b"still open"), (CLOSE, close_body(1000))]


@pytest.mark.parametrize("reason", ["r" * 124, "é" * 62, "r" * 122 + "é", "r" * 1000])
def test_close_reason_over_123_bytes_raises_before_anything_is_sent(
    raw_server: RawServerFactory, reason: str
) -> None:
    def script(conn: geventws.Connection) -> None:
        with pytest.raises(ValueError):
            conn.close(1000, reason)
        conn.send("still open")

    frames = run_client(raw_server, script)
    assert frames == [(TEXT, b"still open"), (CLOSE, close_body(1000))]


@pytest.mark.parametrize(
    ("code", "reason"), [(1000, "r" * 123), (1001, "é" * 61 + "r"), (3000, ""), (4999, "bye"), (1011, "oops")]
)
def test_valid_close_code_and_reason_are_sent(raw_server: RawServerFactory, code: int, reason: str) -> None:
    frames = run_client(raw_server, lambda conn: conn.close(code, reason))
    assert frames == [(CLOSE, close_body(code, reason.encode()))]


@pytest.mark.parametrize("size", [126, 200])
def test_ping_payload_over_125_bytes_raises_before_anything_is_sent(
    raw_server: RawServerFactory, size: int
) -> None:
    def script(conn: geventws.Connection) -> None:
        with pytest.raises(ValueError):
            conn.ping(b"x" * size)
        conn.send("still open")

    frames = run_client(raw_server, script)
    assert frames == [(TEXT, b"still open"), (CLOSE, close_body(1000))]


def test_invalid_utf8_inside_one_frame_fails_before_the_frame_ends(raw_server) -> None:  # type: ignore[no-untyped-def]
    """RFC 6455 §8.1 (Autobahn 6.4.3): the bad bytes arrive, the rest of the frame
    does not; the client must fail at once, not wait for the end of the frame."""
    failed = gevent.event.Event()
    codes: list[int] = []

    def handler(peer: Peer) -> None:
        peer.handshake()
        whole = frame(TEXT, "κόσμε".encode() + b"\xf4\x90\x80\x80" + b"rest" * 10)
        peer.sock.sendall(whole[:20])  # header + valid text + the invalid sequence
        _, opcode, payload = peer.read_frame()  # the client's close, with the frame unfinished
        assert opcode == CLOSE
        codes.append(code_of(payload))
        failed.set()

    server = raw_server(handler)
    conn = geventws.Connection(server.url(), ping_interval=None)
    conn.connect()
    assert failed.wait(5), "the client waited for the rest of the frame"
    assert codes == [1007]
    conn.close()
