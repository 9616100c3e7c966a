"""gunicorn settings for gevent_app.py: one upstream connection per worker process.

    cd examples && gunicorn -c gunicorn_conf.py -w 2 'gevent_app:make_app("ws://127.0.0.1:8765/")'

Connections are greenlets and sockets of one process: open them in each worker,
after gunicorn's gevent worker has set gevent up, never in the master before
it forks (a connection opened there would be shared, or dead, in the workers).
"""

from __future__ import annotations

from typing import Any

worker_class = "gevent"
# Load the app in each worker, not once in the master before the fork.
preload_app = False


def post_worker_init(worker: Any) -> None:
    # In the worker, after its gevent hub is ready and the app is loaded.
    # (post_fork runs earlier, before the gevent worker has re-initialised its hub.)
    worker.wsgi.feed.start()


def worker_exit(server: Any, worker: Any) -> None:
    # In the worker, when it stops: close the upstream connection, end the streams.
    feed = getattr(getattr(worker, "wsgi", None), "feed", None)
    if feed is not None:
        feed.stop()
