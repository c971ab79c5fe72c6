"""The methods this server answers its own way, behind WsgiDAV's dispatch.

WsgiDAV hands them over through ``GatewayDAVProvider.custom_request_handler``;
an error is raised as a ``DAVError`` and WsgiDAV's ``ErrorPrinter`` sends it
whole. Each reads the request's one lookup (``fs.webdav.request``).

- GET/HEAD of a file: ``fs.ranges.plan_response``, the Range, If-Range,
  ETag, 304, 412 and 416 rules the browse API uses too (one implementation).
- GET/HEAD of a collection: the HTML folder page (``fs.webdav.pages``).
- PROPFIND: ``fs.webdav.propfind``, measured much faster than WsgiDAV's.
- OPTIONS: what a path serves and no more (WsgiDAV's would list PUT, COPY,
  MOVE and PROPPATCH for a provider that deletes).
- PUT, COPY, MOVE, MKCOL, PROPPATCH, POST: 403, the tree is read-only.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from http import HTTPStatus
from typing import Any

from wsgidav.dav_error import (
    HTTP_BAD_GATEWAY,
    HTTP_BAD_REQUEST,
    HTTP_FORBIDDEN,
    HTTP_NOT_FOUND,
    DAVError,
    PRECONDITION_CODE_PropfindFiniteDepth,
)

from fs.ranges import environ_headers, plan_response
from fs.reader import FileHandle, blocks
from fs.vfs import VFS, Lookup
from fs.webdav.pages import HEADERS as PAGE_HEADERS
from fs.webdav.pages import folder_page
from fs.webdav.propfind import BadPropfind, RenderCache, multistatus, parse_propfind
from fs.webdav.provider import Handler, dav_error
from fs.webdav.request import Resolved, resolved
from gateway.errors import GatewayError

StartResponse = Callable[..., Any]
BLOCK_SIZE = 256 * 1024
MAX_PROPFIND_BODY = 1 << 20
SERVED_METHODS = ("OPTIONS", "PROPFIND", "GET", "HEAD")   # and DELETE on a torrent folder
READ_ONLY = ("PUT", "COPY", "MOVE", "MKCOL", "PROPPATCH", "POST")


def _status(code: int) -> str:
    return f"{code} {HTTPStatus(code).phrase}"


def _found(request: Resolved, environ: dict[str, Any]) -> Lookup:
    """The request's lookup, or a 404 (headers only for a HEAD: cheroot sends what it is given)."""
    if request.found is None:
        raise DAVError(HTTP_NOT_FOUND, add_body=environ["REQUEST_METHOD"] != "HEAD")
    return request.found


class Methods:
    """The handlers, sharing the VFS, the mount path and one cache of renderings."""

    def __init__(self, vfs: VFS, mount_path: str) -> None:
        self._vfs = vfs
        self._prefix = mount_path.rstrip("/")
        self._renders = RenderCache()

    def table(self) -> dict[str, Handler]:
        # PROPFIND never reaches WsgiDAV's dispatch: GatewayDAVApp calls ``propfind`` itself.
        table: dict[str, Handler] = {"GET": self.get, "HEAD": self.get, "OPTIONS": self.options}
        table.update(dict.fromkeys(READ_ONLY, _read_only))
        return table

    # ---------------------------------------------------------------- GET, HEAD

    def get(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        request = resolved(environ)
        found = _found(request, environ)
        head = environ["REQUEST_METHOD"] == "HEAD"
        if found.entry.is_dir:
            return self._page(request, found, start_response, head=head)
        status, headers, start, end, reason = plan_response(found.entry, environ_headers(environ))
        if status in (412, 416):
            extra = [("Content-Range", headers["Content-Range"])] if status == 416 else []
            raise DAVError(status, reason, add_headers=extra, add_body=not head)
        start_response(_status(status), list(headers.items()))
        if status == 304 or head or end < start:
            return [b""]
        try:
            handle = self._vfs.open_found(found, request.path, "webdav", end if status == 206 else None)
        except OSError as exc:
            raise dav_error(exc) from None
        return _stream(handle, start, end)

    def _page(self, request: Resolved, found: Lookup, start_response: StartResponse, *,
              head: bool) -> list[bytes]:
        payload = self._renders.get((request.key, "html"), found,
                                    lambda: folder_page(self._prefix, request.key, found.members()))
        start_response("200 OK", [*PAGE_HEADERS, ("Content-Length", str(len(payload)))])
        return [b""] if head else [payload]

    # ----------------------------------------------------------------- PROPFIND

    def propfind(self, environ: dict[str, Any], start_response: StartResponse) -> list[bytes]:
        request = resolved(environ)
        found = _found(request, environ)
        depth = environ.get("HTTP_DEPTH", "infinity").strip().lower()
        if depth not in ("0", "1") and found.entry.is_dir:   # depth means nothing on a file
            raise DAVError(HTTP_FORBIDDEN, err_condition=PRECONDITION_CODE_PropfindFiniteDepth)
        try:
            props = parse_propfind(_read_body(environ))
        except BadPropfind as exc:
            raise DAVError(HTTP_BAD_REQUEST, f"bad PROPFIND body: {exc}") from None
        depth = "0" if depth == "0" else "1"
        payload = self._renders.get((request.key, depth, props), found,
                                    lambda: multistatus(self._prefix, request.key, depth, props, found))
        start_response("207 Multi-Status", [("Content-Type", "application/xml; charset=utf-8"),
                                            ("Content-Length", str(len(payload))), ("DAV", "1")])
        return [payload]

    # ------------------------------------------------------------------ OPTIONS

    def options(self, environ: dict[str, Any], start_response: StartResponse) -> list[bytes]:
        """Class 1 only (no LOCK), no write but DELETE of a torrent folder."""
        request = resolved(environ)
        found = _found(request, environ)
        allow = list(SERVED_METHODS)
        if self._vfs.removable(found, request.path):   # a torrent folder
            allow.append("DELETE")
        headers = [("Content-Type", "text/plain"), ("Content-Length", "0"), ("DAV", "1"),
                   ("Allow", ", ".join(allow)), ("MS-Author-Via", "DAV")]
        if not found.entry.is_dir:
            headers.append(("Accept-Ranges", "bytes"))
        start_response("200 OK", headers)
        return [b""]


def _read_only(environ: dict[str, Any], start_response: StartResponse) -> list[bytes]:
    """The tree is read-only but for DELETE of a torrent folder (checked by the VFS)."""
    raise DAVError(HTTP_FORBIDDEN, "read-only")


def _stream(handle: FileHandle, start: int, end: int) -> Iterator[bytes]:
    """The bytes start..end. WsgiDAV's ErrorPrinter holds the status line until the first
    block, so a first read that fails upstream (the provider lost the file, the CDN is
    down) is still answered with a whole 502."""
    try:
        handle.seek(start)
        yield from blocks(lambda size: _read(handle, size), end - start + 1, BLOCK_SIZE)
    finally:
        handle.close()


def _read(handle: FileHandle, size: int) -> bytes:
    try:
        return bytes(handle.read(size))
    except GatewayError as exc:
        raise DAVError(HTTP_BAD_GATEWAY, f"upstream: {exc}") from None
    except OSError as exc:
        raise DAVError(HTTP_BAD_GATEWAY, f"upstream: {exc.strerror or 'read failed'}") from None


def _read_body(environ: dict[str, Any]) -> bytes:
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        raise BadPropfind("bad Content-Length") from None
    if length > MAX_PROPFIND_BODY:
        raise BadPropfind("body too large")
    body = environ["wsgi.input"].read(length) if length > 0 else b""
    environ["wsgidav.all_input_read"] = 1   # WsgiDAV need not drain it
    return bytes(body)
