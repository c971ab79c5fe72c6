"""The login throttle: failed password checks slow, then ban, a client (and, much later,
a username); ``LoginAttempt`` carries the client of this request to every password check."""

from __future__ import annotations

import threading
from contextvars import ContextVar
from dataclasses import dataclass

from cachetools import LRUCache

from gateway.clock import Clock

# ------------------------------------------------------- login throttle

FAILURE_WINDOW = 15 * 60     # failures older than this are forgotten
SLOW_AFTER = 5               # from the 6th attempt on, each waits DELAY_FIRST, doubling...
DELAY_FIRST, DELAY_MAX = 0.5, 5.0   # ...up to DELAY_MAX seconds
BAN_AFTER = 10               # then the client IP is refused for BAN_SECONDS
USER_BAN_AFTER = 50          # a username is refused only after this many (from any IPs)
BAN_SECONDS = 15 * 60
MAX_SOURCES = 10_000         # the bookkeeping is bounded: the oldest source is dropped
MAX_WAITERS = 8              # at most this many threads sleep a delay at once


@dataclass
class _Record:
    failures: list[float]
    banned_until: float = 0.0


class LoginThrottle:
    """Failed logins, per client IP and per username: slowed, then refused for a while.

    After ``SLOW_AFTER`` failures within ``FAILURE_WINDOW`` each further attempt
    waits (0.5 s doubling, at most 5 s, through the injected clock); after
    ``BAN_AFTER`` failures from one IP that IP is refused for ``BAN_SECONDS``
    even with the right password. A username is slowed alike but refused only
    after ``USER_BAN_AFTER`` failures, so a stranger cannot lock the owner out
    from their own address with a handful of guesses. A success resets the
    IP's and the username's count. State is in memory, at most ``MAX_SOURCES``
    keys (least recently touched dropped first); at most ``MAX_WAITERS`` threads
    wait at once, further slowed attempts are refused (``refused`` > 0) instead
    of holding more server threads.
    """

    def __init__(self, clock: Clock, *, max_sources: int = MAX_SOURCES) -> None:
        self._clock = clock
        # least recently touched dropped first (cachetools: the project's one LRU type)
        self._records: LRUCache[tuple[str, str], _Record] = LRUCache(max_sources)
        self._lock = threading.Lock()
        self._waiters = threading.BoundedSemaphore(MAX_WAITERS)

    @staticmethod
    def _keys(source: str, username: str) -> list[tuple[tuple[str, str], int]]:
        keys = [(("ip", source), BAN_AFTER)]
        if username:
            keys.append((("user", username), USER_BAN_AFTER))
        return keys

    def _get(self, key: tuple[str, str], now: float) -> _Record | None:
        record = self._records.get(key)
        if record is None:
            return None
        if record.banned_until and record.banned_until <= now:
            record.banned_until = 0.0
            record.failures.clear()   # a served ban starts the count again
        record.failures[:] = [t for t in record.failures if t > now - FAILURE_WINDOW]
        return record

    def _known(self, source: str, username: str, now: float) -> list[_Record]:
        """The IP's and the username's records that exist, brought up to ``now`` (lock held)."""
        return [r for key, _ in self._keys(source, username) if (r := self._get(key, now)) is not None]

    def refused(self, source: str, username: str = "") -> float:
        """Seconds left of a ban on this IP or username; 0.0 when the attempt may go on."""
        now = self._clock.now()
        with self._lock:
            return max([0.0] + [r.banned_until - now for r in self._known(source, username, now)])

    def delay(self, source: str, username: str = "") -> float:
        """The pause owed before this attempt is checked (0.0 before ``SLOW_AFTER`` failures)."""
        now = self._clock.now()
        with self._lock:
            failures = max((len(r.failures) for r in self._known(source, username, now)), default=0)
        if failures < SLOW_AFTER:
            return 0.0
        return min(DELAY_FIRST * 2.0 ** (failures - SLOW_AFTER), DELAY_MAX)

    def wait(self, source: str, username: str = "") -> bool:
        """Sleep the owed delay; False (do not check the password) when too many threads already wait."""
        pause = self.delay(source, username)
        if pause <= 0:
            return True
        if not self._waiters.acquire(blocking=False):
            return False
        try:
            self._clock.sleep(pause)
        finally:
            self._waiters.release()
        return True

    def failed(self, source: str, username: str = "") -> None:
        now = self._clock.now()
        with self._lock:
            for key, limit in self._keys(source, username):
                record = self._get(key, now)
                if record is None:
                    record = _Record([])
                self._records[key] = record   # the newest now
                record.failures.append(now)
                if len(record.failures) >= limit:
                    record.banned_until = now + BAN_SECONDS
                del record.failures[:-limit]   # bounded per key too

    def succeeded(self, source: str, username: str = "") -> None:
        with self._lock:
            for key, _ in self._keys(source, username):
                self._records.pop(key, None)


@dataclass
class LoginAttempt:
    """The client a password check is made for: set once per request by the HTTP guard
    (``api.auth.Guard``) or by WebDAV's ``BasicAuth``, read by ``Auth.check_password``,
    so every login path (UI, qBit, SABnzbd's ma_username, WebDAV) is throttled alike."""

    source: str
    refused_for: float = 0.0    # set when a check was refused: seconds left of the ban


_ATTEMPT: ContextVar[LoginAttempt | None] = ContextVar("decypharr_login_attempt", default=None)


def begin_attempt(source: str | None) -> LoginAttempt | None:
    """Start this request's login bookkeeping for client ``source`` (None: unthrottled)."""
    attempt = LoginAttempt(source) if source is not None else None
    _ATTEMPT.set(attempt)
    return attempt


def current_attempt() -> LoginAttempt | None:
    """This request's login bookkeeping, as ``begin_attempt`` set it."""
    return _ATTEMPT.get()
