"""permessage-deflate negotiation (RFC 7692 §5 and §7.1), client side.

:class:`DeflateOffer` is what the client asks for; its :meth:`~DeflateOffer.header_value`
goes in the request's ``Sec-WebSocket-Extensions``; :meth:`~DeflateOffer.accept_response`
checks the server's answer strictly and returns the :class:`DeflateParams` both sides
then use, or ``None`` when the server declined compression.

The rules for the answer (RFC 7692 §7.1):

- ``server_no_context_takeover``: no value; required if offered, allowed anyway.
- ``client_no_context_takeover``: no value; allowed anyway; offering it binds the client.
- ``server_max_window_bits``: 8..15, at most the offered value; required if offered.
- ``client_max_window_bits``: 8..15, at most the offered value; only if offered.
- any other parameter, a repeated one, another extension, or a second
  permessage-deflate fails the handshake with :class:`~geventws.NegotiationError`.
"""

from __future__ import annotations

import dataclasses
import functools
import re
from collections.abc import Iterable
from typing import Literal

from ...exceptions import NegotiationError
from .header import Extension, ExtensionParam, build_extension, parse_extensions

__all__ = ["EXTENSION_NAME", "Compression", "DeflateOffer", "DeflateParams", "make_offer"]

EXTENSION_NAME = "permessage-deflate"
_PARAMS = frozenset(
    {
        "server_no_context_takeover",
        "client_no_context_takeover",
        "server_max_window_bits",
        "client_max_window_bits",
    }
)
_BITS = re.compile(r"[89]|1[0-5]")  # 8..15, decimal, no leading zero


@dataclasses.dataclass(frozen=True)
class DeflateParams:
    """What client and server agreed; each side compresses with its own half.

    ``client_*`` govern what the client compresses (the server inflates);
    ``server_*`` what the server compresses (the client inflates). Window bits
    are 8..15 (a window of ``2**bits`` bytes); without context takeover each
    message is compressed on its own.
    """

    server_no_context_takeover: bool = False
    client_no_context_takeover: bool = False
    server_max_window_bits: int = 15
    client_max_window_bits: int = 15


@dataclasses.dataclass(frozen=True)
class DeflateOffer:
    """The client's permessage-deflate offer, checked when built.

    - ``client_max_window_bits``: ``None`` or ``False``: not offered (we compress
      with a 32 KiB window); ``True``: offered without a value (the server may
      limit our window); 9..15: our window, the server may lower it. 8 is
      refused: zlib cannot compress with a 256-byte window.
    - ``server_max_window_bits``: ``None``, or 8..15 to limit the server's
      window, hence the memory our inflater holds.
    - ``client_no_context_takeover`` / ``server_no_context_takeover``: compress
      every message on its own in that direction (less memory, less compression).

    Raises :class:`ValueError` or :class:`TypeError` for a bad value.
    """

    client_max_window_bits: bool | int | None = True
    server_max_window_bits: int | None = None
    client_no_context_takeover: bool = False
    server_no_context_takeover: bool = False

    def __post_init__(self) -> None:
        client_bits = self.client_max_window_bits
        if not (client_bits is None or isinstance(client_bits, bool)):
            _check_bits("client_max_window_bits", client_bits, low=9)
        if self.server_max_window_bits is not None:
            _check_bits("server_max_window_bits", self.server_max_window_bits, low=8)
        for name in ("client_no_context_takeover", "server_no_context_takeover"):
            if not isinstance(getattr(self, name), bool):
                raise TypeError(f"{name} must be a bool, not {getattr(self, name)!r}")

    def header_value(self) -> str:
        """The offer as a ``Sec-WebSocket-Extensions`` value."""
        params: list[ExtensionParam] = []
        if self.server_no_context_takeover:
            params.append(("server_no_context_takeover", None))
        if self.client_no_context_takeover:
            params.append(("client_no_context_takeover", None))
        if self.server_max_window_bits is not None:
            params.append(("server_max_window_bits", str(self.server_max_window_bits)))
        if self.client_max_window_bits is True:
            params.append(("client_max_window_bits", None))
        elif self.client_max_window_bits:
            params.append(("client_max_window_bits", str(self.client_max_window_bits)))
        return build_extension(EXTENSION_NAME, params)

    def accept_response(self, header_values: Iterable[str]) -> DeflateParams | None:
        """Check the server's ``Sec-WebSocket-Extensions`` values against this offer.

        Returns the agreed :class:`DeflateParams`, or ``None`` if the server
        answered with no extension (the connection then runs uncompressed).
        Raises :class:`~geventws.NegotiationError` naming what is wrong.
        """
        values = list(header_values)
        try:
            extensions = parse_extensions(values)
        except ValueError as exc:
            raise _fail(f"invalid Sec-WebSocket-Extensions header: {exc}") from exc
        for name, _ in extensions:
            if name != EXTENSION_NAME:
                raise _fail(f"server chose an extension the client did not offer: {name!r}")
        if len(extensions) > 1:
            raise _fail(f"server chose {EXTENSION_NAME} more than once: {', '.join(values)!r}")
        return self._agree(extensions[0]) if extensions else None

    def _agree(self, extension: Extension) -> DeflateParams:
        answer = _answer_params(extension)
        server_takeover_off = "server_no_context_takeover" in answer
        if self.server_no_context_takeover and not server_takeover_off:
            raise _fail("server ignored server_no_context_takeover, which the client offered")
        server_bits = self._server_bits(answer)
        client_bits = self._client_bits(answer)
        return DeflateParams(
            server_no_context_takeover=server_takeover_off,
            client_no_context_takeover=self.client_no_context_takeover
            or "client_no_context_takeover" in answer,
            server_max_window_bits=server_bits,
            client_max_window_bits=client_bits,
        )

    def _server_bits(self, answer: dict[str, int | None]) -> int:
        offered = self.server_max_window_bits
        if "server_max_window_bits" not in answer:
            if offered is not None:
                raise _fail("server ignored server_max_window_bits, which the client offered")
            return 15
        bits = answer["server_max_window_bits"]
        if bits is None:
            raise _fail("server_max_window_bits without a value")
        if offered is not None and bits > offered:
            raise _fail(f"server_max_window_bits={bits} exceeds the {offered} offered")
        return bits

    def _client_bits(self, answer: dict[str, int | None]) -> int:
        offered = self.client_max_window_bits
        if "client_max_window_bits" not in answer:
            return 15 if offered is None or isinstance(offered, bool) else offered
        if offered is None or offered is False:
            raise _fail("server sent client_max_window_bits, which the client did not offer")
        bits = answer["client_max_window_bits"]
        if bits is None:
            raise _fail("client_max_window_bits without a value")
        if offered is not True and bits > offered:
            raise _fail(f"client_max_window_bits={bits} exceeds the {offered} offered")
        return bits


#: The ``compression`` option: ``"deflate"`` offers permessage-deflate.
Compression = Literal["deflate"] | None


@functools.lru_cache(maxsize=1)
def _offer_defaults() -> dict[str, object]:
    return {field.name: field.default for field in dataclasses.fields(DeflateOffer)}


def make_offer(compression: object, **params: object) -> DeflateOffer | None:
    """The offer of the ``compression`` option and its parameters (``None``: none).

    Raises :class:`ValueError` or :class:`TypeError` for a bad value, and for
    parameters changed from their defaults without ``compression="deflate"``.
    """
    if compression == "deflate":
        return DeflateOffer(**params)  # type: ignore[arg-type]  # checked by __post_init__
    if compression is not None:
        raise ValueError(f"compression must be 'deflate' or None, not {compression!r}")
    defaults = _offer_defaults()
    changed = [name for name, value in params.items() if value != defaults[name]]
    if changed:
        raise ValueError(f"{', '.join(changed)} only apply with compression='deflate'")
    return None


def _answer_params(extension: Extension) -> dict[str, int | None]:
    """The answer's parameters by name, window bits as ints; each checked alone."""
    found: dict[str, int | None] = {}
    for name, value in extension[1]:
        if name not in _PARAMS:
            raise _fail(f"unknown {EXTENSION_NAME} parameter in the server's answer: {name!r}")
        if name in found:
            raise _fail(f"repeated {EXTENSION_NAME} parameter in the server's answer: {name!r}")
        if name.endswith("_no_context_takeover"):
            if value is not None:
                raise _fail(f"{name} must have no value, got {value!r}")
            found[name] = None
        elif value is None:
            found[name] = None
        elif _BITS.fullmatch(value):
            found[name] = int(value)
        else:
            raise _fail(f"{name} must be 8..15, got {value!r}")
    return found


def _check_bits(name: str, value: object, *, low: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, not {value!r}")
    if not low <= value <= 15:
        hint = " (zlib cannot compress with a 256-byte window)" if value == 8 else ""
        raise ValueError(f"{name} must be between {low} and 15, not {value!r}{hint}")


def _fail(msg: str) -> NegotiationError:
    return NegotiationError(msg, status=101)
