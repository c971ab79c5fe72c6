"""The gateway's own credentials: the UI user, the API token, login sessions.

Everything lives in the Store (migration 2). Passwords are scrypt hashes and
session tokens are stored as SHA-256 digests, so a leaked database opens no
session. The API token is the exception: Settings → Auth must show it, so it
is stored as is, and the database file is made readable by its owner only.
Every comparison of a secret is constant-time; no secret is ever logged.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import sqlite3
import threading
from contextvars import ContextVar
from dataclasses import dataclass

from cachetools import LRUCache

from gateway.clock import Clock
from gateway.errors import GatewayError
from gateway.log import register_secret
from gateway.store import Store

SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1
_SALT_BYTES = 16
_HASH_BYTES = 32
_SCRYPT_MAXMEM = 64 * 1024 * 1024
_API_TOKEN = "api_token"
_LINK_KEY = "link_signing_key"
_CSRF_KEY = "csrf_key"
# A check for an unknown user still runs scrypt once, against this, so the
# answer takes as long as for a real user.
_DUMMY_SALT = b"decypharr-dummy!"
MIN_PASSWORD, MAX_PASSWORD = 8, 1024
MAX_USERNAME = 64


class AlreadySetUp(GatewayError):
    """First-run setup was attempted after a user exists (answered 409)."""


class AuthInputError(GatewayError, ValueError):
    """Setup input is invalid; the message says what to fix (answered 400)."""


class WrongPassword(GatewayError):
    """A password change gave the wrong current password (answered 401)."""


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

    def refused(self, source: str, username: str = "") -> float:
        """Seconds left of a ban on this IP or username; 0.0 when the attempt may go on."""
        now = self._clock.now()
        with self._lock:
            left = 0.0
            for key, _ in self._keys(source, username):
                record = self._get(key, now)
                if record is not None and record.banned_until > now:
                    left = max(left, record.banned_until - now)
            return left

    def delay(self, source: str, username: str = "") -> float:
        """The pause owed before this attempt is checked (0.0 before ``SLOW_AFTER`` failures)."""
        now = self._clock.now()
        with self._lock:
            failures = 0
            for key, _ in self._keys(source, username):
                record = self._get(key, now)
                if record is not None:
                    failures = max(failures, len(record.failures))
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


class Auth:
    """Users, the API token and sessions, over the shared Store and an injected Clock."""

    def __init__(self, store: Store, clock: Clock, *, session_ttl: float = 30 * 86400,
                 throttle: LoginThrottle | None = None) -> None:
        self._store = store
        self._clock = clock
        self._ttl = session_ttl
        self.throttle = throttle if throttle is not None else LoginThrottle(clock)
        _restrict_permissions(store.path)
        register_secret(self.api_token())   # never in a log line, whatever prints it

    # ------------------------------------------------------------- users

    def has_user(self) -> bool:
        return bool(self._store.query("SELECT 1 FROM users LIMIT 1"))

    def username(self) -> str | None:
        """The UI user's name (there is one), for `GET /api/auth`."""
        rows = self._store.query("SELECT username FROM users ORDER BY created LIMIT 1")
        return str(rows[0][0]) if rows else None

    def setup(self, username: str, password: str) -> str:
        """First run: create the user and an API token, and return the token."""
        # Installed means installed: 409 before looking at the input at all.
        if self.has_user():  # cheap early answer; the transaction below decides
            raise AlreadySetUp("a user already exists")
        _validate(username, password)
        password_hash = _hash_password(password)  # slow: keep it out of the lock
        token = _new_token()
        with self._store.transaction() as conn:
            if conn.execute("SELECT 1 FROM users LIMIT 1").fetchone():
                raise AlreadySetUp("a user already exists")
            conn.execute("INSERT INTO users (username, password_hash, created) VALUES (?, ?, ?)",
                         (username, password_hash, self._clock.now()))
            _put_secret(conn, _API_TOKEN, token)
        _restrict_permissions(self._store.path)
        register_secret(token)
        return token

    def check_password(self, username: str, password: str) -> bool:
        """True for the user's password. Inside a request (``begin_attempt``) the check
        is throttled: refused outright while the client is banned (``refused_for`` is
        set on the attempt), delayed after repeated failures, and its outcome counted."""
        attempt = _ATTEMPT.get()
        if attempt is None:
            return self._check_password(username, password)
        name = username if isinstance(username, str) else ""
        left = self.throttle.refused(attempt.source, name)
        if left > 0 or not self.throttle.wait(attempt.source, name):
            attempt.refused_for = max(left, 1.0)
            return False
        ok = self._check_password(username, password)
        if ok:
            self.throttle.succeeded(attempt.source, name)
        else:
            self.throttle.failed(attempt.source, name)
        return ok

    def _check_password(self, username: str, password: str) -> bool:
        if not isinstance(username, str) or not isinstance(password, str) or len(password) > MAX_PASSWORD:
            return False
        rows = self._store.query("SELECT password_hash FROM users WHERE username = ?", (username,))
        if not rows:
            _scrypt(password, _DUMMY_SALT, SCRYPT_N, SCRYPT_R, SCRYPT_P)
            return False
        return _verify_password(password, str(rows[0][0]))

    def change_password(self, current: str, new: str) -> None:
        """Replace the user's password after checking the current one.

        Raises ``WrongPassword`` for a wrong current password (or no user yet) and
        ``AuthInputError`` when the new one is too short or too long. Sessions stay.
        """
        username = self.username()
        if username is None or not self.check_password(username, current):
            raise WrongPassword("the current password is wrong")
        _validate(username, new)
        password_hash = _hash_password(new)  # slow: keep it out of the lock
        with self._store.transaction() as conn:
            conn.execute("UPDATE users SET password_hash = ? WHERE username = ?", (password_hash, username))

    # --------------------------------------------------------- API token

    def api_token(self) -> str | None:
        rows = self._store.query("SELECT value FROM secrets WHERE name = ?", (_API_TOKEN,))
        return str(rows[0][0]) if rows else None

    def check_api_token(self, candidate: str) -> bool:
        token = self.api_token()
        if not token or not isinstance(candidate, str) or not candidate:
            return False
        return hmac.compare_digest(candidate.encode(), token.encode())

    def refresh_api_token(self) -> str:
        """Replace the token; the old one fails from the moment this returns."""
        token = _new_token()
        with self._store.transaction() as conn:
            _put_secret(conn, _API_TOKEN, token)
        register_secret(token)
        return token

    # ------------------------------------------------------ signed links

    def sign(self, path: str) -> str:
        """A signature that lets one URL path be fetched without credentials.

        Used for the streaming URLs inside .strm files: a media player cannot
        send a Bearer token. The key is a server secret of its own, so
        refreshing the API token does not break every .strm in the library.
        """
        return hmac.new(self._link_key(), path.encode("utf-8"), hashlib.sha256).hexdigest()[:32]

    def check_signature(self, path: str, signature: str) -> bool:
        if not isinstance(signature, str) or len(signature) != 32:
            return False
        return hmac.compare_digest(self.sign(path), signature)

    def _link_key(self) -> bytes:
        return self._server_key(_LINK_KEY)

    def _server_key(self, name: str) -> bytes:
        rows = self._store.query("SELECT value FROM secrets WHERE name = ?", (name,))
        if rows:
            return str(rows[0][0]).encode()
        with self._store.transaction() as conn:
            conn.execute("INSERT OR IGNORE INTO secrets (name, value) VALUES (?, ?)", (name, _new_token()))
        return self._server_key(name)

    # -------------------------------------------------------------- CSRF

    def csrf_token(self, session: str) -> str:
        """The CSRF token of a UI session: an HMAC of the session token under a server
        secret of its own, so it is stable for the session and useless without it."""
        return hmac.new(self._server_key(_CSRF_KEY), session.encode("utf-8"), hashlib.sha256).hexdigest()

    def check_csrf(self, session: str, candidate: str) -> bool:
        if not isinstance(session, str) or not session or not isinstance(candidate, str) or len(candidate) != 64:
            return False
        return hmac.compare_digest(self.csrf_token(session), candidate)

    # ---------------------------------------------------------- sessions

    def create_session(self, kind: str, subject: str) -> str:
        """A new opaque session token ("ui" or "qbit"); only its SHA-256 is stored."""
        token = _new_token()
        now = self._clock.now()  # wall clock: expiry must survive a restart
        with self._store.transaction() as conn:
            conn.execute("DELETE FROM sessions WHERE expires <= ?", (now,))  # keeps the table bounded
            conn.execute("INSERT INTO sessions (token_hash, kind, subject, expires) VALUES (?, ?, ?, ?)",
                         (_digest(token), kind, subject, now + self._ttl))
        return token

    def check_session(self, kind: str, token: str) -> str | None:
        """The session's subject, or None when unknown, of another kind, or expired."""
        if not isinstance(token, str) or not token:
            return None
        key = _digest(token)
        rows = self._store.query("SELECT kind, subject, expires FROM sessions WHERE token_hash = ?", (key,))
        if not rows or rows[0][0] != kind:
            return None
        subject, expires = str(rows[0][1]), float(rows[0][2])
        now = self._clock.now()
        if expires <= now:
            self.drop_session(token)
            return None
        self._extend(key, expires, now)
        return subject

    def drop_session(self, token: str) -> None:
        if isinstance(token, str) and token:
            with self._store.transaction() as conn:
                conn.execute("DELETE FROM sessions WHERE token_hash = ?", (_digest(token),))

    def _extend(self, key: str, expires: float, now: float) -> None:
        # Sessions in use stay alive (as qBit's do), but only once half the TTL
        # is gone, so the *arrs' frequent polls do not each cost a write.
        if expires - now < self._ttl / 2:
            with self._store.transaction() as conn:
                conn.execute("UPDATE sessions SET expires = ? WHERE token_hash = ?", (now + self._ttl, key))


# ------------------------------------------------------------------ helpers


def _validate(username: str, password: str) -> None:
    if not isinstance(username, str) or not 1 <= len(username) <= MAX_USERNAME:
        raise AuthInputError(f"username must be 1 to {MAX_USERNAME} characters")
    if not username.isprintable() or username != username.strip():
        raise AuthInputError("username must be printable, without leading or trailing spaces")
    if ":" in username:
        # HTTP Basic (WebDAV auth) splits user:password at the first colon.
        raise AuthInputError("username must not contain ':'")
    if not isinstance(password, str) or not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        raise AuthInputError(f"password must be {MIN_PASSWORD} to {MAX_PASSWORD} characters")


def _new_token() -> str:
    return secrets.token_urlsafe(32)


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _put_secret(conn: sqlite3.Connection, name: str, value: str) -> None:
    conn.execute("INSERT OR REPLACE INTO secrets (name, value) VALUES (?, ?)", (name, value))


def _scrypt(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    # A fixed memory cap: parameters read back from a corrupt row fail (ValueError)
    # instead of allocating without bound.
    return hashlib.scrypt(password.encode(), salt=salt, n=n, r=r, p=p, dklen=_HASH_BYTES, maxmem=_SCRYPT_MAXMEM)


def _hash_password(password: str) -> str:
    salt = os.urandom(_SALT_BYTES)
    digest = _scrypt(password, salt, SCRYPT_N, SCRYPT_R, SCRYPT_P)
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${salt.hex()}${digest.hex()}"


def _verify_password(password: str, stored: str) -> bool:
    """Check against "scrypt$n$r$p$salthex$hashhex", using the parameters stored with it."""
    try:
        scheme, n, r, p, salt, expected = stored.split("$")
        if scheme != "scrypt":
            return False
        digest = _scrypt(password, bytes.fromhex(salt), int(n), int(r), int(p))
        return hmac.compare_digest(digest, bytes.fromhex(expected))
    except ValueError:  # a corrupt row never logs anyone in
        return False


def _restrict_permissions(path: str) -> None:
    # The API token is stored readable; so is everything in the WAL beside it.
    for candidate in (path, path + "-wal", path + "-shm"):
        if os.path.exists(candidate):
            os.chmod(candidate, 0o600)
