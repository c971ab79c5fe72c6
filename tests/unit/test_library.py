"""Naming, groups and custom folders over hand-made torrents (no network)."""

from __future__ import annotations

from typing import Any

from gateway.config import CustomFolder, parse_config
from gateway.library.index import TreeIndex
from gateway.library.naming import folder_name, sanitize, unique_names
from gateway.models import RemoteFile, Torrent, TorrentStatus


class _Clock:
    def __init__(self, now: float) -> None:
        self._now = now

    def now(self) -> float:
        return self._now


def build_snapshot(now: float, torrents: list[Torrent], categories: tuple[str, ...] = (),
                   custom: tuple[CustomFolder, ...] = (), used: dict[tuple[str, str], str] | None = None) -> Any:
    index = TreeIndex("filename", categories, custom, lambda: dict(used or {}), _Clock(now))
    return index.load(torrents)


def torrent(tid: str, name: str, files: list[tuple[str, int]], *, status: TorrentStatus = TorrentStatus.DOWNLOADED,
            added: float = 1_700_000_000.0, infohash: str = "") -> Torrent:
    remote = tuple(RemoteFile(id=i + 1, path=p, size=s, link=f"l{i}") for i, (p, s) in enumerate(files))
    return Torrent(provider="rd", id=tid, infohash=infohash or (tid * 40)[:40], name=name,
                   size=sum(s for _, s in files), status=status, progress=1.0, added=added, files=remote,
                   original_name=name + " original")


def test_sanitize() -> None:
    assert sanitize("a/b") == "a∕b" and sanitize("..") == "__" and sanitize("") == "_"
    assert sanitize("x\x00y") == "xy" and sanitize("  spaced  ") == "spaced"


def test_folder_naming_policies() -> None:
    t = torrent("a", "Movie.2020.mkv", [("Movie.2020.mkv", 10)])
    assert folder_name(t, "filename") == "Movie.2020.mkv"
    assert folder_name(t, "filename_no_ext") == "Movie.2020"
    assert folder_name(t, "original") == "Movie.2020.mkv original"
    assert folder_name(t, "infohash") == t.infohash


def test_collisions_are_stable_and_distinct() -> None:
    a = torrent("a", "Same", [("x.mkv", 1)], infohash="1" * 40)
    b = torrent("b", "Same", [("y.mkv", 1)], infohash="2" * 40)
    c = torrent("c", "Other", [("z.mkv", 1)])
    names = unique_names([a, b, c], "filename")
    assert len(set(names.values())) == 3
    assert names == unique_names([c, b, a], "filename")   # order does not matter
    assert names[c.key] == "Other"


def test_groups_categories_and_custom_folders() -> None:
    cfg = parse_config({"custom_folders": {
        "Big": {"filters": {"size_gt": "1MB"}},
        "Shows": {"filters": {"regex": r"S\d\dE\d\d", "file_count_lt": 3}},
        "Recent": {"filters": {"last_added": "2d"}},
        "NoSamples": {"filters": {"not_files_regex": "sample"}},
    }}, "/tmp/c")
    now = 1_700_000_000.0
    show = torrent("s", "Show S01E01", [("ep.mkv", 2 << 20)], added=now - 3600)
    movie = torrent("m", "Movie", [("movie.mkv", 10), ("sample.mkv", 1)], added=now - 10 * 86400)
    bad = torrent("d", "Dead", [("gone.mkv", 5)], status=TorrentStatus.DEAD)
    snap = build_snapshot(now, [show, movie, bad], cfg.categories, cfg.custom_folders, {show.key: "tv"})
    members = {name: sorted(node.children) for name, node in snap.root.children.items()}
    assert members["__all__"] == ["Movie", "Show S01E01"]
    assert members["__bad__"] == ["Dead"]
    assert members["tv"] == ["Show S01E01"] and members["sonarr"] == []
    assert members["Big"] == ["Show S01E01"] and members["Shows"] == ["Show S01E01"]
    assert members["Recent"] == ["Show S01E01"] and members["NoSamples"] == ["Show S01E01"]
    assert snap.root.children["__all__"].mtime == now - 3600   # newest member, not "now"


def test_subfolders_and_duplicate_paths() -> None:
    t = torrent("a", "Pack", [("Season 1/e1.mkv", 1), ("Season 1/e1.mkv", 2), ("/abs/../x.mkv", 3)])
    snap = build_snapshot(0, [t])
    pack = snap.resolve(["__all__", "Pack"])
    assert sorted(pack.children) == ["Season 1", "abs"]
    assert sorted(snap.resolve(["__all__", "Pack", "Season 1"]).children) == ["e1.mkv", "e1.mkv [2]"]
    assert snap.resolve(["__all__", "Pack", "abs", ".."]) is None
