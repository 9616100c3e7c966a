"""Unit tests of the pure layer: URLs, headers, handshake, options, framing. No greenlets, no I/O."""

from __future__ import annotations

import ast
import base64
import ssl
import struct
from pathlib import Path

import pytest

import geventws
from geventws.exceptions import HandshakeError, InvalidURL, MessageTooBig, ProtocolError
from geventws.protocol.frames import (
    OP_BINARY,
    OP_CLOSE,
    OP_PING,
    OP_PONG,
    OP_TEXT,
    FrameParser,
    encode_close,
    parse_close,
)
from geventws.protocol.handshake import (
    Response,
    accept_value,
    build_request,
    check_response,
    new_key,
    parse_response,
)
from geventws.protocol.headers import Headers, redact
from geventws.protocol.options import BINARY_TYPE_ARRAYBUFFER, BINARY_TYPE_BLOB, make_options
from geventws.protocol.uri import parse_uri
from tests.rawserver import BINARY, CLOSE, CONT, PING, PONG, TEXT, frame

PACKAGE = Path(geventws.__file__).resolve().parent

# -- uri ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "secure", "host", "port", "resource", "host_header"),
    [
        ("ws://example.com", False, "example.com", 80, "/", "example.com"),
        ("wss://example.com", True, "example.com", 443, "/", "example.com"),
        ("ws://example.com:80/", False, "example.com", 80, "/", "example.com"),
        ("wss://example.com:443/", True, "example.com", 443, "/", "example.com"),
        ("ws://example.com:443/", False, "example.com", 443, "/", "example.com:443"),
        ("wss://example.com:80/", True, "example.com", 80, "/", "example.com:80"),
        ("ws://127.0.0.1:1234/path?x=1", False, "127.0.0.1", 1234, "/path?x=1", "127.0.0.1:1234"),
        ("ws://h/a/b?x=1&y=%20z", False, "h", 80, "/a/b?x=1&y=%20z", "h"),
        ("ws://h?x=1", False, "h", 80, "/?x=1", "h"),
        ("ws://[::1]:9000/p", False, "::1", 9000, "/p", "[::1]:9000"),
        ("wss://[2001:db8::1]/", True, "2001:db8::1", 443, "/", "[2001:db8::1]"),
        ("WS://Example.COM/", False, "example.com", 80, "/", "example.com"),
    ],
)
def test_parse_uri(url: str, secure: bool, host: str, port: int, resource: str, host_header: str) -> None:
    uri = parse_uri(url)
    assert (uri.secure, uri.host, uri.port, uri.resource) == (secure, host, port, resource)
    assert uri.host_header == host_header
    assert uri.user is None
    assert uri.password is None


def test_parse_uri_str_round_trip() -> None:
    assert str(parse_uri("wss://example.com:8443/p?q=1")) == "wss://example.com:8443/p?q=1"
    assert str(parse_uri("ws://[::1]/")) == "ws://[::1]/"


def test_parse_uri_credentials_are_unquoted_and_hidden_from_repr() -> None:
    uri = parse_uri("ws://us%40er:p%3Ass@example.com/")
    assert (uri.user, uri.password) == ("us@er", "p:ss")
    assert uri.host == "example.com"
    assert uri.host_header == "example.com"
    assert "p:ss" not in repr(uri)
    assert "p:ss" not in str(uri)


def test_parse_uri_user_without_password() -> None:
    uri = parse_uri("ws://alice@example.com/")
    assert (uri.user, uri.password) == ("alice", None)


@pytest.mark.parametrize(
    "url",
    [
        "http://example.com/",
        "https://example.com/",
        "ftp://example.com/",
        "example.com:80/",
        "",
        "ws://",
        "ws:///path",
        "ws://:80/",
        "ws://example.com/#frag",
        "ws://example.com/path?q=1#frag",
        "ws://example.com:99999/",
        "ws://example.com:port/",
    ],
)
def test_parse_uri_rejects(url: str) -> None:
    with pytest.raises(InvalidURL) as info:
        parse_uri(url)
    assert isinstance(info.value, ValueError)
    assert isinstance(info.value, geventws.WebSocketError)


def test_parse_uri_rejects_non_str() -> None:
    with pytest.raises(InvalidURL):
        parse_uri(b"ws://example.com/")  # type: ignore[arg-type]


def test_parse_uri_rejects_empty_fragment() -> None:
    with pytest.raises(InvalidURL):
        parse_uri("ws://example.com/#")


# -- headers -----------------------------------------------------------------------------------


def test_headers_case_insensitive() -> None:
    headers = Headers({"Content-Type": "text/plain"})
    assert headers["content-type"] == "text/plain"
    assert headers["CONTENT-TYPE"] == "text/plain"
    assert "content-TYPE" in headers
    assert "Other" not in headers
    assert 1 not in headers
    assert headers.get("missing") is None
    with pytest.raises(KeyError):
        headers["missing"]


def test_headers_repeated_names() -> None:
    headers = Headers([("Set-Cookie", "a=1"), ("X-Other", "o"), ("set-cookie", "b=2")])
    assert headers.get_all("SET-COOKIE") == ["a=1", "b=2"]
    assert headers["Set-Cookie"] == "a=1, b=2"
    assert len(headers) == 2
    assert list(headers) == ["Set-Cookie", "X-Other"]
    assert headers.raw_items() == [("Set-Cookie", "a=1"), ("X-Other", "o"), ("set-cookie", "b=2")]


def test_headers_set_and_delete_replace_every_value() -> None:
    headers = Headers([("A", "1"), ("a", "2"), ("B", "3")])
    headers["A"] = "9"
    assert headers.get_all("a") == ["9"]
    del headers["b"]
    assert "B" not in headers
    assert headers.raw_items() == [("A", "9")]


def test_redact_hides_secrets() -> None:
    items = [
        ("Cookie", "PHPSID=secret"),
        ("authorization", "Basic c2VjcmV0"),
        ("Proxy-Authorization", "Bearer x"),
        ("X-Visible", "shown"),
    ]
    assert redact(items) == [
        ("Cookie", "***"),
        ("authorization", "***"),
        ("Proxy-Authorization", "***"),
        ("X-Visible", "shown"),
    ]


def test_headers_repr_is_redacted() -> None:
    text = repr(Headers({"Cookie": "PHPSID=topsecret", "Authorization": "Bearer tok3n", "X": "visible"}))
    assert "topsecret" not in text
    assert "tok3n" not in text
    assert "visible" in text


# -- handshake ---------------------------------------------------------------------------------

RFC_KEY = "dGhlIHNhbXBsZSBub25jZQ=="
RFC_ACCEPT = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="


def test_accept_value_rfc_example() -> None:
    assert accept_value(RFC_KEY) == RFC_ACCEPT


def test_new_key_is_16_random_bytes() -> None:
    key = new_key()
    assert len(base64.b64decode(key, validate=True)) == 16
    assert new_key() != key


def parse_request(raw: bytes) -> tuple[str, list[tuple[str, str]]]:
    assert raw.endswith(b"\r\n\r\n")
    request_line, *lines = raw[:-4].decode("utf-8").split("\r\n")
    pairs = []
    for line in lines:
        name, sep, value = line.partition(": ")
        assert sep, line
        pairs.append((name, value))
    return request_line, pairs


def values(pairs: list[tuple[str, str]], name: str) -> list[str]:
    return [v for n, v in pairs if n.lower() == name.lower()]


def test_build_request_basics() -> None:
    uri = parse_uri("ws://127.0.0.1:1234/path?x=1")
    raw = build_request(uri, RFC_KEY, Headers({"Cookie": "PHPSID=abc; token=def", "OtherKey": "values"}))
    request_line, pairs = parse_request(raw)
    assert request_line == "GET /path?x=1 HTTP/1.1"
    assert values(pairs, "Host") == ["127.0.0.1:1234"]
    assert values(pairs, "Upgrade") == ["websocket"]
    assert values(pairs, "Connection") == ["Upgrade"]
    assert values(pairs, "Sec-WebSocket-Key") == [RFC_KEY]
    assert values(pairs, "Sec-WebSocket-Version") == ["13"]
    assert values(pairs, "Cookie") == ["PHPSID=abc; token=def"]
    assert values(pairs, "OtherKey") == ["values"]
    assert values(pairs, "Authorization") == []
    assert values(pairs, "Sec-WebSocket-Protocol") == []


def test_build_request_default_port_host_and_ipv6() -> None:
    _, pairs = parse_request(build_request(parse_uri("wss://example.com/"), RFC_KEY, Headers()))
    assert values(pairs, "Host") == ["example.com"]
    _, pairs = parse_request(build_request(parse_uri("ws://[::1]:8080/"), RFC_KEY, Headers()))
    assert values(pairs, "Host") == ["[::1]:8080"]


def test_build_request_basic_auth_from_url() -> None:
    uri = parse_uri("ws://user:pa%3Ass@example.com/")
    _, pairs = parse_request(build_request(uri, RFC_KEY, Headers()))
    expected = "Basic " + base64.b64encode(b"user:pa:ss").decode()
    assert values(pairs, "Authorization") == [expected]


def test_build_request_user_headers_replace_host_and_auth_but_not_protocol_headers() -> None:
    uri = parse_uri("ws://user:pw@example.com/")
    user = Headers(
        [
            ("host", "virtual.example"),
            ("Authorization", "Bearer tok"),
            ("Upgrade", "h2c"),
            ("Sec-WebSocket-Key", "forged"),
            ("Sec-WebSocket-Version", "8"),
            ("Connection", "close"),
        ]
    )
    _, pairs = parse_request(build_request(uri, RFC_KEY, user))
    assert values(pairs, "Host") == ["virtual.example"]
    assert values(pairs, "Authorization") == ["Bearer tok"]
    assert values(pairs, "Upgrade") == ["websocket"]
    assert values(pairs, "Connection") == ["Upgrade"]
    assert values(pairs, "Sec-WebSocket-Key") == [RFC_KEY]
    assert values(pairs, "Sec-WebSocket-Version") == ["13"]


def test_build_request_origin_and_subprotocols() -> None:
    raw = build_request(
        parse_uri("ws://h/"), RFC_KEY, Headers(), origin="http://o.example", subprotocols=["chat", "v2"]
    )
    _, pairs = parse_request(raw)
    assert values(pairs, "Origin") == ["http://o.example"]
    assert values(pairs, "Sec-WebSocket-Protocol") == ["chat, v2"]


@pytest.mark.parametrize(
    "header",
    [("X-Evil", "a\r\nInjected: 1"), ("X-Evil", "a\nb"), ("Bad Name", "v"), ("Bad:Name", "v"), ("", "v")],
)
def test_build_request_rejects_header_injection(header: tuple[str, str]) -> None:
    with pytest.raises(ValueError):
        build_request(parse_uri("ws://h/"), RFC_KEY, Headers([header]))


def good_head(key: str = RFC_KEY, *extra: str) -> bytes:
    lines = [
        "HTTP/1.1 101 Switching Protocols",
        "Upgrade: websocket",
        "Connection: Upgrade",
        f"Sec-WebSocket-Accept: {accept_value(key)}",
        *extra,
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def test_parse_response() -> None:
    raw = good_head(RFC_KEY, "X-Thing: a", "x-thing: b")
    response = parse_response(raw)
    assert response.status == 101
    assert response.reason == "Switching Protocols"
    assert response.headers["sec-websocket-accept"] == RFC_ACCEPT
    assert response.headers.get_all("X-THING") == ["a", "b"]
    assert str(response) == raw.decode("latin-1")
    assert response.body == b""


def test_parse_response_without_reason() -> None:
    response = parse_response(b"HTTP/1.1 403\r\n\r\n")
    assert (response.status, response.reason) == (403, "")


@pytest.mark.parametrize(
    "raw",
    [
        b"HTTP/2 101 Switching\r\n\r\n",
        b"ICY 200 OK\r\n\r\n",
        b"HTTP/1.1 1O1 Switching\r\n\r\n",
        b"HTTP/1.1 1010 Switching\r\n\r\n",
        b"HTTP/1.1 101 Switching\r\nno colon here\r\n\r\n",
        b"HTTP/1.1 101 Switching\r\n: no name\r\n\r\n",
        b"HTTP/1.1 101 Switching\r\n Upgrade: websocket\r\n\r\n",
    ],
)
def test_parse_response_rejects(raw: bytes) -> None:
    with pytest.raises(HandshakeError):
        parse_response(raw)


def test_check_response_accepts() -> None:
    assert check_response(parse_response(good_head()), RFC_KEY) is None
    lenient = good_head(RFC_KEY).replace(b"Upgrade: websocket", b"Upgrade: WebSocket")
    lenient = lenient.replace(b"Connection: Upgrade", b"Connection: keep-alive, upgrade")
    assert check_response(parse_response(lenient), RFC_KEY) is None


def test_check_response_returns_the_offered_subprotocol() -> None:
    response = parse_response(good_head(RFC_KEY, "Sec-WebSocket-Protocol: v2"))
    assert check_response(response, RFC_KEY, ["chat", "v2"]) == "v2"


def _without(name: bytes) -> bytes:
    lines = good_head().split(b"\r\n")
    return b"\r\n".join(line for line in lines if not line.lower().startswith(name.lower() + b":"))


@pytest.mark.parametrize(
    ("raw", "subprotocols", "words"),
    [
        (b"HTTP/1.1 403 Forbidden\r\n\r\n", (), ["403"]),
        (good_head().replace(b"101 Switching Protocols", b"200 OK"), (), ["200"]),
        (_without(b"Upgrade"), (), ["Upgrade"]),
        (good_head().replace(b"Upgrade: websocket", b"Upgrade: h2c"), (), ["Upgrade"]),
        (_without(b"Connection"), (), ["Connection"]),
        (good_head().replace(b"Connection: Upgrade", b"Connection: close"), (), ["Connection"]),
        (_without(b"Sec-WebSocket-Accept"), (), ["Accept"]),
        (good_head(new_key()), (), ["Accept"]),
        (good_head(RFC_KEY, f"Sec-WebSocket-Accept: {RFC_ACCEPT}"), (), ["Accept"]),
        (good_head(RFC_KEY, "Sec-WebSocket-Extensions: permessage-deflate"), (), ["extension"]),
        (good_head(RFC_KEY, "Sec-WebSocket-Protocol: chat"), (), ["subprotocol"]),
        (good_head(RFC_KEY, "Sec-WebSocket-Protocol: mqtt"), ("chat",), ["subprotocol"]),
        (good_head(RFC_KEY, "Sec-WebSocket-Protocol: chat, v2"), ("chat", "v2"), ["subprotocol"]),
        (
            good_head(RFC_KEY, "Sec-WebSocket-Protocol: chat", "Sec-WebSocket-Protocol: v2"),
            ("chat", "v2"),
            [],
        ),
    ],
)
def test_check_response_rejects(raw: bytes, subprotocols: tuple[str, ...], words: list[str]) -> None:
    response = parse_response(raw)
    with pytest.raises(HandshakeError) as info:
        check_response(response, RFC_KEY, subprotocols)
    assert info.value.status == response.status
    for word in words:
        assert word.lower() in str(info.value).lower()


def test_check_response_rejection_carries_status_headers_and_body() -> None:
    head = parse_response(b"HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Basic\r\n\r\n")
    response = Response(head.status, head.reason, head.headers, head.raw, b"go away")
    with pytest.raises(HandshakeError) as info:
        check_response(response, RFC_KEY)
    assert info.value.status == 401
    assert info.value.headers["www-authenticate"] == "Basic"
    assert info.value.body == b"go away"
    assert "401" in str(info.value)
    assert isinstance(info.value, geventws.ConnectError)


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


NUMERIC = ["ping_interval", "ping_timeout", "open_timeout", "close_timeout", "max_message_size"]


@pytest.mark.parametrize("name", [*NUMERIC, "max_queue", "max_response_head"])
@pytest.mark.parametrize("value", [0, -1, -0.5])
def test_make_options_rejects_non_positive(name: str, value: float) -> None:
    with pytest.raises(ValueError, match=name):
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


@pytest.mark.parametrize("name", NUMERIC)
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


# -- frames: encoding helpers ------------------------------------------------------------------


def test_encode_close_validates() -> None:
    for bad in (999, 1004, 1005, 1006, 1015, 2999, 5000):
        with pytest.raises(ValueError):
            encode_close(bad)
    with pytest.raises(ValueError):
        encode_close(1000, "x" * 124)
    encode_close(1000, "x" * 123)
    encode_close(4999)


def test_parse_close() -> None:
    assert parse_close(b"") == (1005, "")
    assert parse_close(struct.pack("!H", 4001) + b"bye") == (4001, "bye")
    assert parse_close(struct.pack("!H", 1000) + "é".encode()) == (1000, "é")


# -- frames: FrameParser -----------------------------------------------------------------------


class Source:
    """An in-memory byte source: ``recv(n)`` returns up to ``n`` (or ``chunk``) bytes, ``b""`` at the end."""

    def __init__(self, data: bytes, chunk: int | None = None) -> None:
        self.data = bytearray(data)
        self.chunk = chunk

    def __call__(self, n: int) -> bytes:
        if self.chunk is not None:
            n = min(n, self.chunk)
        out = bytes(self.data[:n])
        del self.data[:n]
        return out


def parser(*frames: bytes, max_size: int | None = 2**20, chunk: int | None = None) -> FrameParser:
    return FrameParser(Source(b"".join(frames), chunk), max_size)


def read_all(p: FrameParser) -> list[tuple[int, str | bytes]]:
    out: list[tuple[int, str | bytes]] = []
    while True:
        try:
            opcode, data = p.read()
        except EOFError:
            return out
        out.append((opcode, data))


def protocol_error(p: FrameParser) -> ProtocolError:
    with pytest.raises(ProtocolError) as info:
        while True:
            p.read()
    return info.value


@pytest.mark.parametrize("chunk", [None, 1, 3])
def test_parser_text_and_binary(chunk: int | None) -> None:
    big = bytes(range(256)) * 300  # 64-bit length field
    medium = "ü" * 200  # 16-bit length field
    p = parser(
        frame(TEXT, "héllo".encode()),
        frame(BINARY, b"\x00\xff"),
        frame(TEXT, b""),
        frame(TEXT, medium.encode()),
        frame(BINARY, big),
        chunk=chunk,
    )
    assert read_all(p) == [
        (OP_TEXT, "héllo"),
        (OP_BINARY, b"\x00\xff"),
        (OP_TEXT, ""),
        (OP_TEXT, medium),
        (OP_BINARY, big),
    ]


def test_parser_uses_initial_bytes() -> None:
    data = frame(TEXT, b"one") + frame(TEXT, b"two")
    p = FrameParser(Source(data[5:]), None, initial=data[:5])
    assert read_all(p) == [(OP_TEXT, "one"), (OP_TEXT, "two")]


def test_parser_eof_midframe() -> None:
    p = parser(frame(TEXT, b"hello")[:-1])
    with pytest.raises(EOFError):
        p.read()


def test_parser_reassembles_fragments() -> None:
    p = parser(
        frame(TEXT, b"hel", fin=False),
        frame(CONT, b"", fin=False),
        frame(CONT, b"lo", fin=True),
        frame(BINARY, b"\x01", fin=False),
        frame(CONT, b"\x02\x03", fin=True),
        frame(TEXT, b"after"),
    )
    assert read_all(p) == [(OP_TEXT, "hello"), (OP_BINARY, b"\x01\x02\x03"), (OP_TEXT, "after")]


def test_parser_control_frames_between_fragments() -> None:
    p = parser(
        frame(TEXT, b"a", fin=False),
        frame(PING, b"p1"),
        frame(CONT, b"b", fin=False),
        frame(PONG, b"p2"),
        frame(CONT, b"c", fin=True),
        frame(CLOSE, struct.pack("!H", 1000)),
    )
    assert read_all(p) == [
        (OP_PING, b"p1"),
        (OP_PONG, b"p2"),
        (OP_TEXT, "abc"),
        (OP_CLOSE, struct.pack("!H", 1000)),
    ]


def test_parser_control_frame_of_125_bytes_is_fine() -> None:
    assert read_all(parser(frame(PING, b"x" * 125))) == [(OP_PING, b"x" * 125)]


def test_parser_utf8_split_across_fragments() -> None:
    text = "aé€😀"
    data = text.encode()
    pieces = [data[:2], data[2:5], data[5:8], data[8:]]  # every cut falls inside a character
    frames = [frame(TEXT, pieces[0], fin=False)]
    frames += [frame(CONT, piece, fin=False) for piece in pieces[1:-1]]
    frames.append(frame(CONT, pieces[-1]))
    assert read_all(parser(*frames)) == [(OP_TEXT, text)]


@pytest.mark.parametrize(
    ("frames", "code"),
    [
        ([frame(TEXT, b"x", rsv=4)], 1002),
        ([frame(TEXT, b"x", rsv=2)], 1002),
        ([frame(BINARY, b"x", rsv=1)], 1002),
        ([frame(PING, b"x", rsv=1)], 1002),
        ([frame(TEXT, b"x", fin=False), frame(CONT, b"y", rsv=4)], 1002),
        ([frame(0x3, b"x")], 1002),
        ([frame(0x7, b"x")], 1002),
        ([frame(0xB, b"x")], 1002),
        ([frame(0xF, b"")], 1002),
        ([frame(TEXT, b"x", mask=True)], 1002),
        ([frame(PING, b"x", mask=True)], 1002),
        ([frame(PING, b"x" * 126)], 1002),
        ([frame(PONG, b"x" * 200)], 1002),
        ([frame(CLOSE, struct.pack("!H", 1000) + b"x" * 124)], 1002),
        ([frame(PING, b"x", fin=False)], 1002),
        ([frame(CLOSE, struct.pack("!H", 1000), fin=False)], 1002),
        ([frame(CONT, b"x")], 1002),
        ([frame(CONT, b"x", fin=False)], 1002),
        ([frame(TEXT, b"a"), frame(CONT, b"b")], 1002),
        ([frame(TEXT, b"a", fin=False), frame(TEXT, b"b")], 1002),
        ([frame(TEXT, b"a", fin=False), frame(BINARY, b"b")], 1002),
        ([frame(BINARY, b"a", fin=False), frame(PING, b""), frame(TEXT, b"b", fin=False)], 1002),
        ([frame(CLOSE, b"\x03")], 1002),
        ([frame(CLOSE, struct.pack("!H", 999))], 1002),
        ([frame(CLOSE, struct.pack("!H", 1005))], 1002),
        ([frame(CLOSE, struct.pack("!H", 1006))], 1002),
        ([frame(CLOSE, struct.pack("!H", 1015))], 1002),
        ([frame(CLOSE, struct.pack("!H", 5000))], 1002),
        ([b"\x82\x7f" + struct.pack("!Q", 1 << 63)], 1002),
        ([frame(TEXT, b"\xff")], 1007),
        ([frame(TEXT, b"\xed\xa0\x80")], 1007),  # a UTF-16 surrogate
        ([frame(TEXT, "é".encode()[:1])], 1007),
        ([frame(TEXT, b"a\xc3", fin=False), frame(CONT, b"(")], 1007),
        ([frame(TEXT, b"a\xc3", fin=False), frame(CONT, b"")], 1007),
        ([frame(TEXT, b"ok", fin=False), frame(CONT, b"\xe2\x82", fin=True)], 1007),
        ([frame(CLOSE, struct.pack("!H", 1000) + b"\xff")], 1007),
        ([frame(CLOSE, struct.pack("!H", 1000) + "é".encode()[:1])], 1007),
    ],
)
def test_parser_protocol_errors(frames: list[bytes], code: int) -> None:
    error = protocol_error(parser(*frames))
    assert error.close_code == code
    assert isinstance(error, geventws.WebSocketError)


def test_parser_binary_with_invalid_utf8_is_fine() -> None:
    assert read_all(parser(frame(BINARY, b"\xff\xfe"))) == [(OP_BINARY, b"\xff\xfe")]


def test_parser_invalid_utf8_fails_before_the_last_fragment() -> None:
    # Only the first fragment is available: the error must not wait for the rest.
    error = protocol_error(parser(frame(TEXT, b"ok\xff", fin=False)))
    assert error.close_code == 1007


@pytest.mark.parametrize("length", [101, 1000, 70000, 2**40])
def test_parser_too_big_is_raised_from_the_header(length: int) -> None:
    # The source holds only the header: reading the payload would give EOFError.
    header = frame(BINARY, b"", length=length)
    with pytest.raises(MessageTooBig) as info:
        parser(header, max_size=100).read()
    assert info.value.close_code == 1009
    assert isinstance(info.value, ProtocolError)


def test_parser_too_big_counts_every_fragment() -> None:
    p = parser(frame(TEXT, b"a" * 60, fin=False), frame(CONT, b"", fin=False, length=41), max_size=100)
    with pytest.raises(MessageTooBig) as info:
        p.read()
    assert info.value.close_code == 1009


def test_parser_exactly_max_size_is_fine() -> None:
    p = parser(
        frame(BINARY, b"a" * 100),
        frame(TEXT, b"a" * 60, fin=False),
        frame(CONT, b"a" * 40),
        frame(TEXT, b"b" * 100),
        max_size=100,
    )
    assert read_all(p) == [(OP_BINARY, b"a" * 100), (OP_TEXT, "a" * 100), (OP_TEXT, "b" * 100)]


def test_parser_size_limit_does_not_apply_to_control_frames() -> None:
    assert read_all(parser(frame(PING, b"x" * 20), max_size=10)) == [(OP_PING, b"x" * 20)]


def test_parser_without_limit() -> None:
    payload = b"z" * 100_000
    assert read_all(parser(frame(BINARY, payload), max_size=None)) == [(OP_BINARY, payload)]


# -- the pure modules import neither gevent nor websocket -----------------------------------------

PURE = [
    "exceptions",
    "protocol",
    "protocol.codes",
    "protocol.headers",
    "protocol.handshake",
    "protocol.options",
    "protocol.state",
    "protocol.uri",
    "protocol.backoff",
]
FORBIDDEN = {"gevent", "greenlet", "websocket"}


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _runtime_imports(tree: ast.AST) -> list[ast.Import | ast.ImportFrom]:
    """Import statements that run, i.e. not under ``if TYPE_CHECKING:``."""
    found: list[ast.Import | ast.ImportFrom] = []

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            found.append(node)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return found


def _source(module: str) -> Path:
    """The file of ``module``, a dotted name inside the package (``protocol.uri``)."""
    path = PACKAGE.joinpath(*module.split("."))
    return path.with_suffix(".py") if path.with_suffix(".py").exists() else path / "__init__.py"


def _imports(module: str) -> tuple[set[str], set[str]]:
    """Top-level names of absolute imports, and geventws modules (dotted, inside the
    package) imported, by ``module``."""
    path = _source(module)
    tree = ast.parse(path.read_text(), filename=str(path))
    package = module.split(".")[:-1] if path.name != "__init__.py" else module.split(".")
    absolute: set[str] = set()
    relative: set[str] = set()

    def add_inside(parts: list[str]) -> None:
        relative.add(".".join(parts) if parts else "__init__")

    for node in _runtime_imports(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                parts = alias.name.split(".")
                if parts[0] == "geventws":
                    add_inside(parts[1:])
                else:
                    absolute.add(parts[0])
        elif node.level:
            base = package[: len(package) - (node.level - 1)]
            assert len(package) - (node.level - 1) >= 0, f"{module}: import from above the package"
            if node.module:
                add_inside([*base, *node.module.split(".")])
            else:
                for alias in node.names:
                    candidate = ".".join([*base, alias.name])
                    add_inside(candidate.split(".") if _source(candidate).exists() else base)
        elif node.module:
            parts = node.module.split(".")
            if parts[0] == "geventws":
                add_inside(parts[1:])
            else:
                absolute.add(parts[0])
    return absolute, relative


@pytest.mark.parametrize("module", PURE)
def test_pure_module_imports_neither_gevent_nor_websocket(module: str) -> None:
    # Follows imports of other geventws modules: importing one that uses gevent counts.
    seen: set[str] = set()
    todo = [module]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        assert _source(name).exists(), f"{name} is imported but not found"
        absolute, relative = _imports(name)
        chain = name if name == module else f"{name} (imported via {module})"
        assert not absolute & FORBIDDEN, f"{chain} imports {sorted(absolute & FORBIDDEN)}"
        todo.extend(relative)


def test_import_checker_sees_gevent_and_websocket() -> None:
    # The checker itself must be able to fail: the impure modules are caught...
    assert "gevent" in _imports("connection")[0]
    assert "websocket" in _imports("protocol.frames")[0]
    # ...and type-only imports are not counted.
    tree = ast.parse(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import gevent\nelse:\n    import os\n"
    )
    assert [ast.unparse(n) for n in _runtime_imports(tree)] == [
        "from typing import TYPE_CHECKING",
        "import os",
    ]


def test_credentials_never_appear_in_errors_or_reprs() -> None:
    with pytest.raises(InvalidURL) as info:
        parse_uri("wss://alice:s3cret@/nohost")
    assert "s3cret" not in str(info.value)
    options = make_options("ws://alice:s3cret@example.com/")
    assert "s3cret" not in repr(options)
    assert "s3cret" not in repr(options.uri)
