"""On-disk chunk cache shared by every reader of a remote file.

FUSE, WebDAV and the browse API all read through one ``ChunkCache``: a file
(``key``) is split into fixed ``chunk_size`` chunks; a read serves the chunks
already on disk and fetches the missing ones upstream, one ``fetch`` call per
contiguous run of missing chunks.

Layout and durability
---------------------
- ``cache_dir/<sha1(key)[:2]>/<sha1(key)>.data``: a sparse file, truncated to
  the file's size on creation; chunks are ``os.pwrite``-n at their offsets.
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
order). An evicted chunk's blocks are released with
``fallocate(PUNCH_HOLE)`` (Linux, via ctypes; not in the stdlib); where that
fails the bytes stay allocated and count as dead until the whole ``.data`` is
deleted, which happens as soon as a file has no chunks and no reader.
Chunks pinned by running reads are never evicted; when the budget cannot be
met without them, fetched bytes are served without being cached.

Concurrency
-----------
One lock guards the index and the in-flight map; it is never held while
fetching, nor for the pread/pwrite of chunk data (only for SQLite commits and
hole punching, which must not race with a re-fetch of the same chunk).
Single flight: the first reader to miss a chunk claims it; others wait on its
``_Flight`` and take the bytes from it (even if they could not be cached).
If the fetch raises, waiters re-raise the same exception (like a
``concurrent.futures.Future``) and nothing is cached for those chunks.

``prefetch=True`` is read-ahead: it fetches missing chunks nobody else is
fetching, waits for nothing, does not count hits/misses, and returns ``b""``.
``expiry <= 0`` disables ``evict_expired``.
"""

from __future__ import annotations

import ctypes
import errno
import hashlib
import logging
import os
import sys
import threading
from collections import Counter, OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from fs.chunkindex import ChunkId, ChunkIndex
from gateway.clock import Clock

log = logging.getLogger(__name__)

Fetch = Callable[[int, int], bytes]   # fetch(start, end_exclusive) -> exactly those bytes (or raises)

_FLUSH_TOUCHES = 1024                 # access times kept in memory before a hit-only workload commits them
_WAIT_SLICE = 30.0                    # re-check interval while waiting on another reader's fetch
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


@dataclass
class _File:
    size: int
    last_used: float
    chunks: set[int] = field(default_factory=set)
    dead: int = 0      # bytes of forgotten chunks still allocated (hole punching unavailable)
    pins: int = 0      # running reads of this file


class _Flight:
    """One chunk being fetched; waiters block on ``done``."""

    __slots__ = ("done", "data", "error")

    def __init__(self) -> None:
        self.done = threading.Event()
        self.data: memoryview | None = None     # the chunk's bytes once fetched
        self.error: BaseException | None = None  # set when the fetch failed


def _runs(indices: Iterable[int]) -> list[list[int]]:
    """Group sorted chunk indices into contiguous runs."""
    runs: list[list[int]] = []
    for i in indices:
        if runs and runs[-1][-1] + 1 == i:
            runs[-1].append(i)
        else:
            runs.append([i])
    return runs


def _place(out: bytearray, offset: int, start: int, data: bytes | memoryview) -> None:
    """Copy the part of ``data`` (which sits at ``start`` in the file) that overlaps ``out`` (at ``offset``)."""
    lo = max(start, offset)
    hi = min(start + len(data), offset + len(out))
    if lo < hi:
        out[lo - offset: hi - offset] = data[lo - start: hi - start]


def _pread_full(fd: int, length: int, offset: int) -> bytes:
    parts: list[bytes] = []
    while length > 0:
        data = os.pread(fd, length, offset)
        if not data:
            raise OSError(errno.EIO, "cache file shorter than its index says")
        parts.append(data)
        length -= len(data)
        offset += len(data)
    return b"".join(parts)


def _pwrite_full(fd: int, data: memoryview, offset: int) -> None:
    while data:
        written = os.pwrite(fd, data, offset)
        data = data[written:]
        offset += written


class ChunkCache:
    def __init__(self, cache_dir: str, chunk_size: int, max_bytes: int, expiry: float, clock: Clock,
                 *, durable: bool = False) -> None:
        if chunk_size <= 0:
            raise ValueError("chunk_size must be positive")
        self._dir = cache_dir
        self._cs = chunk_size
        self._max = max(0, max_bytes)
        self._expiry = expiry
        self._clock = clock
        self._durable = durable
        self._lock = threading.Lock()
        self._files: dict[str, _File] = {}
        self._lru: OrderedDict[ChunkId, float] = OrderedDict()   # oldest access first
        self._pins: Counter[ChunkId] = Counter()
        self._flights: dict[ChunkId, _Flight] = {}
        self._bytes = 0
        self._stats = {"hits": 0, "misses": 0, "fetches": 0, "fetched_bytes": 0}
        os.makedirs(cache_dir, exist_ok=True)
        self._index = ChunkIndex(cache_dir, chunk_size, self._file_last_used, durable=durable)
        with self._lock:
            self._load()
            self._make_room(0)   # max_bytes may have shrunk since the last run

    # ----------------------------------------------------------------- public

    def read(self, key: str, size: int, offset: int, length: int, fetch: Fetch, *, prefetch: bool = False) -> bytes:
        """Bytes ``[offset, offset+length)`` of ``key`` (``size`` bytes long), clipped at EOF."""
        if offset < 0:
            raise ValueError("negative offset")
        end = min(offset + length, size)
        if length <= 0 or offset >= end:
            return b""
        h = _hash(key)
        wanted = list(range(offset // self._cs, (end - 1) // self._cs + 1))
        with self._lock:
            pinned = self._pin(h, size, wanted)
        if not pinned:   # another reader still uses an older size of this key: bypass the cache
            return b"" if prefetch else fetch(offset, end)
        try:
            whole = None if prefetch else self._read_cached(h, wanted, offset, end)
            if whole is not None:
                return whole
            out = bytearray(0 if prefetch else end - offset)   # read-ahead returns nothing: no buffer to fill
            self._gather(h, size, wanted, offset, out, fetch, prefetch)
        finally:
            with self._lock:
                self._unpin(h, wanted)
        return b"" if prefetch else bytes(out)

    def has(self, key: str, offset: int, length: int) -> bool:
        """Whether every chunk covering the range (clipped at EOF) is cached."""
        with self._lock:
            entry = self._files.get(_hash(key))
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
            entry = self._files.get(_hash(key))
            if entry is None or entry.size != size:
                return list(wanted)
            return [i for i in wanted if i not in entry.chunks]

    def stats(self) -> dict[str, int]:
        with self._lock:
            return {**self._stats, "bytes_on_disk": self._bytes, "files": len(self._files)}

    def evict_expired(self) -> int:
        """Drop files nobody read for longer than ``expiry``; returns the bytes freed."""
        if self._expiry <= 0:
            return 0
        with self._lock:
            self._check_open()
            cutoff = self._clock.now() - self._expiry
            stale = [h for h, e in self._files.items() if not e.pins and e.last_used < cutoff]
            freed = sum(self._drop_file(h) for h in stale)
            self._index.commit()
            return freed

    def close(self) -> None:
        """Persist access times and close the index."""
        with self._lock:
            self._index.close()

    # ------------------------------------------------------------ read paths

    def _read_cached(self, h: str, wanted: list[int], offset: int, end: int) -> bytes | None:
        """The common case, a read wholly on disk: one pread, no assembly buffer.

        None when any chunk is missing or the file cannot be read; the general
        path then sorts it out (and forgets broken chunks).
        """
        with self._lock:
            entry = self._files[h]
            if any(i not in entry.chunks for i in wanted):
                return None
            now = self._clock.now()
            entry.last_used = now   # reading keeps the file from expiring
            for i in wanted:
                self._touch((h, i), now)
            self._stats["hits"] += len(wanted)
        try:
            fd = os.open(self._path(h), os.O_RDONLY)
        except OSError:
            return None
        try:
            return _pread_full(fd, end - offset, offset)
        except OSError:
            return None
        finally:
            os.close(fd)

    def _gather(self, h: str, size: int, wanted: list[int], offset: int, out: bytearray,
                fetch: Fetch, prefetch: bool) -> None:
        """Fill ``out`` from disk, upstream and other readers' fetches until every chunk is in."""
        pending = wanted
        first = True
        while pending:
            with self._lock:
                cached, mine, theirs = self._claim(h, pending, prefetch)
                if first and not prefetch:
                    self._stats["hits"] += len(cached)
                    self._stats["misses"] += len(pending) - len(cached)
                first = False
            filled = set(cached)
            if not prefetch:
                broken = self._copy_cached(h, size, cached, offset, out)
                if broken:
                    with self._lock:
                        self._forget_broken(h, broken)
                    filled.difference_update(broken)
            filled.update(self._fetch_all(h, size, mine, offset, out, fetch))
            if prefetch:
                return
            filled.update(self._wait_for(theirs, offset, out))
            pending = [i for i in pending if i not in filled]

    def _claim(self, h: str, pending: list[int],
               prefetch: bool) -> tuple[list[int], list[int], list[tuple[int, _Flight]]]:
        """Needs the lock. Split chunks into cached, claimed by us, and in flight elsewhere."""
        entry = self._files[h]
        now = self._clock.now()
        cached: list[int] = []
        mine: list[int] = []
        theirs: list[tuple[int, _Flight]] = []
        for i in pending:
            cid = (h, i)
            if i in entry.chunks:
                cached.append(i)
                self._touch(cid, now)
            elif cid in self._flights:
                if not prefetch:
                    theirs.append((i, self._flights[cid]))
            else:
                self._flights[cid] = _Flight()
                mine.append(i)
        entry.last_used = now
        return cached, mine, theirs

    def _copy_cached(self, h: str, size: int, cached: list[int], offset: int, out: bytearray) -> list[int]:
        """pread the needed part of cached chunks into ``out``; returns chunks that could not be read."""
        if not cached:
            return []
        try:
            fd = os.open(self._path(h), os.O_RDONLY)
        except OSError:
            return cached
        broken: list[int] = []
        try:
            for run in _runs(cached):
                lo = max(run[0] * self._cs, offset)
                hi = min((run[-1] + 1) * self._cs, size, offset + len(out))
                try:
                    out[lo - offset: hi - offset] = _pread_full(fd, hi - lo, lo)
                except OSError:
                    broken.extend(run)
        finally:
            os.close(fd)
        return broken

    def _fetch_all(self, h: str, size: int, mine: list[int], offset: int, out: bytearray,
                   fetch: Fetch) -> list[int]:
        """Fetch our claimed chunks, one call per contiguous run."""
        done: list[int] = []
        try:
            for run in _runs(mine):
                _place(out, offset, run[0] * self._cs, self._fetch_run(h, size, run, fetch))
                done.extend(run)
        finally:
            if len(done) < len(mine):   # a run failed: waiters of the later runs retry themselves
                finished = set(done)
                with self._lock:
                    self._abandon(h, [i for i in mine if i not in finished])
        return done

    def _fetch_run(self, h: str, size: int, run: list[int], fetch: Fetch) -> bytes:
        start, stop = run[0] * self._cs, min((run[-1] + 1) * self._cs, size)
        try:
            data = fetch(start, stop)
            if len(data) != stop - start:
                raise OSError(errno.EIO, f"fetch({start}, {stop}) returned {len(data)} bytes")
        except BaseException as exc:
            with self._lock:
                self._stats["fetches"] += 1
                self._fail(h, run, exc)
            raise
        view = memoryview(data)
        with self._lock:
            self._stats["fetches"] += 1
            self._stats["fetched_bytes"] += len(data)
            for i in run:   # hand the bytes to waiters now: they need not wait for the disk
                flight = self._flights[(h, i)]
                flight.data = view[(i - run[0]) * self._cs: (i - run[0] + 1) * self._cs]
                flight.done.set()
        for i in run:
            try:
                self._store(h, i, view[(i - run[0]) * self._cs: (i - run[0] + 1) * self._cs])
            finally:   # the flight stays listed until the chunk is recorded, so nobody refetches it meanwhile
                with self._lock:
                    self._flights.pop((h, i), None)
        return data

    def _store(self, h: str, i: int, piece: memoryview) -> None:
        """Write one fetched chunk to disk and record it; caching is best effort."""
        with self._lock:
            reserved = self._make_room(len(piece))
            if reserved:
                self._bytes += len(piece)
        written = reserved and self._write(h, i * self._cs, piece)
        with self._lock:
            if written:
                self._record(h, i, len(piece))
            elif reserved:
                self._bytes -= len(piece)

    def _write(self, h: str, offset: int, data: memoryview) -> bool:
        try:
            fd = os.open(self._path(h), os.O_WRONLY)
            try:
                _pwrite_full(fd, data, offset)
                if self._durable:
                    os.fdatasync(fd)
            finally:
                os.close(fd)
        except OSError as exc:
            log.warning("chunk cache: cannot write %s at %d: %s", self._path(h), offset, exc)
            return False
        return True

    def _wait_for(self, theirs: list[tuple[int, _Flight]], offset: int, out: bytearray) -> list[int]:
        """Wait for other readers' fetches; take their bytes or re-raise their error."""
        got: list[int] = []
        for i, flight in theirs:
            while not self._clock.wait(flight.done, _WAIT_SLICE):
                pass
            if flight.error is not None:
                raise flight.error
            if flight.data is not None:   # None: abandoned, the caller's next round claims it
                _place(out, offset, i * self._cs, flight.data)
                got.append(i)
        return got

    # ------------------------------------------------ index (lock held below)

    def _pin(self, h: str, size: int, wanted: list[int]) -> bool:
        self._check_open()
        entry = self._files.get(h)
        if entry is not None and entry.size != size:
            if entry.pins:
                return False
            self._drop_file(h)
            entry = None
        if entry is None:
            entry = self._create_file(h, size)
        entry.pins += 1
        for i in wanted:
            self._pins[(h, i)] += 1
        return True

    def _unpin(self, h: str, wanted: list[int]) -> None:
        for i in wanted:
            cid = (h, i)
            self._pins[cid] -= 1
            if not self._pins[cid]:
                del self._pins[cid]
        entry = self._files[h]
        entry.pins -= 1
        if not entry.pins and not entry.chunks:   # nothing could be cached: don't keep an empty file
            self._drop_file(h)
        elif self._index.pending_touches >= _FLUSH_TOUCHES:   # hits alone don't commit; flush now and then
            self._index.commit()

    def _create_file(self, h: str, size: int) -> _File:
        path = self._path(h)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        # O_TRUNC first: a stray file from a crash must not keep old blocks allocated
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.ftruncate(fd, size)
        finally:
            os.close(fd)
        entry = _File(size=size, last_used=self._clock.now())
        self._files[h] = entry
        self._index.add_file(h, size, entry.last_used)
        return entry

    def _touch(self, cid: ChunkId, now: float) -> None:
        self._lru[cid] = now
        self._lru.move_to_end(cid)
        self._index.touch(cid, now)

    def _record(self, h: str, i: int, nbytes: int) -> None:
        """Called only after the chunk's bytes were written."""
        entry = self._files[h]
        now = self._clock.now()
        entry.chunks.add(i)
        entry.last_used = now
        self._lru[(h, i)] = now
        self._lru.move_to_end((h, i))
        self._index.record_chunk(h, i, nbytes, now)

    def _fail(self, h: str, run: list[int], exc: BaseException) -> None:
        for i in run:
            flight = self._flights.pop((h, i), None)
            if flight is not None:
                flight.error = exc
                flight.done.set()

    def _abandon(self, h: str, chunks: list[int]) -> None:
        for i in chunks:
            flight = self._flights.pop((h, i), None)
            if flight is not None:
                flight.done.set()

    def _forget_broken(self, h: str, chunks: list[int]) -> None:
        """Cached chunks that could not be read back (file damaged behind our back)."""
        log.warning("chunk cache: %s unreadable, fetching %d chunk(s) again", self._path(h), len(chunks))
        entry = self._files[h]
        for i in chunks:
            if i in entry.chunks:
                self._evict_chunk((h, i))

    def _make_room(self, need: int) -> bool:
        """Evict unpinned LRU chunks until ``need`` more bytes fit; False if they cannot."""
        if need > self._max:
            return False
        while self._bytes + need > self._max:
            victim = next((cid for cid in self._lru if not self._pins[cid]), None)
            if victim is None:
                return False
            self._evict_chunk(victim)
        return True

    def _evict_chunk(self, cid: ChunkId) -> None:
        h, i = cid
        entry = self._files[h]
        nbytes = self._chunk_len(entry.size, i)
        entry.chunks.discard(i)
        self._lru.pop(cid, None)
        self._index.forget_chunk(cid)
        if not entry.chunks and not entry.pins:
            self._bytes -= nbytes
            self._drop_file(h)
            return
        self._index.commit()   # the record goes before the bytes do
        if self._punch(h, i * self._cs, self._cs):
            self._bytes -= nbytes
        else:
            entry.dead += nbytes
            self._index.set_dead(h, entry.dead)

    def _drop_file(self, h: str) -> int:
        """Forget a whole file and delete its data; returns the bytes freed."""
        entry = self._files.pop(h)
        freed = entry.dead
        for i in entry.chunks:
            self._lru.pop((h, i), None)
            freed += self._chunk_len(entry.size, i)
        self._bytes -= freed
        self._index.forget_file(h, entry.chunks)   # committed: the record goes before the bytes do
        try:
            os.unlink(self._path(h))
        except FileNotFoundError:
            pass
        return freed

    def _punch(self, h: str, offset: int, length: int) -> bool:
        if _fallocate is None:
            return False
        try:
            fd = os.open(self._path(h), os.O_WRONLY)
        except OSError:
            return False
        try:
            return _fallocate(fd, _FALLOC_PUNCH, offset, length) == 0
        finally:
            os.close(fd)

    # --------------------------------------------------------------- startup

    def _load(self) -> None:
        """Rebuild the in-memory index from ``index.db``, then delete what it does not know."""
        files, chunks = self._index.load(lambda h: os.path.exists(self._path(h)))
        for stored in files:
            self._files[stored.key_hash] = _File(size=stored.size, last_used=stored.last_used, dead=stored.dead)
            self._bytes += stored.dead
        for chunk in chunks:   # oldest access first, which is the LRU order
            self._files[chunk.key_hash].chunks.add(chunk.chunk)
            self._lru[(chunk.key_hash, chunk.chunk)] = chunk.last_used
            self._bytes += chunk.nbytes
        for h in [h for h, e in self._files.items() if not e.chunks]:   # nothing worth keeping
            self._drop_file(h)
        self._index.commit()
        self._remove_orphans()

    def _remove_orphans(self) -> None:
        """Delete ``.data`` files the index does not know (crash between create and commit)."""
        for sub in os.listdir(self._dir):
            folder = os.path.join(self._dir, sub)
            if len(sub) != 2 or not os.path.isdir(folder):
                continue
            for name in os.listdir(folder):
                if name.endswith(".data") and name[:-5] not in self._files:
                    try:
                        os.unlink(os.path.join(folder, name))
                    except OSError:
                        pass

    # ---------------------------------------------------------------- helpers

    def _check_open(self) -> None:
        if self._index.closed:
            raise ValueError("chunk cache is closed")

    def _file_last_used(self, h: str) -> float | None:
        """For the index: a file's access time at commit time (lock held)."""
        entry = self._files.get(h)
        return None if entry is None else entry.last_used

    def _chunk_len(self, size: int, i: int) -> int:
        return max(0, min(self._cs, size - i * self._cs))

    def _path(self, h: str) -> str:
        return os.path.join(self._dir, h[:2], h + ".data")


def _hash(key: str) -> str:
    return hashlib.sha1(key.encode("utf-8", "surrogateescape")).hexdigest()
