"""Emulator state: the ``World`` that owns catalog, accounts, faults, log and RD records.

``World`` is the single entry point the HTTP front ends and tests use.  It
holds catalog, accounts, rate limits, fault rules and the request log itself,
and delegates the Real-Debrid torrent state machine and unrestrict/CDN logic
to ``RdState`` (``rd_state.py``).  Everything time-dependent reads
``EmuClock`` (virtual time, ``clock.py``).

Rate limits are per (provider, token) and count every API call, refused ones
included, as Real-Debrid documents.  The default ``rate_window="sliding"``
refuses a call once ``rate_limit`` calls fall in the last ``rate_period``
seconds (``ratelimit.SlidingWindow``); ``"bucket"`` keeps the older token
bucket, which starts full and so admits up to twice the limit in the first
period.  ``busiest_window`` and ``count_status`` read the request log back so
tests can prove a client stayed within budget.

HTTP-independent on purpose: ``realdebrid.py`` and ``cdn.py`` translate the
``RdError`` raised here into responses, and tests may call the world directly.

The names that used to live here (clock helpers, dataclasses, error types,
constants) are re-exported so ``from emulators.world import ...`` keeps
working.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Iterable
from typing import Any
from urllib.parse import quote

from . import content
from .ad_state import AdState
from .clock import EmuClock, iso, parse_time, utc_day
from .dl_state import DlState
from .model import (
    ACTIVE_STATUSES,
    ERROR_FLAGS,
    KNOWN_FLAGS,
    RD,
    RD_ERROR_NAMES,
    RD_HOST,
    SLOT_STATUSES,
    Account,
    CatalogEntry,
    CatalogFile,
    CdnError,
    CdnLink,
    FaultRule,
    RdDownload,
    RdError,
    RdFile,
    RdTorrent,
)
from .pm_state import PmState
from .ratelimit import SlidingWindow
from .ratelimit import busiest_window as _busiest_window
from .rd_state import RdState
from .state_base import ProviderState
from .tb_state import TbState

__all__ = [
    "ACTIVE_STATUSES", "DEFAULT_KNOBS", "ERROR_FLAGS", "KNOWN_FLAGS", "RATE_WINDOWS", "RD",
    "RD_ERROR_NAMES", "RD_HOST", "SLOT_STATUSES", "Account", "CatalogEntry", "CatalogFile",
    "CdnError", "EmuClock", "FaultRule", "RdDownload", "RdError", "RdFile", "RdState",
    "RdTorrent", "World", "iso", "parse_time", "utc_day",
]

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
    "rd_links_any_account": True,  # another account's restricted link unrestricts too
    "dead_delay": 0.0,  # s after a purged unrestrict before status `dead`
    "cdn_expired_status": 404,
    "cdn_purged_status": 404,
    "cdn_traffic_status": 503,
    "cdn_bandwidth": None,  # bytes/s (real time) shared by all CDN streams
    "cdn_ignore_range": False,  # True → the CDN answers every GET 200 with the whole file, as some proxies do
    "x_error_header": None,  # True → per-case X-Error on CDN failures; str → fixed value
    "rate_limit": 250,  # requests per rate_period per token; None disables
    "rate_period": 60.0,  # s; RD documents 250 requests per minute
    "rate_window": "sliding",  # "sliding" (exact window) or "bucket" (legacy token bucket)
    "send_retry_after": True,
    "premium_days": 365.0,  # default for new accounts
    "auto_accounts": False,  # unknown tokens become fresh accounts instead of 401
    "log_limit": 500_000,  # oldest half of the log is dropped beyond this
    # The other providers' documented limits (docs/providers.md §8.5), as [count, period_s]
    # windows; "<key>/<scope>" adds a window for that scope (TorBox's creates).
    # ``rate_limit: null`` switches these off too.
    "rates": {"ad": [[12, 1.0], [600, 60.0]], "tb": [[300, 60.0]], "tb/create": [[60, 3600.0]],
              "dl": [[60, 60.0]], "pm": []},
    # Which providers' content filters refuse a catalog entry flagged "infringing"
    # (RD's 451, TorBox's BANNED_CONTENT_DETECTED, ...): filters differ between services.
    "content_filters": ["rd", "ad", "tb", "dl", "pm"],
    # CDN answer to an expired link, per provider (RD uses cdn_expired_status).
    "cdn_expired_statuses": {"ad": 404, "tb": 403, "dl": 410, "pm": 404},
}

STATE_CLASSES: dict[str, type[ProviderState]] = {"ad": AdState, "tb": TbState, "dl": DlState, "pm": PmState}
for _cls in STATE_CLASSES.values():
    DEFAULT_KNOBS.update(_cls.KNOBS)

RATE_WINDOWS = ("sliding", "bucket")
HOLD_LIMIT = 120.0   # real seconds a held request waits at most for its release
_RATE_KNOBS = frozenset({"rate_limit", "rate_period", "rate_window", "rates"})

RD_API_PREFIX = "/rest/1.0"  # where the RD API is mounted (realdebrid.PREFIX)

_ID_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_ID_SPACE = 36**13
_ID_MULT = 2**127 - 1  # prime, coprime with 36 → the scramble is a bijection


class _Bucket:
    """Token bucket on the virtual clock; refused calls still consume budget.

    Legacy (``rate_window="bucket"``): it starts full and refills meanwhile,
    so up to ``2 * count`` calls pass in the first ``period``.
    """

    def __init__(self, count: float, period: float, now: float) -> None:
        self.capacity = float(count)
        self.rate = count / period
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


def _check_rate_knobs(knobs: dict[str, Any]) -> None:
    """Refuse rate settings the limiters cannot honour (the control plane answers 400)."""
    if knobs["rate_window"] not in RATE_WINDOWS:
        raise ValueError(f"rate_window must be one of {RATE_WINDOWS}, got {knobs['rate_window']!r}")
    period = knobs["rate_period"]
    if isinstance(period, bool) or not isinstance(period, (int, float)) or not period > 0:
        raise ValueError(f"rate_period must be a number > 0, got {period!r}")
    limit = knobs["rate_limit"]
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, (int, float))
                              or limit < 0):
        raise ValueError(f"rate_limit must be null or a number >= 0, got {limit!r}")


class World:
    """All emulator state behind one lock (handlers are short; bytes are generated outside)."""

    def __init__(self, knobs: dict[str, Any] | None = None, clock: EmuClock | None = None) -> None:
        self.lock = threading.RLock()
        self.clock = clock or EmuClock()
        self.origin = "http://127.0.0.1"
        self.knobs: dict[str, Any] = dict(DEFAULT_KNOBS)
        self._initial_knobs = dict(knobs or {})
        self.set_knobs(**self._initial_knobs)
        self._holds = threading.Condition()   # not ``lock``: a held request must not block the world
        self._held = 0
        self._releases = 0
        self._clear()

    # ----------------------------------------------------------------- basics

    def _clear(self) -> None:
        self.catalog: dict[str, CatalogEntry] = {}
        self.cached: dict[str, set[str]] = {RD: set(), **{k: set() for k in STATE_CLASSES}}
        self.accounts: dict[str, Account] = {}
        self.rd = RdState(self)
        self.states: dict[str, ProviderState] = {k: cls(self) for k, cls in STATE_CLASSES.items()}
        self.links: dict[str, CdnLink] = {}
        self.faults: list[FaultRule] = []
        self.limiters: dict[tuple[str, str], SlidingWindow | _Bucket] = {}
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
        self.release_holds()

    def set_knobs(self, **values: Any) -> dict[str, Any]:
        unknown = set(values) - set(DEFAULT_KNOBS)
        if unknown:
            raise ValueError(f"unknown knob(s): {sorted(unknown)}")
        with self.lock:
            _check_rate_knobs({**self.knobs, **values})
            self.knobs.update(values)
            if _RATE_KNOBS & set(values):
                self.limiters = {}  # budgets counted under the old rules no longer apply
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

    def next_torrent_id(self) -> tuple[str, int]:
        """(id, seq) for a new torrent; seq shares the id counter so it orders additions."""
        with self.lock:
            # Bump before drawing the id: keeps ids identical to the historical sequence.
            self._counter += 1
            tid = self.new_id()
            return tid, self._counter

    def rd_link_url(self, link_id: str) -> str:
        return f"{self.origin}/rd-link/d/{link_id}"

    # RD record tables live on ``self.rd``; these keep the old attribute names readable.

    @property
    def torrents(self) -> dict[str, RdTorrent]:
        return self.rd.torrents

    @property
    def by_token(self) -> dict[str, dict[str, RdTorrent]]:
        return self.rd.by_token

    @property
    def rd_links(self) -> dict[str, tuple[str, int]]:
        return self.rd.rd_links

    @property
    def downloads(self) -> dict[str, RdDownload]:
        return self.rd.downloads

    @property
    def downloads_by_token(self) -> dict[str, dict[str, RdDownload]]:
        return self.rd.downloads_by_token

    @property
    def cdn_links(self) -> dict[str, RdDownload]:
        return self.rd.cdn_links

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
        if spec.get("data") is not None:   # the file's own bytes (archive volumes)
            source = content.hold_bytes(bytes(spec["data"]))
        size = int(spec["size"]) if "size" in spec else content.source_size(source)
        seed = str(spec.get("seed") or f"{infohash}/{path}")
        return CatalogFile(path, size, seed, source)

    def learn_torrent(self, infohash: str, name: str | None, files: list[tuple[str, int]]) -> None:
        """An uploaded .torrent carries its own metadata: an unknown hash joins the catalog."""
        with self.lock:
            if infohash not in self.catalog and files:
                self.add_catalog(infohash, name or infohash, [{"path": p, "size": s} for p, s in files])

    def filtered(self, entry: CatalogEntry | None, provider: str) -> bool:
        """Whether ``provider``'s content filter refuses this entry (flag ``infringing``)."""
        return entry is not None and "infringing" in entry.flags and provider in self.knobs["content_filters"]

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
            kwargs: dict[str, Any] = {k: s[k] for k in ("premium_days", "slots_limit",
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

    def rate_check(self, provider: str, token: str, scope: str = "") -> float | None:
        """Count one call: None if it may proceed, else the Retry-After in seconds."""
        with self.lock:
            if not self.knobs["rate_limit"]:
                return None
            now = self.now()
            if provider != RD:
                return self._rates_check(provider, token, scope, now)
            limiter = self.limiters.get((provider, token))
            if limiter is None:
                limiter = self.limiters[(provider, token)] = self._new_limiter(now)
            return limiter.take(now)

    def _rates_check(self, provider: str, token: str, scope: str, now: float) -> float | None:
        """Every window of the provider (and of the call's scope) counts the call."""
        rates = self.knobs["rates"]
        keys = [provider] + ([f"{provider}/{scope}"] if scope else [])
        waits = []
        for key in keys:
            for i, (count, period) in enumerate(rates.get(key) or ()):
                limiter = self.limiters.get((f"{key}#{i}", token))
                if limiter is None:
                    limiter = self.limiters[(f"{key}#{i}", token)] = SlidingWindow(max(1, int(count)), float(period))
                waits.append(limiter.take(now))
        late = [w for w in waits if w is not None]
        return max(late) if late else None

    def _new_limiter(self, now: float) -> SlidingWindow | _Bucket:
        count, period = self.knobs["rate_limit"], float(self.knobs["rate_period"])
        if self.knobs["rate_window"] == "bucket":
            return _Bucket(float(count), period, now)
        # A fractional limit cannot be met exactly; round down, but always allow one call.
        return SlidingWindow(max(1, int(count)), period)

    def busiest_window(self, token: str | None = None, period: float | None = None,
                       path_prefix: str = RD_API_PREFIX) -> int:
        """Most logged calls (any status) in any ``period`` window; all tokens unless given.

        Refused calls are included on purpose: the provider counts them too.
        Only what the log still holds is seen (see the ``log_limit`` knob).
        """
        if period is None:
            period = float(self.knobs["rate_period"])
        with self.lock:
            times = [e["t"] for e in self._log
                     if e["path"].startswith(path_prefix) and (token is None or e["token"] == token)]
        return _busiest_window(times, period)

    def count_status(self, status: int, path_prefix: str = RD_API_PREFIX) -> int:
        """How many logged answers under ``path_prefix`` had ``status`` (e.g. 429)."""
        with self.lock:
            return sum(1 for e in self._log
                       if e["status"] == status and e["path"].startswith(path_prefix))

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

    def hold_request(self, longest: float = HOLD_LIMIT) -> None:
        """Block the calling handler until ``release_holds`` (or ``longest`` real seconds,
        so a forgotten hold cannot pin a server thread for ever)."""
        with self._holds:
            self._held += 1
            generation = self._releases
            self._holds.notify_all()
            try:
                self._holds.wait_for(lambda: self._releases != generation, longest)
            finally:
                self._held -= 1

    def held(self) -> int:
        """How many requests a ``hold`` fault keeps waiting right now."""
        with self._holds:
            return self._held

    def release_holds(self) -> int:
        """Let every held request through; how many there were."""
        with self._holds:
            count = self._held
            self._releases += 1
            self._holds.notify_all()
            return count

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

    # ------------------------------------------------- Real-Debrid (RdState)

    def add_magnet(self, token: str, infohash: str, display: str | None = None) -> RdTorrent:
        return self.rd.add_magnet(token, infohash, display)

    def add_torrent_file(self, token: str, infohash: str, name: str | None,
                         files: list[tuple[str, int]]) -> RdTorrent:
        return self.rd.add_torrent_file(token, infohash, name, files)

    def get_torrent(self, token: str, torrent_id: str) -> RdTorrent:
        return self.rd.get_torrent(token, torrent_id)

    def settle(self, t: RdTorrent) -> None:
        self.rd.settle(t)

    def active_count(self, token: str) -> int:
        return self.rd.active_count(token)

    def select_files(self, token: str, torrent_id: str, files: str) -> bool:
        return self.rd.select_files(token, torrent_id, files)

    def delete_torrent(self, token: str, torrent_id: str) -> None:
        self.rd.delete_torrent(token, torrent_id)

    def list_torrents(self, token: str, active_first: bool = False) -> list[RdTorrent]:
        return self.rd.list_torrents(token, active_first)

    def seed_library(self, token: str, entries: Iterable[dict[str, Any]]) -> list[str]:
        """Finished items for ``token``, at whichever provider that account belongs to."""
        acc = self.accounts.get(token)
        if acc is not None and acc.provider != RD:
            return self.states[acc.provider].seed_library(token, list(entries))
        return self.rd.seed_library(token, entries)

    def resolve_link(self, link: str) -> tuple[str, RdTorrent | None, RdFile | None]:
        return self.rd.resolve_link(link)

    def unrestrict(self, acc: Account, link: str) -> RdDownload:
        return self.rd.unrestrict(acc, link)

    def check_link(self, link: str) -> tuple[str, RdFile]:
        return self.rd.check_link(link)

    def list_downloads(self, token: str) -> list[RdDownload]:
        return self.rd.list_downloads(token)

    def delete_download(self, token: str, download_id: str) -> None:
        self.rd.delete_download(token, download_id)

    def cdn_resolve(self, provider: str, cdn_token: str) -> tuple[RdDownload | CdnLink, Account | None]:
        if provider == RD:
            return self.rd.cdn_resolve(provider, cdn_token)
        return self._link_resolve(provider, cdn_token)

    def cdn_owner(self, provider: str, cdn_token: str) -> str | None:
        """The account a CDN URL spends (for the request log)."""
        d = self.rd.cdn_links.get(cdn_token) if provider == RD else self.links.get(cdn_token)
        return d.token if d else None

    # ------------------------------------------- CDN links of the other providers

    def mint_link(self, provider: str, token: str, file: RdFile, filename: str, *,
                  ttl: float | None = None, open_ttl: float | None = None,
                  ready: Any = None, owner_id: str = "") -> CdnLink:
        """A new CDN URL for one file (AD unlock, TB requestdl, DL/PM direct links)."""
        now = self.now()
        link = CdnLink(cdn_token=self.new_id() + self.new_id(), provider=provider, token=token, file=file,
                       filename=filename, created=now, expires_at=None if ttl is None else now + ttl,
                       open_until=None if open_ttl is None else now + open_ttl, ready=ready,
                       owner_id=owner_id)
        with self.lock:
            self.links[link.cdn_token] = link
        return link

    def link_url(self, link: CdnLink) -> str:
        return f"{self.origin}/cdn/{link.provider}/{link.cdn_token}/{quote(link.filename, errors='replace')}"

    def link_expired(self, link: CdnLink) -> bool:
        now = self.now()
        if link.forced_expired or (link.expires_at is not None and now >= link.expires_at):
            return True
        # TorBox: a link must be opened within its window; one already started keeps working.
        return link.open_until is not None and not link.started and now >= link.open_until

    def _link_resolve(self, provider: str, cdn_token: str) -> tuple[CdnLink, Account | None]:
        with self.lock:
            link = self.links.get(cdn_token)
            if link is None or link.provider != provider:
                raise CdnError(404, "link_not_found")
            if self.link_expired(link):
                status = self.knobs["cdn_expired_statuses"].get(provider, 404)
                raise CdnError(int(status), "link_expired")
            if link.file.purged:
                raise CdnError(int(self.knobs["cdn_purged_status"]), "file_not_available")
            if link.ready is not None and not link.ready():
                raise CdnError(404, "file_not_ready")
            acc = self.accounts.get(link.token)
            if acc is not None and self.traffic_exhausted(acc):
                raise CdnError(int(self.knobs["cdn_traffic_status"]), "bandwidth_exceeded")
            link.started = True
            return link, acc

    def cdn_url(self, d: RdDownload) -> str:
        return self.rd.cdn_url(d)

    def purge(self, infohash: str | None = None, item_id: str | None = None,
              file: int | str | None = None, provider: str = RD,
              uncache: bool = True) -> int:
        if provider == RD:
            return self.rd.purge(infohash, item_id, file, provider, uncache)
        n = self.states[provider].purge(infohash, item_id, file)
        if uncache and infohash:
            with self.lock:
                self.cached.get(provider, set()).discard(infohash.lower())
        return n

    def expire_links(self, provider: str = RD, token: str | None = None,
                     all: bool = False, link: str | None = None) -> int:
        if provider == RD:
            return self.rd.expire_links(token, all, link)
        with self.lock:
            n = 0
            for d in self.links.values():
                if d.provider != provider or (token and d.token != token):
                    continue
                if all or (link and (d.cdn_token in link or link == d.owner_id)):
                    d.forced_expired = True
                    n += 1
            return n

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
                "items": {a.token: self.states[a.provider].count(a.token)
                          for a in self.accounts.values() if a.provider in self.states},
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
