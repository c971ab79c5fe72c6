"""Reading usenet files: a byte range becomes the articles that hold it, fetched in parallel.

The fetcher seam: ``Streamer.open`` hands refs of the ``usenet`` provider to
``UsenetFiles.open``, so WebDAV, browse and FUSE (and the chunk cache above
them) read usenet files exactly like debrid files. A stream maps its range to
(article, slice) pieces through the stored layout (``nzblayout``: bisect, no
network), keeps a window of article fetches running ahead of the reader, the
first on the reader's lane and the rest (read-ahead, up to ``read_ahead``
bytes, growing as the reader consumes) on a lower one, and cancels what is
still queued when it is closed (a seek closes it: read-ahead that is no longer
wanted is dropped). An article missing on every server fails the read
(``FileGone``: 502 before the first byte on HTTP, EIO on FUSE) unless
``zero_fill_missing``, which serves zeros, logs and counts them.
"""

from __future__ import annotations

import collections
import dataclasses
import functools
import logging
import threading
from collections.abc import Iterator
from concurrent.futures import CancelledError, Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Protocol

from cachetools import LRUCache

from gateway import errors
from gateway.archives.crypto import DecryptingStream, padded
from gateway.library.nzblayout import Layout, LayoutStore, Member, Source
from gateway.library.snapshot import FileRef
from gateway.providers.budget import Lane, current_lane

log = logging.getLogger(__name__)

ARTICLE_CACHE = 32          # finished articles kept in memory (~22 MiB at 700 KiB): re-reads, range pairs
# Articles still being fetched are never dropped from the map (they are not counted above): a direct
# read and the chunk cache's fill of the same bytes share one fetch however far read-ahead runs.
WORKERS = 64                # fetch threads all streams share; the client's pools cap the connections


class Part(Protocol):
    data: bytes


class Pending(Protocol):
    """An article being fetched (``gateway.usenet.hedge.Fetch``)."""

    def wait(self) -> Any: ...

    def withdraw(self) -> bool: ...


class ArticleClient(Protocol):
    """The usenet façade (``gateway.usenet.Usenet``) as readers use it."""

    def body(self, message_id: str, *, lane: Lane | None = None) -> Any: ...

    def stat(self, message_id: str, *, lane: Lane | None = None) -> bool: ...


@dataclass(frozen=True)
class Piece:
    """Bytes ``[lo, hi)`` of article ``article`` of source ``source`` (offsets inside that source)."""

    source: int
    article: int
    lo: int
    hi: int


class UsenetFiles:
    """Every reader's way to usenet bytes: layouts, a shared fetch pool, a small article cache."""

    def __init__(self, layouts: LayoutStore, client: ArticleClient, *, read_ahead: int, zero_fill: bool,
                 stream_connections: int = 15, workers: int = WORKERS) -> None:
        self.layouts = layouts
        self._client = client
        self.read_ahead = read_ahead
        self.zero_fill = zero_fill
        self.stream_connections = max(1, stream_connections)
        self._pool = ThreadPoolExecutor(workers, thread_name_prefix="usenet-read")
        self._lock = threading.RLock()   # re-entered by _landed, which Future.cancel() calls under it
        # Fetches under way, one per article however many readers want it (pool futures: unlike a
        # SingleFlight's flights they can be cancelled while queued, which a seek needs) ...
        self._inflight: dict[str, Future[bytes]] = {}
        # ... and the articles fetched last, kept a while for the readers around them.
        self._articles: LRUCache[str, Future[bytes]] = LRUCache(ARTICLE_CACHE)
        self.zero_filled = 0         # articles served as zeros (zero_fill_missing)
        self.missing = 0             # reads failed by an article missing everywhere
        self.fetched = 0
        self._seen_missing: set[str] = set()   # message ids a read found missing: every repair check asks again
        # Who still wants an article being fetched: when the last stream that asked for it lets go
        # (a seek, a closed reader), its fetch is cancelled and its connection is free for the next read.
        self._wants: collections.Counter[str] = collections.Counter()
        self._running: dict[str, Pending] = {}
        self._dropped: set[str] = set()

    def member(self, ref: FileRef) -> tuple[Layout, Member]:
        layout = self.layouts.get(ref.torrent_id)
        if layout is None or not 0 <= ref.file_id < len(layout.members):
            raise errors.FileGone(f"usenet job {ref.torrent_id}: no stored layout for file {ref.file_id}",
                                  code="no_layout")
        return layout, layout.members[ref.file_id]

    def open(self, ref: FileRef, start: int, end: int | None = None) -> UsenetStream | DecryptingStream:
        layout, member = self.member(ref)
        last = member.size - 1 if end is None else min(end, member.size - 1)
        if member.cipher is None:
            return UsenetStream(self, layout, member, start, last, bounded=end is not None)
        # An encrypted stored file: its extents hold the ciphertext (whole AES blocks), read from
        # the block before ``start`` and decrypted on the way (gateway.archives.crypto).
        packed = dataclasses.replace(member, size=padded(member.size), cipher=None)
        return DecryptingStream(member.cipher, lambda first, stop: UsenetStream(
            self, layout, packed, first, stop, bounded=end is not None), start, last, member.size)

    def article(self, layout: Layout, source: int, index: int, lane: Lane) -> Future[bytes]:
        """The decoded bytes of one article: one fetch however many readers want it."""
        message_id = layout.sources[source].ids[index]
        with self._lock:
            self._wants[message_id] += 1
            future = self._articles.get(message_id) or self._inflight.get(message_id)
            if future is not None and not future.cancelled():
                return future
            self._dropped.discard(message_id)
            future = self._pool.submit(self._fetch, layout, source, index, lane)
            self._inflight[message_id] = future
        future.add_done_callback(functools.partial(self._landed, message_id))
        return future

    def _landed(self, message_id: str, future: Future[bytes]) -> None:
        """A fetch ended: off the in-flight table; kept among the recent articles if it has bytes."""
        with self._lock:
            if self._inflight.get(message_id) is future:
                del self._inflight[message_id]
            if not future.cancelled() and future.exception() is None:
                self._articles[message_id] = future

    def unwant(self, message_id: str) -> None:
        """A stream is done with an article it asked for; the last one out cancels an unfinished fetch."""
        with self._lock:
            self._wants[message_id] -= 1
            if self._wants[message_id] > 0:
                return
            del self._wants[message_id]
            future = self._inflight.get(message_id)
            if future is None or future.done():
                return
            if future.cancel():   # _landed takes it off the table
                return
            pending = self._running.get(message_id)
            self._dropped.add(message_id)
        if pending is not None and not pending.withdraw():   # already being read: let it finish
            with self._lock:
                self._dropped.discard(message_id)

    def _body(self, message_id: str, lane: Lane) -> Any:
        start = getattr(self._client, "start_body", None)
        if start is None:
            return self._client.body(message_id, lane=lane)
        pending: Pending = start(message_id, lane=lane, inline=True)   # this pool thread does the asking
        with self._lock:
            self._running[message_id] = pending
            cancelled = message_id in self._dropped
        try:
            if cancelled:
                pending.withdraw()
            return pending.wait()
        except Exception:
            with self._lock:
                if message_id in self._dropped:   # we cancelled it: nobody wanted it any more
                    raise CancelledError() from None
            raise
        finally:
            with self._lock:
                self._running.pop(message_id, None)
                self._dropped.discard(message_id)

    def _fetch(self, layout: Layout, source: int, index: int, lane: Lane) -> bytes:
        src = layout.sources[source]
        expected = src.start(index + 1) - src.start(index)
        try:
            data = bytes(self._body(src.ids[index], lane).data)
        except errors.NotFound:   # ArticleMissing: no server has it
            return self._missing(layout, src, index, expected)
        with self._lock:
            self.fetched += 1
        if len(data) != expected:
            raise errors.Unavailable(f"usenet: article {index + 1} of {src.name} decoded to {len(data)} bytes, "
                                     f"the layout says {expected}", code="article_size")
        return data

    def _missing(self, layout: Layout, src: Source, index: int, expected: int) -> bytes:
        name = src.name
        with self._lock:
            self._seen_missing.add(src.ids[index])
        if self.zero_fill:
            log.warning("usenet job %s: article %d of %s is missing on every server: served as zeros",
                        layout.job, index + 1, name)
            with self._lock:
                self.zero_filled += 1
            return bytes(expected)
        with self._lock:
            self.missing += 1
        raise errors.FileGone(f"usenet: article {index + 1} of {name} is missing on every server",
                              code="article_missing")

    def check(self, ref: FileRef, percent: float) -> tuple[str, str]:
        """Repair's probe: STAT ``percent``% of the articles behind a file, always with the first,
        the last and any article a read found missing. Missing everywhere → broken; a server
        that cannot answer → unknown."""
        try:
            layout, member = self.member(ref)
        except errors.FileGone as exc:
            return "broken", str(exc)
        with self._lock:
            seen = set(self._seen_missing)
        for source_index in sorted({s for s, _, _ in member.extents}):
            src = layout.sources[source_index]
            ids = [src.ids[k] for k in sample(len(src.ids), percent)] + [i for i in src.ids if i in seen]
            for message_id in dict.fromkeys(ids):
                try:
                    present = self._client.stat(message_id)
                except errors.ProviderError as exc:
                    return "unknown", f"the usenet check failed: {exc}"
                if not present:
                    return "broken", f"an article of {src.name} is missing on every usenet server"
        return "healthy", ""

    def forget(self, job: str) -> None:
        self.layouts.delete(job)

    def stats(self) -> dict[str, int]:
        with self._lock:
            return {"articles_fetched": self.fetched, "missing_reads": self.missing,
                    "zero_filled": self.zero_filled}

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


def sample(count: int, percent: float) -> list[int]:
    """The first, the last and ``percent``% of ``count`` article indexes, evenly spread."""
    if count <= 0:
        return []
    wanted = max(2, round(count * percent / 100.0))
    if wanted >= count:
        return list(range(count))
    step = (count - 1) / (wanted - 1)
    return sorted({round(i * step) for i in range(wanted)} | {0, count - 1})


def pieces(layout: Layout, member: Member, start: int, last: int) -> Iterator[Piece]:
    """The article slices holding member bytes ``[start, last]``, in order."""
    base = 0
    for source, offset, length in member.extents:
        lo, hi = max(start, base), min(last + 1, base + length)
        if lo < hi:
            for index, first, end in layout.sources[source].spans(offset + lo - base, offset + hi - base):
                yield Piece(source, index, first, end)
        base += length
        if base > last:
            return


class UsenetStream:
    """Sequential bytes ``[start, last]`` of one member, fetched ahead in parallel."""

    def __init__(self, files: UsenetFiles, layout: Layout, member: Member, start: int, last: int,
                 bounded: bool = False) -> None:
        self._files = files
        # A caller that names its last byte (an HTTP Range, a chunk of the cache) wants all of it now:
        # every article of the range is asked at once, on the reader's lane. An open-ended read ramps
        # its window up with what it consumed, so a probe that reads a little costs little.
        self._bounded = bounded
        self._lane = current_lane()   # the opener's: a reader's, or the cache's read-ahead (a lower lane)
        self._layout = layout
        self.position = start
        self._plan = pieces(layout, member, start, last)
        self._queue: collections.deque[tuple[Piece, Future[bytes]]] = collections.deque()
        self._queued_bytes = 0
        self._consumed = 0
        self._buffer = memoryview(b"")
        self._closed = False

    def read(self, size: int) -> bytes:
        if self._closed:
            raise ValueError("read of a closed usenet stream")
        if not self._buffer:
            self._fill()
            if not self._queue:
                return b""
            piece, future = self._queue.popleft()
            self._queued_bytes -= piece.hi - piece.lo
            message_id = self._layout.sources[piece.source].ids[piece.article]
            try:
                try:
                    data = future.result()
                except CancelledError:   # dropped by the others who wanted it just before we did: ask again
                    self._files.unwant(message_id)
                    data = self._files.article(self._layout, piece.source, piece.article, self._lane).result()
            finally:
                self._files.unwant(message_id)
            begin = self._layout.sources[piece.source].start(piece.article)
            self._buffer = memoryview(data)[piece.lo - begin:piece.hi - begin]
            self._fill()   # keep the window moving while the reader copies
        out = bytes(self._buffer[:size])
        self._buffer = self._buffer[len(out):]
        self.position += len(out)
        self._consumed += len(out)
        return out

    def _fill(self) -> None:
        """Queue fetches until the window is covered: the next piece on the reader's lane,
        the rest (read-ahead) on a lower one. The window grows with what was read."""
        window = min(self._files.read_ahead, max(self._consumed, 1))
        while len(self._queue) < self._files.stream_connections and (
                not self._queue or self._bounded or self._queued_bytes < window):
            piece = next(self._plan, None)
            if piece is None:
                return
            lane = self._lane if not self._queue or self._bounded else max(self._lane, Lane.IMPORTS)
            future = self._files.article(self._layout, piece.source, piece.article, lane)
            self._queue.append((piece, future))
            self._queued_bytes += piece.hi - piece.lo

    def close(self) -> None:
        """Drop what is still queued: a seek or a closed reader wants none of it."""
        self._closed = True
        while self._queue:
            piece, _ = self._queue.popleft()
            self._files.unwant(self._layout.sources[piece.source].ids[piece.article])
        self._buffer = memoryview(b"")
