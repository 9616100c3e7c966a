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
from ..protocol.handshake import (
    MAX_REDIRECTS,
    Response,
    build_request,
    check_response,
    new_key,
    parse_response,
    redirect_target,
)
from ..protocol.headers import Headers, redact
from ..protocol.options import Options
from ..protocol.uri import WebSocketURI
from .transport import Transport, open_transport

__all__ = ["Opened", "open_websocket", "resolve"]

#: How much of a refused upgrade's body is kept for :class:`HandshakeError`.
MAX_ERROR_BODY = 64 * 2**10

T = TypeVar("T")


@dataclasses.dataclass(frozen=True)
class Opened:
    """A stream whose upgrade succeeded, and the bytes read past the response head."""

    transport: Transport
    response: Response
    subprotocol: str | None
    leftover: bytes


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
) -> Opened | None:
    """Connect to ``uri`` and upgrade, following redirects, within ``open_timeout``.

    ``tcp_connected()`` runs once the first stream is up (``on_connect``);
    when it returns false the stream is closed and ``None`` returned.
    ``response_received`` sees every final response, refused ones included.
    """
    deadline = None if options.open_timeout is None else time.monotonic() + options.open_timeout
    target = uri
    for hop in range(MAX_REDIRECTS + 1):
        with _deadline(deadline, "connecting"):
            transport = open_transport(target, options.ssl_context)
        log.debug("TCP connected to %s:%s", target.host, target.port)
        try:
            if hop == 0 and not tcp_connected():
                transport.abort()
                return None
            sent = _headers_for(uri, target, headers)
            outcome = _shake_hands(transport, target, sent, options, deadline, log, response_received)
        except BaseException:
            transport.abort()
            raise
        if isinstance(outcome, Opened):
            return outcome
        transport.abort()
        target = outcome
    raise HandshakeError(f"more than {MAX_REDIRECTS} redirects")


def _shake_hands(
    transport: Transport,
    uri: WebSocketURI,
    headers: Headers,
    options: Options,
    deadline: float | None,
    log: logging.LoggerAdapter[Any],
    response_received: Callable[[Response], None],
) -> Opened | WebSocketURI:
    """The upgrade over ``transport``: what was opened, or where a redirect points."""
    key = new_key()
    log.debug("upgrade request for %s, headers %s", uri, redact(headers.raw_items()))
    with _deadline(deadline, "the opening handshake"):
        response, leftover = upgrade(transport, uri, headers, key, options)
    response_received(response)
    redirect = redirect_target(uri, response)
    if redirect is not None:
        log.info("redirected (HTTP %s) to %s", response.status, redirect)
        return redirect
    subprotocol = check_response(response, key, options.subprotocols)
    log.debug("handshake done: %s %s", response.status, response.reason)
    return Opened(transport, response, subprotocol, leftover)


def upgrade(
    transport: Transport, uri: WebSocketURI, headers: Headers, key: str, options: Options
) -> tuple[Response, bytes]:
    """Send the upgrade request; return the final response (with its body when
    it is not a 101) and the bytes read past its head."""
    request = build_request(uri, key, headers, origin=options.origin, subprotocols=options.subprotocols)
    try:
        transport.write(request)
        head, rest = transport.read_head(b"", options.max_response_head)
        response = parse_response(head)
        while 100 <= response.status < 200 and response.status != 101:
            # An interim response (100 Continue, 103 Early Hints): the real one follows.
            head, rest = transport.read_head(rest, options.max_response_head)
            response = parse_response(head)
    except OSError as exc:
        raise ConnectError(f"connection lost during the handshake: {exc}") from exc
    if response.status == 101:
        return response, rest
    body = read_error_body(transport, response, rest)
    return Response(response.status, response.reason, response.headers, head, body), b""


def read_error_body(transport: Transport, response: Response, data: bytes) -> bytes:
    """Up to :data:`MAX_ERROR_BODY` bytes of a refused upgrade's body, as far as it arrives."""
    try:
        wanted = min(int(response.headers.get("Content-Length", "0")), MAX_ERROR_BODY)
    except ValueError:
        wanted = 0
    buffer = bytearray(data)
    try:
        while len(buffer) < wanted:
            chunk = transport.recv(wanted - len(buffer))
            if not chunk:
                break
            buffer += chunk
    except OSError:
        pass
    return bytes(buffer[:wanted])


def _headers_for(first: WebSocketURI, target: WebSocketURI, headers: Headers) -> Headers:
    """The headers for ``target``: without ``Authorization`` once a redirect left the first host."""
    if (target.host, target.port) == (first.host, first.port):
        return headers
    return Headers([(n, v) for n, v in headers.raw_items() if n.lower() != "authorization"])


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
