"""The exceptions geventws raises.

Every exception has one root, :class:`WebSocketError`::

    WebSocketError
    ├── InvalidURL                  (also a ValueError)
    ├── InvalidHeader               (also a ValueError) – headers from a ``headers`` callable are unusable
    ├── InvalidMessage              (also a ValueError) – a payload that cannot be sent as asked
    ├── ConnectError                – the connection could not be opened
    │   ├── OpenTimeout             (also a TimeoutError) – open_timeout expired
    │   ├── TLSError                – the TLS handshake failed (certificate, protocol)
    │   └── HandshakeError          – the HTTP upgrade was refused or answered wrongly
    │       ├── ProxyError          – the proxy refused the tunnel (407, 403…) or answered wrongly
    │       └── NegotiationError    – the server's extension answer was invalid or not offered
    ├── ConnectionClosed            – the connection is closed (``code``, ``reason``)
    │   ├── ConnectionClosedOK      – with 1000, 1001 or no code (1005)
    │   └── ConnectionClosedError   – any other way (1006 when TCP just died)
    ├── ProtocolError               – the server broke RFC 6455
    │   └── MessageTooBig           – a message exceeded ``max_message_size``
    ├── PingTimeout                 – a ping went unanswered for ``ping_timeout``
    ├── SendBufferFull              – the outbox for sends while not open is full
    └── ConcurrencyError            (also a RuntimeError) – two greenlets read at once

Timeouts are the built-in :class:`TimeoutError`. Low-level causes (``OSError``,
``ssl.SSLError``…) are chained as ``__cause__``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

__all__ = [
    "ConcurrencyError",
    "ConnectError",
    "ConnectionClosed",
    "ConnectionClosedError",
    "ConnectionClosedOK",
    "HandshakeError",
    "InvalidHeader",
    "InvalidMessage",
    "InvalidURL",
    "MessageTooBig",
    "NegotiationError",
    "OpenTimeout",
    "PingTimeout",
    "SendBufferFull",
    "ProtocolError",
    "ProxyError",
    "TLSError",
    "WebSocketError",
]


class WebSocketError(Exception):
    """Root of every exception raised by geventws."""


class InvalidURL(WebSocketError, ValueError):
    """The URL is not a usable ``ws://`` or ``wss://`` URL.

    Neither the message nor ``url`` holds any part of the URL's credentials,
    however malformed the URL (see :func:`hide_userinfo`).
    """

    def __init__(self, url: str, msg: str) -> None:
        shown = hide_userinfo(url)
        super().__init__(f"{shown!r}: {msg}")
        self.url = shown


class InvalidHeader(WebSocketError, ValueError):
    """A handshake header cannot be sent: a bad name, a value with CR, LF or
    NUL, or headers that are not a mapping or pairs. Raised when a ``headers``
    callable returns such headers (the check's error is chained); header values
    never appear in the message."""


# A scheme we know, so that "alice:pw@host" (no scheme) is not taken for one.
_KNOWN_SCHEME = re.compile(r"\s*(?:wss?|https?):/*", re.IGNORECASE)


def hide_userinfo(url: str) -> str:
    """``url`` with everything between the scheme and the last ``@`` replaced by ``***``.

    Meant for URLs that may be malformed, where the credentials cannot be told
    apart from the rest: a password may hold ``/``, ``?``, ``#`` or ``@``, so
    the last ``@`` anywhere is the only safe end. May hide more than the
    credentials (an ``@`` in the path), never less.
    """
    at = url.rfind("@")
    if at < 0:
        return url
    scheme = _KNOWN_SCHEME.match(url)
    start = scheme.end() if scheme is not None and scheme.end() <= at else 0
    return url[:start] + "***" + url[at:]


class InvalidMessage(WebSocketError, ValueError):
    """A payload cannot be sent as asked (e.g. forced text that is not UTF-8)."""


class ConnectError(WebSocketError):
    """The TCP connection, TLS or the upgrade could not be completed."""


class TLSError(ConnectError):
    """The TLS handshake failed, e.g. the certificate did not verify."""


class OpenTimeout(ConnectError, TimeoutError):
    """``open_timeout`` expired before the handshake was done.

    Both a :class:`ConnectError` and the built-in :class:`TimeoutError`.
    """


class HandshakeError(ConnectError):
    """The server refused the upgrade or answered it wrongly.

    ``status``, ``headers`` and ``body`` describe the server's response; ``status``
    is 101 when the status was right but the headers were not.
    """

    def __init__(
        self,
        msg: str,
        status: int = 0,
        headers: Mapping[str, str] | None = None,
        body: bytes = b"",
    ) -> None:
        super().__init__(msg)
        self.status = status
        self.headers: Mapping[str, str] = headers if headers is not None else {}
        self.body = body


class ProxyError(HandshakeError):
    """The proxy refused to open the tunnel to the server, or answered wrongly.

    ``status`` is the proxy's HTTP status (407 when it wants credentials, 403
    when it forbids the target), 0 for a SOCKS proxy or an answer that was not
    HTTP. Proxy credentials never appear in the message.
    """


class NegotiationError(HandshakeError):
    """The server's ``Sec-WebSocket-Extensions`` answer is invalid or was not offered.

    The status is 101: the upgrade itself was accepted.
    """


class ConnectionClosed(WebSocketError):
    """The connection is closed; ``code`` and ``reason`` say how.

    ``code`` is the close code received from the server, or 1006 when the
    connection was lost without a closing handshake.
    """

    def __init__(self, code: int, reason: str = "") -> None:
        text = f"connection closed: code {code}"
        if reason:
            text += f", reason {reason!r}"
        super().__init__(text)
        self.code = code
        self.reason = reason


#: Close codes of a normal closure: 1000, 1001, and 1005 (a close frame with no code).
OK_CLOSE_CODES = frozenset({1000, 1001, 1005})


class ConnectionClosedOK(ConnectionClosed):
    """The connection closed normally: 1000, 1001, or a close frame with no code (1005)."""


class ConnectionClosedError(ConnectionClosed):
    """The connection closed abnormally."""


class ProtocolError(WebSocketError):
    """The server violated RFC 6455; ``close_code`` is the code we closed with."""

    def __init__(self, msg: str, close_code: int = 1002) -> None:
        super().__init__(msg)
        self.close_code = close_code


class MessageTooBig(ProtocolError):
    """A received message is larger than ``max_message_size``."""

    def __init__(self, msg: str) -> None:
        super().__init__(msg, close_code=1009)


class SendBufferFull(WebSocketError):
    """``send()`` while not open, with the outbox full (``send_buffer_policy="fail"``)."""


class PingTimeout(WebSocketError):
    """The server did not answer a ping within ``ping_timeout`` seconds."""


class ConcurrencyError(WebSocketError, RuntimeError):
    """Two greenlets tried to read from one connection at the same time."""


def closed_exception(code: int, reason: str = "") -> ConnectionClosed:
    """Return the right :class:`ConnectionClosed` subclass for ``code``."""
    cls = ConnectionClosedOK if code in OK_CLOSE_CODES else ConnectionClosedError
    return cls(code, reason)
