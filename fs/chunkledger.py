"""What the chunk cache holds on disk: files, chunks, LRU order, the byte budget.

``ChunkLedger`` is the bookkeeping half of ``fs.chunkcache.ChunkCache``: the in-memory view of
the cached files and chunks, the eviction order, the pins of running reads, the budget, the
``.data`` files themselves (create, write descriptor, hole punching, delete) and the
persistent ``fs.chunkindex`` it keeps in step. It never fetches and has no lock: the cache
calls every method under its own lock, except the pread/pwrite of chunk bytes, which use a
file's descriptor (``_File.fd``) outside the lock.

Descriptors: a file's ``.data`` is opened once when its first user pins it (a reader's handle
or a running read) and closed when the last one unpins it, so a handle reads and writes
through one descriptor for its whole life. A pinned file is never dropped, so its descriptor
stays valid while anyone uses it.

Eviction is LRU per chunk, kept in a cachetools ``LRUCache`` (the project's one LRU type)
used as an ordered set without a size limit: the budget is in bytes and pinned chunks are
skipped, which cachetools' own eviction cannot do.
"""

from __future__ import annotations

import ctypes
import logging
import math
import os
import sys
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from cachetools import LRUCache

from fs.chunkindex import ChunkId, ChunkIndex

log = logging.getLogger(__name__)

_FLUSH_TOUCHES = 1024                 # access times kept in memory before a hit-only workload commits them
_FALLOC_PUNCH = 0x01 | 0x02           # FALLOC_FL_KEEP_SIZE | FALLOC_FL_PUNCH_HOLE


def _load_fallocate() -> Callable[[int, int, int, int], int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(None, use_errno=True)
    except OSError:
        return None
    fn = getattr(libc, "fallocate64", None) or getattr(libc, "fallocate", None)
    if fn is None:
        return None
    fn.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int64, ctypes.c_int64]
    fn.restype = ctypes.c_int
    fallocate: Callable[[int, int, int, int], int] = fn   # a ctypes function: typed by the two lines above
    return fallocate


_fallocate = _load_fallocate()


@dataclass(eq=False)
class _File:
    size: int
    last_used: float
    chunks: set[int] = field(default_factory=set)
    dead: int = 0      # bytes of forgotten chunks still allocated (hole punching unavailable)
    pins: int = 0      # open handles and running reads of this file
    fd: int = -1       # the .data descriptor while pinned, else -1
    direct_fd: int = -1   # its O_DIRECT write descriptor, opened at the first such write while pinned


class ChunkLedger:
    def __init__(self, cache_dir: str, chunk_size: int, max_bytes: int, *, durable: bool) -> None:
        self.dir = cache_dir
        self.cs = chunk_size
        self.max = max(0, max_bytes)
        self.files: dict[str, _File] = {}
        self.bytes = 0   # recorded chunk bytes + bytes being written + dead bytes
        self._lru: LRUCache[ChunkId, float] = LRUCache(math.inf)   # oldest access first
        self._pins: Counter[ChunkId] = Counter()
        os.makedirs(cache_dir, exist_ok=True)
        self.index = ChunkIndex(cache_dir, chunk_size, self._file_last_used, durable=durable)

    # ------------------------------------------------------------- pins

    def pin_file(self, h: str, size: int, now: float) -> _File | None:
        """One more user of file ``h`` (``size`` bytes); None if another size is still in use."""
        entry = self.files.get(h)
        if entry is not None and entry.size != size:
            if entry.pins:
                return None
            self.drop_file(h)
            entry = None
        if entry is None:
            entry = self._create_file(h, size, now)
        elif entry.fd < 0:
            try:
                entry.fd = os.open(self.path(h), os.O_RDWR)
            except OSError:   # the data went behind our back: start the file again
                log.warning("chunk cache: %s unreadable, starting it again", self.path(h))
                self.drop_file(h)
                entry = self._create_file(h, size, now)
        entry.pins += 1
        return entry

    def unpin_file(self, h: str, entry: _File) -> None:
        entry.pins -= 1
        if entry.pins:
            return
        os.close(entry.fd)
        entry.fd = -1
        if entry.direct_fd >= 0:
            os.close(entry.direct_fd)
            entry.direct_fd = -1
        if not entry.chunks:   # nothing could be cached: don't keep an empty file
            self.drop_file(h)

    def pin_chunks(self, h: str, wanted: range) -> None:
        for i in wanted:
            self._pins[(h, i)] += 1

    def unpin_chunks(self, h: str, wanted: range) -> None:
        for i in wanted:
            cid = (h, i)
            self._pins[cid] -= 1
            if not self._pins[cid]:
                del self._pins[cid]
        if self.index.pending_touches >= _FLUSH_TOUCHES:   # hits alone don't commit; flush now and then
            self.index.commit()

    # ------------------------------------------------------------- chunks

    def touch(self, h: str, entry: _File, chunks: range | list[int], now: float) -> None:
        """Chunks read from disk: newest in the LRU order; the file does not expire."""
        entry.last_used = now
        for i in chunks:
            self._lru[(h, i)] = now
            self.index.touch((h, i), now)

    def record(self, h: str, i: int, nbytes: int, now: float) -> None:
        """Called only after the chunk's bytes were written."""
        entry = self.files[h]
        entry.chunks.add(i)
        entry.last_used = now
        self._lru[(h, i)] = now
        self.index.record_chunk(h, i, nbytes, now)

    def make_room(self, need: int) -> bool:
        """Evict unpinned LRU chunks until ``need`` more bytes fit; False if they cannot."""
        if need > self.max:
            return False
        skipped: list[tuple[ChunkId, float]] = []   # pinned: in use right now, so newest again afterwards
        try:
            while self.bytes + need > self.max:
                if not self._lru:
                    return False
                cid, when = self._lru.popitem()
                if self._pins[cid]:
                    skipped.append((cid, when))
                else:
                    self.evict_chunk(cid)
            return True
        finally:
            for cid, when in skipped:
                self._lru[cid] = when

    def evict_chunk(self, cid: ChunkId) -> None:
        h, i = cid
        entry = self.files[h]
        nbytes = self.chunk_len(entry.size, i)
        entry.chunks.discard(i)
        self._lru.pop(cid, None)
        self.index.forget_chunk(cid)
        if not entry.chunks and not entry.pins:
            self.bytes -= nbytes
            self.drop_file(h)
            return
        self.index.commit()   # the record goes before the bytes do
        if self._punch(h, entry, i * self.cs, self.cs):
            self.bytes -= nbytes
        else:
            entry.dead += nbytes
            self.index.set_dead(h, entry.dead)

    def forget_broken(self, h: str, chunks: list[int]) -> None:
        """Cached chunks that could not be read back (file damaged behind our back)."""
        log.warning("chunk cache: %s unreadable, fetching %d chunk(s) again", self.path(h), len(chunks))
        entry = self.files[h]
        for i in chunks:
            if i in entry.chunks:
                self.evict_chunk((h, i))

    # ------------------------------------------------------------- files

    def drop_file(self, h: str) -> int:
        """Forget a whole unpinned file and delete its data; returns the bytes freed."""
        entry = self.files.pop(h)
        freed = entry.dead
        for i in entry.chunks:
            self._lru.pop((h, i), None)
            freed += self.chunk_len(entry.size, i)
        self.bytes -= freed
        self.index.forget_file(h, entry.chunks)   # committed: the record goes before the bytes do
        try:
            os.unlink(self.path(h))
        except FileNotFoundError:
            pass
        return freed

    def _create_file(self, h: str, size: int, now: float) -> _File:
        path = self.path(h)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        # O_TRUNC first: a stray file from a crash must not keep old blocks allocated
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.ftruncate(fd, size)
        except OSError:
            os.close(fd)
            raise
        entry = self.files[h] = _File(size=size, last_used=now, fd=fd)
        self.index.add_file(h, size, now)
        return entry

    def _punch(self, h: str, entry: _File, offset: int, length: int) -> bool:
        if _fallocate is None:
            return False
        if entry.fd >= 0:
            return _fallocate(entry.fd, _FALLOC_PUNCH, offset, length) == 0
        try:
            fd = os.open(self.path(h), os.O_WRONLY)
        except OSError:
            return False
        try:
            return _fallocate(fd, _FALLOC_PUNCH, offset, length) == 0
        finally:
            os.close(fd)

    # ------------------------------------------------------------- startup

    def load(self) -> None:
        """Rebuild the in-memory view from ``index.db``, then delete what it does not know."""
        files, chunks = self.index.load(lambda h: os.path.exists(self.path(h)))
        for stored in files:
            self.files[stored.key_hash] = _File(size=stored.size, last_used=stored.last_used, dead=stored.dead)
            self.bytes += stored.dead
        for chunk in chunks:   # oldest access first, which is the LRU order
            self.files[chunk.key_hash].chunks.add(chunk.chunk)
            self._lru[(chunk.key_hash, chunk.chunk)] = chunk.last_used
            self.bytes += chunk.nbytes
        for h in [h for h, e in self.files.items() if not e.chunks]:   # nothing worth keeping
            self.drop_file(h)
        self.index.commit()
        self._remove_orphans()

    def _remove_orphans(self) -> None:
        """Delete ``.data`` files the index does not know (crash between create and commit)."""
        for sub in os.listdir(self.dir):
            folder = os.path.join(self.dir, sub)
            if len(sub) != 2 or not os.path.isdir(folder):
                continue
            for name in os.listdir(folder):
                if name.endswith(".data") and name[:-5] not in self.files:
                    try:
                        os.unlink(os.path.join(folder, name))
                    except OSError:
                        pass

    # ------------------------------------------------------------- helpers

    def _file_last_used(self, h: str) -> float | None:
        """For the index: a file's access time at commit time (lock held)."""
        entry = self.files.get(h)
        return None if entry is None else entry.last_used

    def chunk_len(self, size: int, i: int) -> int:
        return max(0, min(self.cs, size - i * self.cs))

    def path(self, h: str) -> str:
        return os.path.join(self.dir, h[:2], h + ".data")
