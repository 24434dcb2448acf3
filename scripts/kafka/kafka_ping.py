#!/usr/bin/env python3
"""Kafka health check for scripts/stack: speaks the Kafka wire protocol.

Sends one Metadata request (API key 3, version 1, all topics) to a broker and
succeeds only when the broker answers with a broker list that contains at
least one node and a known controller, i.e. a KRaft broker that has joined its
quorum and accepts client requests. Standard library only, so it runs before
and without any Kafka client package; far lighter than starting a JVM tool.

Usage: kafka_ping.py HOST:PORT [--timeout SECONDS] [--quiet]
Exit 0 when healthy (prints "ok brokers=N controller=ID topics=N"), 1 otherwise.
"""

import argparse
import socket
import struct
import sys


class _Reader:
    """Sequential big-endian reader over one response body."""

    def __init__(self, data):
        self.data = data
        self.pos = 0

    def _take(self, fmt):
        size = struct.calcsize(fmt)
        if self.pos + size > len(self.data):
            raise ValueError("truncated Metadata response")
        value = struct.unpack_from(fmt, self.data, self.pos)
        self.pos += size
        return value[0]

    def int8(self):
        return self._take(">b")

    def int16(self):
        return self._take(">h")

    def int32(self):
        return self._take(">i")

    def string(self):
        length = self.int16()
        if length < 0:
            return None
        raw = self.data[self.pos:self.pos + length]
        if len(raw) != length:
            raise ValueError("truncated string in Metadata response")
        self.pos += length
        return raw.decode("utf-8", "replace")


def _recv_exact(sock, size):
    chunks = []
    remaining = size
    while remaining > 0:
        chunk = sock.recv(min(remaining, 65536))
        if not chunk:
            raise ConnectionError("broker closed the connection")
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


def metadata(host, port, timeout):
    """Return (brokers, controller_id, topic_names) from a Metadata v1 call."""
    correlation_id = 0x7663  # arbitrary, checked on the way back
    client_id = b"vecmig-stack-ping"
    header = struct.pack(">hhih", 3, 1, correlation_id, len(client_id)) + client_id
    body = struct.pack(">i", -1)  # null topic array: all topics
    request = header + body
    with socket.create_connection((host, port), timeout=timeout) as sock:
        sock.settimeout(timeout)
        sock.sendall(struct.pack(">i", len(request)) + request)
        size = struct.unpack(">i", _recv_exact(sock, 4))[0]
        if size < 4 or size > 64 * 1024 * 1024:
            raise ValueError("implausible response size %d" % size)
        reader = _Reader(_recv_exact(sock, size))
    if reader.int32() != correlation_id:
        raise ValueError("correlation id mismatch")
    brokers = []
    for _ in range(reader.int32()):
        node_id = reader.int32()
        bhost = reader.string()
        bport = reader.int32()
        reader.string()  # rack
        brokers.append((node_id, bhost, bport))
    controller_id = reader.int32()
    topics = []
    for _ in range(max(reader.int32(), 0)):
        reader.int16()  # error code
        name = reader.string()
        reader.int8()  # is_internal
        for _ in range(max(reader.int32(), 0)):
            reader.int16()
            reader.int32()
            reader.int32()
            for _ in range(max(reader.int32(), 0)):
                reader.int32()
            for _ in range(max(reader.int32(), 0)):
                reader.int32()
        topics.append(name)
    return brokers, controller_id, topics


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("address", help="HOST:PORT of the broker")
    parser.add_argument("--timeout", type=float, default=3.0)
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args()
    host, _, port = args.address.rpartition(":")
    try:
        brokers, controller_id, topics = metadata(host, int(port), args.timeout)
    except (OSError, ValueError) as exc:
        if not args.quiet:
            print("down: %s" % exc, file=sys.stderr)
        return 1
    if not brokers or controller_id < 0:
        if not args.quiet:
            print("not ready: brokers=%d controller=%d" % (len(brokers), controller_id),
                  file=sys.stderr)
        return 1
    if not args.quiet:
        print("ok brokers=%d controller=%d topics=%d" % (len(brokers), controller_id, len(topics)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
