"""Dot segments ('..', '%2e%2e') and paths that are not UTF-8 ('%c0%ae') get a complete 4xx
at once, for every method, on every frontend.

WsgiDAV used to answer them with headers announcing a 400 body it never sent,
so a keep-alive client hung until its own timeout. Each request here goes over
a raw socket (HTTP clients normalise '..' away) and keeps the connection open,
as real clients do: the response must be whole within one second, and a second
request on the same connection must be answered (no stray or missing bytes).
"""

from __future__ import annotations

import re
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


def exchange(sock: socket.socket, method: str, path: str | bytes) -> Response:
    """One request on an open keep-alive connection; the response read exactly, in time.
    A ``bytes`` path goes out as it is (raw bytes >= 0x80 in the request line)."""
    target = path if isinstance(path, bytes) else path.encode()
    sock.sendall(method.encode() + b" " + target + b" HTTP/1.1\r\nHost: x\r\nDepth: 0\r\nContent-Length: 0\r\n\r\n")
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


# Paths whose bytes are not UTF-8: overlong forms of '.' and '/' (classic traversal probes),
# lone continuation bytes, bytes never valid in UTF-8, truncated sequences, and the same raw.
BAD_UTF8 = ["%c0%ae%c0%ae", "%c0%ae%c0%ae/%c0%ae%c0%ae/etc/passwd", "%e0%80%ae%e0%80%ae", "%c0%af", "%80",
            "%bf%bf", "%ff", "%fe%ff", "%e2%82", "%f0%9f%98", "x%c3", "%ed%a0%80"]
FRONTENDS = ["/webdav/", "/webdav/__all__/", "/webdav/__all__/Tiny%20Movie%202020/", "/api/browse/",
             "/api/browse/__all__/", "/api/browse/download/", "/api/torrents/", "/api/v2/torrents/",
             "/sabnzbd/", "/static/", "/settings/", "/"]


@pytest.mark.parametrize("frontend", FRONTENDS)
def test_a_path_that_is_not_utf8_gets_a_complete_400_on_every_method(served: tuple[int, str],
                                                                     frontend: str) -> None:
    """Issue 15 item 4: WsgiDAV dropped the connection without a word (GET /webdav/%c0%ae%c0%ae/),
    Bottle read /api/browse/%c0%ae as /api/browse/ and listed the root."""
    port, prefix = served
    wrong = {}
    with socket.create_connection(("127.0.0.1", port), timeout=DEADLINE) as sock:   # one keep-alive connection
        for target in (prefix + frontend + bad for bad in BAD_UTF8):
            for method in METHODS:
                try:
                    first = exchange(sock, method, target)
                    follow = exchange(sock, "GET", f"{prefix}/version")   # still in step
                except AssertionError as exc:
                    raise AssertionError(f"{method} {target}: {exc}; before that: {wrong}") from None
                if first.status not in (400, 404) or follow.status != 200:
                    wrong[(method, target)] = f"{first.status} then {follow.status}: {first.body[:100]!r}"
                elif method != "HEAD" and b"UTF-8" not in first.body:
                    wrong[(method, target)] = f"{first.status} without the reason: {first.body[:100]!r}"
    assert not wrong, wrong


@pytest.mark.parametrize("method", METHODS)
def test_unescaped_bytes_in_the_request_line_get_a_complete_400(served: tuple[int, str], method: str) -> None:
    """cheroot refuses them itself ('Malformed Request-URI') and closes the connection: still a
    whole answer (its body even on HEAD, harmless as nothing follows on that connection)."""
    port, prefix = served
    for frontend in ("/webdav/__all__/", "/api/browse/", "/api/v2/torrents/", "/sabnzbd/"):
        with socket.create_connection(("127.0.0.1", port), timeout=DEADLINE) as sock:
            sock.sendall(method.encode() + b" " + (prefix + frontend).encode() + b"\xc0\xae\xc0\xae/\xff"
                         + b" HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n")
            data = b""
            until = time.monotonic() + DEADLINE
            while chunk := sock.recv(65536):   # to the close
                data += chunk
                assert time.monotonic() < until, data[:200]
        head, _, body = data.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 400 "), (frontend, data[:200])
        length = re.search(rb"(?i)content-length: *(\d+)", head)
        assert length and len(body) == int(length.group(1)), (frontend, data[:200])
