"""The tree model behind snapshots: each snapshot is derived from the last one.

``TreeIndex`` is mutable and has one writer (the library's writer thread).
``derive(changes)`` applies a set of torrent changes and returns the next
immutable ``Snapshot``, touching only what the changes reach:

- the changed torrents, and the other torrents whose folder name depends on
  them (the same wanted name, ignoring case: a clash renames both);
- the groups those torrents enter or leave. A group's member dict is copied
  once per derive when it changes; an untouched group keeps its node.

A torrent whose data and name did not change keeps its folder node, so what
frontends cached for it (listings, PROPFIND renders) stays valid. Changing
the set of groups (a category comes into use) rebuilds everything, which is
rare and still cheap, since torrent folders lay out their files lazily.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from gateway.clock import Clock
from gateway.config import CustomFolder
from gateway.library.frozenmap import FrozenMap
from gateway.library.groups import Group, TorrentView, build_groups
from gateway.library.layouts import Layouts
from gateway.library.naming import bucket_names, folder_name
from gateway.library.snapshot import DirNode, Node, Snapshot, torrent_folder
from gateway.models import StoredFiles, Torrent, TorrentStatus

log = logging.getLogger(__name__)

Key = tuple[str, str]
CategorySource = Callable[[], dict[Key, str]]
TIMED_GROUPS_EVERY = 60.0   # seconds between re-evaluations of time-dependent groups


@dataclass
class Changes:
    """What one derive applies; several queued ``Changes`` merge into one."""

    upserts: dict[Key, Torrent] = field(default_factory=dict)
    deletes: set[Key] = field(default_factory=set)
    mark_bad: set[Key] = field(default_factory=set)
    categories: bool = False    # re-read the category source

    def merge(self, other: Changes) -> None:
        for key in other.upserts:
            self.deletes.discard(key)
        self.upserts.update(other.upserts)
        for key in other.deletes:
            self.upserts.pop(key, None)
        self.deletes |= other.deletes
        self.mark_bad |= other.mark_bad
        self.categories = self.categories or other.categories

    def __bool__(self) -> bool:
        return bool(self.upserts or self.deletes or self.mark_bad or self.categories)


def shown(torrent: Torrent, bad: bool) -> bool:
    """Complete torrents with known files, and failed or broken ones (in ``__bad__``).

    A torrent whose files are not known yet stays out: a folder must never
    appear empty and fill in later (Plex remembers an empty folder).
    """
    return (torrent.status == TorrentStatus.DOWNLOADED and bool(torrent.files)) or torrent.status.failed or bad


class TreeIndex:
    def __init__(self, naming: str, categories: tuple[str, ...], custom: tuple[CustomFolder, ...],
                 category_source: CategorySource, clock: Clock, account_rank: dict[str, int] | None = None,
                 layouts: Layouts | None = None) -> None:
        self._naming = naming
        self._layouts = layouts                    # archive sets: a folder waits for its layout
        self._rank_of = account_rank or {}         # account name → its place in the priority order
        self._by_hash: dict[str, set[Key]] = {}    # infohash → the keys holding it (several accounts)
        self._hash_of: dict[Key, str] = {}
        self._category_config = categories
        self._custom = custom
        self._category_source = category_source
        self._clock = clock
        self.generation = 0
        self.torrents: dict[Key, Torrent] = {}
        self.categories: dict[Key, str] = {}
        self.bad: set[Key] = set()                 # marked bad by readers or repair
        self._nodes: dict[Key, DirNode] = {}       # shown torrents' folders
        self._names: dict[Key, str] = {}           # shown torrents' folder names
        self._owners: dict[str, Key] = {}          # casefolded folder name → torrent
        self._wanted: dict[Key, str] = {}          # casefolded wanted name, before clash suffixes
        self._plain: dict[Key, str] = {}           # the wanted name itself (a lone torrent's folder)
        self._buckets: dict[str, set[Key]] = {}
        self._bad_shown: set[Key] = set()
        self._groups: list[Group] = []
        self._members: dict[str, dict[str, Node]] = {}
        self._group_nodes: dict[str, DirNode] = {}
        self._mtimes: dict[str, float] = {}        # each group's newest member time
        self._stale_mtimes: set[str] = set()       # groups that lost their newest member
        self._torrents_view: FrozenMap[Key, Torrent] = FrozenMap()
        self._names_view: FrozenMap[Key, str] = FrozenMap()
        self._placements_view: FrozenMap[str, tuple[Key, ...]] = FrozenMap()
        self._timed_at = 0.0
        self.snapshot: Snapshot | None = None

    def set_category_source(self, source: CategorySource) -> None:
        self._category_source = source

    # ----------------------------------------------------------- deriving

    def load(self, torrents: Iterable[Torrent]) -> Snapshot:
        """The first snapshot, from the persisted index."""
        self.torrents = {t.key: t for t in torrents}
        self._by_hash, self._hash_of = {}, {}
        for key, torrent in self.torrents.items():
            self._rehash(key, torrent)
        self.categories = self._category_source()
        return self._rebuild(self._clock.now())

    def derive(self, changes: Changes) -> Snapshot:
        now = self._clock.now()
        touched = self._apply(changes)
        groups = build_groups(self._category_config, self._custom, set(self.categories.values()))
        if self.snapshot is None or [g.name for g in groups] != [g.name for g in self._groups]:
            return self._rebuild(now)
        changed: set[str] = set()
        candidates = self._candidates(touched)
        old = {key: self._unplace(key, changed) for key in candidates}
        for key in touched:
            self._rebucket(key)
        for key in sorted(candidates):
            self._place(key, old.get(key), now, changed)
        changed |= self._timed_groups(now)
        self._torrents_view = self._torrents_view.evolve({k: self.torrents.get(k) for k in touched})
        self._names_view = self._names_view.evolve({k: self._folder_of(k) for k in candidates})
        hashes = {t.infohash for k in touched if (t := self.torrents.get(k)) is not None and t.infohash}
        self._placements_view = self._placements_view.evolve({h: self._placements(h) for h in hashes})
        return self._publish(now, changed)

    def _apply(self, changes: Changes) -> dict[Key, str | None]:
        """Update torrents, bad marks and categories; returns touched keys → old wanted name."""
        keys = set(changes.upserts) | changes.deletes | (changes.mark_bad - self.bad)
        if changes.categories:
            fresh = self._category_source()
            keys |= {k for k in fresh.keys() | self.categories.keys() if fresh.get(k) != self.categories.get(k)}
            self.categories = fresh
        keys |= self._siblings(keys)
        self.torrents.update(changes.upserts)
        for key in changes.deletes:
            self.torrents.pop(key, None)
            self.bad.discard(key)
        self.bad |= changes.mark_bad & self.torrents.keys()
        for key in list(keys):
            self._rehash(key, self.torrents.get(key))
        keys |= self._siblings(keys)   # a new placement joins the ones already there
        return {key: self._wanted.get(key) for key in keys}

    # ------------------------------------------------- several accounts, one folder

    def _siblings(self, keys: set[Key]) -> set[Key]:
        """Every placement sharing an infohash with one of ``keys``: which one is shown may change."""
        out: set[Key] = set()
        for key in keys:
            h = self._hash_of.get(key)
            if h:
                out |= self._by_hash.get(h, set())
        return out

    def _rehash(self, key: Key, torrent: Torrent | None) -> None:
        old = self._hash_of.pop(key, None)
        if old:
            group = self._by_hash[old]
            group.discard(key)
            if not group:
                del self._by_hash[old]
        if torrent is not None and torrent.infohash:
            self._hash_of[key] = torrent.infohash
            self._by_hash.setdefault(torrent.infohash, set()).add(key)

    def _rank(self, key: Key) -> tuple[bool, bool, int, Key]:
        """Healthy and complete first, then the account's priority."""
        torrent = self.torrents[key]
        broken = key in self.bad or torrent.status.failed
        return (broken, torrent.status != TorrentStatus.DOWNLOADED, self._rank_of.get(key[0], 1 << 30), key)

    def _placements(self, infohash: str) -> tuple[Key, ...]:
        keys = self._by_hash.get(infohash, ())
        return tuple(sorted(keys, key=self._rank)) if len(keys) > 1 else ()

    def _visible(self, key: Key) -> bool:
        """Shown, and the best placement of its infohash (the others are its fallbacks)."""
        torrent = self.torrents.get(key)
        if torrent is None or not self._shown(torrent, key in self.bad):
            return False
        group = self._by_hash.get(torrent.infohash, ()) if torrent.infohash else ()
        if len(group) < 2:
            return True
        best = min((k for k in group if self._shown(self.torrents[k], k in self.bad)), key=self._rank)
        return best == key

    def _shown(self, torrent: Torrent, bad: bool) -> bool:
        """``shown``, and not an archive set whose layout is still being learned."""
        if not shown(torrent, bad):
            return False
        files = torrent.files   # a stored torrent says whether it has volume names: asked first, cheaply
        if bad or self._layouts is None or (type(files) is StoredFiles and files.archives is False):
            return True
        return not self._layouts.waiting(torrent)

    def _folder_of(self, key: Key) -> str | None:
        """A placement's folder: its own, or the shown placement's for a fallback."""
        name = self._names.get(key)
        if name is not None or key not in self._hash_of:
            return name
        return next((self._names[k] for k in self._by_hash.get(self._hash_of[key], ()) if k in self._names), None)

    def _category(self, key: Key) -> str:
        """A folder's category: its own, else one an other placement of it was imported with."""
        own = self.categories.get(key, "")
        if own or key not in self._hash_of:
            return own
        return next((c for k in sorted(self._by_hash.get(self._hash_of[key], ())) if (c := self.categories.get(k))),
                    "")

    def _candidates(self, touched: dict[Key, str | None]) -> set[Key]:
        """The touched torrents plus every torrent sharing an old or new wanted name with one."""
        names = {name for name in touched.values() if name is not None}
        for key in touched:
            torrent = self.torrents.get(key)
            if torrent is not None and self._visible(key):
                names.add(folder_name(torrent, self._naming).casefold())
        keys = set(touched)
        for name in names:
            keys |= self._buckets.get(name, set())
        return keys

    def _rebucket(self, key: Key) -> None:
        old = self._wanted.pop(key, None)
        self._plain.pop(key, None)
        if old is not None:
            bucket = self._buckets[old]
            bucket.discard(key)
            if not bucket:
                del self._buckets[old]
        torrent = self.torrents.get(key)
        if torrent is not None and self._visible(key):
            plain = folder_name(torrent, self._naming)
            name = plain.casefold()
            self._wanted[key], self._plain[key] = name, plain
            self._buckets.setdefault(name, set()).add(key)

    def _unplace(self, key: Key, changed: set[str]) -> DirNode | None:
        """Take a torrent's folder out of every group; returns the node for reuse."""
        node = self._nodes.pop(key, None)
        if node is None:
            return None
        name = self._names.pop(key)
        self._owners.pop(name.casefold(), None)
        self._bad_shown.discard(key)
        for group in self._groups:
            members = self._members[group.name]
            if members.get(name) is node:
                self._writable(group.name, changed).pop(name)
                if node.mtime >= self._mtimes.get(group.name, node.mtime):
                    self._stale_mtimes.add(group.name)
        return node

    def _place(self, key: Key, old: DirNode | None, now: float, changed: set[str] | None) -> None:
        torrent = self.torrents.get(key)
        bad = key in self.bad or (torrent is not None and torrent.status.failed)
        # Not bucketed: it was not visible when this derive rebucketed it, and a layout saved since
        # by the learner's thread made it so; the learner's own change places it next.
        if torrent is None or key not in self._wanted or not self._visible(key):
            return
        name = self._final_name(key)
        layout = self._layouts.known(torrent) if self._layouts is not None else None
        reuse = old is not None and old.name == name and old._source == torrent and old.layout is layout
        node = old if reuse and old is not None else torrent_folder(torrent, name, layout)
        self._nodes[key], self._names[key] = node, name
        self._owners[name.casefold()] = key
        if bad:
            self._bad_shown.add(key)
        view = TorrentView(torrent, name, self._category(key), bad)
        for group in self._groups:
            if group.predicate(view, now):
                self._writable(group.name, changed)[name] = node
                self._mtimes[group.name] = max(self._mtimes.get(group.name, node.mtime), node.mtime)

    def _final_name(self, key: Key) -> str:
        keys = self._buckets[self._wanted[key]]
        lone = len(keys) == 1
        name = self._plain[key] if lone else bucket_names([self.torrents[k] for k in keys], self._naming)[key]
        owner = self._owners.get(name.casefold())
        if owner is not None and owner != key:   # a literal name equal to another's suffixed one
            name = f"{name} [{key[0]}-{key[1]}]"
        return name

    def _writable(self, group: str, changed: set[str] | None) -> dict[str, Node]:
        """The group's member dict, copied once per derive before its first change."""
        if changed is not None and group not in changed:
            changed.add(group)
            self._members[group] = dict(self._members[group])
        return self._members[group]

    def _timed_groups(self, now: float) -> set[str]:
        """Groups like ``last_added`` change with time: re-evaluate them now and then."""
        timed = [g for g in self._groups if g.timed]
        if not timed or now - self._timed_at < TIMED_GROUPS_EVERY:
            return set()
        self._timed_at = now
        for group in timed:
            self._members[group.name] = {
                self._names[key]: node for key, node in self._nodes.items()
                if group.predicate(self._view(key), now)}
            self._stale_mtimes.add(group.name)
        return {g.name for g in timed}

    def _view(self, key: Key) -> TorrentView:
        return TorrentView(self.torrents[key], self._names[key], self._category(key),
                           key in self._bad_shown)

    def _rebuild(self, now: float) -> Snapshot:
        """Everything from scratch (first load, or the set of groups changed)."""
        old = self._nodes
        self._groups = build_groups(self._category_config, self._custom, set(self.categories.values()))
        self._members = {g.name: {} for g in self._groups}
        self._group_nodes = {}
        self._mtimes, self._stale_mtimes = {}, set()
        self._nodes, self._names, self._owners, self._bad_shown = {}, {}, {}, set()
        self._wanted, self._plain, self._buckets = {}, {}, {}
        for key in self.torrents:
            self._rebucket(key)
        for key in sorted(self._wanted):
            self._place(key, old.get(key), now, None)
        self._timed_at = now
        self._torrents_view = FrozenMap(dict(self.torrents))
        names = dict(self._names)
        for key in self._hash_of:
            if key not in names and (folder := self._folder_of(key)) is not None:
                names[key] = folder
        self._names_view = FrozenMap(names)
        self._placements_view = FrozenMap({h: self._placements(h) for h, keys in self._by_hash.items()
                                           if len(keys) > 1})
        return self._publish(now, {g.name for g in self._groups})

    def _publish(self, now: float, changed: set[str]) -> Snapshot:
        for name in changed:
            members = self._members[name]
            if name in self._stale_mtimes or not members:
                self._mtimes[name] = _newest(members, now)   # rare: the newest member left
            self._group_nodes[name] = DirNode(name, self._mtimes[name], members)
        self._stale_mtimes.clear()
        groups: dict[str, Node] = {g.name: self._group_nodes[g.name] for g in self._groups}
        root = DirNode("", _newest(groups, now), groups)
        self.generation += 1
        self.snapshot = Snapshot(generation=self.generation, built_at=now, root=root,
                                 torrents=self._torrents_view, folders=self._names_view,
                                 bad=frozenset(self._bad_shown), placements=self._placements_view)
        return self.snapshot


def _newest(children: dict[str, Node], default: float) -> float:
    """A group's mtime is its newest member's, never "now" (stable for clients)."""
    return max((child.mtime for child in children.values()), default=default)
