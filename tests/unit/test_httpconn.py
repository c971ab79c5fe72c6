"""SocketWriter and LineReader (gateway/httpconn.py) on a socket pair."""

from __future__ import annotations

import os
import socket
import threading

from gateway.httpconn import LineReader, SocketWriter


def test_a_write_larger_than_the_send_buffer_arrives_whole() -> None:
    server, client = socket.socketpair()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)   # each send takes a few KiB at most
    server.settimeout(10)
    data = os.urandom(1 << 20)
    got: list[bytes] = []

    def drain() -> None:
        have = 0
        while have < len(data):
            chunk = client.recv(1000)
            if not chunk:
                return
            got.append(chunk)
            have += len(chunk)

    reader = threading.Thread(target=drain)
    reader.start()
    try:
        writer = SocketWriter(server)
        assert writer.write(data) == len(data)
        reader.join(10)
        assert b"".join(got) == data
        assert writer.bytes_written == len(data)
    finally:
        server.close()
        client.close()


def test_lines_come_whole_whether_buffered_or_still_arriving() -> None:
    server, client = socket.socketpair()
    try:
        reader = LineReader(server, "rb", 8192)
        client.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nDepth: 1\r\n\r\nPROP")
        assert reader.readline() == b"GET / HTTP/1.1\r\n"            # read from the socket
        assert reader.readline() == b"Host: x\r\n"                   # already in the buffer
        assert reader.readline(4) == b"Dept"                        # a size limit: cheroot's path
        assert reader.readline() == b"h: 1\r\n"
        assert reader.readline() == b"\r\n"
        client.sendall(b"FIND / HTTP/1.1\r\n")
        assert reader.readline() == b"PROPFIND / HTTP/1.1\r\n"      # the rest of a line arrives later
        assert reader.bytes_read > 0
    finally:
        server.close()
        client.close()
