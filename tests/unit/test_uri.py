"""URLs: parsing, checks, credentials. No greenlets, no I/O."""

from __future__ import annotations

import pytest

import geventws
from geventws.exceptions import InvalidURL
from geventws.protocol.uri import parse_uri

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
