"""Workerman's ws-client example (../shared/seed), transcribed to Python with Workerman's names.

    python examples/workerman_port.py                      # connects to ws://127.0.0.1:1234
    python examples/workerman_port.py ws://127.0.0.1:8000  # or to the URL given

It runs until Ctrl-C or SIGTERM (exit status 0), reconnecting every second
while the server is down, like the PHP original. Only the URL comes from the
command line; everything below is the PHP example, line for line.
"""

from __future__ import annotations

import sys

from geventws.workerman import AsyncTcpConnection, Worker, Ws

URL = sys.argv[1] if len(sys.argv) > 1 else "ws://127.0.0.1:1234"

worker = Worker()


# Process starts
def on_worker_start() -> None:
    # Connect to the remote websocket server with the websocket protocol
    ws_connection = AsyncTcpConnection(URL)
    # Send a websocket heartbeat (opcode 0x9) to the server every 55 seconds (optional)
    ws_connection.websocketPingInterval = 55
    # HTTP headers (optional)
    ws_connection.headers = {
        "Cookie": "PHPSID=82u98fjhakfusuanfnahfi; token=2hf9a929jhfihaf9i",
        "OtherKey": "values",
    }
    # Data type (optional)
    ws_connection.websocketType = (
        Ws.BINARY_TYPE_BLOB
    )  # BINARY_TYPE_BLOB: text, BINARY_TYPE_ARRAYBUFFER: binary

    # After the TCP three-way handshake (optional)
    def on_connect(connection: AsyncTcpConnection) -> None:
        print("tcp connected", flush=True)

    ws_connection.onConnect = on_connect

    # After the websocket handshake (optional)
    def on_websocket_connect(con: AsyncTcpConnection, response: object) -> None:
        print(response, end="", flush=True)
        con.send("hello")

    ws_connection.onWebSocketConnect = on_websocket_connect

    # When a message arrives from the remote websocket server
    def on_message(connection: AsyncTcpConnection, data: str | bytes) -> None:
        print(f"recv: {data}", flush=True)

    ws_connection.onMessage = on_message

    # When an error occurs, usually a failed connection to the remote server (optional)
    def on_error(connection: AsyncTcpConnection, code: int, msg: str) -> None:
        print(f"error: {msg}", flush=True)

    ws_connection.onError = on_error

    # When the connection to the remote websocket server closes (optional, reconnecting advised)
    def on_close(connection: AsyncTcpConnection) -> None:
        print("connection closed and try to reconnect", flush=True)
        # Reconnect 1 second after the connection closes
        connection.reConnect(1)

    ws_connection.onClose = on_close
    # With the callbacks set, connect
    ws_connection.connect()


worker.onWorkerStart = on_worker_start
Worker.runAll()
