"""One request budget per provider account (shared architecture §3.4).

Every call to one account (library sync, link resolution for readers,
imports, repair) takes a slot of that account's ``Budget``:

- **Window.** At most ``count`` calls in any sliding window of ``period``
  seconds, the way providers count, from the first second on (no bucket
  burst). The provider stamps a call when it *arrives*, which is after we
  decide to send it, so a call is granted at ``t`` only while ``in_flight +
  #(completions > t - period) < allowed``: every call granted earlier in the
  window is either still in flight or completed after it arrived, hence
  counted. No safety margin is needed while gateway and provider share a clock.
- **Lanes.** Waiters are served strictly by (lane, arrival): only the best
  waiter may be granted, so queued background work never goes ahead of a
  reader waiting for a link. ``BACKGROUND`` leaves ``reserve`` of the window
  to the others. The lane comes from a contextvar (``with lane(...)``);
  anything unmarked is ``INTERACTIVE``, since someone may be waiting on it.
- **429.** ``pause`` stops the whole account, every lane, until it ends;
  without a Retry-After, ``backoff_pause`` pauses 1, 2, 4 ... 60 s, reset by
  ``note_success``.
- **Sub-limits.** ``sublimits`` add a window per scope (TorBox limits creating
  torrents more strictly); a scoped call must fit both windows. A waiter held
  only by its own scope's window does not hold up the others.
- **Restarts.** The provider's window still holds the previous process's
  calls, so an optional ``Journal`` keeps the wall-clock times of recent
  completions; they count again at start.

Waiting uses only the injected clock (``Clock.wait`` on a per-waiter event,
set on every change), never with the lock held. ``limit=None`` ("off")
counts calls for the stats but never waits, except for a 429 pause.
"""

from __future__ import annotations

import contextlib
import contextvars
import enum
import itertools
import json
import logging
import math
import threading
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

from gateway.clock import Clock
from gateway.errors import Unavailable
from gateway.providers.health import AccountHealth
from gateway.providers.waiters import LaneQueue

log = logging.getLogger(__name__)

BACKOFF_START = 1.0       # first pause after a 429 without Retry-After
BACKOFF_CAP = 60.0
SAVE_EVERY = 1.0          # journal writes, at most one per this many clock seconds
UNLIMITED_WINDOW = 60.0   # what "used" counts over when there is no limit
IDLE_RECHECK = 60.0       # only a completion can free a slot then, and it sets the event anyway
MIN_RECHECK = 0.001       # never spin on a wake-up time that float rounding put a hair early


class Lane(enum.IntEnum):
    INTERACTIVE = 0   # a reader waiting for a link, a user's add
    IMPORTS = 1
    BACKGROUND = 2    # sync details, repair checks


_LANE: contextvars.ContextVar[Lane] = contextvars.ContextVar("budget_lane", default=Lane.INTERACTIVE)


@contextlib.contextmanager
def lane(which: Lane) -> Iterator[None]:
    """Provider calls made inside this block (this thread or task) count in ``which`` lane."""
    token = _LANE.set(which)
    try:
        yield
    finally:
        _LANE.reset(token)


def current_lane() -> Lane:
    return _LANE.get()


@dataclass(frozen=True)
class Limit:
    count: int
    period: float

    def __str__(self) -> str:
        return f"{self.count}/{self.period:g}s"


class Journal(Protocol):
    """Wall-clock (``Clock.now``) times of an account's recent completions, kept across restarts."""

    def load(self) -> list[float]: ...

    def save(self, stamps: list[float]) -> None: ...


class MetaJournal:
    """A ``Journal`` kept as one JSON list under ``key`` in a key/value store (the store's meta table)."""

    def __init__(self, get: Callable[[str], str], set: Callable[[str, str], None], key: str) -> None:
        self._get = get
        self._set = set
        self._key = key

    def load(self) -> list[float]:
        try:
            stamps = json.loads(self._get(self._key) or "[]")
        except ValueError:
            return []   # a damaged value only costs the restart protection
        if not isinstance(stamps, list):
            return []
        return [float(s) for s in stamps if isinstance(s, int | float)]

    def save(self, stamps: list[float]) -> None:
        self._set(self._key, json.dumps([round(s, 3) for s in stamps]))


class _Window:
    """Calls in flight plus the completion times (monotonic, ascending) not older than ``period``."""

    def __init__(self, period: float) -> None:
        self.period = period
        self.in_flight = 0
        self.done: deque[float] = deque()

    def used(self, now: float) -> int:
        while self.done and self.done[0] <= now - self.period:
            self.done.popleft()
        return self.in_flight + len(self.done)

    def frees_at(self) -> float | None:
        """When the oldest completion leaves the window; None when only a completion can free a slot."""
        return self.done[0] + self.period if self.done else None


@dataclass(eq=False)
class _Waiter:
    lane: Lane
    seq: int
    scope: str
    event: threading.Event = field(default_factory=threading.Event)

    @property
    def rank(self) -> tuple[int, int]:
        return self.lane, self.seq


class Budget:
    """The request budget of one provider account, shared by all its callers."""

    def __init__(self, name: str, limit: Limit | None, clock: Clock, *, reserve: float = 0.2,
                 sublimits: dict[str, Limit] | None = None, journal: Journal | None = None) -> None:
        self.name = name
        self.limit = limit
        self._clock = clock
        # The account's state (a refused key disables it); its main key's clients guard on it.
        self.health = AccountHealth(name, clock)
        self._lock = threading.Lock()
        self._main = _Window(limit.period if limit else UNLIMITED_WINDOW)
        # The epsilon keeps 10 * 0.8 at 8 whatever the float rounding.
        self._background = max(1, math.floor(limit.count * (1 - reserve) + 1e-9)) if limit else 0
        self._scopes = {scope: (sub.count, _Window(sub.period)) for scope, sub in (sublimits or {}).items()}
        self._waiters: LaneQueue[_Waiter] = LaneQueue()
        self._seq = itertools.count()
        self._paused_until = -math.inf
        self._backoffs = 0                  # 429s without Retry-After since the last success
        self._calls = 0
        self._rate_limited = 0
        self._closed = False
        # Without a limit nothing waits on past calls, so there is nothing to remember.
        self._journal = journal if limit is not None else None
        self._save_lock = threading.Lock()
        self._saved_at = -math.inf          # monotonic time of the newest stamps handed to the journal
        self._written_at = -math.inf        # ... and of the newest actually written
        if self._journal is not None:
            self._restore(self._journal)

    # ------------------------------------------------------------------ calls

    @contextlib.contextmanager
    def call(self, scope: str = "", lane: Lane | None = None) -> Iterator[None]:
        """Wait for a slot (granted on entry); the call counts as completed on exit, however it ends."""
        self._acquire(scope, current_lane() if lane is None else lane)
        try:
            yield
        finally:
            self._complete(scope)

    def _acquire(self, scope: str, which: Lane) -> None:
        me = _Waiter(which, next(self._seq), scope)
        with self._lock:
            self._waiters.join(me)
        try:
            while (timeout := self._try_grant(me)) is not None:
                self._clock.wait(me.event, timeout)
        except BaseException:
            self._waiters.withdraw(me, self._lock)
            raise

    def _try_grant(self, me: _Waiter) -> float | None:
        """Grant ``me`` if it is next and fits (None); else how long to wait before looking again."""
        with self._lock:
            me.event.clear()   # before looking, so a change made after the look still wakes us
            if self._closed:
                raise Unavailable(f"{self.name}: the gateway is stopping", code="closed")
            now = self._clock.monotonic()
            if self._next_grant(now) is not me:
                return self._until_change(now)
            self._waiters.remove(me)
            for window in self._windows(me.scope):
                window.in_flight += 1
            self._calls += 1
            self._wake()   # the next waiter may fit too
            return None

    def _next_grant(self, now: float) -> _Waiter | None:
        """The best waiter whose scope has room, if the account's window has room for its lane."""
        if now < self._paused_until:
            return None
        for waiter in self._waiters:
            scoped = self._scopes.get(waiter.scope)
            if scoped is not None and scoped[1].used(now) >= scoped[0]:
                continue   # held by its own scope only: a slot it cannot use goes to the next
            if self.limit is None:
                return waiter
            allowed = self._background if waiter.lane == Lane.BACKGROUND else self.limit.count
            return waiter if self._main.used(now) < allowed else None
        return None

    def _until_change(self, now: float) -> float:
        """Seconds until the passing of time alone could let a waiter in (events cover the rest)."""
        if now < self._paused_until:
            return self._paused_until - now
        windows = [self._main, *(window for _, window in self._scopes.values())]
        for window in windows:
            window.used(now)   # prune, so every frees_at below lies ahead
        times = [t for t in (window.frees_at() for window in windows) if t is not None]
        return max(min(times) - now, MIN_RECHECK) if times else IDLE_RECHECK

    def close(self) -> None:
        """Stopping: every waiting and later call fails at once instead of waiting for a slot."""
        with self._lock:
            self._closed = True
            self._wake()

    def _complete(self, scope: str) -> None:
        with self._lock:
            now = self._clock.monotonic()
            for window in self._windows(scope):
                window.in_flight -= 1
                window.done.append(now)
            self._wake()
            stamps = self._stamps_due(now)
        if stamps is not None:
            self._save(now, stamps)

    def _windows(self, scope: str) -> list[_Window]:
        scoped = self._scopes.get(scope)
        return [self._main] if scoped is None else [self._main, scoped[1]]

    def _wake(self) -> None:
        self._waiters.wake()

    # ------------------------------------------------------------------- 429s

    def pause(self, seconds: float) -> None:
        """The provider said 429: no call to this account, in any lane, for ``seconds`` from now."""
        with self._lock:
            self._rate_limited += 1
            self._paused_until = max(self._paused_until, self._clock.monotonic() + max(0.0, seconds))
            self._wake()   # waiters recompute their timeout against the new end
        log.warning("%s: rate limited by the provider, pausing every call for %.1fs", self.name, seconds)

    def backoff_pause(self) -> float:
        """Pause after a 429 without Retry-After: 1, 2, 4 ... 60 s; returns the pause."""
        with self._lock:
            now = self._clock.monotonic()
            if now < self._paused_until:
                # Sent before the pause began (a burst in flight): the same refusal, not a new one.
                self._rate_limited += 1
                return self._paused_until - now
            factor: int = 2 ** self._backoffs   # int ** int is typed Any (a negative power is a float)
            seconds = min(BACKOFF_START * factor, BACKOFF_CAP)
            self._backoffs += 1
        self.pause(seconds)
        return seconds

    def note_success(self) -> None:
        """A call went through: the next 429 without Retry-After starts the backoff again."""
        with self._lock:
            self._backoffs = 0

    # ----------------------------------------------------------------- stats

    @property
    def in_flight(self) -> int:
        with self._lock:
            return self._main.in_flight

    @property
    def waiting(self) -> int:
        with self._lock:
            return len(self._waiters)

    def background_rate(self) -> float | None:
        """Calls per second the BACKGROUND lane may use at most (for ETAs); None when unlimited."""
        return self._background / self.limit.period if self.limit else None

    def stats(self) -> dict[str, Any]:
        """For /health and /api/stats."""
        with self._lock:
            now = self._clock.monotonic()
            waiting = {which.name.lower(): 0 for which in Lane}
            for waiter in self._waiters:
                waiting[waiter.lane.name.lower()] += 1
            return {"limit": str(self.limit) if self.limit else "off", "used": self._main.used(now),
                    "in_flight": self._main.in_flight, "waiting": waiting,
                    "paused_for": round(max(0.0, self._paused_until - now), 3),
                    "calls": self._calls, "rate_limited": self._rate_limited}

    # --------------------------------------------------------------- journal

    def flush(self) -> None:
        """Write the journal now (at shutdown), so the next start counts the last second's calls too."""
        with self._lock:
            now = self._clock.monotonic()
            self._saved_at = -math.inf
            stamps = self._stamps_due(now)
        if stamps is not None:
            self._save(now, stamps)

    def _restore(self, journal: Journal) -> None:
        """Count the previous process's recent calls: the provider still does."""
        try:
            stamps = journal.load()
        except Exception:
            log.warning("%s: cannot read the request journal; starting with an empty window", self.name,
                        exc_info=True)
            return
        wall, mono = self._clock.now(), self._clock.monotonic()
        recent = sorted(mono - (wall - stamp) for stamp in stamps if stamp > wall - self._main.period)
        self._main.done.extend(min(t, mono) for t in recent)   # a stamp "from the future" counts as now

    def _stamps_due(self, now: float) -> list[float] | None:
        """The window's completions as wall-clock stamps, once per SAVE_EVERY; called under the lock."""
        if self._journal is None or now - self._saved_at < SAVE_EVERY:
            return None
        self._saved_at = now
        self._main.used(now)
        wall = self._clock.now()
        return [wall - (now - done) for done in self._main.done]

    def _save(self, taken_at: float, stamps: list[float]) -> None:
        assert self._journal is not None
        with self._save_lock:
            if taken_at < self._written_at:
                return   # a newer window was written while this thread waited for the lock
            self._written_at = taken_at
            try:
                self._journal.save(stamps)
            except Exception:
                # The call itself succeeded; losing the journal only weakens restart protection.
                log.warning("%s: cannot write the request journal", self.name, exc_info=True)
