"""URLs: parsing, checks, credentials. No greenlets, no I/O."""

from __future__ import annotations

import pytest

import geventws
from geventws.exceptions import InvalidURL
from geventws.protocol.uri import parse_uri, redact_url

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


# -- issue 9 #6: what goes on the request line and in Host ---------------------------------------


def test_idn_host_becomes_its_idna_form() -> None:
    uri = parse_uri("ws://bücher.example:8080/straße")
    assert uri.host == "xn--bcher-kva.example"  # what DNS, TLS SNI and Host use
    assert uri.host_header == "xn--bcher-kva.example:8080"
    assert uri.resource == "/stra%C3%9Fe"
    assert str(uri) == "ws://xn--bcher-kva.example:8080/stra%C3%9Fe"
    assert parse_uri("wss://B%C3%BCcher.Example/").host == "xn--bcher-kva.example"


@pytest.mark.parametrize(
    ("url", "resource"),
    [
        ("ws://h/a b?x=1 2", "/a%20b?x=1%202"),
        ("ws://h/é?q=ü", "/%C3%A9?q=%C3%BC"),
        ("ws://h/%41%zz%4?q=%", "/%41%25zz%254?q=%25"),  # valid %XX kept, a stray % encoded
        ('ws://h/<a>"{|}\\^`', "/%3Ca%3E%22%7B%7C%7D%5C%5E%60"),
        ("ws://h/a@b:c;d=e,f+g$h!i*j'k(l)m~n_o-p.q", "/a@b:c;d=e,f+g$h!i*j'k(l)m~n_o-p.q"),
        ("ws://h/p?a[]=1&b=/?:@", "/p?a[]=1&b=/?:@"),
        ("ws://h?", "/"),
        ("wss://stream.example:9443/ws/btcusdt@trade", "/ws/btcusdt@trade"),
    ],
)
def test_request_target_is_percent_encoded_where_rfc3986_requires(url: str, resource: str) -> None:
    assert parse_uri(url).resource == resource


def test_an_at_sign_after_the_host_is_part_of_the_path_not_credentials() -> None:
    # RFC 3986: the authority ends at the first "/", so this is a path (Binance streams look like it).
    uri = parse_uri("wss://stream.example:9443/ws/btcusdt@trade")
    assert (uri.host, uri.port, uri.user, uri.password) == ("stream.example", 9443, None, None)


@pytest.mark.parametrize("char", ["\r", "\n", "\r\n", "\x00", "\t", "\x7f", "\x1b", "\x85"])
@pytest.mark.parametrize(
    "template", ["ws://h/a{}b", "ws://h/?x={}", "ws://h{}/", "ws://u:p{}@h/", "{}ws://h/", "ws://h/{}"]
)
def test_control_characters_are_refused_not_stripped(template: str, char: str) -> None:
    # urlsplit silently drops CR, LF and TAB: "ws://h/a\r\nb" used to become "/ab".
    with pytest.raises(InvalidURL, match="control character"):
        parse_uri(template.format(char))


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("ws://ho st/", "invalid host"),
        ("ws://h<st/", "invalid host"),
        ("ws://::1/", "brackets"),
        ("ws://[::1/", "IPv6"),
        ("ws://[::1]x/", "IPv6"),
        ("ws://[127.0.0.1]/", "IPv6"),
        ("ws://[fe80::1%25eth0]/", "zone"),
        ("ws://xn--.b\u00fccher..example/", "invalid host"),
        ("ws://h:0/", "port"),
        ("ws://h:65536/", "port"),
        ("ws://h:+80/", "port"),
        ("ws://h:/", "port is empty"),
        ("ws://h:\u0661\u0662/", "port"),  # Arabic-Indic digits are digits to str.isdigit()
        ("ws://h/\ud800", "Unicode"),
    ],
)
def test_malformed_hosts_ports_and_targets_are_refused(url: str, words: str) -> None:
    with pytest.raises(InvalidURL, match=words) as info:
        parse_uri(url)
    assert info.value.__cause__ is None
    assert info.value.__context__ is None


# -- issue 9 #5: credentials never shown --------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("ws://alice:p@ssW0rd@127.0.0.1:99999/", "ws://***@127.0.0.1:99999/"),
        ("ws://alice:pa/ssW0rd@host/", "ws://***@host/"),
        ("ws://alice:pa?ss@host:1/", "ws://***@host:1/"),
        ("ws://alice:pa#ss@host/", "ws://***@host/"),
        ("wss://alice:s3cret@/nohost", "wss://***@/nohost"),
        ("ws:alice:s3cret@host/", "ws:***@host/"),
        ("alice:s3cret@host/", "***@host/"),
    ],
)
def test_invalid_url_errors_hide_everything_up_to_the_last_at(url: str, shown: str) -> None:
    with pytest.raises(InvalidURL) as info:
        parse_uri(url)
    assert str(info.value).startswith(repr(shown))
    assert info.value.url == shown
    assert info.value.__cause__ is None and info.value.__context__ is None


def test_a_password_with_delimiters_gets_a_hint() -> None:
    with pytest.raises(InvalidURL, match="must be percent-encoded"):
        parse_uri("ws://alice:pa/ssW0rd@host/")


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("ws://alice:s3cret@example.com:81/p?q=1", "ws://***@example.com:81/p?q=1"),
        ("ws://alice@example.com/", "ws://***@example.com/"),
        ("wss://us%40er:p%3Ass@example.com/a@b", "wss://***@example.com/a@b"),
        ("wss://stream.example:9443/ws/btcusdt@trade", "wss://stream.example:9443/ws/btcusdt@trade"),
        ("ws://example.com/", "ws://example.com/"),
        ("ws://alice:p@ssW0rd@127.0.0.1:99999/", "ws://***@127.0.0.1:99999/"),
        ("ws://alice:pa/ssW0rd@host/", "ws://***@host/"),
    ],
)
def test_redact_url(url: str, shown: str) -> None:
    assert redact_url(url) == shown
