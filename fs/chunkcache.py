"""On-disk chunk cache shared by every reader of a remote file.

FUSE, WebDAV and the browse API all read through one ``ChunkCache``: a file
(``key``) is split into fixed ``chunk_size`` chunks; a read serves the chunks
already on disk and fetches the missing ones upstream, one ``fetch`` call per
contiguous run of missing chunks.

A reader opens a ``CacheFile`` (``ChunkCache.open``) for the life of its handle: the
key is hashed once, the file is pinned (never dropped while open) and its ``.data``
is opened once, so a read wholly on disk costs two short holds of the cache's lock
(check and pin, unpin) around one ``pread``. The data flows one way: reader →
``CacheFile`` → the ``fetch`` given at open (the upstream), never back.

Layout and durability
---------------------
- ``cache_dir/<sha1(key)[:2]>/<sha1(key)>.data``: a sparse file, truncated to
  the file's size on creation; chunks are ``os.pwrite``-n at their offsets,
  past the page cache (O_DIRECT) where the filesystem allows (``fs.chunkwrite``
  says why; the reader of a chunk just fetched takes it from memory).
- ``cache_dir/index.db``: the persistent index, kept by ``fs.chunkindex``
  (schema and transactions are described there). A chunk is recorded only
  after its pwrite returned, and forgotten (committed) before its bytes are
  released, so a crash can lose records (the chunk is fetched again) but
  never leaves a record for bytes that are not on disk. There is
  no fdatasync by default: the page cache outlives a crashed *process*, which
  is the case that matters; after a power loss the WAL could outlive the data
  pages, so ``durable=True`` fdatasyncs every chunk before recording it.
- On start the index is loaded; files whose ``.data`` is missing are
  forgotten, ``.data`` files the index does not know are deleted, and a
  changed ``chunk_size`` wipes everything (chunk numbers would mean nothing).
  Access times of cache hits are kept in memory and written with the next
  commit or on ``close()``; losing them only blurs the LRU order.

Budget
------
``bytes_on_disk`` = recorded chunk bytes + bytes being written + "dead" bytes.
Room is reserved *before* a pwrite, so the cache never exceeds ``max_bytes``,
not even while writing. Eviction is LRU per chunk (``clock.now()`` access
order), kept by ``fs.chunkledger``. An evicted chunk's blocks are released with
``fallocate(PUNCH_HOLE)``; where that fails the bytes stay allocated and count
as dead until the whole ``.data`` is deleted, which happens as soon as a file
has no chunks and no user. Chunks pinned by running reads are never evicted;
when the budget cannot be met without them, fetched bytes are served without
being cached.

Concurrency
-----------
One lock guards the ledger and the flights; it is never held while fetching,
nor for the pread/pwrite of chunk data (only for SQLite commits and hole
punching, which must not race with a re-fetch of the same chunk). Single
flight (``gateway.singleflight``): the first reader to miss a chunk claims it;
others wait on its flight and take the bytes from it (even if they could not be
cached). If the fetch raises, waiters re-raise the same exception and nothing
is cached for those chunks.

Hits and misses are counted in one place, once per read as it arrives
(``CacheFile.read_cached``), per chunk: the read's chunks already on disk are
hits, the others misses (prefetches count nothing).
``prefetch`` is read-ahead: it fetches missing chunks nobody else is fetching
and waits for nothing. ``expiry <= 0`` disables ``evict_expired``.
"""

from __future__ import annotations

import hashlib

from fs.cachefile import CacheFile, CacheState, Fetch
from fs.chunkledger import ChunkLedger
from fs.chunkwrite import ChunkWriter
from gateway.clock import Clock

__all__ = ["CacheFile", "ChunkCache", "Fetch"]


class ChunkCache:
    def __init__(self, cache_dir: str, chunk_size: int, max_bytes: int, expiry: float, clock: Clock,
                 *, durable: bool = False) -> None:
        if chunk_size <= 0:
            raise ValueError("chunk_size must be positive")
        self._cs = chunk_size
        self._expiry = expiry
        self._clock = clock
        self._ledger = ChunkLedger(cache_dir, chunk_size, max_bytes, durable=durable)
        self._state = CacheState(self._ledger, clock, ChunkWriter(chunk_size, durable=durable))
        self._lock = self._state.lock
        with self._lock:
            self._ledger.load()
            self._ledger.make_room(0)   # max_bytes may have shrunk since the last run

    # ----------------------------------------------------------------- public

    def open(self, key: str, size: int, fetch: Fetch, hold: int = 0) -> CacheFile:
        """A reader's view of ``key`` (``size`` bytes) until ``close()``; misses come from ``fetch``;
        ``hold``: chunks it keeps in memory after fetching them (``CacheFile``)."""
        h = _hash(key)
        with self._lock:
            self._state.check_open()
            entry = self._ledger.pin_file(h, size, self._clock.now())
        return CacheFile(self._state, h, size, entry, fetch, hold)

    def read(self, key: str, size: int, offset: int, length: int, fetch: Fetch, *, prefetch: bool = False) -> bytes:
        """One read without a handle: bytes ``[offset, offset+length)`` of ``key``, clipped at EOF."""
        if offset < 0:
            raise ValueError("negative offset")
        if length <= 0 or offset >= min(offset + length, size):
            return b""
        file = self.open(key, size, fetch)
        try:
            if prefetch:
                file.prefetch(offset, length)
                return b""
            return file.read(offset, length)
        finally:
            file.close()

    def has(self, key: str, offset: int, length: int) -> bool:
        """Whether every chunk covering the range (clipped at EOF) is cached."""
        with self._lock:
            entry = self._ledger.files.get(_hash(key))
            if entry is None:
                return length <= 0
            end = min(offset + length, entry.size)
            if length <= 0 or offset >= end:
                return True
            return all(i in entry.chunks for i in range(offset // self._cs, (end - 1) // self._cs + 1))

    def missing_chunks(self, key: str, size: int, offset: int, length: int) -> list[int]:
        end = min(offset + length, size)
        if length <= 0 or offset >= end:
            return []
        wanted = range(offset // self._cs, (end - 1) // self._cs + 1)
        with self._lock:
            entry = self._ledger.files.get(_hash(key))
            if entry is None or entry.size != size:
                return list(wanted)
            return [i for i in wanted if i not in entry.chunks]

    def stats(self) -> dict[str, int]:
        with self._lock:
            return {**self._state.stats, "bytes_on_disk": self._ledger.bytes, "files": len(self._ledger.files)}

    def evict_expired(self) -> int:
        """Drop files nobody read for longer than ``expiry``; returns the bytes freed."""
        if self._expiry <= 0:
            return 0
        with self._lock:
            self._state.check_open()
            cutoff = self._clock.now() - self._expiry
            stale = [h for h, e in self._ledger.files.items() if not e.pins and e.last_used < cutoff]
            freed = sum(self._ledger.drop_file(h) for h in stale)
            self._ledger.index.commit()
            return freed

    def close(self) -> None:
        """Persist access times and close the index (open ``CacheFile``s close their own descriptors)."""
        with self._lock:
            self._ledger.index.close()
        self._state.writer.close()


def _hash(key: str) -> str:
    return hashlib.sha1(key.encode("utf-8", "surrogateescape")).hexdigest()
