"""geventws.protocol.escape: text a server controls, made safe for messages and logs. Pure."""

from __future__ import annotations

import pytest

from geventws.protocol.escape import escape_text

HOSTILE = "403 Forbidden \x1b]0;PWNED\x07\x1b[2J\rFAKE LOG LINE"


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("Switching Protocols", "Switching Protocols"),
        ("hello, wörld 中文 Ünïcode", "hello, wörld 中文 Ünïcode"),  # readable, not \xf6
        (HOSTILE, "403 Forbidden \\x1b]0;PWNED\\x07\\x1b[2J\\rFAKE LOG LINE"),
        ("a\nb\r\tc\x00", "a\\nb\\r\\tc\\x00"),
        ("\x7f\x85\x9b31m", "\\x7f\\x85\\x9b31m"),  # DEL, NEL and the 8-bit CSI
        ("\u202eevil\u2066", "\\u202eevil\\u2066"),  # bidi controls reorder what follows
        ("\u2028", "\\u2028"),  # a line separator
        ("\U000e0001", "\\U000e0001"),
        ("back\\slash", "back\\\\slash"),  # so that an escape cannot be faked
        ("", ""),
    ],
)
def test_escape_text(text: str, shown: str) -> None:
    assert escape_text(text) == shown


@pytest.mark.parametrize("text", [HOSTILE, "é\x1b\\\u202e\U000e0001\x00 ok", "plain"])
def test_escape_text_escapes_as_repr_does(text: str) -> None:
    assert escape_text(text) == repr(text)[1:-1]
    assert escape_text(text).isprintable()
