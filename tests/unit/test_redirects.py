"""Redirects of the handshake: where to, which headers follow, how many (issue 9 #4).
No greenlets, no I/O."""

from __future__ import annotations

import pytest

from geventws.exceptions import HandshakeError
from geventws.protocol.handshake import (
    Response,
    build_request,
    parse_response,
    redirect_target,
    too_many_redirects,
)
from geventws.protocol.headers import Headers
from geventws.protocol.redirects import (
    DEFAULT_REDIRECT_STRIP_HEADERS,
    check_strip_headers,
    redirect_headers,
    same_origin,
)
from geventws.protocol.uri import parse_uri

SECRETS = [
    ("Authorization", "Bearer tok"),
    ("cookie", "PHPSID=abc"),
    ("Proxy-Authorization", "Basic cHJveHk="),
    ("X-Api-Key", "k3y"),
    ("X-Trace", "t"),
]


def redirect(location: str, status: int = 302) -> Response:
    return parse_response(f"HTTP/1.1 {status} Found\r\nLocation: {location}\r\n\r\n".encode())


@pytest.mark.parametrize(
    "new",
    ["ws://other.example/", "ws://h.example:81/", "wss://h.example:80/", "wss://h.example/"],
)
def test_cross_origin_redirect_strips_urllib3s_default_set(new: str) -> None:
    out = redirect_headers(
        parse_uri("ws://h.example/"), parse_uri(new), Headers(SECRETS), DEFAULT_REDIRECT_STRIP_HEADERS
    )
    assert out.raw_items() == [("X-Api-Key", "k3y"), ("X-Trace", "t")]


def test_same_origin_redirect_keeps_every_header() -> None:
    old, new = parse_uri("ws://h.example/a"), parse_uri("ws://H.example:80/b?c")
    out = redirect_headers(old, new, Headers(SECRETS), DEFAULT_REDIRECT_STRIP_HEADERS)
    assert out.raw_items() == SECRETS


def test_strip_set_is_configurable_and_case_insensitive() -> None:
    strip = check_strip_headers({"AUTHORIZATION", "x-api-key"})
    out = redirect_headers(parse_uri("ws://a/"), parse_uri("ws://b/"), Headers(SECRETS), strip)
    assert out.raw_items() == [
        ("cookie", "PHPSID=abc"),
        ("Proxy-Authorization", "Basic cHJveHk="),
        ("X-Trace", "t"),
    ]
    assert redirect_headers(parse_uri("ws://a/"), parse_uri("ws://b/"), SECRETS, ()).raw_items() == SECRETS


def test_mapping_pairs_and_headers_give_the_same_result_and_input_is_untouched() -> None:
    old, new = parse_uri("ws://a/"), parse_uri("ws://b/")
    given = Headers(SECRETS)
    results = [
        redirect_headers(old, new, source, DEFAULT_REDIRECT_STRIP_HEADERS).raw_items()
        for source in (given, SECRETS, dict(SECRETS))
    ]
    assert results[0] == results[1] == results[2]
    assert given.raw_items() == SECRETS


def test_stripped_headers_stay_stripped_on_a_hop_back() -> None:
    a, b = parse_uri("ws://a/"), parse_uri("ws://b/")
    first = redirect_headers(a, b, Headers(SECRETS), DEFAULT_REDIRECT_STRIP_HEADERS)
    back = redirect_headers(b, a, first, DEFAULT_REDIRECT_STRIP_HEADERS)
    assert "Cookie" not in back and "Authorization" not in back


@pytest.mark.parametrize(
    ("bad", "error"), [("Cookie", TypeError), (5, TypeError), ([5], TypeError), (["a b"], ValueError)]
)
def test_check_strip_headers_refuses(bad: object, error: type[Exception]) -> None:
    with pytest.raises(error, match="redirect_strip_headers"):
        check_strip_headers(bad)


def test_same_origin() -> None:
    assert same_origin(parse_uri("ws://h/"), parse_uri("ws://h:80/x"))
    assert not same_origin(parse_uri("ws://h:443/"), parse_uri("wss://h/"))


def test_url_credentials_follow_only_a_same_origin_redirect() -> None:
    old = parse_uri("ws://alice:pw@h.example/")
    same = redirect_target(old, redirect("/elsewhere"))
    assert same is not None and (same.user, same.password) == ("alice", "pw")
    for location in ("ws://other.example/", "wss://h.example/", "ws://h.example:81/"):
        new = redirect_target(old, redirect(location))
        assert new is not None and new.user is None
        _, *lines = build_request(new, "k", Headers()).decode().split("\r\n")
        assert not any(line.lower().startswith("authorization") for line in lines)


@pytest.mark.parametrize(
    ("limit", "words"), [(0, "not followed (max_redirects=0)"), (3, "more than 3 redirects")]
)
def test_too_many_redirects_carries_the_status(limit: int, words: str) -> None:
    error = too_many_redirects(redirect("ws://b/", 307), limit)
    assert isinstance(error, HandshakeError)
    assert error.status == 307
    assert error.headers["Location"] == "ws://b/"
    assert words in str(error)
