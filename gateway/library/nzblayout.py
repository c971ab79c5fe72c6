"""Where a usenet job's bytes are: posted files, their articles, and the files shown in the tree.

An import (``gateway/imports/usenet.py``) learns each posted file's article
layout once and stores it here; every later read maps an offset to its
article with ``bisect`` and no network call (contract §8). A posted file is a
``Source`` (a plain media file or one archive volume); what the tree shows is
a ``Member``: a list of extents over sources (one extent for a plain file,
one per volume it spans for a file inside a stored archive).

Stored compactly: one row per posted file, its message ids as one compressed
blob and, only when its parts are uneven, its article start offsets as another;
the members of a job as one JSON row (tables: ``gateway/store.py`` migration
6). A job's rows are written in one transaction and dropped together.
"""

from __future__ import annotations

import bisect
import json
import threading
import zlib
from array import array
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from gateway.archives.crypto import Cipher
from gateway.store import Store


@dataclass(frozen=True)
class Source:
    """One posted file: ``ids[i]`` holds bytes ``[start(i), start(i + 1))``."""

    name: str
    size: int
    part_size: int                       # every article's decoded size but the last's
    ids: tuple[str, ...]
    starts: tuple[int, ...] = ()         # each article's first byte, only when parts are uneven

    def start(self, index: int) -> int:
        if index >= len(self.ids):
            return self.size
        return self.starts[index] if self.starts else index * self.part_size

    def article_at(self, offset: int) -> int:
        """The article holding byte ``offset`` (no network: the table is known)."""
        if self.starts:
            return bisect.bisect_right(self.starts, offset) - 1
        return min(offset // self.part_size, len(self.ids) - 1) if self.part_size else 0

    def spans(self, lo: int, hi: int) -> Iterator[tuple[int, int, int]]:
        """(article, first byte, end) of each article holding bytes ``[lo, hi)``, in order."""
        index = self.article_at(lo)
        while lo < hi:
            end = min(hi, self.start(index + 1))
            yield index, lo, end
            lo, index = end, index + 1


@dataclass(frozen=True)
class Member:
    """A file of the tree: ``extents`` of (source index, offset in it, length), in order. With a
    ``cipher`` (a stored RAR file with encrypted data) the extents hold its ciphertext, ``size``
    padded to whole AES blocks, and ``size`` is the real size."""

    path: str
    size: int
    extents: tuple[tuple[int, int, int], ...]
    cipher: Cipher | None = None


@dataclass(frozen=True)
class Layout:
    job: str
    sources: tuple[Source, ...]
    members: tuple[Member, ...]


class LayoutStore:
    """Layouts in the database, with the ones in use kept decoded in memory."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._lock = threading.Lock()
        self._cache: dict[str, Layout] = {}   # the tables are the store's migration 6

    def save(self, layout: Layout) -> None:
        rows = [(layout.job, i, s.name, s.size, s.part_size, _pack_ids(s.ids), _pack_starts(s.starts))
                for i, s in enumerate(layout.sources)]
        members = json.dumps([_member_row(m) for m in layout.members], separators=(",", ":"), ensure_ascii=False)
        with self._store.transaction() as conn:
            conn.execute("DELETE FROM usenet_sources WHERE job = ?", (layout.job,))
            conn.executemany("INSERT INTO usenet_sources (job, idx, name, size, part_size, ids, starts) "
                             "VALUES (?, ?, ?, ?, ?, ?, ?)", rows)
            conn.execute("INSERT OR REPLACE INTO usenet_members (job, data) VALUES (?, ?)", (layout.job, members))
        with self._lock:
            self._cache[layout.job] = layout

    def get(self, job: str) -> Layout | None:
        with self._lock:
            cached = self._cache.get(job)
        if cached is not None:
            return cached
        rows = self._store.query("SELECT data FROM usenet_members WHERE job = ?", (job,))
        if not rows:
            return None
        members = tuple(_member(row) for row in json.loads(rows[0][0]))
        sources = tuple(Source(r[0], r[1], r[2], _unpack_ids(r[3]), _unpack_starts(r[4])) for r in self._store.query(
            "SELECT name, size, part_size, ids, starts FROM usenet_sources WHERE job = ? ORDER BY idx", (job,)))
        layout = Layout(job, sources, members)
        with self._lock:
            self._cache[job] = layout
        return layout

    def delete(self, job: str) -> None:
        with self._store.transaction() as conn:
            conn.execute("DELETE FROM usenet_sources WHERE job = ?", (job,))
            conn.execute("DELETE FROM usenet_members WHERE job = ?", (job,))
        with self._lock:
            self._cache.pop(job, None)

    def jobs(self) -> list[str]:
        return [str(r[0]) for r in self._store.query("SELECT job FROM usenet_members")]


def _member_row(member: Member) -> list[object]:
    """A member as JSON: path, size, extents, and the cipher's key and IV (hex) when encrypted."""
    row: list[object] = [member.path, member.size, [list(e) for e in member.extents]]
    if member.cipher is not None:
        row.append(member.cipher.to_json())
    return row


def _member(row: list[Any]) -> Member:
    path, size, extents = row[0], row[1], row[2]
    cipher = Cipher.from_json(row[3]) if len(row) > 3 else None
    return Member(path, int(size), tuple((int(a), int(b), int(c)) for a, b, c in extents), cipher)


def _pack_ids(ids: tuple[str, ...]) -> bytes:
    return zlib.compress("\n".join(ids).encode("utf-8"), 6)


def _unpack_ids(blob: bytes) -> tuple[str, ...]:
    text = zlib.decompress(blob).decode("utf-8")
    return tuple(text.split("\n")) if text else ()


def _pack_starts(starts: tuple[int, ...]) -> bytes:
    return zlib.compress(array("q", starts).tobytes(), 6) if starts else b""


def _unpack_starts(blob: bytes) -> tuple[int, ...]:
    if not blob:
        return ()
    values = array("q")
    values.frombytes(zlib.decompress(blob))
    return tuple(values)
