"""Media servers (Plex, Jellyfin, Emby) asked to scan just the folders that changed.

Listens on the event bus: an import completing (``download_complete``: the torrent's folder
in every tree group under ``mount.mount_path``, and ``content_path`` when the action wrote
one), a repair that re-added or replaced files (``repair_complete``: the folders of the
*arr's files, and the re-added torrent's folders), and torrents leaving the tree
(``tree_changed`` deletions). Each folder is mapped through the server's ``path_map`` and
batched per server (``batch.py``); a server that is down never delays the import.

Plex: ``GET /library/sections/{id}/refresh?path=<folder>`` per folder, the section being the
one whose location holds the folder (read once from ``/library/sections`` and cached, read
again when a folder fits none). Jellyfin and Emby: one ``POST /Library/Media/Updated`` per
batch with an update per folder.
"""

from __future__ import annotations

import logging
import os
import posixpath
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Protocol

import requests
from defusedxml import ElementTree

from gateway.clock import Clock
from gateway.config import MediaServerConfig
from gateway.integrations.batch import WINDOW, Batcher, Refused
from gateway.integrations.http import call
from gateway.integrations.tree import EVENT
from gateway.library.snapshot import DirNode, Snapshot

log = logging.getLogger(__name__)

CREATED, MODIFIED, DELETED = "Created", "Modified", "Deleted"
SECTIONS_TTL = 60.0   # a folder no section holds reads the sections again, at most this often


def map_path(path: str, path_map: Iterable[tuple[str, str]]) -> str:
    """Our path as the server sees it: the longest matching prefix replaced (pairs come longest first)."""
    for ours, theirs in path_map:
        if path == ours or path.startswith(ours.rstrip("/") + "/"):
            rest = path[len(ours.rstrip("/")):]
            return (theirs.rstrip("/") + rest) or "/"
    return path


class Server(Protocol):
    def scan(self, updates: dict[str, str]) -> None:
        """Send; folders done are removed from ``updates`` (a retry sends only the rest)."""


class Jellyfin:
    """Jellyfin and Emby share the call: the folders and what happened to them."""

    def __init__(self, config: MediaServerConfig, session: requests.Session) -> None:
        self._config = config
        self._session = session

    def scan(self, updates: dict[str, str]) -> None:
        body = {"Updates": [{"Path": path, "UpdateType": kind} for path, kind in updates.items()]}
        call(self._session, "POST", f"{self._config.url}/Library/Media/Updated", json=body,
             headers={"X-Emby-Token": self._config.token})


class Plex:
    def __init__(self, config: MediaServerConfig, clock: Clock, session: requests.Session) -> None:
        self._config = config
        self._clock = clock
        self._session = session
        self._sections: list[tuple[str, tuple[str, ...]]] | None = None
        self._read_at = -SECTIONS_TTL
        self._headers = {"X-Plex-Token": config.token, "Accept": "application/json"}

    def scan(self, updates: dict[str, str]) -> None:
        for folder in list(updates):
            section = self._section_for(folder)
            if section is None:
                log.info("%s: no library section holds %s; not scanned", self._config.name, folder)
            else:
                call(self._session, "GET", f"{self._config.url}/library/sections/{section}/refresh",
                     params={"path": folder}, headers=self._headers)
            del updates[folder]

    def _section_for(self, folder: str) -> str | None:
        if self._sections is None or (self._match(folder) is None
                                      and self._clock.monotonic() - self._read_at >= SECTIONS_TTL):
            self._sections = self._read_sections()
            self._read_at = self._clock.monotonic()
        return self._match(folder)

    def _match(self, folder: str) -> str | None:
        best: tuple[int, str] | None = None
        for key, locations in self._sections or ():
            for location in locations:
                root = location.rstrip("/")
                if (folder == root or folder.startswith(root + "/")) and (best is None or len(root) > best[0]):
                    best = (len(root), key)
        return best[1] if best else None

    def _read_sections(self) -> list[tuple[str, tuple[str, ...]]]:
        response = call(self._session, "GET", f"{self._config.url}/library/sections", headers=self._headers)
        text = response.text.lstrip()
        try:
            return _sections_xml(text) if text.startswith("<") else _sections_json(response.json())
        except (ValueError, TypeError, AttributeError, ElementTree.ParseError) as exc:
            raise Refused(f"{self._config.name}: /library/sections is not a Plex answer ({exc})") from None


def _sections_json(data: Any) -> list[tuple[str, tuple[str, ...]]]:
    directories = data["MediaContainer"].get("Directory") or []
    return [(str(d["key"]), tuple(str(loc["path"]) for loc in d.get("Location") or [])) for d in directories]


def _sections_xml(text: str) -> list[tuple[str, tuple[str, ...]]]:
    root = ElementTree.fromstring(text)
    return [(str(d.get("key")), tuple(str(loc.get("path")) for loc in d.iter("Location")))
            for d in root.iter("Directory")]


class MediaServers:
    def __init__(self, configs: Iterable[MediaServerConfig], mount_path: str, download_folder: str,
                 snapshot: Callable[[], Snapshot], clock: Clock, window: float = WINDOW) -> None:
        self._mount = mount_path.rstrip("/")
        self._downloads = os.path.abspath(download_folder) if download_folder else ""
        self._snapshot = snapshot
        self._session = requests.Session()
        self.servers: list[tuple[MediaServerConfig, Batcher[str, str]]] = []
        for config in configs:
            server: Server = Plex(config, clock, self._session) if config.type == "plex" \
                else Jellyfin(config, self._session)
            self.servers.append((config, Batcher(config.name, server.scan, clock, window)))

    def start(self) -> MediaServers:
        for config, batch in self.servers:
            batch.start()
            log.info("media servers: %s is told of changed folders", config.name)
        return self

    def stop(self) -> None:
        for _, batch in self.servers:
            batch.stop()
        self._session.close()

    def on_event(self, name: str, payload: dict[str, Any]) -> None:
        """Called on the emitter's thread: works out folders from memory and queues them."""
        if name == "download_complete":
            folders = self._tree_folders(payload.get("folder") or "") + self._written(payload)
            self._queue(folders, CREATED)
        elif name == "repair_complete":
            self._queue(self._repaired(payload), MODIFIED)
        elif name == EVENT and self._mount:
            self._queue([f"{self._mount}/{path}" for path in payload.get("deleted", ()) if "/" in path], DELETED)

    def _queue(self, folders: Iterable[str], kind: str) -> None:
        for folder in dict.fromkeys(folders):
            for config, batch in self.servers:
                batch.add(map_path(folder, config.path_map), kind)

    def _tree_folders(self, folder: str, snapshot: Snapshot | None = None) -> list[str]:
        """The torrent's folder in every group it shows in, under the mount path."""
        if not self._mount or not folder:
            return []
        snapshot = snapshot or self._snapshot()
        groups = snapshot.root.children
        everything = groups.get("__all__")
        node = everything.children.get(folder) if isinstance(everything, DirNode) else None
        if not isinstance(node, DirNode):
            return []
        return [f"{self._mount}/{name}/{folder}" for name, group in groups.items()
                if isinstance(group, DirNode) and _same(group.children.get(folder), node)]

    def _written(self, payload: Mapping[str, Any]) -> list[str]:
        """The import's output folder, when its action wrote one (not ``none``: that points into the mount)."""
        path = str(payload.get("content_path") or "")
        if not path or not self._downloads or not os.path.abspath(path).startswith(self._downloads + os.sep):
            return []
        return [path.rstrip("/") if os.path.isdir(path) else posixpath.dirname(path)]

    def _repaired(self, payload: Mapping[str, Any]) -> list[str]:
        folders: list[str] = []
        snapshot = self._snapshot()
        for item in payload.get("broken_items") or ():
            if item.get("outcome") not in ("repaired", "replaced"):
                continue
            if item.get("file_path"):
                folders.append(posixpath.dirname(str(item["file_path"])))
            if item.get("outcome") == "repaired" and item.get("torrent_hash"):
                for key, torrent in snapshot.torrents.items():
                    if torrent.infohash == item["torrent_hash"]:
                        folders += self._tree_folders(snapshot.folders.get(key, ""), snapshot)
        return folders


def _same(node: Any, torrent_folder: DirNode) -> bool:
    return isinstance(node, DirNode) and node.torrent == torrent_folder.torrent

