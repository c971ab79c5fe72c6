"""Incremental snapshots at 100,000 torrents: every derive equals a rebuild from scratch."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from gateway.config import parse_config
from gateway.library.index import Changes, TreeIndex
from gateway.library.snapshot import DirNode, Snapshot
from gateway.models import RemoteFile, Torrent, TorrentStatus

N = 100_000
NOW = 1_800_000_000.0


class _Clock:
    def now(self) -> float:
        return NOW


def _torrent(i: int, name: str | None = None, **changes: Any) -> Torrent:
    t = Torrent(provider="rd", id=f"T{i:07d}", infohash=f"{i:040x}", name=name or f"Show.{i}.1080p",
                size=1000 + i, status=TorrentStatus.DOWNLOADED, progress=1.0, added=1_700_000_000.0 + i,
                files=(RemoteFile(1, f"Show.{i}.mkv", 1000 + i, True, f"l{i}"),), links=(f"l{i}",))
    return replace(t, **changes) if changes else t


def _index(torrents: list[Torrent], categories: dict[tuple[str, str], str], bad: set[tuple[str, str]]) -> Any:
    cfg = parse_config({"custom_folders": {"Big": {"filters": {"size_gt": "90KB"}}}}, "/tmp/c")
    index = TreeIndex("filename", cfg.categories, cfg.custom_folders, lambda: dict(categories), _Clock())
    snap = index.load(torrents)
    if bad:
        snap = index.derive(Changes(mark_bad=set(bad)))
    return index, snap


def _groups(snap: Snapshot) -> dict[str, dict[str, tuple[str, str] | None]]:
    return {g: {name: node.torrent for name, node in group.children.items() if isinstance(node, DirNode)}
            for g, group in snap.root.children.items() if isinstance(group, DirNode)}


@pytest.fixture(scope="module")
def library() -> dict[str, Any]:
    torrents = [_torrent(i) for i in range(N)]
    categories = {torrents[i].key: "sonarr" for i in range(0, N, 10)}
    index, snap = _index(torrents, categories, set())
    return {"torrents": {t.key: t for t in torrents}, "categories": categories, "index": index,
            "snap": snap, "bad": set()}


def _check(lib: dict[str, Any], changes: Changes) -> Snapshot:
    """Derive, then compare with a rebuild of the same state; unchanged folders keep their node."""
    before = lib["snap"]
    lib["torrents"].update(changes.upserts)
    for key in changes.deletes:
        lib["torrents"].pop(key, None)
        lib["bad"].discard(key)
    lib["bad"] |= changes.mark_bad
    after = lib["index"].derive(changes)
    _, fresh = _index(list(lib["torrents"].values()), lib["categories"], lib["bad"])
    assert _groups(after) == _groups(fresh)
    assert after.folders == fresh.folders and after.bad == fresh.bad
    assert after.generation == before.generation + 1
    untouched = _torrent(55_555).key
    name = before.folders[untouched]
    assert after.root.children["__all__"].children[name] is before.root.children["__all__"].children[name]
    lib["snap"] = after
    return after


def test_add(library: dict[str, Any]) -> None:
    new = _torrent(N + 1, name="Brand New Film")
    after = _check(library, Changes(upserts={new.key: new}))
    assert after.root.children["__all__"].children["Brand New Film"].torrent == new.key


def test_change_renames_and_moves_groups(library: dict[str, Any]) -> None:
    old = _torrent(7)
    changed = _torrent(7, name="Renamed Seven", size=200_000)
    after = _check(library, Changes(upserts={changed.key: changed}))
    all_ = after.root.children["__all__"].children
    assert "Renamed Seven" in all_ and old.name not in all_
    assert "Renamed Seven" in after.root.children["Big"].children


def test_clash_suffixes_both(library: dict[str, Any]) -> None:
    twin = _torrent(N + 2, name="Show.42.1080p")
    after = _check(library, Changes(upserts={twin.key: twin}))
    names = [n for n in after.root.children["__all__"].children if n.startswith("Show.42.1080p")]
    assert len(names) == 2 and all("[" in n for n in names)


def test_delete(library: dict[str, Any]) -> None:
    gone = _torrent(20)   # in the sonarr category too
    after = _check(library, Changes(deletes={gone.key}))
    assert gone.key not in after.torrents
    assert gone.name not in after.root.children["sonarr"].children


def test_mark_bad_moves_to_bad(library: dict[str, Any]) -> None:
    broken = _torrent(30)
    after = _check(library, Changes(mark_bad={broken.key}))
    assert broken.name in after.root.children["__bad__"].children
    assert broken.name not in after.root.children["__all__"].children
    assert broken.name not in after.root.children["sonarr"].children


def test_failed_status_and_incomplete_details(library: dict[str, Any]) -> None:
    dead = _torrent(40, status=TorrentStatus.DEAD)
    listed = _torrent(N + 3, name="No Files Yet", files=())
    after = _check(library, Changes(upserts={dead.key: dead, listed.key: listed}))
    assert dead.name in after.root.children["__bad__"].children
    assert "No Files Yet" not in after.root.children["__all__"].children
