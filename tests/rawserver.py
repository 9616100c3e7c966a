"""Small scripted WebSocket servers over raw sockets, for adversarial tests.

Independent of geventws' own framing code: the frames are packed and parsed
here by hand, from RFC 6455 §5.2.
"""

from __future__ import annotations

import base64
import hashlib
import os
import struct
import traceback
from collections.abc import Callable
from typing import Any

import gevent
import gevent.event
import gevent.server
import gevent.socket

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

TEXT, BINARY, CLOSE, PING, PONG, CONT = 0x1, 0x2, 0x8, 0x9, 0xA, 0x0


class Peer:
    """The server's side of one client connection, with a read buffer."""

    def __init__(self, sock: gevent.socket.socket) -> None:
        self.sock = sock
        self.buffer = b""
        self.request_line = ""
        self.headers: dict[str, str] = {}
        self.raw_headers: list[tuple[str, str]] = []

    def read_exact(self, n: int) -> bytes:
        while len(self.buffer) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError("client closed the connection")
            self.buffer += chunk
        data, self.buffer = self.buffer[:n], self.buffer[n:]
        return data

    def read_request(self) -> None:
        while b"\r\n\r\n" not in self.buffer:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError("client closed before the request ended")
            self.buffer += chunk
        head, self.buffer = self.buffer.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        self.request_line = lines[0]
        for line in lines[1:]:
            name, _, value = line.partition(":")
            self.raw_headers.append((name, value.strip()))
            self.headers[name.lower()] = value.strip()

    def accept_key(self) -> str:
        key = self.headers["sec-websocket-key"].encode()
        return base64.b64encode(hashlib.sha1(key + GUID).digest()).decode()

    def send_response(
        self,
        status: str = "101 Switching Protocols",
        headers: list[tuple[str, str]] | None = None,
        body: bytes = b"",
    ) -> None:
        lines = [f"HTTP/1.1 {status}"] + [f"{n}: {v}" for n, v in headers or []]
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)

    def accept(self, extra: list[tuple[str, str]] | None = None) -> None:
        """Answer the already read upgrade request with 101."""
        headers = [
            ("Upgrade", "websocket"),
            ("Connection", "Upgrade"),
            ("Sec-WebSocket-Accept", self.accept_key()),
        ]
        self.send_response(headers=headers + (extra or []))

    def handshake(self, extra: list[tuple[str, str]] | None = None) -> None:
        """Read the upgrade request and accept it."""
        self.read_request()
        self.accept(extra)

    def read_frame(self) -> tuple[bool, int, bytes]:
        """One client frame: (fin, opcode, unmasked payload). Checks the mask bit."""
        b1, b2 = self.read_exact(2)
        assert b2 & 0x80, "client frame not masked"
        assert not b1 & 0x70, "client set reserved bits"
        length = b2 & 0x7F
        if length == 126:
            (length,) = struct.unpack("!H", self.read_exact(2))
        elif length == 127:
            (length,) = struct.unpack("!Q", self.read_exact(8))
        mask = self.read_exact(4)
        data = self.read_exact(length)
        payload = bytes(b ^ mask[i % 4] for i, b in enumerate(data)) if length < 4096 else _unmask(mask, data)
        return bool(b1 & 0x80), b1 & 0x0F, payload

    def read_message(self) -> tuple[int, bytes]:
        """The next data message, answering nothing: control frames are returned too."""
        fin, opcode, payload = self.read_frame()
        if opcode >= 0x8 or fin:
            return opcode, payload
        parts = [payload]
        while not fin:
            fin, _, payload = self.read_frame()
            parts.append(payload)
        return opcode, b"".join(parts)

    def send_frame(
        self,
        opcode: int,
        payload: bytes = b"",
        fin: bool = True,
        rsv: int = 0,
        mask: bool = False,
        length: int | None = None,
    ) -> None:
        self.sock.sendall(frame(opcode, payload, fin=fin, rsv=rsv, mask=mask, length=length))

    def send_close(self, code: int | None = 1000, reason: bytes = b"") -> None:
        body = b"" if code is None else struct.pack("!H", code) + reason
        self.send_frame(CLOSE, body)

    def finish(self) -> bytes:
        """The server's side of the end: skip frames until the client's close and
        echo it; returns the close frame's payload.

        The server then closes TCP first (RFC 6455 §7.1.1): RawServer closes the
        socket when the handler returns.
        """
        while True:
            _, opcode, payload = self.read_frame()
            if opcode == CLOSE:
                break
        self.send_frame(CLOSE, payload)
        return payload

    def wait_eof(self, timeout: float = 5) -> bool:
        """Whether the client closed the TCP connection within ``timeout``."""
        self.sock.settimeout(timeout)
        try:
            while True:
                chunk = self.sock.recv(65536)
                if not chunk:
                    return True
        except OSError:
            return False


def code_of(payload: bytes) -> int:
    """The code of a close frame body; 1005 for an empty body."""
    code: int = 1005 if not payload else struct.unpack("!H", payload[:2])[0]
    return code


def _unmask(mask: bytes, data: bytes) -> bytes:
    n = len(data)
    key = int.from_bytes((mask * (n // 4 + 1))[:n], "big")
    return (int.from_bytes(data, "big") ^ key).to_bytes(n, "big")


def frame(
    opcode: int,
    payload: bytes = b"",
    *,
    fin: bool = True,
    rsv: int = 0,
    mask: bool = False,
    length: int | None = None,
) -> bytes:
    """A server frame, built by hand. ``length`` overrides the length field."""
    n = len(payload) if length is None else length
    head = bytes([(0x80 if fin else 0) | (rsv << 4) | opcode])
    mbit = 0x80 if mask else 0
    if n < 126:
        head += bytes([mbit | n])
    elif n < 1 << 16:
        head += bytes([mbit | 126]) + struct.pack("!H", n)
    else:
        head += bytes([mbit | 127]) + struct.pack("!Q", n)
    if mask:
        key = os.urandom(4)
        payload = key + bytes(b ^ key[i % 4] for i, b in enumerate(payload))
    return head + payload


class RawServer:
    """A gevent TCP server on loopback running ``handler(peer)`` per client.

    Exceptions in the handler are recorded in ``errors`` (the fixture fails the
    test on them) rather than printed by the hub. ``peers`` lists every peer.
    """

    def __init__(self, handler: Callable[[Peer], Any], port: int = 0) -> None:
        self.handler = handler
        self.errors: list[str] = []
        self.peers: list[Peer] = []
        self.connected = gevent.event.Event()
        self.server = gevent.server.StreamServer(("127.0.0.1", port), self._handle)
        self.server.start()
        self.port: int = self.server.address[1]

    def url(self, path: str = "/", scheme: str = "ws") -> str:
        return f"{scheme}://127.0.0.1:{self.port}{path}"

    def _handle(self, sock: gevent.socket.socket, address: Any) -> None:
        peer = Peer(sock)
        self.peers.append(peer)
        self.connected.set()
        try:
            self.handler(peer)
        except (EOFError, ConnectionError, gevent.GreenletExit):
            pass
        except Exception:
            self.errors.append(traceback.format_exc())
        finally:
            sock.close()

    def stop(self) -> None:
        self.server.stop(timeout=1)
