"""Codes, opcodes, states and events: the plain values of the protocol layer. No I/O."""

from __future__ import annotations

import dataclasses

import pytest
from websocket import ABNF, STATUS_NORMAL

import geventws
from geventws.protocol.codes import (
    CLOSE_CODES_NOT_SENT,
    OP_BINARY,
    OP_CLOSE,
    OP_CONT,
    OP_PING,
    OP_PONG,
    OP_TEXT,
    CloseCode,
    ErrorCode,
    is_valid_close_code,
)
from geventws.protocol.events import Close, Ping, Pong
from geventws.protocol.state import State


def test_opcodes_are_websocket_clients() -> None:
    # websocket-client is the reference for the protocol's numbers.
    assert (OP_CONT, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG) == (
        ABNF.OPCODE_CONT,
        ABNF.OPCODE_TEXT,
        ABNF.OPCODE_BINARY,
        ABNF.OPCODE_CLOSE,
        ABNF.OPCODE_PING,
        ABNF.OPCODE_PONG,
    )
    assert CloseCode.NORMAL_CLOSURE == STATUS_NORMAL


@pytest.mark.parametrize(
    ("code", "valid"),
    [
        (999, False),
        (1000, True),
        (1003, True),
        (1004, False),  # reserved
        (1005, False),  # reports "no code": never sent
        (1006, False),  # reports "lost": never sent
        (1007, True),
        (1014, True),
        (1015, False),  # reports a TLS failure: never sent
        (1016, False),
        (2999, False),
        (3000, True),  # registered with IANA
        (4999, True),  # private use
        (5000, False),
    ],
)
def test_valid_close_codes_follow_rfc_6455_section_7_4(code: int, valid: bool) -> None:
    assert is_valid_close_code(code) is valid


def test_codes_that_report_a_condition_are_never_sent() -> None:
    assert {1005, 1006, 1015} == CLOSE_CODES_NOT_SENT
    assert not any(is_valid_close_code(code) for code in CLOSE_CODES_NOT_SENT)


def test_error_codes_keep_their_documented_numbers() -> None:
    # Workerman's two, then geventws' own: users compare the ints.
    assert [(code.name, int(code)) for code in ErrorCode] == [
        ("CONNECT_FAIL", 1),
        ("SEND_FAIL", 2),
        ("HANDSHAKE_FAIL", 3),
        ("PROTOCOL_ERROR", 4),
        ("MESSAGE_TOO_BIG", 5),
        ("PING_TIMEOUT", 6),
        ("TLS_FAIL", 7),
        ("CONNECTION_LOST", 8),
    ]
    assert geventws.CONNECT_FAIL is ErrorCode.CONNECT_FAIL
    assert geventws.CONNECTION_LOST is ErrorCode.CONNECTION_LOST


def test_states_keep_their_public_values() -> None:
    assert [state.value for state in State] == ["initial", "connecting", "open", "closing", "closed"]


def test_events_are_frozen_values() -> None:
    assert Ping(b"a") == Ping(b"a") != Pong(b"a")
    assert Close(1000, "bye") == Close(1000, "bye")
    with pytest.raises(dataclasses.FrozenInstanceError):
        Close(1000, "").code = 1001  # type: ignore[misc]
