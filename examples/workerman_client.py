"""The Workerman ws-client example (../shared/seed), line for line, on geventws.

    python examples/workerman_client.py                 # against a local echo server
    python examples/workerman_client.py ws://host:port  # against your server

With no URL it starts a local echo server and stops after --seconds (default 3).
"""

from __future__ import annotations

import argparse
import signal

import gevent

import geventws

#: Set when --seconds ran out (or Ctrl-C): the seed's reconnect(1) is then ignored.
stopping = False


def on_worker_start(url: str) -> None:
    # Connect to the remote websocket server with the websocket protocol
    ws_connection = geventws.Connection(
        url,
        # Send a websocket heartbeat (opcode 0x9) to the server every 55 seconds (optional)
        ping_interval=55,
        # HTTP headers (optional)
        headers={
            "Cookie": "PHPSID=82u98fjhakfusuanfnahfi; token=2hf9a929jhfihaf9i",
            "OtherKey": "values",
        },
        # Data type (optional): BLOB sends text frames, ARRAYBUFFER binary ones
        websocket_type=geventws.BINARY_TYPE_BLOB,
    )

    # After the TCP three-way handshake (optional)
    def on_connect(connection: geventws.Connection) -> None:
        print("tcp connected")

    # After the websocket handshake (optional)
    def on_websocket_connect(con: geventws.Connection, response: geventws.Response) -> None:
        print(response, end="")
        con.send("hello")

    # When a message arrives from the remote websocket server
    def on_message(connection: geventws.Connection, data: str | bytes) -> None:
        print(f"recv: {data}")

    # When an error occurs, usually a failed connection to the remote server (optional)
    def on_error(connection: geventws.Connection, code: int, msg: str) -> None:
        print(f"error: {msg}")

    # When the connection to the remote websocket server closes (optional, reconnecting advised)
    def on_close(connection: geventws.Connection) -> None:
        if stopping:
            print("connection closed: stopping, no reconnect")
            return
        print("connection closed and try to reconnect")
        # Reconnect 1 second after the connection closes
        connection.reconnect(1)

    ws_connection.on_connect = on_connect
    ws_connection.on_websocket_connect = on_websocket_connect
    ws_connection.on_message = on_message
    ws_connection.on_error = on_error
    ws_connection.on_close = on_close
    # With the callbacks set, connect
    ws_connection.connect()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url", nargs="?", help="ws:// or wss:// URL (default: a local echo server)")
    parser.add_argument("--seconds", type=float, help="stop after this long (default: 3 with no URL)")
    args = parser.parse_args()
    url = args.url
    seconds = args.seconds
    if url is None:
        from _local_server import start_echo_server

        url = start_echo_server()
        seconds = 3.0 if seconds is None else seconds
    on_worker_start(url)
    if seconds is not None:
        gevent.spawn_later(seconds, stop)
    for signum in (signal.SIGINT, signal.SIGTERM):
        gevent.signal_handler(signum, stop)
    # Worker::runAll(): until every connection is finished (Ctrl-C closes them with 1001)
    geventws.run_all(handle_signals=False)
    print("done")


def stop() -> None:
    """Worker::stopAll(): close every connection with 1001, no reconnect afterwards."""
    global stopping
    stopping = True
    geventws.stop_all()


if __name__ == "__main__":
    main()
