"""Connection options, checked and normalised once into a frozen dataclass."""

from __future__ import annotations

import dataclasses
import os
import ssl
from collections.abc import Callable, Collection, Iterable, Sequence
from typing import TYPE_CHECKING, Any, Literal, TypedDict

from ..exceptions import InvalidHeader, InvalidURL
from .backoff import ReconnectPolicy
from .extensions import Compression, DeflateOffer, make_offer
from .headers import Headers, HeadersLike, check_headers
from .option_checks import (
    check_count,
    check_handshake_headers,
    check_objects,
    check_positive,
    check_trace,
)
from .redirects import DEFAULT_MAX_REDIRECTS, DEFAULT_REDIRECT_STRIP_HEADERS, check_strip_headers
from .route import DIRECT, ProxySetting, Route, SocketOption, check_reconnect, make_route
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
    "DEFAULT_MAX_REDIRECTS",
    "DEFAULT_REDIRECT_STRIP_HEADERS",
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
    max_redirects: int = DEFAULT_MAX_REDIRECTS
    redirect_strip_headers: frozenset[str] = DEFAULT_REDIRECT_STRIP_HEADERS
    route: Route = DIRECT
    trace: Any = None  # a file-like object or a logging.Logger
    trace_payloads: bool = False
    deflate: DeflateOffer | None = None  # the permessage-deflate offer (compression="deflate")

    def resolve_uri(self) -> WebSocketURI:
        """The URL to use for the next attempt (calls ``url`` if it is a callable).

        Raises :class:`~geventws.InvalidURL` (never retried by the default
        classifier) if the callable returns something that is not a usable URL.
        """
        if self.uri is not None:
            return self.uri
        assert callable(self.url)
        url = self.url()
        if not isinstance(url, str):
            raise InvalidURL(f"<{type(url).__name__}>", "the url callable must return a str")
        return parse_uri(url)

    def resolve_headers(self) -> Headers:
        """The headers for the next attempt (calls ``headers`` if it is a callable).

        Raises :class:`~geventws.InvalidHeader` (never retried by the default
        classifier), with the check's error chained, if the callable returns
        headers that cannot be sent.
        """
        if isinstance(self.headers, Headers):
            return self.headers
        items = self.headers()
        try:
            return check_headers(items, "the headers callable's result")
        except (TypeError, ValueError) as exc:
            raise InvalidHeader(f"unusable headers: {exc}") from exc


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
    max_redirects: int
    redirect_strip_headers: Collection[str]
    proxy: ProxySetting
    source_address: tuple[str, int] | None
    sock: Any
    unix_path: str | os.PathLike[str] | None
    socket_options: Iterable[SocketOption]
    trace: Any
    trace_payloads: bool
    compression: Compression
    client_max_window_bits: bool | int | None
    server_max_window_bits: int | None
    client_no_context_takeover: bool
    server_no_context_takeover: bool


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
    max_redirects: int = DEFAULT_MAX_REDIRECTS,
    redirect_strip_headers: Collection[str] = DEFAULT_REDIRECT_STRIP_HEADERS,
    proxy: ProxySetting = None,
    source_address: tuple[str, int] | None = None,
    sock: Any = None,
    unix_path: str | os.PathLike[str] | None = None,
    socket_options: Iterable[SocketOption] = (),
    trace: Any = None,
    trace_payloads: bool = False,
    compression: Compression = None,
    client_max_window_bits: bool | int | None = True,
    server_max_window_bits: int | None = None,
    client_no_context_takeover: bool = False,
    server_no_context_takeover: bool = False,
) -> Options:
    """Check every option and return them as :class:`Options`.

    - ``url``: a ``ws://``/``wss://`` URL, or a callable returning one, called
      before every attempt.
    - ``headers``: extra handshake headers (a mapping or ``(name, value)``
      pairs of str), or a callable returning them, called before every attempt
      (to refresh tokens). A ``Sec-WebSocket-Protocol`` header is taken as the
      subprotocol offer, added to ``subprotocols``.
    - ``ping_interval``: seconds between keepalive pings (each gap shortened by up
      to 10 % at random, so connections opened together spread out); ``None``: no pings.
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
      ``Sec-WebSocket-Protocol`` (HTTP tokens).
    - ``reconnect``: a :class:`~geventws.ReconnectPolicy`; ``None`` (default):
      only explicit ``reconnect(delay)`` calls, as in Workerman.
    - ``limiter``: a :class:`~geventws.HandshakeLimiter` shared by connections.
    - ``max_send_buffer_size`` / ``max_send_buffer_messages``: bounds (bytes /
      messages) of the outbox that holds sends while not open; ``None``: unbounded.
    - ``send_buffer_policy``: when the outbox is full, ``"fail"`` raises
      :class:`~geventws.SendBufferFull`, ``"drop_oldest"`` drops (and reports)
      the oldest queued message, ``"block"`` waits for room.
    - ``max_redirects``: redirects followed per attempt; 0: a redirect is a
      :class:`~geventws.HandshakeError` with its status.
    - ``redirect_strip_headers``: header names (any case) dropped on a redirect
      to another scheme, host or port; default ``Authorization``, ``Cookie``,
      ``Proxy-Authorization``.
    - ``proxy``: ``"http://[user:pass@]host:port"`` (HTTP CONNECT),
      ``"socks5://…"``, ``"socks5h://…"``, ``"socks4://…"``, ``"socks4a://…"``
      (the ``socks`` extra), or ``True`` to take ``HTTPS_PROXY`` /
      ``HTTP_PROXY`` / ``ALL_PROXY`` / ``NO_PROXY`` from the environment
      (``HTTP_PROXY`` is ignored in a CGI process, as urllib does: httpoxy).
    - ``source_address``: ``(host, port)`` to bind the local end to.
    - ``sock``: a connected socket to run over (no reconnect policy then);
      ``unix_path``: a Unix domain socket to connect to.
    - ``socket_options``: ``(level, option, value)`` triples set on every
      attempt's socket.
    - ``trace``: a file-like object (``write``) or a :class:`logging.Logger`
      that receives one JSON line per frame in and out; ``None``: no trace.
    - ``trace_payloads``: whether trace lines show the first bytes of payloads.
    - ``compression``: ``"deflate"`` offers permessage-deflate (RFC 7692);
      ``None`` (default): no compression. Its parameters, as offered:
      ``client_max_window_bits`` (``True``: the server may limit our window;
      9..15: our window; ``None``: not offered), ``server_max_window_bits``
      (8..15 limits the server's window, so our memory), and
      ``client_no_context_takeover`` / ``server_no_context_takeover`` (each
      message compressed alone in that direction). ``max_message_size``
      bounds the inflated size.

    Sizes and counts must be ``int``, durations ``int`` or ``float`` (finite,
    at most ``1e9`` seconds: ``None`` is "never"); ``bool`` is refused for both.
    Raises :class:`~geventws.InvalidURL` for a bad URL and :class:`TypeError` or
    :class:`ValueError` naming a bad option.
    """
    uri = _check_url(url)
    for name, value in (
        ("ping_interval", ping_interval),
        ("ping_timeout", ping_timeout),
        ("open_timeout", open_timeout),
        ("close_timeout", close_timeout),
    ):
        check_positive(name, value)
    for name, value in (
        ("max_message_size", max_message_size),
        ("max_queue", max_queue),
        ("max_response_head", max_response_head),
        ("max_send_buffer_size", max_send_buffer_size),
        ("max_send_buffer_messages", max_send_buffer_messages),
    ):
        check_positive(name, value, integer=True, allow_none=name not in ("max_queue", "max_response_head"))
    check_count("max_redirects", max_redirects)
    _check_choices(websocket_type, send_buffer_policy)
    check_objects(uri, ssl_context, reconnect, limiter)
    checked_headers, offer = check_handshake_headers(headers, origin, subprotocols)
    route = make_route(
        proxy=proxy,
        source_address=source_address,
        sock=sock,
        unix_path=unix_path,
        socket_options=socket_options,
    )
    check_reconnect(route, reconnect)
    check_trace(trace, trace_payloads)
    deflate = make_offer(
        compression,
        client_max_window_bits=client_max_window_bits,
        server_max_window_bits=server_max_window_bits,
        client_no_context_takeover=client_no_context_takeover,
        server_no_context_takeover=server_no_context_takeover,
    )
    return Options(
        url=url,
        uri=uri,
        headers=checked_headers,
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
        subprotocols=offer,
        reconnect=reconnect,
        limiter=limiter,
        max_send_buffer_size=max_send_buffer_size,
        max_send_buffer_messages=max_send_buffer_messages,
        send_buffer_policy=send_buffer_policy,
        max_redirects=max_redirects,
        redirect_strip_headers=check_strip_headers(redirect_strip_headers),
        route=route,
        trace=trace,
        trace_payloads=trace_payloads,
        deflate=deflate,
    )


def _check_url(url: object) -> WebSocketURI | None:
    if callable(url):
        return None
    if isinstance(url, str):
        return parse_uri(url)
    raise TypeError(f"url must be a str or a callable, not {type(url).__name__}")


def _check_choices(websocket_type: object, send_buffer_policy: object) -> None:
    if websocket_type not in (None, BINARY_TYPE_BLOB, BINARY_TYPE_ARRAYBUFFER):
        raise ValueError(
            "websocket_type must be BINARY_TYPE_BLOB, BINARY_TYPE_ARRAYBUFFER or None, "
            f"not {websocket_type!r}"
        )
    if send_buffer_policy not in SEND_BUFFER_POLICIES:
        raise ValueError(
            f"send_buffer_policy must be one of {SEND_BUFFER_POLICIES}, not {send_buffer_policy!r}"
        )
