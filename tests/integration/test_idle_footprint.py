"""What an open, idle connection holds (issue 10: idle memory per connection).

The benchmark measures the bytes; these tests pin down the objects an idle
connection does without, so that a change cannot bring them back unnoticed:
each was a few hundred bytes on every one of thousands of connections.
"""

from __future__ import annotations

import gc

import pytest

import geventws
from geventws.runtime.opening import Opened
from tests.conftest import ServerProcess

pytestmark = pytest.mark.timeout(30)


def test_an_idle_connection_holds_only_what_it_needs(ws_server: ServerProcess) -> None:
    with geventws.connect(ws_server.url("/echo"), ping_interval=20) as conn:
        session = conn._session
        assert session is not None
        # connect() waited on an Event of its own: dropped once open.
        assert conn._ever_opened is None
        # The Event that frees a receive loop held by a full inbox: made only then.
        assert session._stop_event is None
        # The response is kept, its parsed headers are not (parsed again when asked).
        response = conn.response
        assert response is not None and response._headers is None
        assert response.headers["Upgrade"].lower() == "websocket"
        # The parser keeps no lists for messages in several frames until one comes.
        assert session._parser is not None and session._parser._parts is None
        # What opened the stream is not held by the parked receive loop.
        gc.collect()
        assert not [o for o in gc.get_referrers(response) if isinstance(o, Opened)]
        # One owner reference, not bound methods, in the supervisor and the outbox.
        assert conn._supervisor._owner is conn and conn._outbox._listener is conn


def test_connections_to_one_url_share_its_strings(ws_server: ServerProcess) -> None:
    url = ws_server.url("/echo")
    first, second = (geventws.connect(url, ping_interval=None) for _ in range(2))
    with first, second:
        assert first._log_context["url"] is second._log_context["url"]
        assert first._supervisor._name is second._supervisor._name
        assert first.response is not None and second.response is not None
        assert first.response.reason is second.response.reason
