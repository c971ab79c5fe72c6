"""Resilient byte streams: what every reader (WebDAV, browse, FUSE) reads through.

A stream starts at an offset and keeps going across trouble: an expired or
refused link is unrestricted again, and a dropped connection is reopened at
the byte where it broke, invisibly to the reader. A file the provider really
lost raises ``FileGone`` and the torrent is marked for repair.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Protocol

from gateway import errors
from gateway.clock import Clock
from gateway.library.links import LinkResolver
from gateway.library.members import MemberStream
from gateway.library.relay import Relay
from gateway.library.snapshot import FileRef, MemberRef
from gateway.models import DownloadLink
from gateway.providers.cdn import CdnClient, CdnStream

log = logging.getLogger(__name__)

MAX_RELINKS = 2
MAX_RESUMES = 3
RESUME_BACKOFF = 0.25


class Counters:
    """Upstream traffic figures, shared by every stream (for /api/stats)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.upstream_requests = 0
        self.upstream_bytes = 0

    def add(self, requests: int = 0, nbytes: int = 0) -> None:
        with self._lock:
            self.upstream_requests += requests
            self.upstream_bytes += nbytes


class Stream(Protocol):
    position: int

    def read(self, size: int) -> bytes: ...

    def close(self) -> None: ...


# Files whose bytes come from elsewhere than a provider's CDN (usenet jobs): (ref, start, last byte or None).
LocalOpener = Callable[[FileRef, int, "int | None"], Stream]
# Told when a read fails because the file is lost at every placement (repair starts from it).
GoneWatcher = Callable[[FileRef, errors.FileGone], None]


class Streamer:
    def __init__(self, links: LinkResolver, cdn: CdnClient, clock: Clock) -> None:
        self.links = links
        self._cdn = cdn
        self._clock = clock
        self.counters = Counters()
        self.local: dict[str, LocalOpener] = {}   # provider name → opener (the usenet reader)
        self.on_gone: GoneWatcher | None = None

    def open(self, ref: FileRef, start: int, end: int | None = None) -> Stream:
        local = self.local.get(ref.provider)
        try:
            stream: Stream = local(ref, start, end) if local is not None else self._debrid(ref, start, end)
        except errors.FileGone as exc:
            self._gone(ref, exc)
            raise
        return stream if self.on_gone is None else _Watched(stream, ref, self._gone)

    def link(self, ref: FileRef) -> str | None:
        """The one provider URL holding the file's bytes (for redirects), or None when there is
        none: a member of archive volumes, a file read here from usenet. May call the provider."""
        if isinstance(ref, MemberRef) or ref.provider in self.local:
            return None
        return self.links.resolve(ref).url

    def _debrid(self, ref: FileRef, start: int, end: int | None) -> Stream:
        if isinstance(ref, MemberRef):   # a file inside archive volumes: ranges of those volumes
            return MemberStream(ref.extents, lambda volume, first, last: ResilientStream(
                self.connect, self.counters, self._clock, FileRef(ref.provider, ref.torrent_id, volume),
                first, last), start, end)
        return ResilientStream(self.connect, self.counters, self._clock, ref, start, end)

    def _gone(self, ref: FileRef, exc: errors.FileGone) -> None:
        """Every placement was tried (the resolver falls back before raising): the file is lost."""
        watcher = self.on_gone
        if watcher is None:
            return
        try:
            watcher(ref, exc)
        except Exception:   # the reader gets its own error, never the watcher's
            log.exception("%s/%s: the lost-file watcher failed", ref.torrent_id, ref.file_id)

    def connect(self, ref: FileRef, start: int, end: int | None) -> CdnStream:
        """Open the CDN at ``start``, re-unrestricting a refused link."""
        for attempt in range(MAX_RELINKS + 1):
            link = self.links.resolve(ref)
            try:
                self.counters.add(requests=1)
                return self._cdn.open(link.url, start, end)
            except errors.LinkExpired:
                log.info("%s/%s: link refused, unrestricting again", ref.torrent_id, ref.file_id)
                self.links.invalidate(ref, link)
                if attempt == MAX_RELINKS:
                    raise errors.FileGone(f"{ref.torrent_id}/{ref.file_id}: CDN keeps refusing fresh links",
                                          code="link_refused") from None
            except errors.QuotaExceeded:
                # The key's traffic is spent: rest it, so the next link comes from another
                # download key, or from another account holding the same torrent.
                self._exhausted(ref, link)
                if attempt == MAX_RELINKS:
                    raise
        raise AssertionError("unreachable")


    def _exhausted(self, ref: FileRef, link: DownloadLink) -> None:
        account = self.links.account_of(link) or ref.provider
        log.info("%s/%s: CDN says the traffic of %s key %d is spent", ref.torrent_id, ref.file_id, account, link.key)
        provider = self.links.provider(account)
        if provider is None or not provider.rest_key(link.key, "CDN: traffic exhausted"):
            self.links.rest_account(account)
        self.links.invalidate(ref, link)


Connect = Callable[[FileRef, int, "int | None"], CdnStream]   # (ref, start, last byte or None)


class ResilientStream(Relay[CdnStream]):
    """Sequential bytes from ``start`` (to ``end`` inclusive), resuming across failures.

    Given what it needs (``connect``: ``Streamer.connect``; the shared counters; the clock)
    rather than the streamer, so it uses no one's private members."""

    def __init__(self, connect: Connect, counters: Counters, clock: Clock, ref: FileRef, start: int,
                 end: int | None) -> None:
        self._connect = connect
        self._counters = counters
        self._clock = clock
        self._ref = ref
        self.position = start
        self._end = end
        self._stream: CdnStream | None = None

    def read(self, size: int) -> bytes:
        if self._end is not None:
            size = min(size, self._end + 1 - self.position)
        if size <= 0:
            return b""
        for attempt in range(MAX_RESUMES + 1):
            try:
                if self._stream is None:
                    self._stream = self._connect(self._ref, self.position, self._end)
                data = self._stream.read(size)
                self.position += len(data)
                self._counters.add(nbytes=len(data))
                return data
            except errors.Unavailable:
                self._drop()
                if attempt == MAX_RESUMES:
                    raise
                log.info("%s: stream broke at %d, resuming", self._ref.torrent_id, self.position)
                self._clock.sleep(RESUME_BACKOFF * attempt)
        raise AssertionError("unreachable")


class _Watched:
    """A stream whose ``FileGone`` is reported (then raised as before)."""

    def __init__(self, stream: Stream, ref: FileRef, gone: GoneWatcher) -> None:
        self._stream = stream
        self._ref = ref
        self._report = gone

    @property
    def position(self) -> int:
        return self._stream.position

    @position.setter
    def position(self, value: int) -> None:
        self._stream.position = value

    def read(self, size: int) -> bytes:
        try:
            return self._stream.read(size)
        except errors.FileGone as exc:
            self._report(self._ref, exc)
            raise

    def close(self) -> None:
        self._stream.close()
