"""The WebDAV app: WsgiDAV, with the VFS as its provider.

``GatewayDAVApp`` is WsgiDAV's own application with one step in front: HTTP
Basic when configured (``fs.webdav.auth``), then a path that escapes the tree
gets a whole 404 (WsgiDAV's answer to it would be
cut short), and the request's path is resolved once (``fs.webdav.request``).
From there WsgiDAV does the protocol: it maps the mount path, dispatches the
method (405 for one this class 1 server does not have), runs DELETE, and
turns every ``DAVError`` into a complete answer (``ErrorPrinter``).

PROPFIND alone skips that dispatch: it is what a WebDAV client and rclone send
for every folder they open, its handler needs nothing WsgiDAV sets up, and
WsgiDAV's app, ``ErrorPrinter``, ``RequestResolver`` and ``RequestServer`` took
a fifth of the server's time for a one-folder PROPFIND (docs/benchmarks.md).
Its errors are still WsgiDAV's answers (``send_status_response``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Any

from wsgidav import util
from wsgidav.dav_error import DAVError, as_DAVError
from wsgidav.error_printer import ErrorPrinter
from wsgidav.request_resolver import RequestResolver
from wsgidav.wsgidav_app import WsgiDAVApp

from fs.vfs import VFS
from fs.webdav.auth import BasicAuth
from fs.webdav.methods import Methods
from fs.webdav.provider import GatewayDAVProvider, Handler
from fs.webdav.request import RESOLVED, escapes, request_path, resolve

log = logging.getLogger(__name__)
StartResponse = Callable[..., Any]


class GatewayDAVApp(WsgiDAVApp):
    def __init__(self, config: dict[str, Any], vfs: VFS, auth: BasicAuth | None, propfind: Handler) -> None:
        super().__init__(config)
        self._vfs = vfs
        self._auth = auth
        self._propfind = propfind

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        refused = self._auth.refusal(environ, start_response) if self._auth is not None else None
        if refused is not None:
            return refused
        environ.setdefault("wsgidav.auth.user_name", "")
        path = request_path(environ)
        if escapes(path):
            body = b"not found\n"
            start_response("404 Not Found", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
            return [b""] if environ.get("REQUEST_METHOD") == "HEAD" else [body]
        environ[RESOLVED] = resolve(self._vfs, path)
        if environ.get("REQUEST_METHOD") == "PROPFIND":
            return self._propfind_direct(environ, start_response)
        return super().__call__(environ, start_response)  # type: ignore[no-any-return]

    def _propfind_direct(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        """PROPFIND without WsgiDAV's dispatch; its errors answered as ``ErrorPrinter`` would."""
        try:
            return self._propfind(environ, start_response)
        except DAVError as exc:
            return util.send_status_response(environ, start_response, exc)  # type: ignore[no-any-return]
        except Exception as exc:   # a bug: a whole 500, and its traceback in the log (ErrorPrinter logs it too)
            log.exception("PROPFIND %s failed", environ.get("PATH_INFO"))
            return util.send_status_response(environ, start_response, as_DAVError(exc))  # type: ignore[no-any-return]


def make_dav_app(vfs: VFS, mount_path: str, auth: BasicAuth | None = None) -> Any:
    """The WebDAV WSGI app for ``mount_path`` (e.g. '/webdav' or '/base/webdav'); with
    ``auth``, every request passes it first, whatever its method or path."""
    methods = Methods(vfs, mount_path)
    config = {
        "provider_mapping": {"/": GatewayDAVProvider(vfs, methods.table())},
        "mount_path": mount_path,
        "lock_storage": False,
        "property_manager": None,
        "middleware_stack": [ErrorPrinter, RequestResolver],
        "simple_dc": {"user_mapping": {"*": True}},
        "logging": {"enable": False},
        "verbose": 1,
        "dir_browser": {"enable": False},
        "hotfixes": {"re_encode_path_info": True, "unquote_path_info": False},
    }
    return GatewayDAVApp(config, vfs, auth, methods.propfind)
