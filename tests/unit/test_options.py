"""Options: checked and normalised once. No greenlets, no I/O."""

from __future__ import annotations

import re
import ssl
import types
from collections.abc import Iterator

import pytest

import geventws
from geventws.callbacks import CALLBACKS
from geventws.exceptions import InvalidHeader, InvalidURL
from geventws.protocol.backoff import Verdict, default_classifier
from geventws.protocol.extensions import DeflateOffer
from geventws.protocol.headers import Headers
from geventws.protocol.option_checks import MAX_DURATION
from geventws.protocol.options import BINARY_TYPE_ARRAYBUFFER, BINARY_TYPE_BLOB, ConnectOptions, make_options
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


# -- issue 9 #12/#14: every option is checked at construction ------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "error", "words"),
    [
        ({"headers": "Cookie: x"}, TypeError, "headers must be a mapping or (name, value) pairs, not a str"),
        ({"headers": {"X-A": None}}, TypeError, "the value of 'X-A' must be a str, not NoneType"),
        ({"headers": {"X-A": "a\r\nB: c"}}, ValueError, "headers: the value of 'X-A' contains CR, LF"),
        ({"headers": {"Bad Name": "v"}}, ValueError, "headers: 'Bad Name' is not a valid header name"),
        ({"headers": {"Sec-WebSocket-Protocol": "a b"}}, ValueError, "Sec-WebSocket-Protocol"),
        ({"subprotocols": [1]}, TypeError, "subprotocols must hold str, not int"),
        ({"subprotocols": ["a b"]}, ValueError, "subprotocols: 'a b' is not a valid subprotocol"),
        ({"subprotocols": [""]}, ValueError, "subprotocols: '' is not a valid subprotocol"),
        ({"subprotocols": 5}, TypeError, "subprotocols must be a sequence of str"),
        ({"limiter": 5}, TypeError, "limiter must be a HandshakeLimiter or None, not int"),
        ({"origin": 5}, TypeError, "origin must be a str or None"),
        ({"origin": "http://o\r\nX: 1"}, ValueError, "origin: the value of 'Origin' contains CR, LF"),
        ({"reconnect": "yes"}, TypeError, "reconnect must be a ReconnectPolicy or None"),
        ({"ssl_context": "yes"}, TypeError, "ssl_context must be an ssl.SSLContext"),
        ({"max_redirects": -1}, ValueError, "max_redirects must be 0 or more"),
        ({"max_redirects": 1.5}, TypeError, "max_redirects must be an int"),
        ({"max_redirects": True}, TypeError, "max_redirects must be an int"),
        ({"redirect_strip_headers": "Cookie"}, TypeError, "redirect_strip_headers must be a collection"),
        ({"redirect_strip_headers": ["a b"]}, ValueError, "redirect_strip_headers: 'a b'"),
    ],
)
def test_make_options_names_the_bad_option(
    kwargs: dict[str, object], error: type[Exception], words: str
) -> None:
    with pytest.raises(error) as info:
        make_options("ws://h/", **kwargs)  # type: ignore[arg-type]
    assert words in str(info.value)


def test_the_public_constructor_refuses_bad_options_at_once() -> None:
    for kwargs in ({"limiter": 5}, {"subprotocols": [1]}, {"headers": "Cookie: x"}, {"max_queue": 1.5}):
        with pytest.raises(TypeError):
            geventws.Connection("ws://h/", **kwargs)  # type: ignore[arg-type]


def test_make_options_accepts_a_limiter_and_redirect_options() -> None:
    limiter = geventws.HandshakeLimiter(max_in_flight=2)
    opts = make_options("ws://h/", limiter=limiter, max_redirects=0, redirect_strip_headers=["X-Api-Key"])
    assert opts.limiter is limiter
    assert opts.max_redirects == 0
    assert opts.redirect_strip_headers == frozenset({"x-api-key"})
    defaults = make_options("ws://h/")
    assert defaults.max_redirects == 3
    assert defaults.redirect_strip_headers == {"authorization", "cookie", "proxy-authorization"}


def test_a_subprotocol_header_becomes_the_offer() -> None:
    # Workerman has no subprotocol option: its users set the header.
    opts = make_options(
        "ws://h/", headers={"Sec-WebSocket-Protocol": "chat, v2", "X": "1"}, subprotocols=["v2"]
    )
    assert opts.subprotocols == ("v2", "chat")
    assert isinstance(opts.headers, Headers)
    assert opts.headers.raw_items() == [("X", "1")]


@pytest.mark.parametrize(
    ("returned", "cause"),
    [
        ("Cookie: x", TypeError),
        ({"X-A": None}, TypeError),
        ({"X-A": "s3cret\r\n"}, ValueError),
        (5, TypeError),
    ],
)
def test_a_headers_callable_returning_bad_headers_is_a_final_typed_error(
    returned: object, cause: type
) -> None:
    opts = make_options("ws://h/", headers=lambda: returned)  # type: ignore[arg-type,return-value]
    with pytest.raises(InvalidHeader) as info:
        opts.resolve_headers()
    assert isinstance(info.value.__cause__, cause)
    assert "s3cret" not in str(info.value)
    assert default_classifier(info.value) == Verdict(False)


def test_a_headers_callable_returning_good_headers() -> None:
    opts = make_options("ws://h/", headers=lambda: [("X-Token", "t1")])
    assert opts.resolve_headers().raw_items() == [("X-Token", "t1")]


@pytest.mark.parametrize("returned", [5, None, b"ws://h/", "http://h/", "ws://h/\r\n"])
def test_a_url_callable_returning_a_bad_url_is_a_final_typed_error(returned: object) -> None:
    opts = make_options(lambda: returned)  # type: ignore[arg-type,return-value]
    with pytest.raises(InvalidURL) as info:
        opts.resolve_uri()
    assert default_classifier(info.value) == Verdict(False)


# -- compression -------------------------------------------------------------------------------


def test_compression_is_off_by_default_and_stored_as_one_offer() -> None:
    assert make_options("ws://h/").deflate is None
    opts = make_options("ws://h/", compression="deflate", server_max_window_bits=10)
    assert opts.deflate == DeflateOffer(server_max_window_bits=10)
    assert (
        opts.deflate.header_value() == "permessage-deflate; server_max_window_bits=10; client_max_window_bits"
    )


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"compression": "gzip"}, ValueError, "compression must be 'deflate' or None"),
        ({"compression": True}, ValueError, "compression must be"),
        ({"compression": "deflate", "client_max_window_bits": 8}, ValueError, "zlib"),
        ({"compression": "deflate", "client_max_window_bits": 16}, ValueError, "between 9 and 15"),
        ({"compression": "deflate", "server_max_window_bits": 7}, ValueError, "between 8 and 15"),
        ({"compression": "deflate", "server_max_window_bits": "9"}, TypeError, "int"),
        ({"compression": "deflate", "server_no_context_takeover": 1}, TypeError, "bool"),
        ({"server_max_window_bits": 10}, ValueError, "server_max_window_bits only apply with compression"),
        ({"client_no_context_takeover": True}, ValueError, "only apply with compression='deflate'"),
    ],
)
def test_compression_options_are_checked_at_construction(
    kwargs: dict[str, object], error: type[Exception], match: str
) -> None:
    with pytest.raises(error, match=match):
        make_options("ws://h/", **kwargs)  # type: ignore[arg-type]


# -- every option, through both public entries: a bad value is refused at once, by name ----------


class OneShot:
    """A generator where a sequence is expected, made afresh for each use."""

    def __init__(self, *items: object) -> None:
        self.items = items

    def __repr__(self) -> str:
        return f"generator{self.items!r}"

    def __call__(self) -> Iterator[object]:
        return (item for item in self.items)


NAN, INF = float("nan"), float("inf")
T, V = TypeError, ValueError
Case = tuple[str, object, type[Exception]]


def cases(names: str, *bad: tuple[object, type[Exception]]) -> list[Case]:
    """``(name, value, error)`` for each of the space-separated ``names`` and each bad value."""
    return [(name, value, error) for name in names.split() for value, error in bad]


NUMBERS = [("5", T), (b"5", T), (True, T), ([1], T), (0, V), (-1, V)]
NOT_A_SOCKET = types.SimpleNamespace(recv=1, sendall=1, close=1, fileno=1)
BAD_OPTIONS = [
    *cases("headers", (5, T), ("Cookie: x", T), (b"Cookie: x", T), ({1: "v"}, T), ({b"X": "v"}, T)),
    *cases("headers", ({"X": 5}, T), ({"X": None}, T), ([("X",)], T), (OneShot(("X", 5)), T)),
    *cases("headers", ({"A B": "v"}, V), ({"X": "a\r\nb"}, V)),
    *cases("ping_interval ping_timeout open_timeout close_timeout", *NUMBERS, (NAN, V), (INF, V), (-INF, V)),
    *cases("ping_interval ping_timeout open_timeout close_timeout", (1e308, V), (10**400, V)),
    *cases("max_message_size max_send_buffer_size max_send_buffer_messages", *NUMBERS, (1.5, T), (NAN, T)),
    *cases("max_queue max_response_head", *NUMBERS, (1.5, T), (NAN, T), (INF, T), (None, T)),
    *cases("websocket_type", (5, V), ("text", V), (b"blob", V)),
    *cases("ssl_context", (5, T), ("yes", T), (True, T), (ssl.create_default_context(), V)),  # on ws://
    *cases("origin", (5, T), (b"http://o", T), ("http://o\r\nX: 1", V)),
    *cases("subprotocols", (5, T), (None, T), ("chat", T), (b"chat", T), ([b"chat"], T), ([5], T)),
    *cases("subprotocols", (OneShot(5), T), (["a b"], V)),
    *cases("reconnect", (5, T), ("yes", T), (True, T)),
    *cases("limiter", (5, T), ("x", T)),
    *cases("send_buffer_policy", (None, V), (5, V), ("nope", V), (b"fail", V)),
    *cases("max_redirects", (None, T), (1.5, T), (NAN, T), (True, T), ("3", T), (-1, V)),
    *cases("redirect_strip_headers", (None, T), (5, T), ("Cookie", T), (b"Cookie", T), ([b"Cookie"], T)),
    *cases("redirect_strip_headers", (OneShot("Cookie"), T), (["a b"], V)),
    *cases("proxy", (5, T), (1.5, T), (b"http://p:1", T)),
    *cases("proxy", ("ftp://p", InvalidURL), ("http://p:x", InvalidURL)),
    *cases("source_address", (5, T), ("h", T), (("h",), T), (["h", 0], T), ((5, 0), T), (("h", "0"), T)),
    *cases("source_address", (("h", True), T), ((b"h", 0), T), (("h", 70000), V), (("h", -1), V)),
    *cases("sock", (5, T), ("127.0.0.1:80", T), (NOT_A_SOCKET, T)),
    *cases("unix_path", (5, T), (True, T), (1.5, T), (["/x"], T), (b"/x.sock", T), ("", T)),
    *cases("socket_options", (5, T), (None, T), (True, T), ("abc", T), (b"abc", T), ([5], T)),
    *cases("socket_options", ([(1, 2)], T), ([[1, 2, 3]], T), ([("1", 2, 3)], T), ([(True, 2, 3)], T)),
    *cases("socket_options", ([(1, 2, "3")], T), ([(1, 2, None)], T), ([(1, 2, 1.5)], T)),
    *cases("socket_options", (OneShot((1, 2, "3")), T), ([(1, 2**31, 1)], V), ([(1, 2, -(2**31) - 1)], V)),
    *cases("trace", (5, T), ("x", T), (True, T)),
    *cases("trace_payloads", (None, T), (1, T), ("yes", T)),
    *cases("compression", (5, V), ("gzip", V), (True, V), (b"deflate", V)),
    # The four deflate parameters are tried with compression="deflate" (without it,
    # any change is refused: tested above).
    *cases("client_max_window_bits", ("9", T), (9.0, T), (NAN, T), (8, V), (16, V)),
    *cases("server_max_window_bits", ("9", T), (9.0, T), (True, T), (7, V), (16, V)),
    *cases("client_no_context_takeover server_no_context_takeover", (None, T), (1, T), ("x", T)),
]
DEFLATE_PARAMS = {name for name, _, _ in BAD_OPTIONS if "window_bits" in name or "context_takeover" in name}
ENTRIES = {"make_options": make_options, "Connection": geventws.Connection}


def case_id(name: str, value: object) -> str:
    text = repr(value)
    return f"{name}={text if len(text) <= 30 else text[:27] + '...'}"


def test_every_option_has_bad_values_below() -> None:
    assert {name for name, _, _ in BAD_OPTIONS} == set(ConnectOptions.__annotations__)


@pytest.mark.parametrize("entry", ENTRIES)
@pytest.mark.parametrize(
    ("name", "value", "error"),
    [pytest.param(name, value, error, id=case_id(name, value)) for name, value, error in BAD_OPTIONS],
)
def test_a_bad_option_is_refused_at_construction_naming_it(
    entry: str, name: str, value: object, error: type[Exception]
) -> None:
    # Before the fix: socket_options=5 said "'int' object is not iterable", unix_path=5
    # "expected str, bytes or os.PathLike object", ping_interval=1e308 was accepted
    # (and failed every connection once open).
    options = {name: value() if isinstance(value, OneShot) else value}
    if name in DEFLATE_PARAMS:
        options["compression"] = "deflate"
    with pytest.raises(error) as info:
        ENTRIES[entry]("ws://h/", **options)
    assert re.search(rf"\b{name}\b", str(info.value)), str(info.value)


@pytest.mark.parametrize("entry", ENTRIES)
@pytest.mark.parametrize("url", [5, None, b"ws://h/"])
def test_a_url_of_the_wrong_type_is_refused_naming_it(entry: str, url: object) -> None:
    with pytest.raises(TypeError, match=r"\burl must be a str or a callable"):
        ENTRIES[entry](url)


@pytest.mark.parametrize("name", CALLBACKS)
def test_a_callback_that_cannot_be_called_is_refused_naming_it(name: str) -> None:
    with pytest.raises(TypeError, match=rf"\b{name} must be callable or None, not int"):
        geventws.Connection("ws://h/", **{name: 5})


def test_the_largest_values_are_accepted() -> None:
    # A size has no upper bound (a huge int is a bound never reached); a duration stops at MAX_DURATION.
    opts = make_options("ws://h/", max_queue=10**400, max_message_size=10**400, max_redirects=10**400)
    assert opts.max_queue == opts.max_message_size == opts.max_redirects == 10**400
    assert make_options("ws://h/", ping_interval=MAX_DURATION).ping_interval == MAX_DURATION
