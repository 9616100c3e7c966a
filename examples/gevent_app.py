"""A gevent web app that keeps one geventws connection to an upstream feed and
serves what arrives to its HTTP clients as server-sent events.

    python examples/gevent_app.py --upstream ws://127.0.0.1:8765/ --port 8000
    curl -N http://127.0.0.1:8000/events          # one SSE stream per client
    curl http://127.0.0.1:8000/status             # the upstream connection's state

The connection starts and stops with the app and reconnects by itself (a
``ReconnectPolicy``) when the upstream goes away: HTTP clients keep their
stream and see the messages again once it is back. ``--subscribe TEXT`` is
sent after every (re)connect, before anything else. Nothing is monkey-patched:
``gevent.pywsgi`` and geventws both use gevent's sockets directly.

Under gunicorn's gevent worker, each worker process owns its own connection,
started by the hooks of examples/gunicorn_conf.py (never before the fork)::

    cd examples && gunicorn -c gunicorn_conf.py -w 2 'gevent_app:make_app("ws://127.0.0.1:8765/")'
"""

from __future__ import annotations

import argparse
import base64
import itertools
import json
import logging
import signal
from collections.abc import Callable, Iterator
from typing import Any

import gevent
import gevent.event
import gevent.queue
from gevent.pywsgi import WSGIServer

import geventws

log = logging.getLogger("gevent_app")

_END = object()  # ends a subscriber's stream
KEEPALIVE_SECONDS = 15.0  # an SSE comment this often keeps proxies from closing idle streams


class Feed:
    """One upstream connection, fanned out to any number of subscriber queues."""

    def __init__(self, url: str, policy: geventws.ReconnectPolicy, subscribe: str | None = None) -> None:
        self._subscribers: set[gevent.queue.Queue[Any]] = set()
        self._subscribe = subscribe
        self.conn = geventws.Connection(
            url,
            reconnect=policy,
            on_message=self._publish,
            on_open_replay=self._resubscribe,
            on_websocket_connect=lambda conn, response: log.info("upstream connected"),
            on_reconnecting=lambda conn, attempt, delay, error: log.info(
                "upstream lost (%s); reconnecting in %.2f s", error, delay
            ),
            on_error=lambda conn, code, msg: log.warning("upstream error %s: %s", code.name, msg),
        )

    def start(self) -> None:
        """Connect; returns at once."""
        self.conn.connect()

    def stop(self) -> None:
        """Close the upstream connection and end every subscriber's stream."""
        self.conn.close()
        for queue in list(self._subscribers):
            queue.put(_END)

    def subscribe(self, size: int = 256) -> gevent.queue.Queue[Any]:
        """A queue that receives every message from now on (bounded: a client too slow is dropped)."""
        queue: gevent.queue.Queue[Any] = gevent.queue.Queue(size)
        self._subscribers.add(queue)
        return queue

    def unsubscribe(self, queue: gevent.queue.Queue[Any]) -> None:
        """Stop delivering to ``queue``."""
        self._subscribers.discard(queue)

    def _resubscribe(self, conn: geventws.Connection) -> None:
        if self._subscribe is not None:
            conn.send(self._subscribe)

    def _publish(self, conn: geventws.Connection, data: str | bytes) -> None:
        for queue in list(self._subscribers):
            try:
                queue.put_nowait(data)
            except gevent.queue.Full:
                log.warning("an HTTP client is too slow: its stream is ended")
                self._subscribers.discard(queue)
                queue.queue.clear()
                queue.put_nowait(_END)


def sse_event(event_id: int, data: str | bytes) -> bytes:
    """One server-sent event; binary messages are sent base64-encoded as ``event: binary``."""
    lines = [f"id: {event_id}"]
    if isinstance(data, bytes):
        lines += ["event: binary", "data: " + base64.b64encode(data).decode("ascii")]
    else:
        lines += [f"data: {line}" for line in data.split("\n")]
    return ("\n".join(lines) + "\n\n").encode("utf-8")


class App:
    """The WSGI application: ``/events`` (SSE), ``/status`` (JSON)."""

    def __init__(self, feed: Feed) -> None:
        self.feed = feed

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterator[bytes]:
        path = environ.get("PATH_INFO", "/")
        if path == "/events":
            start_response(
                "200 OK",
                [("Content-Type", "text/event-stream"), ("Cache-Control", "no-cache")],
            )
            return self._stream()
        if path == "/status":
            conn = self.feed.conn
            body = json.dumps({"upstream": conn.url, "state": conn.state.value}).encode()
            start_response("200 OK", [("Content-Type", "application/json")])
            return iter([body])
        start_response("404 Not Found", [("Content-Type", "text/plain")])
        return iter([b"not found\n"])

    def _stream(self) -> Iterator[bytes]:
        queue = self.feed.subscribe()
        ids = itertools.count(1)
        try:
            yield b": connected\n\n"
            while True:
                try:
                    item = queue.get(timeout=KEEPALIVE_SECONDS)
                except gevent.queue.Empty:
                    yield b": keepalive\n\n"
                    continue
                if item is _END:
                    return
                yield sse_event(next(ids), item)
        finally:
            self.feed.unsubscribe(queue)


def make_app(
    upstream: str, *, first_delay: float = 1.0, max_delay: float = 30.0, subscribe: str | None = None
) -> App:
    """The app and its feed, not started yet: call ``app.feed.start()`` in the process that serves."""
    policy = geventws.ReconnectPolicy(first_delay=first_delay, min_delay=first_delay, max_delay=max_delay)
    return App(Feed(upstream, policy, subscribe))


def serve(args: argparse.Namespace) -> None:
    """Start the feed and the HTTP server; stop both on SIGINT or SIGTERM."""
    app = make_app(
        args.upstream, first_delay=args.first_delay, max_delay=args.max_delay, subscribe=args.subscribe
    )
    feed = app.feed
    server = WSGIServer((args.host, args.port), app, log=None)
    stopping = gevent.event.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        gevent.signal_handler(signum, stopping.set)
    feed.start()
    server.start()
    print(f"LISTENING http://{args.host}:{server.server_port}/events", flush=True)
    stopping.wait()
    server.close()  # no new clients
    feed.stop()  # ends the streams
    server.stop(timeout=2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--upstream", required=True, help="the feed's ws:// or wss:// URL")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000, help="0: any free port")
    parser.add_argument("--subscribe", help="a message sent after every (re)connect")
    parser.add_argument("--first-delay", type=float, default=1.0, help="the first reconnect waits up to this")
    parser.add_argument("--max-delay", type=float, default=30.0, help="the longest wait between reconnects")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    serve(args)


if __name__ == "__main__":
    main()
