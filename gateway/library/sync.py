"""Progressive, resumable sync of one provider account into the library.

What one account's sync does, step by step (``step()`` runs on its worker):

- **Listing.** Every ``torrents_refresh_interval`` it reads the newest page
  of the account (one call) and compares it, and the account's total count,
  with what it knows. Only when the count does not add up, or when the last
  full listing is older than ``FULL_LISTING_EVERY`` (5 minutes), does it list
  everything: that is how torrents deleted at the provider disappear. A
  refresh that finds nothing new costs one call and almost no CPU. A restart
  counts the store as a fresh full listing, so a complete library costs one
  call at start too; an interrupted first sync does not add up, and lists.
- **Details.** A list item has no files. Torrents that are complete and new
  (or changed) wait in a queue, newest first, and are fetched in the
  budget's background lane, so readers and imports always go first.
- **Persisting.** Each result is written to the store as soon as it arrives
  (results that arrive together share one transaction), so a kill loses at
  most the calls in flight and a restart fetches only what is missing.
- **Publishing.** Results go into the tree in batches, every
  ``BATCH_SECONDS``, as one incremental change. A torrent appears once its
  files are known, never as an empty folder that fills in later.

A provider error keeps the last tree; the error is shown in the stats.
An account disabled by a refused key (``providers/health.py``) is neither
listed nor asked for details: its step only probes it, at most every
``PROBE_EVERY`` seconds, and lists at once when the probe passes.
"""

from __future__ import annotations

import heapq
import logging
import threading
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import replace
from typing import Any

from gateway import errors
from gateway.clock import Clock
from gateway.library.index import Changes
from gateway.models import Torrent, TorrentStatus
from gateway.providers.base import Provider
from gateway.providers.budget import Lane, lane
from gateway.store import Store

log = logging.getLogger(__name__)

Key = tuple[str, str]
# Sees each listing before it is merged (items, whether it covers the whole account);
# returns the keys it deleted at the provider meanwhile.
ListingWatcher = Callable[[list[Torrent], bool], set[Key]]
DETAIL_WORKERS = 4           # calls in flight at once; the budget decides how many per minute
BATCH_SECONDS = 3.0          # how often fetched details are published into the tree
FULL_LISTING_EVERY = 300.0   # a full listing at least this often (deletions at the provider)
RECENT_PAGE = 100            # the newest-first page read at every interval
POLL = 0.05                  # real seconds between checks for finished detail calls


def needs_details(item: Torrent, known: Torrent | None) -> bool:
    """A complete torrent whose files we do not have, or whose files may have changed."""
    if item.status != TorrentStatus.DOWNLOADED or item.files:
        return False   # not complete, or the listing already carried its files (TorBox, Debrid-Link)
    if known is None or not known.files or known.status != TorrentStatus.DOWNLOADED:
        return True
    return known.size != item.size or len(known.links) != len(item.links)


def _signature(t: Torrent) -> tuple[Any, ...]:
    """What a listing can change that the tree shows (progress and speed are not)."""
    return (t.status, t.size, t.name, t.original_name, len(t.links), t.added, t.ended, t.status_detail,
            len(t.files))


def _keep_files(item: Torrent, known: Torrent) -> Torrent:
    """A fresh list item with the files we already know."""
    return replace(item, files=known.files, original_name=known.original_name or item.original_name)


class AccountSync:
    def __init__(self, provider: Provider, store: Store, clock: Clock, interval: float, *,
                 known: Callable[[], Mapping[Key, Torrent]], publish: Callable[[Changes], None],
                 stored: int = 0, on_listing: ListingWatcher | None = None) -> None:
        self.name = provider.name
        self._provider = provider
        self._store = store
        self._clock = clock
        self.interval = interval
        self._known_in_tree = known
        self._publish_changes = publish
        self._on_listing = on_listing or (lambda items, complete: set())
        self._lock = threading.Lock()          # guards the queue and the batch, never held over I/O
        self._pending: dict[Key, Torrent] = {}
        self._heap: list[tuple[float, str, Key]] = []
        self._in_flight: set[Key] = set()
        self._batch = Changes()
        self._pool: ThreadPoolExecutor | None = None
        self._closing = threading.Event()
        self._next_listing = 0.0
        # A warm start trusts the store like a recent full listing: when the newest page and the
        # account's count agree with it, one call is enough (the next full listing is 5 min away).
        self._last_full: float | None = clock.monotonic() if stored else None
        self._last_publish = clock.monotonic()
        self.listed = stored
        self.last_listing = 0.0      # wall time of the last successful listing
        self.error = ""
        self.calls = {"listing": 0, "details": 0, "probe": 0}

    # ------------------------------------------------------------ driving

    def step(self) -> float:
        """One round: list when due, fetch a batch of details; returns seconds until the next."""
        health = self._provider.health
        if health.disabled:
            if not self._probe():
                return health.seconds_to_probe()
            self._next_listing = 0.0   # enabled again: list at once
        now = self._clock.monotonic()
        if now >= self._next_listing:
            self._next_listing = now + self.interval
            self._list(now)
        if self._pending:
            self._fetch_batch(now + BATCH_SECONDS)
            return 0.0
        self._publish()
        return max(0.0, self._next_listing - self._clock.monotonic())

    def sync_all(self) -> bool:
        """List now and fetch every missing detail before returning (tests, first start)."""
        if self._provider.health.disabled:
            self.error = self._disabled_error()
            return False
        self._next_listing = 0.0
        self._last_full = None
        self._list(self._clock.monotonic())
        while self._pending and not self._provider.health.disabled:
            self._fetch_batch(float("inf"))
        self._publish()
        return not self.error

    def close(self) -> None:
        self._closing.set()
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)

    def _probe(self) -> bool:
        """The account is disabled: its one cheap call, when due (the health keeps the time);
        True when it passed."""
        health = self._provider.health
        if not health.probe_due():
            return False
        self.calls["probe"] += 1
        with lane(Lane.BACKGROUND):
            passed = health.probe(self._provider.account)
        self.error = "" if passed else self._disabled_error()
        return passed

    def _disabled_error(self) -> str:
        health = self._provider.health
        return f"account disabled: {health.reason} ({health.detail})"

    # ------------------------------------------------------------ listing

    def _list(self, now: float) -> None:
        try:
            with lane(Lane.BACKGROUND):
                self._listing(now)
        except errors.AuthError:
            self.error = self._disabled_error()   # the health logged it, once
            return
        except errors.ProviderError as exc:
            self.error = str(exc)
            log.warning("%s: listing failed, keeping the last tree: %s", self.name, exc)
            return
        self.error = ""
        self.last_listing = self._clock.now()

    def _listing(self, now: float) -> None:
        full = (self._last_full is None or now - self._last_full + self.interval > FULL_LISTING_EVERY
                or not self._provider.capabilities.recent_first)
        if not full:
            items, total = self._provider.list_recent(RECENT_PAGE)
            self.calls["listing"] += 1
            items, total = self._watched(items, total, complete=False)
            known = self._known({item.key for item in items})
            new = sum(1 for t in items if t.key not in known)
            if total is not None and total == self.listed + new and len(items) <= total:
                self._merge(items, known, complete=False)
                self.listed = total
                return
            log.info("%s: %s torrents listed, %s known: listing everything", self.name, total, self.listed)
        items, _ = self._watched(self._provider.list_torrents(), None, complete=True)
        self.calls["listing"] += 1
        self._merge(items, self._known(), complete=True)
        self._last_full = now
        self.listed = len(items)

    def _watched(self, items: list[Torrent], total: int | None, *,
                 complete: bool) -> tuple[list[Torrent], int | None]:
        """The listing as the watcher (orphan reconciliation) leaves it: without the copies
        it deleted, so they never reach the tree."""
        dropped = self._on_listing(items, complete)
        if not dropped:
            return items, total
        kept = [t for t in items if t.key not in dropped]
        return kept, None if total is None else total - (len(items) - len(kept))

    def _known(self, keys: set[Key] | None = None) -> dict[Key, Torrent]:
        """This account's torrents: the tree, plus what is recorded but not yet published.

        With ``keys`` only those: the refresh of a newest page looks up its hundred
        torrents instead of copying a 100,000-torrent account every interval.
        """
        tree = self._known_in_tree()
        with self._lock:
            gone = self._batch.deletes
            if keys is None:
                known = {k: t for k, t in tree.items() if k[0] == self.name and k not in gone}
            else:
                known = {k: tree[k] for k in keys if k in tree and k not in gone}
            known.update((k, t) for k, t in self._batch.upserts.items() if keys is None or k in keys)
            known.update((k, t) for k, t in self._pending.items()
                         if k not in known and (keys is None or k in keys))
        return known

    def _merge(self, items: list[Torrent], known: Mapping[Key, Torrent], *, complete: bool) -> None:
        upserts: list[Torrent] = []
        with self._lock:
            for item in items:
                old = known.get(item.key)
                if old is not None and old is self._pending.get(item.key):
                    old = None   # a queued list item, not a torrent we have details for
                if needs_details(item, old):
                    self._queue(item)
                    continue
                self._pending.pop(item.key, None)
                merged = _keep_files(item, old) if old is not None and old.files and not item.files else item
                if old is None or _signature(old) != _signature(merged):
                    upserts.append(merged)
            deletes: set[Key] = set()
            if complete:
                listed = {item.key for item in items}
                deletes = {k for k in known if k not in listed and k not in self._pending}
                for key in [k for k in self._pending if k not in listed]:
                    del self._pending[key]
        self._record(upserts, deletes)

    def _queue(self, item: Torrent) -> None:
        """Needs ``_lock``. Newest first: the heap orders by added time, descending."""
        if item.key not in self._pending:
            heapq.heappush(self._heap, (-item.added, item.id, item.key))
        self._pending[item.key] = item

    # ------------------------------------------------------------ details

    def _fetch_batch(self, deadline: float) -> None:
        """Fetch details until ``deadline``, recording results as they arrive."""
        futures: dict[Future[Torrent | None], Key] = {}
        while True:
            while (len(futures) < DETAIL_WORKERS and self._clock.monotonic() < deadline
                   and not self._closing.is_set() and not self._provider.health.disabled):
                key = self._next_pending()
                if key is None:
                    break
                futures[self._executor().submit(self._details, key)] = key
            if not futures:
                break
            done, _ = wait(list(futures), timeout=POLL, return_when=FIRST_COMPLETED)
            results = [(futures.pop(f), f.result()) for f in done]
            self._finish(results)
            if self._clock.monotonic() - self._last_publish >= BATCH_SECONDS:
                self._publish()

    def _next_pending(self) -> Key | None:
        with self._lock:
            while self._heap:
                _, _, key = heapq.heappop(self._heap)
                if key in self._pending and key not in self._in_flight:
                    self._in_flight.add(key)
                    return key
        return None

    def _executor(self) -> ThreadPoolExecutor:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(DETAIL_WORKERS, thread_name_prefix=f"details-{self.name}")
        return self._pool

    def _details(self, key: Key) -> Torrent | None:
        """One details call; None when it failed (the next listing queues it again)."""
        try:
            with lane(Lane.BACKGROUND):
                return self._provider.get_torrent(key[1])
        except errors.NotFound:
            log.info("%s/%s: deleted at the provider while queued", self.name, key[1])
            return None   # the next full listing drops it
        except errors.AuthError:
            return None   # the account is disabled now: the health logged it, once
        except errors.ProviderError as exc:
            log.warning("%s/%s: details failed: %s", self.name, key[1], exc)
            return None
        finally:
            self.calls["details"] += 1

    def _finish(self, results: list[tuple[Key, Torrent | None]]) -> None:
        fetched: list[Torrent] = []
        with self._lock:
            for key, torrent in results:
                self._in_flight.discard(key)
                item = self._pending.pop(key, None)
                if torrent is not None:
                    fetched.append(torrent if item is None else replace(torrent, added=torrent.added or item.added))
        self._record(fetched, set())

    # ----------------------------------------------------- persist, publish

    def _record(self, upserts: Iterable[Torrent], deletes: set[Key]) -> None:
        """Persist at once; the tree gets them with the next batch."""
        upserts = list(upserts)
        if not upserts and not deletes:
            return
        self._store.apply_library(upserts, deletes)
        with self._lock:
            self._batch.merge(Changes(upserts={t.key: t for t in upserts}, deletes=set(deletes)))

    def _publish(self) -> None:
        with self._lock:
            batch, self._batch = self._batch, Changes()
        self._last_publish = self._clock.monotonic()
        if batch:
            self._publish_changes(batch)

    # ------------------------------------------------------------- stats

    def stats(self) -> dict[str, Any]:
        with self._lock:
            pending = len(self._pending)
        budget = self._provider.budget
        rate = budget.background_rate()
        return {"listed": self.listed, "with_details": max(0, self.listed - pending), "pending": pending,
                "eta_seconds": round(pending / rate) if rate and pending else 0,
                "last_listing": self.last_listing, "error": self.error,
                "calls": dict(self.calls), "budget": budget.stats(), "account": self._provider.health.status(),
                "provider": self._provider.kind, "download_keys": self._provider.download_keys()}
