"""The import pipeline: from a magnet or .torrent to files ready at ``content_path``.

``add`` computes the v1 infohash, writes the record and returns: the torrent
is visible before the qBit ``torrents/add`` answers. Worker threads, at most
``max_active_downloads``, each own one record at a time and drive it through
``metaDL → queuedDL → downloading → pausedUP`` (or ``error``, with a reason).
Every state change is persisted, so a restarted gateway resumes each
unfinished record where it stopped; the provider id is saved the moment the
provider returns it, and a torrent already in the library is reused rather
than added twice.

The stages a worker steps a record through live in the base classes, one module each:
``core`` (records, save, fail, later), ``completion``, ``usenet_step``, ``submission``
and ``polling``; this module is the public API, the workers and ``_step``.
"""

from __future__ import annotations

import builtins  # the method list() shadows the builtin in the class's annotations
import logging
import os
import shutil
import threading

from gateway import errors
from gateway.config import USENET
from gateway.imports import orphans
from gateway.imports.core import RETRY_LATER
from gateway.imports.nzb import parse_nzb
from gateway.imports.polling import Polling
from gateway.imports.records import AddRequest, ImportFile, ImportRecord, ImportState
from gateway.imports.submission import _disabled
from gateway.imports.torrentmeta import TorrentMetaError, parse_magnet, parse_torrent_file
from gateway.models import Torrent
from gateway.providers.budget import Lane, lane

log = logging.getLogger(__name__)


class ImportManager(Polling):
    """The imports' public face (qBit, SABnzbd, REST): reading, categories, adding,
    orphans, deleting; and the workers that step each record (stages in the base classes)."""

    # ---------------------------------------------------------------- reading

    def get(self, infohash: str) -> ImportRecord | None:
        return self._records.get(infohash.lower())

    def list(self, category: str | None = None, hashes: set[str] | None = None,
             kind: str | None = None) -> list[ImportRecord]:
        """Records, oldest first; ``kind`` "torrent" or "nzb" keeps the qBit and SAB views apart."""
        records = list(self._records.values())
        if kind is not None:
            records = [r for r in records if r.kind == kind]
        if category is not None:
            records = [r for r in records if r.category == category]
        if hashes is not None:
            records = [r for r in records if r.hash in hashes]
        return sorted(records, key=lambda r: (r.added_on, r.hash))

    def category_map(self) -> dict[tuple[str, str], str]:
        """(provider, torrent id) → category, for the library's category groups."""
        return {(r.provider, r.provider_id): r.category for r in list(self._records.values())
                if r.provider_id and r.category}

    # --------------------------------------------------------- categories

    def categories(self) -> dict[str, str]:
        """Configured and created categories → save path."""
        made = self._repo.categories()
        names = list(self._config.categories) + sorted(set(made) - set(self._config.categories))
        return {name: made.get(name) or self.default_save_path(name) for name in names}

    def default_save_path(self, category: str) -> str:
        return os.path.join(self._config.download_folder, category) if category else self._config.download_folder

    def create_category(self, name: str, save_path: str = "") -> None:
        self._repo.save_category(name, save_path or self.default_save_path(name))

    def remove_categories(self, names: builtins.list[str]) -> None:
        self._repo.delete_categories(names)

    # ---------------------------------------------------------------- adding

    def add(self, request: AddRequest) -> ImportRecord:
        """Record a new import (or return the existing one for that hash). Raises TorrentMetaError."""
        record, torrent_file = self._new_record(request)
        if request.category and request.category not in self.categories():
            self.create_category(request.category)
        existing = self._repo.insert_new(record, torrent_file)
        if existing is not None:
            return self._readd(existing, request)
        with self._wake:
            self._records[record.hash] = record
            self._wake.notify_all()
        log.info("%s: added %r to %s", record.hash, record.name, record.category or "(no category)")
        return record

    def _readd(self, existing: ImportRecord, request: AddRequest) -> ImportRecord:
        """The *arr already tracks this hash: keep the entry, follow its category."""
        current = self._records.get(existing.hash, existing)
        if request.category and request.category != current.category:
            current = self._edit(current.hash, category=request.category,
                                 save_path=self.save_path(request.category)) or current
        return current

    def save_path(self, category: str) -> str:
        return self.categories().get(category) or self.default_save_path(category)

    def takes_nzbs(self, account: str = "") -> bool:
        """Whether NZBs can be added at all, or at ``account`` when one is named (debrid=...)."""
        if account:
            provider = self._library.providers.get(account)
            return provider is not None and provider.capabilities.usenet
        return self._usenet is not None or any(p.capabilities.usenet for p in self._library.providers.values())

    def _new_record(self, request: AddRequest) -> tuple[ImportRecord, bytes]:
        if request.nzb:
            return self._nzb_record(request), request.nzb
        if request.torrent_file:
            meta = parse_torrent_file(request.torrent_file)
            infohash, name, magnet = meta.infohash, meta.name, ""
            files = tuple(ImportFile(path, size) for path, size in meta.files)
        elif request.magnet:
            parsed = parse_magnet(request.magnet)
            infohash, name, magnet, files = parsed.infohash, parsed.name or parsed.infohash, request.magnet, ()
        else:
            raise TorrentMetaError("nothing to add: give a magnet link or a .torrent file")
        action = request.action or self._config.default_download_action
        save_path = self.save_path(request.category)
        record = ImportRecord(
            hash=infohash, name=name, category=request.category, action=action, magnet=magnet,
            has_torrent_file=bool(request.torrent_file), debrid=request.debrid,
            download_uncached=request.download_uncached, added_on=self._clock.now(), save_path=save_path,
            content_path=os.path.join(save_path, name), files=files, size=sum(f.size for f in files),
            tags=request.tags)
        return record, request.torrent_file

    def _nzb_record(self, request: AddRequest) -> ImportRecord:
        meta = parse_nzb(request.nzb)
        name = request.nzb_name or meta.name or request.nzb_file_name or meta.md5   # contract §8
        files = tuple(ImportFile(path, size) for path, size in meta.files)
        save_path = self.save_path(request.category)
        return ImportRecord(
            hash=meta.md5, name=name, category=request.category, kind="nzb",
            action=request.action or self._config.default_download_action, has_torrent_file=True,
            debrid=request.debrid, download_uncached=request.download_uncached, added_on=self._clock.now(),
            save_path=save_path, content_path=os.path.join(save_path, name), files=files,
            size=meta.size, tags=request.tags, nzb_url=request.nzb_url)

    # ------------------------------------------------------------- orphans

    def reconcile(self, account: str, items: builtins.list[Torrent], complete: bool) -> set[tuple[str, str]]:
        """A listing of ``account`` (the library sync's, in its background lane): delete
        the copies our unanswered adds left there, adopt one where the recorded copy is
        gone (``orphans.plan``); returns the keys deleted, for the sync to leave out."""
        since = self._clock.now() - orphans.ORPHAN_WINDOW
        suspects = self._repo.unconfirmed(account, since)
        copies: dict[str, builtins.list[Torrent]] = {}
        for item in items if suspects else ():
            if item.infohash in suspects:
                copies.setdefault(item.infohash, []).append(item)
        if not copies:
            return set()
        with self._wake:   # records first, evidence after: an add settled meanwhile is not counted
            records = {h: (self._records.get(h), h in self._owned) for h in copies}
        sent = self._repo.unconfirmed(account, since)
        dropped: set[tuple[str, str]] = set()
        for infohash, here in copies.items():
            record, owned = records[infohash]
            if record is None or not sent.get(infohash):
                continue
            plan = orphans.plan(record, account, here, sent[infohash], complete=complete, owned=owned)
            if plan.adopt:
                self._adopt(infohash, account, plan.adopt)
            dropped.update((account, i) for i in plan.delete if self._delete_orphan(infohash, account, i))
        return dropped

    def _adopt(self, infohash: str, account: str, torrent_id: str) -> None:
        with self._wake:
            current = self._records.get(infohash)
            if current is None or infohash in self._owned or current.provider != account:
                return   # a worker took it meanwhile: the next listing looks again
            record = current.with_changes(provider_id=torrent_id)
            self._records[infohash] = record
        self._repo.save(record)
        self._repo.settle(infohash, account, newest=False)
        log.warning("%s: its copy at %s is gone; adopted %s, left by an add whose answer never came",
                    infohash, account, torrent_id)

    def _delete_orphan(self, infohash: str, account: str, torrent_id: str) -> bool:
        try:
            with lane(Lane.BACKGROUND):
                self._library.delete((account, torrent_id))
        except errors.ProviderError as exc:
            log.info("%s: could not delete the second copy %s at %s: %s", infohash, torrent_id, account, exc)
            return False
        self._repo.settle(infohash, account, newest=False)
        log.warning("%s: deleted a second copy %s at %s, left by an add whose answer never came",
                    infohash, torrent_id, account)
        return True

    # -------------------------------------------------------------- deleting

    def delete(self, hashes: builtins.list[str], *, delete_files: bool = True, remove_from_debrid: bool = False) -> int:
        """Forget records (their output folders too); the torrent stays in the library
        unless ``remove_from_debrid``."""
        gone = []
        with self._wake:
            for h in hashes:
                record = self._records.pop(h.lower(), None)
                if record is not None:
                    gone.append(record)
        self._repo.delete([r.hash for r in gone])
        for record in gone:
            if record.provider == USENET and record.provider_id:
                self._library.delete((USENET, record.provider_id))   # its files leave the tree, its layout the store
            if delete_files:
                _remove_output(record, self._config.download_folder)
            if remove_from_debrid and record.provider_id:
                self._library.delete((record.provider, record.provider_id))
        if gone:
            self._library.recategorize()
        return len(gone)

    def set_category(self, hashes: builtins.list[str], category: str) -> None:
        for h in hashes:
            self._edit(h, category=category)
        self._library.recategorize()

    def set_tags(self, hashes: builtins.list[str], tags: builtins.list[str], add: bool) -> None:
        """Add ``tags`` to, or remove them from, each record (unknown hashes are ignored)."""
        def change(record: ImportRecord) -> ImportRecord:
            if add:
                return record.with_changes(tags=record.tags + tuple(
                    t for t in dict.fromkeys(tags) if t not in record.tags))
            return record.with_changes(tags=tuple(t for t in record.tags if t not in tags))

        for h in hashes:
            self._edit(h, change)

    # ---------------------------------------------------------------- workers

    def start(self) -> None:
        for i in range(self._config.max_active_downloads):
            thread = threading.Thread(target=self._work, name=f"import-{i}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self) -> None:
        self._stop.set()
        with self._wake:
            self._wake.notify_all()
        for thread in self._threads:
            thread.join(10)

    def _claim(self) -> ImportRecord | None:
        """The oldest unfinished record nobody works on; blocks until there is one."""
        with self._wake:
            while not self._stop.is_set():
                waiting = [r for r in self._records.values() if not r.state.finished and r.hash not in self._owned]
                if waiting:
                    record = min(waiting, key=lambda r: (r.added_on, r.hash))
                    self._owned.add(record.hash)
                    return record
                self._wake.wait(1.0)
        return None

    def _release(self, infohash: str) -> None:
        with self._wake:
            self._owned.discard(infohash)
            self._wake.notify_all()

    def _work(self) -> None:
        with lane(Lane.IMPORTS):   # provider calls wait behind readers, ahead of the library sync
            self._work_loop()

    def _work_loop(self) -> None:
        while not self._stop.is_set():
            record = self._claim()
            if record is None:
                return
            try:
                self._drive(record.hash)
            except Exception:   # one bad record must not kill a worker; logged once, here
                log.exception("%s: import step failed", record.hash)
            finally:
                self._release(record.hash)

    def _drive(self, infohash: str) -> None:
        """Step one record until it finishes, is deleted, or the gateway stops."""
        while not self._stop.is_set():
            record = self._records.get(infohash)
            if record is None or record.state.finished:
                return
            delay = record.next_try - self._clock.now()
            if delay > 0:
                self._clock.wait(self._stop, delay)
                continue
            self._step(record)

    # ----------------------------------------------------------------- steps

    def _step(self, record: ImportRecord) -> None:
        if self._reads_usenet(record):
            self._usenet_step(record)
            return
        if self._held_by_disabled(record):
            return
        try:
            if not record.provider_id:
                self._submit(record)
            else:
                self._poll(record)
        except errors.Blocked as exc:
            self._fail(record, f"refused by the provider: {exc.code or exc}")
        except errors.BadRequest as exc:
            self._fail(record, f"the provider rejected it: {exc.code or exc}")
        except errors.AuthError as exc:
            if not self._held_by_disabled(record):
                self._later(record, RETRY_LATER * 10, error=f"provider account problem: {exc.code or exc}")
        except errors.SlotsFull as exc:
            if record.provider_id and self._others_left(record):
                self._slots_elsewhere(record, exc)   # RD says so only at select, after the add
            else:
                self._later(record, RETRY_LATER, state=ImportState.QUEUED, error="")
        except errors.ProviderError as exc:
            self._later(record, RETRY_LATER, error=f"will retry: {exc}")

    def _held_by_disabled(self, record: ImportRecord) -> bool:
        """Its account is disabled: not asked, the record waits (with the reason) for a probe to pass."""
        held = self._library.providers.get(record.provider) if record.provider_id else None
        if held is None or not held.health.disabled:
            return False
        self._later(record, RETRY_LATER, error=f"waiting: {held.name}: {_disabled(held)}")
        return True


def _remove_output(record: ImportRecord, download_folder: str) -> None:
    """Delete what the import wrote, never anything outside the download folder."""
    target = os.path.realpath(record.content_path) if not os.path.islink(record.content_path) else \
        os.path.abspath(record.content_path)
    root = os.path.realpath(download_folder)
    if not target.startswith(root + os.sep) or target == root:
        return
    if os.path.islink(target) or os.path.isfile(target):
        os.unlink(target)
    elif os.path.isdir(target):
        shutil.rmtree(target, ignore_errors=True)
