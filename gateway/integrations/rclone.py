"""A user's rclone mount of our WebDAV tree, told of changes through its remote control.

``rclone mount --rc`` caches directory listings for ``--dir-cache-time``; after a change
the gateway posts ``vfs/forget`` for the changed folders and ``vfs/refresh`` for their
parents (paths relative to the WebDAV root, as the mount sees them), batched, so a new
torrent shows at once. A new or vanished group (a category first used) refreshes the root.
"""

from __future__ import annotations

import logging
import posixpath
from typing import Any

import requests

from gateway.clock import Clock
from gateway.config import RcloneRcConfig
from gateway.integrations.batch import WINDOW, Batcher
from gateway.integrations.http import call
from gateway.integrations.tree import EVENT

log = logging.getLogger(__name__)

ROOT = ""


def _numbered(key: str, values: list[str]) -> dict[str, str]:
    """rclone's way of passing several: dir, dir2, dir3 ..."""
    return {key if i == 0 else f"{key}{i + 1}": value for i, value in enumerate(values)}


class RcloneRc:
    def __init__(self, config: RcloneRcConfig, clock: Clock, window: float = WINDOW,
                 session: requests.Session | None = None) -> None:
        self._config = config
        self._session = session or requests.Session()
        if config.username or config.password:
            self._session.auth = (config.username, config.password)
        self._batch: Batcher[str, bool] = Batcher("rclone rc", self._send, clock, window)

    def start(self) -> RcloneRc:
        self._batch.start()
        log.info("rclone rc: telling %s of tree changes", self._config.url)
        return self

    def stop(self) -> None:
        self._batch.stop()
        self._session.close()

    def on_event(self, name: str, payload: dict[str, Any]) -> None:
        if name != EVENT:
            return
        for kind in ("created", "modified", "deleted"):
            for path in payload.get(kind, ()):
                self._batch.add(path, True)

    def _send(self, batch: dict[str, bool]) -> None:
        folders = sorted(batch)
        parents = sorted({posixpath.dirname(f) for f in folders})
        call(self._session, "POST", f"{self._config.url}/vfs/forget", json=_numbered("dir", folders))
        # The parent listing is read again: the new folder shows, a deleted one goes.
        call(self._session, "POST", f"{self._config.url}/vfs/refresh", json=_numbered("dir", parents))
        log.info("rclone rc: refreshed %d folder(s) in %s", len(folders), ", ".join(p or "/" for p in parents))
