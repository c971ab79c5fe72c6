"""Groups are data: a name and a predicate over torrents.

Membership is decided once, when a snapshot is built, so a request is a
few dict lookups. ``__all__`` holds every complete torrent, ``__bad__`` the
failed or broken ones, then one group per category and per custom folder.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from gateway.config import CustomFolder
from gateway.models import Torrent

ALL = "__all__"
BAD = "__bad__"


@dataclass(frozen=True)
class TorrentView:
    """What a predicate sees: the torrent, its folder name and category."""

    torrent: Torrent
    folder: str
    category: str
    bad: bool


Predicate = Callable[[TorrentView, float], bool]


@dataclass(frozen=True)
class Group:
    name: str
    predicate: Predicate
    timed: bool = False   # membership changes with time alone (``last_added``)


def _in_all(view: TorrentView, now: float) -> bool:
    return not view.bad


def _in_bad(view: TorrentView, now: float) -> bool:
    return view.bad


def category_group(category: str) -> Group:
    def member(view: TorrentView, now: float) -> bool:
        return not view.bad and view.category == category
    return Group(category, member)


def _file_names(view: TorrentView) -> list[str]:
    return [f.path for f in view.torrent.files if f.selected]


_TESTS: dict[str, Callable[[TorrentView, Any, float], bool]] = {
    "include": lambda v, x, now: x in v.folder.lower(),
    "exclude": lambda v, x, now: x not in v.folder.lower(),
    "starts_with": lambda v, x, now: v.folder.lower().startswith(x),
    "ends_with": lambda v, x, now: v.folder.lower().endswith(x),
    "not_starts_with": lambda v, x, now: not v.folder.lower().startswith(x),
    "not_ends_with": lambda v, x, now: not v.folder.lower().endswith(x),
    "regex": lambda v, x, now: x.search(v.folder) is not None,
    "not_regex": lambda v, x, now: x.search(v.folder) is None,
    "exact_match": lambda v, x, now: v.folder.lower() == x,
    "not_exact_match": lambda v, x, now: v.folder.lower() != x,
    "size_gt": lambda v, x, now: v.torrent.size > x,
    "size_lt": lambda v, x, now: v.torrent.size < x,
    "last_added": lambda v, x, now: v.torrent.added >= now - x,
    "file_count_gt": lambda v, x, now: len(_file_names(v)) > x,
    "file_count_lt": lambda v, x, now: len(_file_names(v)) < x,
    "files_regex": lambda v, x, now: any(x.search(p) for p in _file_names(v)),
    "not_files_regex": lambda v, x, now: not any(x.search(p) for p in _file_names(v)),
}


def custom_group(folder: CustomFolder) -> Group:
    """Every filter must pass (AND), over complete torrents only."""
    def member(view: TorrentView, now: float) -> bool:
        return not view.bad and all(_TESTS[kind](view, value, now) for kind, value in folder.filters)
    return Group(folder.name, member, timed=any(kind == "last_added" for kind, _ in folder.filters))


def build_groups(categories: tuple[str, ...], custom: tuple[CustomFolder, ...],
                 used_categories: set[str]) -> list[Group]:
    """Root groups in display order; a category in use but not configured still shows."""
    groups = [Group(ALL, _in_all), Group(BAD, _in_bad)]
    reserved = {ALL, BAD}
    for name in list(categories) + sorted(used_categories - set(categories)):
        if name and name not in reserved:
            groups.append(category_group(name))
            reserved.add(name)
    for folder in custom:
        if folder.name not in reserved:
            groups.append(custom_group(folder))
            reserved.add(folder.name)
    return groups
