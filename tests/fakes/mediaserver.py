"""Stand-in Plex and Jellyfin servers (real HTTP on loopback) with request logs.

``FakePlex``: ``GET /library/sections`` (XML, as Plex answers by default) and
``GET /library/sections/{id}/refresh?path=``; ``FakeJellyfin``: ``POST /Library/Media/Updated``.
Both check their token header (401 otherwise) and record every request as
``(method, path, query, headers, body)``; ``refreshes()`` reads the scans back.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit
from xml.sax.saxutils import quoteattr


class _FakeServer:
    token_header = ""

    def __init__(self, token: str = "media-token") -> None:
        self.token = token
        self.requests: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                fake._handle(self, "GET")

            def do_POST(self) -> None:
                fake._handle(self, "POST")

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> _FakeServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _handle(self, handler: BaseHTTPRequestHandler, method: str) -> None:
        parts = urlsplit(handler.path)
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length) if length else b""
        entry = {"method": method, "path": parts.path, "query": parse_qs(parts.query),
                 "headers": dict(handler.headers.items()), "body": body}
        with self._lock:
            self.requests.append(entry)
        if handler.headers.get(self.token_header) != self.token:
            status, content, kind = 401, b"Unauthorized", "text/plain"
        else:
            status, content, kind = self.answer(method, parts.path, entry)
        handler.send_response(status)
        handler.send_header("Content-Type", kind)
        handler.send_header("Content-Length", str(len(content)))
        handler.end_headers()
        handler.wfile.write(content)

    def answer(self, method: str, path: str, entry: dict[str, Any]) -> tuple[int, bytes, str]:
        raise NotImplementedError

    def log(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self.requests)


class FakePlex(_FakeServer):
    token_header = "X-Plex-Token"

    def __init__(self, sections: dict[str, list[str]], token: str = "plex-token") -> None:
        super().__init__(token)
        self.sections = sections   # section id → its locations

    def answer(self, method: str, path: str, entry: dict[str, Any]) -> tuple[int, bytes, str]:
        if method == "GET" and path == "/library/sections":
            dirs = "".join(f'<Directory key={quoteattr(key)} type="show">'
                           + "".join(f"<Location path={quoteattr(loc)}/>" for loc in locations) + "</Directory>"
                           for key, locations in self.sections.items())
            xml = f'<?xml version="1.0" encoding="UTF-8"?><MediaContainer size="{len(self.sections)}">{dirs}</MediaContainer>'
            return 200, xml.encode(), "text/xml"
        parts = path.strip("/").split("/")
        if method == "GET" and len(parts) == 4 and parts[:2] == ["library", "sections"] and parts[3] == "refresh":
            return (200, b"", "text/plain") if parts[2] in self.sections else (404, b"", "text/plain")
        return 404, b"", "text/plain"

    def refreshes(self) -> list[tuple[str, str]]:
        """(section id, path) of every partial refresh received."""
        return [(r["path"].split("/")[3], r["query"].get("path", [""])[0]) for r in self.log()
                if r["path"].endswith("/refresh")]


class FakeJellyfin(_FakeServer):
    token_header = "X-Emby-Token"

    def answer(self, method: str, path: str, entry: dict[str, Any]) -> tuple[int, bytes, str]:
        if method == "POST" and path == "/Library/Media/Updated":
            try:
                json.loads(entry["body"])["Updates"]
            except (ValueError, KeyError, TypeError):
                return 400, b"bad body", "text/plain"
            return 204, b"", "text/plain"
        return 404, b"", "text/plain"

    def refreshes(self) -> list[tuple[str, str]]:
        """(path, update type) of every update received."""
        return [(u["Path"], u["UpdateType"]) for r in self.log() if r["path"] == "/Library/Media/Updated"
                for u in json.loads(r["body"])["Updates"]]
