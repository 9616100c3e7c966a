"""geventws.cli.display: what a hostile server's messages look like on a terminal."""

from __future__ import annotations

import io
import logging
import sys

import pytest

from geventws.cli.display import Output, TerminalFormatter, describe, escape_text, redacted_lines, shown


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("hello, wörld 中文", "hello, wörld 中文"),
        ("a\nb\r\tc", "a\\nb\\r\\tc"),
        ("\x1b[2J\x07\x00", "\\x1b[2J\\x07\\x00"),
        ("\u202eevil", "\\u202eevil"),  # a bidi override reorders what follows
        ("\x9b31m", "\\x9b31m"),  # the 8-bit CSI
        ("back\\slash", "back\\\\slash"),  # so that an escape cannot be faked
        ("\U000e0001", "\\U000e0001"),
    ],
)
def test_escape_text(text: str, shown: str) -> None:
    assert escape_text(text) == shown


def test_describe() -> None:
    assert describe("hi\n") == "text: hi\\n"
    assert describe(b"\x00\xffA") == "binary (3 bytes): 00 ff 41"
    assert describe(b"\x01") == "binary (1 byte): 01"
    assert describe(b"") == "binary (0 bytes): "


def test_redacted_lines() -> None:
    pairs = [("Cookie", "a=b"), ("authorization", "Bearer x"), ("Set-Cookie", "s=t"), ("X-A", "1\x1b")]
    assert redacted_lines(pairs) == ["Cookie: ***", "authorization: ***", "Set-Cookie: ***", "X-A: 1\\x1b"]


def test_output_streams() -> None:
    out, err = io.StringIO(), io.StringIO()
    quiet = Output(out, err)
    quiet.sent("x")
    quiet.trace("t")
    quiet.received(b"\x1b")
    quiet.error("e")
    assert out.getvalue().endswith(" binary (1 byte): 1b\n") and out.getvalue().startswith("< ")
    assert err.getvalue().startswith("! ") and err.getvalue().endswith(" e\n")
    loud = Output(out, err, verbose=True)
    loud.sent("x")
    loud.trace("t")
    assert out.getvalue().splitlines()[-1].startswith("> ")
    assert err.getvalue().splitlines()[-1].startswith("* ")


def test_shown_escapes_only_what_is_not_printable_yet() -> None:
    already = escape_text("\x1b[2J")
    assert shown(already) == already  # the library's escapes are not escaped twice
    assert shown("a\\b é") == "a\\b é"
    assert shown("\x1b]0;x\x07 a\\b") == "\\x1b]0;x\\x07 a\\\\b"


def test_output_never_writes_a_control_character() -> None:
    out, err = io.StringIO(), io.StringIO()
    output = Output(out, err, verbose=True)
    output.error("gave up: 403 \x1b]0;PWNED\x07\rFAKE")
    output.trace("\x9b2J\u202e")
    assert all(line.isprintable() for line in err.getvalue().splitlines())
    assert "gave up: 403 \\x1b]0;PWNED\\x07\\rFAKE" in err.getvalue()


def test_terminal_formatter_escapes_messages_and_tracebacks() -> None:
    formatter = TerminalFormatter("%(levelname)s: %(message)s")
    try:
        raise ValueError("bad \x1b[2J\rFAKE")
    except ValueError:
        exc_info = sys.exc_info()
    record = logging.LogRecord(
        "geventws", logging.INFO, __file__, 1, "got %s", ("\x1b]0;x\x07\nFAKE",), exc_info
    )
    text = formatter.format(record)
    assert text.startswith("INFO: got \\x1b]0;x\\x07\\nFAKE\nTraceback")  # one line for the message
    assert all(line.isprintable() for line in text.split("\n"))
    assert text.endswith("ValueError: bad \\x1b[2J\\rFAKE")
    already = logging.LogRecord("geventws", logging.INFO, __file__, 1, "%s", (escape_text("\x1b"),), None)
    assert formatter.format(already) == "INFO: \\x1b"  # not escaped twice
