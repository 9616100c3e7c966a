"""Connection options, checked and normalised once into a frozen dataclass."""

from __future__ import annotations

import dataclasses
import ssl
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Literal, TypedDict

from .backoff import ReconnectPolicy
from .headers import Headers, HeadersLike
from .uri import WebSocketURI, parse_uri

if TYPE_CHECKING:
    from ..runtime.limiter import HandshakeLimiter

__all__ = [
    "BINARY_TYPE_ARRAYBUFFER",
    "BINARY_TYPE_BLOB",
    "DEFAULT_CLOSE_TIMEOUT",
    "DEFAULT_MAX_MESSAGE_SIZE",
    "DEFAULT_MAX_QUEUE",
    "DEFAULT_MAX_RESPONSE_HEAD",
    "DEFAULT_OPEN_TIMEOUT",
    "DEFAULT_PING_INTERVAL",
    "DEFAULT_PING_TIMEOUT",
    "DEFAULT_MAX_SEND_BUFFER_SIZE",
    "SendBufferPolicy",
    "ConnectOptions",
    "Options",
    "make_options",
]

#: ``websocket_type`` that makes :meth:`send` write text frames (Workerman's ``Ws::BINARY_TYPE_BLOB``).
BINARY_TYPE_BLOB = "blob"
#: ``websocket_type`` that makes :meth:`send` write binary frames (``Ws::BINARY_TYPE_ARRAYBUFFER``).
BINARY_TYPE_ARRAYBUFFER = "arraybuffer"

DEFAULT_PING_INTERVAL = 20.0
DEFAULT_PING_TIMEOUT = 20.0
DEFAULT_OPEN_TIMEOUT = 10.0
DEFAULT_CLOSE_TIMEOUT = 10.0
DEFAULT_MAX_MESSAGE_SIZE = 16 * 2**20
DEFAULT_MAX_QUEUE = 16
DEFAULT_MAX_RESPONSE_HEAD = 64 * 2**10
DEFAULT_MAX_SEND_BUFFER_SIZE = 2**20

#: What ``send()`` does when the outbox (messages waiting for a connection) is full.
SendBufferPolicy = Literal["fail", "drop_oldest", "block"]
SEND_BUFFER_POLICIES = ("fail", "drop_oldest", "block")

URLLike = str | Callable[[], str]
HeadersSource = HeadersLike | Callable[[], HeadersLike]


@dataclasses.dataclass(frozen=True)
class Options:
    """Everything a connection needs to know, already checked.

    Build it with :func:`make_options`; the runtime reads only this.
    """

    url: URLLike = dataclasses.field(repr=False)  # may hold credentials; ``uri`` hides them
    uri: WebSocketURI | None  # None when ``url`` is a callable, resolved per attempt
    headers: Headers | Callable[[], HeadersLike] = dataclasses.field(default_factory=Headers)
    ping_interval: float | None = DEFAULT_PING_INTERVAL
    ping_timeout: float | None = DEFAULT_PING_TIMEOUT
    websocket_type: str | None = None
    ssl_context: ssl.SSLContext | None = None
    open_timeout: float | None = DEFAULT_OPEN_TIMEOUT
    close_timeout: float | None = DEFAULT_CLOSE_TIMEOUT
    max_message_size: int | None = DEFAULT_MAX_MESSAGE_SIZE
    max_queue: int = DEFAULT_MAX_QUEUE
    max_response_head: int = DEFAULT_MAX_RESPONSE_HEAD
    origin: str | None = None
    subprotocols: tuple[str, ...] = ()
    reconnect: ReconnectPolicy | None = None
    limiter: HandshakeLimiter | None = None
    max_send_buffer_size: int | None = DEFAULT_MAX_SEND_BUFFER_SIZE
    max_send_buffer_messages: int | None = None
    send_buffer_policy: SendBufferPolicy = "fail"

    def resolve_uri(self) -> WebSocketURI:
        """The URL to use for the next attempt (calls ``url`` if it is a callable)."""
        if self.uri is not None:
            return self.uri
        assert callable(self.url)
        return parse_uri(self.url())

    def resolve_headers(self) -> Headers:
        """The headers for the next attempt (calls ``headers`` if it is a callable)."""
        if isinstance(self.headers, Headers):
            return self.headers
        return Headers(self.headers())


class ConnectOptions(TypedDict, total=False):
    """The keyword options of ``Connection(url, **options)``; see :func:`make_options`."""

    headers: HeadersLike | None
    ping_interval: float | None
    ping_timeout: float | None
    websocket_type: str | None
    ssl_context: ssl.SSLContext | None
    open_timeout: float | None
    close_timeout: float | None
    max_message_size: int | None
    max_queue: int
    max_response_head: int
    origin: str | None
    subprotocols: Sequence[str]
    reconnect: ReconnectPolicy | None
    limiter: HandshakeLimiter | None
    max_send_buffer_size: int | None
    max_send_buffer_messages: int | None
    send_buffer_policy: SendBufferPolicy


def make_options(
    url: URLLike,
    *,
    headers: HeadersSource | None = None,
    ping_interval: float | None = DEFAULT_PING_INTERVAL,
    ping_timeout: float | None = DEFAULT_PING_TIMEOUT,
    websocket_type: str | None = None,
    ssl_context: ssl.SSLContext | None = None,
    open_timeout: float | None = DEFAULT_OPEN_TIMEOUT,
    close_timeout: float | None = DEFAULT_CLOSE_TIMEOUT,
    max_message_size: int | None = DEFAULT_MAX_MESSAGE_SIZE,
    max_queue: int = DEFAULT_MAX_QUEUE,
    max_response_head: int = DEFAULT_MAX_RESPONSE_HEAD,
    origin: str | None = None,
    subprotocols: Sequence[str] = (),
    reconnect: ReconnectPolicy | None = None,
    limiter: HandshakeLimiter | None = None,
    max_send_buffer_size: int | None = DEFAULT_MAX_SEND_BUFFER_SIZE,
    max_send_buffer_messages: int | None = None,
    send_buffer_policy: SendBufferPolicy = "fail",
) -> Options:
    """Check every option and return them as :class:`Options`.

    - ``url``: a ``ws://``/``wss://`` URL, or a callable returning one, called
      before every attempt.
    - ``headers``: extra handshake headers (a mapping or ``(name, value)``
      pairs), or a callable returning them, called before every attempt (to
      refresh tokens).
    - ``ping_interval``: seconds between keepalive pings; ``None``: no pings.
    - ``ping_timeout``: seconds to wait for the pong before the connection is
      declared dead; ``None``: never.
    - ``websocket_type``: ``BINARY_TYPE_BLOB`` sends every message as text,
      ``BINARY_TYPE_ARRAYBUFFER`` as binary; ``None``: ``str`` as text,
      ``bytes`` as binary.
    - ``ssl_context``: for ``wss://``; default: ``ssl.create_default_context()``
      (certificates verified).
    - ``open_timeout``: one deadline for DNS, TCP, TLS and the upgrade.
    - ``close_timeout``: how long the closing handshake may take.
    - ``max_message_size``: larger messages fail the connection with 1009;
      ``None``: no limit.
    - ``max_queue``: messages held for :meth:`recv` before reading stops.
    - ``max_response_head``: bytes of handshake response head accepted.
    - ``origin``: the ``Origin`` header; ``subprotocols``: offered in
      ``Sec-WebSocket-Protocol``.
    - ``reconnect``: a :class:`~geventws.ReconnectPolicy`; ``None`` (default):
      only explicit ``reconnect(delay)`` calls, as in Workerman.
    - ``limiter``: a :class:`~geventws.HandshakeLimiter` shared by connections.
    - ``max_send_buffer_size`` / ``max_send_buffer_messages``: bounds (bytes /
      messages) of the outbox that holds sends while not open; ``None``: unbounded.
    - ``send_buffer_policy``: when the outbox is full, ``"fail"`` raises
      :class:`~geventws.SendBufferFull`, ``"drop_oldest"`` drops (and reports)
      the oldest queued message, ``"block"`` waits for room.

    Raises :class:`~geventws.InvalidURL` for a bad URL and :class:`ValueError`
    or :class:`TypeError` for a bad option.
    """
    if callable(url):
        uri = None
    elif isinstance(url, str):
        uri = parse_uri(url)
    else:
        raise TypeError(f"url must be a str or a callable, not {type(url).__name__}")
    for name, value in (
        ("ping_interval", ping_interval),
        ("ping_timeout", ping_timeout),
        ("open_timeout", open_timeout),
        ("close_timeout", close_timeout),
    ):
        _check_positive(name, value)
    if websocket_type not in (None, BINARY_TYPE_BLOB, BINARY_TYPE_ARRAYBUFFER):
        raise ValueError(
            "websocket_type must be BINARY_TYPE_BLOB, BINARY_TYPE_ARRAYBUFFER or None, "
            f"not {websocket_type!r}"
        )
    if ssl_context is not None and not isinstance(ssl_context, ssl.SSLContext):
        raise TypeError("ssl_context must be an ssl.SSLContext")
    if ssl_context is not None and uri is not None and not uri.secure:
        raise ValueError("ssl_context is only for wss:// URLs")
    _check_positive("max_message_size", max_message_size)
    _check_positive("max_queue", max_queue, allow_none=False)
    _check_positive("max_response_head", max_response_head, allow_none=False)
    if isinstance(subprotocols, str):
        raise TypeError("subprotocols must be a sequence of str, not a str")
    if reconnect is not None and not isinstance(reconnect, ReconnectPolicy):
        raise TypeError("reconnect must be a ReconnectPolicy or None")
    _check_positive("max_send_buffer_size", max_send_buffer_size)
    _check_positive("max_send_buffer_messages", max_send_buffer_messages)
    if send_buffer_policy not in SEND_BUFFER_POLICIES:
        raise ValueError(
            f"send_buffer_policy must be one of {SEND_BUFFER_POLICIES}, not {send_buffer_policy!r}"
        )
    return Options(
        url=url,
        uri=uri,
        headers=headers if callable(headers) else Headers(headers),
        ping_interval=ping_interval,
        ping_timeout=ping_timeout,
        websocket_type=websocket_type,
        ssl_context=ssl_context,
        open_timeout=open_timeout,
        close_timeout=close_timeout,
        max_message_size=max_message_size,
        max_queue=max_queue,
        max_response_head=max_response_head,
        origin=origin,
        subprotocols=tuple(subprotocols),
        reconnect=reconnect,
        limiter=limiter,
        max_send_buffer_size=max_send_buffer_size,
        max_send_buffer_messages=max_send_buffer_messages,
        send_buffer_policy=send_buffer_policy,
    )


def _check_positive(name: str, value: float | None, *, allow_none: bool = True) -> None:
    if value is None and allow_none:
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a number{' or None' if allow_none else ''}, not {value!r}")
    if not value > 0:  # also rejects NaN
        raise ValueError(f"{name} must be positive{' or None' if allow_none else ''}, not {value!r}")
