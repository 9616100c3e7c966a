"""The checks behind :func:`~geventws.protocol.options.make_options`: each
raises :class:`TypeError` or :class:`ValueError` naming the option."""

from __future__ import annotations

import logging
import math
import ssl
from collections.abc import Callable, Iterable

from .backoff import ReconnectPolicy
from .handshake import subprotocol_offer
from .headers import Headers, HeadersLike, check_header, check_headers, is_token
from .uri import WebSocketURI

__all__ = [
    "MAX_DURATION",
    "check_count",
    "check_handshake_headers",
    "check_objects",
    "check_positive",
    "check_trace",
]


#: The longest duration option, in seconds (about 31 years). A larger one
#: (1e308, or an int too large for a float) would break the timers of the
#: connection once it runs, far from the mistake; ``None`` means "no limit".
MAX_DURATION = 1e9


def check_positive(name: str, value: object, *, integer: bool = False, allow_none: bool = True) -> None:
    """Sizes and counts (``integer``): a positive int, however large.
    Durations: a positive int or float, finite, at most :data:`MAX_DURATION`."""
    if value is None and allow_none:
        return
    kind = "an int" if integer else "a number"
    wrong_type = isinstance(value, bool) or (integer and isinstance(value, float))
    if wrong_type or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be {kind}{' or None' if allow_none else ''}, not {value!r}")
    if not value > 0:  # also rejects NaN
        raise ValueError(f"{name} must be positive{' or None' if allow_none else ''}, not {value!r}")
    if integer:
        return  # a huge int is a bound never reached; math.isinf() would overflow on it
    none = " (None: no limit)" if allow_none else ""
    if isinstance(value, float) and math.isinf(value):
        raise ValueError(f"{name} must be finite{none}, not {value!r}")
    if value > MAX_DURATION:  # compared exactly, an int too large for a float included
        raise ValueError(f"{name} must be at most {MAX_DURATION:g} seconds{none}, not {value!r}")


def check_count(name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, not {value!r}")
    if value < 0:
        raise ValueError(f"{name} must be 0 or more, not {value!r}")


def check_objects(uri: WebSocketURI | None, ssl_context: object, reconnect: object, limiter: object) -> None:
    if ssl_context is not None and not isinstance(ssl_context, ssl.SSLContext):
        raise TypeError(f"ssl_context must be an ssl.SSLContext or None, not {type(ssl_context).__name__}")
    if ssl_context is not None and uri is not None and not uri.secure:
        raise ValueError("ssl_context is only for wss:// URLs")
    if reconnect is not None and not isinstance(reconnect, ReconnectPolicy):
        raise TypeError(f"reconnect must be a ReconnectPolicy or None, not {type(reconnect).__name__}")
    # Duck-typed: importing HandshakeLimiter would bring gevent into this layer.
    if limiter is not None and not callable(getattr(limiter, "slot", None)):
        raise TypeError(f"limiter must be a HandshakeLimiter or None, not {type(limiter).__name__}")


def check_trace(trace: object, trace_payloads: object) -> None:
    is_logger = isinstance(trace, (logging.Logger, logging.LoggerAdapter))
    if not (trace is None or is_logger or callable(getattr(trace, "write", None))):
        raise TypeError(f"trace must be a file-like object, a logging.Logger or None, not {trace!r}")
    if not isinstance(trace_payloads, bool):
        raise TypeError(f"trace_payloads must be a bool, not {trace_payloads!r}")


def check_handshake_headers(
    headers: object, origin: object, subprotocols: object
) -> tuple[Headers | Callable[[], HeadersLike], tuple[str, ...]]:
    """The checked headers and the subprotocol offer (a ``Sec-WebSocket-Protocol``
    header moved into it)."""
    if origin is not None:
        if not isinstance(origin, str):
            raise TypeError(f"origin must be a str or None, not {type(origin).__name__}")
        check_header("Origin", origin, "origin")
    if isinstance(subprotocols, (str, bytes)) or not isinstance(subprotocols, Iterable):
        raise TypeError(f"subprotocols must be a sequence of str, not {type(subprotocols).__name__}")
    offer = tuple(subprotocols)
    for protocol in offer:
        if not isinstance(protocol, str):
            raise TypeError(f"subprotocols must hold str, not {type(protocol).__name__}")
        if not is_token(protocol):
            raise ValueError(f"subprotocols: {protocol!r} is not a valid subprotocol (an HTTP token)")
    if callable(headers):
        return headers, tuple(dict.fromkeys(offer))
    checked, offer = subprotocol_offer(check_headers(headers), offer)
    return checked, tuple(dict.fromkeys(offer))
