"""Property tests of the frame parser: whatever the bytes, a frame, a
ProtocolError or end-of-stream — and on valid streams the same messages as
websocket-client's own parser (frame_buffer + continuous_frame)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from websocket._abnf import ABNF, continuous_frame, frame_buffer

from geventws.exceptions import ProtocolError
from geventws.protocol.frames import OP_BINARY, OP_CLOSE, OP_PING, OP_PONG, OP_TEXT, FrameParser
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


def parse_all(data: bytes, max_size: int | None = None, chunk: int = 7) -> list[tuple[int, object]]:
    parser = FrameParser(byte_source(data, chunk), max_size)
    out: list[tuple[int, object]] = []
    try:
        while True:
            out.append(tuple(parser.read()))  # type: ignore[arg-type]
    except EOFError:
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
@given(message_frames(), st.integers(1, 64))
def test_valid_streams_parse_to_the_messages_sent(
    case: tuple[bytes, list[tuple[int, object]]], chunk: int
) -> None:
    stream, expected = case
    assert parse_all(stream, chunk=chunk) == expected


@settings(max_examples=300, deadline=None, derandomize=True, database=None)
@given(message_frames())
def test_same_messages_as_websocket_client(case: tuple[bytes, list[tuple[int, object]]]) -> None:
    stream, _ = case
    assert parse_all(stream) == reference_parse(stream)


@settings(max_examples=1000, deadline=None, derandomize=True, database=None)
@given(st.binary(max_size=400), st.integers(1, 64))
def test_arbitrary_bytes_give_frames_or_a_protocol_error(data: bytes, chunk: int) -> None:
    try:
        events = parse_all(data, max_size=256, chunk=chunk)
    except ProtocolError as exc:
        assert exc.close_code in (1002, 1007, 1009)
        return
    for opcode, payload in events:
        assert opcode in (OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG)
        if opcode == OP_TEXT:
            assert isinstance(payload, str)
        else:
            assert isinstance(payload, bytes)
