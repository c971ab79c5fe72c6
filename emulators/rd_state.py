"""Real-Debrid side of the emulator world: torrents, restricted links and downloads.

``RdState`` owns the RD records of one ``World`` and implements the torrent
state machine plus unrestrict / CDN-link resolution, purge and link expiry.
Torrent status is settled lazily whenever a torrent is read, so no background
thread is needed and tests drive transitions with ``clock.advance``.

It shares the world's lock, clock, knobs, catalog and accounts through a
back-reference because RD calls touch all of them; ``World`` exposes these
methods under their historical names by delegating here.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import quote

from .clock import iso, parse_time
from .model import (
    ACTIVE_STATUSES,
    ERROR_FLAGS,
    RD,
    SLOT_STATUSES,
    Account,
    CdnError,
    RdDownload,
    RdError,
    RdFile,
    RdTorrent,
)
from .state_base import WorldView


class RdState:
    """RD torrents and downloads of one ``World``; every mutation holds the world's lock."""

    _LINK_RX = re.compile(r"/d/([A-Z0-9]{13})")

    def __init__(self, world: WorldView) -> None:
        self.world = world
        # One lock for the whole world: RD calls also read accounts, knobs and the catalog.
        self.lock = world.lock
        self.torrents: dict[str, RdTorrent] = {}
        self.by_token: dict[str, dict[str, RdTorrent]] = {}
        self.rd_links: dict[str, tuple[str, int]] = {}  # link id → (torrent id, file id)
        self.downloads: dict[str, RdDownload] = {}
        self.downloads_by_token: dict[str, dict[str, RdDownload]] = {}
        self.cdn_links: dict[str, RdDownload] = {}

    # ---------------------------------------------------------------- torrents

    def _new_torrent(self, token: str, infohash: str, display: str | None) -> RdTorrent:
        w = self.world
        now = w.now()
        entry = w.catalog.get(infohash)
        cached = w.is_cached(infohash)
        delay = w.knobs["conv_delay" if cached else "conv_delay_uncached"]
        files: list[RdFile] = []
        error = None
        name = display or infohash
        if entry is None:
            error = "magnet_error"  # unknown hash: metadata never resolves
        else:
            name = entry.name
            files = [RdFile(i, "/" + f.path, f.size, f.seed, f.source_path)
                     for i, f in enumerate(entry.files, start=1)]
            error = next((s for s in ERROR_FLAGS if s in entry.flags), None)
        tid, seq = w.next_torrent_id()
        t = RdTorrent(id=tid, seq=seq, hash=infohash, token=token,
                      filename=name, files=files, added=now, added_iso=iso(now),
                      conv_until=now + float(delay), error_status=error)
        self.torrents[t.id] = t
        self.by_token.setdefault(token, {})[t.id] = t
        return t

    def add_magnet(self, token: str, infohash: str, display: str | None = None) -> RdTorrent:
        with self.lock:
            entry = self.world.catalog.get(infohash)
            if self.world.filtered(entry, RD):
                raise RdError(451, 35)
            if self.world.knobs["rd_slots_check_on_add"]:
                self._check_slots(token)
            return self._new_torrent(token, infohash, display)

    def add_torrent_file(self, token: str, infohash: str, name: str | None,
                         files: list[tuple[str, int]]) -> RdTorrent:
        """A .torrent carries its own metadata: unknown hashes join the catalog."""
        with self.lock:
            self.world.learn_torrent(infohash, name, files)
            return self.add_magnet(token, infohash, name)

    def get_torrent(self, token: str, torrent_id: str) -> RdTorrent:
        with self.lock:
            t = self.by_token.get(token, {}).get(torrent_id)
            if t is None:
                raise RdError(404, 7)
            self.settle(t)
            return t

    def settle(self, t: RdTorrent) -> None:
        """Bring ``t`` up to date with virtual time (lazy state machine)."""
        if t.final and t.dead_at is None:
            return
        now = self.world.now()
        if t.dead_at is not None and now >= t.dead_at:
            t.status, t.final, t.speed = "dead", True, None
            t.dead_at = None
            return
        if t.final:
            return
        if now < t.conv_until:
            t.status = "magnet_conversion"
        elif t.error_status:
            t.status, t.final = t.error_status, True
        elif t.selected_at is None:
            t.status = "waiting_files_selection"
        else:
            self._settle_download(t, now)

    def _settle_download(self, t: RdTorrent, now: float) -> None:
        assert t.dl_start is not None
        if now < t.dl_start:
            t.status = "queued"
            return
        total = t.selected_bytes()
        speed = float(self.world.knobs["download_speed"])
        done_at = t.dl_start + (total / speed if speed > 0 else math.inf)
        if now >= done_at:
            self._finish(t, done_at)
            return
        t.status = "downloading"
        t.speed = int(speed)
        t.progress = min(99.99, (now - t.dl_start) * speed * 100.0 / total)

    def _finish(self, t: RdTorrent, ended: float) -> None:
        t.status, t.final, t.ended, t.progress, t.speed = "downloaded", True, ended, 100.0, None
        t.link_ids = []
        for f in t.files:
            if f.selected:
                link_id = self.world.new_id()
                self.rd_links[link_id] = (t.id, f.id)
                t.link_ids.append(link_id)
        if self.world.knobs["cache_on_complete"]:
            self.world.cached[RD].add(t.hash)

    def active_count(self, token: str) -> int:
        with self.lock:
            n = 0
            for t in self.by_token.get(token, {}).values():
                if t.final:
                    continue
                self.settle(t)
                n += t.status in SLOT_STATUSES
            return n

    def _check_slots(self, token: str) -> None:
        acc = self.world.accounts.get(token)
        limit = acc.slots_limit if acc else self.world.knobs["slots_limit"]
        if self.active_count(token) >= limit:
            raise RdError(509, 21)

    def select_files(self, token: str, torrent_id: str, files: str) -> bool:
        """Select; False when the selection was already made (HTTP 202)."""
        with self.lock:
            t = self.get_torrent(token, torrent_id)
            if t.selected_at is not None:
                return False
            if t.status != "waiting_files_selection":
                raise RdError(400, 2)  # still converting, or in an error state
            wanted = self._parse_selection(t, files)
            cached = self.world.is_cached(t.hash)
            if not cached:
                self._check_slots(token)  # 509 leaves the torrent as it is
            now = self.world.now()
            for f in t.files:
                f.selected = 1 if f.id in wanted else 0
            t.selected_at = now
            if cached:
                self._finish(t, now)
            else:
                t.dl_start = now + float(self.world.knobs["queue_delay"])
                self.settle(t)
            return True

    @staticmethod
    def _parse_selection(t: RdTorrent, files: str) -> set[int]:
        files = (files or "").strip()
        if not files:
            raise RdError(400, 1)
        if files == "all":
            return {f.id for f in t.files}
        try:
            wanted = {int(x) for x in files.split(",") if x.strip()}
        except ValueError:
            raise RdError(400, 2) from None
        if not wanted or not wanted <= {f.id for f in t.files}:
            raise RdError(404, 7)  # RD: a bad file id is a 404
        return wanted

    def delete_torrent(self, token: str, torrent_id: str) -> None:
        with self.lock:
            t = self.by_token.get(token, {}).pop(torrent_id, None)
            if t is None:
                raise RdError(404, 7)
            del self.torrents[torrent_id]

    def list_torrents(self, token: str, active_first: bool = False) -> list[RdTorrent]:
        """Newest first; ``filter=active`` puts unfinished torrents first."""
        with self.lock:
            items = list(self.by_token.get(token, {}).values())
            for t in items:
                self.settle(t)
        items.sort(key=lambda t: (t.added, t.seq), reverse=True)
        if active_first:
            items.sort(key=lambda t: t.status not in ACTIVE_STATUSES)
        return items

    def seed_library(self, token: str, entries: Iterable[dict[str, Any]]) -> list[str]:
        """Create already-downloaded torrents (all files selected) for ``token``; fast path."""
        ids = []
        with self.lock:
            if token not in self.world.accounts:
                self.world.add_account(token)
            bucket = self.by_token.setdefault(token, {})
            for e in entries:
                ids.append(self._seed_one(token, bucket, e))
        return ids

    def _seed_one(self, token: str, bucket: dict[str, RdTorrent], e: dict[str, Any]) -> str:
        w = self.world
        h = e["hash"].lower()
        entry = w.catalog.get(h)
        if entry is None or e.get("files"):
            entry = w.add_catalog(h, e["name"], e.get("files", []), e.get("flags", ()))
        w.cached[RD].add(h)
        added = parse_time(e["added"]) if e.get("added") is not None else w.now()
        files = [RdFile(i, "/" + f.path, f.size, f.seed, f.source_path, selected=1)
                 for i, f in enumerate(entry.files, start=1)]
        tid, seq = w.next_torrent_id()
        t = RdTorrent(id=tid, seq=seq, hash=h, token=token,
                      filename=entry.name, files=files, added=added, added_iso=iso(added),
                      conv_until=added, status="downloaded", selected_at=added,
                      ended=added, progress=100.0, final=True)
        for f in files:
            link_id = w.new_id()
            self.rd_links[link_id] = (t.id, f.id)
            t.link_ids.append(link_id)
        self.torrents[t.id] = t
        bucket[t.id] = t
        return t.id

    # ------------------------------------------------------------- unrestrict

    def resolve_link(self, link: str) -> tuple[str, RdTorrent | None, RdFile | None]:
        """(link id, torrent, file) for a restricted link; raises 400 if malformed."""
        m = self._LINK_RX.search(link or "")
        if not m:
            raise RdError(400, 2)
        link_id = m.group(1)
        target = self.rd_links.get(link_id)
        if target is None:
            return link_id, None, None
        t = self.torrents.get(target[0])
        if t is None:
            return link_id, None, None
        return link_id, t, t.files[target[1] - 1]

    def unrestrict(self, acc: Account, link: str) -> RdDownload:
        with self.lock:
            link_id, t, f = self.resolve_link(link)
            # A restricted link is a hoster link: any premium account may unrestrict it
            # (that is what download_api_keys rely on), unless the knob says otherwise.
            foreign = t is not None and t.token != acc.token and not self.world.knobs["rd_links_any_account"]
            if t is None or f is None or foreign:
                raise RdError(404, 7)
            entry = self.world.catalog.get(t.hash)
            if entry is not None and "infringing_unrestrict" in entry.flags:
                raise RdError(451, 35)
            if f.purged:
                self._schedule_dead(t)
                raise RdError(503, 19)
            if self.world.traffic_exhausted(acc):
                code = int(self.world.knobs["rd_traffic_error_code"])
                raise RdError(503, code)
            return self._download_for(acc.token, link_id, t, f)

    def _schedule_dead(self, t: RdTorrent) -> None:
        if t.status != "dead" and t.dead_at is None:
            t.dead_at = self.world.now() + float(self.world.knobs["dead_delay"])
            self.settle(t)

    def _download_for(self, token: str, link_id: str, t: RdTorrent, f: RdFile) -> RdDownload:
        # RD hands back the same downloads entry for a link while it is live.
        w = self.world
        now = w.now()
        for d in self.downloads_by_token.get(token, {}).values():
            if d.link_id == link_id and not d.deleted and not self._expired(d, now):
                return d
        name = f.path.rsplit("/", 1)[-1]
        d = RdDownload(id=w.new_id(), token=token, link=w.rd_link_url(link_id),
                       link_id=link_id, torrent_id=t.id, hash=t.hash, file=f, filename=name,
                       cdn_token=w.new_id() + w.new_id(), generated=now,
                       expires_at=now + float(w.knobs["rd_link_ttl"]))
        self.downloads[d.id] = d
        self.downloads_by_token.setdefault(token, {})[d.id] = d
        self.cdn_links[d.cdn_token] = d
        return d

    def check_link(self, link: str) -> tuple[str, RdFile]:
        """``/unrestrict/check``: (restricted link, file) or the configured 404/503."""
        with self.lock:
            link_id, t, f = self.resolve_link(link)
            if t is None or f is None or f.purged:
                status = int(self.world.knobs["rd_check_unavailable_status"])
                raise RdError(status, 7 if status == 404 else 24)
            return self.world.rd_link_url(link_id), f

    @staticmethod
    def _expired(d: RdDownload, now: float) -> bool:
        return d.forced_expired or now >= d.expires_at

    def list_downloads(self, token: str) -> list[RdDownload]:
        with self.lock:
            items = [d for d in self.downloads_by_token.get(token, {}).values() if not d.deleted]
        items.sort(key=lambda d: d.generated, reverse=True)
        return items

    def delete_download(self, token: str, download_id: str) -> None:
        with self.lock:
            d = self.downloads_by_token.get(token, {}).pop(download_id, None)
            if d is None:
                raise RdError(404, 7)
            # The CDN URL keeps working until its TTL; only the listing entry goes.
            d.deleted = True

    def cdn_resolve(self, provider: str, cdn_token: str) -> tuple[RdDownload, Account | None]:
        """Validate a CDN request; raises ``CdnError`` with the configured status."""
        w = self.world
        with self.lock:
            d = self.cdn_links.get(cdn_token) if provider == RD else None
            if d is None:
                raise CdnError(404, "link_not_found")
            if self._expired(d, w.now()):
                raise CdnError(int(w.knobs["cdn_expired_status"]), "link_expired")
            if d.file.purged:
                raise CdnError(int(w.knobs["cdn_purged_status"]), "file_not_available")
            acc = w.accounts.get(d.token)
            if acc is not None and w.traffic_exhausted(acc):
                raise CdnError(int(w.knobs["cdn_traffic_status"]), "bandwidth_exceeded")
            return d, acc

    def cdn_url(self, d: RdDownload) -> str:
        return f"{self.world.origin}/cdn/rd/{d.cdn_token}/{quote(d.filename, errors='replace')}"

    # ------------------------------------------------------- purge and expiry

    def purge(self, infohash: str | None = None, item_id: str | None = None,
              file: int | str | None = None, provider: str = RD,
              uncache: bool = True) -> int:
        """The file(s) vanish from provider storage; returns how many files were marked."""
        with self.lock:
            if infohash is None:
                t = self.torrents.get(item_id or "")
                if t is None:
                    raise KeyError(f"unknown item {item_id!r}")
                infohash = t.hash
            h = infohash.lower()
            files = [f for t in self.torrents.values() if t.hash == h for f in t.files]
            files += [d.file for d in self.downloads.values() if d.hash == h]
            # Keyed by identity: a download shares its RdFile object with the torrent.
            marked = {id(f): f for f in files if f.matches(file)}
            for f in marked.values():
                f.purged = True
            if uncache:
                self.world.cached.get(provider, set()).discard(h)
            return len(marked)

    def expire_links(self, token: str | None = None, all: bool = False,
                     link: str | None = None) -> int:
        """Force CDN links to expire: every link (``all``) or one (URL, id or RD link)."""
        with self.lock:
            n = 0
            for d in self.downloads.values():
                if token and d.token != token:
                    continue
                if all or (link and self._link_names(d, link)):
                    d.forced_expired = True
                    n += 1
            return n

    @staticmethod
    def _link_names(d: RdDownload, link: str) -> bool:
        # Accept the downloads id, the CDN URL (quoted or not) or any form of the RD link.
        return link == d.id or d.cdn_token in link or link.rstrip("/").endswith("/d/" + d.link_id)
