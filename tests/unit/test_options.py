"""Options: checked and normalised once. No greenlets, no I/O."""

from __future__ import annotations

import ssl

import pytest

from geventws.exceptions import InvalidURL
from geventws.protocol.headers import Headers
from geventws.protocol.options import BINARY_TYPE_ARRAYBUFFER, BINARY_TYPE_BLOB, make_options
from geventws.protocol.uri import parse_uri

# -- options -----------------------------------------------------------------------------------


def test_make_options_defaults_and_normalisation() -> None:
    opts = make_options(
        "ws://h:1/p", headers=[("A", "1"), ("a", "2")], subprotocols=["x"], ping_interval=None
    )
    assert opts.url == "ws://h:1/p"
    assert opts.uri == parse_uri("ws://h:1/p")
    assert isinstance(opts.headers, Headers)
    assert opts.headers.get_all("A") == ["1", "2"]
    assert opts.subprotocols == ("x",)
    assert opts.ping_interval is None
    assert opts.websocket_type is None
    assert make_options("ws://h/", websocket_type=BINARY_TYPE_BLOB).websocket_type == BINARY_TYPE_BLOB
    assert make_options("ws://h/", websocket_type=BINARY_TYPE_ARRAYBUFFER).websocket_type == "arraybuffer"
    assert make_options("wss://h/", ssl_context=ssl.create_default_context()).ssl_context is not None


DURATIONS = ["ping_interval", "ping_timeout", "open_timeout", "close_timeout"]
OPTIONAL_SIZES = ["max_message_size", "max_send_buffer_size", "max_send_buffer_messages"]
NUMERIC = [*DURATIONS, *OPTIONAL_SIZES]
SIZES = [*OPTIONAL_SIZES, "max_queue", "max_response_head"]


@pytest.mark.parametrize("name", [*NUMERIC, "max_queue", "max_response_head"])
@pytest.mark.parametrize("value", [0, -1])
def test_make_options_rejects_non_positive(name: str, value: float) -> None:
    with pytest.raises(ValueError, match=name):
        make_options("ws://h/", **{name: value})  # type: ignore[arg-type]


@pytest.mark.parametrize("name", DURATIONS)
def test_make_options_rejects_negative_fractions_and_infinity(name: str) -> None:
    with pytest.raises(ValueError, match=name):
        make_options("ws://h/", **{name: -0.5})  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=f"{name} must be finite"):
        make_options("ws://h/", **{name: float("inf")})  # type: ignore[arg-type]


@pytest.mark.parametrize("name", SIZES)
@pytest.mark.parametrize("value", [1.5, 0.5, -0.5, 16.0, float("inf"), float("nan")])
def test_make_options_sizes_and_counts_must_be_ints(name: str, value: float) -> None:
    # issue 9 #12/#14: max_queue=1.5 and max_message_size=0.5 were accepted.
    with pytest.raises(TypeError, match=f"{name} must be an int"):
        make_options("ws://h/", **{name: value})  # type: ignore[arg-type]


@pytest.mark.parametrize("name", [*NUMERIC, "max_queue", "max_response_head"])
@pytest.mark.parametrize("value", ["5", True, [1]])
def test_make_options_rejects_non_numbers(name: str, value: object) -> None:
    with pytest.raises(TypeError, match=name):
        make_options("ws://h/", **{name: value})  # type: ignore[arg-type]


@pytest.mark.parametrize("name", NUMERIC)
def test_make_options_accepts_none_for_optional_numbers(name: str) -> None:
    assert getattr(make_options("ws://h/", **{name: None}), name) is None  # type: ignore[arg-type]


@pytest.mark.parametrize("name", ["max_queue", "max_response_head"])
def test_make_options_rejects_none_for_required_numbers(name: str) -> None:
    with pytest.raises((TypeError, ValueError)):
        make_options("ws://h/", **{name: None})  # type: ignore[arg-type]


@pytest.mark.parametrize("name", DURATIONS)
def test_make_options_rejects_nan(name: str) -> None:
    with pytest.raises(ValueError):
        make_options("ws://h/", **{name: float("nan")})  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"websocket_type": "text"}, ValueError),
        ({"websocket_type": 1}, ValueError),
        ({"ssl_context": "yes"}, TypeError),
        ({"subprotocols": "chat"}, TypeError),
    ],
)
def test_make_options_rejects_bad_values(kwargs: dict[str, object], error: type[Exception]) -> None:
    with pytest.raises(error):
        make_options("wss://h/", **kwargs)  # type: ignore[arg-type]


def test_make_options_rejects_ssl_context_for_ws() -> None:
    with pytest.raises(ValueError, match="wss"):
        make_options("ws://h/", ssl_context=ssl.create_default_context())


def test_make_options_rejects_bad_url() -> None:
    with pytest.raises(InvalidURL):
        make_options("http://h/")


def test_make_options_rejects_unknown_option() -> None:
    with pytest.raises(TypeError):
        make_options("ws://h/", ping_intervall=5)  # type: ignore[call-arg]
