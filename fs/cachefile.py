"""A reader's handle on the chunk cache: ``CacheFile``, and the state its handles share.

``fs.chunkcache.ChunkCache.open`` hands one out per reader handle (the design and the
locking rules are in that module's docstring). A ``CacheFile`` keeps what a read needs for
the handle's whole life: the key's hash (computed once), the pinned ``_File`` of the ledger
and so its open ``.data`` descriptor, and the upstream ``fetch``. Everything it shares with
the other handles of the cache (ledger, flights, counters) is in ``CacheState``, guarded by
``CacheState.lock``; this module never imports ``fs.chunkcache``, so the flow stays one way:
reader → cache → fetch.
"""

from __future__ import annotations

import errno
import logging
import os
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from fs.chunkhold import ChunkHold
from fs.chunkindex import ChunkId
from fs.chunkledger import ChunkLedger, _File
from fs.chunkwrite import ChunkWriter
from gateway.clock import Clock
from gateway.singleflight import Flight, SingleFlight

log = logging.getLogger(__name__)

Fetch = Callable[[int, int], bytes | memoryview]   # fetch(start, end_exclusive) -> exactly those bytes (or raises)

_WAIT_SLICE = 30.0                    # re-check interval while waiting on another reader's fetch


def _new_stats() -> dict[str, int]:
    return {"hits": 0, "misses": 0, "fetches": 0, "fetched_bytes": 0}


@dataclass(eq=False)
class CacheState:
    """What the handles of one cache share; every field is guarded by ``lock``."""

    ledger: ChunkLedger
    clock: Clock
    writer: ChunkWriter
    lock: threading.Lock = field(default_factory=threading.Lock)
    flights: SingleFlight[ChunkId, memoryview] = field(default_factory=SingleFlight)
    stats: dict[str, int] = field(default_factory=_new_stats)   # hits/misses per chunk

    def check_open(self) -> None:
        if self.ledger.index.closed:
            raise ValueError("chunk cache is closed")


class CacheFile:
    """One handle's view of one cached file. ``entry`` None: another reader still uses an older
    size of the key, so this one bypasses the cache (every read goes to ``fetch``).

    ``hold``: how many chunks this handle keeps in memory after fetching them (or taking them from
    another reader's fetch), for its reader (``fs.chunkhold``).
    """

    def __init__(self, state: CacheState, h: str, size: int, entry: _File | None, fetch: Fetch,
                 hold: int = 0) -> None:
        self._state = state
        self._ledger = state.ledger
        self._lock = state.lock
        self._h = h
        self.size = size
        self._entry = entry
        self._fetch = fetch
        self._cs = state.ledger.cs
        self._closed = False
        self._held = ChunkHold(hold)

    def read(self, offset: int, length: int) -> bytes:
        """Bytes ``[offset, offset+length)``, clipped at EOF; misses are fetched (once, however many ask)."""
        data = self.read_cached(offset, length)
        return data if data is not None else self.fill(offset, length)

    def read_cached(self, offset: int, length: int) -> bytes | None:
        """The common case, a read wholly on disk: one pread, no assembly buffer.

        This is where a read is counted, once, as it arrives: its chunks on disk as hits,
        the others as misses. None when a chunk is missing or the bytes cannot be read
        back; ``fill`` then sorts it out (and forgets broken chunks).
        """
        span = self._span(offset, length)
        if span is None:
            return b""
        end, wanted = span
        if self._held:
            data = self._from_memory(offset, end, wanted, count=True)
            if data is not None:
                return data
        entry = self._entry
        stats = self._state.stats
        with self._lock:
            self._check()
            on_disk = 0 if entry is None else sum(i in entry.chunks for i in wanted)
            stats["hits"] += on_disk
            stats["misses"] += len(wanted) - on_disk
            if entry is None or on_disk < len(wanted):
                return None
            self._ledger.pin_chunks(self._h, wanted)   # not evicted under the pread
            self._ledger.touch(self._h, entry, wanted, self._state.clock.now())
        try:
            return _pread_full(entry.fd, end - offset, offset)
        except OSError:
            return None
        finally:
            with self._lock:
                self._ledger.unpin_chunks(self._h, wanted)

    def _from_memory(self, offset: int, end: int, wanted: range, *, count: bool) -> bytes | None:
        """The read from the hold, when every chunk of it is there (``count``: as hits)."""
        pieces = self._held.pieces(wanted)
        if pieces is None:
            return None
        entry = self._entry
        with self._lock:
            self._check()
            if count:
                self._state.stats["hits"] += len(wanted)
            if entry is not None:
                self._ledger.touch(self._h, entry, [i for i in wanted if i in entry.chunks], self._state.clock.now())
        if len(pieces) == 1:
            base = wanted[0] * self._cs
            return bytes(pieces[0][offset - base:end - base])
        out = bytearray(end - offset)
        for i, piece in zip(wanted, pieces, strict=True):
            _place(out, offset, i * self._cs, piece)
        return bytes(out)

    def _keep(self, chunks: list[int], pieces: list[memoryview]) -> None:
        if not self._closed:   # a read-ahead task finishing after close() keeps nothing
            self._held.keep(chunks, pieces)

    def fill(self, offset: int, length: int, *, streamed: bool = False) -> bytes:
        """A read ``read_cached`` could not serve (counted there): from the hold (a prefetch may have
        filled it since), else gathered from disk, upstream and other readers' fetches."""
        span = self._span(offset, length) if self._held else None
        data = None if span is None else self._from_memory(offset, span[0], span[1], count=False)
        return data if data is not None else self._read(offset, length, prefetch=False, streamed=streamed)

    def prefetch(self, offset: int, length: int, *, streamed: bool = False) -> None:
        """Read-ahead: fetch the missing chunks of the range nobody is fetching; waits for nothing.

        ``streamed``: the read-ahead of a sequential reader, whose chunks are written past the page
        cache (fs/chunkwrite.py). Any other chunk (a probe zone, a random read) is written through
        it: those are the ones read again soon, and from memory then."""
        self._read(offset, length, prefetch=True, streamed=streamed)

    def put(self, offset: int, data: bytes | bytearray) -> None:
        """Chunks a reader already read upstream (``offset`` on a chunk boundary, ``data`` whole
        chunks or up to EOF): cached from these bytes, as a prefetch would, with no second fetch."""
        view = memoryview(data)   # slices of it copy nothing
        self._read(offset, len(data), prefetch=True, fetch=lambda lo, hi: view[lo - offset:hi - offset])

    def missing(self, offset: int, length: int) -> bool:
        """Whether a chunk of the range is not on disk (a hint, as ``has_chunk``)."""
        span = self._span(offset, length)
        return span is not None and not all(self.has_chunk(i) for i in span[1])

    def has_chunk(self, i: int) -> bool:
        """Whether chunk ``i`` is on disk: a hint read without the lock (a set lookup is atomic
        in CPython), good for deciding whether to start a read-ahead fetch; ``read`` re-checks."""
        return self._entry is not None and i in self._entry.chunks

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._held.clear()
            if self._entry is not None:
                self._ledger.unpin_file(self._h, self._entry)

    # ------------------------------------------------------------ read paths

    def _span(self, offset: int, length: int) -> tuple[int, range] | None:
        if offset < 0:
            raise ValueError("negative offset")
        end = min(offset + length, self.size)
        if length <= 0 or offset >= end:
            return None
        return end, range(offset // self._cs, (end - 1) // self._cs + 1)

    def _check(self) -> None:
        """Needs the lock."""
        self._state.check_open()
        if self._closed:
            raise ValueError("read of a closed file")

    def _read(self, offset: int, length: int, prefetch: bool, fetch: Fetch | None = None,
              streamed: bool = False) -> bytes:
        span = self._span(offset, length)
        if span is None:
            return b""
        end, wanted = span
        entry = self._entry
        if entry is None:
            return b"" if prefetch else bytes(self._fetch(offset, end))   # bytes stay bytes: no copy
        with self._lock:
            if prefetch and self._closed:   # a read-ahead task that outlived its handle
                return b""
            self._check()
            self._ledger.pin_chunks(self._h, wanted)
            entry.pins += 1   # the file (and its descriptor) stays even if the handle closes meanwhile
        try:
            out = bytearray(0 if prefetch else end - offset)   # read-ahead returns nothing: no buffer to fill
            self._gather(entry, list(wanted), offset, out, prefetch, fetch or self._fetch, streamed)
        finally:
            with self._lock:
                self._ledger.unpin_chunks(self._h, wanted)
                self._ledger.unpin_file(self._h, entry)
        return b"" if prefetch else bytes(out)

    def _gather(self, entry: _File, wanted: list[int], offset: int, out: bytearray, prefetch: bool,
                fetch: Fetch, streamed: bool) -> None:
        """Fill ``out`` from disk, upstream and other readers' fetches until every chunk is in."""
        pending = wanted
        while pending:
            with self._lock:
                cached, mine, theirs = self._claim(entry, pending, prefetch)
            filled = set(cached)
            if not prefetch:
                broken = self._copy_cached(entry, cached, offset, out)
                if broken:
                    with self._lock:
                        self._ledger.forget_broken(self._h, broken)
                    filled.difference_update(broken)
            filled.update(self._fetch_all(entry, mine, offset, out, fetch, streamed))
            if prefetch:
                return
            filled.update(self._wait_for(theirs, offset, out))
            pending = [i for i in pending if i not in filled]

    def _claim(self, entry: _File, pending: list[int],
               prefetch: bool) -> tuple[list[int], list[int], list[tuple[int, Flight[memoryview]]]]:
        """Needs the lock. Split chunks into cached, claimed by us, and in flight elsewhere."""
        flights = self._state.flights
        cached: list[int] = []
        mine: list[int] = []
        theirs: list[tuple[int, Flight[memoryview]]] = []
        for i in pending:
            if i in entry.chunks:
                cached.append(i)
                continue
            flight, leader = flights.join((self._h, i))
            if leader:
                mine.append(i)
            elif not prefetch:
                theirs.append((i, flight))
        self._ledger.touch(self._h, entry, cached, self._state.clock.now())
        return cached, mine, theirs

    def _copy_cached(self, entry: _File, cached: list[int], offset: int, out: bytearray) -> list[int]:
        """pread the needed part of cached chunks into ``out``; returns chunks that could not be read."""
        broken: list[int] = []
        for run in _runs(cached):
            lo = max(run[0] * self._cs, offset)
            hi = min((run[-1] + 1) * self._cs, self.size, offset + len(out))
            try:
                out[lo - offset: hi - offset] = _pread_full(entry.fd, hi - lo, lo)
            except OSError:
                broken.extend(run)
        return broken

    def _fetch_all(self, entry: _File, mine: list[int], offset: int, out: bytearray, fetch: Fetch,
                   streamed: bool) -> list[int]:
        """Fetch our claimed chunks, one call per contiguous run."""
        done: list[int] = []
        try:
            for run in _runs(mine):
                _place(out, offset, run[0] * self._cs, self._fetch_run(entry, run, fetch, streamed))
                done.extend(run)
        finally:
            if len(done) < len(mine):   # a run failed: waiters of the later runs retry themselves
                finished = set(done)
                with self._lock:
                    for i in mine:
                        flight = None if i in finished else self._state.flights.land((self._h, i))
                        if flight is not None:
                            flight.abandon()
        return done

    def _fetch_run(self, entry: _File, run: list[int], fetch: Fetch, streamed: bool) -> bytes | memoryview:
        cs, flights, stats = self._cs, self._state.flights, self._state.stats
        start, stop = run[0] * cs, min((run[-1] + 1) * cs, self.size)
        try:
            data = fetch(start, stop)
            if len(data) != stop - start:
                raise OSError(errno.EIO, f"fetch({start}, {stop}) returned {len(data)} bytes")
        except BaseException as exc:
            with self._lock:
                stats["fetches"] += 1
                for i in run:
                    flight = flights.land((self._h, i))
                    if flight is not None:
                        flight.fail(exc)
            raise
        view = memoryview(data)
        pieces = [view[(i - run[0]) * cs: (i - run[0] + 1) * cs] for i in run]
        with self._lock:
            stats["fetches"] += 1
            stats["fetched_bytes"] += len(data)
            for i, piece in zip(run, pieces, strict=True):   # hand the bytes to waiters now: no waiting for the disk
                flight = flights.get((self._h, i))
                if flight is not None:
                    flight.succeed(piece)
        self._keep(run, pieces)
        for i, piece in zip(run, pieces, strict=True):
            try:
                self._store(entry, i, piece, streamed)
            finally:   # the flight stays listed until the chunk is recorded, so nobody refetches it meanwhile
                with self._lock:
                    flights.land((self._h, i))
        return data

    def _store(self, entry: _File, i: int, piece: memoryview, streamed: bool) -> None:
        """Write one fetched chunk to disk and record it; caching is best effort."""
        ledger = self._ledger
        offset, direct_fd = i * self._cs, -1
        with self._lock:
            reserved = ledger.make_room(len(piece))
            if reserved:
                ledger.bytes += len(piece)
                direct_fd = self._direct_fd(entry, offset, len(piece)) if streamed else -1
        written = reserved and self._write(entry, offset, piece, direct_fd)
        with self._lock:
            if written:
                ledger.record(self._h, i, len(piece), self._state.clock.now())
            elif reserved:
                ledger.bytes -= len(piece)

    def _direct_fd(self, entry: _File, offset: int, length: int) -> int:
        """Needs the lock. The file's O_DIRECT descriptor when this piece can use it (opened once)."""
        writer = self._state.writer
        if not writer.wants_direct(offset, length):
            return -1
        if entry.direct_fd < 0:
            entry.direct_fd = writer.open_direct(self._ledger.path(self._h))
        return entry.direct_fd

    def _write(self, entry: _File, offset: int, data: memoryview, direct_fd: int) -> bool:
        try:
            self._state.writer.write(entry.fd, direct_fd, data, offset)
        except OSError as exc:
            log.warning("chunk cache: cannot write %s at %d: %s", self._ledger.path(self._h), offset, exc)
            return False
        return True

    def _wait_for(self, theirs: list[tuple[int, Flight[memoryview]]], offset: int, out: bytearray) -> list[int]:
        """Wait for other readers' fetches; take their bytes or re-raise their error."""
        got: list[int] = []
        for i, flight in theirs:
            while not self._state.clock.wait(flight.done, _WAIT_SLICE):
                pass
            data = flight.outcome()
            if data is not None:   # None: abandoned, the caller's next round claims it
                _place(out, offset, i * self._cs, data)
                self._keep([i], [data])
                got.append(i)
        return got


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
    data = os.pread(fd, length, offset)
    if len(data) == length:   # the usual case: one call, no copies
        return data
    parts = [data]
    length -= len(data)
    offset += len(data)
    while length > 0:
        data = os.pread(fd, length, offset)
        if not data:
            raise OSError(errno.EIO, "cache file shorter than its index says")
        parts.append(data)
        length -= len(data)
        offset += len(data)
    return b"".join(parts)
