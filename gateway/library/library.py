"""The library: every torrent of every provider account, served from snapshots.

Request threads call ``snapshot()`` and never wait on a provider or on a
rebuild. Every change to the tree (a sync batch, an import, a delete, a file
found dead) is queued as ``Changes`` for one writer thread, which merges what
is queued and derives the next snapshot from the current one
(``gateway/library/index.py``). Callers that must see their change at once
(an import, a DELETE) wait for it to be published; a reader marking a file
bad does not wait.

Each account has an ``AccountSync`` (``gateway/library/sync.py``) that lists
it and fetches details progressively within its request budget.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import threading
from collections.abc import Callable, Iterator, Mapping

from gateway import errors
from gateway.clock import Clock
from gateway.config import Config
from gateway.library.index import Changes, TreeIndex
from gateway.library.layouts import ArchiveLayout, Layouts
from gateway.library.snapshot import Snapshot
from gateway.library.sync import AccountSync
from gateway.models import Torrent
from gateway.providers.base import Provider
from gateway.store import Store

log = logging.getLogger(__name__)

Key = tuple[str, str]
CategorySource = Callable[[], dict[Key, str]]
ListingWatcher = Callable[[str, list[Torrent], bool], set[Key]]   # (account, items, complete) → deleted
PublishWatcher = Callable[[Snapshot | None, Snapshot, Changes], None]   # (previous, next, what changed)
PUBLISH_TIMEOUT = 30.0   # how long a caller waits for its change to reach the tree


class Library:
    def __init__(self, config: Config, providers: dict[str, Provider], store: Store, clock: Clock,
                 categories: CategorySource | None = None) -> None:
        self._config = config
        self._providers = providers
        self._store = store
        self._clock = clock
        self.layouts = Layouts(store, config.unpack_archives)
        self._index = TreeIndex(config.folder_naming, config.categories, config.custom_folders,
                                categories or dict, clock,
                                account_rank={name: i for i, name in enumerate(config.debrid_order)},
                                layouts=self.layouts)
        self._watchers: list[Callable[[list[Torrent]], None]] = []
        with _paused_gc():
            self._loaded: list[Torrent] | None = store.load_library()
        self._snapshot: Snapshot | None = None
        self._lock = threading.Lock()            # guards the queue and the first build
        self._queued = Changes()
        self._waiters: list[threading.Event] = []
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._writer: threading.Thread | None = None
        self._listing_watcher: ListingWatcher | None = None
        self._publish_watchers: list[PublishWatcher] = []
        self.syncs = {name: self._account_sync(p) for name, p in providers.items()}
        # Torrents the gateway holds itself (usenet jobs): provider name → forget(torrent id).
        self.local: dict[str, Callable[[str], None]] = {}

    def _account_sync(self, provider: Provider) -> AccountSync:
        debrid = self._config.debrid(provider.name)
        interval = debrid.torrents_refresh_interval if debrid is not None else 300.0
        stored = sum(1 for t in self._loaded or () if t.provider == provider.name)
        return AccountSync(provider, self._store, self._clock, interval, stored=stored,
                           known=lambda: self.snapshot().torrents, publish=self._publish_batch,
                           on_listing=lambda items, complete: self._watch(provider.name, items, complete))

    def set_listing_watcher(self, watcher: ListingWatcher) -> None:
        """Who sees every account listing first (the imports, for orphans left by a crash)."""
        self._listing_watcher = watcher

    def add_publish_watcher(self, watcher: PublishWatcher) -> None:
        """Who hears of every published snapshot (the integrations: rclone, media servers).
        Called on the writer thread: it must only queue, never block."""
        self._publish_watchers.append(watcher)

    def _watch(self, account: str, items: list[Torrent], complete: bool) -> set[Key]:
        watcher = self._listing_watcher
        if watcher is None:
            return set()
        try:
            return watcher(account, items, complete)
        except Exception:   # the sync must go on whatever the watcher does; logged once here
            log.exception("%s: the listing watcher failed", account)
            return set()

    # ------------------------------------------------------------ reading

    def snapshot(self) -> Snapshot:
        snapshot = self._snapshot
        if snapshot is None:
            with self._lock:   # the first build, from the store: at start-up, before serving
                if self._snapshot is None:
                    with _paused_gc():
                        self._snapshot = self._index.load(self._loaded or [])
                    self._loaded = None
                    gc.freeze()   # what start-up made lives on: later collections need not walk it
                snapshot = self._snapshot
        return snapshot

    def provider(self, name: str) -> Provider:
        return self._providers[name]

    @property
    def providers(self) -> dict[str, Provider]:
        return self._providers

    # ------------------------------------------------------------ writing

    def set_categories(self, source: CategorySource) -> None:
        self._index.set_category_source(source)
        if self._snapshot is not None:
            self.recategorize()

    def recategorize(self) -> None:
        """Import categories changed: move the torrents whose category did."""
        self._submit(Changes(categories=True), wait=True)

    def refresh(self, name: str) -> bool:
        """List one account and fetch every missing detail now; False when the provider failed."""
        return self.syncs[name].sync_all()

    def add_or_update(self, torrent: Torrent) -> None:
        """A torrent the gateway itself imported appears at once, without waiting for a refresh."""
        self._store.apply_library([torrent])
        self._submit(Changes(upserts={torrent.key: torrent}), wait=True)

    def mark_bad(self, key: Key, reason: str) -> None:
        """Called on a reader's thread: queued, never built here."""
        if key in self.snapshot().bad:
            return
        log.warning("%s/%s: marked bad: %s", key[0], key[1], reason)
        self._submit(Changes(mark_bad={key}), wait=False)

    def delete(self, key: Key) -> None:
        """Delete at the provider, then drop from the index (NotFound counts as done).
        A usenet job has no provider: its stored layout is dropped instead."""
        local = self.local.get(key[0])
        try:
            if local is not None:
                local(key[1])
            else:
                self._providers[key[0]].delete(key[1])
        except errors.NotFound:
            pass
        self._store.apply_library([], [key])
        self._submit(Changes(deletes={key}), wait=True)

    def watch(self, watcher: Callable[[list[Torrent]], None]) -> None:
        """``watcher`` is given, after each change, the changed torrents that wait for a layout
        (and, now, every one already waiting)."""
        self._watchers.append(watcher)
        waiting = [t for t in self.snapshot().torrents.values() if self.layouts.waiting(t)]
        if waiting:
            watcher(waiting)

    def learned(self, torrent: Torrent, layout: ArchiveLayout) -> None:
        """A set's layout is known (saved first): its folder appears, with the files inside it."""
        self.layouts.save(torrent, layout)
        current = self.snapshot().torrents.get(torrent.key, torrent)
        self._submit(Changes(upserts={torrent.key: current}), wait=True)

    def _publish_batch(self, changes: Changes) -> None:
        """A sync batch: waited for, so the sync's next listing compares against it."""
        self._submit(changes, wait=True)

    # ------------------------------------------------------- the writer

    def _submit(self, changes: Changes, *, wait: bool) -> None:
        self.snapshot()   # the first build comes before any change
        done = threading.Event()
        with self._lock:
            self._queued.merge(changes)
            self._waiters.append(done)
            if self._writer is None:
                self._writer = threading.Thread(target=self._write_loop, name="library-writer", daemon=True)
                self._writer.start()
        self._wake.set()
        if wait and not done.wait(PUBLISH_TIMEOUT):
            log.error("library: a change was not published within %.0fs", PUBLISH_TIMEOUT)

    def _write_loop(self) -> None:
        while not self._stop.is_set():
            self._wake.wait()
            self._wake.clear()
            with self._lock:
                changes, self._queued = self._queued, Changes()
                waiters, self._waiters = self._waiters, []
            try:
                if changes:
                    previous = self._snapshot
                    self._snapshot = self._index.derive(changes)
                    for watcher in self._publish_watchers:
                        watcher(previous, self._snapshot, changes)
            except Exception:   # the writer must survive one bad change; logged once here
                log.exception("library: deriving the next snapshot failed")
            self._tell_watchers(changes)
            for done in waiters:
                done.set()

    def _tell_watchers(self, changes: Changes) -> None:
        if not self._watchers or not changes.upserts:
            return
        waiting = [t for t in changes.upserts.values() if self.layouts.waiting(t)]
        if not waiting:
            return
        for watcher in self._watchers:
            try:
                watcher(waiting)
            except Exception:
                log.exception("library: a layout watcher failed")

    def close(self) -> None:
        self._stop.set()
        self._wake.set()
        for sync in self.syncs.values():
            sync.close()
        with self._lock:
            waiters, self._waiters = self._waiters, []
        for done in waiters:   # nobody waits forever on a closed library
            done.set()
        if self._writer is not None:
            self._writer.join(5)
        gc.unfreeze()   # a stopped library's cycles must be collectable (tests start many in one process)

    # ------------------------------------------------------------- stats

    def sync_stats(self) -> Mapping[str, dict[str, object]]:
        return {name: sync.stats() for name, sync in self.syncs.items()}


@contextlib.contextmanager
def _paused_gc() -> Iterator[None]:
    """Loading a large library makes millions of objects that all live on; the cyclic
    collector would walk them over and over while they are made (three times slower)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
