"""The sans-I/O frame parser, fed plain bytes in every kind of split. No greenlets, no I/O."""

from __future__ import annotations

import struct
import zlib

import pytest

import geventws
from geventws.exceptions import MessageTooBig, ProtocolError
from geventws.protocol.events import Close, Event, Ping, Pong
from geventws.protocol.extensions import DeflateParams, PerMessageDeflate
from geventws.protocol.parser import FrameParser, parse_close
from tests.rawserver import BINARY, CLOSE, CONT, PING, PONG, TEXT, frame


def pieces(data: bytes, chunk: int | None) -> list[bytes]:
    if chunk is None:
        return [data]
    return [data[i : i + chunk] for i in range(0, len(data), chunk)]


def feed_all(*frames: bytes, max_size: int | None = 2**20, chunk: int | None = None) -> list[Event]:
    """Every event of the stream, fed ``chunk`` bytes at a time; raises the parser's error."""
    parser = FrameParser(max_size)
    events: list[Event] = []
    for piece in pieces(b"".join(frames), chunk):
        events += parser.feed(piece)
        if parser.error is not None:
            raise parser.error
    return events


def protocol_error(*frames: bytes, chunk: int | None = None, max_size: int | None = 2**20) -> ProtocolError:
    with pytest.raises(ProtocolError) as info:
        feed_all(*frames, chunk=chunk, max_size=max_size)
    return info.value


def test_parse_close() -> None:
    assert parse_close(b"") == Close(1005, "")
    assert parse_close(struct.pack("!H", 4001) + b"bye") == Close(4001, "bye")
    assert parse_close(struct.pack("!H", 1000) + "é".encode()) == Close(1000, "é")


@pytest.mark.parametrize("chunk", [None, 1, 3])
def test_text_and_binary(chunk: int | None) -> None:
    big = bytes(range(256)) * 300  # 64-bit length field
    medium = "ü" * 200  # 16-bit length field
    events = feed_all(
        frame(TEXT, "héllo".encode()),
        frame(BINARY, b"\x00\xff"),
        frame(TEXT, b""),
        frame(TEXT, medium.encode()),
        frame(BINARY, big),
        chunk=chunk,
    )
    assert events == ["héllo", b"\x00\xff", "", medium, big]


def test_one_feed_returns_every_complete_frame() -> None:
    parser = FrameParser(None)
    data = frame(TEXT, b"one") + frame(PING, b"p") + frame(BINARY, b"two") + frame(TEXT, b"thr")
    assert parser.feed(data[:-2]) == ["one", Ping(b"p"), b"two"]
    assert parser.feed(data[-2:]) == ["thr"]


def test_incomplete_frame_waits_and_says_how_much_it_wants() -> None:
    parser = FrameParser(None)
    data = frame(BINARY, b"x" * 1000)
    assert parser.feed(data[:-10]) == []
    assert parser.wanted == 10
    assert parser.feed(data[-10:]) == [b"x" * 1000]
    assert parser.wanted == 0


def test_reassembles_fragments() -> None:
    events = feed_all(
        frame(TEXT, b"hel", fin=False),
        frame(CONT, b"", fin=False),
        frame(CONT, b"lo", fin=True),
        frame(BINARY, b"\x01", fin=False),
        frame(CONT, b"\x02\x03", fin=True),
        frame(TEXT, b"after"),
    )
    assert events == ["hello", b"\x01\x02\x03", "after"]


@pytest.mark.parametrize("chunk", [None, 1, 2])
def test_control_frames_between_fragments(chunk: int | None) -> None:
    events = feed_all(
        frame(TEXT, b"a", fin=False),
        frame(PING, b"p1"),
        frame(CONT, b"b", fin=False),
        frame(PONG, b"p2"),
        frame(CONT, b"c", fin=True),
        frame(CLOSE, struct.pack("!H", 1000)),
        chunk=chunk,
    )
    assert events == [Ping(b"p1"), Pong(b"p2"), "abc", Close(1000, "")]


def test_close_frame_is_parsed_once_and_ends_the_stream() -> None:
    parser = FrameParser(None)
    data = frame(CLOSE, struct.pack("!H", 4001) + b"bye") + frame(TEXT, b"ignored") + b"\xff\xff"
    assert parser.feed(data) == [Close(4001, "bye")]
    assert parser.feed(frame(TEXT, b"also ignored")) == []


def test_control_frame_of_125_bytes_is_fine() -> None:
    assert feed_all(frame(PING, b"x" * 125)) == [Ping(b"x" * 125)]


@pytest.mark.parametrize("chunk", [None, 1])
def test_utf8_split_across_fragments(chunk: int | None) -> None:
    text = "aé€😀"
    data = text.encode()
    parts = [data[:2], data[2:5], data[5:8], data[8:]]  # every cut falls inside a character
    frames = [frame(TEXT, parts[0], fin=False)]
    frames += [frame(CONT, part, fin=False) for part in parts[1:-1]]
    frames.append(frame(CONT, parts[-1]))
    assert feed_all(*frames, chunk=chunk) == [text]


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
@pytest.mark.parametrize("chunk", [None, 1])
def test_protocol_errors(frames: list[bytes], code: int, chunk: int | None) -> None:
    error = protocol_error(*frames, chunk=chunk)
    assert error.close_code == code
    assert isinstance(error, geventws.WebSocketError)


def test_events_before_an_error_are_returned_first() -> None:
    parser = FrameParser(None)
    events = parser.feed(frame(TEXT, b"good") + frame(PING, b"p") + frame(0x3, b"bad") + frame(TEXT, b"x"))
    assert events == ["good", Ping(b"p")]
    assert parser.error is not None and parser.error.close_code == 1002
    with pytest.raises(ProtocolError):
        parser.feed(b"")


def test_whole_small_messages_take_the_short_way_with_the_same_outcome() -> None:
    # Whole text and binary frames under 126 bytes at the start of a read skip
    # the general machinery; what follows them (a ping, a long frame, a
    # fragmented message, a broken rule) goes the general way, as does a split feed.
    stream = b"".join(
        [
            frame(TEXT, "héllo".encode()),
            frame(BINARY, bytes(range(125))),
            frame(BINARY, b""),
            frame(PING, b"p"),
            frame(TEXT, b"a" * 126),
            frame(TEXT, b"fr", fin=False),
            frame(CONT, b"ag"),
            frame(TEXT, b"after"),
        ]
    )
    expected = ["héllo", bytes(range(125)), b"", Ping(b"p"), "a" * 126, "frag", "after"]
    assert feed_all(stream) == expected
    assert feed_all(stream, chunk=1) == expected
    parser = FrameParser(None)
    events = parser.feed(frame(TEXT, b"ok") + frame(TEXT, b"\xff") + frame(TEXT, b"never"))
    assert events == ["ok"] and parser.error is not None and parser.error.close_code == 1007
    with pytest.raises(MessageTooBig):  # the limit holds on the short way too
        FrameParser(4).feed(frame(BINARY, b"12345"))
    # Pings and pongs take the short way too, free of the message size limit.
    assert FrameParser(4).feed(frame(PONG, b"123456") + frame(PING, b"abcdef")) == [
        Pong(b"123456"),
        Ping(b"abcdef"),
    ]
    with pytest.raises(ProtocolError):  # so does the rule on masked frames
        FrameParser(None).feed(frame(BINARY, b"x", mask=True))


def test_binary_with_invalid_utf8_is_fine() -> None:
    assert feed_all(frame(BINARY, b"\xff\xfe")) == [b"\xff\xfe"]


def test_invalid_utf8_fails_before_the_frame_is_complete() -> None:
    # Only part of the frame has arrived: the error must not wait for the rest.
    parser = FrameParser(None)
    data = frame(TEXT, b"ok\xff" + b"x" * 100)
    with pytest.raises(ProtocolError) as info:
        parser.feed(data[:10])
    assert info.value.close_code == 1007


def test_invalid_utf8_fails_before_the_last_fragment() -> None:
    assert protocol_error(frame(TEXT, b"ok\xff", fin=False)).close_code == 1007


@pytest.mark.parametrize("length", [101, 1000, 70000, 2**40])
def test_too_big_is_raised_from_the_header(length: int) -> None:
    # Only the header is fed: the payload is never needed to decide.
    with pytest.raises(MessageTooBig) as info:
        FrameParser(100).feed(frame(BINARY, b"", length=length))
    assert info.value.close_code == 1009
    assert isinstance(info.value, ProtocolError)


def test_too_big_counts_every_fragment() -> None:
    error = protocol_error(
        frame(TEXT, b"a" * 60, fin=False), frame(CONT, b"", fin=False, length=41), max_size=100
    )
    assert isinstance(error, MessageTooBig)


def test_exactly_max_size_is_fine() -> None:
    events = feed_all(
        frame(BINARY, b"a" * 100),
        frame(TEXT, b"a" * 60, fin=False),
        frame(CONT, b"a" * 40),
        frame(TEXT, b"b" * 100),
        max_size=100,
        chunk=7,
    )
    assert events == [b"a" * 100, "a" * 100, "b" * 100]


def test_size_limit_does_not_apply_to_control_frames() -> None:
    assert feed_all(frame(PING, b"x" * 20), max_size=10) == [Ping(b"x" * 20)]


def test_without_limit() -> None:
    payload = b"z" * 100_000
    assert feed_all(frame(BINARY, payload), max_size=None, chunk=4096) == [payload]


class Upper:
    """A toy extension: RSV1 marks messages sent in lower case."""

    reserved_bits = 0x40
    max_wire_size = None

    def __init__(self) -> None:
        self.calls: list[tuple[bytes, int, bool]] = []

    def decode(self, data: bytes, reserved_bits: int, end: bool) -> bytes:
        self.calls.append((data, reserved_bits, end))
        return data.upper()


def test_extension_seam_allows_its_bits_and_decodes_marked_messages() -> None:
    extension = Upper()
    parser = FrameParser(None, extension)
    data = frame(TEXT, b"ab", rsv=4, fin=False) + frame(CONT, b"c") + frame(TEXT, b"plain")
    assert parser.feed(data) == ["ABC", "plain"]
    assert extension.calls == [(b"ab", 0x40, False), (b"c", 0x40, True)]
    with pytest.raises(ProtocolError):  # RSV1 on a continuation frame stays an error
        FrameParser(None, extension).feed(frame(TEXT, b"a", rsv=4, fin=False) + frame(CONT, b"b", rsv=4))


# -- permessage-deflate through the seam ----------------------------------------------------------


def deflated(data: bytes, stream: zlib._Compress | None = None, final: bool = True) -> bytes:
    stream = stream or zlib.compressobj(6, zlib.DEFLATED, -15)
    out = stream.compress(data) + stream.flush(zlib.Z_SYNC_FLUSH)
    return out[:-4] if final else out


def zeros_bomb(mebibytes: int) -> bytes:
    stream = zlib.compressobj(9, zlib.DEFLATED, -15)
    return b"".join(deflated(b"\0" * 2**20, stream, final=False) for _ in range(mebibytes))


@pytest.mark.parametrize("chunk", [None, 1, 7, 4096])
def test_compressed_messages_in_any_split(chunk: int | None) -> None:
    stream = zlib.compressobj(6, zlib.DEFLATED, -15)  # context takeover across messages
    text = "κόσμε 😀 ".encode() * 5000
    frames = [
        frame(TEXT, deflated(text, stream), rsv=4),
        frame(BINARY, b"plain"),
        frame(BINARY, deflated(b"ab" * 40_000, stream, final=False), rsv=4, fin=False),
        frame(PING, b"p"),
        frame(CONT, deflated(b"tail", stream)),
        frame(TEXT, deflated(text, stream), rsv=4),  # back-references into earlier messages
    ]
    parser = FrameParser(2**20, PerMessageDeflate(DeflateParams(), 2**20))
    data = b"".join(frames)
    step = chunk or len(data)
    events = [event for i in range(0, len(data), step) for event in parser.feed(data[i : i + step])]
    assert events == [text.decode(), b"plain", Ping(b"p"), b"ab" * 40_000 + b"tail", text.decode()]


@pytest.mark.parametrize("opcode", [TEXT, BINARY])
def test_a_bomb_fails_while_its_frame_is_still_arriving(opcode: int) -> None:
    data = frame(opcode, zeros_bomb(64), rsv=4)  # 64 KiB on the wire, 64 MiB inflated
    parser = FrameParser(2**20, PerMessageDeflate(DeflateParams(), 2**20))
    with pytest.raises(MessageTooBig):
        parser.feed(data[: len(data) // 2])


def test_a_compressed_message_is_bounded_on_the_wire_too() -> None:
    deflate = PerMessageDeflate(DeflateParams(), 1000)
    assert deflate.max_wire_size is not None and deflate.max_wire_size > 1000
    parser = FrameParser(1000, deflate)
    with pytest.raises(MessageTooBig):  # from the header: no payload needed
        parser.feed(frame(BINARY, b"", rsv=4, length=deflate.max_wire_size + 1)[:10])
    with pytest.raises(MessageTooBig):  # an uncompressed one keeps max_message_size
        FrameParser(1000, deflate).feed(frame(BINARY, b"", length=1001)[:4])
