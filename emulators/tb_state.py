"""Emulated TorBox records: torrents and usenet jobs of every account (docs/providers.md §4, §8.6).

State is settled lazily on every read, like ``RdState``: nothing runs in the
background, tests move ``world.clock`` and the next read shows the new state.

Torrents: a cached hash is ``cached`` (finished and present) at once; an
uncached catalog hash is ``metaDL`` for ``conv_delay_uncached`` seconds, then
``downloading`` at ``download_speed``, then ``completed`` (not finished yet)
for ``tb_finish_delay`` seconds, then finished and present (``uploading`` while
seeding, ``completed`` with ``seed=3``). A hash not in the catalog stays in
``metaDL`` forever (TorBox never resolves a magnet nobody seeds).

Usenet jobs (hash = md5 of the NZB bytes or of the link): ``queued`` →
``downloading`` → ``verifying`` → ``repairing`` → ``extracting`` → finished
``completed``; an md5 in ``failing_nzbs`` (or a catalog entry flagged
``dead``) ends ``missing``, one flagged ``error`` ends ``failed``.
"""

from __future__ import annotations

import hashlib
import math
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from typing import Any

from .model import TB, CatalogEntry, RdFile
from .state_base import ProviderState, WorldView

TORRENT = "torrent"
USENET = "usenet"
USENET_PHASES = ("verifying", "repairing", "extracting")
# Active slots per plan (docs/providers.md §4.2): plan number → base slots.
PLAN_SLOTS = {1: 3, 3: 5, 2: 10}   # essential, standard, pro


class TbError(Exception):
    """A TorBox API error: HTTP status plus the ``error`` code and ``detail``."""

    def __init__(self, status: int, code: str, detail: str) -> None:
        self.status = status
        self.code = code
        self.detail = detail
        super().__init__(f"{status} {code}: {detail}")

    def body(self) -> dict[str, Any]:
        return {"success": False, "error": self.code, "detail": self.detail, "data": None}


def not_found(what: str = "Item") -> TbError:
    return TbError(404, "ITEM_NOT_FOUND", f"{what} not found.")


@dataclass(slots=True)
class TbItem:
    """One torrent or usenet job; ``files`` are shared with the CDN links minted for them."""

    id: int
    kind: str
    hash: str
    token: str
    name: str
    files: list[RdFile]
    created: float
    start: float                  # metaDL (torrent) / queued (usenet) ends here
    magnet: str | None = None
    torrent_file: bool = False
    seed: int = 1
    state: str = ""
    progress: float = 0.0
    speed: int = 0
    finished: bool = False
    final: bool = False
    ended: float | None = None
    cached_at_add: bool = False
    error: str | None = None      # terminal state word decided at add (catalog flags)
    stalled: bool = False

    def size(self) -> int:
        return sum(f.bytes for f in self.files)

    def present(self) -> bool:
        return self.finished and not any(f.purged for f in self.files)

    def public_id(self) -> str:
        return str(self.id) if self.kind == TORRENT else f"usenet-{self.id}"


@dataclass(slots=True)
class TbQueued:
    id: int
    token: str
    kind: str
    hash: str
    name: str
    created: float


@dataclass
class _Parsed:
    name: str | None
    files: list[tuple[str, int]] = field(default_factory=list)


_QUOTED = re.compile(r'"([^"/\\]+\.[A-Za-z0-9]{1,6})"')


def parse_nzb(data: bytes) -> _Parsed:
    """Files of an NZB: each ``<file>`` whose subject quotes ``name.ext``, sized by its segments.

    ValueError when nothing usable is in it (the API answers BOZO_NZB).
    """
    if b"<!ENTITY" in data or b"<!entity" in data:
        raise ValueError("entities are not accepted")
    root = ET.fromstring(data)
    name = None
    sizes: dict[str, int] = {}
    for el in root.iter():
        tag = el.tag.rsplit("}", 1)[-1]
        if tag == "meta" and el.get("type") == "name" and el.text:
            name = el.text.strip()
        if tag != "file":
            continue
        m = _QUOTED.search(el.get("subject", ""))
        if not m:
            continue
        total = sum(int(s.get("bytes", "0") or 0) for s in el.iter() if s.tag.rsplit("}", 1)[-1] == "segment")
        sizes[m.group(1)] = sizes.get(m.group(1), 0) + total
    if not sizes:
        raise ValueError("no file subjects")
    return _Parsed(name, list(sizes.items()))


class TbState(ProviderState):
    key = TB
    KNOBS: dict[str, Any] = {
        "tb_uncached_only_if_cached": 409,     # 409, or 200 (a 200 answer with success:false)
        "tb_duplicate_behaviour": "error",     # "error" (DUPLICATE_ITEM) or "existing" (its id)
        "tb_link_open_ttl": 3 * 3600.0,        # s a requestdl URL may START a download
        "tb_finish_delay": 2.0,                # s in "completed" before finished+present
        "tb_usenet_phase": 1.0,                # s per verifying/repairing/extracting phase
    }

    def __init__(self, world: WorldView) -> None:
        super().__init__(world)
        self.items: dict[tuple[str, int], TbItem] = {}
        self.queued: list[TbQueued] = []
        self.failing_nzbs: set[str] = set()       # md5s whose jobs end "missing"
        self.nzb_links: dict[str, bytes] = {}     # link → NZB bytes the emulator "fetches"
        self._ids = {TORRENT: 0, USENET: 0}

    # ------------------------------------------------------------- helpers

    def _next_id(self, kind: str) -> int:
        self._ids[kind] += 1
        return self._ids[kind]

    def _knob(self, name: str) -> Any:
        return self.world.knobs[name]

    def _rdfiles(self, entry: CatalogEntry, root: str) -> list[RdFile]:
        """TorBox file names carry the torrent's folder, except a single-file torrent's."""
        single = len(entry.files) == 1 and entry.files[0].path == entry.name
        return [RdFile(i, f.path if single else f"{root}/{f.path}", f.size, f.seed, f.source_path, selected=1)
                for i, f in enumerate(entry.files)]

    def items_of(self, token: str, kind: str) -> list[TbItem]:
        """Newest first, settled."""
        with self.world.lock:
            out = [it for it in self.items.values() if it.token == token and it.kind == kind]
            for it in out:
                self.settle(it)
        out.sort(key=lambda it: (it.created, it.id), reverse=True)
        return out

    def get(self, token: str, kind: str, item_id: int) -> TbItem:
        with self.world.lock:
            it = self.items.get((kind, item_id))
            if it is None or it.token != token:
                raise not_found("Torrent" if kind == TORRENT else "Usenet download")
            self.settle(it)
            return it

    def delete(self, token: str, kind: str, item_id: int | None) -> int:
        """Delete one item (or every item of ``kind`` when ``item_id`` is None)."""
        with self.world.lock:
            if item_id is None:
                keys = [k for k, it in self.items.items() if it.token == token and it.kind == kind]
            else:
                self.get(token, kind, item_id)
                keys = [(kind, item_id)]
            for k in keys:
                del self.items[k]
            return len(keys)

    def active_count(self, token: str) -> int:
        with self.world.lock:
            n = 0
            for it in self.items.values():
                if it.token == token and not it.final:
                    self.settle(it)
                    n += not it.final
            return n

    def slots_limit(self, token: str) -> int:
        acc = self.world.accounts.get(token)
        return acc.slots_limit if acc else int(self._knob("slots_limit"))

    def plan(self, token: str) -> tuple[int, int]:
        """(plan, additional_concurrent_slots) that add up to the account's slots."""
        slots = self.slots_limit(token)
        for plan in (2, 3, 1):
            if slots >= PLAN_SLOTS[plan]:
                return plan, slots - PLAN_SLOTS[plan]
        return 1, 0

    def _duplicate(self, token: str, kind: str, h: str) -> TbItem | None:
        return next((it for it in self.items.values() if it.token == token and it.kind == kind and it.hash == h), None)

    def _admit(self, token: str, kind: str, h: str, name: str, cached: bool, as_queued: bool) -> TbQueued | TbItem | None:
        """Duplicate and slot checks shared by both create calls; an item/queued record or None to go on."""
        dup = self._duplicate(token, kind, h)
        if dup is not None:
            if self._knob("tb_duplicate_behaviour") == "existing":
                return dup
            raise TbError(400, "DUPLICATE_ITEM", "This item already exists in your account.")
        if as_queued:
            q = TbQueued(self._next_id(kind), token, kind, h, name, self.world.now())
            self.queued.append(q)
            return q
        if not cached and self.active_count(token) >= self.slots_limit(token):
            raise TbError(400, "ACTIVE_LIMIT", "You have reached your active download limit. Please wait or upgrade.")
        return None

    def check_only_if_cached(self, cached: bool) -> None:
        if not cached:
            status = int(self._knob("tb_uncached_only_if_cached"))
            raise TbError(409 if status == 409 else 200, "DOWNLOAD_NOT_CACHED",
                          "Item is not cached. Not adding because add_only_if_cached is set.")

    # ------------------------------------------------------------ torrents

    def add_torrent(self, token: str, h: str, display: str | None, *, magnet: str | None = None,
                    torrent_file: bool = False, seed: int = 1, only_if_cached: bool = False,
                    as_queued: bool = False) -> TbItem | TbQueued:
        w = self.world
        with w.lock:
            entry = w.catalog.get(h)
            if w.filtered(entry, TB):
                raise TbError(400, "BANNED_CONTENT_DETECTED", "This content has been banned.")
            cached = entry is not None and w.is_cached(h, TB) and not (entry.flags - {"infringing_unrestrict", "infringing"})
            if only_if_cached:
                self.check_only_if_cached(cached)
            name = display or (entry.name if entry else h)
            admitted = self._admit(token, TORRENT, h, name, cached, as_queued)
            if admitted is not None:
                return admitted
            now = w.now()
            files = self._rdfiles(entry, name) if entry else []
            start = now if cached else (now + float(self._knob("conv_delay_uncached")) if entry else math.inf)
            it = TbItem(self._next_id(TORRENT), TORRENT, h, token, name, files, now, start, magnet=magnet,
                        torrent_file=torrent_file, seed=seed, cached_at_add=cached)
            if entry is not None:
                it.error = next(("error" for f in ("magnet_error", "error", "virus") if f in entry.flags), None)
                it.stalled = "dead" in entry.flags
            if cached:
                self._finish(it, now, "cached")
            self.items[(TORRENT, it.id)] = it
            self.settle(it)
            return it

    def settle(self, it: TbItem) -> None:
        """Bring ``it`` up to date with virtual time."""
        if it.final:
            return
        now = self.world.now()
        if it.kind == USENET:
            self._settle_usenet(it, now)
            return
        if now < it.start:
            it.state, it.speed = "metaDL", 0
        elif it.error:
            it.state, it.final = it.error, True
        elif it.stalled:
            it.state, it.speed = "stalled (no seeds)", 0
        else:
            self._settle_transfer(it, now, it.start, float(self._knob("tb_finish_delay")))

    def _settle_transfer(self, it: TbItem, now: float, begin: float, tail: float) -> None:
        """downloading until the bytes are in, ``completed`` for ``tail`` s, then finished."""
        speed = float(self._knob("download_speed"))
        done_at = begin + (it.size() / speed if speed > 0 else math.inf)
        if now < done_at:
            it.state, it.speed = "downloading", int(speed)
            it.progress = min(0.999, (now - begin) * speed / max(1, it.size()))
        elif now < done_at + tail:
            it.state, it.progress, it.speed = "completed", 1.0, 0
        else:
            self._finish(it, done_at + tail, "completed" if it.seed == 3 else "uploading")

    def _finish(self, it: TbItem, when: float, state: str) -> None:
        it.state, it.progress, it.speed, it.finished, it.final, it.ended = state, 1.0, 0, True, True, when
        if self._knob("cache_on_complete"):
            self.world.cached.setdefault(TB, set()).add(it.hash)

    # -------------------------------------------------------------- usenet

    def nzb_entry(self, md5: str, data: bytes | None, name: str | None) -> CatalogEntry:
        """The catalog entry of an NZB: the catalog's own, else one derived from its XML."""
        w = self.world
        entry = w.catalog.get(md5)
        if entry is not None:
            return entry
        if data is None:
            raise TbError(400, "BOZO_NZB", "Could not fetch the NZB from the link.")
        try:
            parsed = parse_nzb(data)
        except (ValueError, ET.ParseError):
            raise TbError(400, "BOZO_NZB", "The NZB file is invalid.") from None
        if parsed.name:
            title = parsed.name
        elif len(parsed.files) == 1:
            title = parsed.files[0][0]   # a lone file is its own job name, like a single-file torrent
        else:
            title = name or md5
        return w.add_catalog(md5, title, [{"path": p, "size": s, "seed": f"{md5}/{p}"} for p, s in parsed.files])

    def add_usenet(self, token: str, data: bytes | None, link: str | None, name: str | None, *,
                   only_if_cached: bool = False, as_queued: bool = False) -> TbItem | TbQueued:
        w = self.world
        raw = data if data is not None else (link or "").encode()
        md5 = hashlib.md5(raw).hexdigest()
        if data is None and link is not None:
            data = self.nzb_links.get(link)
        with w.lock:
            entry = self.nzb_entry(md5, data, name)
            cached = w.is_cached(md5, TB) and not entry.flags and md5 not in self.failing_nzbs
            if only_if_cached:
                self.check_only_if_cached(cached)
            title = name or entry.name
            admitted = self._admit(token, USENET, md5, title, cached, as_queued)
            if admitted is not None:
                return admitted
            now = w.now()
            it = TbItem(self._next_id(USENET), USENET, md5, token, title, self._rdfiles(entry, title), now,
                        now + float(self._knob("queue_delay")), cached_at_add=cached)
            if "error" in entry.flags:
                it.error = "failed"
            elif "dead" in entry.flags:
                it.error = "missing"
            if cached:
                self._finish(it, now, "cached")
            self.items[(USENET, it.id)] = it
            self.settle(it)
            return it

    def _settle_usenet(self, it: TbItem, now: float) -> None:
        if now < it.start:
            it.state = "queued"
            return
        speed = float(self._knob("download_speed"))
        done_at = it.start + (it.size() / speed if speed > 0 else math.inf)
        phase = float(self._knob("tb_usenet_phase"))
        if now < done_at:
            it.state, it.speed = "downloading", int(speed)
            it.progress = min(0.999, (now - it.start) * speed / max(1, it.size()))
            return
        it.speed, it.progress = 0, 1.0
        step = int((now - done_at) // phase) if phase > 0 else len(USENET_PHASES)
        failure = "missing" if it.hash in self.failing_nzbs else it.error
        if failure and step >= 1:            # the damage shows once verifying has looked
            it.state, it.final, it.progress = failure, True, 0.0
        elif step < len(USENET_PHASES):
            it.state = USENET_PHASES[step]
        else:
            self._finish(it, done_at + phase * len(USENET_PHASES), "completed")

    # ---------------------------------------------- ProviderState contract

    def seed_one(self, token: str, entry: CatalogEntry, added: float) -> str:
        it = TbItem(self._next_id(TORRENT), TORRENT, entry.infohash, token, entry.name,
                    self._rdfiles(entry, entry.name), added, added)
        self._finish(it, added, "completed")
        self.items[(TORRENT, it.id)] = it
        return str(it.id)

    def purge(self, infohash: str | None, item_id: str | None, file: int | str | None) -> int:
        with self.world.lock:
            items = [it for it in self.items.values() if self._names(it, infohash, item_id)]
            if not items and infohash is None:
                raise KeyError(f"unknown item {item_id!r}")
            marked = 0
            for it in items:
                for f in it.files:
                    if file is None or f.id == _int_or_none(file) or f.path.endswith("/" + str(file)) \
                            or f.path == str(file):
                        f.purged = True
                        marked += 1
            return marked

    @staticmethod
    def _names(it: TbItem, infohash: str | None, item_id: str | None) -> bool:
        if infohash is not None:
            return it.hash == infohash.lower()
        return item_id in (it.public_id(), f"{it.kind}:{it.id}")

    def count(self, token: str) -> int:
        with self.world.lock:
            return sum(1 for it in self.items.values() if it.token == token)


def _int_or_none(value: int | str) -> int | None:
    if isinstance(value, int):
        return value
    return int(value) if str(value).isdigit() else None
