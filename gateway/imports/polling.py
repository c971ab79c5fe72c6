"""Following an import at its account: metadata, file selection, download progress,
and the add-then-check probe that may hand it to the next account."""

from __future__ import annotations

import logging

from gateway.imports.records import ImportFile, ImportRecord, ImportState
from gateway.imports.selection import select
from gateway.imports.submission import Submission
from gateway.models import Torrent, TorrentStatus
from gateway.providers.base import Provider

log = logging.getLogger(__name__)

CONVERSION_GRACE = 60.0     # how long a magnet may stay in metadata conversion
METADATA_POLL = 1.0


class Polling(Submission):
    def _poll(self, record: ImportRecord) -> None:
        provider = self._library.provider(record.provider)
        torrent = provider.get_torrent(record.provider_id)
        status = torrent.status
        if status == TorrentStatus.METADATA:
            self._metadata_wait(record)
        elif status == TorrentStatus.WAITING_SELECTION:
            self._select(provider, record, torrent)
        elif status in (TorrentStatus.QUEUED, TorrentStatus.DOWNLOADING):
            self._downloading(provider, record, torrent)
        elif status == TorrentStatus.DOWNLOADED:
            self._complete(record, torrent)
        else:
            self._fail(record, f"the provider reports it as {torrent.status_detail or status.value}")

    def _metadata_wait(self, record: ImportRecord) -> None:
        if self._clock.now() - record.added_on > CONVERSION_GRACE and not self._uncached_ok(record):
            self._not_cached(record, "the magnet is still converting: not cached")
            return
        self._later(record, METADATA_POLL, state=ImportState.METADATA)

    def _select(self, provider: Provider, record: ImportRecord, torrent: Torrent) -> None:
        chosen = select(torrent.files, self._config)
        if not chosen:
            self._fail(record, "no file matches allowed_file_types, min_file_size and max_file_size")
            provider.delete(torrent.id)
            return
        provider.select_files(torrent.id, chosen)
        files = tuple(ImportFile(f.path, f.size, f.id in chosen) for f in torrent.files)
        self._save(record.with_changes(files=files, size=sum(f.size for f in files if f.selected),
                                       name=torrent.original_name or torrent.name or record.name))

    def _downloading(self, provider: Provider, record: ImportRecord, torrent: Torrent) -> None:
        if not self._uncached_ok(record):
            provider.delete(torrent.id)
            self._not_cached(record, "not cached (download_uncached is off)")
            return
        state = ImportState.QUEUED if torrent.status == TorrentStatus.QUEUED else ImportState.DOWNLOADING
        self._later(record, self._config.refresh_interval, state=state, progress=min(torrent.progress, 0.99),
                    speed=torrent.speed, seeders=torrent.seeders, error="")

    def _not_cached(self, record: ImportRecord, why: str) -> None:
        """The add-then-check probe said no: the next account may have it cached."""
        provider = self._library.provider(record.provider)
        attempts = record.provider_attempts
        if attempts and attempts[-1] == (provider.name, "added"):
            attempts = attempts[:-1]   # the add becomes the refusal
        self._turned_down(record.with_changes(provider_attempts=attempts), provider, why)
