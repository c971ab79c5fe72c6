"""Premiumize side of the emulator world: transfers, the cloud folder tree and its items.

A transfer (torrent or NZB job) is settled lazily whenever it is read, like
``RdState`` does: ``waiting``/``queued`` for ``queue_delay`` seconds, then
``running`` with progress rising at ``download_speed``, then ``finished``.
Finishing "uploads" the files into the account's cloud: a folder named after
the transfer (with sub-folders for nested paths) holding one item per file, or
a single item at the root for a one-file job. Items own their ``RdFile`` and a
permanent CDN link, minted on first read and re-minted when it was expired.

Facts the docs do not settle, chosen here (docs/providers.md §6, §8.6):
- an infohash not in the catalog never resolves its metadata: the transfer
  stays ``running`` at 0 ("Loading metadata...") until ``pm_unknown_timeout``,
  then ends in ``timeout``;
- catalog flags end the transfer when it would start running: ``magnet_error``,
  ``virus``, ``error`` → ``error``, ``dead`` → ``timeout``, ``infringing`` →
  ``banned``; an NZB md5 in ``failing_nzbs`` ends in ``error`` "Missing articles";
- only transfers that must download occupy one of ``pm_max_active`` slots, so a
  cached add always passes;
- with fair use at 1 or the account's traffic exhausted, ``item/details``
  answers "Fair use limit reached!" (knob ``pm_fair_use_blocks_details``).
"""

from __future__ import annotations

import hashlib
import math
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, unquote, urlsplit

from .model import PM, CatalogEntry, CdnLink, RdFile
from .state_base import ProviderState, WorldView

MIB = 1024 * 1024
TIB = 1024**4
MAX_ACTIVE_MESSAGE = "You already have a maximum of {n} active downloads in progress!"
FAIR_USE_MESSAGE = "Fair use limit reached!"

# Catalog flag → (final status, message), in order of precedence.
_FLAG_ENDINGS = (
    ("infringing", "banned", "This content has been banned."),
    ("magnet_error", "error", "Could not load the torrent metadata."),
    ("virus", "error", "Virus detected."),
    ("error", "error", "The download failed."),
    ("dead", "timeout", "No seeders found."),
)


class PmError(Exception):
    """A Premiumize API error: always ``{"status": "error", "message": ...}`` with HTTP 200."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(slots=True)
class PmFolder:
    id: str
    name: str
    parent_id: str | None
    token: str
    created: float


@dataclass(slots=True)
class PmItem:
    id: str
    name: str
    folder_id: str
    token: str
    file: RdFile               # path relative to the transfer root, with a leading "/"
    created: float
    transfer_id: str = ""
    link: CdnLink | None = None
    link_from: float = 0.0     # "links late": no link before this time


@dataclass(slots=True)
class PmTransfer:
    id: str
    token: str
    name: str
    src: str
    kind: str                  # "torrent" or "nzb"
    hash: str                  # infohash, or md5 of the NZB (bytes or URL)
    files: list[RdFile]
    created: float
    dl_start: float
    cached: bool
    ending: tuple[str, str] | None = None   # (status, message) it fails with
    unknown: bool = False      # metadata never resolves
    parent_id: str | None = None
    status: str = "queued"
    message: str = ""
    progress: float = 0.0
    ended: float | None = None
    final: bool = False
    folder_id: str | None = None
    file_id: str | None = None

    def total(self) -> int:
        return sum(f.bytes for f in self.files)


def parse_nzb(data: bytes) -> tuple[str | None, list[tuple[str, int]]]:
    """(name from ``<meta type="name">`` or None, [(file name, bytes)]); ValueError if none.

    Each ``<file subject=...>`` whose subject quotes a ``"name.ext"`` is one
    file, its size the sum of its segments' ``bytes``; repeated names add up.
    """
    try:
        root = ET.fromstring(data)
    except ET.ParseError as exc:
        raise ValueError(f"not XML: {exc}") from None
    name: str | None = None
    sizes: dict[str, int] = {}
    for el in root.iter():
        tag = el.tag.rsplit("}", 1)[-1]
        if tag == "meta" and el.get("type") == "name" and (el.text or "").strip():
            name = (el.text or "").strip()
        elif tag == "file":
            m = re.search(r'"([^"/\\]+\.[A-Za-z0-9]+)"', el.get("subject", ""))
            if m:
                size = sum(int(s.get("bytes") or 0) for s in el.iter() if s.tag.rsplit("}", 1)[-1] == "segment")
                sizes[m.group(1)] = sizes.get(m.group(1), 0) + size
    if not sizes:
        raise ValueError("no files in the NZB")
    return name, list(sizes.items())


class PmState(ProviderState):
    """Premiumize transfers, folders and items per account token; changes hold ``world.lock``."""

    key = PM
    KNOBS: dict[str, Any] = {
        "pm_max_active": 25,               # active (downloading) transfers per account
        "pm_fair_use_bytes": float(TIB),   # downloaded bytes that make limit_used 1.0
        "pm_links_late_seconds": 0.0,      # finished items show an empty link this long
        "pm_queued_status": "queued",      # word shown before running: "queued" or "waiting"
        "pm_unknown_timeout": 600.0,       # s an unknown hash loads metadata before `timeout`
        "pm_fair_use_blocks_details": True,  # item/details refuses when fair use/traffic is spent
        "pm_bare_success": False,          # success answers without `status` (the real item/details)
    }

    def __init__(self, world: WorldView) -> None:
        super().__init__(world)
        self.transfers: dict[str, dict[str, PmTransfer]] = {}
        self.folders: dict[str, dict[str, PmFolder]] = {}
        self.items: dict[str, dict[str, PmItem]] = {}
        self.roots: dict[str, str] = {}
        self.fair_bytes: dict[str, float] = {}
        self.failing_nzbs: set[str] = set()   # NZB md5s that end in "Missing articles"

    # ------------------------------------------------------------ accounts

    def limit_used(self, token: str) -> float:
        per = float(self.world.knobs["pm_fair_use_bytes"]) or 1.0
        return min(1.0, self.fair_bytes.get(token, 0.0) / per)

    def set_limit_used(self, token: str, fraction: float) -> None:
        with self.world.lock:
            self.fair_bytes[token] = fraction * float(self.world.knobs["pm_fair_use_bytes"])

    def space_used(self, token: str) -> int:
        with self.world.lock:
            return sum(i.file.bytes for i in self.items.get(token, {}).values() if not i.file.purged)

    def root_id(self, token: str) -> str:
        with self.world.lock:
            rid = self.roots.get(token)
            if rid is None:
                rid = self.roots[token] = self.world.new_id().lower()
                self.folders.setdefault(token, {})[rid] = PmFolder(rid, "root", None, token, self.world.now())
            return rid

    # ----------------------------------------------------------- transfers

    def create(self, token: str, h: str, src: str, kind: str, display: str | None,
               parent_id: str | None = None) -> PmTransfer:
        """A new transfer for the catalog entry ``h`` (unknown: metadata never resolves)."""
        w = self.world
        with w.lock:
            if self.limit_used(token) >= 1.0:
                raise PmError(FAIR_USE_MESSAGE)
            if parent_id and parent_id not in self.folders.get(token, {}):
                raise PmError("Folder not found.")
            entry = w.catalog.get(h)
            ending = self._ending(h, entry)
            cached = entry is not None and ending is None and w.is_cached(h, PM)
            if not cached:
                limit = int(w.knobs["pm_max_active"])
                if self.active_count(token) >= limit:
                    raise PmError(MAX_ACTIVE_MESSAGE.format(n=limit))
            now = w.now()
            files = [RdFile(i, "/" + f.path, f.size, f.seed, f.source_path, selected=1)
                     for i, f in enumerate(entry.files)] if entry else []
            t = PmTransfer(id=w.new_id().lower(), token=token, name=entry.name if entry else (display or h),
                           src=src, kind=kind, hash=h, files=files, created=now,
                           dl_start=now + float(w.knobs["queue_delay"]), cached=cached,
                           ending=ending, unknown=entry is None, parent_id=parent_id)
            self.transfers.setdefault(token, {})[t.id] = t
            if cached:
                self._finish(t, now)
            else:
                self.settle(t)
            return t

    def _ending(self, h: str, entry: CatalogEntry | None) -> tuple[str, str] | None:
        if h in self.failing_nzbs:
            return ("error", "Missing articles")
        flags = set(entry.flags) if entry else set()
        if not self.world.filtered(entry, PM):
            flags.discard("infringing")   # another provider's content filter, not Premiumize's
        return next(((status, msg) for flag, status, msg in _FLAG_ENDINGS if flag in flags), None)

    def settle(self, t: PmTransfer) -> None:
        """Bring ``t`` up to date with virtual time (lazy state machine)."""
        if t.final:
            return
        w = self.world
        now = w.now()
        if now < t.dl_start:
            t.status, t.message = str(w.knobs["pm_queued_status"]), "Queued"
            return
        if t.ending is not None:
            t.status, t.message = t.ending
            t.final, t.ended = True, t.dl_start
            return
        if t.unknown:
            if now >= t.dl_start + float(w.knobs["pm_unknown_timeout"]):
                t.status, t.message, t.final = "timeout", "Timed out loading metadata.", True
            else:
                t.status, t.message, t.progress = "running", "Loading metadata...", 0.0
            return
        speed = float(w.knobs["download_speed"])
        total = t.total()
        done_at = t.dl_start + (total / speed if speed > 0 else (0.0 if total == 0 else math.inf))
        if now >= done_at:
            self._finish(t, done_at)
            return
        t.progress = min(0.999, (now - t.dl_start) * speed / total)
        left = int(math.ceil(done_at - now))
        t.status, t.message = "running", f"Downloading at {speed / 1e6:.1f} MB/s, {left} seconds left"

    def _finish(self, t: PmTransfer, ended: float) -> None:
        w = self.world
        t.status, t.message, t.progress, t.ended, t.final = "finished", "", 1.0, ended, True
        if not t.cached:
            self.fair_bytes[t.token] = self.fair_bytes.get(t.token, 0.0) + t.total()
            if w.knobs["cache_on_complete"]:
                w.cached[PM].add(t.hash)
        self._upload(t, ended)

    def _upload(self, t: PmTransfer, ended: float) -> None:
        """Put the files into the cloud: one root item, or a folder tree named after the job."""
        parent = t.parent_id or self.root_id(t.token)
        link_from = ended + float(self.world.knobs["pm_links_late_seconds"])
        if len(t.files) == 1 and "/" not in t.files[0].path.lstrip("/"):
            item = self._new_item(t, t.files[0], parent, ended, link_from)
            t.file_id = item.id
            return
        top = self._new_folder(t.token, t.name, parent, ended)
        t.folder_id = top.id
        made: dict[str, str] = {"": top.id}
        for f in t.files:
            parts = f.path.lstrip("/").split("/")
            where = ""
            for part in parts[:-1]:
                sub = f"{where}/{part}" if where else part
                if sub not in made:
                    made[sub] = self._new_folder(t.token, part, made[where], ended).id
                where = sub
            self._new_item(t, f, made[where], ended, link_from)

    def _new_folder(self, token: str, name: str, parent: str, created: float) -> PmFolder:
        folder = PmFolder(self.world.new_id().lower(), name, parent, token, created)
        self.folders.setdefault(token, {})[folder.id] = folder
        return folder

    def _new_item(self, t: PmTransfer, f: RdFile, folder_id: str, created: float, link_from: float) -> PmItem:
        item = PmItem(id=self.world.new_id().lower(), name=f.path.rsplit("/", 1)[-1], folder_id=folder_id,
                      token=t.token, file=f, created=created, transfer_id=t.id, link_from=link_from)
        self.items.setdefault(t.token, {})[item.id] = item
        return item

    def active_count(self, token: str) -> int:
        with self.world.lock:
            n = 0
            for t in self.transfers.get(token, {}).values():
                self.settle(t)
                n += not t.final
            return n

    def list_transfers(self, token: str) -> list[PmTransfer]:
        """Newest first."""
        with self.world.lock:
            items = list(self.transfers.get(token, {}).values())
            for t in items:
                self.settle(t)
        return sorted(items, key=lambda t: t.created, reverse=True)

    def delete_transfer(self, token: str, transfer_id: str) -> None:
        """The transfer goes, and with it its cloud folder or item (their links then 404)."""
        with self.world.lock:
            t = self.transfers.get(token, {}).pop(transfer_id, None)
            if t is None:
                raise PmError("Transfer not found.")
            if t.folder_id:
                self.delete_folder(token, t.folder_id)
            if t.file_id:
                self.delete_item(token, t.file_id)

    def clear_finished(self, token: str) -> int:
        with self.world.lock:
            done = [t.id for t in self.list_transfers(token) if t.status in ("finished", "seeding")]
            for tid in done:
                del self.transfers[token][tid]
            return len(done)

    # ------------------------------------------------------------- the cloud

    def folder(self, token: str, folder_id: str | None) -> PmFolder:
        with self.world.lock:
            fid = folder_id or self.root_id(token)
            folder = self.folders.get(token, {}).get(fid)
            if folder is None:
                raise PmError("Folder not found.")
            return folder

    def children(self, token: str, folder_id: str) -> tuple[list[PmFolder], list[PmItem]]:
        """Sub-folders and the items still in storage (a purged item has vanished)."""
        with self.world.lock:
            subs = [f for f in self.folders.get(token, {}).values() if f.parent_id == folder_id]
            items = [i for i in self.items.get(token, {}).values()
                     if i.folder_id == folder_id and not i.file.purged]
        return sorted(subs, key=lambda f: f.name), sorted(items, key=lambda i: i.name)

    def item(self, token: str, item_id: str) -> PmItem:
        with self.world.lock:
            item = self.items.get(token, {}).get(item_id)
            if item is None or item.file.purged:
                raise PmError("Item not found.")
            return item

    def item_path(self, item: PmItem) -> str:
        """'/'-separated path from the root folder (``item/listall``)."""
        with self.world.lock:
            parts = [item.name]
            fid: str | None = item.folder_id
            folders = self.folders.get(item.token, {})
            while fid and fid in folders and folders[fid].parent_id is not None:
                parts.append(folders[fid].name)
                fid = folders[fid].parent_id
            return "/".join(reversed(parts))

    def item_link(self, item: PmItem) -> str:
        """The item's CDN URL, "" while links are late; an expired one is replaced."""
        w = self.world
        with w.lock:
            if w.now() < item.link_from:
                return ""
            if item.link is None or w.link_expired(item.link):
                item.link = w.mint_link(PM, item.token, item.file, item.name, ttl=None, owner_id=item.id)
            return w.link_url(item.link)

    def delete_item(self, token: str, item_id: str) -> None:
        with self.world.lock:
            item = self.items.get(token, {}).pop(item_id, None)
            if item is None:
                raise PmError("Item not found.")
            item.file.purged = True   # the cloud copy is gone: its link must stop working

    def delete_folder(self, token: str, folder_id: str) -> None:
        with self.world.lock:
            if folder_id not in self.folders.get(token, {}) or folder_id == self.roots.get(token):
                raise PmError("Folder not found.")
            subs, _ = self.children(token, folder_id)
            for sub in subs:
                self.delete_folder(token, sub.id)
            for item in [i for i in self.items.get(token, {}).values() if i.folder_id == folder_id]:
                self.delete_item(token, item.id)
            del self.folders[token][folder_id]

    # ----------------------------------------------------------- cache check

    def cache_entry(self, h: str) -> CatalogEntry | None:
        """The catalog entry when ``h`` is cached at PM, else None."""
        entry = self.world.catalog.get(h)
        if entry is None or not self.world.is_cached(h, PM) or self._ending(h, entry):
            return None
        return entry

    # ------------------------------------------------------------------ NZB

    def nzb_entry(self, data: bytes, filename: str) -> tuple[str, str]:
        """(md5, name) of an uploaded NZB, its files added to the catalog."""
        md5 = hashlib.md5(data).hexdigest()
        meta_name, files = parse_nzb(data)
        stem = re.sub(r"\.nzb$", "", filename or "", flags=re.IGNORECASE)
        name = meta_name or stem or md5
        with self.world.lock:
            if md5 not in self.world.catalog:
                self.world.add_catalog(md5, name, [{"path": n, "size": s, "seed": f"{md5}/{n}"} for n, s in files])
            return md5, self.world.catalog[md5].name

    def nzb_url_entry(self, url: str) -> tuple[str, str]:
        """(md5 of the URL, name): the emulator cannot fetch it, so it invents one video."""
        md5 = hashlib.md5(url.encode()).hexdigest()
        last = unquote(urlsplit(url).path.rstrip("/").rsplit("/", 1)[-1])
        name = re.sub(r"\.nzb$", "", last, flags=re.IGNORECASE) or md5
        with self.world.lock:
            if md5 not in self.world.catalog:
                size = 4 * MIB + int(md5[:4], 16)
                self.world.add_catalog(md5, name, [{"path": f"{name}.mkv", "size": size, "seed": f"{md5}/{name}.mkv"}])
            return md5, self.world.catalog[md5].name

    # ------------------------------------------------------ ProviderState

    def seed_one(self, token: str, entry: CatalogEntry, added: float) -> str:
        """A finished transfer (and its cloud items)."""
        h = entry.infohash
        files = [RdFile(i, "/" + f.path, f.size, f.seed, f.source_path, selected=1)
                 for i, f in enumerate(entry.files)]
        t = PmTransfer(id=self.world.new_id().lower(), token=token, name=entry.name,
                       src=f"magnet:?xt=urn:btih:{h}&dn={quote(entry.name, errors='replace')}", kind="torrent",
                       hash=h, files=files, created=added, dl_start=added, cached=True)
        self.transfers.setdefault(token, {})[t.id] = t
        self._finish(t, added)
        return t.id

    def purge(self, infohash: str | None, item_id: str | None, file: int | str | None) -> int:
        """Files vanish from storage: by hash (every account), transfer id or item id.

        ``file`` picks one per transfer: an int is the index in path order (what
        the gateway's client uses as the file id), a string the path inside it.
        """
        with self.world.lock:
            marked = {id(f): f for group in self._purge_groups(infohash, item_id)
                      for f in group if _file_matches(group, f, file)}
            for f in marked.values():
                f.purged = True
            return len(marked)

    def _purge_groups(self, infohash: str | None, item_id: str | None) -> list[list[RdFile]]:
        """The files concerned, one list per transfer."""
        transfers = [t for by_id in self.transfers.values() for t in by_id.values()]
        if infohash:
            h = infohash.lower()
            return [list(t.files) for t in transfers if t.hash == h]
        for t in transfers:
            if t.id == item_id:
                return [list(t.files)]
        for by_id in self.items.values():
            if item_id in by_id:
                return [[by_id[item_id].file]]
        raise KeyError(f"unknown item {item_id!r}")

    def count(self, token: str) -> int:
        with self.world.lock:
            return len(self.transfers.get(token, {}))


def _file_matches(files: list[RdFile], f: RdFile, which: int | str | None) -> bool:
    if which is None:
        return True
    if isinstance(which, int) or str(which).isdigit():
        ordered = sorted(files, key=lambda x: x.path)
        index = int(which)
        return 0 <= index < len(ordered) and ordered[index] is f
    return f.path.lstrip("/") == str(which).lstrip("/")


__all__ = ["FAIR_USE_MESSAGE", "MAX_ACTIVE_MESSAGE", "PmError", "PmFolder", "PmItem", "PmState",
           "PmTransfer", "parse_nzb"]
