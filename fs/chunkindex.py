"""The persistent index of the chunk cache: ``cache_dir/index.db``.

``ChunkIndex`` is the SQLite side of ``fs.chunkcache.ChunkCache``. It knows
which chunks of which files are on disk across restarts; the cache keeps its
own in-memory view (chunk sets, LRU order, budget) and tells the index about
every change. The index never touches the ``.data`` files itself.

Schema (WAL journal)
--------------------
- ``meta(name, value)``: the ``chunk_size`` the index was written with.
- ``files(key_hash, size, last_used, dead)``: one row per cached file;
  ``dead`` counts bytes of forgotten chunks that are still allocated.
- ``chunks(key_hash, chunk, bytes, last_used)``: one row per chunk on disk.

Transactions
------------
``add_file`` and ``record_chunk`` commit at once: the cache calls
``record_chunk`` only after the chunk's pwrite returned, so a crash can lose a
record but never leave one for bytes that are not on disk. ``forget_chunk``
and ``set_dead`` only join the open transaction; the cache commits before it
releases the bytes, so a deleted record always goes before its data.
``forget_file`` commits, and the caller unlinks the data afterwards.

Access times of cache hits (``touch``) are not written at once: they wait in
memory for the next commit, since losing them only blurs the LRU order.

A damaged ``index.db`` is deleted and recreated empty on open; the cache then
deletes the ``.data`` files the empty index no longer knows.

Not thread-safe: the cache calls every method under its own lock. After
``close()`` writes are silently dropped (a read that was running when the
cache closed simply does not persist its result).
"""

from __future__ import annotations

import logging
import os
import sqlite3
from collections.abc import Callable, Iterable, Sequence
from typing import Any, NamedTuple

log = logging.getLogger(__name__)

ChunkId = tuple[str, int]             # (sha1 of key, chunk index)

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS meta(name TEXT PRIMARY KEY, value TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS files(key_hash TEXT PRIMARY KEY, size INTEGER NOT NULL,"
    " last_used REAL NOT NULL, dead INTEGER NOT NULL DEFAULT 0)",
    "CREATE TABLE IF NOT EXISTS chunks(key_hash TEXT NOT NULL, chunk INTEGER NOT NULL,"
    " bytes INTEGER NOT NULL, last_used REAL NOT NULL, PRIMARY KEY (key_hash, chunk)) WITHOUT ROWID",
)


class StoredFile(NamedTuple):
    key_hash: str
    size: int
    last_used: float
    dead: int


class StoredChunk(NamedTuple):
    key_hash: str
    chunk: int
    nbytes: int
    last_used: float


class ChunkIndex:
    """SQLite record of the cached files and chunks under ``cache_dir``.

    ``file_last_used(key_hash)`` returns a file's current access time in the
    cache (``None`` once it is forgotten); it is asked at commit time so that
    the stored time of a file whose chunks were hit is the latest one.
    """

    def __init__(self, cache_dir: str, chunk_size: int, file_last_used: Callable[[str], float | None],
                 *, durable: bool = False) -> None:
        self._path = os.path.join(cache_dir, "index.db")
        self._cs = chunk_size
        self._durable = durable
        self._file_last_used = file_last_used
        self._touched: dict[ChunkId, float] = {}   # access times not yet in the db
        self._db: sqlite3.Connection | None = self._open()

    @property
    def closed(self) -> bool:
        return self._db is None

    @property
    def pending_touches(self) -> int:
        """Access times waiting for the next commit."""
        return len(self._touched)

    # ------------------------------------------------------------- startup

    def load(self, has_data: Callable[[str], bool]) -> tuple[list[StoredFile], list[StoredChunk]]:
        """Clean up and return the stored files and chunks (chunks oldest access first).

        Dropped on the way: everything if ``chunk_size`` changed (chunk numbers
        would mean nothing), files without data (``has_data`` is False), and
        chunk rows of unknown files or of the wrong length. Files may come
        back without chunks; the caller decides what to do with them.
        """
        stored = self._query("SELECT value FROM meta WHERE name = 'chunk_size'")
        if stored and int(stored[0][0]) != self._cs:
            self._execute("DELETE FROM chunks")
            self._execute("DELETE FROM files")
        self._execute("INSERT OR REPLACE INTO meta(name, value) VALUES ('chunk_size', ?)", (str(self._cs),))
        files: dict[str, StoredFile] = {}
        for row in self._query("SELECT key_hash, size, last_used, dead FROM files"):
            stored_file = StoredFile(*row)
            if has_data(stored_file.key_hash):
                files[stored_file.key_hash] = stored_file
            else:   # the data is gone, so are its chunks
                self._execute("DELETE FROM files WHERE key_hash = ?", (stored_file.key_hash,))
        self._execute("DELETE FROM chunks WHERE key_hash NOT IN (SELECT key_hash FROM files)")
        chunks: list[StoredChunk] = []
        for row in self._query("SELECT key_hash, chunk, bytes, last_used FROM chunks ORDER BY last_used"):
            chunk = StoredChunk(*row)
            size = files[chunk.key_hash].size
            if chunk.nbytes != max(0, min(self._cs, size - chunk.chunk * self._cs)):
                # not a chunk of this file: never serve it
                self._execute("DELETE FROM chunks WHERE key_hash = ? AND chunk = ?", (chunk.key_hash, chunk.chunk))
                continue
            chunks.append(chunk)
        self.commit()
        return list(files.values()), chunks

    # ------------------------------------------------------------- changes

    def add_file(self, key_hash: str, size: int, last_used: float) -> None:
        """Record a new (empty) data file; committed at once."""
        self._execute("INSERT OR REPLACE INTO files(key_hash, size, last_used, dead) VALUES (?, ?, ?, 0)",
                      (key_hash, size, last_used))
        self.commit()

    def record_chunk(self, key_hash: str, chunk: int, nbytes: int, last_used: float) -> None:
        """Record a chunk whose bytes are already written; committed at once."""
        self._execute("INSERT OR REPLACE INTO chunks(key_hash, chunk, bytes, last_used) VALUES (?, ?, ?, ?)",
                      (key_hash, chunk, nbytes, last_used))
        self.commit()

    def touch(self, cid: ChunkId, when: float) -> None:
        """Note a cache hit; written with the next commit."""
        self._touched[cid] = when

    def forget_chunk(self, cid: ChunkId) -> None:
        """Delete a chunk's record in the open transaction: commit before releasing its bytes."""
        self._touched.pop(cid, None)
        self._execute("DELETE FROM chunks WHERE key_hash = ? AND chunk = ?", cid)

    def set_dead(self, key_hash: str, dead: int) -> None:
        """Store a file's dead byte count in the open transaction; written with the next commit."""
        self._execute("UPDATE files SET dead = ? WHERE key_hash = ?", (dead, key_hash))

    def forget_file(self, key_hash: str, chunks: Iterable[int]) -> None:
        """Delete a file and its ``chunks``; committed, so the caller may delete the data next."""
        for i in chunks:
            self._touched.pop((key_hash, i), None)
        self._execute("DELETE FROM chunks WHERE key_hash = ?", (key_hash,))
        self._execute("DELETE FROM files WHERE key_hash = ?", (key_hash,))
        self.commit()

    def commit(self) -> None:
        """Write pending access times and commit the open transaction."""
        if self._db is None:
            return
        if self._touched:
            rows = [(when, *cid) for cid, when in self._touched.items()]
            self._execute_many("UPDATE chunks SET last_used = ? WHERE key_hash = ? AND chunk = ?", rows)
            file_rows = []
            for h in {h for h, _ in self._touched}:
                last_used = self._file_last_used(h)
                if last_used is not None:
                    file_rows.append((last_used, h))
            self._execute_many("UPDATE files SET last_used = ? WHERE key_hash = ?", file_rows)
            self._touched.clear()
        self._db.commit()

    def close(self) -> None:
        """Commit what is pending and close; later calls do nothing."""
        if self._db is None:
            return
        self.commit()
        self._db.close()
        self._db = None

    # ------------------------------------------------------------- helpers

    def _open(self) -> sqlite3.Connection:
        try:
            return self._connect()
        except sqlite3.DatabaseError as exc:   # a damaged index: start empty, the cache deletes orphans
            log.warning("chunk cache: index %s unusable (%s), starting empty", self._path, exc)
            for suffix in ("", "-wal", "-shm"):
                try:
                    os.unlink(self._path + suffix)
                except FileNotFoundError:
                    pass
            return self._connect()

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self._path, check_same_thread=False)   # the cache serialises every use
        try:
            db.execute("PRAGMA journal_mode=WAL")
            # NORMAL survives process crashes; FULL also makes a delete durable before its hole is punched
            db.execute("PRAGMA synchronous=%s" % ("FULL" if self._durable else "NORMAL"))
            for statement in _SCHEMA:
                db.execute(statement)
            db.commit()
        except sqlite3.DatabaseError:
            db.close()
            raise
        return db

    def _query(self, sql: str) -> list[tuple[Any, ...]]:
        assert self._db is not None
        return self._db.execute(sql).fetchall()

    def _execute(self, sql: str, params: Sequence[object] = ()) -> None:
        if self._db is not None:   # None: closed under a running read, see the module docstring
            self._db.execute(sql, params)

    def _execute_many(self, sql: str, rows: Sequence[tuple[object, ...]]) -> None:
        if self._db is not None and rows:
            self._db.executemany(sql, rows)
