"""PROPFIND, rendered by hand: the one WebDAV method where WsgiDAV is too slow.

WsgiDAV's generic PROPFIND builds a resource and an lxml tree per member
(about 1.7 s for 10,000 members); this renders a multistatus with string
formatting (about 0.26 s for the same listing the first time) and
``RenderCache`` keeps the bytes while the path leads to the same tree node, so
a repeated listing costs a dictionary hit (docs/benchmarks.md: 0.10x
``rclone serve webdav`` at 10,000 members).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import quote
from xml.etree import ElementTree

from cachetools import LRUCache

from fs.vfs import Entry, Lookup

PROPFIND_CACHE = 64
Prop = tuple[str, str]   # (namespace, local name)
_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


class BadPropfind(ValueError):
    """A PROPFIND body we cannot read."""


def parse_propfind(body: bytes) -> tuple[Prop, ...] | None:
    """None for allprop (or an empty body), else the property names asked for.

    Properties of other namespaces are answered as names we do not have (a
    404 propstat), which is what a read-only server without dead properties
    should say.
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


def multistatus(prefix: str, key: str, depth: str, props: tuple[Prop, ...] | None, found: Lookup) -> bytes:
    """The 207 body for ``key`` (the request's path as ``fs.webdav.request.key_of`` gives it,
    already resolved as ``found``) at Depth 0 or 1; hrefs start with ``prefix``, the mount
    path WsgiDAV serves (url_base included)."""
    entry = found.entry
    base = prefix + quote(key.rstrip("/"), safe="/")
    own = base + "/" if entry.is_dir else base or "/"
    out = ['<?xml version="1.0" encoding="utf-8"?>\n<D:multistatus xmlns:D="DAV:">', _response(own, entry, props)]
    if entry.is_dir and depth != "0":
        for child in found.members():
            href = f"{base}/{quote(child.name, safe='')}" + ("/" if child.is_dir else "")
            out.append(_response(href, child, props))
    out.append("</D:multistatus>")
    return "".join(out).encode("utf-8")


def _dates(ts: float) -> tuple[str, str]:
    """(RFC 1123, ISO 8601) from one gmtime: a 100,000-member listing formats 200,000 dates,
    and email.utils.formatdate plus datetime.strftime took half its render time."""
    t = time.gmtime(ts)
    clock = f"{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d}"
    http = f"{_DAYS[t.tm_wday]}, {t.tm_mday:02d} {_MONTHS[t.tm_mon - 1]} {t.tm_year:04d} {clock} GMT"
    return http, f"{t.tm_year:04d}-{t.tm_mon:02d}-{t.tm_mday:02d}T{clock}Z"


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


def _allprop(href: str, entry: Entry) -> str:
    """A response for allprop in one format: what a plain PROPFIND of a large group costs."""
    modified, created = _dates(entry.mtime)
    kind = "<D:resourcetype><D:collection/></D:resourcetype>" if entry.is_dir else "<D:resourcetype/>"
    head = f"<D:response><D:href>{_escape(href)}</D:href><D:propstat><D:prop>{kind}"
    tail = "" if entry.is_dir else (f"<D:getcontentlength>{entry.size}</D:getcontentlength>"
                                    f'<D:getetag>"{entry.etag}"</D:getetag>')
    return (f"{head}<D:displayname>{_escape(entry.name)}</D:displayname>"
            f"<D:getlastmodified>{modified}</D:getlastmodified><D:creationdate>{created}</D:creationdate>"
            f"<D:getcontenttype>{_escape(entry.content_type)}</D:getcontenttype>{tail}"
            "</D:prop><D:status>HTTP/1.1 200 OK</D:status></D:propstat></D:response>")


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


def _empty_element(prop: Prop) -> str:
    namespace, name = prop
    if namespace == "DAV:":
        return f"<D:{name}/>"
    if not namespace:   # a prefix cannot be bound to no namespace: undeclare the default one instead
        return f'<{name} xmlns=""/>'
    return f'<X:{name} xmlns:X="{_escape(namespace)}"/>'


def _response(href: str, entry: Entry, props: tuple[Prop, ...] | None) -> str:
    """One member's response: allprop, or the named properties (a 404 propstat for those we lack)."""
    if props is None:
        return _allprop(href, entry)
    values = _prop_values(entry)
    have = [name for ns, name in props if ns == "DAV:" and name in values]
    found = "".join(f"<D:{p}>{values[p]}</D:{p}>" if values[p] else f"<D:{p}/>" for p in have)
    parts = [f"<D:response><D:href>{_escape(href)}</D:href>",
             f"<D:propstat><D:prop>{found}</D:prop><D:status>HTTP/1.1 200 OK</D:status></D:propstat>"]
    missing = [p for p in props if not (p[0] == "DAV:" and p[1] in values)]
    if missing:
        empty = "".join(_empty_element(p) for p in missing)
        parts.append(f"<D:propstat><D:prop>{empty}</D:prop>"
                     "<D:status>HTTP/1.1 404 Not Found</D:status></D:propstat>")
    parts.append("</D:response>")
    return "".join(parts)


class RenderCache:
    """Renderings (PROPFIND bodies, folder pages) kept per request shape and reused while
    the path resolves to the same tree node: nodes outlive snapshots while their torrents
    do not change, so a sync batch elsewhere in the library does not throw one away."""

    def __init__(self, size: int = PROPFIND_CACHE) -> None:
        self._items: LRUCache[tuple[Any, ...], tuple[object, bytes]] = LRUCache(size)
        self._lock = threading.Lock()

    def get(self, key: tuple[Any, ...], found: Lookup, build: Callable[[], bytes]) -> bytes:
        with self._lock:
            cached = self._items.get(key)   # a hit counts as a use
            if cached is not None and cached[0] is found.token:
                return cached[1]
        payload = build()   # outside the lock: a large render must not stall other listings
        with self._lock:
            self._items[key] = (found.token, payload)
        return payload
