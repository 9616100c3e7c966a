"""Issue 9, security points, through the public API: what a redirect forwards,
what is shown of URL credentials, what request line goes out, and bad options."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import pytest

import geventws
from geventws import ErrorCode, ReconnectPolicy
from geventws.protocol.redirects import DEFAULT_REDIRECT_STRIP_HEADERS
from tests.integration.test_rfc import Router, open_and_read
from tests.rawserver import Peer, RawServer
from tests.support import WAIT, Recorder

RawServerFactory = Callable[[Callable[[Peer], Any]], RawServer]

SECRETS = {
    "Authorization": "Bearer t0ken-a",
    "Cookie": "sid=c00kie",
    "Proxy-Authorization": "Basic pr0xy",
    "X-Api-Key": "k3y",
    "X-Keep": "kept",
}


def _cross_host(raw_server: RawServerFactory) -> tuple[Router, Router]:
    other = Router(raw_server, lambda path: None)  # another port: another origin
    first = Router(raw_server, lambda path: (302, other.url("/landed")) if path == "/start" else None)
    return first, other


@pytest.mark.parametrize("as_callable", [False, True])
def test_a_cross_host_redirect_drops_the_secret_headers(
    raw_server: RawServerFactory, as_callable: bool
) -> None:
    # Issue 9, point 4: Cookie and Proxy-Authorization followed a 302 to another host.
    first, other = _cross_host(raw_server)
    headers: Any = (lambda: dict(SECRETS)) if as_callable else dict(SECRETS)
    _, data = open_and_read(first.url("/start"), headers=headers)
    assert data == "landed:/landed"
    sent_first, sent_other = first.requests[0][1], other.requests[0][1]
    assert all(sent_first[name.lower()] == value for name, value in SECRETS.items())
    for name in ("authorization", "cookie", "proxy-authorization"):
        assert name not in sent_other, name
    assert sent_other["x-keep"] == "kept"
    assert sent_other["x-api-key"] == "k3y"  # not in the default list...


def test_the_list_of_dropped_headers_is_configurable(raw_server: RawServerFactory) -> None:
    first, other = _cross_host(raw_server)
    strip = DEFAULT_REDIRECT_STRIP_HEADERS | {"X-Api-Key"}
    open_and_read(first.url("/start"), headers=SECRETS, redirect_strip_headers=strip)
    assert "x-api-key" not in other.requests[0][1]  # ...but it can be added
    assert other.requests[0][1]["x-keep"] == "kept"


def test_a_same_origin_redirect_keeps_the_headers(raw_server: RawServerFactory) -> None:
    router = Router(raw_server, lambda path: (302, "/landed") if path == "/start" else None)
    open_and_read(router.url("/start"), headers=SECRETS)
    assert router.requests[1][1]["cookie"] == "sid=c00kie"
    assert router.requests[1][1]["authorization"] == "Bearer t0ken-a"


def test_max_redirects_0_turns_redirects_off(raw_server: RawServerFactory) -> None:
    first, other = _cross_host(raw_server)
    with pytest.raises(geventws.HandshakeError) as info:
        geventws.connect(first.url("/start"), ping_interval=None, max_redirects=0)
    assert info.value.status == 302
    assert "max_redirects=0" in str(info.value)
    assert other.requests == []


def test_url_credentials_are_never_shown(
    raw_server: RawServerFactory, caplog: pytest.LogCaptureFixture
) -> None:
    # Issue 9, point 5: conn.url returned the password while repr() hid it.
    router = Router(raw_server, lambda path: None)
    url = router.url("/p").replace("ws://", "ws://alice:s3cret@")
    conn = geventws.Connection(url, ping_interval=None)
    assert conn.url == router.url("/p").replace("ws://", "ws://***@")
    assert "s3cret" not in repr(conn)
    _, data = open_and_read(url)
    assert data == "landed:/p"
    assert router.requests[0][1]["authorization"].startswith("Basic ")  # still sent
    assert "s3cret" not in caplog.text and "alice:" not in caplog.text


@pytest.mark.parametrize(
    "url",
    ["ws://alice:p@ssW0rd@127.0.0.1:99999/", "ws://alice:pa/ssW0rd@host/", "ws://alice:ssW0rd@[::1/"],
)
def test_malformed_urls_never_show_the_password(url: str) -> None:
    with pytest.raises(geventws.InvalidURL) as info:
        geventws.Connection(url)
    shown = [str(info.value), repr(info.value), str(info.value.__cause__), str(info.value.__context__)]
    assert not any("W0rd" in text for text in shown), shown


def test_the_request_line_is_percent_encoded(raw_server: RawServerFactory) -> None:
    # Issue 9, point 6: spaces and non-ASCII went out raw.
    router = Router(raw_server, lambda path: None)
    _, data = open_and_read(router.url("/a b/é") + "?x=1 2&y=%41")
    assert router.paths == ["/a%20b/%C3%A9?x=1%202&y=%41"]
    assert data == "landed:/a%20b/%C3%A9?x=1%202&y=%41"


@pytest.mark.parametrize("bad", ["\r\n", "\n", "\x00", "\r"])
def test_control_characters_in_the_url_are_refused(bad: str) -> None:
    with pytest.raises(geventws.InvalidURL):
        geventws.Connection(f"ws://127.0.0.1:9/a{bad}b")


def test_a_bad_headers_callable_is_not_retried(raw_server: RawServerFactory) -> None:
    # Issue 9, point 12: 51 TCP connections and 51 tracebacks in 2 s under a policy.
    router = Router(raw_server, lambda path: None)
    recorder = Recorder()
    policy = ReconnectPolicy(first_delay=0.01, min_delay=0.01, max_delay=0.01)
    conn = geventws.Connection(
        router.url("/"),
        headers=lambda: {"X-A": "a\r\nb"},
        reconnect=policy,
        ping_interval=None,
        **recorder.callbacks(),
    )
    conn.connect()
    try:
        assert recorder.wait_for(lambda: recorder.count("give_up") == 1, WAIT)
        assert conn.wait_closed(WAIT)
    finally:
        conn.close()
    assert recorder.codes() == [ErrorCode.CONNECT_FAIL]
    assert recorder.count("reconnecting") == 0
    assert isinstance(conn.last_error, geventws.InvalidHeader)
    assert conn.last_error.__cause__ is not None
    assert router.requests == []  # nothing reached the network


@pytest.mark.parametrize(
    ("options", "error", "name"),
    [
        ({"headers": {"X-A": "a\r\nb"}}, ValueError, "headers"),
        ({"headers": "Cookie: x"}, TypeError, "headers"),
        ({"headers": {"X-A": None}}, TypeError, "headers"),
        ({"subprotocols": [1]}, TypeError, "subprotocols"),
        ({"limiter": 5}, TypeError, "limiter"),
        ({"max_queue": 1.5}, TypeError, "max_queue"),
        ({"max_message_size": 0.5}, TypeError, "max_message_size"),
        ({"max_redirects": -1}, ValueError, "max_redirects"),
    ],
)
def test_bad_options_fail_at_construction_naming_the_option(
    options: dict[str, Any], error: type[Exception], name: str
) -> None:
    with pytest.raises(error, match=name):
        geventws.Connection("ws://127.0.0.1:9/", **options)


def test_no_secret_header_value_is_logged(
    raw_server: RawServerFactory, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="geventws")
    first, _ = _cross_host(raw_server)
    open_and_read(first.url("/start"), headers=SECRETS)
    assert "upgrade request" in caplog.text  # the headers were logged...
    for value in ("t0ken-a", "c00kie", "pr0xy"):
        assert value not in caplog.text  # ...but not these values
