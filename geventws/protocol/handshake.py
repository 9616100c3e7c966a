"""The opening handshake of RFC 6455 §4.1, without any I/O.

:func:`build_request` makes the upgrade request; :func:`parse_response`
reads the server's response head; :func:`accept_upgrade` decides whether it
accepts the upgrade and returns what was agreed (the subprotocol, the
permessage-deflate parameters); :func:`check_response` is its short form.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import os
import re
import sys
import urllib.parse
from collections.abc import Sequence

from ..exceptions import HandshakeError, InvalidHeader, InvalidURL, NegotiationError
from .escape import escape_text
from .extensions import DeflateOffer, DeflateParams
from .headers import Headers, check_header, is_token
from .redirects import DEFAULT_MAX_REDIRECTS, same_origin
from .uri import WebSocketURI, parse_uri

__all__ = [
    "REDIRECT_STATUSES",
    "Agreement",
    "Response",
    "accept_upgrade",
    "accept_value",
    "build_request",
    "check_response",
    "new_key",
    "parse_response",
    "redirect_target",
    "subprotocol_offer",
    "too_many_redirects",
]

_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

#: Statuses after which the client follows ``Location``.
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
#: How many redirects one connection attempt follows by default (the ``max_redirects`` option).
MAX_REDIRECTS = DEFAULT_MAX_REDIRECTS

# Headers the handshake sets itself; a user's header of the same name replaces
# ours only where that makes sense (Host, Origin), never for the protocol ones.
_PROTOCOL_HEADERS = frozenset(
    {"upgrade", "connection", "sec-websocket-key", "sec-websocket-version", "sec-websocket-extensions"}
)
# What a request target may hold once percent-encoded: visible ASCII, no space.
_REQUEST_TARGET = re.compile(r"/[!-~]*")


class Response:
    """The server's answer to the upgrade request: ``status``, ``reason``,
    ``headers``, ``raw`` (the head as received) and ``body`` (of a refusal).

    ``str(response)`` is the raw response head as received (status line and
    headers, with the final blank line). Read-only. An accepted response is
    kept for the connection's life, so its parsed headers are dropped after
    the handshake (:meth:`drop_parsed_headers`) and parsed again from
    ``raw`` when asked for: hundreds of bytes per idle connection.
    """

    __slots__ = ("_headers", "body", "raw", "reason", "status")

    status: int
    reason: str
    raw: bytes
    body: bytes
    _headers: Headers | None

    def __init__(
        self, status: int, reason: str, headers: Headers | None, raw: bytes, body: bytes = b""
    ) -> None:
        setattr_ = object.__setattr__  # read-only to everyone else
        setattr_(self, "status", status)
        setattr_(self, "reason", reason)
        setattr_(self, "raw", raw)
        setattr_(self, "body", body)
        setattr_(self, "_headers", headers)

    @property
    def headers(self) -> Headers:
        """The response headers."""
        headers = self._headers
        if headers is None:
            headers = _parse_head(self.raw)[2]
        return headers

    def drop_parsed_headers(self) -> None:
        """Forget the parsed headers (they are parsed again from ``raw`` when asked for)."""
        if self.raw:
            object.__setattr__(self, "_headers", None)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"Response is read-only: cannot set {name!r}")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"Response is read-only: cannot delete {name!r}")

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Response):
            return NotImplemented
        return (self.status, self.reason, self.headers, self.raw, self.body) == (
            other.status,
            other.reason,
            other.headers,
            other.raw,
            other.body,
        )

    __hash__ = None  # type: ignore[assignment]  # mutable-looking headers: as the dataclass it replaces

    def __repr__(self) -> str:
        return f"Response(status={self.status!r}, reason={self.reason!r}, headers={self.headers!r})"

    def __str__(self) -> str:
        return self.raw.decode("latin-1")


@dataclasses.dataclass(frozen=True)
class Agreement:
    """What an accepting response agreed to: the subprotocol, and the
    permessage-deflate parameters (``None``: no compression)."""

    subprotocol: str | None
    deflate: DeflateParams | None = None


def new_key() -> str:
    """A fresh ``Sec-WebSocket-Key``: 16 random bytes, base64-encoded."""
    return base64.b64encode(os.urandom(16)).decode("ascii")


def accept_value(key: str) -> str:
    """The ``Sec-WebSocket-Accept`` a server must answer ``key`` with."""
    digest = hashlib.sha1((key + _GUID).encode("ascii")).digest()
    return base64.b64encode(digest).decode("ascii")


def basic_auth(user: str, password: str | None) -> str:
    """The value of a Basic ``Authorization`` header."""
    token = f"{user}:{password or ''}".encode()
    return "Basic " + base64.b64encode(token).decode("ascii")


def subprotocol_offer(headers: Headers, subprotocols: Sequence[str]) -> tuple[Headers, tuple[str, ...]]:
    """Move a ``Sec-WebSocket-Protocol`` header of the user's into the offer.

    Workerman has no subprotocol option, so its users set the header; it is
    taken as the offer (after ``subprotocols``, without repeats). Returns the
    headers without it and the whole offer. Raises :class:`InvalidHeader` for
    a value that is not a comma-separated list of tokens.
    """
    offered = [p.strip() for v in headers.get_all("Sec-WebSocket-Protocol") for p in v.split(",")]
    if not offered:
        return headers, tuple(subprotocols)
    if not all(is_token(p) for p in offered):
        raise InvalidHeader("headers: Sec-WebSocket-Protocol must be a comma-separated list of tokens")
    rest = Headers([(n, v) for n, v in headers.raw_items() if n.lower() != "sec-websocket-protocol"])
    return rest, tuple(dict.fromkeys([*subprotocols, *offered]))


#: The protocol's fixed request headers (ours: nothing to check).
_CONSTANT_HEADERS = frozenset(
    {("Upgrade", "websocket"), ("Connection", "Upgrade"), ("Sec-WebSocket-Version", "13")}
)


def build_request(
    uri: WebSocketURI,
    key: str,
    headers: Headers,
    *,
    origin: str | None = None,
    subprotocols: Sequence[str] = (),
    extensions: str | None = None,
) -> bytes:
    """The bytes of the upgrade request for ``uri``.

    ``headers`` are the user's extra headers; they may replace ``Host``,
    ``Origin`` and ``Authorization`` but not the protocol headers (their
    ``Sec-WebSocket-Extensions`` is dropped: only ``extensions``, the
    client's own offer, is sent); a ``Sec-WebSocket-Protocol`` among them
    joins the offer (see :func:`subprotocol_offer`). Never builds a malformed
    request: raises :class:`InvalidURL` for a request target and
    :class:`InvalidHeader` for a header that cannot be sent as they are.
    """
    if not _REQUEST_TARGET.fullmatch(uri.resource):
        raise InvalidURL(str(uri), "the request target is not percent-encoded ASCII")
    headers, subprotocols = subprotocol_offer(headers, subprotocols)
    request = _request_headers(uri, key, headers, origin, subprotocols, extensions)
    lines = [f"GET {uri.resource} HTTP/1.1"]
    for name, value in request.raw_items():
        if (name, value) not in _CONSTANT_HEADERS and name != "Sec-WebSocket-Key":  # ours: well-formed
            try:
                check_header(name, value, "header")
            except (TypeError, ValueError) as exc:
                raise InvalidHeader(str(exc)) from exc
        lines.append(f"{name}: {value}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8")


def _request_headers(
    uri: WebSocketURI,
    key: str,
    headers: Headers,
    origin: str | None,
    subprotocols: Sequence[str],
    extensions: str | None,
) -> Headers:
    """Ours, then the user's (which may replace Host, Origin, Authorization), then the protocol's."""
    request = Headers([("Host", uri.host_header)])
    if origin is not None:
        request["Origin"] = origin
    if uri.user is not None:
        request["Authorization"] = basic_auth(uri.user, uri.password)
    if subprotocols:
        if not all(is_token(p) for p in subprotocols):
            raise InvalidHeader("subprotocols must be HTTP tokens")
        request["Sec-WebSocket-Protocol"] = ", ".join(subprotocols)
    for name, value in headers.raw_items():
        if name.lower() in _PROTOCOL_HEADERS:
            continue
        if name.lower() in ("host", "origin", "authorization"):
            del request[name]
        request.add(name, value)
    request.add("Upgrade", "websocket")
    request.add("Connection", "Upgrade")
    request.add("Sec-WebSocket-Key", key)
    request.add("Sec-WebSocket-Version", "13")
    if extensions is not None:
        request.add("Sec-WebSocket-Extensions", extensions)
    return request


def parse_response(raw: bytes) -> Response:
    """Parse a response head (status line and headers, ending in a blank line).

    Raises :class:`HandshakeError` if it is not valid HTTP/1.1.
    """
    try:
        code, reason, headers = _parse_head(raw)
    except ValueError as exc:
        raise HandshakeError(f"invalid HTTP response from server: {exc}") from exc
    return Response(code, reason, headers, raw)


def _parse_head(raw: bytes) -> tuple[int, str, Headers]:
    text = raw.decode("latin-1")
    status_line, *header_lines = text.split("\r\n")
    version, _, rest = status_line.partition(" ")
    code, _, reason = rest.partition(" ")
    if not version.startswith("HTTP/1.") or len(code) != 3 or not code.isdigit():
        raise ValueError(f"bad status line {status_line!r}")
    pairs = []
    for line in header_lines:
        if not line:
            continue
        name, sep, value = line.partition(":")
        if not sep or not name or name != name.strip():
            raise ValueError(f"bad header line {line!r}")
        pairs.append((name, value.strip()))
    # "Switching Protocols": one copy for all connections
    return int(code), sys.intern(reason), Headers.of_strings(pairs)


def check_response(response: Response, key: str, subprotocols: Sequence[str] = ()) -> str | None:
    """Check that ``response`` accepts an upgrade offering no extension; return
    the chosen subprotocol. Raises :class:`HandshakeError` naming what is wrong."""
    return accept_upgrade(response, key, subprotocols).subprotocol


def accept_upgrade(
    response: Response, key: str, subprotocols: Sequence[str] = (), deflate: DeflateOffer | None = None
) -> Agreement:
    """Check that ``response`` accepts the upgrade; return what was agreed.

    ``deflate`` is the permessage-deflate offer sent, if any; the server's
    ``Sec-WebSocket-Extensions`` answer is checked strictly against it.
    Raises :class:`HandshakeError` naming what is wrong, :class:`NegotiationError`
    (status 101) for an extension answer that breaks the offer.
    """
    headers = response.headers

    def fail(msg: str) -> HandshakeError:
        return HandshakeError(msg, response.status, headers, response.body)

    if response.status != 101:
        reason = escape_text(response.reason)  # the server's words: no control character in messages
        raise fail(f"server rejected WebSocket connection: HTTP {response.status} {reason}".rstrip())
    fields = headers.by_name()
    upgrade = ", ".join(fields.get("upgrade", ()))
    if [v.strip().lower() for v in upgrade.split(",")] != ["websocket"]:
        raise fail(f"invalid Upgrade header: {upgrade or None!r}")
    connection = ", ".join(fields.get("connection", ()))
    if "upgrade" not in [v.strip().lower() for v in connection.split(",")]:
        raise fail(f"invalid Connection header: {connection or None!r}")
    accept = fields.get("sec-websocket-accept", [])
    if len(accept) != 1 or accept[0].strip() != accept_value(key):
        raise fail(f"invalid Sec-WebSocket-Accept header: {accept!r}")
    params = _agreed_extensions(response, fields.get("sec-websocket-extensions", []), deflate)
    chosen = fields.get("sec-websocket-protocol")
    if not chosen:
        return Agreement(None, params)
    if len(chosen) > 1 or "," in chosen[0] or chosen[0] not in subprotocols:
        raise fail(f"server chose a subprotocol the client did not offer: {', '.join(chosen)!r}")
    return Agreement(chosen[0], params)


def _agreed_extensions(
    response: Response, values: list[str], deflate: DeflateOffer | None
) -> DeflateParams | None:
    """The permessage-deflate agreement given the response's extension
    ``values``, or ``None``; raises :class:`NegotiationError`."""
    if deflate is None:
        if values:
            msg = f"server chose an extension the client did not offer: {', '.join(values)!r}"
            raise NegotiationError(msg, response.status, response.headers, response.body)
        return None
    try:
        return deflate.accept_response(values)
    except NegotiationError as exc:
        raise NegotiationError(str(exc), response.status, response.headers, response.body) from None


def redirect_target(uri: WebSocketURI, response: Response) -> WebSocketURI | None:
    """Where a redirect response sends the client, or ``None`` if it is not one.

    ``Location`` may be relative, ``ws(s)://`` or ``http(s)://``. Raises
    :class:`HandshakeError` for a missing or bad ``Location`` and for a
    redirect from ``wss://`` to ``ws://``. Credentials from the URL are kept
    only when the origin (scheme, host and port) stays the same.
    """
    if response.status not in REDIRECT_STATUSES:
        return None

    def fail(msg: str) -> HandshakeError:
        return HandshakeError(msg, response.status, response.headers, response.body)

    location = response.headers.get("Location")
    if not location:
        raise fail(f"HTTP {response.status} redirect without a Location header")
    base = f"{'https' if uri.secure else 'http'}://{uri.host_header}{uri.resource}"
    target = urllib.parse.urljoin(base, location.strip())
    scheme, sep, rest = target.partition("://")
    scheme = {"http": "ws", "https": "wss"}.get(scheme.lower(), scheme.lower())
    try:
        new = parse_uri(f"{scheme}{sep}{rest}")
    except ValueError as exc:
        raise fail(f"HTTP {response.status} redirect to an invalid URL: {exc}") from exc
    if uri.secure and not new.secure:
        raise fail(f"refusing a redirect from wss:// to ws:// ({new})")
    if same_origin(uri, new) and new.user is None:
        new = WebSocketURI(new.secure, new.host, new.port, new.resource, uri.user, uri.password)
    return new


def too_many_redirects(response: Response, max_redirects: int) -> HandshakeError:
    """The error for a redirect past ``max_redirects`` (0: redirects are not
    followed); it carries the redirect's status, headers and body."""
    if max_redirects == 0:
        msg = f"HTTP {response.status} redirect not followed (max_redirects=0)"
    else:
        msg = f"HTTP {response.status}: more than {max_redirects} redirects"
    return HandshakeError(msg, response.status, response.headers, response.body)
