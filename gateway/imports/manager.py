"""The import pipeline: from a magnet or .torrent to files ready at ``content_path``.

``add`` computes the v1 infohash, writes the record and returns: the torrent
is visible before the qBit ``torrents/add`` answers. Worker threads, at most
``max_active_downloads``, each own one record at a time and drive it through
``metaDL → queuedDL → downloading → pausedUP`` (or ``error``, with a reason).
Every state change is persisted, so a restarted gateway resumes each
unfinished record where it stopped; the provider id is saved the moment the
provider returns it, and a torrent already in the library is reused rather
than added twice.
"""

from __future__ import annotations

import builtins  # the method list() shadows the builtin in the class's annotations
import logging
import os
import shutil
import threading
from collections.abc import Callable
from typing import Any

from gateway import errors
from gateway.clock import Clock
from gateway.config import USENET, Config
from gateway.imports import actions, orphans, unpacked
from gateway.imports.nzb import NzbError, parse_nzb
from gateway.imports.records import AddRequest, ImportFile, ImportRecord, ImportRepo, ImportState
from gateway.imports.selection import select
from gateway.imports.torrentmeta import TorrentMetaError, parse_magnet, parse_torrent_file
from gateway.imports.usenet import Held, Refused, UsenetImporter
from gateway.library.library import Library
from gateway.models import Torrent, TorrentStatus
from gateway.providers.base import Provider
from gateway.providers.budget import Lane, lane

log = logging.getLogger(__name__)

RETRY_LATER = 30.0          # slots full, provider down: try again after this
CONVERSION_GRACE = 60.0     # how long a magnet may stay in metadata conversion
METADATA_POLL = 1.0
Notifier = Callable[[ImportRecord], None]
EventSink = Callable[[str, dict[str, Any]], None]


class ImportManager:
    def __init__(self, config: Config, library: Library, repo: ImportRepo, clock: Clock, *,
                 notify: Notifier | None = None, events: EventSink | None = None, symlink_timeout: float = 900.0,
                 stream_url: Callable[[str, str], str] | None = None,
                 opener: Callable[[str, str], Any] | None = None, usenet: UsenetImporter | None = None) -> None:
        """``opener(folder, path)`` reads a library file for the ``download`` action; it is
        the VFS's, which lives above this layer, so the composition root passes it in."""
        self._config = config
        self._library = library
        self._repo = repo
        self._clock = clock
        self._notify = notify or (lambda record: None)
        self._events = events or (lambda name, payload: None)
        self._symlink_timeout = symlink_timeout
        self._stream_url = stream_url or (lambda folder, path: "")
        self._opener = opener or _no_opener
        self._usenet = usenet     # NZBs are read from the user's own servers when it is set
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._stop = threading.Event()
        self._records: dict[str, ImportRecord] = {r.hash: r for r in repo.load_all()}
        self._owned: set[str] = set()
        self._threads: list[threading.Thread] = []

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

    def _save(self, record: ImportRecord, *, settle: str = "") -> ImportRecord:
        """Persist and publish a worker's step, unless the record was deleted meanwhile.

        Workers step from a copy taken earlier; category, save path and tags belong
        to the client (setCategory, addTags, a re-add), so the published ones win.
        """
        with self._wake:
            current = self._records.get(record.hash)
            if current is None:
                return record
            record = record.with_changes(category=current.category, save_path=current.save_path,
                                         tags=current.tags)
            self._records[record.hash] = record
        self._repo.save(record, settle=settle)
        return record

    def _edit(self, infohash: str, change: Callable[[ImportRecord], ImportRecord] | None = None,
              **changes: Any) -> ImportRecord | None:
        """A client's change, applied to the published record (never to a worker's copy)."""
        with self._wake:
            current = self._records.get(infohash.lower())
            if current is None:
                return None
            record = (change(current) if change else current).with_changes(**changes)
            self._records[record.hash] = record
        self._repo.save(record)
        return record

    def _fail(self, record: ImportRecord, reason: str) -> None:
        log.warning("%s: import failed: %s", record.hash, reason)
        failed = self._save(record.with_changes(state=ImportState.ERROR, error=reason, speed=0))
        self._events("download_failed", _event(failed))

    def _later(self, record: ImportRecord, seconds: float, **changes: Any) -> None:
        self._save(record.with_changes(next_try=self._clock.now() + seconds, attempts=record.attempts + 1,
                                       **changes))

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

    # ---------------------------------------------------------------- usenet

    def _reads_usenet(self, record: ImportRecord) -> bool:
        """An NZB is read from the usenet servers unless it asks for a debrid account."""
        if record.kind != "nzb" or self._usenet is None:
            return False
        return record.provider == USENET or not (record.debrid and record.debrid in self._library.providers)

    def _usenet_step(self, record: ImportRecord) -> None:
        """Map the NZB to a stored layout and publish it; servers that cannot answer hold the
        job in the queue (never failed), a release that cannot be streamed fails it."""
        assert self._usenet is not None
        torrent = self._library.snapshot().torrents.get((USENET, record.hash)) if record.provider_id else None
        if torrent is None:
            try:
                torrent = self._usenet.run(record.hash, record.name, self._repo.torrent_file(record.hash))
            except Held as exc:
                log.info("%s: held: %s", record.hash, exc)
                self._later(record, _held_delay(record.attempts), state=ImportState.QUEUED, error=str(exc))
                return
            except (Refused, NzbError) as exc:
                self._fail(record, str(exc))
                return
            except Exception as exc:   # a parser's bug must not retry forever: the *arr searches again
                log.exception("%s: usenet import failed", record.hash)
                self._fail(record, f"the usenet import failed: {exc}")
                return
        record = self._save(record.with_changes(
            provider=USENET, provider_id=record.hash, error="", submitting=False,
            provider_attempts=_attempt(record, USENET, "read from the usenet servers")))
        self._complete(record, torrent)

    def _others_left(self, record: ImportRecord) -> bool:
        return any(p.name not in record.tried and p.name != record.provider for p in self._providers_for(record))

    def _slots_elsewhere(self, record: ImportRecord, exc: errors.SlotsFull) -> None:
        """This account has no free slot but another may: take it back and move on."""
        provider = self._library.provider(record.provider)
        try:
            provider.delete(record.provider_id)
        except errors.ProviderError as failure:
            log.info("%s: could not withdraw it from %s: %s", record.hash, provider.name, failure)
        attempts = record.provider_attempts
        if attempts and attempts[-1] == (provider.name, "added"):
            attempts = attempts[:-1]
        self._turned_down(record.with_changes(provider_attempts=attempts), provider, _why(exc))

    def _providers_for(self, record: ImportRecord) -> builtins.list[Provider]:
        """The accounts that may take it, in the order adds try them (``priority``)."""
        providers = self._library.providers
        wanted = record.debrid or self._arr_debrid(record.category)
        if wanted:
            names: tuple[str, ...] = (wanted,) if wanted in providers else ()
        else:
            names = tuple(n for n in self._config.debrid_order if n in providers)
        chosen = [providers[n] for n in names]
        if record.kind == "nzb":
            chosen = [p for p in chosen if p.capabilities.usenet]
        return chosen

    def _arr_debrid(self, category: str) -> str:
        arr = next((a for a in self._config.arrs if a.name == category), None)
        return arr.selected_debrid if arr else ""

    def _submit(self, record: ImportRecord) -> None:
        """Offer it to the next account of this round; one account per step.

        An account that turns it down for a reason another may not share (not
        cached, slots full, a content filter, quota, down) is recorded and the
        next one is tried; a refusal every account would share ends the import.
        """
        everyone = self._providers_for(record)
        if not everyone:
            kind = "NZBs (configure a torbox or premiumize account)" if record.kind == "nzb" else "it"
            self._fail(record, f"no configured account takes {kind}"
                       + (f" named {record.debrid!r}" if record.debrid else ""))
            return
        candidates = [p for p in everyone if p.name not in record.tried]
        if not candidates:
            self._round_over(record)
            return
        provider = candidates[0]
        if provider.health.disabled:   # a refused key is not asked: the next account, or wait
            self._turned_down(record, provider, _disabled(provider), quiet=True)
            return
        crashed_mid_add = record.submitting
        record = self._save(record.with_changes(submitting=True))
        try:
            if not self._cache_ok(provider, record):
                self._turned_down(record, provider, "not cached (download_uncached is off)")
                return
            torrent_id = self._existing(provider, record, fresh=crashed_mid_add)
            if torrent_id:
                self._repo.settle(record.hash, provider.name, newest=False)   # a copy of an earlier add
                sent = ""
            else:
                torrent_id, sent = self._send_recorded(provider, record), provider.name
        except (errors.BadRequest, errors.NotFound) as exc:
            self._fail(record.with_changes(provider_attempts=_attempt(record, provider.name, _why(exc))),
                       f"{provider.name} rejected it: {exc.code or exc}")
            return
        except errors.ProviderError as exc:   # Blocked (451), SlotsFull, QuotaExceeded, AuthError, Unavailable
            # A refused key has just disabled the account: the record says so, as it will while it waits.
            self._turned_down(record, provider, _disabled(provider) if provider.health.disabled else _why(exc))
            return
        self._save(record.with_changes(
            provider=provider.name, provider_id=torrent_id, error="", state=ImportState.METADATA,
            next_try=0.0, submitting=False, provider_attempts=_attempt(record, provider.name, "added")),
            settle=sent)   # the id and the end of the evidence in one transaction: no window between

    def _cache_ok(self, provider: Provider, record: ImportRecord) -> bool:
        """Where the provider still has a cache check, ask it first: cheaper than an add
        (TorBox allows 60 adds an hour) and nothing to delete afterwards."""
        if not provider.capabilities.cache_check or record.kind == "nzb":
            return True
        if self._uncached_ok(record.with_changes(provider=provider.name)):
            return True
        return bool(provider.check_cached([record.hash]).get(record.hash, False))

    def _turned_down(self, record: ImportRecord, provider: Provider, why: str, *, quiet: bool = False) -> None:
        """Record the refusal and move on to the next account at once (``quiet``: a disabled
        account, whose state change was logged once already)."""
        (log.debug if quiet else log.info)("%s: %s turned it down: %s", record.hash, provider.name, why)
        self._save(record.with_changes(
            provider="", provider_id="", submitting=False, tried=record.tried + (provider.name,),
            provider_attempts=_attempt(record, provider.name, why), next_try=0.0,
            error=f"{provider.name}: {why}"))

    def _round_over(self, record: ImportRecord) -> None:
        """Every account turned it down in this round: fail, or start again later when
        one of the refusals may pass (slots, quota, an outage)."""
        round_ = record.provider_attempts[-len(record.tried):]
        reasons = "; ".join(f"{name}: {why}" for name, why in round_)
        transient = [why for _, why in round_ if why.startswith(TRANSIENT)]
        if not transient:
            self._fail(record.with_changes(tried=()), f"no account took it ({reasons})")
            return
        slots = any(why.startswith(_SLOTS) for why in transient)
        self._later(record, RETRY_LATER, tried=(), state=ImportState.QUEUED if slots else record.state,
                    error=f"will retry: {reasons}")

    def _existing(self, provider: Provider, record: ImportRecord, *, fresh: bool) -> str:
        """A torrent with this hash already in the account (a resumed or repeated add).

        After a crash between the provider's add and our save, the library may
        not have listed it yet, so ``fresh`` asks the provider itself.
        """
        torrents = provider.list_torrents() if fresh else list(self._library.snapshot().torrents.values())
        for torrent in torrents:
            if torrent.provider == provider.name and torrent.infohash == record.hash and not torrent.status.failed:
                return torrent.id
        return ""

    def _send_recorded(self, provider: Provider, record: ImportRecord) -> str:
        """Add, with the evidence (account, time) committed before the call; an error answer
        settles it here, an id when it is saved. An answer that never came (a crash, a dropped
        connection) leaves it, so a copy that shows up later is known as ours
        (``gateway/imports/orphans.py``)."""
        now = self._clock.now()
        self._repo.submitted(record.hash, provider.name, now, forget_before=now - orphans.ORPHAN_WINDOW)
        try:
            torrent_id = self._send(provider, record)
        except errors.Unavailable as exc:
            if exc.code == "connect":   # never reached the provider
                self._repo.settle(record.hash, provider.name)
            raise
        except errors.ProviderError:   # the provider answered: it made nothing
            self._repo.settle(record.hash, provider.name)
            raise
        return torrent_id

    def _send(self, provider: Provider, record: ImportRecord) -> str:
        payload = self._repo.torrent_file(record.hash) if record.has_torrent_file else b""
        if record.kind == "nzb":
            return provider.add_nzb(payload, record.name)
        if payload:
            return provider.add_torrent_file(payload)
        magnet = record.magnet or f"magnet:?xt=urn:btih:{record.hash}"
        return provider.add_magnet(magnet)

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

    def _uncached_ok(self, record: ImportRecord) -> bool:
        if record.kind == "nzb":
            return True   # fetching from usenet is what an NZB asks for; "cached" is a torrent idea
        if record.download_uncached is not None:
            return record.download_uncached
        arr = next((a for a in self._config.arrs if a.name == record.category), None)
        if arr is not None and arr.download_uncached is not None:
            return arr.download_uncached
        debrid = self._config.debrid(record.provider)
        return bool(debrid and debrid.download_uncached)

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

    def _complete(self, record: ImportRecord, torrent: Torrent) -> None:
        self._library.add_or_update(torrent)
        archive = unpacked.outcome(self._library.layouts, torrent, self._config)
        if archive.waiting:   # an archive set's layout is being learned: its folder is not there yet
            self._later(record, unpacked.LAYOUT_POLL, state=ImportState.DOWNLOADING, progress=0.99)
            return
        if archive.failure:
            self._fail(record, archive.failure)
            return
        folder = self._library.snapshot().folders.get(torrent.key, "")
        files = archive.files
        record = self._save(record.with_changes(state=ImportState.DOWNLOADING, folder=folder, files=files,
                                                size=sum(f.size for f in files if f.selected),
                                                progress=0.99 if record.action == "download" else record.progress))
        try:
            content_path = self._run_action(record)
        except actions.Interrupted:
            return
        except actions.ActionError as exc:
            self._fail(record, str(exc))
            return
        done = self._save(record.with_changes(state=ImportState.COMPLETE, progress=1.0, speed=0,
                                              content_path=content_path, completed_on=self._clock.now(),
                                              error=archive.note))
        self._library.recategorize()
        log.info("%s: ready at %s", done.hash, content_path)
        self._notify(done)
        self._events("download_complete", _event(done))

    def _run_action(self, record: ImportRecord) -> str:
        context = actions.ActionContext(
            mount_path=self._config.mount.mount_path, clock=self._clock, stop=self._stop,
            symlink_timeout=self._symlink_timeout, stream_url=self._stream_url,
            progress=lambda fraction: self._save(record.with_changes(progress=min(fraction, 0.99))),
            opener=self._opener)
        return actions.run(record, context)


def _held_delay(attempts: int) -> float:
    """How long a job the servers could not answer waits: 5 s, growing to 30 s."""
    return min(30.0, 5.0 * (1 + attempts // 5))


def _no_opener(folder: str, path: str) -> Any:
    raise actions.ActionError("the download action has no reader for library files")


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


MAX_ATTEMPTS_SHOWN = 20
_SLOTS = "too many active downloads"
# Refusals that may pass with time: a round that met one starts again later instead of failing.
TRANSIENT = (_SLOTS, "quota exhausted", "account problem", "account disabled", "provider unavailable",
             "rate limited")


def _disabled(provider: Provider) -> str:
    """The reason an import waits for a disabled account (shown on the record)."""
    return f"account disabled: {provider.health.reason}"


def _attempt(record: ImportRecord, name: str, outcome: str) -> tuple[tuple[str, str], ...]:
    return (record.provider_attempts + ((name, outcome),))[-MAX_ATTEMPTS_SHOWN:]


def _why(exc: errors.ProviderError) -> str:
    """A short reason for the import record: the error's kind and the provider's own code."""
    kinds = {errors.Blocked: "refused", errors.SlotsFull: "too many active downloads",
             errors.QuotaExceeded: "quota exhausted", errors.AuthError: "account problem",
             errors.Unavailable: "provider unavailable", errors.RateLimited: "rate limited",
             errors.BadRequest: "rejected", errors.NotFound: "not found"}
    kind = next((label for cls, label in kinds.items() if isinstance(exc, cls)), "failed")
    return f"{kind}: {exc.code}" if exc.code else kind


def _event(record: ImportRecord) -> dict[str, Any]:
    """What a notification says about an import (no paths beyond the output, no secrets)."""
    return {"hash": record.hash, "name": record.name, "category": record.category, "kind": record.kind,
            "provider": record.provider, "state": record.state.value, "error": record.error,
            "content_path": record.content_path, "size": record.selected_size,
            "folder": record.folder}   # the torrent's folder in the tree (media servers scan it)
