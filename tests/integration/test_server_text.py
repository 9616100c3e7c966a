"""What a server says (reason phrase, header values, body, close reason) reaches
exception messages and log records escaped, never raw: a hostile server must not
drive the terminal that shows them or forge a line of the application's log.
The raw values stay available as data."""

from __future__ import annotations

import logging
import struct
from collections.abc import Callable
from typing import Any

import pytest

import geventws
from geventws import ReconnectPolicy
from tests.proxies import proxy_url
from tests.rawserver import CLOSE, Peer, RawServer
from tests.support import WAIT, Recorder

RawServerFactory = Callable[[Callable[[Peer], Any]], RawServer]

#: Sets the window title, rings, clears the screen, then overwrites the line. Latin-1, as a head is.
HOSTILE = "\x1b]0;PWNED\x07\x1b[2J\rFAKE LOG LINE \x9b"
#: How it shows once escaped.
ESCAPED = "\\x1b]0;PWNED\\x07\\x1b[2J\\rFAKE LOG LINE \\x9b"


def _logged(caplog: pytest.LogCaptureFixture) -> list[str]:
    """The messages of the records on the geventws logger, each checked to be printable."""
    messages = [record.getMessage() for record in caplog.records if record.name.startswith("geventws")]
    raw = [message for message in messages if not message.isprintable()]
    assert not raw, raw
    return messages


def _upgrade_headers(peer: Peer) -> list[tuple[str, str]]:
    return [("Upgrade", "websocket"), ("Connection", "Upgrade"), ("Sec-WebSocket-Accept", peer.accept_key())]


ANSWERS: dict[str, Callable[[Peer], tuple[str, list[tuple[str, str]]]]] = {
    "reason phrase": lambda peer: (f"403 Forbidden {HOSTILE}", [("X-Evil", HOSTILE)]),
    "subprotocol": lambda peer: (
        "101 Switching Protocols",
        [*_upgrade_headers(peer), ("Sec-WebSocket-Protocol", HOSTILE)],
    ),
    "extension": lambda peer: (
        "101 Switching Protocols",
        [*_upgrade_headers(peer), ("Sec-WebSocket-Extensions", HOSTILE)],
    ),
    "Upgrade": lambda peer: ("101 Switching Protocols", [("Upgrade", HOSTILE), ("Connection", "Upgrade")]),
    "Location": lambda peer: ("302 Found", [("Location", f"/a{HOSTILE}")]),
}


@pytest.mark.parametrize("answer", ANSWERS)
def test_a_hostile_answer_is_escaped_in_the_error_and_the_log(
    raw_server: RawServerFactory, caplog: pytest.LogCaptureFixture, answer: str
) -> None:
    caplog.set_level(logging.DEBUG, logger="geventws")

    def handler(peer: Peer) -> None:
        peer.read_request()
        status, headers = ANSWERS[answer](peer)
        peer.send_response(status, headers)

    with pytest.raises(geventws.HandshakeError) as info:
        geventws.connect(raw_server(handler).url(), ping_interval=None)
    assert str(info.value).isprintable(), str(info.value)
    assert "\\x1b]0;PWNED" in str(info.value)
    assert any("\\x1b]0;PWNED" in message for message in _logged(caplog))  # logged, escaped


def test_a_refusal_keeps_its_raw_values_as_data(
    raw_server: RawServerFactory, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="geventws")
    body = HOSTILE.encode("latin-1")

    def handler(peer: Peer) -> None:
        peer.read_request()
        headers = [("X-Evil", HOSTILE), ("Content-Length", str(len(body)))]
        peer.send_response(f"403 Forbidden {HOSTILE}", headers, body)

    conn = geventws.Connection(raw_server(handler).url(), ping_interval=None)
    conn.connect()
    assert conn.wait_closed(WAIT)
    error = conn.last_error
    assert isinstance(error, geventws.HandshakeError)
    assert str(error) == f"server rejected WebSocket connection: HTTP 403 Forbidden {ESCAPED}"
    assert (error.headers["X-Evil"], error.body) == (HOSTILE, body)
    assert conn.response is not None and conn.response.reason == f"Forbidden {HOSTILE}"
    assert conn.response.headers["X-Evil"] == HOSTILE
    _logged(caplog)


def test_a_policy_giving_up_on_a_hostile_refusal_logs_it_escaped(
    raw_server: RawServerFactory, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="geventws")

    def handler(peer: Peer) -> None:
        peer.read_request()
        peer.send_response(f"403 Forbidden {HOSTILE}")

    recorder = Recorder()
    conn = geventws.Connection(
        raw_server(handler).url(), reconnect=ReconnectPolicy(), ping_interval=None, **recorder.callbacks()
    )
    conn.connect()
    try:
        assert recorder.wait_for(lambda: recorder.count("give_up") == 1, WAIT)
    finally:
        conn.close()
    ((_, error),) = recorder.of("give_up")
    assert str(error).isprintable() and ESCAPED in str(error)
    assert any("gave up" in message and ESCAPED in message for message in _logged(caplog))


def test_a_hostile_close_reason_is_escaped_in_the_error_the_log_and_the_trace(
    raw_server: RawServerFactory, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="geventws")
    reason = "\x1b]0;PWNED\x07\r\u202eFAKE \x9b"

    def handler(peer: Peer) -> None:
        peer.handshake()
        peer.send_frame(CLOSE, struct.pack("!H", 4000) + reason.encode())
        peer.finish()

    trace = logging.getLogger("geventws.test-trace")
    ws = geventws.connect(raw_server(handler).url(), ping_interval=None, trace=trace, trace_payloads=True)
    with pytest.raises(geventws.ConnectionClosed) as info:
        ws.recv(timeout=WAIT)
    ws.close()
    assert ws.close_reason == reason  # the data is untouched
    assert str(info.value).isprintable(), str(info.value)
    messages = _logged(caplog)
    assert any('"reason"' in message for message in messages)  # the trace line was logged


def test_a_proxy_refusal_is_escaped_in_the_error_and_the_log(
    raw_server: RawServerFactory, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="geventws")

    def proxy(peer: Peer) -> None:
        peer.read_request()
        peer.send_response(f"403 Forbidden {HOSTILE}")

    server = raw_server(proxy)
    with pytest.raises(geventws.ProxyError) as info:
        geventws.connect("ws://127.0.0.1:9/", proxy=proxy_url("http", server.port), ping_interval=None)
    assert str(info.value).endswith(f"403 Forbidden {ESCAPED}"), str(info.value)
    assert any(ESCAPED in message for message in _logged(caplog))
