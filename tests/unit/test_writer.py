"""The frame writer against websocket-client's ABNF, the reference. No greenlets, no I/O."""

from __future__ import annotations

import itertools
import os
import struct
from array import array
from collections.abc import Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from websocket import ABNF

from geventws.protocol import writer
from geventws.protocol.writer import (
    OP_BINARY,
    OP_CLOSE,
    OP_CONT,
    OP_PING,
    OP_PONG,
    OP_TEXT,
    MaskKeys,
    close_body,
    control_payload,
    encode_close,
    encode_frame,
    encode_small_frame,
    frame_chunks,
)

IMPLEMENTATIONS = ["python", "accelerated"]


@pytest.fixture(params=IMPLEMENTATIONS, autouse=True)
def masking(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Every test runs with the pure-Python masking and with the C accelerator."""
    if request.param == "python":
        monkeypatch.setattr(writer, "mask_accelerated", None)
        monkeypatch.setattr(writer, "mask", writer.mask_python)
    elif writer.mask_accelerated is None:
        pytest.skip("the speedups extra (websockets) is not installed")
    yield request.param


def reference(opcode: int, payload: bytes, fin: bool, key: bytes) -> bytes:
    """websocket-client's frame for the same mask key."""
    frame = ABNF(int(fin), 0, 0, 0, opcode, 1, payload)
    frame.get_mask_key = lambda n: key
    return frame.format()  # type: ignore[no-any-return]


keys = st.binary(min_size=4, max_size=4)
data_frames = st.tuples(
    st.sampled_from([OP_CONT, OP_TEXT, OP_BINARY]),
    st.one_of(st.binary(max_size=300), st.integers(0, 70_000).map(os.urandom)),
    st.booleans(),
)
control_frames = st.tuples(
    st.sampled_from([OP_CLOSE, OP_PING, OP_PONG]), st.binary(max_size=125), st.just(True)
)


@settings(max_examples=300, deadline=None)
@given(frame=st.one_of(data_frames, control_frames), key=keys)
def test_encode_frame_is_byte_identical_to_abnf(frame: tuple[int, bytes, bool], key: bytes) -> None:
    opcode, payload, fin = frame
    expected = reference(opcode, payload, fin, key)
    assert encode_frame(opcode, payload, fin, mask_key=key) == expected
    assert encode_frame(opcode, bytearray(payload), fin, mask_key=key) == expected
    assert encode_frame(opcode, memoryview(payload), fin, mask_key=key) == expected


@settings(max_examples=300, deadline=None)
@given(
    frame=st.one_of(
        st.tuples(st.sampled_from([OP_TEXT, OP_BINARY]), st.binary(max_size=140), st.just(True)),
        data_frames.map(lambda f: (f[0], f[1], True)),
        control_frames,
    ),
    key=keys,
)
def test_encode_small_frame_is_byte_identical_to_abnf(frame: tuple[int, bytes, bool], key: bytes) -> None:
    """The shortcut (text, binary, ping and pong under 126 bytes) and the general way it falls back to."""
    opcode, payload, _ = frame
    expected = reference(opcode, payload, True, key)
    assert encode_small_frame(opcode, payload, mask_key=key) == expected
    assert encode_small_frame(opcode, bytearray(payload), mask_key=key) == expected


@pytest.mark.parametrize(
    ("opcode", "payload", "error"),
    [
        (OP_PING, b"x" * 126, ValueError),
        (0x3, b"", ValueError),
        (16, b"x", ValueError),
        (OP_TEXT, "x", TypeError),
    ],
)
def test_encode_small_frame_refuses_what_encode_frame_refuses(
    opcode: int, payload: bytes, error: type
) -> None:
    with pytest.raises(error):
        encode_small_frame(opcode, payload)


def test_encode_small_frame_draws_a_fresh_key() -> None:
    first, second = encode_small_frame(OP_TEXT, b"same"), encode_small_frame(OP_TEXT, b"same")
    assert first[:2] == second[:2] and first[2:6] != second[2:6]


@settings(max_examples=100, deadline=None)
@given(
    size=st.integers(0, 200_000),
    chunk_size=st.integers(1, 20_000).map(lambda n: 4 * n),
    fin=st.booleans(),
    key=keys,
)
def test_frame_chunks_join_into_the_frame(size: int, chunk_size: int, fin: bool, key: bytes) -> None:
    payload = os.urandom(size)
    pieces = list(frame_chunks(OP_BINARY, payload, fin, chunk_size=chunk_size, mask_key=key))
    assert b"".join(pieces) == reference(OP_BINARY, payload, fin, key)
    if size <= chunk_size:
        assert len(pieces) == 1
    else:
        # The header, then one piece per chunk, none larger than a chunk.
        assert len(pieces) == 1 + -(-size // chunk_size)
        assert max(len(p) for p in pieces[1:]) <= chunk_size


def test_large_payload_is_chunked_lazily() -> None:
    size = 100 * 2**20
    payload = bytes(size)
    pieces = frame_chunks(OP_BINARY, payload)
    header = next(pieces)
    assert header[1] & 0x7F == 127 and struct.unpack("!Q", header[2:10])[0] == size
    total = 0
    count = 0
    for piece in pieces:  # each piece is made when asked for: only one is alive here
        assert len(piece) <= writer.CHUNK_SIZE
        total += len(piece)
        count += 1
    assert total == size and count == size // writer.CHUNK_SIZE


def test_arguments_are_checked_before_the_first_piece() -> None:
    with pytest.raises(ValueError):
        frame_chunks(OP_PING, b"x" * 126)
    with pytest.raises(ValueError):
        frame_chunks(OP_BINARY, b"x", chunk_size=6)
    with pytest.raises(TypeError):
        frame_chunks(OP_BINARY, "text")  # type: ignore[arg-type]


def test_memoryview_length_counts_bytes() -> None:
    key = b"abcd"
    numbers = array("I", range(100))
    assert encode_frame(OP_BINARY, memoryview(numbers), mask_key=key) == reference(
        OP_BINARY, numbers.tobytes(), True, key
    )
    strided = memoryview(b"abcdefgh")[::2]  # not contiguous: copied
    assert encode_frame(OP_BINARY, strided, mask_key=key) == reference(OP_BINARY, b"aceg", True, key)


@pytest.mark.parametrize(
    ("opcode", "payload", "fin"),
    [(OP_PING, b"x" * 126, True), (OP_CLOSE, b"", False), (0x3, b"", True), (16, b"", True)],
)
def test_encode_frame_refuses_what_rfc_6455_forbids(opcode: int, payload: bytes, fin: bool) -> None:
    with pytest.raises(ValueError):
        encode_frame(opcode, payload, fin)


@pytest.mark.parametrize("payload", ["text", 5, None, [1, 2]])
def test_encode_frame_refuses_payloads_that_are_not_bytes(payload: object) -> None:
    with pytest.raises(TypeError):
        encode_frame(OP_BINARY, payload)  # type: ignore[arg-type]


# -- control payloads and close bodies ----------------------------------------------------------


def test_control_payload_accepts_str_and_bytes_like() -> None:
    assert control_payload("é") == "é".encode()
    assert control_payload(b"ab") == b"ab"
    assert control_payload(bytearray(b"ab")) == b"ab"
    assert control_payload(memoryview(b"ab")) == b"ab"
    assert control_payload(b"x" * 125) == b"x" * 125


@pytest.mark.parametrize("bad", [5, None, 1.5, [1]])
def test_control_payload_refuses_other_types(bad: object) -> None:
    with pytest.raises(TypeError):  # ping(5) must not send five NUL bytes
        control_payload(bad)  # type: ignore[arg-type]


def test_control_payload_limit() -> None:
    with pytest.raises(ValueError):
        control_payload(b"x" * 126)
    with pytest.raises(ValueError):
        control_payload("é" * 63)  # 126 bytes in UTF-8


def test_close_body() -> None:
    assert close_body() == b""
    assert close_body(1000) == b"\x03\xe8"
    assert close_body(4001, "bye") == struct.pack("!H", 4001) + b"bye"
    assert close_body(1000, "x" * 123) == b"\x03\xe8" + b"x" * 123


@pytest.mark.parametrize(
    ("code", "reason"),
    [(1000.0, ""), ("1000", ""), (True, ""), (1000, None), (1000, b"bytes")],
)
def test_close_body_type_errors(code: object, reason: object) -> None:
    with pytest.raises(TypeError):
        close_body(code, reason)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("code", "reason"),
    [
        *[(code, "") for code in (999, 1004, 1005, 1006, 1015, 2999, 5000)],
        (1000, "x" * 124),
        (None, "a reason without a code"),
    ],
)
def test_close_body_value_errors(code: int | None, reason: str) -> None:
    with pytest.raises(ValueError):
        close_body(code, reason)


def test_encode_close() -> None:
    key = b"\x01\x02\x03\x04"
    assert encode_close(1001, "away", mask_key=key) == reference(OP_CLOSE, b"\x03\xe9away", True, key)
    assert encode_close(mask_key=key) == reference(OP_CLOSE, b"", True, key)


# -- mask keys ----------------------------------------------------------------------------------


def test_mask_keys_never_repeat_within_100k() -> None:
    source = MaskKeys()
    drawn = [source.next() for _ in range(100_000)]
    assert all(len(k) == 4 for k in drawn)
    assert len(set(drawn)) == len(drawn)


def test_mask_keys_do_not_repeat_within_a_small_window() -> None:
    source = MaskKeys(window=1000)
    drawn = [source.next() for _ in range(20_000)]
    for start in range(0, len(drawn) - 1000, 500):
        window = drawn[start : start + 1000]
        assert len(set(window)) == len(window)


def test_mask_keys_are_not_trivially_sequential() -> None:
    source = MaskKeys()
    values = [int.from_bytes(source.next(), "big") for _ in range(10_000)]
    steps = {(b - a) % 2**32 for a, b in itertools.pairwise(values)}
    assert len(steps) > 9_900  # a counter or a fixed stride would give a handful
    # Every bit is set about half of the time (binomial: 5000 ± 50, so ± 400 is 8 sigma).
    for bit in range(32):
        ones = sum((v >> bit) & 1 for v in values)
        assert 4_600 < ones < 5_400, bit
    # The process-wide source too, through encode_frame.
    headers = {encode_frame(OP_TEXT, b"")[2:6] for _ in range(1000)}
    assert len(headers) == 1000


def test_mask_keys_window_is_checked() -> None:
    with pytest.raises(ValueError):
        MaskKeys(window=0)
    with pytest.raises(ValueError):
        MaskKeys(window=2**20)


def test_mask_is_its_own_inverse() -> None:
    data = os.urandom(1001)
    key = os.urandom(4)
    assert writer.mask(writer.mask(data, key), key) == data


# -- permessage-deflate: RSV1 -------------------------------------------------------------------


@pytest.mark.parametrize("opcode", [OP_TEXT, OP_BINARY])
def test_rsv1_frames_match_abnf(opcode: int) -> None:
    key = b"\x01\x02\x03\x04"
    for payload in (b"", b"x" * 125, b"y" * 70_000):
        expected = ABNF(1, 1, 0, 0, opcode, 1, payload)
        expected.get_mask_key = lambda n: key  # type: ignore[method-assign]
        assert encode_frame(opcode, payload, mask_key=key, rsv1=True) == expected.format()
        chunks = frame_chunks(opcode, payload, chunk_size=4096, mask_key=key, rsv1=True)
        assert b"".join(chunks) == expected.format()


@pytest.mark.parametrize("opcode", [OP_PING, OP_PONG, OP_CLOSE, OP_CONT])
def test_rsv1_is_refused_where_rfc_7692_forbids_it(opcode: int) -> None:
    with pytest.raises(ValueError, match="RSV1"):
        encode_frame(opcode, b"", rsv1=True)


class Shouting:
    """A compressor that compresses only messages of 3 bytes or more."""

    def encode_message(self, data: writer.Payload) -> tuple[bool, writer.Payload]:
        return (True, bytes(data).upper()) if len(data) >= 3 else (False, data)


def test_message_chunks_sets_rsv1_when_the_compressor_did() -> None:
    compressed = b"".join(writer.message_chunks(OP_TEXT, b"abc", Shouting()))
    assert compressed[0] == 0xC1 and unmask_payload(compressed) == b"ABC"
    plain = b"".join(writer.message_chunks(OP_BINARY, memoryview(b"ab"), Shouting()))
    assert plain[0] == 0x82 and unmask_payload(plain) == b"ab"
    with pytest.raises(ValueError, match="only text and binary"):
        writer.message_chunks(OP_PING, b"abc", Shouting())


def unmask_payload(frame: bytes) -> bytes:
    key, payload = frame[2:6], frame[6:]
    return bytes(b ^ key[i % 4] for i, b in enumerate(payload))
