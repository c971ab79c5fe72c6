"""The VFS as a WsgiDAV provider: resources over the request's one lookup.

WsgiDAV drives DELETE itself (Depth, If-headers, Content-Length, 204, one
status for a single error) through ``DAVResource.handle_delete``. Every
other method it dispatches reaches ``custom_request_handler`` (WsgiDAV's
hook for a provider that serves a method its own way) and goes to
``fs.webdav.methods``. Methods WsgiDAV does not dispatch (LOCK: this is a
class 1 server) get its 405.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Any, Self

from wsgidav.dav_error import HTTP_BAD_GATEWAY, HTTP_FORBIDDEN, HTTP_INTERNAL_ERROR, HTTP_NOT_FOUND, DAVError
from wsgidav.dav_provider import DAVCollection, DAVNonCollection, DAVProvider

from fs.vfs import VFS, Lookup
from fs.webdav.request import RESOLVED, Resolved, key_of
from gateway.errors import GatewayError

log = logging.getLogger(__name__)
Handler = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def dav_error(exc: OSError) -> DAVError:
    """The one OSError → WebDAV status table."""
    if isinstance(exc, (FileNotFoundError, NotADirectoryError)):
        return DAVError(HTTP_NOT_FOUND)
    if isinstance(exc, (PermissionError, IsADirectoryError)):
        return DAVError(HTTP_FORBIDDEN)
    return DAVError(HTTP_INTERNAL_ERROR)


def _delete(vfs: VFS, found: Lookup, path: str) -> bool:
    """DELETE of a torrent folder removes the torrent (library and provider); the VFS
    refuses anything else. Raises the DAVError WsgiDAV answers with."""
    try:
        vfs.remove_found(found, path)
    except FileNotFoundError:
        raise DAVError(HTTP_NOT_FOUND) from None
    except OSError:
        raise DAVError(HTTP_FORBIDDEN, "only torrent folders can be deleted") from None
    except GatewayError as exc:
        log.warning("DELETE %s: %s", path, exc)
        raise DAVError(HTTP_BAD_GATEWAY, "the provider refused the delete") from None
    return True


class _FromLookup:
    """What both kinds of resource take from the request's one lookup."""

    path: str
    _found: Lookup
    _vfs: VFS

    def bind(self, found: Lookup, vfs: VFS) -> Self:
        self._found = found
        self._vfs = vfs
        return self

    def get_last_modified(self) -> float:
        return self._found.entry.mtime

    def handle_delete(self) -> bool:
        return _delete(self._vfs, self._found, self.path)


class FileResource(_FromLookup, DAVNonCollection):
    """A file, as WsgiDAV's DELETE sees it: its If-Match / If-Unmodified-Since checks read
    the ETag and time from the Entry (GET, HEAD and PROPFIND are ``fs.webdav.methods``)."""

    def get_content_length(self) -> int:
        return self._found.entry.size

    def get_content(self) -> Any:   # abstract in WsgiDAV; its GET never runs (methods.get serves files)
        raise DAVError(HTTP_FORBIDDEN)

    def get_etag(self) -> str:
        return self._found.entry.etag

    def support_etag(self) -> bool:
        return True


class DirResource(_FromLookup, DAVCollection):
    def get_member_names(self) -> list[str]:   # abstract in WsgiDAV; from the one lookup
        return [e.name for e in self._found.members()]


class GatewayDAVProvider(DAVProvider):
    """Resources for WsgiDAV, built from the lookup ``GatewayDAVApp`` made for this request."""

    def __init__(self, vfs: VFS, methods: dict[str, Handler]) -> None:
        super().__init__()
        self._vfs = vfs
        self._methods = methods

    def get_resource_inst(self, path: str, environ: dict[str, Any]) -> Any:
        found = self._lookup(path, environ)
        if found is None:
            return None
        cls = DirResource if found.entry.is_dir else FileResource
        return cls(path, environ).bind(found, self._vfs)

    def _lookup(self, path: str, environ: dict[str, Any]) -> Lookup | None:
        request: Resolved | None = environ.get(RESOLVED)
        if request is not None and request.key == key_of(path):
            return request.found   # this request's path: resolved once, before WsgiDAV
        try:
            return self._vfs.lookup(path)   # another path (DELETE asks for the parent's locks)
        except OSError:
            return None

    def custom_request_handler(self, environ: dict[str, Any], start_response: Callable[..., Any],
                               default_handler: Handler) -> Iterable[bytes]:
        handler = self._methods.get(environ["REQUEST_METHOD"], default_handler)
        return handler(environ, start_response)
