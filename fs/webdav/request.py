"""One WebDAV request's tree path, resolved once, carried in the WSGI environ.

``GatewayDAVApp`` resolves the path before WsgiDAV sees the request and puts a
``Resolved`` under ``RESOLVED``; the provider and every method handler read it
from there, so no request walks the tree twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from fs.paths import split
from fs.vfs import VFS, Lookup

RESOLVED = "decypharr.resolved"


@dataclass(frozen=True, slots=True)
class Resolved:
    path: str                 # the tree path, decoded
    key: str                  # the path as WsgiDAV will name it: '/a/b', no trailing slash
    found: Lookup | None      # None: nothing in the tree has this path


def request_path(environ: dict[str, Any]) -> str:
    """The request's tree path, decoded once for ``escapes`` and ``resolve``."""
    return _options_path(environ) if environ.get("REQUEST_METHOD") == "OPTIONS" else path_info(environ)


def resolve(vfs: VFS, path: str) -> Resolved:
    try:
        found: Lookup | None = vfs.lookup(path)
    except OSError:
        found = None
    return Resolved(path, key_of(path), found)


def key_of(path: str) -> str:
    return "/" + "/".join(p for p in path.split("/") if p)


def resolved(environ: dict[str, Any]) -> Resolved:
    value: Resolved = environ[RESOLVED]
    return value


def path_info(environ: dict[str, Any]) -> str:
    """The request's tree path. The server has percent-decoded PATH_INFO once (as
    WsgiDAV, with ``unquote_path_info`` off, takes it): decoding again would turn a
    name holding ``%41`` into ``A``, so the link of such an entry would miss it."""
    raw = environ.get("PATH_INFO", "/") or "/"
    # WSGI gives PATH_INFO as latin-1 decoded bytes; names are UTF-8.
    try:
        return str(raw.encode("latin-1").decode("utf-8"))
    except UnicodeError:
        return str(raw)


def _options_path(environ: dict[str, Any]) -> str:
    """The tree path of an OPTIONS request. cheroot leaves an OPTIONS request's path
    percent-encoded (it decodes every other method's): when PATH_INFO is still the raw
    request path, decode it here, once."""
    path = path_info(environ)
    raw = str(environ.get("REQUEST_URI", "") or "").split("?", 1)[0]
    if "%" in path and raw and raw == str(environ.get("SCRIPT_NAME", "")) + str(environ.get("PATH_INFO", "")):
        return unquote(path)
    return path


def escapes(path: str) -> bool:
    """A path with '..' (plain, %2e%2e, or encoded twice) or NUL names nothing in the tree.

    It must be refused before WsgiDAV: WsgiDAV answers it with a 400 from inside its
    generator ``__call__``, where the body is lost after the headers went out
    (``Content-Length: 421``, no bytes), so the client hangs until it times out.
    The twice-decoded form is checked too, in case anything below decodes again.
    """
    for candidate in (path, unquote(path)) if "%" in path else (path,):
        try:
            split(candidate)
        except FileNotFoundError:
            return True
    return False
