"""Bad input gets a clear 4xx, never a 500 or a traceback."""

from __future__ import annotations

import socket
from urllib.parse import quote

import pytest
import requests

from tests.integration.test_tree import base, folder, propfind
from tests.support import SAMPLE


def raw_request(port: int, request_line: str, headers: str = "") -> tuple[int, bytes]:
    """Send bytes exactly as given (requests would normalise '..' away)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(f"{request_line}\r\nHost: x\r\nConnection: close\r\n{headers}\r\n".encode("latin-1"))
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    status = int(data.split(b" ", 2)[1])
    return status, data


TRAVERSALS = [
    "/webdav/../etc/passwd", "/webdav/__all__/../../etc/passwd", "/webdav/%2e%2e/%2e%2e/etc/passwd",
    "/webdav/__all__/%2e%2e/__bad__", "/webdav/__all__/a%00b", "/webdav/__all__/..%2f..%2fetc",
    "/api/browse/download/..%2f..%2fetc/passwd", "/api/browse/download/x/..%2f..%2fetc%2fpasswd",
    "/api/browse/%2e%2e", "/api/browse/__all__/%2e%2e", "/api/browse/__all__/a%00b",
]


@pytest.mark.parametrize("path", TRAVERSALS)
@pytest.mark.parametrize("method", ["GET", "PROPFIND"])
def test_traversal_is_refused(gateway, path: str, method: str) -> None:
    status, data = raw_request(gateway.port, f"{method} {path} HTTP/1.1", "Depth: 0\r\n")
    assert 400 <= status < 500, data[:300]
    assert b"Traceback" not in data and b"root:" not in data


def test_unknown_things_are_404(gateway) -> None:
    b = base(gateway)
    assert requests.get(f"{b}/api/browse/nope", timeout=10).json() == {"error": "not found", "code": 404}
    assert requests.get(f"{b}/api/browse/__all__/nope", timeout=10).status_code == 404
    assert requests.get(f"{b}/api/browse/download/nope/file.mkv", timeout=10).status_code == 404
    assert requests.get(f"{b}/api/nothing-here", timeout=10).json()["code"] == 404
    assert requests.get(f"{b}/webdav/__all__/nope", timeout=10).status_code == 404
    assert propfind(f"{b}/webdav/nope/", "1").status_code == 404


def test_bad_query_parameters(gateway) -> None:
    url = f"{base(gateway)}/api/browse/__all__"
    for params in ({"page": "x"}, {"limit": "0"}, {"limit": "100000"}, {"sort_by": "evil"}, {"sort_order": "up"}):
        response = requests.get(url, params=params, timeout=10)
        assert response.status_code == 400, params
        assert set(response.json()) == {"error", "code"}


def _file_urls(gw) -> list[str]:
    entry, path = SAMPLE[0], SAMPLE[0]["files"][0]["path"]
    name = quote(folder(gw, entry))
    return [f"{base(gw)}/webdav/__all__/{name}/{quote(path)}",
            f"{base(gw)}/api/browse/download/{name}/{quote(path)}"]


@pytest.mark.parametrize("header", ["bytes=9999999999-", "bytes=5-2", "bytes=abc", "lines=0-5", "bytes=-0", "bytes="])
def test_bad_ranges_are_416(gateway, header: str) -> None:
    for url in _file_urls(gateway):
        response = requests.get(url, headers={"Range": header}, timeout=10)
        assert response.status_code == 416, (url, header, response.status_code)


def test_range_at_end_and_suffix(gateway) -> None:
    size = SAMPLE[0]["files"][0]["size"]
    for url in _file_urls(gateway):
        last = requests.get(url, headers={"Range": f"bytes={size - 1}-{size + 100}"}, timeout=10)
        assert last.status_code == 206 and len(last.content) == 1
        assert last.headers["Content-Range"] == f"bytes {size - 1}-{size - 1}/{size}"
        head = requests.head(url, timeout=10)
        assert head.status_code == 200 and int(head.headers["Content-Length"]) == size


def test_webdav_writes_are_forbidden(gateway) -> None:
    b = base(gateway)
    name = quote(folder(gateway, SAMPLE[0]))
    assert requests.put(f"{b}/webdav/__all__/{name}/new.txt", data=b"x", timeout=10).status_code == 403
    assert requests.request("MKCOL", f"{b}/webdav/__all__/newdir", timeout=10).status_code in (403, 405)
    move = requests.request("MOVE", f"{b}/webdav/__all__/{name}", timeout=10,
                            headers={"Destination": f"{b}/webdav/__all__/renamed"})
    assert move.status_code == 403
    file_url = f"{b}/webdav/__all__/{name}/{quote(SAMPLE[0]['files'][0]['path'])}"
    assert requests.delete(file_url, timeout=10).status_code == 403
    assert requests.delete(f"{b}/webdav/__all__/", timeout=10).status_code == 403
    assert requests.request("PROPPATCH", file_url, data=b"<x/>", timeout=10).status_code in (403, 405, 400)


def test_propfind_depth_infinity_and_bad_body(gateway) -> None:
    b = base(gateway)
    refused = propfind(f"{b}/webdav/", "infinity")
    assert refused.status_code == 403 and b"propfind-finite-depth" in refused.content
    assert propfind(f"{b}/webdav/", "1", b"<not xml").status_code == 400
    assert propfind(f"{b}/webdav/", "1", b"<a xmlns='DAV:'/>").status_code == 400
