"""The server's socket I/O (gateway/httpconn.py) over raw sockets: pipelined requests, a client
that trickles its request in, and a slow reader of a large body all get complete answers."""

from __future__ import annotations

import socket
from urllib.parse import quote

from tests.integration.test_tree import folder
from tests.support import SAMPLE, expected

DEADLINE = 30.0
SHOW = SAMPLE[0]
EPISODE = "Season 1/The Show S01E01.mkv"   # 3,000,000 bytes


def read_response(sock: socket.socket, pending: bytes = b"") -> tuple[bytes, bytes, bytes]:
    """(head, body, bytes after it) of one Content-Length response."""
    data = pending
    while b"\r\n\r\n" not in data:
        data += _recv(sock)
    head, _, rest = data.partition(b"\r\n\r\n")
    length = next(int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                  if line.lower().startswith(b"content-length:"))
    while len(rest) < length:
        rest += _recv(sock)
    return head, rest[:length], rest[length:]


def _recv(sock: socket.socket) -> bytes:
    chunk = sock.recv(65536)
    assert chunk, "the server closed the connection before the answer was whole"
    return chunk


def episode_path(gateway) -> str:
    return f"/webdav/__all__/{quote(folder(gateway, SHOW))}/{quote(EPISODE)}"


def test_pipelined_requests_are_each_answered_whole(gateway) -> None:
    path = episode_path(gateway)
    one = f"GET {path} HTTP/1.1\r\nHost: x\r\nRange: bytes=0-99\r\n\r\n"
    two = f"PROPFIND {path} HTTP/1.1\r\nHost: x\r\nDepth: 0\r\n\r\n"
    with socket.create_connection(("127.0.0.1", gateway.port), timeout=DEADLINE) as sock:
        sock.sendall((one + two + one).encode("latin-1"))   # three requests in one send: the reader's buffer holds them
        head, body, rest = read_response(sock)
        assert head.startswith(b"HTTP/1.1 206") and body == expected(SHOW, EPISODE, 0, 100)
        head, body, rest = read_response(sock, rest)
        assert head.startswith(b"HTTP/1.1 207") and b"<D:getcontentlength>3000000<" in body
        head, body, rest = read_response(sock, rest)
        assert head.startswith(b"HTTP/1.1 206") and body == expected(SHOW, EPISODE, 0, 100) and rest == b""


def test_a_request_sent_a_byte_at_a_time_is_answered(gateway) -> None:
    request = f"GET {episode_path(gateway)} HTTP/1.1\r\nHost: x\r\nRange: bytes=10-19\r\n\r\n".encode("latin-1")
    with socket.create_connection(("127.0.0.1", gateway.port), timeout=DEADLINE) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for i in range(len(request)):   # no line is ever whole in the server's buffer on arrival
            sock.send(request[i:i + 1])
        head, body, _ = read_response(sock)
    assert head.startswith(b"HTTP/1.1 206") and body == expected(SHOW, EPISODE, 10, 10)


def test_a_slow_reader_gets_a_large_body_whole(gateway) -> None:
    """A reader with a small receive window, reading a body larger than the kernel's largest send
    buffer (tcp_wmem: 4 MiB) in small pieces: every byte arrives, in order (the partial sends
    themselves are forced in tests/unit/test_httpconn.py)."""
    movie, name = SAMPLE[1], SAMPLE[1]["files"][0]["path"]   # 4,200,000 bytes
    path = f"/webdav/__all__/{quote(folder(gateway, movie))}/{quote(name)}"
    request = f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode("latin-1")
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)   # before connect: the window stays small
        sock.settimeout(DEADLINE)
        sock.connect(("127.0.0.1", gateway.port))
        sock.sendall(request)
        data = b""
        while b"\r\n\r\n" not in data:
            data += sock.recv(1024)
        head, _, body = data.partition(b"\r\n\r\n")
        while len(body) < 4_200_000:
            chunk = sock.recv(1024)
            assert chunk, f"connection closed after {len(body)} bytes"
            body += chunk
    assert head.startswith(b"HTTP/1.1 200")
    assert body == expected(movie, name)
