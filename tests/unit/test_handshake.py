"""The opening handshake without I/O: request, response checks, redirects. No greenlets, no I/O."""

from __future__ import annotations

import base64

import pytest

import geventws
from geventws.exceptions import HandshakeError, InvalidHeader, InvalidURL, NegotiationError
from geventws.protocol.extensions import DeflateOffer, DeflateParams
from geventws.protocol.handshake import (
    Agreement,
    Response,
    accept_upgrade,
    accept_value,
    build_request,
    check_response,
    new_key,
    parse_response,
    redirect_target,
    subprotocol_offer,
)
from geventws.protocol.headers import Headers
from geventws.protocol.uri import WebSocketURI, parse_uri

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


def test_a_response_without_its_parsed_headers_is_the_same_response() -> None:
    # An accepted response is kept for the connection's life: its parsed
    # headers are dropped and parsed again from ``raw`` when asked for.
    raw = good_head(RFC_KEY, "X-Thing: a", "x-thing: b")
    kept, fresh = parse_response(raw), parse_response(raw)
    kept.drop_parsed_headers()
    assert kept._headers is None
    assert kept.headers.get_all("X-THING") == ["a", "b"]
    assert kept.headers["Sec-WebSocket-Accept"] == RFC_ACCEPT
    assert kept._headers is None, "parsed again each time, not kept"
    assert kept == fresh and repr(kept) == repr(fresh) and str(kept) == str(fresh)
    assert kept.reason is fresh.reason  # the common reason string is shared, not copied per connection
    built = Response(200, "OK", Headers([("A", "1")]), b"")
    built.drop_parsed_headers()  # nothing to parse again from: kept
    assert built.headers["A"] == "1"
    with pytest.raises(AttributeError):
        kept.status = 200  # type: ignore[misc]


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
    names = (b"Upgrade", b"Connection", b"Sec-WebSocket-Accept", b"Sec-WebSocket-Protocol")
    for recase in (bytes.lower, bytes.upper):  # header names in any case
        raw = good_head(RFC_KEY, "Sec-WebSocket-Protocol: v2")
        for name in names:
            raw = raw.replace(name + b":", recase(name) + b":")
        assert check_response(parse_response(raw), RFC_KEY, ["v2"]) == "v2"


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


# -- issue 9 #6: never a malformed request --------------------------------------------------------


def test_build_request_sends_an_idn_host_as_punycode() -> None:
    request_line, pairs = parse_request(build_request(parse_uri("ws://bücher.example/é"), RFC_KEY, Headers()))
    assert request_line == "GET /%C3%A9 HTTP/1.1"
    assert values(pairs, "Host") == ["xn--bcher-kva.example"]


def test_build_request_encodes_spaces_and_non_ascii_on_the_request_line() -> None:
    raw = build_request(parse_uri("ws://h/a b?x=1 2&y=ü"), RFC_KEY, Headers())
    assert raw.startswith(b"GET /a%20b?x=1%202&y=%C3%BC HTTP/1.1\r\n")
    assert raw.isascii()


@pytest.mark.parametrize("resource", ["/a b", "/\r\nX: y", "/é", "", "x", "/\x00"])
def test_build_request_refuses_a_request_target_it_cannot_send(resource: str) -> None:
    # A WebSocketURI built by hand skips parse_uri's encoding; build_request still refuses.
    with pytest.raises(InvalidURL, match="request target"):
        build_request(WebSocketURI(False, "h", 80, resource), RFC_KEY, Headers())


@pytest.mark.parametrize(
    "kwargs",
    [{"origin": "http://o\r\nX: 1"}, {"subprotocols": ["a b"]}, {"subprotocols": ["chat\r\n"]}],
)
def test_build_request_refuses_origin_and_subprotocols_it_cannot_send(kwargs: dict[str, object]) -> None:
    with pytest.raises(InvalidHeader):
        build_request(parse_uri("ws://h/"), RFC_KEY, Headers(), **kwargs)  # type: ignore[arg-type]


def test_build_request_header_errors_do_not_quote_values() -> None:
    with pytest.raises(InvalidHeader) as info:
        build_request(parse_uri("ws://h/"), RFC_KEY, Headers([("Cookie", "s3cret\r\nX: 1")]))
    assert "s3cret" not in str(info.value)
    assert "s3cret" not in str(info.value.__cause__)


# -- issue 9 #14: Sec-WebSocket-Protocol set as a header is the offer -------------------------------


def test_subprotocol_header_joins_the_offer() -> None:
    headers = Headers(
        [("Sec-WebSocket-Protocol", "chat, v2"), ("X-A", "1"), ("sec-websocket-protocol", "v3")]
    )
    rest, offer = subprotocol_offer(headers, ["v2", "json"])
    assert offer == ("v2", "json", "chat", "v3")
    assert rest.raw_items() == [("X-A", "1")]
    assert subprotocol_offer(Headers([("X-A", "1")]), ["a"]) == (Headers([("X-A", "1")]), ("a",))


def test_subprotocol_header_must_list_tokens() -> None:
    with pytest.raises(InvalidHeader, match="Sec-WebSocket-Protocol"):
        subprotocol_offer(Headers([("Sec-WebSocket-Protocol", "chat, a b")]), ())


def test_a_server_choice_from_the_header_offer_is_accepted() -> None:
    headers = Headers({"Sec-WebSocket-Protocol": "chat"})
    raw = build_request(parse_uri("ws://h/"), RFC_KEY, headers)
    _, pairs = parse_request(raw)
    assert values(pairs, "Sec-WebSocket-Protocol") == ["chat"]  # once, not twice
    _, offer = subprotocol_offer(headers, ())
    response = parse_response(good_head(RFC_KEY, "Sec-WebSocket-Protocol: chat"))
    assert check_response(response, RFC_KEY, offer) == "chat"


# -- permessage-deflate --------------------------------------------------------------------------


def test_build_request_sends_only_the_extension_offer_given() -> None:
    user = Headers([("Sec-WebSocket-Extensions", "x-user-extension")])
    request = build_request(parse_uri("ws://h/"), RFC_KEY, user, extensions="permessage-deflate").decode()
    assert "Sec-WebSocket-Extensions: permessage-deflate\r\n" in request
    assert "x-user-extension" not in request
    assert "Sec-WebSocket-Extensions" not in build_request(parse_uri("ws://h/"), RFC_KEY, user).decode()


def test_accept_upgrade_returns_what_was_agreed() -> None:
    offer = DeflateOffer(server_max_window_bits=10)
    answer = "Sec-WebSocket-Extensions: permessage-deflate; server_max_window_bits=10"
    agreed = accept_upgrade(parse_response(good_head(RFC_KEY, answer)), RFC_KEY, (), offer)
    assert agreed == Agreement(None, DeflateParams(server_max_window_bits=10))
    declined = accept_upgrade(parse_response(good_head()), RFC_KEY, (), offer)
    assert declined == Agreement(None, None)


@pytest.mark.parametrize(
    ("offer", "answer"),
    [
        (None, "permessage-deflate"),
        (DeflateOffer(), "permessage-deflate; server_max_window_bits=16"),
        (DeflateOffer(), "x-webkit-deflate-frame"),
    ],
)
def test_accept_upgrade_refuses_a_bad_extension_answer(offer: DeflateOffer | None, answer: str) -> None:
    response = parse_response(good_head(RFC_KEY, f"Sec-WebSocket-Extensions: {answer}"))
    with pytest.raises(NegotiationError) as info:
        accept_upgrade(response, RFC_KEY, (), offer)
    assert info.value.status == 101
    assert info.value.headers["Sec-WebSocket-Extensions"] == answer


# -- what the server says is escaped in messages, kept raw as data ---------------------------------

HOSTILE = "\x1b]0;PWNED\x07\x1b[2J\rFAKE LOG LINE \x9b"  # a head is Latin-1: \x9b is the 8-bit CSI


def _hostile(raw: bytes, name: bytes) -> bytes:
    """``raw`` with the value of header ``name`` replaced by :data:`HOSTILE`."""
    start = raw.index(name + b": ") + len(name) + 2
    return raw[:start] + HOSTILE.encode("latin-1") + raw[raw.index(b"\r\n", start) :]


@pytest.mark.parametrize(
    ("raw", "offer"),
    [
        (f"HTTP/1.1 403 Forbidden {HOSTILE}\r\n\r\n".encode("latin-1"), None),
        (_hostile(good_head(), b"Upgrade"), None),
        (_hostile(good_head(), b"Connection"), None),
        (_hostile(good_head(), b"Sec-WebSocket-Accept"), None),
        (_hostile(good_head(RFC_KEY, "Sec-WebSocket-Protocol: x"), b"Sec-WebSocket-Protocol"), None),
        (_hostile(good_head(RFC_KEY, "Sec-WebSocket-Extensions: x"), b"Sec-WebSocket-Extensions"), None),
        (
            _hostile(good_head(RFC_KEY, "Sec-WebSocket-Extensions: x"), b"Sec-WebSocket-Extensions"),
            DeflateOffer(),
        ),
        (good_head(RFC_KEY, "Sec-WebSocket-Extensions: permessage-deflate; x\x1b[2J"), DeflateOffer()),
    ],
)
def test_a_hostile_answer_is_escaped_in_the_error(raw: bytes, offer: DeflateOffer | None) -> None:
    response = parse_response(raw)
    with pytest.raises(HandshakeError) as info:
        accept_upgrade(response, RFC_KEY, ("chat",), offer)
    assert str(info.value).isprintable(), str(info.value)
    assert "\\x1b" in str(info.value)


def test_a_hostile_reason_phrase_stays_raw_as_data() -> None:
    response = parse_response(f"HTTP/1.1 403 Forbidden {HOSTILE}\r\nX-A: \x1bb\r\n\r\n".encode("latin-1"))
    with pytest.raises(HandshakeError) as info:
        accept_upgrade(response, RFC_KEY)
    assert str(info.value) == (
        "server rejected WebSocket connection: HTTP 403 Forbidden "
        "\\x1b]0;PWNED\\x07\\x1b[2J\\rFAKE LOG LINE \\x9b"
    )
    assert response.reason == f"Forbidden {HOSTILE}"  # the data is untouched
    assert info.value.headers["X-A"] == "\x1bb"


def test_a_hostile_location_is_escaped_in_the_error() -> None:
    response = parse_response(b"HTTP/1.1 302 Found\r\nLocation: /a\x1b]0;PWNED\x07\r\n\r\n")
    with pytest.raises(HandshakeError) as info:
        redirect_target(parse_uri("ws://example.com/"), response)
    assert str(info.value).isprintable() and "\\x1b]0;PWNED\\x07" in str(info.value)
