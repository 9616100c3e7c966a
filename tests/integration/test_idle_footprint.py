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
from geventws.runtime.pings import _NONE_WAITING
from tests.conftest import ServerProcess

pytestmark = pytest.mark.timeout(30)


def test_an_idle_connection_holds_only_what_it_needs(ws_server: ServerProcess) -> None:
    with geventws.connect(ws_server.url("/echo"), ping_interval=20) as conn:
        session = conn._session
        assert session is not None
        # connect() waited on a result of its own: dropped once open.
        assert conn._first_open is None
        # Nobody waits for the end: the supervisor makes no Event for it.
        assert conn._supervisor._finished_event is None and not conn.finished
        # Callbacks not given are the class's None, not one slot each per connection.
        assert conn.on_message is None and "on_message" not in vars(conn)
        assert not [name for name in vars(conn) if name.startswith("on_")]
        # The log's id and URL are two attributes, not a dictionary of context.
        assert conn._log.extra is None and conn._log.conn_id == conn.id
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
        # The read watcher calls the turn itself; the transport tells the counters themselves.
        transport = session.transport
        assert transport is not None and transport.turn is not None
        assert transport.turn._watcher.callback is transport.turn
        assert transport.sent_to is conn._observer.counters
        # No dictionary for errors that never happened, nor for pings once answered.
        assert conn._observer.counters._errors is None
        assert conn.ping().wait(5)
        assert session._pings._waiting is _NONE_WAITING and not _NONE_WAITING
        # The parked receive loop's frames hold no batch of events already handled.
        frame = conn._supervisor._greenlet.gr_frame
        held = []
        while frame is not None:
            held += [value for value in frame.f_locals.values() if isinstance(value, (list, tuple))]
            frame = frame.f_back
        assert held == []


def test_connections_to_one_url_share_its_strings(ws_server: ServerProcess) -> None:
    url = ws_server.url("/echo")
    first, second = (geventws.connect(url, ping_interval=None) for _ in range(2))
    with first, second:
        assert first._log.url is second._log.url
        assert first._supervisor._name is second._supervisor._name
        assert first.response is not None and second.response is not None
        assert first.response.reason is second.response.reason
