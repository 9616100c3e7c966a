"""The frame trace, sans-I/O (protocol/trace.py): records, JSON lines, the header
sniffer; and the trace options' checks."""

from __future__ import annotations

import io
import json
import logging
import struct

import pytest

from geventws.protocol.codes import OP_BINARY, OP_CLOSE, OP_CONT, OP_PING, OP_TEXT
from geventws.protocol.options import make_options
from geventws.protocol.trace import PAYLOAD_LIMIT, FrameSniffer, format_record, frame_record


def frame(opcode: int, payload: bytes, fin: bool = True, mask: bool = False) -> bytes:
    first = (0x80 if fin else 0) | opcode
    length = len(payload)
    if length < 126:
        head = struct.pack("!BB", first, length | (0x80 if mask else 0))
    elif length < 2**16:
        head = struct.pack("!BBH", first, 126 | (0x80 if mask else 0), length)
    else:
        head = struct.pack("!BBQ", first, 127 | (0x80 if mask else 0), length)
    return head + (b"\x00" * 4 if mask else b"") + payload


def test_payload_off_by_default() -> None:
    record = frame_record("out", OP_TEXT, True, 6, b"secret")
    assert record == {"dir": "out", "opcode": "text", "length": 6, "fin": True}


def test_payloads_when_asked_text_as_text_binary_as_hex_truncated() -> None:
    assert frame_record("in", OP_TEXT, True, 2, b"hi", payloads=True)["payload"] == "hi"
    binary = frame_record("in", OP_BINARY, False, 2, b"\x00\xff", payloads=True)
    assert binary["payload_hex"] == "00ff" and "truncated" not in binary
    long = frame_record("in", OP_TEXT, True, 1000, b"x" * 1000, payloads=True)
    assert long["payload"] == "x" * PAYLOAD_LIMIT and long["truncated"] is True


def test_compressed_text_shows_its_wire_bytes_as_hex() -> None:
    record = frame_record("in", OP_TEXT, True, 3, b"\xf2\x48\x05", rsv=4, payloads=True)
    assert record["payload_hex"] == "f24805" and "payload" not in record


def test_close_frames_show_code_and_reason() -> None:
    body = struct.pack("!H", 1001) + "bye ✓".encode()
    assert frame_record("in", OP_CLOSE, True, len(body), body)[("code")] == 1001
    assert frame_record("in", OP_CLOSE, True, len(body), body)["reason"] == "bye ✓"
    assert frame_record("out", OP_CLOSE, True, 0, b"")["code"] == 1005


def test_reserved_bits_and_unknown_opcodes() -> None:
    record = frame_record("in", 0x3, True, 0, b"", rsv=4)
    assert (record["opcode"], record["rsv"]) == ("0x3", 4)


def test_a_json_line() -> None:
    line = format_record(12.5, "abcd1234", frame_record("in", OP_PING, True, 0, b""))
    assert "\n" not in line
    assert json.loads(line) == {
        "time": 12.5, "conn": "abcd1234", "dir": "in", "opcode": "ping", "length": 0, "fin": True,
    }  # fmt: skip


@pytest.mark.parametrize("reason", ["\x9b2J", "\u202eevil", "\x7f", "\x1b]0;PWNED\x07\r"])
def test_a_json_line_holds_no_raw_control_character(reason: str) -> None:
    body = struct.pack("!H", 4000) + f"é {reason}".encode()
    line = format_record(1.0, "c", frame_record("in", OP_CLOSE, True, len(body), body))
    assert line.isprintable(), line
    assert json.loads(line)["reason"] == f"é {reason}"  # the same value, escaped as JSON


def test_a_json_line_keeps_readable_text_readable() -> None:
    body = struct.pack("!H", 1000) + "bye ✓ é".encode()
    assert "bye ✓ é" in format_record(1.0, "c", frame_record("in", OP_CLOSE, True, len(body), body))


STREAM = (
    frame(OP_TEXT, b"frag", fin=False)
    + frame(OP_CONT, b"ment")
    + frame(OP_BINARY, b"\x01" * 300)
    + frame(OP_BINARY, b"\x02" * 70000)
    + frame(OP_PING, b"", mask=True)
    + frame(OP_CLOSE, struct.pack("!H", 1000) + b"done")
)
EXPECTED = [
    (OP_TEXT, False, 4),
    (OP_CONT, True, 4),
    (OP_BINARY, True, 300),
    (OP_BINARY, True, 70000),
    (OP_PING, True, 0),
    (OP_CLOSE, True, 6),
]


@pytest.mark.parametrize("step", [1, 2, 3, 7, 125, 4096, len(STREAM)])
def test_sniffer_finds_every_frame_in_any_split(step: int) -> None:
    sniffer = FrameSniffer()
    frames = []
    for start in range(0, len(STREAM), step):
        frames += sniffer.feed(STREAM[start : start + step])
    assert [(opcode, fin, length) for opcode, fin, _, length, _ in frames] == EXPECTED
    assert frames[-1][4] == struct.pack("!H", 1000) + b"done"
    assert all(len(head) <= 128 for *_, head in frames)  # memory stays bounded


def test_sniffer_reports_reserved_bits() -> None:
    ((_, _, rsv, _, _),) = FrameSniffer().feed(b"\xc1\x00")  # FIN + RSV1, text, empty
    assert rsv == 4


def test_trace_options_checked_at_construction() -> None:
    assert make_options("ws://h/").trace is None
    assert make_options("ws://h/", trace=io.StringIO(), trace_payloads=True).trace_payloads
    assert make_options("ws://h/", trace=logging.getLogger("x")).trace is not None
    with pytest.raises(TypeError, match="trace"):
        make_options("ws://h/", trace="trace.log")
    with pytest.raises(TypeError, match="trace_payloads"):
        make_options("ws://h/", trace_payloads=1)  # type: ignore[arg-type]
