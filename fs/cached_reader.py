"""Cached file handles: every frontend reads a file through one on-disk chunk cache.

``CachedFiles`` is built once (gateway/app/wiring.py) when the cache is configured
and given to the VFS; ``VFS.open`` then hands out ``CachedReader``s, so FUSE,
WebDAV and the browse API share the cached bytes and ``ChunkCache``'s single
flight (concurrent readers of one region cause one upstream fetch).

How a read is served
--------------------
Each reader holds one ``CacheFile`` (``ChunkCache.open``) for its life, given
the upstream fetch at open: bytes flow one way, reader → cache → upstream. A read
wholly on disk is one ``CacheFile.read_cached``; otherwise the reader first plans
how the misses are fetched (a fetch is a bounded ``ResilientStream`` read, so
expired links and dropped connections are handled below this module):

- **Probe zones.** Media servers and ffprobe read the first and the last few
  MiB of a file (headers, indexes) and little else. A miss in the head zone
  fetches the rest of the head zone (``PROBE_HEAD``) in one request; a miss in
  the tail zone fetches from there to the end of the file in one request. No
  read-ahead starts there, so a library scan costs about two small requests
  per file, and a second scan none.
- **Sequential readers** (a streak of ``STREAK_MIN`` bytes past the head
  zone) get a read-ahead *window* reaching ``min(streak, read_ahead_size)``
  past the reader: tasks on the shared pool fetch its chunks in order, one
  request per chunk and ``READ_AHEAD_STREAMS`` at a time, so one chunk's
  download overlaps the previous one's disk write (a single stream that
  writes between reads runs at half speed on a slow disk; rclone's
  ``--vfs-read-chunk-streams`` makes the same trade). Reads a little out of
  order (``SEQ_BEHIND``, ``SEQ_AHEAD``: multithreaded FUSE delivers the
  kernel's read-ahead unordered) still count as sequential; a skip further
  ahead is a jump.
- **Anything else** (random access) fetches just the chunks it touches.
- **Read-through** (``read_through(ref)`` true: usenet files, whose upstream reads are
  article fetches shared between readers): a miss is answered from upstream with just the
  bytes asked, while the chunks around it (the probe zone, or the chunks it touches) fill in
  the background on a lower lane. The fill asks for the same articles and gets them from the
  same fetches, so the reader waits for its own articles only (a seek costs a round trip
  plus one article, not a chunk) and nothing is downloaded twice.


A read that jumps elsewhere retires the window: fetches already running
finish their chunk and no new one starts; ``close()`` does the same. Tail
reads do not count as jumps (players peek at the index at the end and come
back).

Threads: one foreground read at a time per handle (``FileHandle.pread``
serialises them); the window's fields are shared with the pool tasks under
``_state``, which is never held across a fetch or a cache call. A cache hit
takes three locks: the handle's, and the cache's twice (check and pin, unpin);
the window is only locked when it changes.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from fs.chunk_keeper import ChunkKeeper
from fs.chunkcache import CacheFile, ChunkCache, Fetch
from fs.reader import ByteStream, FileHandle, read_exact
from fs.upstream import PIECE, UpstreamCursor
from gateway.library.snapshot import FileRef
from gateway.library.streaming import Streamer
from gateway.providers.budget import Lane, lane

log = logging.getLogger(__name__)

MiB = 1 << 20
PROBE_HEAD = 4 * MiB        # head zone: where containers keep their headers
PROBE_TAIL = 4 * MiB        # tail zone: indexes (mp4 moov, mkv cues) often sit here
STREAK_MIN = 1 * MiB        # sequential bytes before read-ahead starts
SEQ_BEHIND = 8 * MiB        # a read this far behind the furthest one still counts as sequential ...
SEQ_AHEAD = 2 * MiB         # ... and this far ahead (1 MiB kernel reads arrive a few at once, unordered)
READ_AHEAD_STREAMS = 3      # chunk fetches one window runs at once
READ_AHEAD_WORKERS = 8      # the pool all readers share
SEEK_AHEAD = 4 * MiB        # read-through: what a read after a seek asks beyond itself (players read on)


class CachedFiles:
    """The cache, the upstream and the read-ahead pool every ``CachedReader`` shares."""

    def __init__(self, cache: ChunkCache, streamer: Streamer, *, chunk_size: int, read_ahead: int,
                 max_bytes: int, streams: int = READ_AHEAD_STREAMS, workers: int = READ_AHEAD_WORKERS,
                 read_through: Callable[[FileRef], bool] | None = None) -> None:
        self.cache = cache
        self.read_through = read_through or (lambda ref: False)
        self.chunk_size = chunk_size
        # Never read further ahead than half the budget: it would evict itself before being read.
        self.read_ahead = max(chunk_size, min(read_ahead, max_bytes // 2))
        self.max_bytes = max_bytes
        self.streams = streams
        self._streamer = streamer
        self._pool = ThreadPoolExecutor(workers, thread_name_prefix="read-ahead")
        self._closed = False

    def open(self, key: str, ref: FileRef, size: int, end: int | None = None) -> CachedReader:
        """``end``: the last byte the caller means to read, when it knows (an HTTP Range)."""
        return CachedReader(self, key, ref, size, end)

    def stream(self, ref: FileRef, start: int, end: int) -> ByteStream:
        """An upstream stream of bytes ``[start, end)``."""
        return self._streamer.open(ref, start, end - 1)

    def direct_fetch(self, ref: FileRef) -> Fetch:
        """A fetch that asks upstream for exactly the bytes wanted, one request each."""
        def fetch(start: int, end: int) -> bytes:
            stream = self.stream(ref, start, end)
            try:
                return read_exact(stream, end - start, PIECE)
            finally:
                stream.close()
        return fetch

    def submit(self, job: Callable[[], None]) -> bool:
        if self._closed:
            return False
        try:
            self._pool.submit(job)
        except RuntimeError:   # shut down meanwhile
            return False
        return True

    def stats(self) -> dict[str, Any]:
        """Hits and misses are the cache's, per chunk (counted there only)."""
        chunks = self.cache.stats()
        return {"hits": chunks["hits"], "misses": chunks["misses"], "bytes_on_disk": chunks["bytes_on_disk"], "files": chunks["files"],
                "upstream_fetches": chunks["fetches"], "fetched_bytes": chunks["fetched_bytes"],
                "max_bytes": self.max_bytes, "chunk_size": self.chunk_size}

    def evict_expired(self) -> int:
        return self.cache.evict_expired()

    def close(self) -> None:
        """Stop read-ahead (running fetches finish their chunk) and close the cache."""
        self._closed = True
        self._pool.shutdown(wait=False, cancel_futures=True)
        self.cache.close()


@dataclass(eq=False)
class _Window:
    """Read-ahead state of one sequential run; fields guarded by the reader's ``_state``."""

    next: int            # next chunk to fetch ahead
    hi: int              # fetch ahead below this chunk
    inflight: int = 0    # chunk fetches running on the pool
    retired: bool = False


class CachedReader(FileHandle):
    def __init__(self, files: CachedFiles, key: str, ref: FileRef, size: int, end: int | None = None) -> None:
        super().__init__(size)
        self._files = files
        self._key = key
        self._cs = files.chunk_size
        self._chunks = -(-size // self._cs)
        self._head_end = min(size, -(-PROBE_HEAD // self._cs) * self._cs)
        self._tail_start = max(self._head_end, size - PROBE_TAIL)
        try:
            # Hold what the read-ahead fetches (its streams and the chunk being read, or a probe zone)
            # in memory for the reader; a read-through reader takes its bytes from upstream instead.
            through = files.read_through(ref)
            hold = 0 if through else max(files.streams + 1, -(-PROBE_HEAD // self._cs))
            self._file: CacheFile = files.cache.open(key, size, files.direct_fetch(ref), hold)
        except BaseException:
            super().close()   # closed, so the finaliser does not call our close()
            raise
        self._state = threading.Lock()     # window fields, shared with the read-ahead tasks
        self._seq_end = -1
        self._streak = 0
        self._window: _Window | None = None
        self._through = through
        self._last = None if end is None else min(end, size - 1)   # the caller's last byte, if it said
        self._keeper = ChunkKeeper(size, self._cs, self._store_chunk, self._fill_chunk)
        self._upstream = UpstreamCursor(lambda start, stop: files.stream(ref, start, stop), size, self._cs,
                                        self._keeper.leave)   # read-through: the reader's own request
        self._jobs = 0          # pool tasks of this handle not finished yet (under ``_state``) ...
        self._closing = False   # ... so the cache file closes after the last: a chunk read whole
                                # just before close() is still written, a part-read one still filled

    def _pread(self, offset: int, size: int) -> bytes:
        # A read-through handle keeps reading its open upstream request while it is in step, even
        # where the fill got there first: those articles are on their way or already in memory.
        if self._through and self._upstream.in_step(offset):
            return self._read_through(offset, size)
        data = self._file.read_cached(offset, size)
        if data is None and self._through:
            return self._read_through(offset, size)
        self._plan(offset, size, data is not None)
        # A sequential reader that caught up with its read-ahead fetches its own chunk: part of the
        # stream all the same, so written past the page cache as the read-ahead's are.
        return data if data is not None else self._file.fill(offset, size, streamed=self._window is not None)

    def _plan(self, offset: int, size: int, cached: bool) -> None:
        """Follow the reader; before a miss, fill a probe zone in one request."""
        cs = self._cs
        if offset >= self._tail_start:
            if not cached:
                self._prefill(offset // cs, self._chunks)
            return
        self._follow(offset, size)
        if self._streak >= STREAK_MIN and offset >= self._head_end:
            self._ahead(offset, size)
        if offset < self._head_end and not cached:
            self._prefill(offset // cs, self._head_end // cs + (self._head_end % cs > 0))

    def _read_through(self, offset: int, size: int) -> bytes:
        """A miss of a read-through file: its bytes straight from upstream. A probe's zone is filled
        in the background at once (the prober is gone soon); otherwise ``ChunkKeeper`` writes the
        chunks the reader's bytes complete and fills the ones it only touched."""
        end = min(self.size, offset + size)
        if offset >= end:
            return b""
        cs = self._cs
        probe = offset < self._head_end or offset >= self._tail_start
        if offset >= self._tail_start:
            first, stop = offset // cs, self._chunks
        else:
            # No chunk read-ahead window: the upstream request itself reads ahead (``read_ahead``
            # for a sequential reader), and fills far ahead of it would fetch what it will fetch.
            self._follow(offset, size)
            first, stop = offset // cs, max((end - 1) // cs + 1, -(-self._head_end // cs))
        data = self._upstream.read(offset, end, functools.partial(self._want, offset, probe))
        self._keeper.add(offset, data)
        if probe and self._file.missing(first * cs, (stop - first) * cs):
            self._submit(functools.partial(self._fill, first, stop))
        return data

    def _store_chunk(self, chunk: int, data: bytes | bytearray) -> None:
        """A chunk the reader read whole: into the cache from its bytes, in the background."""
        self._submit(functools.partial(self._file.put, chunk * self._cs, data))

    def _fill_chunk(self, chunk: int) -> None:
        self._submit(functools.partial(self._fill, chunk, chunk + 1))

    def _want(self, offset: int, probe: bool, end: int) -> int:
        """How far a new upstream request from ``offset`` reads: to the caller's last byte when it
        said, the read's end for a probe, the rest of the file for a sequential reader (the upstream
        keeps its own window of fetches ahead; a request that ended would stall the reader while the
        next one fills its window again), ``SEEK_AHEAD`` past a seek."""
        if self._last is not None and offset <= self._last:
            return max(end, self._last + 1)
        if probe:
            return end
        return self.size if self._streak >= STREAK_MIN else end + SEEK_AHEAD

    def _lane(self) -> contextlib.AbstractContextManager[None]:
        """Read-through files fetch ahead behind any reader's own request (their readers ask upstream directly)."""
        return lane(Lane.IMPORTS) if self._through else contextlib.nullcontext()

    def _fill(self, first: int, stop: int) -> None:
        """A pool task: chunks ``[first, stop)`` into the cache on the read-ahead lane (``_prefill``
        logs a failure: the reader meets the same error on its own read, if it goes there)."""
        with self._lane():
            self._prefill(first, stop)

    def _prefill(self, first: int, stop: int) -> None:
        """Fetch the missing chunks ``[first, stop)`` nobody is fetching, one request per run.

        A failure here is not the read's own: a usenet article missing in another chunk of the
        zone must not fail a read of this one. The read then fetches just its own chunks and
        meets the error only if it lies there (contract §8: every other range reads right)."""
        start = first * self._cs
        try:
            self._file.prefetch(start, stop * self._cs - start)
        except Exception as exc:
            log.info("%s: prefill of chunks %d-%d failed, reading only what was asked: %s",
                     self._key, first, stop - 1, exc)

    def _follow(self, offset: int, size: int) -> None:
        """Track the sequential streak; a jump retires the read-ahead window."""
        end = offset + size
        if self._seq_end >= 0 and -SEQ_BEHIND <= offset - self._seq_end <= SEQ_AHEAD:
            self._streak += max(0, end - self._seq_end)
            self._seq_end = max(self._seq_end, end)
            return
        self._streak = 0
        self._seq_end = end
        self._retire()

    def _ahead(self, offset: int, size: int) -> None:
        """Open or extend the read-ahead window and keep its fetches going."""
        cs = self._cs
        ahead = min(max(self._streak, cs), self._files.read_ahead)
        first = offset // cs
        hi = min(self._chunks, (offset + size + ahead - 1) // cs + 1)
        window = self._window
        if window is not None and window.next >= hi and not window.retired:
            # Nothing new to fetch: the window already reaches past ``hi`` (``next`` only grows,
            # and only this thread sets ``_window``), so no lock for the common warm read.
            return
        with self._state:
            window = self._window
            if window is None:
                window = self._window = _Window(first, hi)
            window.next = max(window.next, first)
            window.hi = max(window.hi, hi)
        self._pump(window)

    def _pump(self, window: _Window) -> None:
        """Start chunk fetches in order until ``streams`` run or the window is covered."""
        while True:
            with self._state:
                if window.retired or window.inflight >= self._files.streams or window.next >= window.hi:
                    return
                chunk = window.next
                window.next += 1
                window.inflight += 1
            cached = self._file.has_chunk(chunk)
            if cached or not self._submit(functools.partial(self._fetch_ahead, window, chunk)):
                with self._state:
                    window.inflight -= 1
                if not cached:   # the pool is shut down
                    return

    def _fetch_ahead(self, window: _Window, chunk: int) -> None:
        """A pool task: one chunk into the cache (nothing if someone else has it), then the next."""
        try:
            if window.retired:   # queued before the reader jumped away
                return
            with self._lane():
                self._file.prefetch(chunk * self._cs, self._cs, streamed=True)
        except Exception as exc:   # the reader meets the same error on its own read, if it goes there
            log.info("%s: read-ahead stopped at chunk %d: %s", self._key, chunk, exc)
            with self._state:
                window.retired = True
                if self._window is window:
                    self._window = None
        finally:
            with self._state:
                window.inflight -= 1
        self._pump(window)

    def _retire(self) -> None:
        """Stop read-ahead: running fetches finish their chunk, no new one starts."""
        if self._window is None:   # only this thread opens a window: nothing to retire, no lock
            return
        with self._state:
            window, self._window = self._window, None
            if window is not None:
                window.retired = True

    def _submit(self, job: Callable[[], None]) -> bool:
        """A pool task of this handle, counted so that close() leaves the file open until it ends."""
        def run() -> None:
            try:
                job()
            finally:
                self._job_done()
        with self._state:
            if self._closing:
                return False
            self._jobs += 1
        if self._files.submit(run):
            return True
        self._job_done()
        return False

    def _job_done(self) -> None:
        with self._state:
            self._jobs -= 1
            last = self._closing and self._jobs == 0
        if last:
            self._file.close()

    def close(self) -> None:
        with self._serial:
            self._retire()
            self._upstream.close()
            if self._through:
                self._keeper.leave()   # a chunk read in part: filled in the background
            with self._state:
                already, self._closing = self._closing, True
                idle = self._jobs == 0
            if idle and not already:
                self._file.close()
        super().close()
