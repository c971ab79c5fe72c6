"""The WebDAV frontend: WsgiDAV over the VFS (docs/architecture.md, "WebDAV").

- ``app``: WsgiDAV wired to the VFS; the path of each request resolved once.
- ``request``: that resolution, carried in the WSGI environ.
- ``provider``: the WsgiDAV provider and resources (DELETE runs through WsgiDAV).
- ``methods``: GET/HEAD (``fs.ranges``), PROPFIND, OPTIONS, read-only refusals.
- ``propfind``: the fast multistatus renderer and its cache.
- ``pages``: the HTML folder page.
- ``auth``: HTTP Basic with the login throttle, asked first by ``app``.
"""

from fs.webdav.app import make_dav_app
from fs.webdav.auth import BasicAuth

__all__ = ["BasicAuth", "make_dav_app"]
