"""Property tests of the frame parser, fed in arbitrary splits: whatever the
bytes, events or a ProtocolError — and on valid streams the same messages as
websocket-client's own parser (frame_buffer + continuous_frame)."""

from __future__ import annotations

import itertools

from hypothesis import given, settings
from hypothesis import strategies as st
from websocket._abnf import ABNF, continuous_frame, frame_buffer

from geventws.exceptions import ProtocolError
from geventws.protocol.codes import OP_BINARY, OP_CLOSE, OP_PING, OP_PONG, OP_TEXT
from geventws.protocol.events import Close, Event, Ping, Pong
from geventws.protocol.parser import FrameParser
from tests.rawserver import frame


def byte_source(data: bytes, chunk: int = 7):  # type: ignore[no-untyped-def]
    view = memoryview(data)
    position = 0

    def recv(n: int) -> bytes:
        nonlocal position
        piece = bytes(view[position : position + min(n, chunk)])
        position += len(piece)
        return piece

    return recv


def as_tuple(event: Event) -> tuple[int, object]:
    """An event as (opcode, data), the shape websocket-client's parser gives."""
    if isinstance(event, str):
        return OP_TEXT, event
    if isinstance(event, bytes):
        return OP_BINARY, event
    if isinstance(event, Ping):
        return OP_PING, event.payload
    if isinstance(event, Pong):
        return OP_PONG, event.payload
    assert isinstance(event, Close)
    return OP_CLOSE, (event.code, event.reason)


def parse_all(
    data: bytes, max_size: int | None = None, cuts: list[int] | None = None
) -> list[tuple[int, object]]:
    """Feed ``data`` cut at ``cuts`` (default: 7-byte pieces) and collect the events."""
    if cuts is None:
        cuts = list(range(7, len(data), 7))
    bounds = [0, *sorted(set(cuts)), len(data)]
    parser = FrameParser(max_size)
    out: list[tuple[int, object]] = []
    for start, end in itertools.pairwise(bounds):
        out += [as_tuple(event) for event in parser.feed(data[start:end])]
        if parser.error is not None:
            raise parser.error
    return out


def reference_parse(data: bytes) -> list[tuple[int, object]]:
    """websocket-client's reading path, as WebSocket.recv_data_frame uses it."""
    recv = byte_source(data, 1 << 30)

    def strict_recv(n: int) -> bytes:
        piece = recv(n)
        if not piece:
            raise EOFError
        return piece

    buffer = frame_buffer(strict_recv, skip_utf8_validation=False)
    cont = continuous_frame(fire_cont_frame=False, skip_utf8_validation=False)
    out: list[tuple[int, object]] = []
    while True:
        try:
            f = buffer.recv_frame()
        except EOFError:
            return out
        if f.opcode in (ABNF.OPCODE_TEXT, ABNF.OPCODE_BINARY, ABNF.OPCODE_CONT):
            cont.validate(f)
            cont.add(f)
            if cont.is_fire(f):
                opcode, whole = cont.extract(f)
                payload = whole.data
                out.append((opcode, payload.decode() if opcode == OP_TEXT else payload))
        else:
            out.append((f.opcode, f.data))


text = st.text(max_size=300)
binary = st.binary(max_size=300)


@st.composite
def message_frames(draw: st.DrawFn) -> tuple[bytes, list[tuple[int, object]]]:
    """A valid server stream: messages, some fragmented, control frames between fragments."""
    stream = b""
    expected: list[tuple[int, object]] = []
    for _ in range(draw(st.integers(1, 6))):
        kind = draw(st.sampled_from(["text", "binary", "ping", "pong"]))
        if kind in ("ping", "pong"):
            payload = draw(st.binary(max_size=125))
            opcode = OP_PING if kind == "ping" else OP_PONG
            stream += frame(opcode, payload)
            expected.append((opcode, payload))
            continue
        value: str | bytes = draw(text) if kind == "text" else draw(binary)
        raw = value.encode() if isinstance(value, str) else value
        opcode = OP_TEXT if kind == "text" else OP_BINARY
        cuts = sorted(draw(st.lists(st.integers(0, len(raw)), max_size=3)))
        pieces = [raw[a:b] for a, b in zip([0, *cuts], [*cuts, len(raw)], strict=True)]
        interleaved: list[tuple[int, object]] = []
        for i, piece in enumerate(pieces):
            stream += frame(opcode if i == 0 else 0, piece, fin=i == len(pieces) - 1)
            if i < len(pieces) - 1 and draw(st.booleans()):
                ping = draw(st.binary(max_size=20))
                stream += frame(OP_PING, ping)
                interleaved.append((OP_PING, ping))
        expected.extend(interleaved)
        expected.append((opcode, value))
    return stream, expected


@settings(max_examples=300, deadline=None, derandomize=True, database=None)
@given(message_frames(), st.lists(st.integers(0, 4000), max_size=12))
def test_valid_streams_parse_to_the_messages_sent(
    case: tuple[bytes, list[tuple[int, object]]], cuts: list[int]
) -> None:
    stream, expected = case
    assert parse_all(stream, cuts=[cut % (len(stream) + 1) for cut in cuts]) == expected


@settings(max_examples=300, deadline=None, derandomize=True, database=None)
@given(message_frames())
def test_same_messages_as_websocket_client(case: tuple[bytes, list[tuple[int, object]]]) -> None:
    stream, _ = case
    assert parse_all(stream) == reference_parse(stream)


@settings(max_examples=1000, deadline=None, derandomize=True, database=None)
@given(st.binary(max_size=400), st.lists(st.integers(0, 400), max_size=12))
def test_arbitrary_bytes_give_frames_or_a_protocol_error(data: bytes, cuts: list[int]) -> None:
    try:
        events = parse_all(data, max_size=256, cuts=cuts)
    except ProtocolError as exc:
        assert exc.close_code in (1002, 1007, 1009)
        return
    for opcode, payload in events:
        assert opcode in (OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG)
        if opcode == OP_TEXT:
            assert isinstance(payload, str)
        elif opcode != OP_CLOSE:
            assert isinstance(payload, bytes)


@settings(max_examples=300, deadline=None, derandomize=True, database=None)
@given(st.binary(max_size=400), st.lists(st.integers(0, 400), max_size=12))
def test_the_split_does_not_change_the_outcome(data: bytes, cuts: list[int]) -> None:
    def outcome(cuts: list[int]) -> object:
        try:
            return parse_all(data, max_size=256, cuts=cuts)
        except ProtocolError as exc:
            return exc.close_code

    assert outcome(cuts) == outcome([])
