"""Processing a job: each broken item through its recorded steps.

Per item: re-add the same infohash at the account it was on, then at the
others in priority order; when that gives readable files, point the *arr's
file at them again and ask it to rescan. When it cannot: delete the file in
the *arr, mark its grab failed, ask it to search again, in that order.
A usenet job cannot be re-added (its articles are gone from every server, and
no account holds a copy): its broken items go straight to delete, mark the
grab (SABnzbd's nzo_id) failed and search, as the *arr would after a failed
download.

Each step is saved the moment it is done, so a stop or a crash resumes at the
step that did not finish. The delete is guarded twice: it runs only while its
step is the current one, and only when the *arr still has the file, so a
resumed job never deletes twice. Nothing is deleted while a provider or an
*arr answers errors: a transient failure stops the run with the item where it
was, and the job waits to be processed again.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable

from gateway import errors
from gateway.arr.client import ArrClient, ArrTarget
from gateway.arr.models import MediaFile
from gateway.clock import Clock
from gateway.config import USENET, Config
from gateway.imports.nzb import import_key
from gateway.imports.selection import select
from gateway.library.library import Library
from gateway.models import Torrent, TorrentStatus
from gateway.providers.base import Provider
from gateway.providers.budget import Lane, lane
from gateway.repair import packs
from gateway.repair.jobs import Item, Step

log = logging.getLogger(__name__)

READD_WAIT = 60.0     # seconds a re-added torrent may take to be ready (it must be cached)
READD_POLL = 1.0
TRANSIENT = (errors.Unavailable, errors.RateLimited, errors.AuthError)


class Paused(Exception):
    """A transient failure: stop here, keep the item at its step, try the job again later."""


def media_file(item: Item) -> MediaFile:
    return MediaFile(arr=item.arr, kind=item.kind, media_id=item.media_id, title=item.title,
                     file_id=item.file_id, path=item.file_path, episode_ids=item.episode_ids)


class ItemProcessor:
    def __init__(self, config: Config, library: Library, arr: ArrClient, clock: Clock,
                 stream_url: Callable[[str, str], str]) -> None:
        self._config = config
        self._library = library
        self._arr = arr
        self._clock = clock
        self._stream_url = stream_url

    def step(self, item: Item, target: ArrTarget) -> Item:
        """Run the item's current step; returns the item advanced by one step. Raises Paused."""
        handlers: dict[Step, Callable[[Item, ArrTarget], Item]] = {
            Step.READD: self._readd, Step.RELINK: self._relink, Step.RESCAN: self._rescan,
            Step.DELETE: self._delete, Step.MARK_FAILED: self._mark_failed, Step.SEARCH: self._search}
        try:
            return handlers[item.step](item, target)
        except TRANSIENT as exc:
            raise Paused(f"{item.title}: {item.step.value}: {exc}") from exc
        except errors.ProviderError as exc:   # an *arr refusing (4xx): stop rather than guess
            raise Paused(f"{item.title}: {item.step.value}: {exc}") from exc

    def plan(self, item: Item) -> str:
        """What processing would do with the item (the dry run's answer)."""
        if item.step == Step.DONE:
            return f"nothing: already {item.outcome}"
        delete = f"delete the file in {item.arr}, mark its grab failed, search again"
        if item.step == Step.READD and item.account == USENET:
            return f"{delete} (a usenet release cannot be re-added)"
        if item.step in (Step.READD,) and item.torrent_hash:
            return f"re-add {item.torrent_hash} at {', '.join(self._order(item))}, then relink and rescan; " \
                   f"if no account takes it back: {delete}"
        if item.step in (Step.RELINK, Step.RESCAN):
            return f"finish the repair: {item.step.value}"
        return delete if item.step in (Step.READD, Step.DELETE) else f"finish the replacement: {item.step.value}"

    # ------------------------------------------------------------------ re-add

    def _order(self, item: Item) -> list[str]:
        names = [item.account] if item.account in self._library.providers else []
        return names + [n for n in self._config.debrid_order if n not in names]

    def _readd(self, item: Item, target: ArrTarget) -> Item:
        if item.account == USENET:
            return item.advanced(Step.DELETE, "a usenet release cannot be re-added: its articles are gone")
        if not item.torrent_hash:
            return item.advanced(Step.DELETE, "no torrent known to re-add")
        copy = self._healthy_copy(item.torrent_hash, item)
        if copy is not None:   # another placement holds the file: relink, delete nothing, add nothing
            return item.advanced(Step.RELINK, f"a healthy copy at {copy.provider}", account=copy.provider,
                                 torrent_id=copy.id, torrent_file=packs.file_in(copy, item))
        pack = packs.playing_pack(self._library.snapshot(), item.torrent_hash)
        if pack is not None:   # re-adding it would bring back the same files: keep it, replace the episode
            return item.advanced(Step.DELETE, f"its pack plays at {pack.provider} without this file: "
                                              "the pack is kept, only this file is replaced")
        torrent = self._add_somewhere(item)
        if torrent is None:
            return item.advanced(Step.DELETE, "no account could take the torrent back")
        return item.advanced(Step.RELINK, f"re-added at {torrent.provider}", account=torrent.provider,
                             torrent_id=torrent.id, torrent_file=packs.file_in(torrent, item))

    def _healthy_copy(self, infohash: str, item: Item) -> Torrent | None:
        """A healthy copy of the infohash, other than the item's own, that holds the item's file."""
        for torrent in packs.healthy_copies(self._library.snapshot(), infohash):
            if (torrent.provider, torrent.id) != (item.account, item.torrent_id) and packs.file_in(torrent, item):
                return torrent
        return None

    def _add_somewhere(self, item: Item) -> Torrent | None:
        transient: Exception | None = None
        for name in self._order(item):
            provider = self._library.provider(name)
            try:
                with lane(Lane.IMPORTS):
                    if name == item.account and item.torrent_id:
                        self._library.delete((name, item.torrent_id))   # the broken copy makes room
                    torrent = self._add_and_wait(provider, item.torrent_hash)
            except TRANSIENT as exc:
                transient = exc
                continue
            except errors.ProviderError as exc:
                log.info("repair: %s: %s will not take it: %s", item.torrent_hash, name, exc)
                continue
            if torrent is not None:
                self._library.add_or_update(torrent)
                return torrent
        if transient is not None:
            raise transient   # never fall through to a delete while a provider is unreachable
        return None

    def _add_and_wait(self, provider: Provider, infohash: str) -> Torrent | None:
        torrent_id = provider.add_magnet(f"magnet:?xt=urn:btih:{infohash}")
        deadline = self._clock.now() + READD_WAIT
        while True:
            torrent = provider.get_torrent(torrent_id)
            if torrent.status == TorrentStatus.WAITING_SELECTION:
                provider.select_files(torrent_id, select(torrent.files, self._config) or [f.id for f in torrent.files])
            elif torrent.status == TorrentStatus.DOWNLOADED and torrent.files:
                provider.unrestrict(torrent, next(f for f in torrent.files if f.selected))   # readable?
                return torrent
            elif torrent.status.failed or torrent.status in (TorrentStatus.QUEUED, TorrentStatus.DOWNLOADING) \
                    or self._clock.now() > deadline:
                provider.delete(torrent_id)   # not cached there (or dead): leave nothing behind
                return None
            self._clock.sleep(READD_POLL)

    # -------------------------------------------------------------- relink, rescan

    def _relink(self, item: Item, target: ArrTarget) -> Item:
        folder = self._library.snapshot().folders.get((item.account, item.torrent_id), "")
        mount = self._config.mount.mount_path
        if not folder or not item.torrent_file:
            return item.advanced(Step.RESCAN, "nothing to relink (the file is not known in the torrent)")
        if item.file_path.endswith(".strm"):
            _replace_file(item.file_path, self._stream_url(folder, item.torrent_file) + "\n")
            return item.advanced(Step.RESCAN, "wrote the .strm again")
        if not mount:
            return item.advanced(Step.RESCAN, "no mount.mount_path to link into")
        _replace_symlink(item.file_path, os.path.join(mount, "__all__", folder, *item.torrent_file.split("/")))
        return item.advanced(Step.RESCAN, f"relinked into {folder}")

    def _rescan(self, item: Item, target: ArrTarget) -> Item:
        self._arr.rescan(target, media_file(item))
        return item.advanced(Step.DONE, "asked the *arr to rescan", outcome="repaired")

    # ---------------------------------------------------------- delete and search

    def _delete(self, item: Item, target: ArrTarget) -> Item:
        if self._arr.file_exists(target, item.kind, item.file_id):
            self._arr.delete_file(target, item.kind, item.file_id)
            return item.advanced(Step.MARK_FAILED, "deleted the file in the *arr")
        return item.advanced(Step.MARK_FAILED, "the *arr no longer had the file")

    def _mark_failed(self, item: Item, target: ArrTarget) -> Item:
        if packs.playing_pack(self._library.snapshot(), item.torrent_hash) is not None:
            # The *arr would blocklist the pack and search every episode of it again.
            return item.advanced(Step.SEARCH, "its pack still plays: its grab is not marked failed")
        grabs = self._arr.grabs(target, media_file(item))
        grab = next((g for g in grabs if item.torrent_hash
                     and import_key(g.download_id) == item.torrent_hash.lower()),
                    grabs[0] if grabs else None)
        if grab is None:
            return item.advanced(Step.SEARCH, "no grab to mark failed")
        try:
            self._arr.mark_failed(target, grab.history_id)
        except errors.NotFound:
            return item.advanced(Step.SEARCH, "its grab was already gone")
        return item.advanced(Step.SEARCH, f"marked grab {grab.history_id} failed")

    def _search(self, item: Item, target: ArrTarget) -> Item:
        self._arr.search(target, media_file(item))
        return item.advanced(Step.DONE, "asked the *arr to search again", outcome="replaced")


def _replace_symlink(path: str, target: str) -> None:
    """Point ``path`` at ``target`` atomically (a new link renamed over the old)."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    temporary = f"{path}.decypharr-relink"
    if os.path.lexists(temporary):
        os.unlink(temporary)
    os.symlink(target, temporary)
    os.replace(temporary, path)


def _replace_file(path: str, text: str) -> None:
    temporary = f"{path}.decypharr-relink"
    with open(temporary, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.replace(temporary, path)
