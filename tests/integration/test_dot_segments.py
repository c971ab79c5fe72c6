"""Dot segments ('..', '%2e%2e') get a complete 4xx at once, for every method.

WsgiDAV used to answer them with headers announcing a 400 body it never sent,
so a keep-alive client hung until its own timeout. Each request here goes over
a raw socket (HTTP clients normalise '..' away) and keeps the connection open,
as real clients do: the response must be whole within one second, and a second
request on the same connection must be answered (no stray or missing bytes).
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import pytest

from tests.support import start_gateway

DEADLINE = 1.0
METHODS = ["GET", "HEAD", "PROPFIND", "OPTIONS", "DELETE", "PUT", "MKCOL", "MOVE", "COPY", "PROPPATCH", "LOCK"]
DAV_PATHS = ["/webdav/../", "/webdav/..", "/webdav/%2e%2e/", "/webdav/__all__/../../etc/passwd",
             "/webdav/__all__/%2e%2e/%2e%2e/etc/passwd", "/webdav/../config/config.json"]
API_PATHS = ["/api/browse/../", "/api/browse/%2e%2e/", "/api/browse/download/../x"]


class Response:
    def __init__(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.status = status
        self.headers = headers
        self.body = body


def _read(sock: socket.socket, buffer: bytes, until: float, want: int | None = None) -> bytes:
    """Read into ``buffer`` until it holds a header block (want None) or ``want`` bytes."""
    while (b"\r\n\r\n" not in buffer) if want is None else (len(buffer) < want):
        left = until - time.monotonic()
        if left <= 0:
            raise AssertionError(f"timed out after {DEADLINE}s with {buffer[:200]!r}")
        sock.settimeout(left)
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            continue
        if not chunk:
            raise AssertionError(f"connection closed early with {buffer[:200]!r}")
        buffer += chunk
    return buffer


def exchange(sock: socket.socket, method: str, path: str) -> Response:
    """One request on an open keep-alive connection; the response read exactly, in time."""
    sock.sendall(f"{method} {path} HTTP/1.1\r\nHost: x\r\nDepth: 0\r\nContent-Length: 0\r\n\r\n".encode())
    until = time.monotonic() + DEADLINE
    data = _read(sock, b"", until)
    head, _, rest = data.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines)}
    length = 0 if method == "HEAD" else int(headers["content-length"])
    body = _read(sock, rest, until, length)
    assert len(body) == length, f"{len(body) - length} bytes beyond Content-Length"
    return Response(int(status_line.split(" ", 2)[1]), headers, body)


@pytest.fixture(params=["", "/base"], ids=["root", "url_base"])
def served(request, emulator, tmp_path) -> Iterator[tuple[int, str]]:
    """(port, prefix) of a gateway at '/' (the shared fixture) or under url_base '/base'."""
    if not request.param:
        yield request.getfixturevalue("gateway").port, ""
        return
    gw = start_gateway(emulator, str(tmp_path / "config"), url_base=request.param)
    try:
        yield gw.port, request.param
    finally:
        gw.stop()


@pytest.mark.parametrize("path", DAV_PATHS + API_PATHS)
def test_every_method_gets_a_complete_refusal(served: tuple[int, str], path: str) -> None:
    port, prefix = served
    wrong = {}
    for method in METHODS:
        with socket.create_connection(("127.0.0.1", port), timeout=DEADLINE) as sock:
            try:
                first = exchange(sock, method, prefix + path)
                follow = exchange(sock, "GET", f"{prefix}/version")   # the connection still frames right
            except AssertionError as exc:
                wrong[method] = str(exc)
                continue
        expect = "404" if path.startswith("/webdav/") else "4xx"
        if not (first.status == 404 if expect == "404" else 400 <= first.status < 500):
            wrong[method] = f"status {first.status}, expected {expect}: {first.body[:200]!r}"
        elif follow.status != 200:
            wrong[method] = f"follow-up request answered {follow.status}"
    assert not wrong, wrong
