"""The emulated CDN: ``/cdn/<provider>/<link-token>/<filename>`` with byte ranges.

Bodies are generators of 256 KiB pieces so a multi-GiB file never sits in
memory; bytes are counted into the owning account's daily traffic as they are
yielded.  Single ranges only: a multi-range request gets the whole file (200),
which real CDNs also do. The ``cdn_ignore_range`` knob makes every GET a 200 with
the whole file, as some hosters and proxies answer.
"""

from __future__ import annotations

import hashlib
import re
import threading
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import bottle

from . import content
from .model import CdnLink
from .world import Account, CdnError, RdDownload, World

_RANGE_RX = re.compile(r"(\d*)-(\d*)")


class Unsatisfiable(Exception):
    pass


def parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """Inclusive ``(start, end)``; None = serve the whole file; raises ``Unsatisfiable``."""
    if not header or not header.strip().lower().startswith("bytes="):
        return None
    spec = header.strip()[6:].strip()
    m = _RANGE_RX.fullmatch(spec)
    if "," in spec or not m or (not m.group(1) and not m.group(2)):
        return None  # multi-range or malformed: ignored, per RFC 9110
    first, last = m.group(1), m.group(2)
    if not first:
        n = int(last)
        if n == 0 or size == 0:
            raise Unsatisfiable
        return max(0, size - n), size - 1
    start = int(first)
    if last and int(last) < start:
        return None
    if start >= size:
        raise Unsatisfiable
    end = min(int(last), size - 1) if last else size - 1
    return start, end


def content_disposition(name: str) -> str:
    # Header values must be latin-1; the real name travels in filename*.
    fallback = name.encode("ascii", "replace").decode().replace('"', "'").replace("\\", "_")
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(name, safe='', errors='replace')}"


class Cdn:
    def __init__(self, world: World) -> None:
        self.world = world
        self._pace_lock = threading.Lock()
        self._next_free = 0.0

    def mount(self, app: bottle.Bottle) -> None:
        app.route("/cdn/<provider>/<tok>/<name:path>", ["GET", "HEAD"], self.serve)
        app.route("/cdn/<provider>/<tok>", ["GET", "HEAD"], self.serve)
        # Restricted RD links exist only to be unrestricted, never downloaded.
        app.route("/rd-link/d/<lid>", ["GET", "HEAD"], self.restricted)

    def restricted(self, lid: str) -> bottle.HTTPResponse:
        return bottle.HTTPResponse("restricted link: unrestrict it first\n", 404,
                                   {"Content-Type": "text/plain"})

    def serve(self, provider: str, tok: str, name: str = "") -> bottle.HTTPResponse:
        try:
            d, acc = self.world.cdn_resolve(provider, tok)
        except CdnError as err:
            return self._error(err)
        size = d.file.bytes
        headers = self._headers(d)
        ranged = not self.world.knobs["cdn_ignore_range"]
        try:
            window = parse_range(bottle.request.get_header("Range"), size) if ranged else None
        except Unsatisfiable:
            headers.update({"Content-Range": f"bytes */{size}", "Content-Length": "0"})
            return bottle.HTTPResponse(b"", 416, headers)
        status, start, length = 200, 0, size
        if window is not None:
            status, start, length = 206, window[0], window[1] - window[0] + 1
            headers["Content-Range"] = f"bytes {window[0]}-{window[1]}/{size}"
        headers["Content-Length"] = str(length)
        if bottle.request.method == "HEAD" or length == 0:
            return bottle.HTTPResponse(b"", status, headers)
        return bottle.HTTPResponse(self._stream(d, acc, start, length), status, headers)

    def _headers(self, d: RdDownload | CdnLink) -> dict[str, str]:
        f = d.file
        tag = hashlib.sha1(f"{f.seed}|{f.bytes}|{f.source_path}".encode("utf-8", "surrogatepass")).hexdigest()[:20]
        return {
            "Accept-Ranges": "bytes",
            "Content-Type": content.mime_type(d.filename),
            "Content-Disposition": content_disposition(d.filename),
            "ETag": f'"{tag}"',
            "Cache-Control": "private",
        }

    def _error(self, err: CdnError) -> bottle.HTTPResponse:
        headers: dict[str, Any] = {"Content-Type": "text/plain"}
        x_error = self.world.knobs["x_error_header"]
        if x_error:
            headers["X-Error"] = err.x_error if x_error is True else str(x_error)
        return bottle.HTTPResponse(f"{err.x_error}\n", err.status, headers)

    def _stream(self, d: RdDownload | CdnLink, acc: Account | None, start: int,
                length: int) -> Iterator[bytes]:
        f = d.file
        rate = self.world.knobs["cdn_bandwidth"]
        # Smaller pieces under a bandwidth cap keep the pacing smooth.
        chunk = content.STREAM_CHUNK if not rate else max(4096, min(content.STREAM_CHUNK,
                                                                    int(rate) // 20))
        for piece in content.iter_content(f.seed, f.source_path, start, length, chunk):
            if rate:
                self._pace(len(piece), float(rate))
            if acc is not None:
                self.world.add_traffic(acc, len(piece))
            yield piece

    def _pace(self, nbytes: int, rate: float) -> None:
        """Shared (per-emulator) bandwidth cap in real bytes/s across all streams."""
        with self._pace_lock:
            now = time.monotonic()
            begin = max(now, self._next_free)
            self._next_free = begin + nbytes / rate
            wait = self._next_free - now
        if wait > 0:
            time.sleep(wait)


def mount_cdn(app: bottle.Bottle, world: World) -> Cdn:
    cdn = Cdn(world)
    cdn.mount(app)
    return cdn
