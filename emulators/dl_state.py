"""Debrid-Link side of the emulator world: seedbox torrents and the downloader list.

State machine (docs/providers.md §8.6 "Debrid-Link"), settled lazily from the
virtual clock whenever a torrent is read, so tests drive it with
``clock.advance``:

- cached hash: ``status 100``, ``downloadPercent 100``, every file
  ``downloaded`` at once;
- uncached: ``1`` (metadata, ``dl_meta_delay`` s) → ``3`` (checking,
  ``dl_check_delay`` s) → ``4`` (downloading at ``download_speed`` bytes/s)
  → ``6`` (seeding, ``dl_seed_delay`` s) → ``100``;
- catalog flags: ``magnet_error`` fails at status 1, ``virus``/``error``/
  ``dead`` fail when the download would start (status 4, 0 %); ``error`` is a
  non-zero int and ``errorString`` says why;
- a hash the catalog does not know: metadata never resolves (status 1 for
  ever, no files), which is what a magnet without peers does.

Every file gets a CDN URL (``world.mint_link``) the moment it is added; its
``ready`` callback keeps the CDN at 404 until the download is complete
(knob ``dl_incomplete_file_cdn``; only 404 is emulated). Reading a torrent
whose file link has expired mints a fresh one: that is how a client gets a
new URL. Every minted link is also an entry of ``/downloader/list``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from .model import DL, CatalogEntry, CdnLink, RdFile
from .state_base import ProviderState, WorldView

# error flag → (error int, errorString); DL documents neither, these are stand-ins.
FLAG_ERRORS: dict[str, tuple[int, str]] = {
    "magnet_error": (2, "Invalid magnet or torrent"),
    "error": (1, "Torrent error"),
    "virus": (3, "Virus detected"),
    "dead": (4, "No peers: torrent is dead"),
}


class DlError(Exception):
    """A Debrid-Link API error: the front turns it into the ``success: false`` envelope."""

    def __init__(self, code: str, description: str, status: int = 0) -> None:
        super().__init__(f"{code}: {description}")
        self.code = code
        self.description = description
        self.status = status


@dataclass(slots=True)
class DlTorrent:
    id: str
    seq: int
    hash: str
    token: str
    name: str
    files: list[RdFile]
    created: float
    done_at: float            # when the bytes are all there (inf: never)
    seed_until: float         # status 6 until then, 100 afterwards
    meta_until: float         # status 1 until then
    check_until: float        # status 3 until then
    flag: str | None = None   # catalog error flag, if any
    wait: bool = False
    links: dict[int, CdnLink] = field(default_factory=dict)   # file id → current CDN link
    deleted: bool = False

    def total(self) -> int:
        return sum(f.bytes for f in self.files)


@dataclass(slots=True)
class DlEntry:
    """One ``/downloader/list`` entry: a CDN link that was handed out."""

    id: str
    token: str
    torrent_id: str
    link: CdnLink
    created: float


@dataclass(frozen=True, slots=True)
class DlView:
    """A torrent's state at one instant."""

    status: int
    error: int
    error_string: str
    percent: float
    downloaded: bool
    speed: int


class DlState(ProviderState):
    key = DL
    KNOBS: dict[str, Any] = {
        "dl_link_ttl": 7 * 86400.0,       # s a minted downloadUrl lives
        "dl_incomplete_file_cdn": 404,    # CDN answer before completion (only 404 emulated)
        "dl_meta_delay": 2.0,             # s at status 1 (uncached)
        "dl_check_delay": 1.0,            # s at status 3 (uncached)
        "dl_seed_delay": 2.0,             # s at status 6 before 100 (uncached)
        "dl_purged_files": "drop",        # "drop": purged files leave the listing; "keep": listed, CDN 404
        "dl_names_with_root": False,      # file names prefixed "<torrent name>/" (some API versions)
        "dl_infringing_code": "notAddTorrent",   # add-time refusal of an infringing hash
    }

    def __init__(self, world: WorldView) -> None:
        super().__init__(world)
        self.torrents: dict[str, dict[str, DlTorrent]] = {}   # token → id → torrent
        self.entries: dict[str, dict[str, DlEntry]] = {}      # token → id → downloader entry

    # ------------------------------------------------------------------ ids

    def _new_id(self) -> str:
        return self.world.new_id().lower()   # DL ids are alphanumeric strings

    # ---------------------------------------------------------------- adding

    def add(self, token: str, infohash: str, display: str | None, wait: bool = False) -> DlTorrent:
        w = self.world
        with w.lock:
            h = infohash.lower()
            entry = w.catalog.get(h)
            if w.filtered(entry, DL):
                code = str(w.knobs["dl_infringing_code"])
                raise DlError(code, "This torrent cannot be added (infringing content).")
            flag = next((f for f in FLAG_ERRORS if entry is not None and f in entry.flags), None)
            cached = w.is_cached(h, DL) and flag is None
            if not cached and self.active_count(token) >= self._slots(token):
                raise DlError("maxTorrent", "You have reached the maximum number of active torrents.")
            t = self._new_torrent(token, h, display, cached, flag)
            t.wait = wait
            return t

    def add_torrent_file(self, token: str, infohash: str, name: str | None,
                         files: list[tuple[str, int]], wait: bool = False) -> DlTorrent:
        """A .torrent carries its own metadata: an unknown hash joins the catalog."""
        with self.world.lock:
            self.world.learn_torrent(infohash, name, files)
            return self.add(token, infohash, name, wait)

    def _slots(self, token: str) -> int:
        acc = self.world.accounts.get(token)
        return acc.slots_limit if acc else int(self.world.knobs["slots_limit"])

    def _new_torrent(self, token: str, h: str, display: str | None, cached: bool,
                     flag: str | None, created: float | None = None) -> DlTorrent:
        w = self.world
        now = w.now() if created is None else created
        entry = w.catalog.get(h)
        files = [] if entry is None else [RdFile(i, "/" + f.path, f.size, f.seed, f.source_path, selected=1)
                                          for i, f in enumerate(entry.files)]
        name = entry.name if entry is not None else (display or h)
        tid, seq = w.next_torrent_id()
        t = DlTorrent(id=tid.lower(), seq=seq, hash=h, token=token, name=name, files=files,
                      created=now, done_at=now, seed_until=now, meta_until=now, check_until=now, flag=flag)
        if not cached:
            self._schedule(t, now, known=entry is not None)
        self.torrents.setdefault(token, {})[t.id] = t
        for f in files:
            self._mint(t, f)
        return t

    def _schedule(self, t: DlTorrent, now: float, known: bool) -> None:
        k = self.world.knobs
        t.meta_until = now + float(k["dl_meta_delay"]) if known else math.inf
        t.check_until = t.meta_until + float(k["dl_check_delay"])
        speed = float(k["download_speed"])
        duration = t.total() / speed if speed > 0 else math.inf
        t.done_at = math.inf if t.flag else t.check_until + duration
        t.seed_until = t.done_at + float(k["dl_seed_delay"])

    # ------------------------------------------------------------ the clock

    def view(self, t: DlTorrent) -> DlView:
        now = self.world.now()
        if now >= t.done_at:
            status = 100 if now >= t.seed_until else 6
            return DlView(status, 0, "", 100.0, True, 0)
        if t.flag == "magnet_error" and now >= t.meta_until:
            code, why = FLAG_ERRORS[t.flag]
            return DlView(1, code, why, 0.0, False, 0)
        if now < t.meta_until:
            return DlView(1, 0, "", 0.0, False, 0)
        if now < t.check_until:
            return DlView(3, 0, "", 0.0, False, 0)
        if t.flag:
            code, why = FLAG_ERRORS[t.flag]
            return DlView(4, code, why, 0.0, False, 0)
        speed = float(self.world.knobs["download_speed"])
        total = t.total()
        percent = min(99.99, (now - t.check_until) * speed * 100.0 / total) if total else 0.0
        return DlView(4, 0, "", percent, False, int(speed))

    def complete(self, t: DlTorrent) -> bool:
        return not t.deleted and self.world.now() >= t.done_at

    def active_count(self, token: str) -> int:
        """Torrents holding a slot: neither complete nor failed."""
        with self.world.lock:
            return sum(1 for t in self.torrents.get(token, {}).values()
                       if not self.complete(t) and not self.view(t).error)

    # ------------------------------------------------------------------ links

    def _mint(self, t: DlTorrent, f: RdFile) -> CdnLink:
        w = self.world
        name = f.path.rsplit("/", 1)[-1]
        link = w.mint_link(DL, t.token, f, name, ttl=float(w.knobs["dl_link_ttl"]),
                           ready=lambda: self._ready(t), owner_id=t.id)
        t.links[f.id] = link
        e = DlEntry(id=self._new_id(), token=t.token, torrent_id=t.id, link=link, created=w.now())
        self.entries.setdefault(t.token, {})[e.id] = e
        return link

    def _ready(self, t: DlTorrent) -> bool:
        # Called by the CDN under the world lock; before completion the bytes do not exist.
        return self.complete(t)

    def current_link(self, t: DlTorrent, f: RdFile) -> CdnLink:
        """The file's link, re-minted when it expired (a listing hands out the fresh one)."""
        link = t.links.get(f.id)
        if link is None or (not f.purged and self.world.link_expired(link)):
            link = self._mint(t, f)
        return link

    def listed_files(self, t: DlTorrent) -> list[RdFile]:
        if self.world.knobs["dl_purged_files"] == "keep":
            return list(t.files)
        return [f for f in t.files if not f.purged]

    # ---------------------------------------------------------------- reading

    def list_torrents(self, token: str, ids: list[str] | None = None) -> list[DlTorrent]:
        """Newest first; with ``ids`` only those (unknown ids are left out)."""
        with self.world.lock:
            mine = self.torrents.get(token, {})
            if ids is not None:
                return [mine[i] for i in dict.fromkeys(ids) if i in mine]
            items = list(mine.values())
        items.sort(key=lambda t: (t.created, t.seq), reverse=True)
        return items

    def remove_torrents(self, token: str, ids: list[str]) -> list[str]:
        with self.world.lock:
            mine = self.torrents.get(token, {})
            gone = [i for i in dict.fromkeys(ids) if i in mine]
            if not gone:
                raise DlError("badId", "Unknown torrent id.")
            for i in gone:
                t = mine.pop(i)
                t.deleted = True
                for link in t.links.values():
                    link.forced_expired = True   # the storage is released with the torrent
            return gone

    def list_entries(self, token: str) -> list[DlEntry]:
        with self.world.lock:
            items = list(self.entries.get(token, {}).values())
        items.sort(key=lambda e: e.created, reverse=True)
        return items

    def remove_entries(self, token: str, ids: list[str]) -> list[str]:
        with self.world.lock:
            mine = self.entries.get(token, {})
            gone = [i for i in dict.fromkeys(ids) if i in mine]
            if not gone:
                raise DlError("badId", "Unknown link id.")
            for i in gone:
                del mine[i]   # the CDN URL keeps working until its TTL; only the entry goes
            return gone

    # ------------------------------------------------------ ProviderState API

    def seed_one(self, token: str, entry: CatalogEntry, added: float) -> str:
        return str(self._new_torrent(token, entry.infohash, entry.name, True, None, created=added).id)

    def purge(self, infohash: str | None, item_id: str | None, file: int | str | None) -> int:
        with self.world.lock:
            targets = [t for ts in self.torrents.values() for t in ts.values()
                       if (infohash and t.hash == infohash.lower()) or (item_id and t.id == item_id)]
            if not targets and item_id:
                raise KeyError(f"unknown item {item_id!r}")
            n = 0
            for t in targets:
                for f in t.files:
                    if _file_matches(t, f, file):
                        f.purged = True
                        n += 1
            return n

    def count(self, token: str) -> int:
        with self.world.lock:
            return len(self.torrents.get(token, {}))


def _file_matches(t: DlTorrent, f: RdFile, which: int | str | None) -> bool:
    """``which``: None (all), the index, the DL file id ``<tid>-<n>`` or the path."""
    return f.matches(which) or str(which) == f"{t.id}-{f.id}"
