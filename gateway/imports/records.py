"""Import records: one per torrent an *arr or a user sent, keyed by v1 infohash.

The record is the unit of durability: it is written before ``add`` returns,
every state change is one transaction, and a restarted gateway resumes each
unfinished record from its stored state.
"""

from __future__ import annotations

import enum
import json
import sqlite3
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

from gateway.store import Store


class ImportState(enum.StrEnum):
    """qBittorrent's state words, as the *arrs read them (arr-protocol §1.5)."""

    METADATA = "metaDL"          # added, provider not yet asked or still converting
    QUEUED = "queuedDL"          # waiting for a worker slot or a provider slot
    DOWNLOADING = "downloading"  # the provider is fetching it, or the action is running
    COMPLETE = "pausedUP"        # files ready at content_path
    ERROR = "error"              # failed; ``error`` says why

    @property
    def finished(self) -> bool:
        return self in (ImportState.COMPLETE, ImportState.ERROR)


@dataclass(frozen=True)
class ImportFile:
    path: str        # relative to the torrent root, '/'-separated
    size: int
    selected: bool = True


@dataclass(frozen=True)
class ImportRecord:
    hash: str
    name: str
    category: str = ""
    action: str = "symlink"
    magnet: str = ""
    has_torrent_file: bool = False
    debrid: str = ""                 # requested provider ("" = choose)
    download_uncached: bool | None = None
    provider: str = ""               # provider that holds it
    provider_id: str = ""
    state: ImportState = ImportState.METADATA
    progress: float = 0.0
    size: int = 0
    speed: int = 0
    seeders: int = 0
    error: str = ""
    added_on: float = 0.0
    completed_on: float = 0.0
    save_path: str = ""
    content_path: str = ""
    folder: str = ""                 # torrent folder name in the library tree
    files: tuple[ImportFile, ...] = ()
    tags: tuple[str, ...] = ()
    attempts: int = 0
    next_try: float = 0.0            # wall-clock time before which no poll happens
    submitting: bool = False         # set before the provider add, so a crash mid-add is detected
    deleted: bool = False
    kind: str = "torrent"            # "torrent" or "nzb"
    nzb_url: str = ""                # an NZB the provider fetches itself (SAB addurl)
    # Every provider attempt, oldest first: (account, outcome), e.g. ("realdebrid", "refused: infringing_file").
    provider_attempts: tuple[tuple[str, str], ...] = ()
    tried: tuple[str, ...] = ()      # accounts that turned it down in the current round of adds

    def with_changes(self, **changes: Any) -> ImportRecord:
        return replace(self, **changes)

    @property
    def selected_size(self) -> int:
        return sum(f.size for f in self.files if f.selected) or self.size


@dataclass(frozen=True)
class AddRequest:
    """What the qBit API, the REST API or the UI asks to import."""

    magnet: str = ""
    torrent_file: bytes = b""
    category: str = ""
    action: str = ""                 # "" = the configured default
    debrid: str = ""
    download_uncached: bool | None = None
    tags: tuple[str, ...] = field(default_factory=tuple)
    nzb: bytes = b""                 # an uploaded NZB (``nzb_name`` names the job)
    nzb_url: str = ""                # or an NZB link
    nzb_name: str = ""               # SAB's nzbname: names the job before anything else
    nzb_file_name: str = ""          # the uploaded file's name without .nzb: the last resort


def _to_row(record: ImportRecord) -> tuple[str, str, str, float, str]:
    data = asdict(record)
    data["state"] = record.state.value
    data["files"] = [[f.path, f.size, int(f.selected)] for f in record.files]
    return (record.hash, record.category, record.state.value, record.added_on,
            json.dumps(data, separators=(",", ":"), ensure_ascii=False))


def _from_row(text: str) -> ImportRecord:
    data = json.loads(text)
    data["state"] = ImportState(data["state"])
    data["files"] = tuple(ImportFile(p, s, bool(sel)) for p, s, sel in data["files"])
    data["tags"] = tuple(data.get("tags", ()))
    data["provider_attempts"] = tuple((str(a), str(b)) for a, b in data.get("provider_attempts", ()))
    data["tried"] = tuple(data.get("tried", ()))
    known = {f.name for f in fields(ImportRecord)}
    return ImportRecord(**{k: v for k, v in data.items() if k in known})


class ImportRepo:
    """Persistence of import records, their .torrent files, categories and registered *arrs."""

    def __init__(self, store: Store) -> None:
        self._store = store

    def save(self, record: ImportRecord, *, settle: str = "") -> None:
        """Write the record; with ``settle``, in the same transaction, the add just answered
        at that account stops being evidence (see ``settle``)."""
        with self._store.transaction() as conn:
            _upsert(conn, record)
            if settle:
                _settle(conn, record.hash, settle, newest=True)

    def insert_new(self, record: ImportRecord, torrent_file: bytes = b"") -> ImportRecord | None:
        """Insert unless the hash exists; returns the existing record on a duplicate."""
        with self._store.transaction() as conn:
            row = conn.execute("SELECT data FROM imports WHERE hash = ?", (record.hash,)).fetchone()
            if row is not None:
                return _from_row(row[0])
            _upsert(conn, record)
            if torrent_file:
                conn.execute("INSERT OR REPLACE INTO import_torrents (hash, data) VALUES (?, ?)",
                             (record.hash, torrent_file))
        return None

    def delete(self, hashes: list[str]) -> None:
        with self._store.transaction() as conn:
            for h in hashes:
                conn.execute("DELETE FROM imports WHERE hash = ?", (h,))
                conn.execute("DELETE FROM import_torrents WHERE hash = ?", (h,))
                conn.execute("DELETE FROM import_submissions WHERE hash = ?", (h,))

    def load_all(self) -> list[ImportRecord]:
        rows = self._store.query("SELECT data FROM imports ORDER BY added_on, hash")
        return [_from_row(r[0]) for r in rows]

    def torrent_file(self, infohash: str) -> bytes:
        rows = self._store.query("SELECT data FROM import_torrents WHERE hash = ?", (infohash,))
        return bytes(rows[0][0]) if rows else b""

    # ------------------------------------------------------ unconfirmed adds

    def submitted(self, infohash: str, account: str, at: float, *, forget_before: float) -> None:
        """An add is about to be sent: committed before the call, so a crash keeps it.
        Adds older than ``forget_before`` go: a copy that never appeared will not now."""
        with self._store.transaction() as conn:
            conn.execute("DELETE FROM import_submissions WHERE at < ?", (forget_before,))
            conn.execute("INSERT INTO import_submissions (hash, account, at) VALUES (?, ?, ?)",
                         (infohash, account, at))

    def settle(self, infohash: str, account: str, *, newest: bool = True) -> None:
        """One add at ``account`` is accounted for: its answer arrived, or its copy was
        adopted or deleted. ``newest`` picks the add just sent, else the oldest."""
        with self._store.transaction() as conn:
            _settle(conn, infohash, account, newest=newest)

    def unconfirmed(self, account: str, since: float) -> dict[str, list[float]]:
        """Hash → times of the adds at ``account`` since ``since`` whose copy is not
        accounted for (one indexed read: it runs at every listing)."""
        rows = self._store.query("SELECT hash, at FROM import_submissions WHERE account = ? AND at >= ? "
                                 "ORDER BY seq", (account, since))
        out: dict[str, list[float]] = {}
        for row in rows:
            out.setdefault(str(row[0]), []).append(float(row[1]))
        return out

    # ------------------------------------------------------------ categories

    def categories(self) -> dict[str, str]:
        return {str(r[0]): str(r[1]) for r in self._store.query("SELECT name, save_path FROM categories")}

    def save_category(self, name: str, save_path: str) -> None:
        with self._store.transaction() as conn:
            conn.execute("INSERT OR REPLACE INTO categories (name, save_path) VALUES (?, ?)", (name, save_path))

    def delete_categories(self, names: list[str]) -> None:
        with self._store.transaction() as conn:
            conn.executemany("DELETE FROM categories WHERE name = ?", [(n,) for n in names])

    # ------------------------------------------------------------------ arrs

    def arrs(self) -> list[dict[str, str]]:
        rows = self._store.query("SELECT name, host, token, type FROM arrs ORDER BY name")
        return [{"name": r[0], "host": r[1], "token": r[2], "type": r[3]} for r in rows]

    def save_arr(self, name: str, host: str, token: str, kind: str) -> None:
        with self._store.transaction() as conn:
            conn.execute("INSERT OR REPLACE INTO arrs (name, host, token, type) VALUES (?, ?, ?, ?)",
                         (name, host, token, kind))


def _upsert(conn: sqlite3.Connection, record: ImportRecord) -> None:
    conn.execute("INSERT OR REPLACE INTO imports (hash, category, state, added_on, data) VALUES (?, ?, ?, ?, ?)",
                 _to_row(record))


def _settle(conn: sqlite3.Connection, infohash: str, account: str, *, newest: bool) -> None:
    order = "DESC" if newest else "ASC"
    conn.execute(f"DELETE FROM import_submissions WHERE seq = (SELECT seq FROM import_submissions "
                 f"WHERE hash = ? AND account = ? ORDER BY seq {order} LIMIT 1)", (infohash, account))
