"""One schema history: a database from an earlier version upgrades in place on start."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from gateway.library.nzblayout import Layout, LayoutStore, Member, Source
from gateway.store import MIGRATIONS, Store

LAYOUT = Layout("job1", (Source("a.mkv", 1500, 1000, ("<a1@x>", "<a2@x>")),),
                (Member("Show/a.mkv", 1500, ((0, 0, 1500),)),))


def _database_at(path: Path, version: int, extra: str = "") -> None:
    """A database as release ``version`` left it: its migrations run, nothing after."""
    conn = sqlite3.connect(path, isolation_level=None)
    for sql in MIGRATIONS[:version]:
        conn.executescript(sql)
    if extra:
        conn.executescript(extra)
    conn.execute(f"PRAGMA user_version = {version}")
    conn.close()


def test_usenet_tables_are_a_numbered_migration(tmp_path: Path) -> None:
    store = Store(tmp_path / "d.db")
    assert store.schema_version == len(MIGRATIONS) >= 6
    assert "usenet_sources" in MIGRATIONS[5] and "usenet_members" in MIGRATIONS[5]
    tables = {r[0] for r in store.query("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert {"usenet_sources", "usenet_members"} <= tables


def test_version_5_database_without_the_tables_upgrades(tmp_path: Path) -> None:
    _database_at(tmp_path / "d.db", 5)
    store = Store(tmp_path / "d.db")
    assert store.schema_version == len(MIGRATIONS)
    layouts = LayoutStore(store)
    layouts.save(LAYOUT)
    assert LayoutStore(store).get("job1") == LAYOUT


def test_version_5_database_with_layouts_keeps_them(tmp_path: Path) -> None:
    """Version 5 created the tables outside the migrations (the layout store did it): their
    rows must survive the upgrade, readable by the new code."""
    path = tmp_path / "d.db"
    _database_at(path, 5, MIGRATIONS[5])       # the same DDL the old layout store ran
    store = Store(path)
    LayoutStore(store).save(LAYOUT)
    store.close()
    with sqlite3.connect(path) as raw:
        raw.execute("PRAGMA user_version = 5")
    upgraded = Store(path)
    assert upgraded.schema_version == len(MIGRATIONS)
    assert LayoutStore(upgraded).get("job1") == LAYOUT
    assert LayoutStore(upgraded).jobs() == ["job1"]
