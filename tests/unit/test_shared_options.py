"""Connections made with equal plain arguments share one frozen Options; nothing else is cached."""

from __future__ import annotations

import gc
import ssl
import weakref

import pytest

from geventws import Connection
from geventws.protocol.options import make_options
from geventws.protocol.sharedoptions import options_for


def test_equal_plain_arguments_share_one_options() -> None:
    first = options_for("ws://h:1/a", {"ping_interval": 20, "open_timeout": 60.0, "subprotocols": ("chat",)})
    second = options_for("ws://h:1/a", {"open_timeout": 60.0, "subprotocols": ("chat",), "ping_interval": 20})
    assert first is second
    assert first == make_options("ws://h:1/a", ping_interval=20, open_timeout=60.0, subprotocols=("chat",))
    assert options_for("ws://h:1/b", {"ping_interval": 20, "open_timeout": 60.0}) is not first
    assert options_for("ws://h:1/a", {"ping_interval": 21, "open_timeout": 60.0}) is not first


def test_values_equal_in_python_but_of_other_types_are_other_options() -> None:
    as_int = options_for("ws://h/", {"max_queue": 1})
    with pytest.raises(TypeError):
        options_for("ws://h/", {"max_queue": True})  # a bool is refused, whatever was cached for 1
    with pytest.raises(TypeError):
        options_for("ws://h/", {"max_queue": 1.0})
    assert options_for("ws://h/", {"max_queue": 1}) is as_int


def test_a_refusal_is_raised_every_time() -> None:
    for _ in range(2):
        with pytest.raises(ValueError):
            options_for("ws://h/", {"ping_interval": -1})


def test_other_arguments_are_checked_each_time_and_never_kept() -> None:
    context = ssl.create_default_context()
    first = options_for("wss://h/", {"ssl_context": context})
    assert options_for("wss://h/", {"ssl_context": context}) is not first
    headers = {"X-A": "1"}
    assert options_for("ws://h/", {"headers": headers}) is not options_for("ws://h/", {"headers": headers})
    alive = weakref.ref(context)
    del context, first
    gc.collect()
    assert alive() is None  # no cache holds it


def test_connections_share_their_options() -> None:
    ws_url = "ws://127.0.0.1:9/"  # never connected
    a, b = Connection(ws_url, ping_interval=5), Connection(ws_url, ping_interval=5)
    assert a.options is b.options
    assert Connection(ws_url, ping_interval=6).options is not a.options


def test_a_connection_made_from_options_shares_them_as_they_are() -> None:
    context = ssl.create_default_context()
    checked = make_options("wss://127.0.0.1:9/", ssl_context=context, ping_interval=5, max_queue=3)
    clone = Connection(checked, on_ping=lambda conn, payload: None)
    assert clone.options is checked and clone.url == "wss://127.0.0.1:9/"
    assert Connection(clone.options).options is checked
    assert clone._inbox._maxsize == 3  # the options are used, not only kept


def test_options_and_keyword_options_together_are_refused() -> None:
    checked = make_options("ws://127.0.0.1:9/")
    with pytest.raises(TypeError, match="ping_interval"):
        Connection(checked, ping_interval=5)
    assert options_for(checked, {}) is checked
