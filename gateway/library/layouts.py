"""Archive layouts: what a torrent's stored RAR/7z set holds, learned once and kept in the store.

A torrent whose selected files are one archive set (``gateway.archives.is_archive_set``) is
shown, with ``unpack_archives`` on, as the files inside the set. What those are (names, sizes,
and where their bytes sit in the volumes) is learned once from the volumes' headers
(``gateway/library/unpack.py``) and saved here, keyed by infohash so every placement of the
torrent shares it; a restart loads it and never reads a header again.

A set that cannot be streamed (compressed, solid, encrypted, a volume missing) is saved too,
with the reason: it is shown as its volumes, and learning is not tried again.

Until a torrent's layout is known it ``waits``: the tree keeps its folder out (a folder only
appears complete), and an import holds back ``pausedUP``.
"""

from __future__ import annotations

import json
import logging
import re
import threading
from dataclasses import dataclass

from gateway.archives import Extent, Member, archive_volumes, is_archive_set
from gateway.models import RemoteFile, StoredFiles, Torrent, TorrentStatus
from gateway.store import Store

log = logging.getLogger(__name__)

# A quick look at a stored file list's text before decoding it, for rows stored without the
# store's hint: a set without a ".rar" or ".7z" volume (the first volume in every naming) is no
# set to stream. The answer is kept on the file list: a load asks each torrent more than once.
_MAYBE_SET = re.compile(r"\.(rar|7z)", re.IGNORECASE)


def _maybe_set(files: StoredFiles) -> bool:
    if files.archives is None:
        files.archives = _MAYBE_SET.search(files.raw) is not None
    return files.archives


@dataclass(frozen=True)
class ArchiveLayout:
    """The set's volumes (paths in the torrent, in the order ``Extent.volume`` counts) and members."""

    volumes: tuple[str, ...]
    sizes: tuple[int, ...]
    members: tuple[Member, ...] = ()
    refused: str = ""          # why the set stays as volumes ("compressed RAR", "missing volume 7")

    @property
    def unpacked(self) -> bool:
        return not self.refused and bool(self.members)

    def fits(self, volumes: list[RemoteFile]) -> bool:
        """Learned from these very volumes (same paths and sizes)."""
        return {(f.path, f.size) for f in volumes} == set(zip(self.volumes, self.sizes, strict=True))

    def to_json(self) -> str:
        return json.dumps({"volumes": list(self.volumes), "sizes": list(self.sizes), "refused": self.refused,
                           "members": [[m.name, m.size, [[e.volume, e.offset, e.length] for e in m.extents]]
                                       for m in self.members]}, separators=(",", ":"), ensure_ascii=False)

    @staticmethod
    def from_json(text: str) -> ArchiveLayout:
        data = json.loads(text)
        members = tuple(Member(name, size, tuple(Extent(*e) for e in extents))
                        for name, size, extents in data["members"])
        return ArchiveLayout(tuple(data["volumes"]), tuple(data["sizes"]), members, data["refused"])


def layout_key(torrent: Torrent) -> str:
    return torrent.infohash or f"{torrent.provider}:{torrent.id}"


def set_volumes(torrent: Torrent) -> list[RemoteFile]:
    """The selected files that are archive volumes, when the selected files are one set; else []."""
    files = torrent.files
    if isinstance(files, StoredFiles) and not _maybe_set(files):
        return []   # most torrents: no need to decode their file list
    selected = [f for f in files if f.selected]
    names = [f.path for f in selected]
    if not is_archive_set(names):   # most torrents fail at their first file (a .mkv)
        return []
    wanted = set(archive_volumes(names))
    return [f for f in selected if f.path in wanted]


class Layouts:
    """Every known layout (from the store at start), and which torrents still wait for one."""

    def __init__(self, store: Store, enabled: bool) -> None:
        self.enabled = enabled
        self._store = store
        self._lock = threading.Lock()
        self._known: dict[str, ArchiveLayout] = {}
        for key, text in store.load_layouts().items():
            try:
                self._known[key] = ArchiveLayout.from_json(text)
            except (ValueError, KeyError, TypeError):
                log.warning("archive layout of %s is unreadable: it will be learned again", key)

    def known(self, torrent: Torrent) -> ArchiveLayout | None:
        """The layout learned for this torrent's set, if the set is still the one it was learned from."""
        files = torrent.files
        if not self.enabled or not self._known or (isinstance(files, StoredFiles) and files.archives is False):
            return None
        with self._lock:
            layout = self._known.get(layout_key(torrent))
        if layout is None:
            return None
        volumes = set_volumes(torrent)
        return layout if volumes and layout.fits(volumes) else None

    def waiting(self, torrent: Torrent) -> bool:
        """A complete torrent whose set is not learned yet (its folder and its import wait)."""
        files = torrent.files
        if not self.enabled or (isinstance(files, StoredFiles) and files.archives is False):
            return False   # the common case, asked for every torrent at each load: answered first
        if torrent.status != TorrentStatus.DOWNLOADED or not files:
            return False
        volumes = set_volumes(torrent)
        if not volumes:
            return False
        with self._lock:
            layout = self._known.get(layout_key(torrent))
        return layout is None or not layout.fits(volumes)

    def save(self, torrent: Torrent, layout: ArchiveLayout) -> None:
        """Written to the store first: once shown, a layout survives a restart."""
        key = layout_key(torrent)
        self._store.save_layout(key, layout.to_json())
        with self._lock:
            self._known[key] = layout
