"""Load-test a WebSocket echo server with Locust and geventws (``pip install "geventws[locust]"``).

    locust -f examples/locustfile.py --host ws://127.0.0.1:8765/ --headless -u 100 -r 20 -t 1m

Distributed (one master, workers on as many machines as needed; the master
adds up their statistics):

    locust -f examples/locustfile.py --master --host ws://server:8765/            # web UI on :8089
    locust -f examples/locustfile.py --worker --master-host MASTER_IP             # on each machine

Statistics: ``WSCONN connect`` (connect times, failures with geventws' error
code), ``WS echo`` / ``WS echo json`` (round trips), ``WSS`` / ``WSR`` (every
message and its size), ``WSR unsolicited`` (replies to ``fire_and_forget``,
which nobody waits for).
"""

from __future__ import annotations

import itertools
import json
from typing import Any, ClassVar

from locust import between, task

from geventws.contrib.locust import WebSocketUser

_ids = itertools.count()


class EchoUser(WebSocketUser):
    wait_time = between(0.05, 0.2)
    ws_options: ClassVar[dict[str, Any]] = {"open_timeout": 5, "close_timeout": 2}  # Connection options
    connect_phases = True  # also "connect: tcp+tls" and "connect: upgrade"

    @task(3)
    def echo(self) -> None:
        # Send, and time the wait for the next message.
        self.request("hello", name="echo")

    @task(2)
    def echo_json(self) -> None:
        # Send, and time the wait for the reply that carries our id.
        request_id = next(_ids)
        body = json.dumps({"id": request_id, "op": "ping"})
        self.request(body, name="echo json", match=lambda reply: json.loads(reply).get("id") == request_id)

    @task(1)
    def fire_and_forget(self) -> None:
        # Only counted (WSS); the echoed reply is counted as WSR "unsolicited".
        self.send(b"\x00" * 256, name="blob")
