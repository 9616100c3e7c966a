"""permessage-deflate messages: our Deflater and Inflater against python-websockets'
PerMessageDeflate (an independent implementation), both ways, for every window
size and context takeover setting; decompression bombs; the RSV1 rules.
No greenlets, no I/O."""

from __future__ import annotations

import itertools
import json
import os
import tracemalloc
import zlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from websockets.extensions.permessage_deflate import PerMessageDeflate as TheirDeflate
from websockets.frames import Frame, Opcode

from geventws.exceptions import MessageTooBig, ProtocolError
from geventws.protocol.events import Event, Ping
from geventws.protocol.extensions import (
    DeflateParams,
    Deflater,
    Inflater,
    PerMessageDeflate,
    client_codecs,
)
from geventws.protocol.extensions.codec import CHUNK, compressed_size_limit
from geventws.protocol.parser import FrameParser

# -- helpers ---------------------------------------------------------------------------------------


def feed_messages() -> list[bytes]:
    """A JSON feed with repeats (context takeover pays), plus edge cases."""
    ticks = [
        json.dumps({"symbol": "BTC-USD", "price": 40000 + i * 7 % 113, "size": i % 9, "seq": i}).encode()
        for i in range(12)
    ]
    return [*ticks, b"", b"x", os.urandom(300), bytes(3 * CHUNK + 17), ticks[0] * 50, *ticks[:3]]


def split(data: bytes, pieces: int) -> list[bytes]:
    """``data`` in ``pieces`` parts (some may be empty)."""
    step = max(1, len(data) // pieces)
    parts = [data[i * step : (i + 1) * step] for i in range(pieces - 1)]
    return [*parts, data[(pieces - 1) * step :]]


def theirs(params: DeflateParams) -> TheirDeflate:
    """websockets' extension as the server side of ``params``."""
    return TheirDeflate(
        remote_no_context_takeover=params.client_no_context_takeover,
        local_no_context_takeover=params.server_no_context_takeover,
        remote_max_window_bits=params.client_max_window_bits,
        local_max_window_bits=max(params.server_max_window_bits, 9),  # they cannot compress with 8
    )


def send_ours(deflater: Deflater, server: TheirDeflate, message: bytes, pieces: int) -> bytes:
    """Compress ``message`` in ``pieces`` frames with ours; inflate with theirs."""
    compressed = deflater.should_compress(len(message))
    out = []
    for index, piece in enumerate(split(message, pieces)):
        fin = index == pieces - 1
        payload = deflater.compress(piece, fin) if compressed else piece
        opcode = Opcode.BINARY if index == 0 else Opcode.CONT
        frame = server.decode(Frame(opcode, payload, fin, rsv1=compressed and index == 0), max_size=None)
        out.append(frame.data)
    return b"".join(out)


def receive_ours(inflater: Inflater, server: TheirDeflate, message: bytes, pieces: int) -> bytes:
    """Compress ``message`` in ``pieces`` frames with theirs; inflate with ours."""
    out = []
    for index, piece in enumerate(split(message, pieces)):
        fin = index == pieces - 1
        frame = server.encode(Frame(Opcode.BINARY if index == 0 else Opcode.CONT, piece, fin))
        assert frame.rsv1 == (index == 0)
        out.append(inflater.feed(frame.data))
    out.append(inflater.finish())
    return b"".join(out)


# -- against python-websockets, every combination ----------------------------------------------------

COMBINATIONS = [
    DeflateParams(server_no, client_no, server_bits, client_bits)
    for server_no, client_no, server_bits, client_bits in itertools.product(
        [False, True], [False, True], range(9, 16), range(8, 16)
    )
]


@pytest.mark.parametrize("params", COMBINATIONS, ids=repr)
def test_both_directions_agree_with_websockets(params: DeflateParams) -> None:
    deflater, inflater = client_codecs(params, max_message_size=None)
    server = theirs(params)
    for number, message in enumerate(feed_messages() * 2):
        pieces = 1 + number % 3  # whole messages and fragmented ones, in a row
        assert send_ours(deflater, server, message, pieces) == message
        assert receive_ours(inflater, server, message, pieces) == message


def test_window_bits_8_are_honoured() -> None:
    # zlib cannot compress with a 256-byte window, so we send uncompressed (RFC 7692 allows it)...
    deflater = Deflater(8)
    assert not deflater.should_compress(1000)
    # ...and inflate with one: a peer's stream with no back-references (stored blocks) passes.
    inflater = Inflater(8)
    for message in feed_messages():
        peer = zlib.compressobj(0, zlib.DEFLATED, -9)
        payload = peer.compress(message) + peer.flush(zlib.Z_SYNC_FLUSH)
        assert inflater.decompress(payload[:-4]) == message


@settings(max_examples=150, deadline=None, derandomize=True, database=None)
@given(
    params=st.sampled_from(COMBINATIONS),
    messages=st.lists(st.tuples(st.binary(max_size=3000), st.integers(1, 4)), min_size=1, max_size=6),
)
def test_random_messages_round_trip(params: DeflateParams, messages: list[tuple[bytes, int]]) -> None:
    deflater, inflater = client_codecs(params, max_message_size=None)
    server = theirs(params)
    for message, pieces in messages:
        assert send_ours(deflater, server, message, pieces) == message
        assert receive_ours(inflater, server, message, pieces) == message


@pytest.mark.parametrize("chunk", [1, 7, 1000])
def test_inflater_takes_any_slicing(chunk: int) -> None:
    server = theirs(DeflateParams())
    inflater = Inflater()
    for message in feed_messages():
        payload = server.encode(Frame(Opcode.BINARY, message)).data
        parts = [inflater.feed(payload[i : i + chunk]) for i in range(0, len(payload), chunk)]
        assert b"".join(parts) + inflater.finish() == message


# -- context takeover ------------------------------------------------------------------------------


@pytest.mark.parametrize("no_context_takeover", [False, True])
def test_deflater_context_takeover_as_agreed(no_context_takeover: bool) -> None:
    message = json.dumps({"feed": "depth", "bids": list(range(40))}).encode()
    deflater = Deflater(no_context_takeover=no_context_takeover)
    first, second = deflater.compress(message), deflater.compress(message)
    # With takeover the repeat is a back-reference into the last message; without, it starts over.
    assert (second == first) == no_context_takeover
    assert (len(second) < len(first) // 4) == (not no_context_takeover)


def test_inflater_resets_without_context_takeover() -> None:
    server = theirs(DeflateParams())  # compresses with context takeover
    message = b"a repeated message " * 20
    first = server.encode(Frame(Opcode.TEXT, message)).data
    second = server.encode(Frame(Opcode.TEXT, message)).data  # refers to the first
    assert Inflater().decompress(first) == message
    keeping = Inflater()
    assert [keeping.decompress(first), keeping.decompress(second)] == [message, message]
    resetting = Inflater(no_context_takeover=True)
    resetting.decompress(first)
    with pytest.raises(ProtocolError) as info:
        resetting.decompress(second)  # its back-reference has nothing to point to
    assert info.value.close_code == 1007


# -- the agreed window ----------------------------------------------------------------------------


def repeat_at(distance: int) -> bytes:
    """Random bytes whose only redundancy is a block (240 bytes or more) repeated
    ``distance`` bytes later: deflate can shrink it only with a back-reference that far."""
    block = os.urandom(min(300, distance))
    return os.urandom(300) + block + os.urandom(distance - len(block)) + block


def deflate_with(window_bits: int, message: bytes) -> bytes:
    """``message`` as a server with a ``window_bits`` window compresses it (tail stripped)."""
    stream = zlib.compressobj(6, zlib.DEFLATED, -window_bits)
    payload = stream.compress(message) + stream.flush(zlib.Z_SYNC_FLUSH)
    return payload[:-4]


def inflate_in_slices(inflater: Inflater, payload: bytes, chunk: int) -> bytes:
    parts = [inflater.feed(payload[i : i + chunk]) for i in range(0, len(payload), chunk)]
    return b"".join(parts) + inflater.finish()


@pytest.mark.parametrize("chunk", [1, 7, 1000, 2**20])
@pytest.mark.parametrize("bits", [8, 9, 10, 12])
def test_a_reference_beyond_the_agreed_window_fails_with_1007(bits: int, chunk: int) -> None:
    # Twice the window: refused wherever it falls (zlib also lets a reference reach
    # the output of the current call, which the Inflater keeps under one window).
    message = repeat_at(2 << bits)
    payload = deflate_with(15, message)
    assert len(payload) < len(message) - 100  # the repeat is one back-reference
    with pytest.raises(ProtocolError, match="too far back") as info:
        inflate_in_slices(Inflater(bits), payload, chunk)
    assert info.value.close_code == 1007


@pytest.mark.parametrize("chunk", [1, 7, 1000, 2**20])
@pytest.mark.parametrize("bits", [8, 9, 10, 12, 15])
def test_references_within_the_agreed_window_pass(bits: int, chunk: int) -> None:
    # zlib reaches at most its window minus 262 bytes back; it cannot compress raw
    # deflate with 8 bits, and 9 bits reach 250 bytes, within 8 bits' 256.
    distance = (1 << max(bits, 9)) - 262
    message = repeat_at(distance)
    payload = deflate_with(max(bits, 9), message)
    assert len(payload) < len(message) - 100
    assert inflate_in_slices(Inflater(bits), payload, chunk) == message


# -- bombs and bad data ----------------------------------------------------------------------------

MiB = 2**20


def zero_bomb(mebibytes: int) -> bytes:
    """A raw deflate stream (sync-flushed, tail stripped) of ``mebibytes`` MiB of zeros.

    Built without compressing it all: once the window holds zeros, each further MiB
    of zeros compresses to the same sync-flushed block, so the block is repeated.
    """
    stream = zlib.compressobj(9, zlib.DEFLATED, -15, 9)
    zeros = bytes(MiB)
    blocks = [stream.compress(zeros) + stream.flush(zlib.Z_SYNC_FLUSH) for _ in range(3)]
    assert blocks[1] == blocks[2]
    bomb = blocks[0] + blocks[1] * (mebibytes - 1)
    return bomb[:-4]


def test_zero_bomb_is_what_it_says() -> None:
    assert Inflater().decompress(zero_bomb(3)) == bytes(3 * MiB)


@pytest.mark.parametrize(("payload_kib", "limit_kib"), [(1, 64), (1018, 1024)])
def test_bomb_fails_with_1009_in_bounded_memory(payload_kib: int, limit_kib: int) -> None:
    # DEFLATE inflates at most ~1032:1, so 1 KiB gives ~1 MiB and 1 GiB needs a ~1 MiB frame.
    bomb = zero_bomb(1024)
    payload = bomb[: payload_kib * 1024]
    inflater = Inflater(max_message_size=limit_kib * 1024)
    tracemalloc.start()
    try:
        with pytest.raises(MessageTooBig) as info:
            inflater.feed(payload)
            inflater.finish()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert info.value.close_code == 1009
    # The limit plus a chunk or two, never the gigabyte.
    assert peak < limit_kib * 1024 + 4 * CHUNK + 256 * 1024, peak


def test_inflated_size_limit_is_exact() -> None:
    message = bytes(5 * CHUNK + 3)  # several chunks: output held back by a full chunk is counted
    payload = Deflater().compress(message)
    assert Inflater(max_message_size=len(message)).decompress(payload) == message
    with pytest.raises(MessageTooBig):
        Inflater(max_message_size=len(message) - 1).decompress(payload)


def test_limit_counts_the_whole_message_across_frames() -> None:
    deflater = Deflater()
    inflater = Inflater(max_message_size=1000)
    inflater.feed(deflater.compress(os.urandom(600), fin=False))
    with pytest.raises(MessageTooBig):
        inflater.feed(deflater.compress(os.urandom(600)))


def test_limit_is_per_message() -> None:
    deflater = Deflater()
    inflater = Inflater(max_message_size=1000)
    for _ in range(5):
        assert len(inflater.decompress(deflater.compress(os.urandom(900)))) == 900


@pytest.mark.parametrize("payload", [b"\xff\xff\xff", b"\x07garbage", bytes([0x04]) * 10])
def test_invalid_deflate_data_fails_with_1007(payload: bytes) -> None:
    with pytest.raises(ProtocolError) as info:
        Inflater().decompress(payload)
    assert info.value.close_code == 1007


def test_final_block_ends_the_message_and_the_stream() -> None:
    # A peer may end a message with a BFINAL block (RFC 7692 §7.2.3.4).
    final = zlib.compressobj(wbits=-15)
    payload = final.compress(b"Hello") + final.flush(zlib.Z_FINISH)
    inflater = Inflater()
    assert inflater.decompress(payload) == b"Hello"
    assert inflater.decompress(payload) == b"Hello"  # the next message starts a new stream
    with pytest.raises(ProtocolError, match="after the final deflate block"):
        inflater.decompress(payload + b"\x00junk")


def test_empty_message_forms() -> None:
    assert Deflater().compress(b"") == b"\x00"  # RFC 7692 §7.2.3.6
    for payload in (b"", b"\x00", b"\x02\x00"):
        assert Inflater().decompress(payload) == b""


@pytest.mark.parametrize("level", [0, 1, 6, 9])
@pytest.mark.parametrize("size", [0, 1, 125, 70_000, 300_000])
def test_compressed_size_limit_admits_incompressible_messages(level: int, size: int) -> None:
    message = os.urandom(size)
    for mem_level in (1, 9):
        fragments = [Deflater(level=level, mem_level=mem_level).compress(message)]
        deflater = Deflater(level=level, mem_level=mem_level)  # the same in 100 fragments
        pieces = split(message, 100)
        fragments += [b"".join(deflater.compress(p, fin=i == 99) for i, p in enumerate(pieces))]
        for payload in fragments:
            limit = compressed_size_limit(size)
            assert limit is not None and len(payload) <= limit
    assert compressed_size_limit(None) is None


def test_small_message_threshold() -> None:
    deflater = Deflater(min_size=64)
    assert not deflater.should_compress(63)
    assert deflater.should_compress(64)


def test_bad_window_bits_are_refused() -> None:
    with pytest.raises(ValueError):
        Deflater(16)
    with pytest.raises(ValueError):
        Inflater(7)


# -- the RSV1 rules --------------------------------------------------------------------------------


def wire(frame: Frame, rsv: int = 0) -> bytes:
    """A server frame's bytes (unmasked), with extra reserved bits ``rsv``."""
    first = (0x80 if frame.fin else 0) | (0x40 if frame.rsv1 else 0) | rsv | frame.opcode.value
    n = len(frame.data)
    if n < 126:
        head = bytes([first, n])
    elif n < 2**16:
        head = bytes([first, 126]) + n.to_bytes(2, "big")
    else:
        head = bytes([first, 127]) + n.to_bytes(8, "big")
    return head + frame.data


def receive(deflate: PerMessageDeflate | None, frames: list[Frame], rsv: int = 0) -> list[Event]:
    """What the frame parser, given ``deflate`` as its extension, delivers for ``frames``."""
    parser = FrameParser(None, deflate)
    events = parser.feed(b"".join(wire(frame, rsv) for frame in frames))
    if parser.error is not None:
        raise parser.error
    return events


@pytest.mark.parametrize(
    ("frame", "agreed"),
    [
        (Frame(Opcode.TEXT, b""), False),
        (Frame(Opcode.TEXT, b""), True),
        (Frame(Opcode.PING, b""), True),
    ],
)
def test_frames_without_rsv1_pass(frame: Frame, agreed: bool) -> None:
    deflate = PerMessageDeflate(DeflateParams(), max_message_size=None) if agreed else None
    assert len(receive(deflate, [frame])) == 1


@pytest.mark.parametrize(
    ("frames", "agreed", "rsv", "kind"),
    [
        ([Frame(Opcode.TEXT, b"a", rsv1=True)], False, 0, "data"),  # nothing agreed
        (
            [Frame(Opcode.TEXT, b"a", fin=False, rsv1=True), Frame(Opcode.CONT, b"b", rsv1=True)],
            True,
            0,
            "continuation",
        ),
        ([Frame(Opcode.TEXT, b"a", fin=False), Frame(Opcode.CONT, b"b", rsv1=True)], True, 0, "continuation"),
        ([Frame(Opcode.PING, b"", rsv1=True)], True, 0, "control"),
        ([Frame(Opcode.CLOSE, b"", rsv1=True)], True, 0, "control"),
        ([Frame(Opcode.TEXT, b"")], True, 0x20, "data"),  # RSV2: no extension uses it
        ([Frame(Opcode.BINARY, b"")], True, 0x10, "data"),  # RSV3 either
    ],
)
def test_misplaced_reserved_bits_fail_with_1002(
    frames: list[Frame], agreed: bool, rsv: int, kind: str
) -> None:
    deflate = PerMessageDeflate(DeflateParams(), max_message_size=None) if agreed else None
    with pytest.raises(ProtocolError, match=f"on a {kind} frame") as info:
        receive(deflate, frames, rsv)
    assert info.value.close_code == 1002


def test_the_parser_follows_compressed_messages_across_frames() -> None:
    params = DeflateParams(server_max_window_bits=10)
    server = theirs(params)
    frames = [
        server.encode(Frame(Opcode.TEXT, b"compressed, one frame " * 10)),
        Frame(Opcode.BINARY, b"plain, one frame"),  # RFC 7692: a message may go uncompressed
        server.encode(Frame(Opcode.TEXT, b"compressed ", fin=False)),
        Frame(Opcode.PING, b"between fragments"),
        server.encode(Frame(Opcode.CONT, b"in three ", fin=False)),
        server.encode(Frame(Opcode.CONT, b"frames")),
        Frame(Opcode.BINARY, b"plain ", fin=False),
        Frame(Opcode.CONT, b"in two"),
        server.encode(Frame(Opcode.TEXT, b"compressed, one frame " * 10)),  # takes the context over
    ]
    assert [f.rsv1 for f in frames] == [True, False, True, False, False, False, False, False, True]
    assert receive(PerMessageDeflate(params, max_message_size=None), frames) == [
        "compressed, one frame " * 10,
        b"plain, one frame",
        Ping(b"between fragments"),
        "compressed in three frames",
        b"plain in two",
        "compressed, one frame " * 10,
    ]


def test_encode_message_is_what_websockets_reads() -> None:
    params = DeflateParams(client_no_context_takeover=True, client_max_window_bits=11)
    deflate = PerMessageDeflate(params, max_message_size=None)
    server = theirs(params)
    for message in feed_messages():
        rsv1, payload = deflate.encode_message(message)
        assert rsv1
        assert server.decode(Frame(Opcode.BINARY, payload, rsv1=rsv1)).data == message
    unable = PerMessageDeflate(DeflateParams(client_max_window_bits=8), max_message_size=None)
    assert unable.encode_message(b"abc" * 100) == (False, b"abc" * 100)
