"""Learning a torrent's archive layout: each volume's headers, read through its CDN link.

``LayoutLearner`` watches the library for complete torrents whose selected files are an archive
set with no layout yet (``Layouts.waiting``), and learns each once: ``map_archive`` over the
volumes, every volume a ``LinkVolume`` whose reads are small bounded CDN ranges through the
``Streamer`` (so a link is made once per volume and link lifetime, and a refused link is made
again). Provider calls it causes count in the budget's BACKGROUND lane. The outcome, members
or the reason the set stays as volumes, is saved in the store before the folder appears.

A network failure is not an outcome: the torrent keeps waiting and is tried again later.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from concurrent.futures import ThreadPoolExecutor

from gateway import errors
from gateway.archives import ArchiveRefused, map_archive
from gateway.archives.base import WINDOW
from gateway.clock import Clock
from gateway.library.layouts import ArchiveLayout, layout_key, set_volumes
from gateway.library.library import Library
from gateway.library.snapshot import FileRef
from gateway.library.streaming import Streamer
from gateway.models import RemoteFile, Torrent
from gateway.providers.budget import Lane, lane

log = logging.getLogger(__name__)

RETRY_AFTER = 60.0   # seconds before a set whose volumes could not be read is tried again
WORKERS = 2
PREFETCH = 4         # volume heads fetched at once while a set is learned


def is_rar_name(path: str) -> bool:
    return ".7z" not in path.lower()


class LinkVolume:
    """One volume of a torrent: ranged reads of its file through the streamer.

    ``prefetch`` reads the head window ahead of the parser (which walks the volumes one by one),
    so the heads of a long set, and their links, are fetched a few at a time; the parser's own
    first read is then served from it, never sent twice.
    """

    def __init__(self, streamer: Streamer, torrent: Torrent, file: RemoteFile) -> None:
        self._streamer = streamer
        self._ref = FileRef(torrent.provider, torrent.id, file.id)
        self.name = file.path
        self.size = file.size
        self.reads = 0
        self._head = b""

    def prefetch(self) -> None:
        with lane(Lane.BACKGROUND):   # a pool thread: the lane is not inherited
            self._head = self._fetch(0, min(WINDOW, self.size))

    def read(self, offset: int, length: int) -> bytes:
        if offset == 0 and length <= len(self._head):
            return self._head[:length]
        return self._fetch(offset, length)

    def _fetch(self, offset: int, length: int) -> bytes:
        self.reads += 1
        stream = self._streamer.open(self._ref, offset, offset + length - 1)
        parts = []
        try:
            while length > 0:
                data = stream.read(length)
                if not data:
                    break
                parts.append(data)
                length -= len(data)
        finally:
            stream.close()
        return b"".join(parts)


def learn(streamer: Streamer, torrent: Torrent) -> ArchiveLayout:
    """The layout of a torrent's set; network errors propagate (nothing is learned then)."""
    files = set_volumes(torrent)
    volumes = [LinkVolume(streamer, torrent, f) for f in files]
    paths, sizes = tuple(f.path for f in files), tuple(f.size for f in files)
    if len(volumes) > 1 and all(is_rar_name(f.path) for f in files):   # RAR reads every head; 7z does not
        with ThreadPoolExecutor(PREFETCH, thread_name_prefix="archive-heads") as pool:
            list(pool.map(LinkVolume.prefetch, volumes))
    with lane(Lane.BACKGROUND):
        try:
            members = map_archive(volumes)
        except ArchiveRefused as exc:
            return ArchiveLayout(paths, sizes, refused=exc.reason)
    return ArchiveLayout(paths, sizes, tuple(members))


class LayoutLearner:
    """Worker threads learning the layouts of waiting torrents, each torrent once."""

    def __init__(self, library: Library, streamer: Streamer, clock: Clock, workers: int = WORKERS) -> None:
        self._library = library
        self._streamer = streamer
        self._clock = clock
        self._workers = workers
        self._queue: deque[Torrent] = deque()
        self._queued: set[str] = set()
        self._failed: dict[str, float] = {}   # layout key → when to try again
        self._cond = threading.Condition()
        self._stop = False
        self._threads: list[threading.Thread] = []
        self.learned = 0

    def start(self) -> LayoutLearner:
        for i in range(self._workers):
            thread = threading.Thread(target=self._loop, name=f"archive-layout-{i}", daemon=True)
            thread.start()
            self._threads.append(thread)
        self._library.watch(self.offer)
        return self

    def stop(self) -> None:
        with self._cond:
            self._stop = True
            self._cond.notify_all()
        for thread in self._threads:
            thread.join(5)

    def offer(self, torrents: list[Torrent]) -> None:
        """Torrents waiting for a layout (called by the library's writer: never blocks)."""
        now = self._clock.monotonic()
        with self._cond:
            for torrent in torrents:
                key = layout_key(torrent)
                if key in self._queued or self._failed.get(key, 0.0) > now:
                    continue
                self._queued.add(key)
                self._queue.append(torrent)
            self._cond.notify_all()

    def _loop(self) -> None:
        while True:
            with self._cond:
                while not self._queue and not self._stop:
                    self._cond.wait()
                if self._stop:
                    return
                torrent = self._queue.popleft()
            try:
                self._learn(torrent)
            except Exception:   # a worker must survive one bad set; it is tried again later
                log.exception("%s: learning its archive layout failed", torrent.name)
                self._later(torrent)
            finally:
                with self._cond:
                    self._queued.discard(layout_key(torrent))

    def _learn(self, torrent: Torrent) -> None:
        current = self._library.snapshot().torrents.get(torrent.key, torrent)
        if not self._library.layouts.waiting(current):
            return
        try:
            layout = learn(self._streamer, current)
        except (errors.ProviderError, OSError, FileNotFoundError) as exc:
            log.warning("%s: reading the archive headers failed (%s); trying again later", current.name, exc)
            self._later(current)
            return
        if layout.refused:
            log.info("%s: %s: shown as archives", current.name, layout.refused)
        else:
            log.info("%s: %d file(s) inside its archive set", current.name, len(layout.members))
        self._library.learned(current, layout)
        self.learned += 1

    def _later(self, torrent: Torrent) -> None:
        with self._cond:
            self._failed[layout_key(torrent)] = self._clock.monotonic() + RETRY_AFTER

    def retry(self) -> None:
        """Offer again the torrents still waiting whose last try failed (a periodic worker's step)."""
        with self._cond:
            self._failed = {k: t for k, t in self._failed.items() if t > self._clock.monotonic()}
        waiting = [t for t in self._library.snapshot().torrents.values() if self._library.layouts.waiting(t)]
        if waiting:
            self.offer(waiting)
