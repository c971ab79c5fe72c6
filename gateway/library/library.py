"""The library: every torrent of every provider account, served from snapshots.

``refresh(provider)`` runs in a worker thread: it lists the provider, fetches
details only for torrents it has not seen complete before, persists the
index and swaps in a new ``Snapshot``. Request threads call ``snapshot()``
and never wait on a provider. A provider that fails during a refresh leaves
the last snapshot in place.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

from gateway import errors
from gateway.clock import Clock
from gateway.config import Config
from gateway.library.groups import build_groups
from gateway.library.snapshot import Snapshot, build_snapshot
from gateway.models import Torrent, TorrentStatus
from gateway.providers.base import Provider
from gateway.store import Store

log = logging.getLogger(__name__)

Key = tuple[str, str]
CategorySource = Callable[[], dict[Key, str]]
DETAIL_WORKERS = 4


class Library:
    def __init__(self, config: Config, providers: dict[str, Provider], store: Store, clock: Clock,
                 categories: CategorySource | None = None) -> None:
        self._config = config
        self._providers = providers
        self._store = store
        self._clock = clock
        self._categories = categories or dict
        self._lock = threading.Lock()          # guards _torrents/_bad and the swap; never held over I/O
        self._torrents: dict[Key, Torrent] = {t.key: t for t in store.load_library()}
        self._bad: set[Key] = set()
        self._generation = 0
        self._snapshot: Snapshot | None = None   # built on first use, once the categories are wired
        self.last_refresh: dict[str, float] = {}
        self.last_error: dict[str, str] = {}

    # ------------------------------------------------------------ reading

    def snapshot(self) -> Snapshot:
        snapshot = self._snapshot
        if snapshot is None:
            with self._lock:
                if self._snapshot is None:
                    self._snapshot = self._build()
                snapshot = self._snapshot
        return snapshot

    def provider(self, name: str) -> Provider:
        return self._providers[name]

    @property
    def providers(self) -> dict[str, Provider]:
        return self._providers

    # ------------------------------------------------------------ writing

    def set_categories(self, source: CategorySource) -> None:
        self._categories = source
        if self._snapshot is not None:
            self.rebuild()

    def rebuild(self) -> Snapshot:
        with self._lock:
            self._snapshot = self._build()
            return self._snapshot

    def _build(self) -> Snapshot:
        """Needs ``_lock`` held (or construction in progress)."""
        categories = self._categories()
        groups = build_groups(self._config.categories, self._config.custom_folders,
                              set(categories.values()))
        self._generation += 1
        return build_snapshot(self._generation, self._clock.now(), list(self._torrents.values()),
                              groups, categories, self._bad, self._config.folder_naming)

    def refresh(self, name: str) -> bool:
        """List one provider and swap in a new snapshot; False when the provider failed."""
        provider = self._providers[name]
        try:
            listed = provider.list_torrents()
        except errors.ProviderError as exc:
            self.last_error[name] = str(exc)
            log.warning("%s: listing failed, keeping the last snapshot: %s", name, exc)
            return False
        known = {k: t for k, t in self._torrents.items() if k[0] == name}
        merged = self._with_details(provider, listed, known)
        self.last_refresh[name] = self._clock.now()
        self.last_error.pop(name, None)
        if len(merged) == len(known) and all(known.get(t.key) == t for t in merged):
            return True   # nothing changed: keep the snapshot, and every listing rendered from it
        with self._lock:
            for key in [k for k in self._torrents if k[0] == name]:
                del self._torrents[key]
            self._torrents.update((t.key, t) for t in merged)
            self._snapshot = self._build()
        self._store.save_library(name, merged)
        return True

    def _with_details(self, provider: Provider, listed: list[Torrent],
                      known: dict[Key, Torrent]) -> list[Torrent]:
        """List items carry no files: fetch details only for torrents that changed."""
        need = [t for t in listed if _needs_details(t, known.get(t.key))]
        details: dict[Key, Torrent] = {}
        if need:
            with ThreadPoolExecutor(DETAIL_WORKERS, thread_name_prefix="details") as pool:
                for result in pool.map(lambda t: _details(provider, t), need):
                    if result is not None:
                        details[result.key] = result
        merged = []
        for item in listed:
            if item.key in details:
                merged.append(details[item.key])
            elif item.key in known and known[item.key].files:
                merged.append(_keep_files(item, known[item.key]))
            else:
                merged.append(item)
        return merged

    def add_or_update(self, torrent: Torrent) -> None:
        """A torrent the gateway itself imported appears at once, without waiting for a refresh."""
        with self._lock:
            self._torrents[torrent.key] = torrent
            self._snapshot = self._build()
        self._store.upsert_library_torrent(torrent)

    def mark_bad(self, key: Key, reason: str) -> None:
        with self._lock:
            if key in self._bad:
                return
            self._bad.add(key)
            self._snapshot = self._build()
        log.warning("%s/%s: marked bad: %s", key[0], key[1], reason)

    def delete(self, key: Key) -> None:
        """Delete at the provider, then drop from the index (NotFound counts as done)."""
        try:
            self._providers[key[0]].delete(key[1])
        except errors.NotFound:
            pass
        with self._lock:
            self._torrents.pop(key, None)
            self._bad.discard(key)
            self._snapshot = self._build()
        self._store.delete_library_torrent(*key)


def _needs_details(item: Torrent, known: Torrent | None) -> bool:
    if item.status != TorrentStatus.DOWNLOADED:
        return False
    if known is None or not known.files or known.status != TorrentStatus.DOWNLOADED:
        return True
    return known.size != item.size or len(known.links) != len(item.links)


def _details(provider: Provider, item: Torrent) -> Torrent | None:
    try:
        return provider.get_torrent(item.id)
    except errors.ProviderError as exc:
        log.warning("%s/%s: details failed: %s", item.provider, item.id, exc)
        return None


def _keep_files(item: Torrent, known: Torrent) -> Torrent:
    """A fresh list item with the files we already know."""
    return replace(item, files=known.files, original_name=known.original_name or item.original_name)
