"""What one published change did to the tree, as folder paths relative to the WebDAV root.

The library's writer hands (previous snapshot, next snapshot, changes) to a watcher; this
module turns them into the torrent folders that appeared, changed or left, in every group
(``__all__/<folder>``, ``<category>/<folder>``, custom folders, ``__bad__``). Nodes are shared
between snapshots while a torrent does not change, so identity says what changed: only the
names of the changed torrents are looked at, except when categories were re-read (an import
completing moves its torrent into its category folder), where the groups that changed are
compared whole (a dict walk, off the writer thread). A group that appears or goes is a
path of its own (``sonarr``), whose parent is the root.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from gateway.library.index import Changes
from gateway.library.snapshot import DirNode, Node, Snapshot

Key = tuple[str, str]


@dataclass
class TreeChange:
    created: set[str] = field(default_factory=set)
    modified: set[str] = field(default_factory=set)
    deleted: set[str] = field(default_factory=set)

    def __bool__(self) -> bool:
        return bool(self.created or self.modified or self.deleted)

    def merge(self, other: TreeChange) -> None:
        """A later change wins: a folder deleted then created again is created."""
        for path in other.created | other.modified:
            self.deleted.discard(path)
        for path in other.deleted:
            self.created.discard(path)
            self.modified.discard(path)
        self.created |= other.created
        self.modified |= other.modified - self.created
        self.deleted |= other.deleted

    def payload(self) -> dict[str, list[str]]:
        return {"created": sorted(self.created), "modified": sorted(self.modified), "deleted": sorted(self.deleted)}


def _members(group: Node | None) -> dict[str, Node]:
    return group.children if isinstance(group, DirNode) else {}


def _compare(out: TreeChange, group: str, names: Iterable[str], before: dict[str, Node],
             after: dict[str, Node]) -> None:
    for name in names:
        old, new = before.get(name), after.get(name)
        if old is new:
            continue
        path = f"{group}/{name}"
        if old is None:
            out.created.add(path)
        elif new is None:
            out.deleted.add(path)
        else:
            out.modified.add(path)


def diff(old: Snapshot | None, new: Snapshot, changes: Changes) -> TreeChange:
    out = TreeChange()
    if old is None:
        return out
    keys: set[Key] = set(changes.upserts) | changes.deletes | changes.mark_bad
    names = {n for n in (old.folders.get(k) for k in keys) if n} | {n for n in (new.folders.get(k) for k in keys) if n}
    before_groups, after_groups = _members(old.root), _members(new.root)
    for group in set(before_groups) | set(after_groups):
        og, ng = before_groups.get(group), after_groups.get(group)
        if og is ng:
            continue
        if og is None or ng is None:   # a group came into use or went: the root listing changed
            (out.created if og is None else out.deleted).add(group)
        before, after = _members(og), _members(ng)
        whole = changes.categories and group != "__all__"
        _compare(out, group, set(before) | set(after) if whole else names, before, after)
    return out
