"""The browse API: the VFS tree as JSON, and file bytes with Range.

Talks only to the VFS. Groups are the root directories, torrents their
folders; ``/api/browse/download/{torrent}/{file}`` serves a file of
``__all__`` with RFC 9110 Range, HEAD, ETag, Last-Modified, 206/304/412/416
(``fs.ranges.plan_response``, the same answer WebDAV gives),
or a 302 to the provider link with ``?redirect=1`` (served here when the file has none).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import bottle

from api.responses import ApiError, json_body
from api.web import api_errors
from fs.ranges import plan_response
from fs.reader import FileHandle, blocks
from fs.vfs import VFS, Entry
from gateway import errors
from gateway.library.groups import ALL

PIECE = 256 * 1024
MAX_LIMIT = 1000
SORT_KEYS = {"name": lambda e: e.name.casefold(), "size": lambda e: e.size, "modified": lambda e: e.mtime,
             "files": lambda e: e.files}


def _iso(ts: float) -> str:
    import datetime as dt
    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _int_param(name: str, default: int, low: int, high: int) -> int:
    raw = bottle.request.query.get(name, "")
    if raw == "":
        return default
    if not re.fullmatch(r"\d{1,9}", raw) or not low <= int(raw) <= high:
        raise ApiError(400, f"{name} must be a whole number from {low} to {high}")
    return int(raw)


def _check_segment(name: str, what: str) -> str:
    if not name or name in (".", "..") or "/" in name or "\x00" in name:
        raise ApiError(400, f"invalid {what} name")
    return name


def list_groups(vfs: VFS) -> dict[str, Any]:
    return {"groups": [{"name": e.name, "torrents": len(vfs.listdir("/" + e.name)), "modified": _iso(e.mtime)}
                       for e in vfs.listdir("/")]}


def list_group(vfs: VFS, group: str) -> dict[str, Any]:
    _check_segment(group, "group")
    page = _int_param("page", 1, 1, 10**9)
    limit = _int_param("limit", 100, 1, MAX_LIMIT)
    sort_by = bottle.request.query.get("sort_by", "name")
    order = bottle.request.query.get("sort_order", "asc")
    if sort_by not in SORT_KEYS or order not in ("asc", "desc"):
        raise ApiError(400, f"sort_by must be one of {', '.join(SORT_KEYS)}; sort_order asc or desc")
    entries = list(vfs.listdir("/" + group))
    search = bottle.request.query.getunicode("search", "") or ""
    if search:
        entries = [e for e in entries if search.casefold() in e.name.casefold()]
    entries.sort(key=SORT_KEYS[sort_by], reverse=order == "desc")
    start = (page - 1) * limit
    return {"group": group, "total": len(entries), "page": page, "limit": limit,
            "torrents": [{"name": e.name, "size": e.size, "files": e.files, "modified": _iso(e.mtime)}
                         for e in entries[start:start + limit]]}


def _walk(vfs: VFS, path: str, prefix: str = "") -> Iterator[tuple[str, Entry]]:
    for entry in vfs.listdir(path):
        rel = f"{prefix}{entry.name}"
        if entry.is_dir:
            yield from _walk(vfs, f"{path}/{entry.name}", rel + "/")
        else:
            yield rel, entry


def list_torrent(vfs: VFS, group: str, torrent: str) -> dict[str, Any]:
    _check_segment(group, "group")
    _check_segment(torrent, "torrent")
    path = f"/{group}/{torrent}"
    folder = vfs.stat(path)
    if not folder.is_dir:
        raise ApiError(404, "not a torrent folder")
    base = bottle.request.script_name.rstrip("/") + "/api/browse/download/" + quote(torrent, safe="")
    files = [{"path": rel, "size": e.size, "modified": _iso(e.mtime), "content_type": e.content_type,
              "download": f"{base}/{quote(rel)}"} for rel, e in _walk(vfs, path)]
    return {"group": group, "torrent": torrent, "size": folder.size, "files": files}


# ------------------------------------------------------------------ download

def serve_file(vfs: VFS, torrent: str, file: str) -> Any:
    _check_segment(torrent, "torrent")
    if "\x00" in file or any(part == ".." for part in file.split("/")):
        raise ApiError(400, "invalid file path")
    path = f"/{ALL}/{torrent}/{file}"
    found = vfs.lookup(path)   # the one resolution of this request's path
    if found.entry.is_dir:
        raise ApiError(400, "that is a folder, not a file")
    if bottle.request.query.get("redirect") in ("1", "true"):
        location = vfs.link_found(found, path)   # None: no provider link of its own (archive member, usenet), served here
        if location is not None:
            return bottle.HTTPResponse(status=302, headers={"Location": location})
    status, headers, start, end, reason = plan_response(found.entry, bottle.request.headers)
    if status == 412:
        raise ApiError(412, reason)
    if status == 416:
        return bottle.HTTPResponse(json_body({"error": reason, "code": 416}).body, status=416,
                                   headers={**headers, "Content-Type": "application/json"})
    if status == 304 or bottle.request.method == "HEAD" or end < start:
        return bottle.HTTPResponse(b"", status=status, headers=headers)
    reader = vfs.open_found(found, path, "browse", end if status == 206 else None)
    reader.seek(start)
    try:
        # The first piece is read here, so a failing link becomes a clean error status.
        first = reader.read(min(PIECE, end - start + 1))
    except errors.Unavailable as exc:
        reader.close()   # the provider or its CDN failed this read: a bad gateway, not a pause to wait out
        if isinstance(exc, errors.RateLimited):
            raise
        raise ApiError(502, f"upstream read failed: {exc}") from exc
    except BaseException:
        reader.close()
        raise
    return bottle.HTTPResponse(_stream(reader, first, end - start + 1), status=status, headers=headers)


def _stream(reader: FileHandle, first: bytes, length: int) -> Iterator[bytes]:
    try:
        yield first
        yield from blocks(reader.read, length - len(first), PIECE)
    finally:
        reader.close()


def make_browse_app(vfs: VFS) -> bottle.Bottle:
    app = bottle.Bottle()
    app.route("/api/browse", "GET", api_errors(lambda: json_body(list_groups(vfs))))
    app.route("/api/browse/", "GET", api_errors(lambda: json_body(list_groups(vfs))))
    app.route("/api/browse/download/<torrent>/<file:path>", ["GET", "HEAD"],
              api_errors(lambda torrent, file: serve_file(vfs, torrent, file)))
    app.route("/api/browse/<group>", "GET", api_errors(lambda group: json_body(list_group(vfs, group))))
    app.route("/api/browse/<group>/", "GET", api_errors(lambda group: json_body(list_group(vfs, group))))
    app.route("/api/browse/<group>/<torrent>", "GET",
              api_errors(lambda group, torrent: json_body(list_torrent(vfs, group, torrent))))
    return app
