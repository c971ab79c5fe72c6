"""Emulated AllDebrid records: magnets, their file trees, file links and unlocks.

The state machine follows docs/providers.md §3.3 / §8.6. A magnet is settled lazily
whenever it is read (no background thread), so tests drive it with
``world.clock.advance``:

- cached hash: ``ready`` at upload, statusCode 4 at once, ``completionDate`` set;
- uncached hash: 0 (In Queue) for ``queue_delay``, 1 (Downloading) while the
  bytes arrive at ``download_speed``, 2 and 3 for ``ad_stage_seconds`` each, then 4;
- catalog flags: statusCode 0 for ``conv_delay_uncached``, then an error code
  (``FLAG_CODES``); a hash missing from the catalog never gets metadata: it
  stays In Queue for ``ad_stall_seconds`` and then fails with 7
  ("Not downloaded in 20 min"), which is what AllDebrid does with dead magnets;
- a file found purged at unlock turns the magnet to 11 ("Deleted on the hoster
  website") after ``dead_delay``, like RD's ``dead``.

Files are ``RdFile`` records in tree order with ids 0..n-1 (the order a client
flattening the ``files`` tree sees), so ``purge(file=<int>)`` names the same
file as the client's ``RemoteFile.id``. Every file gets an AllDebrid file link
``<origin>/ad-link/f/<id>`` at creation; it is shown only at statusCode 4.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from .model import AD, Account, CatalogEntry, RdFile
from .state_base import ProviderState, WorldView

STATUS_LABELS: dict[int, str] = {
    0: "In Queue", 1: "Downloading", 2: "Compressing / Moving", 3: "Uploading", 4: "Ready",
    5: "Upload fail", 6: "Internal error on unpacking", 7: "Not downloaded in 20 min",
    8: "File too big", 9: "Internal error", 10: "Download took more than 72h",
    11: "Deleted on the hoster website", 12: "Processing failed", 13: "Processing failed",
    14: "Error while contacting tracker", 15: "File not available - no peer",
}
# Catalog flag → error statusCode. AllDebrid has no "virus" code: an infected
# archive fails while it is unpacked (6). A dead swarm is "no peer" (15).
FLAG_CODES: dict[str, int] = {"magnet_error": 7, "virus": 6, "error": 9, "dead": 15}
DELETED_CODE = 11
STALLED_CODE = 7
SEEDERS = 12  # shown while downloading

STATUS_FILTERS: dict[str, range] = {
    "active": range(0, 4), "ready": range(4, 5), "error": range(5, 16),
    "expired": range(0),  # the emulator never expires magnets
}


class AdError(Exception):
    """An AllDebrid application error: ``{"code", "message"}`` inside the envelope."""

    def __init__(self, code: str, message: str = "") -> None:
        self.code = code
        self.message = message or code.replace("_", " ").capitalize()
        super().__init__(f"{code}: {self.message}")

    def body(self) -> dict[str, str]:
        return {"code": self.code, "message": self.message}


@dataclass(slots=True)
class AdMagnet:
    id: int
    token: str
    hash: str
    name: str
    files: list[RdFile]
    link_ids: list[str]
    added: float
    error_code: int | None = None   # the code reached at ``error_at``
    error_at: float | None = None
    dl_start: float | None = None   # None: finished at upload (cached / seeded)
    completed: float | None = None
    code: int = 0
    deleted_at: float | None = None  # a purged file was met: code 11 from then

    @property
    def size(self) -> int:
        return sum(f.bytes for f in self.files)


@dataclass(slots=True)
class AdDelayed:
    id: int
    magnet: AdMagnet
    file: RdFile
    token: str
    ready_at: float
    link: Any = None                # the CdnLink, minted once it is available


def build_tree_order(paths: list[str]) -> list[int]:
    """Indexes of ``paths`` in the order a depth-first walk of their folder tree meets them.

    Folders appear where their first file appeared, so a walk of the tree the
    front renders (``tree_nodes``) yields exactly this order.
    """
    root: dict[str, Any] = {}
    for i, path in enumerate(paths):
        node = root
        parts = path.split("/")
        for part in parts[:-1]:
            node = node.setdefault("d:" + part, {})
        node["f:" + parts[-1] + f"\0{i}"] = i
    order: list[int] = []

    def walk(node: dict[str, Any]) -> None:
        for value in node.values():
            if isinstance(value, dict):
                walk(value)
            else:
                order.append(value)

    walk(root)
    return order


class AdState(ProviderState):
    key = AD
    KNOBS: dict[str, Any] = {
        "ad_errors_http_status": 200,        # 200, or "4xx": 401 auth, 404 unknown id, 400 the rest
        "ad_list_includes_files": False,     # list-mode magnet/status carries `files` too
        "ad_link_ttl": 7 * 86400.0,          # s a link/unlock CDN URL lives
        "ad_stage_seconds": 1.0,             # s in statusCode 2 and again in 3
        "ad_stall_seconds": 1200.0,          # s an unknown hash sits In Queue before code 7
        "ad_purged_error": "LINK_DOWN",      # or "MAGNET_LINKS_REMOVED"
        "ad_traffic_error": "LINK_HOST_LIMIT_REACHED",  # unlock with the daily traffic spent
        "ad_delayed_mode": False,            # unlock answers `delayed` first (link/delayed)
        "ad_delayed_seconds": 5.0,           # s until a delayed link is available
        "ad_v4_status_legacy": False,        # /v4/magnet/status answers the old `links` shape
    }

    def __init__(self, world: WorldView) -> None:
        super().__init__(world)
        self.lock = world.lock
        self.magnets: dict[int, AdMagnet] = {}
        self.by_token: dict[str, dict[int, AdMagnet]] = {}
        self.file_links: dict[str, tuple[int, int]] = {}  # link id → (magnet id, file index)
        self.delayed: dict[int, AdDelayed] = {}
        self.sessions: dict[tuple[str, str], int] = {}    # (token, session) → counter
        self._ids = 0

    def _next_id(self) -> int:
        self._ids += 1
        return 100_000 + self._ids * 7  # stable, integer, not 1, 2, 3 (ids are opaque)

    # ---------------------------------------------------------------- magnets

    def _new_magnet(self, token: str, infohash: str, display: str | None, *,
                    finished_at: float | None = None) -> AdMagnet:
        w = self.world
        now = w.now()
        entry = w.catalog.get(infohash)
        files: list[RdFile] = []
        name = display or infohash
        error_code: int | None = None
        error_at: float | None = None
        if entry is None:
            error_code, error_at = STALLED_CODE, now + float(w.knobs["ad_stall_seconds"])
        else:
            name = entry.name
            order = build_tree_order([f.path for f in entry.files])
            files = [RdFile(i, "/" + entry.files[j].path, entry.files[j].size, entry.files[j].seed,
                            entry.files[j].source_path, selected=1) for i, j in enumerate(order)]
            flag = next((f for f in FLAG_CODES if f in entry.flags), None)
            if flag is not None:
                error_code, error_at = FLAG_CODES[flag], now + float(w.knobs["conv_delay_uncached"])
        m = AdMagnet(id=self._next_id(), token=token, hash=infohash, name=name, files=files,
                     link_ids=[], added=now if finished_at is None else finished_at,
                     error_code=error_code, error_at=error_at)
        for f in files:
            link_id = w.new_id().lower()
            self.file_links[link_id] = (m.id, f.id)
            m.link_ids.append(link_id)
        if error_code is None:
            if finished_at is not None or w.is_cached(infohash, AD):
                self._finish(m, m.added if finished_at is not None else now)
            else:
                m.dl_start = now + float(w.knobs["queue_delay"])
        self.magnets[m.id] = m
        self.by_token.setdefault(token, {})[m.id] = m
        return m

    def upload(self, acc: Account, infohash: str, display: str | None) -> AdMagnet:
        """One ``magnets[]`` item; raises ``AdError`` for the per-item error."""
        with self.lock:
            entry = self.world.catalog.get(infohash)
            if self.world.filtered(entry, AD):
                # AllDebrid documents no takedown code; a refused magnet is an invalid URI.
                raise AdError("MAGNET_INVALID_URI", "This magnet is not allowed")
            if not self.world.is_cached(infohash, AD) and self.active_count(acc.token) >= acc.slots_limit:
                raise AdError("MAGNET_TOO_MANY_ACTIVE", "Already have maximum allowed active magnets")
            return self._new_magnet(acc.token, infohash, display)

    def upload_file(self, acc: Account, infohash: str, name: str,
                    files: list[tuple[str, int]]) -> AdMagnet:
        """A .torrent carries its metadata: an unknown hash joins the catalog first."""
        with self.lock:
            self.world.learn_torrent(infohash, name, files)
            return self.upload(acc, infohash, name)

    def _finish(self, m: AdMagnet, at: float) -> None:
        m.code, m.completed, m.dl_start = 4, at, None
        if self.world.knobs["cache_on_complete"]:
            self.world.cached.setdefault(AD, set()).add(m.hash)

    def settle(self, m: AdMagnet) -> None:
        """Bring ``m`` up to date with virtual time."""
        now = self.world.now()
        if m.deleted_at is not None and now >= m.deleted_at:
            m.code = DELETED_CODE
            return
        if m.code >= 4:
            return
        if m.error_at is not None:
            if now >= m.error_at:
                m.code = int(m.error_code or 9)
            return
        self._settle_download(m, now)

    def _settle_download(self, m: AdMagnet, now: float) -> None:
        assert m.dl_start is not None
        if now < m.dl_start:
            m.code = 0
            return
        speed = float(self.world.knobs["download_speed"])
        done_at = m.dl_start + (m.size / speed if speed > 0 else math.inf)
        stage = float(self.world.knobs["ad_stage_seconds"])
        if now < done_at:
            m.code = 1
        elif now < done_at + stage:
            m.code = 2
        elif now < done_at + 2 * stage:
            m.code = 3
        else:
            self._finish(m, done_at + 2 * stage)

    def progress(self, m: AdMagnet) -> tuple[int, int]:
        """(downloaded bytes, download speed) as the status answer shows them."""
        if m.code == 1 and m.dl_start is not None:
            speed = float(self.world.knobs["download_speed"])
            return min(m.size, int((self.world.now() - m.dl_start) * speed)), int(speed)
        if m.code in (2, 3, 4):
            return m.size, 0
        return 0, 0

    def get(self, token: str, magnet_id: Any) -> AdMagnet:
        with self.lock:
            try:
                key = int(str(magnet_id).strip())
            except ValueError:
                raise AdError("MAGNET_INVALID_ID", "This magnet ID does not exists or is invalid") from None
            m = self.by_token.get(token, {}).get(key)
            if m is None:
                raise AdError("MAGNET_INVALID_ID", "This magnet ID does not exists or is invalid")
            self.settle(m)
            return m

    def list(self, token: str, status: str | None = None) -> list[AdMagnet]:
        """Newest first; ``status`` one of ``STATUS_FILTERS`` (an unknown word filters nothing)."""
        with self.lock:
            items = list(self.by_token.get(token, {}).values())
            for m in items:
                self.settle(m)
        wanted = STATUS_FILTERS.get(status or "")
        if wanted is not None:
            items = [m for m in items if m.code in wanted]
        items.sort(key=lambda m: (m.added, m.id), reverse=True)
        return items

    def active_count(self, token: str) -> int:
        with self.lock:
            return len(self.list(token, "active"))

    def delete(self, token: str, magnet_id: Any) -> None:
        with self.lock:
            m = self.get(token, magnet_id)
            del self.by_token[token][m.id]
            del self.magnets[m.id]
            for link_id in m.link_ids:
                self.file_links.pop(link_id, None)

    def next_counter(self, token: str, session: str) -> int:
        with self.lock:
            n = self.sessions.get((token, session), 0) + 1
            self.sessions[(token, session)] = n
            return n

    # ------------------------------------------------------------------ links

    def link_url(self, link_id: str) -> str:
        return f"{self.world.origin}/ad-link/f/{link_id}"

    def resolve(self, link: str) -> tuple[AdMagnet, RdFile]:
        """The magnet and file of an AllDebrid file link (of any account)."""
        if not link:
            raise AdError("LINK_IS_MISSING", "No link was sent")
        marker = "/ad-link/f/"
        if marker not in link:
            raise AdError("LINK_HOST_NOT_SUPPORTED", "This host or link is not supported")
        link_id = link.split(marker, 1)[1].split("?", 1)[0].strip("/")
        target = self.file_links.get(link_id)
        m = self.magnets.get(target[0]) if target else None
        if target is None or m is None:
            raise AdError("LINK_DOWN", "This link is not available on the file hoster website")
        return m, m.files[target[1]]

    def unlock(self, acc: Account, link: str) -> tuple[AdMagnet, RdFile, Any]:
        """(magnet, file, CdnLink or AdDelayed). Any account may unlock a file link:
        it is a hoster link, and the traffic counts on the account that unlocks it."""
        w = self.world
        with self.lock:
            m, f = self.resolve(link)
            self.settle(m)
            if m.completed is None:
                raise AdError("LINK_DOWN", "This link is not available yet")
            if f.purged:
                self._schedule_deleted(m)
                code = str(w.knobs["ad_purged_error"])
                raise AdError(code, "This link is not available on the file hoster website")
            if w.traffic_exhausted(acc):
                raise AdError(str(w.knobs["ad_traffic_error"]), "You have reached the daily limit for this host")
            if w.knobs["ad_delayed_mode"]:
                d = AdDelayed(id=self._next_id(), magnet=m, file=f, token=acc.token,
                              ready_at=w.now() + float(w.knobs["ad_delayed_seconds"]))
                self.delayed[d.id] = d
                return m, f, d
            return m, f, self.mint(acc.token, m, f)

    def mint(self, token: str, m: AdMagnet, f: RdFile) -> Any:
        return self.world.mint_link(AD, token, f, f.path.rsplit("/", 1)[-1],
                                    ttl=float(self.world.knobs["ad_link_ttl"]), owner_id=str(m.id))

    def delayed_status(self, acc: Account, delayed_id: Any) -> tuple[int, float, Any]:
        """(status 1 processing | 2 available | 3 error, time left, CdnLink or None)."""
        with self.lock:
            try:
                d = self.delayed.get(int(str(delayed_id)))
            except ValueError:
                d = None
            if d is None or d.token != acc.token:
                raise AdError("DELAYED_INVALID_ID", "This delayed ID is not valid")
            if d.file.purged:
                return 3, 0.0, None
            left = d.ready_at - self.world.now()
            if left > 0:
                return 1, left, None
            if d.link is None:
                d.link = self.mint(d.token, d.magnet, d.file)
            return 2, 0.0, d.link

    def _schedule_deleted(self, m: AdMagnet) -> None:
        if m.deleted_at is None:
            m.deleted_at = self.world.now() + float(self.world.knobs["dead_delay"])
            self.settle(m)

    # --------------------------------------------------------- ProviderState

    def seed_one(self, token: str, entry: CatalogEntry, added: float) -> str:
        return str(self._new_magnet(token, entry.infohash, entry.name, finished_at=added).id)

    def purge(self, infohash: str | None, item_id: str | None, file: int | str | None) -> int:
        with self.lock:
            if infohash is None:
                m = self.magnets.get(int(item_id)) if item_id and str(item_id).isdigit() else None
                if m is None:
                    raise KeyError(f"unknown item {item_id!r}")
                infohash = m.hash
            h = infohash.lower()
            marked = 0
            for m in self.magnets.values():
                if m.hash != h or (item_id and str(m.id) != str(item_id)):
                    continue
                for f in m.files:
                    if f.matches(file) and not f.purged:
                        f.purged = True
                        marked += 1
            return marked

    def count(self, token: str) -> int:
        with self.lock:
            return len(self.by_token.get(token, {}))
