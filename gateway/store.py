"""The one SQLite database (``decypharr.db``): WAL, schema version, migrations.

Migrations are plain numbered SQL, applied in order inside a transaction, so
a database from any earlier version upgrades on start. Every write is a
transaction; a kill at any moment leaves the last committed state.

Holds the last library index (so a restart serves the tree before the first
provider listing returns), and later the import records, categories, auth
data and repair jobs.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import fields
from pathlib import Path
from typing import Any

from gateway.models import RemoteFile, StoredFiles, Torrent, TorrentStatus

MIGRATIONS: tuple[str, ...] = (
    # 1: the library index, one row per provider torrent.
    """
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    CREATE TABLE library_torrents (
        provider TEXT NOT NULL,
        id TEXT NOT NULL,
        data TEXT NOT NULL,
        PRIMARY KEY (provider, id)
    );
    """,
    # 2: auth (gateway/auth/): the UI user, the API token (kept readable so
    # Settings can show it; the file is chmod 600), hashed session tokens.
    """
    CREATE TABLE users (username TEXT PRIMARY KEY, password_hash TEXT NOT NULL, created REAL NOT NULL);
    CREATE TABLE secrets (name TEXT PRIMARY KEY, value TEXT NOT NULL);
    CREATE TABLE sessions (
        token_hash TEXT PRIMARY KEY,
        kind TEXT NOT NULL,
        subject TEXT NOT NULL,
        expires REAL NOT NULL
    );
    CREATE INDEX sessions_expires ON sessions (expires);
    """,
    # 3: import records (gateway/imports), their .torrent files, categories, registered *arrs.
    """
    CREATE TABLE imports (
        hash TEXT PRIMARY KEY,
        category TEXT NOT NULL,
        state TEXT NOT NULL,
        added_on REAL NOT NULL,
        data TEXT NOT NULL
    );
    CREATE INDEX imports_category ON imports (category);
    CREATE TABLE import_torrents (hash TEXT PRIMARY KEY, data BLOB NOT NULL);
    CREATE TABLE categories (name TEXT PRIMARY KEY, save_path TEXT NOT NULL);
    CREATE TABLE arrs (name TEXT PRIMARY KEY, host TEXT NOT NULL, token TEXT NOT NULL, type TEXT NOT NULL);
    """,
    # 4: repair jobs (gateway/repair): one row a job, its items and their steps in the JSON.
    """
    CREATE TABLE repair_jobs (
        id TEXT PRIMARY KEY,
        created_at REAL NOT NULL,
        status TEXT NOT NULL,
        data TEXT NOT NULL
    );
    CREATE INDEX repair_jobs_created ON repair_jobs (created_at);
    """,
    # 5: adds sent to an account whose answer was never recorded (gateway/imports/orphans.py):
    # written before the call, so a crash between the call and its answer leaves the evidence.
    """
    CREATE TABLE import_submissions (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        hash TEXT NOT NULL,
        account TEXT NOT NULL,
        at REAL NOT NULL
    );
    CREATE INDEX import_submissions_account ON import_submissions (account);
    """,
    # 6: usenet job layouts (gateway/library/nzblayout.py): one row per posted file (message ids
    # and uneven article starts as zlib blobs), a job's tree members as one JSON row. Version 5
    # databases may hold these tables already (they were created outside the migrations then),
    # hence IF NOT EXISTS: their rows are kept as they are.
    """
    CREATE TABLE IF NOT EXISTS usenet_sources (
        job TEXT NOT NULL,
        idx INTEGER NOT NULL,
        name TEXT NOT NULL,
        size INTEGER NOT NULL,
        part_size INTEGER NOT NULL,
        ids BLOB NOT NULL,
        starts BLOB NOT NULL,
        PRIMARY KEY (job, idx)
    );
    CREATE TABLE IF NOT EXISTS usenet_members (job TEXT PRIMARY KEY, data TEXT NOT NULL);
    """,
    # 7: what *arr queue cleanup did (gateway/integrations/queuecleanup.py): one row an action.
    """
    CREATE TABLE IF NOT EXISTS queue_cleanup_actions (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        at REAL NOT NULL,
        arr TEXT NOT NULL,
        download_id TEXT NOT NULL,
        data TEXT NOT NULL
    );
    """,
    # 8: archive layouts (gateway/library/layouts.py): what a torrent's RAR/7z set holds, learned
    # once from its volumes' headers; keyed by infohash, so every placement of it shares one.
    """
    CREATE TABLE IF NOT EXISTS archive_layouts (key TEXT PRIMARY KEY, data TEXT NOT NULL);
    """,
)


class Store:
    """Thread-safe access to the database: one connection, one lock, short transactions."""

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self._conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=NORMAL")
        self._conn.execute("PRAGMA busy_timeout=5000")
        self._migrate()

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    @property
    def schema_version(self) -> int:
        return int(self._conn.execute("PRAGMA user_version").fetchone()[0])

    def _migrate(self) -> None:
        with self._lock:
            version = self.schema_version
            for number, sql in enumerate(MIGRATIONS[version:], start=version + 1):
                with self.transaction() as conn:
                    for statement in _split_sql(sql):
                        conn.execute(statement)
                    conn.execute(f"PRAGMA user_version = {number}")

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """BEGIN IMMEDIATE … COMMIT, rolled back on any exception."""
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    def query(self, sql: str, params: tuple[Any, ...] = ()) -> list[sqlite3.Row]:
        with self._lock:
            cursor = self._conn.execute(sql, params)
            return cursor.fetchall()

    # ---------------------------------------------------------------- meta

    def get_meta(self, key: str, default: str = "") -> str:
        rows = self.query("SELECT value FROM meta WHERE key = ?", (key,))
        return str(rows[0][0]) if rows else default

    def set_meta(self, key: str, value: str) -> None:
        with self.transaction() as conn:
            conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))

    # ------------------------------------------------------- library index

    def load_library(self) -> list[Torrent]:
        return [_torrent_from_json(row[0]) for row in self.query("SELECT data FROM library_torrents")]

    def apply_library(self, upserts: Iterable[Torrent], deletes: Iterable[tuple[str, str]] = ()) -> None:
        """Write changed torrents and drop deleted ones, in one transaction."""
        rows = [(t.provider, t.id, _torrent_to_json(t)) for t in upserts]   # encoded outside the lock
        gone = list(deletes)
        if not rows and not gone:
            return
        with self.transaction() as conn:
            conn.executemany("INSERT OR REPLACE INTO library_torrents (provider, id, data) VALUES (?, ?, ?)", rows)
            conn.executemany("DELETE FROM library_torrents WHERE provider = ? AND id = ?", gone)


    # ------------------------------------------------------- archive layouts

    def load_layouts(self) -> dict[str, str]:
        return {str(row[0]): str(row[1]) for row in self.query("SELECT key, data FROM archive_layouts")}

    def save_layout(self, key: str, data: str) -> None:
        with self.transaction() as conn:
            conn.execute("INSERT OR REPLACE INTO archive_layouts (key, data) VALUES (?, ?)", (key, data))


def _split_sql(script: str) -> list[str]:
    return [s.strip() for s in script.split(";") if s.strip()]


_TORRENT_FIELDS = tuple(f.name for f in fields(Torrent) if f.name not in ("files", "status", "links"))


def _torrent_to_json(torrent: Torrent) -> str:
    """The torrent's JSON, a newline, then its files' JSON: a load decodes the first part
    only and keeps the files as text until they are used (``StoredFiles``). Field by field:
    ``dataclasses.asdict`` deep-copies every file and is ten times slower."""
    data: dict[str, Any] = {name: getattr(torrent, name) for name in _TORRENT_FIELDS}
    data["status"] = torrent.status.value
    data["links"] = list(torrent.links)
    selected = [f.size for f in torrent.files if f.selected]
    data["nfiles"], data["shown"] = len(torrent.files), [sum(selected), len(selected)]
    data["archives"] = int(any(_looks_like_volume(f.path) for f in torrent.files))
    files = [[f.id, f.path, f.size, int(f.selected), f.link] for f in torrent.files]
    text = (json.dumps(data, separators=(",", ":"), ensure_ascii=False) + "\n"
            + json.dumps(files, separators=(",", ":"), ensure_ascii=False))
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        # A provider sent a lone surrogate (JSON "\udcff"): SQLite wants valid UTF-8, and
        # escaped JSON keeps the name exactly as the provider gave it.
        text = json.dumps(data, separators=(",", ":")) + "\n" + json.dumps(files, separators=(",", ":"))
    return text


def _looks_like_volume(path: str) -> bool:
    """A hint kept with the row: whether a name may be a RAR/7z volume (so a load need not look)."""
    lower = path.lower()
    return ".rar" in lower or ".7z" in lower


def _torrent_from_json(text: str) -> Torrent:
    head, newline, raw_files = text.partition("\n")   # JSON text never holds a raw newline
    data = json.loads(head)
    files: Sequence[RemoteFile]
    if newline:
        shown = data.pop("shown")
        archives = data.pop("archives", None)
        files = StoredFiles(raw_files, data.pop("nfiles"), (shown[0], shown[1]),
                            None if archives is None else bool(archives))
    else:   # a row written before the files were kept apart
        # One C call per file: ``selected`` stays the stored 0/1, which compares and tests like the bool.
        files = tuple(map(RemoteFile._make, data.pop("files")))
    data["status"] = TorrentStatus(data["status"])
    data["links"] = tuple(data.get("links", ()))
    return Torrent(files=files, **data)
