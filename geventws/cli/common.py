"""Arguments shared by the client and the benchmark, turned into connection options."""

from __future__ import annotations

import argparse
import ssl
from typing import Any

from ..protocol.uri import parse_uri

__all__ = ["UsageError", "add_connection_arguments", "connection_options", "positive_float"]


class UsageError(Exception):
    """Arguments the command cannot run with; shown as one line, exit status 2."""


def positive_float(text: str) -> float:
    """An argparse type: a number > 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be > 0: {text!r}")
    return value


def non_negative_float(text: str) -> float:
    """An argparse type: a number >= 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"must be >= 0: {text!r}")
    return value


def positive_int(text: str) -> int:
    """An argparse type: an integer > 0."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1: {text!r}")
    return value


def add_connection_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of one connection: headers, subprotocols, keepalive, timeouts, TLS, proxy."""
    group = parser.add_argument_group("connection")
    add = group.add_argument
    add(
        "-H",
        "--header",
        action="append",
        default=[],
        metavar="'NAME: VALUE'",
        help="extra handshake header (repeatable); Cookie and Authorization values are never shown",
    )
    add("--subprotocol", action="append", default=[], metavar="NAME", help="offer it (repeatable)")
    add("--origin", help="the Origin header")
    add(
        "--ping-interval",
        type=non_negative_float,
        default=20.0,
        metavar="SECONDS",
        help="seconds between keepalive pings; 0: no pings (default 20)",
    )
    add(
        "--open-timeout",
        type=positive_float,
        default=10.0,
        metavar="SECONDS",
        help="deadline for DNS, TCP, TLS and the upgrade (default 10)",
    )
    add(
        "--close-timeout",
        type=positive_float,
        default=10.0,
        metavar="SECONDS",
        help="how long the closing handshake may take (default %(default)s)",
    )
    _add_route_arguments(group)


def _add_route_arguments(group: argparse._ArgumentGroup) -> None:
    """How to reach the server: TLS trust and proxy."""
    add = group.add_argument
    add("--cacert", metavar="FILE", help="wss://: trust the CA certificates in this PEM file")
    add("--insecure", action="store_true", help="wss://: do not verify the server's certificate")
    add(
        "--proxy",
        metavar="URL",
        help="http://[user:pass@]host:port or socks5[h]://…, or 'env' for HTTPS_PROXY/HTTP_PROXY/NO_PROXY",
    )


def connection_options(args: argparse.Namespace) -> dict[str, Any]:
    """The keyword options of ``geventws.Connection`` for ``args.url``.

    Raises :class:`UsageError` for arguments that cannot work together.
    """
    options: dict[str, Any] = {
        "headers": [parse_header(text) for text in args.header],
        "subprotocols": list(args.subprotocol),
        "origin": args.origin,
        "ping_interval": args.ping_interval if args.ping_interval > 0 else None,
        "open_timeout": args.open_timeout,
        "close_timeout": args.close_timeout,
    }
    if args.proxy:
        options["proxy"] = True if args.proxy == "env" else args.proxy
    context = _ssl_context(args)
    if context is not None:
        options["ssl_context"] = context
    return options


def parse_header(text: str) -> tuple[str, str]:
    """``"Name: value"`` as a pair; :class:`UsageError` if it is not one."""
    name, colon, value = text.partition(":")
    name = name.strip()
    if not colon or not name or any(c in name for c in " \t\r\n") or any(c in value for c in "\r\n"):
        raise UsageError(f"-H/--header wants 'Name: value', got {text!r}")
    return name, value.strip()


def _ssl_context(args: argparse.Namespace) -> ssl.SSLContext | None:
    if not (args.cacert or args.insecure):
        return None
    try:
        secure = parse_uri(args.url).secure
    except ValueError:
        secure = True  # the URL error is reported when the connection is built
    if not secure:
        raise UsageError("--cacert and --insecure are for wss:// URLs only")
    try:
        context = ssl.create_default_context(cafile=args.cacert)
    except (OSError, ssl.SSLError) as exc:
        raise UsageError(f"--cacert {args.cacert}: {exc}") from None
    if args.insecure:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context
