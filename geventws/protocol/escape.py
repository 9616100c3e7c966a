"""Showing text a peer controls: every non-printable character escaped.

A server chooses its status line's reason phrase, its header values, its close
reasons. Put raw into a message, an exception or a log line, such text could
drive the terminal that shows it (``ESC ]0;…BEL`` sets the window title,
``ESC [2J`` clears the screen) or forge a log line (a lone CR, a LF). So
wherever the library builds text for people from what a peer sent, it goes
through :func:`escape_text`; the raw values stay available as data
(``Response.reason``, ``Response.headers``, ``Connection.close_reason``).
"""

from __future__ import annotations

__all__ = ["escape_text"]

_ESCAPES = {"\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def escape_text(text: str) -> str:
    """``text`` with backslashes and non-printable characters escaped, as ``repr()`` does.

    Printable text, non-ASCII letters included, is kept as it is; control
    characters (C0, DEL, C1), bidi overrides and other non-printable characters
    become ``\\xNN``, ``\\uNNNN`` or ``\\UNNNNNNNN``; the backslash is doubled so
    that an escape cannot be faked.
    """
    if text.isprintable() and "\\" not in text:
        return text
    return "".join(_escape_char(char) for char in text)


def _escape_char(char: str) -> str:
    if char in _ESCAPES:
        return _ESCAPES[char]
    if char.isprintable():
        return char
    code = ord(char)
    if code < 0x100:
        return f"\\x{code:02x}"
    if code < 0x10000:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"
