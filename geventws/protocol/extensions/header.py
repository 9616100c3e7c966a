"""The ``Sec-WebSocket-Extensions`` header grammar of RFC 6455 §9.1, both ways.

::

    Sec-WebSocket-Extensions = 1#extension
    extension = extension-token *( ";" extension-param )
    extension-param = token [ "=" (token | quoted-string) ]

A quoted value must be a token once unquoted (RFC 6455 §9.1). Empty list
elements are skipped, as RFC 7230 §7 asks of recipients. The parser is strict
otherwise: anything else raises :class:`ValueError` saying where.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

__all__ = ["Extension", "ExtensionParam", "build_extension", "parse_extensions"]

#: One ``name[=value]`` parameter; ``value`` is ``None`` when absent.
ExtensionParam = tuple[str, str | None]
#: An extension name with its parameters, in order.
Extension = tuple[str, list[ExtensionParam]]

_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_QUOTED = re.compile(r'"((?:[^"\\\x00-\x1f\x7f]|\\[^\x00-\x1f\x7f])*)"')
_OWS = re.compile(r"[ \t]*")
_ESCAPE = re.compile(r"\\(.)")


class _Scanner:
    """A cursor over one header value."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def skip_ows(self) -> None:
        match = _OWS.match(self.text, self.pos)
        assert match is not None  # the pattern matches the empty string
        self.pos = match.end()

    def peek(self) -> str:
        return self.text[self.pos : self.pos + 1]

    def take(self, char: str) -> bool:
        """Consume ``char`` (and the whitespace after it) if it comes next."""
        if self.peek() != char:
            return False
        self.pos += 1
        self.skip_ows()
        return True

    def token(self, what: str) -> str:
        match = _TOKEN.match(self.text, self.pos)
        if match is None:
            raise self.error(f"expected {what}")
        self.pos = match.end()
        self.skip_ows()
        return match.group()

    def value(self) -> str:
        match = _QUOTED.match(self.text, self.pos)
        if match is None:
            return self.token("a parameter value")
        value = _ESCAPE.sub(r"\1", match.group(1))
        if _TOKEN.fullmatch(value) is None:
            raise self.error("quoted parameter value is not a token")
        self.pos = match.end()
        self.skip_ows()
        return value

    def error(self, msg: str) -> ValueError:
        return ValueError(f"{msg} at position {self.pos} of {self.text!r}")


def _parse_one(scanner: _Scanner) -> Extension:
    name = scanner.token("an extension name")
    params: list[ExtensionParam] = []
    while scanner.take(";"):
        param = scanner.token("a parameter name")
        params.append((param, scanner.value() if scanner.take("=") else None))
    return name, params


def parse_extensions(values: Iterable[str]) -> list[Extension]:
    """The extensions listed in every ``Sec-WebSocket-Extensions`` value, in order.

    Raises :class:`ValueError` for a value that does not follow the grammar.
    """
    extensions: list[Extension] = []
    for value in values:
        scanner = _Scanner(value)
        scanner.skip_ows()
        while scanner.pos < len(value):
            if scanner.take(","):
                continue  # an empty list element
            extensions.append(_parse_one(scanner))
            if scanner.pos < len(value) and not scanner.take(","):
                raise scanner.error("expected ';' or ','")
    return extensions


def build_extension(name: str, params: Sequence[ExtensionParam]) -> str:
    """One extension as a header value: ``name; param; param=value``."""
    return "; ".join([name, *(p if v is None else f"{p}={v}" for p, v in params)])
