"""WebDAV frontend: a thin WsgiDAV adapter over the VFS, plus a fast PROPFIND.

WsgiDAV serves GET and HEAD (with Range and If-Range against our stable
ETags) through ``GatewayDAVProvider``. OPTIONS, DELETE and PROPFIND are answered
by ``DavFront`` in front of it; OPTIONS advertises only what is served (``DAV: 1``,
``Allow``: OPTIONS, PROPFIND, GET, HEAD, and DELETE on a torrent folder). PROPFIND: a multistatus for a collection is
rendered once and cached while the path leads to the same tree node (nodes
outlive snapshots while their torrents do not change), because WsgiDAV's
generic path builds a resource and an lxml tree per member (about 1.7 s for
10,000 members). A request's path is resolved once (``VFS.lookup``).
Errors from the VFS map to HTTP in one table, ``_dav_error``.

A browser's GET (or HEAD) of a collection gets an HTML folder page from
``DavFront`` too (``folder_page``): members with links, sizes and dates,
rendered from the VFS, no external assets; WsgiDAV's own dir browser stays off.
"""

from __future__ import annotations

import base64
import html
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import quote, unquote
from xml.etree import ElementTree

from wsgidav.dav_error import (
    HTTP_BAD_GATEWAY,
    HTTP_FORBIDDEN,
    HTTP_INTERNAL_ERROR,
    HTTP_NOT_FOUND,
    DAVError,
)
from wsgidav.dav_provider import DAVCollection, DAVNonCollection, DAVProvider
from wsgidav.wsgidav_app import WsgiDAVApp

from fs.paths import split
from fs.ranges import parse_range
from fs.vfs import VFS, Entry, Lookup
from gateway.auth import begin_attempt
from gateway.errors import GatewayError

log = logging.getLogger(__name__)
StartResponse = Callable[..., Any]
BLOCK_SIZE = 256 * 1024
PROPFIND_CACHE = 64
READ_METHODS = ("GET", "HEAD", "OPTIONS")
SERVED_METHODS = ("OPTIONS", "PROPFIND", "GET", "HEAD")   # and DELETE on a torrent folder
RANGE_END_KEY = "decypharr.range_end"
DAV_PROPS = ("resourcetype", "displayname", "getcontentlength", "getcontenttype",
             "getetag", "getlastmodified", "creationdate")


def _dav_error(exc: OSError) -> DAVError:
    """The one OSError → WebDAV status table."""
    if isinstance(exc, (FileNotFoundError, NotADirectoryError)):
        return DAVError(HTTP_NOT_FOUND)
    if isinstance(exc, (PermissionError, IsADirectoryError)):
        return DAVError(HTTP_FORBIDDEN)
    return DAVError(HTTP_INTERNAL_ERROR)


# ----------------------------------------------------------------- resources

class FileResource(DAVNonCollection):
    def __init__(self, path: str, environ: dict[str, Any], entry: Entry, vfs: VFS) -> None:
        super().__init__(path, environ)
        self._entry = entry
        self._vfs = vfs

    def get_content_length(self) -> int:
        return self._entry.size

    def get_content_type(self) -> str:
        return self._entry.content_type

    def get_last_modified(self) -> float:
        return self._entry.mtime

    def get_creation_date(self) -> float:
        return self._entry.mtime

    def get_etag(self) -> str:
        return self._entry.etag

    def support_etag(self) -> bool:
        return True

    def support_ranges(self) -> bool:
        return True

    def get_content(self) -> Any:
        try:
            return _Content(self._vfs.open(self.path, "webdav", self.environ.get(RANGE_END_KEY)))
        except OSError as exc:
            raise _dav_error(exc) from None


class _Content:
    """The file handle WsgiDAV reads from, with upstream failures mapped.

    WsgiDAV calls ``start_response`` before the first read; a failure then
    (the provider lost the file, the CDN is down) must still become a clean
    502 through WsgiDAV's error handling, not its generic 500.
    """

    def __init__(self, handle: Any) -> None:
        self._handle = handle

    def seek(self, offset: int, whence: int = 0) -> int:
        return int(self._handle.seek(offset, whence))

    def read(self, size: int = -1) -> bytes:
        try:
            return bytes(self._handle.read(size))
        except GatewayError as exc:
            raise DAVError(HTTP_BAD_GATEWAY, f"upstream: {exc}") from None
        except OSError as exc:
            raise DAVError(HTTP_BAD_GATEWAY, f"upstream: {exc.strerror or 'read failed'}") from None

    def close(self) -> None:
        self._handle.close()


class DirResource(DAVCollection):
    def __init__(self, path: str, environ: dict[str, Any], entry: Entry, vfs: VFS) -> None:
        super().__init__(path, environ)
        self._entry = entry
        self._vfs = vfs

    def get_last_modified(self) -> float:
        return self._entry.mtime

    def get_creation_date(self) -> float:
        return self._entry.mtime

    def get_member_names(self) -> list[str]:
        return [e.name for e in self._vfs.listdir(self.path)]

    def get_member_list(self) -> list[Any]:
        """One listdir, no per-member stat (WsgiDAV calls get_member per name by default)."""
        base = self.path.rstrip("/")
        return [_resource(f"{base}/{e.name}", self.environ, e, self._vfs) for e in self._vfs.listdir(self.path)]

    def get_member(self, name: str) -> Any:
        return self.provider.get_resource_inst(f"{self.path.rstrip('/')}/{name}", self.environ)


def _resource(path: str, environ: dict[str, Any], entry: Entry, vfs: VFS) -> Any:
    cls = DirResource if entry.is_dir else FileResource
    return cls(path, environ, entry, vfs)


class GatewayDAVProvider(DAVProvider):
    def __init__(self, vfs: VFS) -> None:
        super().__init__()
        self._vfs = vfs

    def is_readonly(self) -> bool:
        return False   # DELETE of torrent folders is allowed; every other write is refused

    def get_resource_inst(self, path: str, environ: dict[str, Any]) -> Any:
        try:
            entry = self._vfs.stat(path)
        except OSError:
            return None
        return _resource(path, environ, entry, self._vfs)


# ------------------------------------------------------------------ PROPFIND

_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def _dates(ts: float) -> tuple[str, str]:
    """(RFC 1123, ISO 8601) from one gmtime: a 100,000-member listing formats 200,000 dates,
    and email.utils.formatdate plus datetime.strftime took half its render time."""
    t = time.gmtime(ts)
    clock = f"{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d}"
    http = f"{_DAYS[t.tm_wday]}, {t.tm_mday:02d} {_MONTHS[t.tm_mon - 1]} {t.tm_year:04d} {clock} GMT"
    return http, f"{t.tm_year:04d}-{t.tm_mon:02d}-{t.tm_mday:02d}T{clock}Z"


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


def _prop_values(entry: Entry) -> dict[str, str]:
    modified, created = _dates(entry.mtime)
    values = {
        "resourcetype": "<D:collection/>" if entry.is_dir else "",
        "displayname": _escape(entry.name),
        "getlastmodified": modified,
        "creationdate": created,
        "getcontenttype": _escape(entry.content_type),
    }
    if not entry.is_dir:
        values["getcontentlength"] = str(entry.size)
        values["getetag"] = f'"{entry.etag}"'
    return values


Prop = tuple[str, str]   # (namespace, local name)


def _empty_element(prop: Prop) -> str:
    namespace, name = prop
    if namespace == "DAV:":
        return f"<D:{name}/>"
    if not namespace:   # a prefix cannot be bound to no namespace: undeclare the default one instead
        return f'<{name} xmlns=""/>'
    return f'<X:{name} xmlns:X="{_escape(namespace)}"/>'


def _allprop(href: str, entry: Entry) -> str:
    """``_response`` for allprop in one format: what a plain PROPFIND of a large group costs."""
    modified, created = _dates(entry.mtime)
    kind = "<D:resourcetype><D:collection/></D:resourcetype>" if entry.is_dir else "<D:resourcetype/>"
    head = f"<D:response><D:href>{_escape(href)}</D:href><D:propstat><D:prop>{kind}"
    tail = "" if entry.is_dir else (f"<D:getcontentlength>{entry.size}</D:getcontentlength>"
                                    f'<D:getetag>"{entry.etag}"</D:getetag>')
    return (f"{head}<D:displayname>{_escape(entry.name)}</D:displayname>"
            f"<D:getlastmodified>{modified}</D:getlastmodified><D:creationdate>{created}</D:creationdate>"
            f"<D:getcontenttype>{_escape(entry.content_type)}</D:getcontenttype>{tail}"
            "</D:prop><D:status>HTTP/1.1 200 OK</D:status></D:propstat></D:response>")


def _response(href: str, entry: Entry, props: tuple[Prop, ...] | None) -> str:
    if props is None:
        return _allprop(href, entry)
    values = _prop_values(entry)
    wanted = props if props is not None else tuple(("DAV:", name) for name in values)
    have = [name for ns, name in wanted if ns == "DAV:" and name in values]
    found = "".join(f"<D:{p}>{values[p]}</D:{p}>" if values[p] else f"<D:{p}/>" for p in have)
    parts = [f"<D:response><D:href>{_escape(href)}</D:href>",
             f"<D:propstat><D:prop>{found}</D:prop><D:status>HTTP/1.1 200 OK</D:status></D:propstat>"]
    missing = [p for p in wanted if not (p[0] == "DAV:" and p[1] in values)]
    if missing:
        empty = "".join(_empty_element(p) for p in missing)
        parts.append(f"<D:propstat><D:prop>{empty}</D:prop>"
                     "<D:status>HTTP/1.1 404 Not Found</D:status></D:propstat>")
    parts.append("</D:response>")
    return "".join(parts)


class BadPropfind(ValueError):
    """A PROPFIND body we cannot read."""


def parse_propfind(body: bytes) -> tuple[Prop, ...] | None:
    """None for allprop (or an empty body), else the DAV: property names asked for.

    Properties of other namespaces are answered as DAV: names we do not have
    (a 404 propstat), which is what a read-only server without dead
    properties should say.
    """
    if not body.strip():
        return None
    try:
        root = ElementTree.fromstring(body)
    except (ElementTree.ParseError, ValueError, LookupError) as exc:   # a bad XML or an unknown encoding
        raise BadPropfind(str(exc)) from None
    if root.tag != "{DAV:}propfind":
        raise BadPropfind("root element must be DAV:propfind")
    prop = root.find("{DAV:}prop")
    if prop is None:
        return None   # allprop, or propname answered with values (harmless superset)
    names = []
    for child in prop:
        namespace, _, name = child.tag[1:].partition("}") if child.tag.startswith("{") else ("", "", child.tag)
        names.append((namespace, name))
    return tuple(names)


class DavFront:
    """In front of WsgiDAV: answers PROPFIND from cached renderings, and checks
    Range headers with the same rules as the browse API (WsgiDAV accepts
    reversed ranges); everything else goes to WsgiDAV."""

    def __init__(self, app: Any, vfs: VFS, href_prefix: str) -> None:
        self._app = app
        self._vfs = vfs
        self._prefix = href_prefix.rstrip("/")
        self._cache: OrderedDict[tuple[Any, ...], tuple[object, bytes]] = OrderedDict()
        self._lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        method = environ.get("REQUEST_METHOD")
        environ.setdefault("wsgidav.auth.user_name", "")
        if _escapes(environ):
            return _not_found(start_response, head=method == "HEAD")
        if method in ("GET", "HEAD"):
            page = self._folder_page(environ, start_response, head=method == "HEAD")
            if page is not None:
                return page
        if method == "PROPFIND":
            return self._propfind(environ, start_response)
        if method == "DELETE":
            return self._delete(environ, start_response)
        if method == "OPTIONS":
            return self._options(environ, start_response)
        if method not in READ_METHODS:
            # The tree is read-only but for DELETE of a torrent folder (checked by the VFS).
            return _reply(start_response, "403 Forbidden", b"read-only\n", "text/plain")
        if method in ("GET", "HEAD") and environ.get("HTTP_RANGE"):
            refused = self._check_range(environ, start_response)
            if refused is not None:
                return refused
        return self._app(environ, start_response)  # type: ignore[no-any-return]

    def _options(self, environ: dict[str, Any], start_response: StartResponse) -> list[bytes]:
        """What this path serves, and no more: class 1 only (no LOCK), no write but DELETE
        of a torrent folder (WsgiDAV's own answer lists COPY, MOVE, PROPPATCH, PUT...)."""
        path = _options_path(environ)
        try:
            found = self._vfs.lookup(path)
        except OSError:
            return _reply(start_response, "404 Not Found", b"not found\n", "text/plain")
        allow = list(SERVED_METHODS)
        if _is_torrent_folder(path, found):
            allow.append("DELETE")
        headers = [("Content-Type", "text/plain"), ("Content-Length", "0"), ("DAV", "1"),
                   ("Allow", ", ".join(allow)), ("MS-Author-Via", "DAV")]
        if not found.entry.is_dir:
            headers.append(("Accept-Ranges", "bytes"))
        start_response("200 OK", headers)
        return [b""]

    def _delete(self, environ: dict[str, Any], start_response: StartResponse) -> list[bytes]:
        """DELETE of a torrent folder removes the torrent (library and provider)."""
        try:
            self._vfs.remove(_path_info(environ))
        except FileNotFoundError:
            return _reply(start_response, "404 Not Found", b"not found\n", "text/plain")
        except OSError:
            return _reply(start_response, "403 Forbidden", b"only torrent folders can be deleted\n", "text/plain")
        except GatewayError as exc:
            log.warning("DELETE %s: %s", environ.get("PATH_INFO"), exc)
            return _reply(start_response, "502 Bad Gateway", b"the provider refused the delete\n", "text/plain")
        start_response("204 No Content", [("Content-Length", "0")])
        return [b""]

    def _check_range(self, environ: dict[str, Any], start_response: StartResponse) -> list[bytes] | None:
        """416 for a bad range; a good one is rewritten to the plain form WsgiDAV reads."""
        try:
            entry = self._vfs.stat(_path_info(environ))
        except OSError:
            return None   # WsgiDAV answers the 404
        if entry.is_dir or entry.size == 0:
            return None
        try:
            start, end = parse_range(environ["HTTP_RANGE"], entry.size)
        except ValueError as exc:
            body = f"{exc}\n".encode()
            start_response("416 Range Not Satisfiable", [
                ("Content-Type", "text/plain"), ("Content-Length", str(len(body))),
                ("Content-Range", f"bytes */{entry.size}")])
            return [body]
        environ["HTTP_RANGE"] = f"bytes={start}-{end}"
        environ[RANGE_END_KEY] = end   # the reader asks upstream for no more than this
        return None

    def _propfind(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        depth = environ.get("HTTP_DEPTH", "infinity").strip().lower()
        path = _path_info(environ)
        try:
            found = self._vfs.lookup(path)   # the one resolution of this request's path
        except OSError:
            return _reply(start_response, "404 Not Found", b"not found\n", "text/plain")
        if depth not in ("0", "1") and found.entry.is_dir:   # depth means nothing on a file
            body = (b'<?xml version="1.0" encoding="utf-8"?>\n<D:error xmlns:D="DAV:">'
                    b"<D:propfind-finite-depth/></D:error>")
            return _reply(start_response, "403 Forbidden", body, "application/xml; charset=utf-8")
        try:
            props = parse_propfind(_read_body(environ))
        except BadPropfind as exc:
            return _reply(start_response, "400 Bad Request", f"bad PROPFIND body: {exc}\n".encode(), "text/plain")
        payload = self._render(path, "0" if depth == "0" else "1", props, found)
        return _reply(start_response, "207 Multi-Status", payload, "application/xml; charset=utf-8")

    def _folder_page(self, environ: dict[str, Any], start_response: StartResponse, *,
                     head: bool) -> list[bytes] | None:
        """The HTML page of a collection; None for a file (or nothing: WsgiDAV answers)."""
        path = _path_info(environ)
        try:
            found = self._vfs.lookup(path)
        except OSError:
            return None
        if not found.entry.is_dir:
            return None
        clean = "/" + "/".join(p for p in path.split("/") if p)
        payload = self._cached((clean, "html"), found, lambda: folder_page(self._prefix, clean, found.members()))
        start_response("200 OK", [("Content-Type", "text/html; charset=utf-8"),
                                  ("Content-Length", str(len(payload))), ("Cache-Control", "no-cache"),
                                  ("X-Content-Type-Options", "nosniff"),
                                  ("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'"),
                                  ("DAV", "1")])
        return [b""] if head else [payload]

    def _render(self, path: str, depth: str, props: tuple[Prop, ...] | None, found: Lookup) -> bytes:
        return self._cached((path, depth, props), found, lambda: self._build(path, depth, props, found))

    def _cached(self, key: tuple[Any, ...], found: Lookup, build: Callable[[], bytes]) -> bytes:
        """A rendering is kept per request shape and reused while the path resolves to
        the same tree node: nodes outlive snapshots while their torrents do not change,
        so a sync batch elsewhere in the library does not throw this away."""
        with self._lock:
            cached = self._cache.get(key)
            if cached is not None and cached[0] is found.token:
                self._cache.move_to_end(key)
                return cached[1]
        payload = build()
        with self._lock:
            self._cache[key] = (found.token, payload)
            self._cache.move_to_end(key)
            while len(self._cache) > PROPFIND_CACHE:
                self._cache.popitem(last=False)
        return payload

    def _build(self, path: str, depth: str, props: tuple[Prop, ...] | None, found: Lookup) -> bytes:
        entry = found.entry
        clean = "/" + "/".join(p for p in path.split("/") if p)
        base = self._prefix + quote(clean.rstrip("/"), safe="/")
        own = base + "/" if entry.is_dir else base or "/"
        out = ['<?xml version="1.0" encoding="utf-8"?>\n<D:multistatus xmlns:D="DAV:">',
               _response(own, entry, props)]
        if entry.is_dir and depth != "0":
            for child in found.members():
                href = f"{base}/{quote(child.name, safe='')}" + ("/" if child.is_dir else "")
                out.append(_response(href, child, props))
        out.append("</D:multistatus>")
        return "".join(out).encode("utf-8")


def _path_info(environ: dict[str, Any]) -> str:
    """The request's tree path. The server has percent-decoded PATH_INFO once (as
    WsgiDAV, with ``unquote_path_info`` off, takes it): decoding again would turn a
    name holding ``%41`` into ``A``, so the link of such an entry would miss it."""
    raw = environ.get("PATH_INFO", "/") or "/"
    # WSGI gives PATH_INFO as latin-1 decoded bytes; names are UTF-8.
    try:
        return raw.encode("latin-1").decode("utf-8")
    except UnicodeError:
        return raw


def _options_path(environ: dict[str, Any]) -> str:
    """The tree path of an OPTIONS request. cheroot leaves an OPTIONS request's path
    percent-encoded (it decodes every other method's): when PATH_INFO is still the raw
    request path, decode it here, once."""
    path = _path_info(environ)
    raw = str(environ.get("REQUEST_URI", "") or "").split("?", 1)[0]
    if "%" in path and raw and raw == str(environ.get("SCRIPT_NAME", "")) + str(environ.get("PATH_INFO", "")):
        return unquote(path)
    return path


def _is_torrent_folder(path: str, found: Lookup) -> bool:
    """A ``/<group>/<torrent>`` folder: the one thing DELETE removes (``VFS.remove``)."""
    try:
        parts = split(path)
    except FileNotFoundError:
        return False
    return len(parts) == 2 and found.entry.is_dir and getattr(found.token, "torrent", None) is not None


def _escapes(environ: dict[str, Any]) -> bool:
    """A path with '..' (plain, %2e%2e, or encoded twice) or NUL names nothing in the tree.

    It must be refused here: WsgiDAV answers it with a 400 from inside its
    generator ``__call__``, where the body is lost after the headers went out
    (``Content-Length: 421``, no bytes), so the client hangs until it times out.
    The twice-decoded form is checked too, in case anything below decodes again.
    """
    path = _path_info(environ)
    for candidate in (path, unquote(path)):
        try:
            split(candidate)
        except FileNotFoundError:
            return True
    return False


# ---------------------------------------------------------------- folder page

_UNITS = ("B", "KiB", "MiB", "GiB", "TiB", "PiB")
_PAGE_STYLE = ("body{font-family:system-ui,sans-serif;margin:2em;color:#222}"
               "table{border-collapse:collapse}td,th{padding:.2em 1em;text-align:left}"
               "td.n{text-align:right;font-variant-numeric:tabular-nums}tr:hover{background:#f3f3f3}"
               "a{text-decoration:none}a:hover{text-decoration:underline}")


def human_size(size: int) -> str:
    value = float(size)
    for unit in _UNITS:
        if value < 1024 or unit == _UNITS[-1]:
            return f"{size} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} B"   # not reached


def _href(mount_path: str, parts: list[str], is_dir: bool) -> str:
    """An absolute link: the mount path (with url_base), each segment percent-encoded."""
    tail = "".join("/" + quote(part, safe="") for part in parts)
    return html.escape(f"{mount_path}{tail}{'/' if is_dir else ''}" or "/", quote=True)


def folder_page(mount_path: str, path: str, members: Iterable[Entry]) -> bytes:
    """The HTML listing of one folder: folders first, then files, by name; every
    name escaped, every link percent-encoded per segment under ``mount_path``."""
    mount_path = mount_path.rstrip("/")
    parts = [p for p in path.split("/") if p]
    title = html.escape("/" + "/".join(parts) + ("/" if parts else ""))
    rows = []
    if parts:
        rows.append(f'<tr><td><a href="{_href(mount_path, parts[:-1], True)}">../</a></td>'
                    '<td class="n"></td><td></td></tr>')
    ordered = sorted(members, key=lambda e: (not e.is_dir, e.name))
    for entry in ordered:
        shown = html.escape(entry.name + ("/" if entry.is_dir else ""), quote=True)
        modified = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(entry.mtime))
        rows.append(f'<tr><td><a href="{_href(mount_path, [*parts, entry.name], entry.is_dir)}">{shown}</a></td>'
                    f'<td class="n" title="{entry.size} bytes">{human_size(entry.size)}</td>'
                    f"<td>{modified}</td></tr>")
    folders = sum(1 for e in ordered if e.is_dir)
    summary = f"{folders} folder{'s' if folders != 1 else ''}, {len(ordered) - folders} " \
              f"file{'s' if len(ordered) - folders != 1 else ''}"
    page = ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>Index of {title}</title><style>{_PAGE_STYLE}</style></head><body>"
            f"<h1>Index of {title}</h1><p>{summary}</p>"
            "<table><thead><tr><th>Name</th><th>Size</th><th>Modified</th></tr></thead><tbody>"
            + "".join(rows) + "</tbody></table></body></html>\n")
    return page.encode("utf-8")


def _not_found(start_response: StartResponse, *, head: bool) -> list[bytes]:
    """The 404 of every method; a HEAD gets the headers only (cheroot sends what it is given)."""
    body = _reply(start_response, "404 Not Found", b"not found\n", "text/plain")
    return [b""] if head else body


def _read_body(environ: dict[str, Any]) -> bytes:
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        raise BadPropfind("bad Content-Length") from None
    if length > 1 << 20:
        raise BadPropfind("body too large")
    return environ["wsgi.input"].read(length) if length > 0 else b""


def _reply(start_response: StartResponse, status: str, body: bytes, content_type: str) -> list[bytes]:
    start_response(status, [("Content-Type", content_type), ("Content-Length", str(len(body))),
                            ("DAV", "1")])
    return [body]


# --------------------------------------------------------------------- build

class BasicAuth:
    """HTTP Basic in front of everything (``enable_webdav_auth``), or in front of
    DELETE only: reads may be open, but a stranger never deletes a torrent.

    Password checks are throttled per client IP (``REMOTE_ADDR``) and username, as
    every login is (``gateway.auth.LoginThrottle``): a banned client gets 429."""

    def __init__(self, app: Any, check: Callable[[str, str], bool], *, reads_too: bool) -> None:
        self._app = app
        self._check = check
        self._reads_too = reads_too

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        method = environ.get("REQUEST_METHOD", "")
        attempt = begin_attempt(str(environ.get("REMOTE_ADDR", "") or ""))
        if (self._reads_too or method not in READ_METHODS + ("PROPFIND",)) and not self._authorized(environ):
            if attempt is not None and attempt.refused_for > 0:
                body = b"too many failed logins\n"
                start_response("429 Too Many Requests", [
                    ("Retry-After", str(max(1, int(attempt.refused_for + 0.999)))),
                    ("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
                return [body]
            start_response("401 Unauthorized", [("WWW-Authenticate", 'Basic realm="decypharr", charset="UTF-8"'),
                                                ("Content-Type", "text/plain"), ("Content-Length", "13")])
            return [b"unauthorized\n"]
        return self._app(environ, start_response)  # type: ignore[no-any-return]

    def _authorized(self, environ: dict[str, Any]) -> bool:
        header = environ.get("HTTP_AUTHORIZATION", "")
        if header[:6].lower() != "basic ":
            return False
        try:
            username, _, password = base64.b64decode(header[6:].strip()).decode("utf-8").partition(":")
        except (ValueError, UnicodeDecodeError):
            return False
        return self._check(username, password)


def make_dav_app(vfs: VFS, mount_path: str) -> Any:
    """The WebDAV WSGI app for ``mount_path`` (e.g. '/webdav' or '/base/webdav').

    Authentication wraps this app from outside (``BasicAuth``), so PROPFIND
    and WsgiDAV's methods are guarded alike.
    """
    from wsgidav.error_printer import ErrorPrinter
    from wsgidav.request_resolver import RequestResolver

    stack: list[Any] = [ErrorPrinter, RequestResolver]
    config = {
        "provider_mapping": {"/": GatewayDAVProvider(vfs)},
        "mount_path": mount_path,
        "lock_storage": False,
        "property_manager": None,
        "block_size": BLOCK_SIZE,
        "middleware_stack": stack,
        "simple_dc": {"user_mapping": {"*": True}},
        "logging": {"enable": False},
        "verbose": 1,
        "dir_browser": {"enable": False},
        "hotfixes": {"re_encode_path_info": True, "unquote_path_info": False},
    }
    return DavFront(WsgiDAVApp(config), vfs, mount_path)
