"""geventws.protocol.proxy: proxy URLs, the CONNECT exchange, the environment, NO_PROXY."""

from __future__ import annotations

import base64
from collections.abc import Iterator, Mapping

import pytest

from geventws import HandshakeError, InvalidURL, ProxyError
from geventws.protocol.proxy import (
    ProxyURL,
    build_connect_request,
    bypasses_proxy,
    check_connect_response,
    parse_proxy_url,
    proxy_from_environment,
    redact_proxy_url,
)
from geventws.protocol.uri import parse_uri

SECRET = "s3cr:t@pw"  # a password with the characters that trip naive redaction
QUOTED = "s3cr%3At%40pw"

# -- proxy URLs -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("http://proxy.example:3128", ProxyURL("http", "proxy.example", 3128)),
        ("http://proxy.example", ProxyURL("http", "proxy.example", 80)),
        ("proxy.example:3128", ProxyURL("http", "proxy.example", 3128)),
        ("HTTP://Proxy.Example:3128/", ProxyURL("http", "proxy.example", 3128)),
        ("socks5://127.0.0.1", ProxyURL("socks5", "127.0.0.1", 1080)),
        ("socks5h://[::1]:9050", ProxyURL("socks5h", "::1", 9050)),
        ("socks4a://h:1", ProxyURL("socks4a", "h", 1)),
    ],
)
def test_parse_proxy_url(url: str, expected: ProxyURL) -> None:
    assert parse_proxy_url(url) == expected


def test_parse_proxy_url_unquotes_credentials_and_hides_them() -> None:
    proxy = parse_proxy_url(f"http://al%20ice:{QUOTED}@proxy:3128")
    assert (proxy.user, proxy.password) == ("al ice", SECRET)
    for shown in (str(proxy), repr(proxy)):
        assert "s3cr" not in shown and "ice" not in shown
    assert str(proxy) == "http://***@proxy:3128"
    assert str(parse_proxy_url("http://proxy:3128")) == "http://proxy:3128"


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("https://proxy:443", "not supported"),
        ("ftp://proxy:21", "scheme must be one of"),
        ("http://:3128", "no proxy host"),
        ("http://proxy:3128/path", "no path"),
        ("http://proxy:99999", "not a valid proxy URL"),
        ("http://proxy:port", "not a valid proxy URL"),
        ("socks4://user:pw@proxy", "SOCKS4 has no password"),
    ],
)
def test_parse_proxy_url_rejects(url: str, message: str) -> None:
    with pytest.raises(InvalidURL, match=message):
        parse_proxy_url(url)


@pytest.mark.parametrize(
    "url",
    [
        f"https://alice:{SECRET}@proxy:443",
        f"http://alice:{SECRET}@proxy:99999",
        f"alice:{SECRET}@proxy:port",
        f"socks4://alice:{SECRET}@proxy",
        f"http://alice:{SECRET}@proxy/x",
    ],
)
def test_proxy_url_errors_never_show_the_password(url: str) -> None:
    with pytest.raises(InvalidURL) as info:
        parse_proxy_url(url)
    assert "s3cr" not in str(info.value) and "s3cr" not in info.value.url
    assert info.value.__cause__ is None
    assert info.value.__context__ is None or info.value.__suppress_context__


def test_parse_proxy_url_wants_a_str() -> None:
    with pytest.raises(TypeError):
        parse_proxy_url(b"http://proxy")  # type: ignore[arg-type]


def test_redact_proxy_url_cuts_up_to_the_last_at() -> None:
    assert redact_proxy_url("http://u:p@ss@host:1") == "http://***@host:1"
    assert redact_proxy_url("http://host:1") == "http://host:1"


def test_socks_flavours() -> None:
    assert not parse_proxy_url("http://p").is_socks
    assert parse_proxy_url("http://p").remote_dns
    assert parse_proxy_url("socks5://p").is_socks
    assert not parse_proxy_url("socks5://p").remote_dns
    assert parse_proxy_url("socks5h://p").remote_dns
    assert parse_proxy_url("socks4a://p").remote_dns


# -- CONNECT ----------------------------------------------------------------------------------------


def test_connect_request_without_credentials() -> None:
    request = build_connect_request("example.com", 443, parse_proxy_url("http://p:3128"))
    assert request == b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n"


def test_connect_request_brackets_ipv6_and_sends_basic_credentials() -> None:
    request = build_connect_request("::1", 8080, parse_proxy_url(f"http://alice:{QUOTED}@p"))
    lines = request.decode().split("\r\n")
    assert lines[:2] == ["CONNECT [::1]:8080 HTTP/1.1", "Host: [::1]:8080"]
    assert lines[2] == "Proxy-Authorization: Basic " + base64.b64encode(f"alice:{SECRET}".encode()).decode()
    assert request.endswith(b"\r\n\r\n")


def test_connect_request_refuses_header_injection() -> None:
    with pytest.raises(ValueError):
        build_connect_request("example.com\r\nX-Evil: 1", 80, ProxyURL("http", "p", 1))
    # Credentials are base64-encoded: whatever they hold stays on one line.
    request = build_connect_request("h", 80, ProxyURL("http", "p", 1, "alice\r\nX-Evil: 1", "pw"))
    assert request.count(b"\r\n") == 4


PROXY = ProxyURL("http", "proxy", 3128, "alice", SECRET)


@pytest.mark.parametrize("status", [b"200 Connection established", b"200", b"204 No Content"])
def test_connect_answer_2xx_opens_the_tunnel(status: bytes) -> None:
    check_connect_response(b"HTTP/1.1 " + status + b"\r\nVia: test\r\n\r\n", "example.com", 80, PROXY)


@pytest.mark.parametrize(
    ("head", "status", "message"),
    [
        (b"HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic\r\n\r\n", 407, "rejected"),
        (b"HTTP/1.0 403 Forbidden\r\n\r\n", 403, "403 Forbidden"),
        (b"HTTP/1.1 401 Unauthorized\r\n\r\n", 401, "401 Unauthorized .the proxy rejected"),
        (b"HTTP/1.1 502 Bad Gateway\r\n\r\n", 502, "refused CONNECT to example.com:80: 502 Bad Gateway"),
        (b"SSH-2.0-OpenSSH\r\n\r\n", 0, "invalid HTTP"),
    ],
)
def test_connect_answer_refused(head: bytes, status: int, message: str) -> None:
    with pytest.raises(ProxyError, match=message) as info:
        check_connect_response(head, "example.com", 80, PROXY)
    error = info.value
    assert isinstance(error, HandshakeError) and error.status == status
    assert "s3cr" not in str(error) and "alice" not in str(error)
    assert "http://***@proxy:3128" in str(error)
    assert error.__cause__ is None


def test_407_without_credentials_says_how_to_give_them() -> None:
    with pytest.raises(ProxyError, match=r"wants credentials") as info:
        check_connect_response(b"HTTP/1.1 407 Auth\r\n\r\n", "h", 80, ProxyURL("http", "proxy", 3128))
    assert info.value.headers == {}


def test_a_hostile_reason_phrase_is_escaped_in_the_refusal() -> None:
    head = b"HTTP/1.1 403 Forbidden \x1b]0;PWNED\x07\x1b[2J\rFAKE \x9b\r\n\r\n"
    with pytest.raises(ProxyError) as info:
        check_connect_response(head, "example.com", 80, PROXY)
    assert str(info.value) == (
        "proxy http://***@proxy:3128 refused CONNECT to example.com:80: "
        "403 Forbidden \\x1b]0;PWNED\\x07\\x1b[2J\\rFAKE \\x9b"
    )


# -- the environment --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("environ", "secure", "expected"),
    [
        ({}, True, None),
        ({"HTTPS_PROXY": "http://s:1"}, True, "http://s:1"),
        ({"HTTPS_PROXY": "http://s:1"}, False, None),
        ({"HTTP_PROXY": "http://p:1"}, False, "http://p:1"),
        ({"HTTP_PROXY": "http://p:1"}, True, None),
        ({"https_proxy": "http://lower:1", "HTTPS_PROXY": "http://upper:1"}, True, "http://lower:1"),
        ({"https_proxy": "", "HTTPS_PROXY": "http://upper:1"}, True, None),
        ({"ALL_PROXY": "socks5h://a:1"}, True, "socks5h://a:1"),
        ({"all_proxy": "socks5h://a:1", "http_proxy": "http://p:1"}, False, "http://p:1"),
        ({"http_proxy": " p:3128 "}, False, "http://p:3128"),
    ],
)
def test_proxy_from_environment(environ: dict[str, str], secure: bool, expected: str | None) -> None:
    proxy = proxy_from_environment("example.com", 443, secure, environ)
    assert (None if proxy is None else str(proxy)) == expected


def test_no_proxy_from_the_environment_wins() -> None:
    environ = {"HTTPS_PROXY": "http://p:1", "NO_PROXY": "example.com"}
    assert proxy_from_environment("www.example.com", 443, True, environ) is None
    assert proxy_from_environment("example.org", 443, True, environ) is not None
    environ["no_proxy"] = ""  # lowercase first, even when empty
    assert proxy_from_environment("www.example.com", 443, True, environ) is not None


@pytest.mark.parametrize(
    ("environ", "secure", "expected"),
    [
        ({"REQUEST_METHOD": "GET", "HTTP_PROXY": "http://client:1"}, False, None),
        ({"REQUEST_METHOD": "", "HTTP_PROXY": "http://client:1"}, False, None),  # set is enough, as in urllib
        (
            {"REQUEST_METHOD": "GET", "HTTP_PROXY": "http://client:1", "ALL_PROXY": "http://a:1"},
            False,
            "http://a:1",
        ),
    ],
)
def test_cgi_ignores_uppercase_http_proxy(
    environ: dict[str, str], secure: bool, expected: str | None
) -> None:
    # httpoxy: in a CGI process HTTP_PROXY holds the client's "Proxy:" request header.
    proxy = proxy_from_environment("example.com", 80, secure, environ)
    assert (None if proxy is None else str(proxy)) == expected


@pytest.mark.parametrize(
    ("environ", "secure", "expected"),
    [
        ({"REQUEST_METHOD": "GET", "http_proxy": "http://p:1"}, False, "http://p:1"),
        (
            {"REQUEST_METHOD": "GET", "http_proxy": "http://p:1", "HTTP_PROXY": "http://client:1"},
            False,
            "http://p:1",
        ),
        ({"REQUEST_METHOD": "GET", "HTTPS_PROXY": "http://s:1"}, True, "http://s:1"),
        ({"REQUEST_METHOD": "GET", "ALL_PROXY": "http://a:1"}, False, "http://a:1"),
        ({"request_method": "GET", "HTTP_PROXY": "http://p:1"}, False, "http://p:1"),  # the name is exact
    ],
)
def test_cgi_keeps_the_other_variables(environ: dict[str, str], secure: bool, expected: str | None) -> None:
    proxy = proxy_from_environment("example.com", 80, secure, environ)
    assert (None if proxy is None else str(proxy)) == expected


class CaseInsensitiveEnviron(Mapping[str, str]):
    """Like os.environ on Windows: names stored in uppercase, looked up in any case."""

    def __init__(self, **variables: str) -> None:
        self._data = {name.upper(): value for name, value in variables.items()}

    def __getitem__(self, name: str) -> str:
        return self._data[name.upper()]

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)


def test_cgi_with_a_case_insensitive_environment_ignores_http_proxy() -> None:
    # get("http_proxy") would answer with HTTP_PROXY; urllib uses neither there.
    environ = CaseInsensitiveEnviron(REQUEST_METHOD="GET", HTTP_PROXY="http://client:1")
    assert environ.get("http_proxy") == "http://client:1"
    assert proxy_from_environment("example.com", 80, False, environ) is None
    assert str(
        proxy_from_environment("example.com", 80, False, CaseInsensitiveEnviron(HTTP_PROXY="http://p:1"))
    ) == ("http://p:1")


def test_bad_proxy_in_the_environment_names_the_variable_not_the_password() -> None:
    with pytest.raises(InvalidURL, match=r"\$HTTPS_PROXY") as info:
        proxy_from_environment("h", 443, True, {"HTTPS_PROXY": f"ftp://alice:{SECRET}@p:1"})
    assert "s3cr" not in str(info.value)


@pytest.mark.parametrize(
    ("host", "port", "no_proxy", "bypass"),
    [
        ("example.com", 80, "*", True),
        ("example.com", 80, "", False),
        ("example.com", 80, "example.com", True),
        ("www.example.com", 80, "example.com", True),
        ("www.example.com", 80, ".example.com", True),
        ("www.example.com", 80, "*.example.com", True),
        ("example.com", 80, ".example.com", True),
        ("badexample.com", 80, "example.com", False),
        ("badexample.com", 80, ".example.com", False),
        ("Example.COM.", 80, "EXAMPLE.com", True),
        ("example.com", 80, "other.org, example.com", True),
        ("example.com", 80, "other.org example.com", True),
        ("example.com", 8080, "example.com:8080", True),
        ("example.com", 80, "example.com:8080", False),
        ("10.1.2.3", 80, "10.0.0.0/8", True),
        ("11.1.2.3", 80, "10.0.0.0/8", False),
        ("127.0.0.1", 80, "127.0.0.1", True),
        ("127.0.0.1", 80, "localhost", False),
        ("::1", 80, "::1", True),
        ("::1", 80, "[::1]:80", True),
        ("::1", 81, "[::1]:80", False),
        ("fd00::5", 80, "fd00::/8", True),
        ("10.1.2.3", 80, "1.2.3", False),
    ],
)
def test_bypasses_proxy(host: str, port: int, no_proxy: str, bypass: bool) -> None:
    assert bypasses_proxy(host, port, no_proxy) is bypass


IDN_HOST = parse_uri("ws://bücher.example/").host  # as the connector sees it: IDNA


@pytest.mark.parametrize(
    ("host", "port", "no_proxy"),
    [
        (IDN_HOST, 80, "bücher.example"),
        (IDN_HOST, 80, "BÜCHER.Example"),
        (IDN_HOST, 80, "bücher.example."),
        (IDN_HOST, 80, "other.org, bücher.example"),
        (IDN_HOST, 8080, "bücher.example:8080"),
        ("www." + IDN_HOST, 80, "bücher.example"),
        ("www." + IDN_HOST, 80, ".bücher.example"),
        ("www." + IDN_HOST, 80, "*.bücher.example"),
        ("www." + IDN_HOST, 80, "*.BÜCHER.example."),
        (IDN_HOST + ".", 80, "bücher.example"),
        ("bücher.example", 80, "xn--bcher-kva.example"),  # a host given in Unicode, too
        ("BÜCHER.example", 80, "bücher.example"),
    ],
)
def test_no_proxy_compares_names_in_their_idna_form(host: str, port: int, no_proxy: str) -> None:
    assert IDN_HOST == "xn--bcher-kva.example"
    assert bypasses_proxy(host, port, no_proxy)
    assert (
        proxy_from_environment(host, port, False, {"HTTP_PROXY": "http://p:1", "NO_PROXY": no_proxy}) is None
    )


@pytest.mark.parametrize(
    ("host", "port", "no_proxy"),
    [
        (IDN_HOST, 80, "bücher.example:8080"),
        (IDN_HOST, 80, "bucher.example"),
        (IDN_HOST, 80, "xbücher.example"),
        ("x" + IDN_HOST, 80, "bücher.example"),
        ("10.0.0.1", 80, "bücher.example"),
    ],
)
def test_no_proxy_idna_names_match_no_other_host(host: str, port: int, no_proxy: str) -> None:
    assert not bypasses_proxy(host, port, no_proxy)


@pytest.mark.parametrize(
    "entry",
    [
        "\ud800.example.com",
        "ü" * 64 + ".example.com",
        "a..example.com",
        "%ff.example.com",
        "exa/mple.com",
        "。",
    ],
)
def test_no_proxy_entry_without_an_idna_form_never_matches_nor_raises(entry: str) -> None:
    assert not bypasses_proxy("www.example.com", 80, entry)
    assert bypasses_proxy("www.example.com", 80, f"{entry},example.com")
