"""Download-link resolution: unrestrict once, cache until it expires, one call in flight per file.

A link has one lifetime, its own ``expires_at`` (the provider sets it from the
account's ``auto_expire_links_after``): the cache is a cachetools ``TLRUCache``
that drops each link at that deadline, on the injected clock. It is guarded by
a lock (cachetools caches are not thread-safe) that is never held across the
provider call: concurrent readers of one file wait on that file's flight
(``gateway.singleflight``) instead.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator

from cachetools import TLRUCache

from gateway import errors
from gateway.clock import Clock
from gateway.library.library import Library
from gateway.library.snapshot import FileRef, Snapshot
from gateway.models import DownloadLink, RemoteFile, Torrent
from gateway.providers.base import Provider
from gateway.singleflight import Flight, SingleFlight

log = logging.getLogger(__name__)

CACHE_SIZE = 50_000
ACCOUNT_REST = 600.0   # seconds an account with spent traffic goes to the back of the queue
# Failures of one placement that another account's copy of the same torrent may not share.
FALLBACK_ERRORS = (errors.FileGone, errors.QuotaExceeded, errors.AuthError, errors.Unavailable, errors.NotFound)


def _link_expiry(_ref: object, link: DownloadLink, _now: float) -> float:
    return link.expires_at


def _origin_expiry(_url: str, origin: tuple[str, float], _now: float) -> float:
    return origin[1]


class LinkResolver:
    def __init__(self, library: Library, clock: Clock) -> None:
        self._library = library
        self._clock = clock
        self._cache: TLRUCache[FileRef, DownloadLink] = TLRUCache(CACHE_SIZE, _link_expiry, timer=clock.monotonic)
        self._flights: SingleFlight[FileRef, DownloadLink] = SingleFlight()
        self._lock = threading.Lock()
        # url → (account, the link's expires_at): a fallback's link may come from another account
        self._origin: TLRUCache[str, tuple[str, float]] = TLRUCache(CACHE_SIZE, _origin_expiry,
                                                                    timer=clock.monotonic)
        self._rest_until: dict[str, float] = {}
        self.unrestrict_calls = 0

    def resolve(self, ref: FileRef) -> DownloadLink:
        """A live link for the file; raises ``FileNotFoundError`` or a ``ProviderError``."""
        with self._lock:
            link = self._cache.get(ref)   # None once past its expires_at
            if link is not None:
                return link
            flight, leader = self._flights.join(ref)
        if leader:
            self._fly(ref, flight)
        else:
            flight.done.wait()
        link = flight.outcome()   # re-raises the leader's error in every waiter
        assert link is not None
        return link

    def _fly(self, ref: FileRef, flight: Flight[DownloadLink]) -> None:
        try:
            link = self._unrestrict(ref)
        except Exception as exc:   # handed to every waiter, re-raised in each
            with self._lock:
                self._flights.land(ref)
            flight.fail(exc)
            return
        with self._lock:
            self._cache[ref] = link
            self._flights.land(ref)
        flight.succeed(link)

    def _unrestrict(self, ref: FileRef) -> DownloadLink:
        """A link from the folder's placement, else from the same file at another account."""
        snapshot = self._library.snapshot()
        found = snapshot.file(ref)
        if found is None:
            raise FileNotFoundError(f"{ref.provider}/{ref.torrent_id}/{ref.file_id}")
        torrent, file = found
        failure: Exception | None = None
        for where, match in self._places(snapshot, torrent, file):
            disabled = self._disabled(where.provider)
            if disabled is not None:   # a refused key is not asked: the next placement, or fail fast
                failure = disabled
                continue
            if failure is not None:
                log.info("%s; reading from %s instead", failure, where.provider)
            try:
                return self._unrestrict_at(where, match)
            except FALLBACK_ERRORS as exc:
                failure = exc
        assert failure is not None   # there is always the folder's own placement
        if isinstance(failure, errors.AuthError) and failure.code == "account_disabled":
            raise errors.AuthError(f"{failure}; no other account holds this file", code=failure.code)
        raise failure

    def _places(self, snapshot: Snapshot, torrent: Torrent,
                file: RemoteFile) -> Iterator[tuple[Torrent, RemoteFile]]:
        """The folder's placement, then the others, an account whose CDN traffic is spent
        last; the others are looked up only when the first did not do."""
        def resting(place: tuple[Torrent, RemoteFile]) -> bool:
            return self._resting(place[0].provider)

        if not self._resting(torrent.provider):
            yield torrent, file
            yield from sorted(snapshot.fallbacks(torrent, file), key=resting)
        else:
            yield from sorted([(torrent, file), *snapshot.fallbacks(torrent, file)], key=resting)

    def _disabled(self, name: str) -> errors.AuthError | None:
        """The error for a placement at a disabled account (``providers/health.py``), else None."""
        health = self._library.provider(name).health
        if not health.disabled:
            return None
        return errors.AuthError(f"{name}: account disabled ({health.reason})", code="account_disabled")

    def rest_account(self, name: str, seconds: float = ACCOUNT_REST) -> None:
        """The CDN says this account's traffic is spent: prefer other placements for a while."""
        with self._lock:
            self._rest_until[name] = self._clock.monotonic() + seconds

    def _resting(self, name: str) -> bool:
        with self._lock:
            return self._rest_until.get(name, 0.0) > self._clock.monotonic()

    def _unrestrict_at(self, torrent: Torrent, file: RemoteFile) -> DownloadLink:
        self.unrestrict_calls += 1
        try:
            link = self._library.provider(torrent.provider).unrestrict(torrent, file)
        except errors.FileGone as exc:
            self._library.mark_bad(torrent.key, str(exc))
            raise
        with self._lock:
            self._origin[link.url] = (torrent.provider, link.expires_at)
        return link

    def provider(self, name: str) -> Provider | None:
        return self._library.providers.get(name)

    def account_of(self, link: DownloadLink) -> str:
        """The account a link was made at (a fallback's may differ from the folder's)."""
        with self._lock:
            origin = self._origin.get(link.url)
        return origin[0] if origin is not None else ""

    def invalidate(self, ref: FileRef, link: DownloadLink | None = None) -> None:
        """Forget a link that stopped working (only if it is still the cached one)."""
        with self._lock:
            cached = self._cache.get(ref)
            if cached is not None and (link is None or cached.url == link.url):
                del self._cache[ref]
