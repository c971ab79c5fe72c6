"""Immutable library snapshots: the whole virtual tree, built off the request path.

A ``Snapshot`` is derived from the previous one by the library's writer
thread (``gateway/library/index.py``) and swapped in atomically; request
threads read the current reference once and only do dict lookups. Torrent
folder nodes are shared between the groups they appear in, and between
snapshots while their torrent does not change.
"""

from __future__ import annotations

import functools
import hashlib
import mimetypes
from collections.abc import Mapping
from dataclasses import dataclass, field

from gateway.archives import Extent
from gateway.library.layouts import ArchiveLayout
from gateway.library.naming import sanitize, split_path
from gateway.models import RemoteFile, StoredFiles, Torrent, TorrentStatus

mimetypes.add_type("video/x-matroska", ".mkv")
mimetypes.add_type("text/plain", ".srt")
mimetypes.add_type("text/plain", ".nfo")


@dataclass(frozen=True)
class FileRef:
    """What the link resolver needs to fetch a file's bytes."""

    provider: str
    torrent_id: str
    file_id: int


@dataclass(frozen=True)
class MemberRef(FileRef):
    """A file stored inside archive volumes of the torrent: ``file_id`` is its first volume's,
    and each extent's ``volume`` is the file id of the volume holding that piece."""

    extents: tuple[Extent, ...] = ()


@dataclass(frozen=True, slots=True)
class FileNode:
    name: str
    size: int
    mtime: float
    etag: str
    content_type: str
    ref: FileRef
    is_dir: bool = False


class DirNode:
    """A directory. Torrent folders build their children lazily, on first use.

    Nodes are immutable once published and shared between snapshots: an
    unchanged torrent keeps the same node when the library changes around it,
    so whatever a frontend cached for that node stays valid (``cache``). A
    torrent folder's children are built from its ``Torrent`` the first time
    they are asked for, so a snapshot of 100,000 torrents costs one node per
    torrent, not one per file. Two threads racing to build them build equal
    dicts; either one may win.
    """

    __slots__ = ("name", "mtime", "torrent", "size", "files", "cache", "_children", "_source", "layout")
    is_dir = True
    etag = ""

    def __init__(self, name: str, mtime: float, children: dict[str, Node] | None = None, *,
                 torrent: tuple[str, str] | None = None, size: int = 0, files: int = 0,
                 source: Torrent | None = None, layout: ArchiveLayout | None = None) -> None:
        self.name = name
        self.layout = layout        # torrent folders of an unpacked archive set: what the set holds
        self.mtime = mtime
        self.torrent = torrent      # set on torrent folders
        self.size = size            # torrent folders: total of their files
        self.files = files          # torrent folders: how many files
        self.cache: object = None   # one slot for a frontend's per-node cache (the VFS listing)
        self._children = children if children is not None or source is not None else {}
        self._source = source

    @property
    def children(self) -> dict[str, Node]:
        children = self._children
        if children is None:
            assert self._source is not None
            children = self._children = _file_tree(self._source, self.mtime, self.layout)
        return children

    def __repr__(self) -> str:
        return f"DirNode({self.name!r}, torrent={self.torrent})"


Node = FileNode | DirNode


def _etag(torrent: Torrent, file: RemoteFile) -> str:
    raw = f"{torrent.provider}:{torrent.id}:{file.id}:{file.size}"
    return hashlib.blake2s(raw.encode(), digest_size=10).hexdigest()


def _content_type(name: str) -> str:
    return _type_of_extension(name.rsplit(".", 1)[-1].lower() if "." in name else "")


@functools.lru_cache(maxsize=1024)
def _type_of_extension(ext: str) -> str:
    """Per extension, not per file: guess_type is slow and a snapshot has 100,000 files."""
    return mimetypes.guess_type(f"x.{ext}", strict=False)[0] or "application/octet-stream"


def visible_files(torrent: Torrent) -> list[RemoteFile]:
    """The files a torrent folder shows: the selected ones."""
    return [f for f in torrent.files if f.selected]


def torrent_folder(torrent: Torrent, name: str, layout: ArchiveLayout | None = None) -> DirNode:
    """The folder of one torrent; its files are laid out (and decoded) when first listed.

    With an unpacked ``layout`` the set's volumes are replaced by the files stored in them."""
    files = torrent.files
    if layout is not None and layout.unpacked:
        shown = visible_files(torrent)
        inside = set(layout.volumes)
        rest = [f for f in shown if f.path not in inside]
        size = sum(f.size for f in rest) + sum(m.size for m in layout.members)
        return DirNode(name, torrent.added or torrent.ended, None, torrent=torrent.key, size=size,
                       files=len(rest) + len(layout.members), source=torrent, layout=layout)
    if isinstance(files, StoredFiles):
        size, count = files.shown
    else:
        shown = visible_files(torrent)
        size, count = sum(f.size for f in shown), len(shown)
    return DirNode(name, torrent.added or torrent.ended, None, torrent=torrent.key,
                   size=size, files=count, source=torrent)


def _file_tree(torrent: Torrent, mtime: float, layout: ArchiveLayout | None = None) -> dict[str, Node]:
    """A torrent's selected files, keeping the torrent's own sub-folders."""
    root: dict[str, Node] = {}
    files = visible_files(torrent)
    if layout is not None and layout.unpacked:
        files, members = _unpacked(torrent, files, layout)
        for path, size, ref in members:
            _add(root, split_path(path) or [sanitize(str(ref.file_id))], mtime, size,
                 _member_etag(torrent, path, size), ref)
    for file in files:
        parts = split_path(file.path) or [sanitize(str(file.id))]
        _add(root, parts, mtime, file.size, _etag(torrent, file), FileRef(torrent.provider, torrent.id, file.id))
    return root


def _add(root: dict[str, Node], parts: list[str], mtime: float, size: int, etag: str, ref: FileRef) -> None:
    """Place a file node (named here) under its folders, making them as needed."""
    children = root
    for part in parts[:-1]:
        child = children.get(part)
        if not isinstance(child, DirNode):
            child = DirNode(part, mtime)
            children[part] = child
        children = child.children
    leaf = parts[-1]
    if leaf in children:   # two files with one path: keep both, visibly
        leaf = f"{leaf} [{ref.file_id}]"
    children[leaf] = FileNode(name=leaf, size=size, mtime=mtime, etag=etag, content_type=_content_type(leaf), ref=ref)


def _unpacked(torrent: Torrent, files: list[RemoteFile],
              layout: ArchiveLayout) -> tuple[list[RemoteFile], list[tuple[str, int, MemberRef]]]:
    """The files that are not volumes, and the members (path, size, ref) beside the first volume."""
    by_path = {f.path: f for f in files}
    ids = [by_path[path].id for path in layout.volumes]
    base = layout.volumes[0].rsplit("/", 1)[0] + "/" if "/" in layout.volumes[0] else ""
    members = []
    for member in layout.members:
        extents = tuple(Extent(ids[e.volume], e.offset, e.length) for e in member.extents)
        first = extents[0].volume if extents else ids[0]
        path = base + member.name.replace("\\", "/")
        members.append((path, member.size, MemberRef(torrent.provider, torrent.id, first, extents)))
    inside = set(layout.volumes)
    return [f for f in files if f.path not in inside], members


def _member_etag(torrent: Torrent, path: str, size: int) -> str:
    raw = f"{torrent.provider}:{torrent.id}:member:{path}:{size}"
    return hashlib.blake2s(raw.encode(), digest_size=10).hexdigest()


@dataclass(frozen=True)
class Snapshot:
    generation: int
    built_at: float
    root: DirNode
    torrents: Mapping[tuple[str, str], Torrent]   # every torrent, shown or not
    folders: Mapping[tuple[str, str], str]        # torrent key → its folder (a fallback placement: the active one's)
    bad: frozenset[tuple[str, str]]
    # infohash → its placements, best first, when several accounts hold it: the first
    # is the folder's; the others are the fallbacks readers turn to.
    placements: Mapping[str, tuple[tuple[str, str], ...]] = field(default_factory=dict)

    def file(self, ref: FileRef) -> tuple[Torrent, RemoteFile] | None:
        torrent = self.torrents.get((ref.provider, ref.torrent_id))
        if torrent is None:
            return None
        match = next((f for f in torrent.files if f.id == ref.file_id), None)
        return (torrent, match) if match else None

    def fallbacks(self, torrent: Torrent, file: RemoteFile) -> list[tuple[Torrent, RemoteFile]]:
        """The same file (same path) at the other placements of its torrent, best first."""
        out = []
        for key in self.placements.get(torrent.infohash, ()):
            other = self.torrents.get(key)
            if key == torrent.key or other is None or other.status != TorrentStatus.DOWNLOADED:
                continue
            match = next((f for f in other.files if f.path == file.path), None)
            if match is not None:
                out.append((other, match))
        return out

    def resolve(self, parts: list[str]) -> Node | None:
        node: Node = self.root
        for part in parts:
            if not isinstance(node, DirNode):
                return None
            child = node.children.get(part)
            if child is None:
                return None
            node = child
        return node
