"""``geventws URL``, run as a user runs it: exit codes, input, output, headers, signals."""

from __future__ import annotations

import shutil
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import gevent
import gevent.event
import gevent.subprocess
import pytest
import trustme

from tests.cli_support import RUN_TIMEOUT, received, refused_port, run_cli, start_cli
from tests.conftest import ServerProcess
from tests.proxies import Proxy
from tests.rawserver import BINARY, CLOSE, TEXT, Peer, RawServer, code_of
from tests.support import WAIT

RawServerFactory = Callable[[Callable[[Peer], Any]], RawServer]


def test_send_texts_are_sent_in_order_and_expect_ends_the_run(ws_server: ServerProcess) -> None:
    proc = run_cli(ws_server.url(), "--send", "one", "--send", "two", "--send", "three", "--expect", "3")
    assert proc.returncode == 0, proc.stderr
    assert received(proc.stdout) == ["text: one", "text: two", "text: three"]
    assert proc.stderr == ""


def test_piped_stdin_is_sent_line_by_line_then_closed_with_1000(raw_server: RawServerFactory) -> None:
    got: list[tuple[int, bytes]] = []
    close_payloads: list[bytes] = []

    def handler(peer: Peer) -> None:
        peer.handshake()
        got.extend(peer.read_message() for _ in range(3))
        close_payloads.append(peer.finish())

    server = raw_server(handler)
    proc = run_cli(server.url(), "--wait", "0.1", stdin="first\r\n\nlast")
    assert proc.returncode == 0, proc.stderr
    assert got == [(TEXT, b"first"), (TEXT, b""), (TEXT, b"last")]
    assert [code_of(p) for p in close_payloads] == [1000]


def test_binary_sends_lines_as_binary_messages(ws_server: ServerProcess) -> None:
    proc = run_cli(ws_server.url(), "--binary", "--expect", "1", stdin="AB\n")
    assert proc.returncode == 0, proc.stderr
    assert received(proc.stdout) == ["binary (2 bytes): 41 42"]


def test_messages_are_printed_while_the_client_waits_for_input(raw_server: RawServerFactory) -> None:
    got: list[tuple[int, bytes]] = []

    def handler(peer: Peer) -> None:
        peer.handshake()
        got.append(peer.read_message())  # the client sent its first line: it now waits for the next
        peer.send_frame(TEXT, b"welcome")
        got.append(peer.read_message())
        peer.finish()

    server = raw_server(handler)
    proc = start_cli(server.url())
    try:
        proc.stdin.write("first\n")
        proc.stdin.flush()
        with gevent.Timeout(WAIT * 3):
            line = proc.stdout.readline()  # stdin is still open, the next line not typed yet
        assert received(line) == ["text: welcome"]
        proc.stdin.write("bye\n")
        proc.stdin.close()
        assert proc.wait(WAIT * 3) == 0, proc.stderr.read()
    finally:
        _reap(proc)
    assert got == [(TEXT, b"first"), (TEXT, b"bye")]


def test_binary_and_control_characters_never_reach_the_terminal_raw(raw_server: RawServerFactory) -> None:
    def handler(peer: Peer) -> None:
        peer.handshake()
        peer.send_frame(BINARY, b"\x00\x1b[2J\xff")
        peer.send_frame(TEXT, "\x1b]0;owned\x07 \u202e\\n\n".encode())
        peer.finish()

    proc = run_cli(raw_server(handler).url(), "--expect", "2")
    assert proc.returncode == 0, proc.stderr
    assert received(proc.stdout) == [
        "binary (6 bytes): 00 1b 5b 32 4a ff",
        "text: \\x1b]0;owned\\x07 \\u202e\\\\n\\n",
    ]
    assert not any(c in proc.stdout for c in "\x00\x1b\x07\u202e")


HOSTILE = "\x1b]0;PWNED\x07\x1b[2J\rFAKE LOG LINE"


def _printable(output: bytes) -> bool:
    return all(line.isprintable() for line in output.decode().split("\n"))


@pytest.mark.parametrize("flags", [["--reconnect"], ["-v"], ["--reconnect", "-v"]])
def test_a_hostile_refusal_never_reaches_the_terminal_raw(
    raw_server: RawServerFactory, flags: list[str]
) -> None:
    def handler(peer: Peer) -> None:
        peer.read_request()
        peer.send_response(
            f"403 Forbidden {HOSTILE}", [("X-Evil", HOSTILE), ("Content-Length", "4")], b"\x1b[2J"
        )

    proc = run_cli(raw_server(handler).url(), *flags, "--send", "x", text=False)
    assert proc.returncode == 4, proc.stderr
    assert _printable(proc.stdout) and _printable(proc.stderr), proc.stderr
    assert (
        b"HANDSHAKE_FAIL: server rejected WebSocket connection: HTTP 403 Forbidden \\x1b]0;PWNED"
        in proc.stderr
    )
    if "--reconnect" in flags:
        assert (
            b"reconnect gave up: server rejected WebSocket connection: HTTP 403 Forbidden \\x1b]0;PWNED"
            in proc.stderr
        )


def test_a_hostile_close_reason_never_reaches_the_terminal_raw(raw_server: RawServerFactory) -> None:
    def handler(peer: Peer) -> None:
        peer.handshake([("X-Evil", HOSTILE)])
        peer.send_frame(CLOSE, b"\x0f\xa0" + f"{HOSTILE} \u202e\x9b".encode())
        peer.finish()

    proc = run_cli(raw_server(handler).url(), "-v", text=False)
    assert _printable(proc.stdout) and _printable(proc.stderr), proc.stderr
    assert b"X-Evil: \\x1b]0;PWNED\\x07" in proc.stderr
    assert b"closed abnormally: code 4000, reason '\\x1b]0;PWNED\\x07" in proc.stderr  # escaped once


def test_headers_subprotocol_origin_are_sent_and_secrets_never_shown(raw_server: RawServerFactory) -> None:
    peers: list[Peer] = []

    def handler(peer: Peer) -> None:
        peers.append(peer)
        peer.read_request()
        peer.accept([("Sec-WebSocket-Protocol", "chat"), ("Set-Cookie", "sid=server-secret")])
        _, data = peer.read_message()
        peer.send_frame(TEXT, data)
        peer.finish()

    server = raw_server(handler)
    proc = run_cli(
        server.url("/path?q=1"), "-v", "--send", "hi", "--expect", "1",
        "-H", "X-Trace: 42", "-H", "Authorization: Bearer s3cret", "-H", "Cookie: sid=t0ken",
        "--subprotocol", "chat", "--subprotocol", "superchat", "--origin", "http://example.test",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    headers = peers[0].raw_headers
    assert ("X-Trace", "42") in headers
    assert ("Authorization", "Bearer s3cret") in headers
    assert ("Cookie", "sid=t0ken") in headers
    assert ("Sec-WebSocket-Protocol", "chat, superchat") in headers
    assert ("Origin", "http://example.test") in headers
    assert peers[0].request_line == "GET /path?q=1 HTTP/1.1"
    output = proc.stdout + proc.stderr
    for secret in ("s3cret", "t0ken", "server-secret"):
        assert secret not in output
    assert "open: 101 Switching Protocols, subprotocol chat" in proc.stderr
    assert "> " in proc.stdout and received(proc.stdout) == ["text: hi"]


def test_verbose_traces_pings(ws_server: ServerProcess) -> None:
    proc = run_cli(ws_server.url("/ping"), "-v", "--expect", "1")
    assert proc.returncode == 0, proc.stderr
    assert "ping received: b'hello'" in proc.stderr
    assert received(proc.stdout) == ["text: pong received: hello"]


@pytest.mark.parametrize(
    ("path", "status"),
    [("/close/1000/bye", 0), ("/close/1001/away", 0), ("/close/1011/boom", 5), ("/close/4000/app", 5)],
)
def test_exit_status_follows_the_servers_close_code(ws_server: ServerProcess, path: str, status: int) -> None:
    proc = run_cli(ws_server.url(path))
    assert proc.returncode == status, proc.stderr
    if status:
        assert "closed abnormally: code" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_a_lost_connection_is_an_abnormal_close(raw_server: RawServerFactory) -> None:
    proc = run_cli(raw_server(lambda peer: peer.handshake()).url())  # TCP closed, no close frame
    assert proc.returncode == 5, proc.stderr
    assert "CONNECTION_LOST" in proc.stderr


def test_expect_not_met_before_the_server_closes(ws_server: ServerProcess) -> None:
    proc = run_cli(ws_server.url("/close/1000/bye"), "--expect", "1")
    assert proc.returncode == 6, proc.stderr
    assert "--expect 1: received 0 message(s)" in proc.stderr


def test_wait_ends_a_quiet_run_normally(raw_server: RawServerFactory) -> None:
    close_payloads: list[bytes] = []
    server = raw_server(lambda peer: (peer.handshake(), close_payloads.append(peer.finish())))
    proc = run_cli(server.url(), "--wait", "0.2")
    assert proc.returncode == 0, proc.stderr
    assert [code_of(p) for p in close_payloads] == [1000]


def test_handshake_rejection(ws_server: ServerProcess) -> None:
    proc = run_cli(ws_server.url("/reject/403"), "--send", "x")
    assert proc.returncode == 4
    assert "HANDSHAKE_FAIL" in proc.stderr and "403" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_proxy_option_goes_through_an_http_proxy(ws_server: ServerProcess, http_proxy: Proxy) -> None:
    proc = run_cli(ws_server.url(), "--proxy", http_proxy.url, "--send", "via proxy", "--expect", "1")
    assert proc.returncode == 0, proc.stderr
    assert "via proxy" in proc.stdout


def test_connection_refused() -> None:
    proc = run_cli(f"ws://127.0.0.1:{refused_port()}/", "--send", "x")
    assert proc.returncode == 3
    assert "CONNECT_FAIL" in proc.stderr and "refused" in proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--proxy", "ftp://127.0.0.1:3128", "ws://127.0.0.1:9/"], "proxy"),
        (["-H", "no colon", "ws://127.0.0.1:9/"], "-H/--header wants 'Name: value'"),
        (["http://127.0.0.1:9/"], "the scheme must be ws:// or wss://"),
        (["--cacert", "ca.pem", "ws://127.0.0.1:9/"], "for wss:// URLs only"),
        (["--cacert", "/nonexistent/ca.pem", "wss://127.0.0.1:9/"], "--cacert /nonexistent/ca.pem"),
        (["--expect", "0", "ws://127.0.0.1:9/"], "must be >= 1"),
        ([], "the following arguments are required: URL"),
    ],
)
def test_usage_errors(args: list[str], message: str) -> None:
    proc = run_cli(*args)
    assert proc.returncode == 2
    assert message in proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize(("signum", "status"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_signals_close_with_1001(raw_server: RawServerFactory, signum: int, status: int) -> None:
    opened = gevent.event.Event()
    close_payloads: list[bytes] = []

    def handler(peer: Peer) -> None:
        peer.handshake()
        opened.set()
        close_payloads.append(peer.finish())

    proc = start_cli(raw_server(handler).url())
    try:
        assert opened.wait(WAIT * 3)
        proc.send_signal(signum)
        assert proc.wait(WAIT * 3) == status
        assert "Traceback" not in proc.stderr.read()
    finally:
        _reap(proc)
    assert [code_of(p) for p in close_payloads] == [1001]


def test_reconnect_after_a_drop(raw_server: RawServerFactory) -> None:
    attempts: list[Peer] = []

    def handler(peer: Peer) -> None:
        attempts.append(peer)
        peer.handshake()
        if len(attempts) == 1:
            return  # dropped without a close frame
        peer.send_frame(TEXT, b"again")
        peer.finish()

    proc = run_cli(raw_server(handler).url(), "--reconnect", "-v", "--expect", "1")
    assert proc.returncode == 0, proc.stderr
    assert received(proc.stdout) == ["text: again"]
    assert "reconnecting in" in proc.stderr
    assert len(attempts) == 2


class TestTLS:
    @pytest.fixture
    def ca_file(self, ca: trustme.CA, tmp_path: Path) -> str:
        path = tmp_path / "ca.pem"
        ca.cert_pem.write_to_path(str(path))
        return str(path)

    def test_cacert(self, wss_server: ServerProcess, ca_file: str) -> None:
        proc = run_cli(wss_server.url(), "--cacert", ca_file, "--send", "tls", "--expect", "1")
        assert proc.returncode == 0, proc.stderr
        assert received(proc.stdout) == ["text: tls"]

    def test_unknown_ca_is_a_connect_failure(self, wss_server: ServerProcess) -> None:
        proc = run_cli(wss_server.url(), "--send", "tls")
        assert proc.returncode == 3
        assert "TLS_FAIL" in proc.stderr

    def test_insecure(self, wss_server: ServerProcess) -> None:
        proc = run_cli(wss_server.url(), "--insecure", "--send", "tls", "--expect", "1")
        assert proc.returncode == 0, proc.stderr


def _reap(proc: Any) -> None:
    if proc.poll() is None:
        proc.kill()
        proc.wait()
    for stream in (proc.stdin, proc.stdout, proc.stderr):
        if stream is not None and not stream.closed:
            stream.close()


def test_url_credentials_are_sent_but_never_shown(raw_server: RawServerFactory) -> None:
    peers: list[Peer] = []

    def handler(peer: Peer) -> None:
        peers.append(peer)
        peer.handshake()
        peer.finish()

    url = raw_server(handler).url().replace("ws://", "ws://alice:pa55word@")
    proc = run_cli(url, "-v", "--wait", "0.1")
    assert proc.returncode == 0, proc.stderr
    assert peers[0].headers["authorization"].startswith("Basic ")
    assert "pa55word" not in proc.stdout + proc.stderr
    assert "upgrade request" in proc.stderr  # the library's debug log is on with -v


def test_the_console_script_is_installed() -> None:
    script = shutil.which("geventws", path=str(Path(sys.executable).parent))
    assert script is not None, "pip install -e . installs the geventws console script"
    proc = gevent.subprocess.run([script, "--help"], capture_output=True, text=True, timeout=RUN_TIMEOUT)
    assert proc.returncode == 0
    assert "exit status:" in proc.stdout and "geventws bench --help" in proc.stdout


def test_a_reader_that_goes_away_ends_the_run_quietly(ws_server: ServerProcess) -> None:
    proc = start_cli(ws_server.url())  # as in: geventws URL | head -1
    try:
        proc.stdin.write("first\n")
        proc.stdin.flush()
        with gevent.Timeout(WAIT * 3):
            assert received(proc.stdout.readline()) == ["text: first"]
        proc.stdout.close()
        proc.stdin.write("second\n")  # its echo meets the closed pipe
        proc.stdin.flush()
        assert proc.wait(WAIT * 3) == 0
        assert proc.stderr.read() == ""
    finally:
        _reap(proc)


def test_a_terminal_that_cannot_show_a_character_gets_its_escape(ws_server: ServerProcess) -> None:
    proc = run_cli(ws_server.url(), "--send", "中 ok", "--expect", "1", env={"PYTHONIOENCODING": "ascii"})
    assert proc.returncode == 0, proc.stderr
    assert received(proc.stdout) == ["text: \\u4e2d ok"]


def test_a_second_ctrl_c_stops_waiting_for_the_close_reply(raw_server: RawServerFactory) -> None:
    opened, close_sent, release = gevent.event.Event(), gevent.event.Event(), gevent.event.Event()

    def handler(peer: Peer) -> None:
        peer.handshake()
        opened.set()
        _, opcode, _ = peer.read_frame()
        if opcode == CLOSE:
            close_sent.set()
        release.wait(RUN_TIMEOUT)  # never answers the close

    proc = start_cli(raw_server(handler).url(), "--close-timeout", "60", "--ping-interval", "0")
    try:
        assert opened.wait(WAIT * 3)
        proc.send_signal(signal.SIGINT)
        assert close_sent.wait(WAIT * 3)  # the first Ctrl-C started the closing handshake
        proc.send_signal(signal.SIGINT)
        assert proc.wait(WAIT * 3) == 130  # well before --close-timeout
        assert "Traceback" not in proc.stderr.read()
    finally:
        release.set()
        _reap(proc)
