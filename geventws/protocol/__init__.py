"""The sans-I/O protocol layer: RFC 6455 rules written once, tested with plain bytes.

Nothing here imports gevent or opens a socket (a test holds the rule): frames are
fed as bytes and come back as events, the writer returns bytes, and the handshake,
URLs, headers, options, close codes and the reconnect policy are plain values.
"""
