"""A failed stream starts a repair (contract §9): a read that fails because the provider lost
the file, at every placement (``FileGone``: the classification repair's probe uses, never a
network blip), opens a repair job for that media item, as ``POST /api/repair`` with the
item's *arr and media id would.

The reader's thread only checks and queues: a torrent already reported within ``COOLDOWN``
is counted and dropped there, so a hundred failed reads of one file cost one lookup. One
worker thread finds the media item (the *arr the import's category names, else every *arr
repair may scan, asked for the series or movie it grabbed this infohash for) and starts the
scan, waiting while another scan runs. A media item gets one job per ``COOLDOWN`` too.
"""

from __future__ import annotations

import collections
import logging
import threading
from collections.abc import Callable

from gateway import errors
from gateway.arr.client import ArrClient, ArrTarget
from gateway.clock import Clock
from gateway.config import USENET, Config
from gateway.imports.nzb import nzo_id
from gateway.library.library import Library
from gateway.library.snapshot import FileRef
from gateway.repair.service import RepairError, RepairService

log = logging.getLogger(__name__)

COOLDOWN = 6 * 3600.0    # a torrent (and a media item) starts at most one repair in this long
MAX_QUEUED = 100         # a whole account lost at once: the scheduled scan finds the rest
BUSY_WAIT = 5.0          # seconds between tries while another scan runs
BUSY_TRIES = 120


class ReadRepairs:
    def __init__(self, config: Config, library: Library, service: RepairService, arr: ArrClient, clock: Clock,
                 category_of: Callable[[str], str]) -> None:
        """``category_of(infohash)``: the category the import of that torrent was sent with, or ''."""
        self._config = config
        self._library = library
        self._service = service
        self._arr = arr
        self._clock = clock
        self._category_of = category_of
        self._lock = threading.Lock()
        self._seen: dict[str, float] = {}                  # infohash → when it was reported
        self._opened: dict[tuple[str, int], float] = {}   # (arr, media id) → when its job was opened
        self._queue: collections.deque[tuple[str, str]] = collections.deque()   # (infohash, the grab's downloadId)
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.reported = 0
        self.repeated = 0
        self.jobs: list[str] = []

    # ------------------------------------------------------------ the reader's side

    def file_gone(self, ref: FileRef, exc: errors.FileGone) -> None:
        torrent = self._library.snapshot().torrents.get((ref.provider, ref.torrent_id))
        if torrent is None or not torrent.infohash:
            return
        now = self._clock.monotonic()
        with self._lock:
            seen = self._seen.get(torrent.infohash)
            if seen is not None and now - seen < COOLDOWN:
                self.repeated += 1
                return
            if len(self._queue) >= MAX_QUEUED:
                return
            self._seen[torrent.infohash] = now
            # The *arr keeps a usenet job's grab under its nzo_id, a torrent's under its hash.
            download_id = nzo_id(torrent.infohash) if torrent.provider == USENET else torrent.infohash
            self._queue.append((torrent.infohash, download_id))
            self.reported += 1
        log.warning("%s: lost at the provider while read (%s): a repair starts", torrent.name, exc.code or exc)
        self._wake.set()

    # ------------------------------------------------------------------- worker

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="repair-on-read", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait()
            self._wake.clear()
            while not self._stop.is_set():
                with self._lock:
                    if not self._queue:
                        break
                    infohash, download_id = self._queue.popleft()
                try:
                    self._repair(infohash, download_id)
                except Exception:   # the worker outlives one bad lookup
                    log.exception("%s: opening a repair job failed", infohash)

    def _targets(self, infohash: str) -> list[ArrTarget]:
        usable = [a for a in self._config.arrs if a.host and a.token and not a.skip_repair]
        category = self._category_of(infohash)
        first = [a for a in usable if a.name == category]
        return [ArrTarget(a.name, a.host, a.token) for a in (first or usable)]

    def _repair(self, infohash: str, download_id: str) -> None:
        for target in self._targets(infohash):
            try:
                media = self._arr.grabbed_media(target, download_id)
            except errors.ProviderError as exc:
                log.info("%s: %s does not say what it grabbed it for: %s", infohash, target.name, exc)
                continue
            now = self._clock.monotonic()
            with self._lock:
                fresh = tuple(m for m in media if now - self._opened.get((target.name, m), -COOLDOWN) >= COOLDOWN)
                for m in fresh:
                    self._opened[(target.name, m)] = now
            if fresh:
                self._open(target.name, fresh, infohash)
                return
        log.info("%s: no *arr grabbed it (or its job is open already): nothing to repair", infohash)

    def _open(self, arr: str, media: tuple[int, ...], infohash: str) -> None:
        for _ in range(BUSY_TRIES):
            try:
                job = self._service.start_scan(arr, media)
            except RepairError as exc:
                if exc.status != 409:
                    log.warning("%s: no repair job: %s", infohash, exc)
                    return
                if self._clock.wait(self._stop, BUSY_WAIT):   # another scan runs: its turn comes
                    return
                continue
            self.jobs.append(job.id)
            log.info("%s: repair job %s opened for %s %s", infohash, job.id, arr, ", ".join(map(str, media)))
            return
