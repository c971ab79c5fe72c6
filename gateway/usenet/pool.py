"""One connection pool per usenet server: the one place that opens connections to it.

- **One cap for everything.** Readers, imports and repair all take their connection here, so
  the server never sees more than ``limit`` of ours. ``limit`` starts at the account's
  ``max_connections`` less ``HEADROOM`` (one spare when the account allows more than two):
  a server frees a closed connection's slot a moment after we close it, and a connection we
  drop after a timeout may still count there, so running flush at the limit would earn 502s.
- **Lanes.** Waiters are served by (lane, arrival), as the HTTP budget does: a reader's
  article goes before queued imports, imports before background work.
- **Idle.** A connection unused for ``IDLE_TIMEOUT`` is closed (``reap``, on the injected clock).
- **Breaker.** ``FAILS_TO_REST`` failures in a row (cannot connect, dropped, timed out,
  login refused) rest the server for ``REST_START`` s, doubling up to ``REST_CAP`` while it keeps
  failing; a success closes the breaker. While it rests, ``acquire`` fails at once so callers
  go to the next server instead of waiting.
- **502 at login.** The account is full (another client of the user, or connections the server
  still counts): the cap shrinks to the connections we hold, and grows back by one per
  ``GROW_EVERY`` s without a 502.
"""

from __future__ import annotations

import itertools
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass

from gateway.clock import Clock
from gateway.providers.budget import Lane
from gateway.providers.waiters import LaneQueue
from gateway.usenet.config import UsenetServerConfig
from gateway.usenet.errors import Cancelled, UsenetUnavailable
from gateway.usenet.nntp import AuthFailed, Connection, NNTPError, TooManyConnections

log = logging.getLogger(__name__)

HEADROOM = 1            # connections kept spare below the account's limit (when it is above 2)
IDLE_TIMEOUT = 60.0
FAILS_TO_REST = 3
REST_START = 5.0
REST_CAP = 300.0
GROW_EVERY = 60.0
RECHECK = 1.0           # a waiter looks again this often even without a wake-up (rest ends, growth)
# A 502 while we hold no connection: the server may still count ones we closed a moment ago (it
# frees a slot when its side sees the close), so try again a few times, a little later each time,
# before the server counts as failing.
FULL_RETRIES = 4
FULL_PAUSE = 0.25

Connector = Callable[[UsenetServerConfig, float], Connection]   # (server, timeout) -> logged-in connection


class Ticket:
    """One request's claim on a pool; the owner may cancel it while it waits or while it reads."""

    def __init__(self, lane: Lane) -> None:
        self.lane = lane
        self.event = threading.Event()
        self.cancelled = False
        self.conn: Connection | None = None
        self.sent_at: float | None = None    # when the command went out (for hedging)
        self.finished = False
        self._lock = threading.Lock()

    def attach(self, conn: Connection | None) -> None:
        with self._lock:
            self.conn = conn
            if conn is not None and self.cancelled:
                conn.abort()

    def cancel(self) -> None:
        with self._lock:
            self.cancelled = True
            self.event.set()
            if self.conn is not None:
                self.conn.abort()


@dataclass(eq=False)
class _Waiter:
    ticket: Ticket
    seq: int

    @property
    def rank(self) -> tuple[int, int]:
        return int(self.ticket.lane), self.seq

    @property
    def event(self) -> threading.Event:
        return self.ticket.event


@dataclass
class _Stats:
    articles: int = 0
    bytes: int = 0
    missing: int = 0
    damaged: int = 0
    errors: int = 0
    opened: int = 0
    peak: int = 0
    refused_502: int = 0


@dataclass
class _Breaker:
    fails: int = 0
    pause: float = 0.0
    until: float = float("-inf")
    reason: str = ""
    login_refused: bool = False


class ServerPool:
    """The connections of one server, shared by every caller; thread-safe."""

    def __init__(self, server: UsenetServerConfig, clock: Clock, *, timeout: float,
                 connector: Connector = Connection.open) -> None:
        self.server = server
        self._clock = clock
        self._timeout = timeout
        self._connect = connector
        self._lock = threading.Lock()
        self.max_limit = max(1, server.max_connections - (HEADROOM if server.max_connections > 2 else 0))
        self.limit = self.max_limit
        self._grow_at = float("inf")
        self._open = 0                                   # in use + idle + being opened
        self._idle: list[tuple[Connection, float]] = []  # (connection, idle since); newest last
        self._waiters: LaneQueue[_Waiter] = LaneQueue()
        self._seq = itertools.count()
        self._closed = False
        self._breaker = _Breaker()
        self._full_in_a_row = 0   # 502s at login with nothing held, one after another
        self.stats = _Stats()

    # ------------------------------------------------------------ acquiring

    def acquire(self, ticket: Ticket) -> Connection:
        """A logged-in connection, served by lane; ``UsenetUnavailable`` when the server cannot be used now."""
        me = _Waiter(ticket, next(self._seq))
        with self._lock:
            self._waiters.join(me)
        try:
            while True:
                granted = self._try_grant(me)
                if isinstance(granted, Connection):
                    return granted
                if granted:   # a slot is reserved for us: open a new connection outside the lock
                    conn = self._open_new()
                    if conn is not None:
                        return conn
                    with self._lock:   # a 502 shrank the pool: queue again, in our old place
                        self._waiters.join(me)
                    continue
                self._clock.wait(ticket.event, RECHECK)
        finally:
            self._waiters.withdraw(me, self._lock)

    def _try_grant(self, me: _Waiter) -> Connection | bool:
        """An idle connection, True for a reserved slot, or False to wait; raises when it never will."""
        to_close: list[Connection] = []
        try:
            with self._lock:
                me.ticket.event.clear()
                if me.ticket.cancelled:
                    raise Cancelled()
                if self._closed:
                    raise UsenetUnavailable(f"{self.server.name}: the usenet client is closed", code="closed")
                now = self._clock.monotonic()
                self._check_rest(now)
                self._grow(now)
                to_close = self._expired(now)
                if not self._waiters or self._waiters[0] is not me:
                    return False
                if self._idle:
                    conn, _ = self._idle.pop()
                    self._granted(me)
                    return conn
                if self._open < self.limit:
                    self._open += 1
                    self.stats.peak = max(self.stats.peak, self._open)
                    self._granted(me)
                    return True
                return False
        finally:
            for conn in to_close:
                conn.quit()

    def _granted(self, me: _Waiter) -> None:
        self._waiters.remove(me)
        self._wake()   # the next waiter may fit too

    def _state(self, now: float) -> str:
        if now >= self._breaker.until:
            return "ok"
        return "login refused" if self._breaker.login_refused else "resting"

    def _check_rest(self, now: float) -> None:
        breaker = self._breaker
        if now < breaker.until:
            raise UsenetUnavailable(f"{self.server.name}: {self._state(now)} for {breaker.until - now:.0f}s "
                                    f"after {breaker.reason}", code="server_resting")

    def _open_new(self) -> Connection | None:
        try:
            conn = self._connect(self.server, self._timeout)
        except TooManyConnections as exc:
            with self._lock:
                self._open -= 1
                self.stats.refused_502 += 1
                held = self._open
                if held > 0:
                    self.limit = max(1, min(self.limit, held))
                    self._grow_at = self._clock.monotonic() + GROW_EVERY
                    log.warning("%s: 502 at login with %d connections open; pool capped at %d",
                                self.server.name, held, self.limit)
                self._wake()
            if held > 0:
                return None
            self._full_in_a_row += 1
            if self._full_in_a_row <= FULL_RETRIES:
                self._clock.sleep(FULL_PAUSE * self._full_in_a_row)
                return None
            self._full_in_a_row = 0
            self.note_failure(str(exc))
            raise UsenetUnavailable(f"{self.server.name}: {exc}", code="too_many_connections") from exc
        except AuthFailed as exc:
            self._release_slot()
            self.note_failure(str(exc), login_refused=True)
            raise UsenetUnavailable(f"{self.server.name}: login refused: {exc}", code="login_refused") from exc
        except NNTPError as exc:
            self._release_slot()
            self.note_failure(str(exc))
            raise UsenetUnavailable(f"{self.server.name}: {exc}") from exc
        except BaseException:
            self._release_slot()
            raise
        with self._lock:
            self.stats.opened += 1
            self._full_in_a_row = 0
        return conn

    def _release_slot(self) -> None:
        with self._lock:
            self._open -= 1
            self._wake()

    def _wake(self) -> None:
        self._waiters.wake()

    # ------------------------------------------------------------ releasing

    def release(self, conn: Connection, *, reuse: bool) -> None:
        """Give a connection back: kept idle when it is in step and the pool has room, else closed."""
        with self._lock:
            keep = reuse and not self._closed and self._open <= self.limit
            if keep:
                self._idle.append((conn, self._clock.monotonic()))
            else:
                self._open -= 1
            self._wake()
        if not keep:
            if reuse:
                conn.quit()
            else:
                conn.close()

    def reap(self) -> int:
        """Close connections idle longer than ``IDLE_TIMEOUT``; returns how many."""
        with self._lock:
            to_close = self._expired(self._clock.monotonic())
        for conn in to_close:
            conn.quit()
        return len(to_close)

    def _expired(self, now: float) -> list[Connection]:
        """Take the idle connections past their time out of the pool (under the lock)."""
        keep = [(c, since) for c, since in self._idle if now - since < IDLE_TIMEOUT]
        gone = [c for c, since in self._idle if now - since >= IDLE_TIMEOUT]
        if gone:
            self._idle = keep
            self._open -= len(gone)
            self._wake()
        return gone

    def _grow(self, now: float) -> None:
        while self.limit < self.max_limit and now >= self._grow_at:
            self.limit += 1
            self._grow_at = self._grow_at + GROW_EVERY if self.limit < self.max_limit else float("inf")
            self._wake()

    # -------------------------------------------------------------- breaker

    def note_failure(self, reason: str, *, login_refused: bool = False) -> None:
        with self._lock:
            self.stats.errors += 1
            breaker = self._breaker
            now = self._clock.monotonic()
            if now < breaker.until:
                return   # already resting: failures of calls that started before the rest say nothing new
            breaker.fails += 1
            breaker.reason = reason
            breaker.login_refused = login_refused
            if login_refused or breaker.fails >= FAILS_TO_REST:
                breaker.pause = min(REST_CAP, breaker.pause * 2) if breaker.pause else REST_START
                breaker.until = now + breaker.pause
                self._wake()   # waiters see the rest and go to the next server
                log.warning("%s: resting %.0fs after %s", self.server.name, breaker.pause, reason)

    def note_success(self) -> None:
        with self._lock:
            self._breaker = _Breaker()

    def count(self, *, articles: int = 0, nbytes: int = 0, missing: int = 0, damaged: int = 0) -> None:
        with self._lock:
            self.stats.articles += articles
            self.stats.bytes += nbytes
            self.stats.missing += missing
            self.stats.damaged += damaged
            # A damaged answer (bad CRC, cut short) is a failed exchange with this server: it counts in
            # ``errors`` too, so /health (which shows ``errors`` and not ``damaged``) sees a server that
            # serves bad articles; ``damaged`` (in /api/stats) says how many of the errors were those.
            self.stats.errors += damaged

    # ------------------------------------------------------------ the rest

    def close(self) -> None:
        with self._lock:
            self._closed = True
            idle = [c for c, _ in self._idle]
            self._open -= len(idle)
            self._idle = []
            self._wake()
        for conn in idle:
            conn.quit()

    def health(self) -> dict[str, object]:
        with self._lock:
            now = self._clock.monotonic()
            breaker = self._breaker
            state = self._state(now)
            stats = self.stats
            return {"connections": self._open, "idle": len(self._idle), "max_connections": self.server.max_connections,
                    "limit": self.limit, "articles": stats.articles, "bytes": stats.bytes,
                    "missing": stats.missing, "damaged": stats.damaged, "errors": stats.errors, "state": state,
                    "reason": breaker.reason if state != "ok" else "",
                    "resting_for": round(max(0.0, breaker.until - now), 3),
                    "waiting": len(self._waiters), "peak": stats.peak, "opened": stats.opened,
                    "refused_502": stats.refused_502}
