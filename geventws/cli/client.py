"""``geventws URL``: the interactive (or scripted) client's arguments and entry point."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from .common import UsageError, add_connection_arguments, connection_options, non_negative_float, positive_int
from .display import Output, TerminalFormatter
from .exitcodes import ExitCode
from .interactive import ClientRun, RunSettings

__all__ = ["build_parser", "main"]

DESCRIPTION = """\
Connect to a WebSocket server. Lines typed (or piped) are sent as messages; messages
received are printed as '< HH:MM:SS.mmm text: ...' or 'binary (N bytes): <hex>', with
control characters escaped. Trace (-v) and errors go to stderr.

Once the input ends (Ctrl-D, end of a pipe, the last --send), the client waits for
replies: until --expect N messages came, or until --wait seconds passed without a
message (default 2 s; no limit with --expect unless --wait is given), then closes
with code 1000.

other commands: geventws bench --help, geventws echo-server --help"""

EPILOG = """\
exit status:
  0    ok: input done, --expect met, or the server closed normally (1000/1001/1005)
  1    unexpected failure (a bug)
  2    usage error
  3    cannot connect: DNS, refused, --open-timeout, TLS
  4    handshake rejected: a status other than 101, or a bad upgrade answer
  5    abnormal close: another close code, connection lost, protocol error, ping timeout
  6    --expect N not met
  130  Ctrl-C (SIGINT); 143 SIGTERM: closed with 1001"""


def build_parser() -> argparse.ArgumentParser:
    """The client's argument parser."""
    parser = argparse.ArgumentParser(
        prog="geventws",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("url", metavar="URL", help="ws:// or wss:// URL")
    add = parser.add_argument
    add(
        "--send",
        action="append",
        default=[],
        metavar="TEXT",
        help="send TEXT once open (repeatable, in order); stdin is then not read",
    )
    add("--expect", type=positive_int, metavar="N", help="close and exit 0 after N messages")
    add(
        "--wait",
        type=non_negative_float,
        metavar="SECONDS",
        help="after the input ends, close after SECONDS without a message (default 2; none with --expect)",
    )
    add("--binary", action="store_true", help="send lines as binary messages")
    add("--reconnect", action="store_true", help="reconnect with backoff when the connection drops")
    add(
        "-v",
        "--verbose",
        action="store_true",
        help="trace pings, pongs, open, close and errors, and sent messages; debug logging",
    )
    add_connection_arguments(parser)
    return parser


def main(argv: Sequence[str]) -> int:
    """Run the client with ``argv`` (without the program name); return the exit status."""
    args = build_parser().parse_args(argv)
    output = Output(sys.stdout, sys.stderr, verbose=args.verbose)
    if args.verbose:
        _debug_logging()
    wait = args.wait if args.wait is not None else (None if args.expect else 2.0)
    settings = RunSettings(
        sends=tuple(args.send), binary=args.binary, reconnect=args.reconnect, expect=args.expect, wait=wait
    )
    try:
        options = connection_options(args)
        run = ClientRun(args.url, options, settings, output)
    except (UsageError, ValueError, TypeError) as exc:
        print(f"geventws: error: {exc}", file=sys.stderr)
        return ExitCode.USAGE
    return run.run()


def _debug_logging() -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        TerminalFormatter("* %(asctime)s.%(msecs)03d %(levelname)s: %(message)s", "%H:%M:%S")
    )
    logger = logging.getLogger("geventws")
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
