"""The opening sequence: TCP (and TLS), the HTTP upgrade, interim responses, redirects.

Each step returns what it opened or raises a typed error: :class:`ConnectError`
(refused, DNS, lost during the handshake), :class:`OpenTimeout` once
``open_timeout`` expired, :class:`TLSError`, :class:`HandshakeError` (refused
or botched upgrade, too many redirects). The caller maps them to ``on_error``
codes and owns the stream afterwards.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable
from typing import Any, TypeVar

import gevent

from ..exceptions import ConnectError, HandshakeError, OpenTimeout, WebSocketError
from ..protocol.escape import escape_text
from ..protocol.extensions import DeflateParams
from ..protocol.handshake import (
    Response,
    accept_upgrade,
    build_request,
    new_key,
    parse_response,
    redirect_target,
    subprotocol_offer,
    too_many_redirects,
)
from ..protocol.headers import Headers, redact
from ..protocol.options import Options
from ..protocol.redirects import redirect_headers
from ..protocol.uri import WebSocketURI
from .connector import open_transport
from .timings import PhaseTimer
from .transport import Transport

__all__ = ["Opened", "open_websocket", "read_head", "resolve"]

#: How much of a refused upgrade's body is kept for :class:`HandshakeError`.
MAX_ERROR_BODY = 64 * 2**10
#: How long a refused upgrade's body may take to arrive, on top of ``open_timeout``:
#: a server that promises more than it sends must not turn a refusal into a timeout.
ERROR_BODY_WAIT = 1.0

T = TypeVar("T")


@dataclasses.dataclass(frozen=True)
class Opened:
    """A stream whose upgrade succeeded, and the bytes read past the response head.

    ``deflate``: the permessage-deflate parameters agreed, ``None`` without compression.
    """

    transport: Transport
    response: Response
    subprotocol: str | None
    leftover: bytes
    deflate: DeflateParams | None = None


def resolve(provider: Callable[[], T]) -> T:
    """Call a URL or headers provider; its failure becomes a :class:`ConnectError`
    (a :class:`WebSocketError` such as :class:`InvalidURL` keeps its type)."""
    try:
        return provider()
    except WebSocketError:
        raise
    except Exception as exc:
        raise ConnectError(f"the url or headers callable failed: {exc!r}") from exc


def open_websocket(
    options: Options,
    uri: WebSocketURI,
    headers: Headers,
    log: logging.LoggerAdapter[Any],
    *,
    tcp_connected: Callable[[], bool],
    response_received: Callable[[Response], None],
    timings: PhaseTimer | None = None,
) -> Opened | None:
    """Connect to ``uri`` and upgrade, following redirects, within ``open_timeout``.

    ``tcp_connected()`` runs once the first stream is up (``on_connect``);
    when it returns false the stream is closed and ``None`` returned.
    ``response_received`` sees every final response, refused ones included.
    A redirect to another scheme, host or port drops the headers named in
    ``redirect_strip_headers`` for the rest of the attempt. ``timings``
    records the phases.
    """
    headers, offer = subprotocol_offer(headers, options.subprotocols)
    opening = _Opening(
        options,
        offer,
        None if options.open_timeout is None else time.monotonic() + options.open_timeout,
        log,
        response_received,
        timings if timings is not None else PhaseTimer(),
    )
    target = uri
    for hop in range(options.max_redirects + 1):
        outcome = opening.hop(target, headers, tcp_connected if hop == 0 else None)
        if outcome is None or isinstance(outcome, Opened):
            return outcome
        redirect, response = outcome
        if hop == options.max_redirects:
            raise too_many_redirects(response, options.max_redirects)
        log.info("redirected (HTTP %s) to %s", response.status, redirect)
        headers = redirect_headers(target, redirect, headers, options.redirect_strip_headers)
        target = redirect
    raise AssertionError("unreachable: the last hop returns or raises")


@dataclasses.dataclass(frozen=True)
class _Opening:
    """What every hop of one opening sequence shares."""

    options: Options
    offer: tuple[str, ...]
    deadline: float | None
    log: logging.LoggerAdapter[Any]
    response_received: Callable[[Response], None]
    timer: PhaseTimer

    def hop(
        self, uri: WebSocketURI, headers: Headers, tcp_connected: Callable[[], bool] | None
    ) -> Opened | tuple[WebSocketURI, Response] | None:
        """Open a stream to ``uri`` and upgrade over it: what was opened, where a
        redirect points (the stream closed), or ``None`` if ``tcp_connected``
        said to stop."""
        with _deadline(self.deadline, "connecting"):
            transport = open_transport(uri, self.options.ssl_context, self.options.route, timings=self.timer)
        self.log.debug("TCP connected to %s:%s", uri.host, uri.port)
        try:
            if tcp_connected is not None and not tcp_connected():
                transport.abort()
                return None
            with self.timer.phase("upgrade"):
                outcome = self._shake_hands(transport, uri, headers)
        except BaseException:
            transport.abort()
            raise
        if not isinstance(outcome, Opened):
            transport.abort()
        return outcome

    def _shake_hands(
        self, transport: Transport, uri: WebSocketURI, headers: Headers
    ) -> Opened | tuple[WebSocketURI, Response]:
        """The upgrade over ``transport``: what was opened, or where a redirect
        points and the redirect response. A refusal raises :class:`HandshakeError`."""
        key = new_key()
        if self.log.isEnabledFor(logging.DEBUG):  # the redaction is work for a log line only
            shown = redact(headers.raw_items(), self.options.redirect_strip_headers)
            self.log.debug("upgrade request for %s, headers %s", uri, shown)
        with _deadline(self.deadline, "the opening handshake"):
            response, leftover = upgrade(transport, uri, headers, key, self.offer, self.options)
        if response.status != 101:
            # Read after the deadline's scope, with its own bound: the refusal is the news.
            body = read_error_body(transport, response, leftover, ERROR_BODY_WAIT)
            response = Response(response.status, response.reason, response.headers, response.raw, body)
        self.response_received(response)
        redirect = redirect_target(uri, response)
        if redirect is not None:
            return redirect, response
        agreed = accept_upgrade(response, key, self.offer, self.options.deflate)
        self.log.debug(
            "handshake done: %s %s, compression: %s",
            response.status,
            escape_text(response.reason),
            agreed.deflate,
        )
        response.drop_parsed_headers()  # kept for the connection's life: parsed again if asked for
        return Opened(transport, response, agreed.subprotocol, leftover, agreed.deflate)


def upgrade(
    transport: Transport,
    uri: WebSocketURI,
    headers: Headers,
    key: str,
    offer: tuple[str, ...],
    options: Options,
) -> tuple[Response, bytes]:
    """Send the upgrade request; return the final response head and the bytes
    read past it (the start of the frames, or of a refusal's body)."""
    deflate = options.deflate
    request = build_request(
        uri,
        key,
        headers,
        origin=options.origin,
        subprotocols=offer,
        extensions=None if deflate is None else deflate.header_value(),
    )
    try:
        transport.write(request)
        head, rest = read_head(transport, b"", options.max_response_head)
        response = parse_response(head)
        while 100 <= response.status < 200 and response.status != 101:
            # An interim response (100 Continue, 103 Early Hints): the real one follows.
            head, rest = read_head(transport, rest, options.max_response_head)
            response = parse_response(head)
    except OSError as exc:
        raise ConnectError(f"connection lost during the handshake: {exc}") from exc
    return response, rest


def read_head(transport: Transport, initial: bytes, limit: int) -> tuple[bytes, bytes]:
    """Read an HTTP head up to its blank line: return (head, bytes after it)."""
    data = bytearray(initial)
    start = 0
    while True:
        end = data.find(b"\r\n\r\n", start)
        if end >= 0 and end + 4 <= limit:
            return bytes(data[: end + 4]), bytes(data[end + 4 :])
        if end >= 0 or len(data) > limit:
            raise HandshakeError(f"response head longer than {limit} bytes")
        start = max(0, len(data) - 3)
        chunk = transport.sock.recv(4096)
        if not chunk:
            raise HandshakeError("connection closed by the server during the handshake")
        data += chunk


def read_error_body(transport: Transport, response: Response, data: bytes, wait: float) -> bytes:
    """Up to :data:`MAX_ERROR_BODY` bytes of a refused upgrade's body, as much
    as arrives within ``wait`` seconds."""
    try:
        wanted = min(int(response.headers.get("Content-Length", "0")), MAX_ERROR_BODY)
    except ValueError:
        wanted = 0
    buffer = bytearray(data)
    with gevent.Timeout(wait, False):  # type: ignore[arg-type]
        try:
            while len(buffer) < wanted:
                chunk = transport.recv(wanted - len(buffer))
                if not chunk:
                    break
                buffer += chunk
        except OSError:
            pass
    return bytes(buffer[:wanted])


class _deadline:  # noqa: N801 - used as a context manager, like gevent.Timeout
    """Turn a deadline into :class:`OpenTimeout` (a ConnectError and a TimeoutError)."""

    def __init__(self, deadline: float | None, what: str) -> None:
        self._deadline = deadline
        self._what = what
        self._timer: gevent.Timeout | None = None

    def __enter__(self) -> None:
        if self._deadline is not None:
            self._timer = gevent.Timeout(max(self._deadline - time.monotonic(), 0))
            self._timer.start()

    def __exit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> None:
        timer = self._timer
        if timer is None:
            return
        timer.close()
        if exc is timer:
            raise OpenTimeout(f"open_timeout expired during {self._what}") from None
