"""Framing without I/O: the frame writer, close bodies and the frame parser. No greenlets, no I/O."""

from __future__ import annotations

import struct

import pytest

import geventws
from geventws.exceptions import MessageTooBig, ProtocolError
from geventws.protocol.frames import (
    OP_BINARY,
    OP_CLOSE,
    OP_PING,
    OP_PONG,
    OP_TEXT,
    FrameParser,
    encode_close,
    parse_close,
)
from tests.rawserver import BINARY, CLOSE, CONT, PING, PONG, TEXT, frame

# -- frames: encoding helpers ------------------------------------------------------------------


def test_encode_close_validates() -> None:
    for bad in (999, 1004, 1005, 1006, 1015, 2999, 5000):
        with pytest.raises(ValueError):
            encode_close(bad)
    with pytest.raises(ValueError):
        encode_close(1000, "x" * 124)
    encode_close(1000, "x" * 123)
    encode_close(4999)


def test_parse_close() -> None:
    assert parse_close(b"") == (1005, "")
    assert parse_close(struct.pack("!H", 4001) + b"bye") == (4001, "bye")
    assert parse_close(struct.pack("!H", 1000) + "é".encode()) == (1000, "é")


# -- frames: FrameParser -----------------------------------------------------------------------


class Source:
    """An in-memory byte source: ``recv(n)`` returns up to ``n`` (or ``chunk``) bytes, ``b""`` at the end."""

    def __init__(self, data: bytes, chunk: int | None = None) -> None:
        self.data = bytearray(data)
        self.chunk = chunk

    def __call__(self, n: int) -> bytes:
        if self.chunk is not None:
            n = min(n, self.chunk)
        out = bytes(self.data[:n])
        del self.data[:n]
        return out


def parser(*frames: bytes, max_size: int | None = 2**20, chunk: int | None = None) -> FrameParser:
    return FrameParser(Source(b"".join(frames), chunk), max_size)


def read_all(p: FrameParser) -> list[tuple[int, str | bytes]]:
    out: list[tuple[int, str | bytes]] = []
    while True:
        try:
            opcode, data = p.read()
        except EOFError:
            return out
        out.append((opcode, data))


def protocol_error(p: FrameParser) -> ProtocolError:
    with pytest.raises(ProtocolError) as info:
        while True:
            p.read()
    return info.value


@pytest.mark.parametrize("chunk", [None, 1, 3])
def test_parser_text_and_binary(chunk: int | None) -> None:
    big = bytes(range(256)) * 300  # 64-bit length field
    medium = "ü" * 200  # 16-bit length field
    p = parser(
        frame(TEXT, "héllo".encode()),
        frame(BINARY, b"\x00\xff"),
        frame(TEXT, b""),
        frame(TEXT, medium.encode()),
        frame(BINARY, big),
        chunk=chunk,
    )
    assert read_all(p) == [
        (OP_TEXT, "héllo"),
        (OP_BINARY, b"\x00\xff"),
        (OP_TEXT, ""),
        (OP_TEXT, medium),
        (OP_BINARY, big),
    ]


def test_parser_uses_initial_bytes() -> None:
    data = frame(TEXT, b"one") + frame(TEXT, b"two")
    p = FrameParser(Source(data[5:]), None, initial=data[:5])
    assert read_all(p) == [(OP_TEXT, "one"), (OP_TEXT, "two")]


def test_parser_eof_midframe() -> None:
    p = parser(frame(TEXT, b"hello")[:-1])
    with pytest.raises(EOFError):
        p.read()


def test_parser_reassembles_fragments() -> None:
    p = parser(
        frame(TEXT, b"hel", fin=False),
        frame(CONT, b"", fin=False),
        frame(CONT, b"lo", fin=True),
        frame(BINARY, b"\x01", fin=False),
        frame(CONT, b"\x02\x03", fin=True),
        frame(TEXT, b"after"),
    )
    assert read_all(p) == [(OP_TEXT, "hello"), (OP_BINARY, b"\x01\x02\x03"), (OP_TEXT, "after")]


def test_parser_control_frames_between_fragments() -> None:
    p = parser(
        frame(TEXT, b"a", fin=False),
        frame(PING, b"p1"),
        frame(CONT, b"b", fin=False),
        frame(PONG, b"p2"),
        frame(CONT, b"c", fin=True),
        frame(CLOSE, struct.pack("!H", 1000)),
    )
    assert read_all(p) == [
        (OP_PING, b"p1"),
        (OP_PONG, b"p2"),
        (OP_TEXT, "abc"),
        (OP_CLOSE, struct.pack("!H", 1000)),
    ]


def test_parser_control_frame_of_125_bytes_is_fine() -> None:
    assert read_all(parser(frame(PING, b"x" * 125))) == [(OP_PING, b"x" * 125)]


def test_parser_utf8_split_across_fragments() -> None:
    text = "aé€😀"
    data = text.encode()
    pieces = [data[:2], data[2:5], data[5:8], data[8:]]  # every cut falls inside a character
    frames = [frame(TEXT, pieces[0], fin=False)]
    frames += [frame(CONT, piece, fin=False) for piece in pieces[1:-1]]
    frames.append(frame(CONT, pieces[-1]))
    assert read_all(parser(*frames)) == [(OP_TEXT, text)]


@pytest.mark.parametrize(
    ("frames", "code"),
    [
        ([frame(TEXT, b"x", rsv=4)], 1002),
        ([frame(TEXT, b"x", rsv=2)], 1002),
        ([frame(BINARY, b"x", rsv=1)], 1002),
        ([frame(PING, b"x", rsv=1)], 1002),
        ([frame(TEXT, b"x", fin=False), frame(CONT, b"y", rsv=4)], 1002),
        ([frame(0x3, b"x")], 1002),
        ([frame(0x7, b"x")], 1002),
        ([frame(0xB, b"x")], 1002),
        ([frame(0xF, b"")], 1002),
        ([frame(TEXT, b"x", mask=True)], 1002),
        ([frame(PING, b"x", mask=True)], 1002),
        ([frame(PING, b"x" * 126)], 1002),
        ([frame(PONG, b"x" * 200)], 1002),
        ([frame(CLOSE, struct.pack("!H", 1000) + b"x" * 124)], 1002),
        ([frame(PING, b"x", fin=False)], 1002),
        ([frame(CLOSE, struct.pack("!H", 1000), fin=False)], 1002),
        ([frame(CONT, b"x")], 1002),
        ([frame(CONT, b"x", fin=False)], 1002),
        ([frame(TEXT, b"a"), frame(CONT, b"b")], 1002),
        ([frame(TEXT, b"a", fin=False), frame(TEXT, b"b")], 1002),
        ([frame(TEXT, b"a", fin=False), frame(BINARY, b"b")], 1002),
        ([frame(BINARY, b"a", fin=False), frame(PING, b""), frame(TEXT, b"b", fin=False)], 1002),
        ([frame(CLOSE, b"\x03")], 1002),
        ([frame(CLOSE, struct.pack("!H", 999))], 1002),
        ([frame(CLOSE, struct.pack("!H", 1005))], 1002),
        ([frame(CLOSE, struct.pack("!H", 1006))], 1002),
        ([frame(CLOSE, struct.pack("!H", 1015))], 1002),
        ([frame(CLOSE, struct.pack("!H", 5000))], 1002),
        ([b"\x82\x7f" + struct.pack("!Q", 1 << 63)], 1002),
        ([frame(TEXT, b"\xff")], 1007),
        ([frame(TEXT, b"\xed\xa0\x80")], 1007),  # a UTF-16 surrogate
        ([frame(TEXT, "é".encode()[:1])], 1007),
        ([frame(TEXT, b"a\xc3", fin=False), frame(CONT, b"(")], 1007),
        ([frame(TEXT, b"a\xc3", fin=False), frame(CONT, b"")], 1007),
        ([frame(TEXT, b"ok", fin=False), frame(CONT, b"\xe2\x82", fin=True)], 1007),
        ([frame(CLOSE, struct.pack("!H", 1000) + b"\xff")], 1007),
        ([frame(CLOSE, struct.pack("!H", 1000) + "é".encode()[:1])], 1007),
    ],
)
def test_parser_protocol_errors(frames: list[bytes], code: int) -> None:
    error = protocol_error(parser(*frames))
    assert error.close_code == code
    assert isinstance(error, geventws.WebSocketError)


def test_parser_binary_with_invalid_utf8_is_fine() -> None:
    assert read_all(parser(frame(BINARY, b"\xff\xfe"))) == [(OP_BINARY, b"\xff\xfe")]


def test_parser_invalid_utf8_fails_before_the_last_fragment() -> None:
    # Only the first fragment is available: the error must not wait for the rest.
    error = protocol_error(parser(frame(TEXT, b"ok\xff", fin=False)))
    assert error.close_code == 1007


@pytest.mark.parametrize("length", [101, 1000, 70000, 2**40])
def test_parser_too_big_is_raised_from_the_header(length: int) -> None:
    # The source holds only the header: reading the payload would give EOFError.
    header = frame(BINARY, b"", length=length)
    with pytest.raises(MessageTooBig) as info:
        parser(header, max_size=100).read()
    assert info.value.close_code == 1009
    assert isinstance(info.value, ProtocolError)


def test_parser_too_big_counts_every_fragment() -> None:
    p = parser(frame(TEXT, b"a" * 60, fin=False), frame(CONT, b"", fin=False, length=41), max_size=100)
    with pytest.raises(MessageTooBig) as info:
        p.read()
    assert info.value.close_code == 1009


def test_parser_exactly_max_size_is_fine() -> None:
    p = parser(
        frame(BINARY, b"a" * 100),
        frame(TEXT, b"a" * 60, fin=False),
        frame(CONT, b"a" * 40),
        frame(TEXT, b"b" * 100),
        max_size=100,
    )
    assert read_all(p) == [(OP_BINARY, b"a" * 100), (OP_TEXT, "a" * 100), (OP_TEXT, "b" * 100)]


def test_parser_size_limit_does_not_apply_to_control_frames() -> None:
    assert read_all(parser(frame(PING, b"x" * 20), max_size=10)) == [(OP_PING, b"x" * 20)]


def test_parser_without_limit() -> None:
    payload = b"z" * 100_000
    assert read_all(parser(frame(BINARY, payload), max_size=None)) == [(OP_BINARY, payload)]
