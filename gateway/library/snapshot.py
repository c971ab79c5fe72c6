"""Immutable library snapshots: the whole virtual tree, built off the request path.

A ``Snapshot`` is built from provider torrents in a worker thread and
swapped in atomically; request threads read the current reference once and
only do dict lookups. Torrent folder nodes are shared between the groups
they appear in.
"""

from __future__ import annotations

import functools
import hashlib
import mimetypes
from dataclasses import dataclass, field

from gateway.library.groups import Group, TorrentView
from gateway.library.naming import sanitize, split_path, unique_names
from gateway.models import RemoteFile, Torrent, TorrentStatus

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
class FileNode:
    name: str
    size: int
    mtime: float
    etag: str
    content_type: str
    ref: FileRef
    is_dir: bool = False


@dataclass(frozen=True)
class DirNode:
    name: str
    mtime: float
    children: dict[str, Node] = field(default_factory=dict)
    torrent: tuple[str, str] | None = None   # set on torrent folders
    is_dir: bool = True
    size: int = 0        # torrent folders: total of their files
    files: int = 0       # torrent folders: how many files

    @property
    def etag(self) -> str:
        return ""


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


def torrent_folder(torrent: Torrent, name: str) -> DirNode:
    """The folder of one torrent, keeping the torrent's own sub-folders."""
    mtime = torrent.added or torrent.ended
    shown = visible_files(torrent)
    root = DirNode(name=name, mtime=mtime, torrent=torrent.key,
                   size=sum(f.size for f in shown), files=len(shown))
    for file in shown:
        parts = split_path(file.path) or [sanitize(str(file.id))]
        node = root
        for part in parts[:-1]:
            child = node.children.get(part)
            if not isinstance(child, DirNode):
                child = DirNode(name=part, mtime=mtime)
                node.children[part] = child
            node = child
        leaf = parts[-1]
        if leaf in node.children:   # two files with one path: keep both, visibly
            leaf = f"{leaf} [{file.id}]"
        node.children[leaf] = FileNode(
            name=leaf, size=file.size, mtime=mtime, etag=_etag(torrent, file),
            content_type=_content_type(leaf), ref=FileRef(torrent.provider, torrent.id, file.id))
    return root


@dataclass(frozen=True)
class Snapshot:
    generation: int
    built_at: float
    root: DirNode
    torrents: dict[tuple[str, str], Torrent]
    folders: dict[tuple[str, str], str]        # torrent key → folder name
    bad: frozenset[tuple[str, str]]

    def file(self, ref: FileRef) -> tuple[Torrent, RemoteFile] | None:
        torrent = self.torrents.get((ref.provider, ref.torrent_id))
        if torrent is None:
            return None
        match = next((f for f in torrent.files if f.id == ref.file_id), None)
        return (torrent, match) if match else None

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


def build_snapshot(generation: int, now: float, torrents: list[Torrent], groups: list[Group],
                   categories: dict[tuple[str, str], str], bad: set[tuple[str, str]],
                   naming: str) -> Snapshot:
    """Lay out every group. Torrents that are neither complete nor failed stay out."""
    shown = [t for t in torrents
             if (t.status == TorrentStatus.DOWNLOADED and t.files) or t.status.failed or t.key in bad]
    names = unique_names(shown, naming)
    bad_keys = frozenset(t.key for t in shown if t.status.failed or t.key in bad)
    folders = {t.key: torrent_folder(t, names[t.key]) for t in shown}
    views = [TorrentView(t, names[t.key], categories.get(t.key, ""), t.key in bad_keys) for t in shown]
    children: dict[str, Node] = {}
    for group in groups:
        members = {v.folder: folders[v.torrent.key] for v in views if group.predicate(v, now)}
        children[group.name] = DirNode(name=group.name, mtime=_newest(members, now), children=members)
    root = DirNode(name="", mtime=_newest(children, now), children=children)
    return Snapshot(generation=generation, built_at=now, root=root,
                    torrents={t.key: t for t in torrents}, folders=names, bad=bad_keys)


def _newest(children: dict[str, Node], default: float) -> float:
    """A group's mtime is its newest member's, never "now" (stable for clients)."""
    return max((child.mtime for child in children.values()), default=default)
