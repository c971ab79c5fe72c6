"""Emulator state: catalog, accounts, Real-Debrid torrents and downloads.

Everything time-dependent reads ``EmuClock`` (virtual time), and torrent status
is settled lazily whenever a torrent is read, so no background thread is
needed and tests drive transitions with ``clock.advance``.

HTTP-independent on purpose: ``realdebrid.py`` and ``cdn.py`` translate the
``RdError`` raised here into responses, and tests may call the world directly.
"""

from __future__ import annotations

import math
import random
import re
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from . import content

RD = "rd"
RD_HOST = "real-debrid.com"

ERROR_FLAGS = ("magnet_error", "virus", "error", "dead")
KNOWN_FLAGS = frozenset(ERROR_FLAGS) | {"infringing", "infringing_unrestrict"}
ACTIVE_STATUSES = frozenset(
    {"magnet_conversion", "waiting_files_selection", "queued", "downloading",
     "compressing", "uploading"}
)
# Statuses that occupy a download slot (activeCount.nb).
SLOT_STATUSES = frozenset({"queued", "downloading", "compressing", "uploading"})

DEFAULT_KNOBS: dict[str, Any] = {
    "conv_delay": 0.5,  # s in magnet_conversion for cached hashes
    "conv_delay_uncached": 5.0,  # ... and for uncached/unknown hashes
    "queue_delay": 1.0,  # s in `queued` before `downloading`
    "download_speed": 10 * 1024 * 1024,  # bytes/s of virtual time
    "cache_on_complete": True,  # a finished download makes the hash cached
    "slots_limit": 5,  # default for new accounts
    "rd_slots_check_on_add": False,  # also answer 509 at addMagnet
    "rd_link_ttl": 7 * 86400.0,
    "rd_check_unavailable_status": 404,
    "rd_traffic_error_code": 36,
    "rd_legacy_instant_availability": False,
    "dead_delay": 0.0,  # s after a purged unrestrict before status `dead`
    "cdn_expired_status": 404,
    "cdn_purged_status": 404,
    "cdn_traffic_status": 503,
    "cdn_bandwidth": None,  # bytes/s (real time) shared by all CDN streams
    "x_error_header": None,  # True → per-case X-Error on CDN failures; str → fixed value
    "rate_limit": 250,  # requests/min per token; None disables
    "send_retry_after": True,
    "premium_days": 365.0,  # default for new accounts
    "auto_accounts": False,  # unknown tokens become fresh accounts instead of 401
    "log_limit": 500_000,  # oldest half of the log is dropped beyond this
}

RD_ERROR_NAMES = {
    -1: "internal_error", 1: "parameter_missing", 2: "parameter_bad_value",
    3: "unknown_method", 4: "method_not_allowed", 5: "slow_down",
    6: "ressource_unreachable", 7: "unknown_ressource", 8: "bad_token",
    9: "permission_denied", 14: "account_locked", 19: "hoster_unavailable",
    21: "too_many_active_downloads", 23: "traffic_exhausted", 24: "unavailable_file",
    25: "service_unavailable", 30: "torrent_file_invalid", 31: "action_already_done",
    34: "too_many_requests", 35: "infringing_file", 36: "fair_usage_limit",
    37: "disabled_endpoint",
}

_RD_ERROR_STATUS = {8: 401, 9: 403, 14: 403, 37: 403, 7: 404, 34: 429, 35: 451,
                    19: 503, 23: 503, 24: 503, 25: 503, 36: 503, 21: 509, -1: 500}

_ID_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_ID_SPACE = 36**13
_ID_MULT = 2**127 - 1  # prime, coprime with 36 → the scramble is a bijection


class RdError(Exception):
    """An RD API error: HTTP status plus ``{"error", "error_code"}``."""

    def __init__(self, status: int, code: int, error: str | None = None,
                 headers: dict[str, str] | None = None) -> None:
        self.status = status
        self.code = code
        self.error = error or RD_ERROR_NAMES.get(code, "unknown_error")
        self.headers = headers or {}
        super().__init__(f"{status} {self.error} ({code})")

    def body(self) -> dict[str, Any]:
        return {"error": self.error, "error_code": self.code}


class CdnError(Exception):
    def __init__(self, status: int, x_error: str) -> None:
        self.status = status
        self.x_error = x_error
        super().__init__(f"{status} {x_error}")


def iso(ts: float) -> str:
    """JavaScript ``toJSON`` style: ``2024-01-02T03:04:05.000Z``."""
    dt = datetime.fromtimestamp(ts, tz=UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


def parse_time(value: Any) -> float:
    """Epoch seconds from a number or an ISO-8601 string."""
    if isinstance(value, (int, float)):
        return float(value)
    text = str(value).replace("Z", "+00:00")
    dt = datetime.fromisoformat(text)
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.timestamp()


def utc_day(ts: float) -> str:
    return datetime.fromtimestamp(ts, tz=UTC).strftime("%Y-%m-%d")


class EmuClock:
    """Virtual time = real monotonic × speed + offset, in epoch seconds."""

    def __init__(self, start: float | None = None, speed: float = 1.0) -> None:
        self._lock = threading.Lock()
        self._speed = float(speed)
        self._anchor_real = time.monotonic()
        self._anchor_virtual = time.time() if start is None else float(start)

    def _now(self) -> float:
        return self._anchor_virtual + (time.monotonic() - self._anchor_real) * self._speed

    def _rebase(self) -> None:
        # Re-anchor so a speed change never makes time jump.
        self._anchor_virtual = self._now()
        self._anchor_real = time.monotonic()

    def now(self) -> float:
        with self._lock:
            return self._now()

    def advance(self, seconds: float) -> float:
        with self._lock:
            self._rebase()
            self._anchor_virtual += float(seconds)
            return self._anchor_virtual

    def set(self, epoch: float) -> None:
        with self._lock:
            self._anchor_real = time.monotonic()
            self._anchor_virtual = float(epoch)

    def set_speed(self, speed: float) -> None:
        with self._lock:
            self._rebase()
            self._speed = float(speed)

    @property
    def speed(self) -> float:
        return self._speed


@dataclass(slots=True)
class CatalogFile:
    path: str  # relative, no leading "/" (RD adds it)
    size: int
    seed: str
    source_path: str | None = None


@dataclass(slots=True)
class CatalogEntry:
    infohash: str
    name: str
    files: list[CatalogFile]
    flags: set[str] = field(default_factory=set)


@dataclass(slots=True)
class Account:
    token: str
    user_id: int
    premium_until: float
    provider: str = RD
    slots_limit: int = 5
    traffic_limit_bytes_per_day: int | None = None
    traffic_used_today: int = 0
    traffic_day: str = ""
    revoked: bool = False
    history: dict[str, int] = field(default_factory=dict)


@dataclass(slots=True)
class RdFile:
    id: int
    path: str  # starts with "/"
    bytes: int
    seed: str
    source_path: str | None
    selected: int = 0
    purged: bool = False


@dataclass(slots=True)
class RdTorrent:
    id: str
    seq: int
    hash: str
    token: str
    filename: str
    files: list[RdFile]
    added: float
    added_iso: str
    conv_until: float
    error_status: str | None = None
    status: str = "magnet_conversion"
    selected_at: float | None = None
    dl_start: float | None = None
    ended: float | None = None
    progress: float = 0.0
    speed: int | None = None
    link_ids: list[str] = field(default_factory=list)
    dead_at: float | None = None
    final: bool = False

    def selected_bytes(self) -> int:
        return sum(f.bytes for f in self.files if f.selected)

    def original_bytes(self) -> int:
        return sum(f.bytes for f in self.files)


@dataclass(slots=True)
class RdDownload:
    id: str
    token: str
    link: str
    link_id: str
    torrent_id: str
    hash: str
    file: RdFile
    filename: str
    cdn_token: str
    generated: float
    expires_at: float
    forced_expired: bool = False
    deleted: bool = False


@dataclass
class FaultRule:
    path_regex: str
    provider: str | None = None
    method: str | None = None
    token: str | None = None
    times: int | None = None
    probability: float | None = None
    status: int | None = None
    body: Any = None
    provider_error: dict[str, Any] | None = None
    headers: dict[str, str] = field(default_factory=dict)
    delay_ms: int = 0
    drop_connection_after_bytes: int | None = None
    hits: int = 0

    def __post_init__(self) -> None:
        self._rx = re.compile(self.path_regex)
        if self.provider_error is not None and self.status is None:
            # A provider error without an explicit status gets RD's usual one.
            self.status = _RD_ERROR_STATUS.get(int(self.provider_error.get("code", -1)), 400)

    def matches(self, provider: str | None, method: str, path: str, token: str | None) -> bool:
        if self.provider and self.provider != provider:
            return False
        if self.method and self.method.upper() != method:
            return False
        if self.token and self.token != token:
            return False
        if self.times is not None and self.times <= 0:
            return False
        return self._rx.search(path) is not None

    def describe(self) -> dict[str, Any]:
        out = {k: v for k, v in self.__dict__.items() if not k.startswith("_")}
        return out


class _Bucket:
    """Token bucket on the virtual clock; refused calls still consume budget."""

    def __init__(self, per_minute: float, now: float) -> None:
        self.capacity = float(per_minute)
        self.rate = per_minute / 60.0
        self.tokens = self.capacity
        self.last = now

    def take(self, now: float) -> float | None:
        """None when allowed, else seconds until the next call would pass."""
        self.tokens = min(self.capacity, self.tokens + max(0.0, now - self.last) * self.rate)
        self.last = now
        self.tokens = max(-self.capacity, self.tokens - 1.0)
        if self.tokens >= 0:
            return None
        return (0.0 - self.tokens) / self.rate


class World:
    """All emulator state behind one lock (handlers are short; bytes are generated outside)."""

    def __init__(self, knobs: dict[str, Any] | None = None, clock: EmuClock | None = None) -> None:
        self.lock = threading.RLock()
        self.clock = clock or EmuClock()
        self.origin = "http://127.0.0.1"
        self.knobs: dict[str, Any] = dict(DEFAULT_KNOBS)
        self._initial_knobs = dict(knobs or {})
        self.set_knobs(**self._initial_knobs)
        self._clear()

    # ----------------------------------------------------------------- basics

    def _clear(self) -> None:
        self.catalog: dict[str, CatalogEntry] = {}
        self.cached: dict[str, set[str]] = {RD: set()}
        self.accounts: dict[str, Account] = {}
        self.torrents: dict[str, RdTorrent] = {}
        self.by_token: dict[str, dict[str, RdTorrent]] = {}
        self.rd_links: dict[str, tuple[str, int]] = {}  # link id → (torrent id, file id)
        self.downloads: dict[str, RdDownload] = {}
        self.downloads_by_token: dict[str, dict[str, RdDownload]] = {}
        self.cdn_links: dict[str, RdDownload] = {}
        self.faults: list[FaultRule] = []
        self.buckets: dict[tuple[str, str], _Bucket] = {}
        self._log: list[dict[str, Any]] = []
        self._log_base = 0
        self._counter = 0
        self._user_ids = 0
        self._rng = random.Random(0)

    def reset(self) -> None:
        """Clear all state and restore the knobs given at construction."""
        with self.lock:
            self.knobs = dict(DEFAULT_KNOBS)
            self.set_knobs(**self._initial_knobs)
            self._clear()

    def set_knobs(self, **values: Any) -> dict[str, Any]:
        unknown = set(values) - set(DEFAULT_KNOBS)
        if unknown:
            raise ValueError(f"unknown knob(s): {sorted(unknown)}")
        with self.lock:
            self.knobs.update(values)
            if "rate_limit" in values:
                self.buckets = {}
            return dict(self.knobs)

    def now(self) -> float:
        return self.clock.now()

    def new_id(self) -> str:
        """13 uppercase A–Z/0–9; deterministic (counter-based) but random-looking."""
        with self.lock:
            self._counter += 1
            n = (self._counter * _ID_MULT) % _ID_SPACE
        chars = []
        for _ in range(13):
            n, r = divmod(n, 36)
            chars.append(_ID_ALPHABET[r])
        return "".join(chars)

    def rd_link_url(self, link_id: str) -> str:
        return f"{self.origin}/rd-link/d/{link_id}"

    # ---------------------------------------------------------------- catalog

    def add_catalog(self, infohash: str, name: str, files: Iterable[Any],
                    flags: Iterable[str] = (), cached: bool = False,
                    provider: str = RD) -> CatalogEntry:
        h = infohash.lower()
        flag_set = set(flags)
        if flag_set - KNOWN_FLAGS:
            raise ValueError(f"unknown flag(s): {sorted(flag_set - KNOWN_FLAGS)}")
        entry = CatalogEntry(h, name, [self._catalog_file(h, f) for f in files], flag_set)
        with self.lock:
            self.catalog[h] = entry
            if cached:
                self.cached.setdefault(provider, set()).add(h)
        return entry

    def add_catalog_entries(self, entries: Iterable[dict[str, Any]]) -> list[CatalogEntry]:
        return [
            self.add_catalog(e["hash"], e["name"], e.get("files", []), e.get("flags", ()),
                             bool(e.get("cached", False)), e.get("provider", RD))
            for e in entries
        ]

    @staticmethod
    def _catalog_file(infohash: str, spec: Any) -> CatalogFile:
        if isinstance(spec, CatalogFile):
            return spec
        path = str(spec["path"]).lstrip("/")
        source = spec.get("source_path")
        size = int(spec["size"]) if "size" in spec else content.source_size(source)
        seed = str(spec.get("seed") or f"{infohash}/{path}")
        return CatalogFile(path, size, seed, source)

    def set_cached(self, hashes: Iterable[str], cached: bool = True, provider: str = RD) -> None:
        with self.lock:
            bucket = self.cached.setdefault(provider, set())
            for h in hashes:
                (bucket.add if cached else bucket.discard)(h.lower())

    def is_cached(self, infohash: str, provider: str = RD) -> bool:
        return infohash.lower() in self.cached.get(provider, ())

    # --------------------------------------------------------------- accounts

    def add_account(self, token: str, *, premium_days: float | None = None,
                    premium_until: float | None = None, slots_limit: int | None = None,
                    traffic_limit_bytes_per_day: int | None = None,
                    provider: str = RD) -> Account:
        with self.lock:
            if premium_until is None:
                days = self.knobs["premium_days"] if premium_days is None else premium_days
                premium_until = self.now() + float(days) * 86400
            self._user_ids += 1
            acc = Account(token=token, user_id=1000 + self._user_ids,
                          premium_until=float(premium_until), provider=provider,
                          slots_limit=int(self.knobs["slots_limit"] if slots_limit is None
                                          else slots_limit),
                          traffic_limit_bytes_per_day=traffic_limit_bytes_per_day)
            self.accounts[token] = acc
            return acc

    def add_accounts(self, specs: Iterable[dict[str, Any]]) -> list[Account]:
        out = []
        for s in specs:
            kwargs = {k: s[k] for k in ("premium_days", "slots_limit",
                                        "traffic_limit_bytes_per_day", "provider") if k in s}
            if "premium_until" in s:
                kwargs["premium_until"] = parse_time(s["premium_until"])
            out.append(self.add_account(s["token"], **kwargs))
        return out

    def account_for(self, token: str | None) -> Account | None:
        """The live account for ``token``; None for missing, unknown or revoked."""
        if not token:
            return None
        with self.lock:
            acc = self.accounts.get(token)
            if acc is None and self.knobs["auto_accounts"]:
                acc = self.add_account(token)
            if acc is None or acc.revoked:
                return None
            return acc

    def revoke(self, token: str, revoked: bool = True) -> None:
        with self.lock:
            self.accounts[token].revoked = revoked

    def _roll_traffic(self, acc: Account) -> None:
        # Daily quota resets at virtual UTC midnight.
        day = utc_day(self.now())
        if acc.traffic_day != day:
            acc.traffic_day = day
            acc.traffic_used_today = 0

    def set_traffic(self, token: str, *, used: int | None = None,
                    limit: Any = ...) -> Account:
        with self.lock:
            acc = self.accounts[token]
            self._roll_traffic(acc)
            if used is not None:
                acc.traffic_used_today = int(used)
            if limit is not ...:
                acc.traffic_limit_bytes_per_day = None if limit is None else int(limit)
            return acc

    def traffic_exhausted(self, acc: Account) -> bool:
        with self.lock:
            self._roll_traffic(acc)
            limit = acc.traffic_limit_bytes_per_day
            return limit is not None and acc.traffic_used_today >= limit

    def add_traffic(self, acc: Account, nbytes: int) -> None:
        with self.lock:
            self._roll_traffic(acc)
            acc.traffic_used_today += nbytes
            acc.history[acc.traffic_day] = acc.history.get(acc.traffic_day, 0) + nbytes

    # ------------------------------------------------------------- rate limit

    def rate_check(self, provider: str, token: str) -> float | None:
        """None if the call may proceed, else the Retry-After in seconds."""
        per_minute = self.knobs["rate_limit"]
        if not per_minute:
            return None
        with self.lock:
            now = self.now()
            bucket = self.buckets.get((provider, token))
            if bucket is None:
                bucket = self.buckets[(provider, token)] = _Bucket(float(per_minute), now)
            return bucket.take(now)

    # ----------------------------------------------------------------- faults

    def add_fault(self, rule: dict[str, Any] | FaultRule) -> FaultRule:
        fr = rule if isinstance(rule, FaultRule) else FaultRule(**rule)
        with self.lock:
            self.faults.append(fr)
        return fr

    def clear_faults(self) -> None:
        with self.lock:
            self.faults = []

    def match_fault(self, provider: str | None, method: str, path: str,
                    token: str | None) -> FaultRule | None:
        with self.lock:
            for rule in self.faults:
                if not rule.matches(provider, method, path, token):
                    continue
                if rule.probability is not None and self._rng.random() >= rule.probability:
                    continue
                if rule.times is not None:
                    rule.times -= 1
                rule.hits += 1
                return rule
        return None

    # -------------------------------------------------------------------- log

    def log_append(self, entry: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            entry["i"] = self._log_base + len(self._log)
            self._log.append(entry)
            limit = self.knobs["log_limit"]
            if limit and len(self._log) > limit:
                drop = len(self._log) // 2
                del self._log[:drop]
                self._log_base += drop
        return entry

    def log(self, since: int = 0, path_prefix: str = "") -> list[dict[str, Any]]:
        with self.lock:
            start = max(0, since - self._log_base)
            return [dict(e) for e in self._log[start:] if e["path"].startswith(path_prefix)]

    def log_count(self, path_prefix: str = "", since: int = 0) -> int:
        with self.lock:
            start = max(0, since - self._log_base)
            return sum(1 for e in self._log[start:] if e["path"].startswith(path_prefix))

    def log_mark(self) -> int:
        with self.lock:
            return self._log_base + len(self._log)

    def clear_log(self) -> None:
        with self.lock:
            self._log_base += len(self._log)
            self._log = []

    # ---------------------------------------------------------------- torrents

    def _new_torrent(self, token: str, infohash: str, display: str | None) -> RdTorrent:
        now = self.now()
        entry = self.catalog.get(infohash)
        cached = self.is_cached(infohash)
        delay = self.knobs["conv_delay" if cached else "conv_delay_uncached"]
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
        self._counter += 1
        t = RdTorrent(id=self.new_id(), seq=self._counter, hash=infohash, token=token,
                      filename=name, files=files, added=now, added_iso=iso(now),
                      conv_until=now + float(delay), error_status=error)
        self.torrents[t.id] = t
        self.by_token.setdefault(token, {})[t.id] = t
        return t

    def add_magnet(self, token: str, infohash: str, display: str | None = None) -> RdTorrent:
        with self.lock:
            entry = self.catalog.get(infohash)
            if entry is not None and "infringing" in entry.flags:
                raise RdError(451, 35)
            if self.knobs["rd_slots_check_on_add"]:
                self._check_slots(token)
            return self._new_torrent(token, infohash, display)

    def add_torrent_file(self, token: str, infohash: str, name: str | None,
                         files: list[tuple[str, int]]) -> RdTorrent:
        """A .torrent carries its own metadata: unknown hashes join the catalog."""
        with self.lock:
            if infohash not in self.catalog and files:
                self.add_catalog(infohash, name or infohash,
                                 [{"path": p, "size": s} for p, s in files])
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
        now = self.now()
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
        speed = float(self.knobs["download_speed"])
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
                link_id = self.new_id()
                self.rd_links[link_id] = (t.id, f.id)
                t.link_ids.append(link_id)
        if self.knobs["cache_on_complete"]:
            self.cached[RD].add(t.hash)

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
        acc = self.accounts.get(token)
        limit = acc.slots_limit if acc else self.knobs["slots_limit"]
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
            cached = self.is_cached(t.hash)
            if not cached:
                self._check_slots(token)  # 509 leaves the torrent as it is
            now = self.now()
            for f in t.files:
                f.selected = 1 if f.id in wanted else 0
            t.selected_at = now
            if cached:
                self._finish(t, now)
            else:
                t.dl_start = now + float(self.knobs["queue_delay"])
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
            if token not in self.accounts:
                self.add_account(token)
            bucket = self.by_token.setdefault(token, {})
            for e in entries:
                ids.append(self._seed_one(token, bucket, e))
        return ids

    def _seed_one(self, token: str, bucket: dict[str, RdTorrent], e: dict[str, Any]) -> str:
        h = e["hash"].lower()
        entry = self.catalog.get(h)
        if entry is None or e.get("files"):
            entry = self.add_catalog(h, e["name"], e.get("files", []), e.get("flags", ()))
        self.cached[RD].add(h)
        added = parse_time(e["added"]) if e.get("added") is not None else self.now()
        files = [RdFile(i, "/" + f.path, f.size, f.seed, f.source_path, selected=1)
                 for i, f in enumerate(entry.files, start=1)]
        self._counter += 1
        t = RdTorrent(id=self.new_id(), seq=self._counter, hash=h, token=token,
                      filename=entry.name, files=files, added=added, added_iso=iso(added),
                      conv_until=added, status="downloaded", selected_at=added,
                      ended=added, progress=100.0, final=True)
        for f in files:
            link_id = self.new_id()
            self.rd_links[link_id] = (t.id, f.id)
            t.link_ids.append(link_id)
        self.torrents[t.id] = t
        bucket[t.id] = t
        return t.id

    # ------------------------------------------------------------- unrestrict

    _LINK_RX = re.compile(r"/d/([A-Z0-9]{13})")

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
            if t is None or f is None or t.token != acc.token:
                raise RdError(404, 7)
            entry = self.catalog.get(t.hash)
            if entry is not None and "infringing_unrestrict" in entry.flags:
                raise RdError(451, 35)
            if f.purged:
                self._schedule_dead(t)
                raise RdError(503, 19)
            if self.traffic_exhausted(acc):
                code = int(self.knobs["rd_traffic_error_code"])
                raise RdError(503, code)
            return self._download_for(acc.token, link_id, t, f)

    def _schedule_dead(self, t: RdTorrent) -> None:
        if t.status != "dead" and t.dead_at is None:
            t.dead_at = self.now() + float(self.knobs["dead_delay"])
            self.settle(t)

    def _download_for(self, token: str, link_id: str, t: RdTorrent, f: RdFile) -> RdDownload:
        # RD hands back the same downloads entry for a link while it is live.
        now = self.now()
        for d in self.downloads_by_token.get(token, {}).values():
            if d.link_id == link_id and not d.deleted and not self._expired(d, now):
                return d
        name = f.path.rsplit("/", 1)[-1]
        d = RdDownload(id=self.new_id(), token=token, link=self.rd_link_url(link_id),
                       link_id=link_id, torrent_id=t.id, hash=t.hash, file=f, filename=name,
                       cdn_token=self.new_id() + self.new_id(), generated=now,
                       expires_at=now + float(self.knobs["rd_link_ttl"]))
        self.downloads[d.id] = d
        self.downloads_by_token.setdefault(token, {})[d.id] = d
        self.cdn_links[d.cdn_token] = d
        return d

    def check_link(self, link: str) -> tuple[str, RdFile]:
        """``/unrestrict/check``: (restricted link, file) or the configured 404/503."""
        with self.lock:
            link_id, t, f = self.resolve_link(link)
            if t is None or f is None or f.purged:
                status = int(self.knobs["rd_check_unavailable_status"])
                raise RdError(status, 7 if status == 404 else 24)
            return self.rd_link_url(link_id), f

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
        with self.lock:
            d = self.cdn_links.get(cdn_token) if provider == RD else None
            if d is None:
                raise CdnError(404, "link_not_found")
            if self._expired(d, self.now()):
                raise CdnError(int(self.knobs["cdn_expired_status"]), "link_expired")
            if d.file.purged:
                raise CdnError(int(self.knobs["cdn_purged_status"]), "file_not_available")
            acc = self.accounts.get(d.token)
            if acc is not None and self.traffic_exhausted(acc):
                raise CdnError(int(self.knobs["cdn_traffic_status"]), "bandwidth_exceeded")
            return d, acc

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
            marked = {id(f): f for f in files if self._file_matches(f, file)}
            for f in marked.values():
                f.purged = True
            if uncache:
                self.cached.get(provider, set()).discard(h)
            return len(marked)

    @staticmethod
    def _file_matches(f: RdFile, which: int | str | None) -> bool:
        if which is None:
            return True
        if isinstance(which, int) or str(which).isdigit():
            return f.id == int(which)
        return f.path.lstrip("/") == str(which).lstrip("/")

    def expire_links(self, provider: str = RD, token: str | None = None,
                     all: bool = False, link: str | None = None) -> int:
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

    def cdn_url(self, d: RdDownload) -> str:
        return f"{self.origin}/cdn/rd/{d.cdn_token}/{quote(d.filename)}"

    # ------------------------------------------------------------------ state

    def state(self, detail: bool = False) -> dict[str, Any]:
        with self.lock:
            out: dict[str, Any] = {
                "now": self.now(),
                "now_iso": iso(self.now()),
                "speed": self.clock.speed,
                "origin": self.origin,
                "knobs": dict(self.knobs),
                "catalog": len(self.catalog),
                "cached": {p: len(s) for p, s in self.cached.items()},
                "accounts": [self._account_state(a) for a in self.accounts.values()],
                "torrents": {tok: len(ts) for tok, ts in self.by_token.items()},
                "downloads": len(self.downloads),
                "faults": [r.describe() for r in self.faults],
                "log_size": self.log_mark(),
            }
            if detail:
                out["torrent_list"] = [
                    {"id": t.id, "hash": t.hash, "token": t.token, "status": t.status}
                    for t in self.torrents.values()
                ]
            return out

    def _account_state(self, a: Account) -> dict[str, Any]:
        self._roll_traffic(a)
        return {
            "token": a.token, "provider": a.provider, "premium_until": a.premium_until,
            "slots_limit": a.slots_limit, "revoked": a.revoked,
            "traffic_limit_bytes_per_day": a.traffic_limit_bytes_per_day,
            "traffic_used_today": a.traffic_used_today,
        }
