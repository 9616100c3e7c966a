"""The runtime layer: sockets, greenlets and time, built on :mod:`geventws.protocol`.

A session per connection attempt, the transport it reads and writes, keepalive,
the supervisor that reconnects, and the helpers they share (inbox, outbox,
handshake limiter, hand-off from other OS threads, the registry of live
connections).
"""
