"""The virtual filesystem: the one tree WebDAV, FUSE and the browse API serve.

Contract
--------
``VFS`` is a read-only, path-addressed view over the library's *current
snapshot*. Paths are '/'-separated, relative to the tree root
(``/__all__/<torrent folder>/<file>``).

- ``stat(path) -> Entry``: raises ``FileNotFoundError``.
- ``listdir(path) -> Sequence[Entry]``: sorted by name, deterministic; raises
  ``NotADirectoryError`` or ``FileNotFoundError``.
- ``open(path, reader) -> FileHandle``: a lazy, seekable handle (no connection
  until the first read); raises ``IsADirectoryError`` or ``FileNotFoundError``.
  With a chunk cache configured (``CachedFiles``) every handle reads through
  it, whichever frontend opened it; ``reader`` names that frontend for the
  active-streams registry (``streams``).
- ``remove(path)``: deletes a torrent folder (``/<group>/<torrent>``) from the
  library and its provider; anything else raises ``PermissionError``.
- ``usage() -> (bytes, files)``: the size of the library, for FUSE ``statfs``.

``Entry`` is cheap and complete: every attribute a frontend needs (size,
mtime from provider data, a stable ETag, content type) is precomputed, so
WsgiDAV's "expensive" properties and FUSE's getattr are O(1). Frontends
never interpret paths themselves and never look inside ``ref``.

Errors are built-in ``OSError`` subclasses; each frontend maps them once.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass

from fs.cached_reader import CachedFiles
from fs.paths import split
from fs.reader import FileHandle, RangeReader
from fs.streams import ActiveStreams
from gateway.library.library import Library
from gateway.library.snapshot import DirNode, FileNode, FileRef, Node, Snapshot
from gateway.library.streaming import Streamer


@dataclass(frozen=True)
class Entry:
    name: str
    is_dir: bool
    size: int
    mtime: float
    etag: str
    content_type: str
    ref: FileRef | None = None
    files: int = 0          # torrent folders: how many files they hold (size is their total)


class Lookup:
    """One resolved path: its entry, and for a directory its members on demand.

    ``token`` is the tree node behind the path: while a request for the same
    path finds the same token, the directory's members are unchanged, so a
    frontend may key what it renders on it (nodes outlive snapshots while
    their torrents do not change).
    """

    __slots__ = ("entry", "token")

    def __init__(self, entry: Entry, node: Node) -> None:
        self.entry = entry
        self.token = node

    def members(self) -> tuple[Entry, ...]:
        if not isinstance(self.token, DirNode):
            raise NotADirectoryError(self.entry.name)
        return _listing(self.token)


def _listing(node: DirNode) -> tuple[Entry, ...]:
    """Sorted entries, computed once per directory node and kept on the node."""
    cached = node.cache
    if cached is None:
        cached = node.cache = tuple(_entry(node.children[name]) for name in sorted(node.children))
    return cached  # type: ignore[return-value]  # DirNode.cache is an opaque slot; only this fills it


def _torrent_folder(found: Lookup, path: str) -> tuple[str, str] | None:
    """The torrent behind a ``/<group>/<torrent>`` folder: the one thing ``remove`` deletes."""
    node = found.token
    return node.torrent if len(split(path)) == 2 and isinstance(node, DirNode) else None


def _entry(node: Node) -> Entry:
    if isinstance(node, FileNode):
        return Entry(node.name, False, node.size, node.mtime, node.etag, node.content_type, node.ref)
    return Entry(node.name, True, node.size, node.mtime, "", "httpd/unix-directory", None, node.files)


class VFS:
    def __init__(self, library: Library, streamer: Streamer, files: CachedFiles | None = None) -> None:
        self._library = library
        self._streamer = streamer
        self._files = files
        self.streams = ActiveStreams()
        self._usage: tuple[int, tuple[int, int]] = (-1, (0, 0))
        self._lock = threading.Lock()

    @property
    def snapshot(self) -> Snapshot:
        return self._library.snapshot()

    def _node(self, path: str, snapshot: Snapshot | None = None) -> Node:
        node = (snapshot or self.snapshot).resolve(split(path))
        if node is None:
            raise FileNotFoundError(path)
        return node

    def stat(self, path: str) -> Entry:
        return _entry(self._node(path))

    def listdir(self, path: str) -> Sequence[Entry]:
        node = self._node(path)
        if not isinstance(node, DirNode):
            raise NotADirectoryError(path)
        return _listing(node)

    def lookup(self, path: str) -> Lookup:
        """Resolve ``path`` once for a request that needs its entry and maybe its members."""
        node = self._node(path)
        return Lookup(_entry(node), node)

    def open(self, path: str, reader: str = "vfs", end: int | None = None) -> FileHandle:
        """``end``: the last byte the caller expects to read, when it knows (an HTTP Range)."""
        return self._open_node(self._node(path), path, reader, end)

    def open_found(self, found: Lookup, path: str, reader: str = "vfs", end: int | None = None) -> FileHandle:
        """``open`` for a path the caller has already resolved (``lookup``): no second walk."""
        return self._open_node(found.token, path, reader, end)

    def _open_node(self, node: Node, path: str, reader: str, end: int | None) -> FileHandle:
        if isinstance(node, DirNode):
            raise IsADirectoryError(path)
        ref = node.ref
        handle: FileHandle
        if self._files is not None:
            handle = self._files.open(node.etag, ref, node.size, end)   # the ETag names the bytes: provider, ids, size
        else:
            handle = RangeReader(node.size, lambda start, last: self._streamer.open(ref, start, last), end)
        return self.streams.track(handle, path, reader)

    def link(self, path: str) -> str | None:
        """The provider URL of a file right now (for redirects), None when no single provider
        URL holds its bytes (they are served from here). May call the provider."""
        return self.link_found(self.lookup(path), path)

    def link_found(self, found: Lookup, path: str) -> str | None:
        """``link`` for a path the caller has already resolved (``lookup``): no second walk."""
        node = found.token
        if isinstance(node, DirNode):
            raise IsADirectoryError(path)
        return self._streamer.link(node.ref)

    def remove(self, path: str) -> None:
        """Delete the torrent behind a torrent folder; files and groups are read-only."""
        self.remove_found(self.lookup(path), path)

    def remove_found(self, found: Lookup, path: str) -> None:
        """``remove`` for a path the caller has already resolved (``lookup``)."""
        torrent = _torrent_folder(found, path)
        if torrent is None:
            raise PermissionError(path)
        self._library.delete(torrent)

    @staticmethod
    def removable(found: Lookup, path: str) -> bool:
        """Whether ``remove`` would delete this path (what a frontend's OPTIONS announces)."""
        return _torrent_folder(found, path) is not None

    def generation(self) -> int:
        return self.snapshot.generation

    def usage(self) -> tuple[int, int]:
        """(bytes, files) of all torrent folders in the tree, each counted once (statfs)."""
        snapshot = self.snapshot
        with self._lock:
            if self._usage[0] == snapshot.generation:
                return self._usage[1]
        folders = {id(folder): folder for group in snapshot.root.children.values() if isinstance(group, DirNode)
                   for folder in group.children.values() if isinstance(folder, DirNode)}
        usage = (sum(f.size for f in folders.values()), sum(f.files for f in folders.values()))
        with self._lock:
            self._usage = (snapshot.generation, usage)
        return usage
