"""``Auth``: the UI user, the API token, signed links, CSRF tokens and sessions, over the
shared Store and an injected Clock."""

from __future__ import annotations

import hashlib
import hmac
import os
import sqlite3

from gateway.auth.passwords import (
    DUMMY_SALT,
    MAX_PASSWORD,
    SCRYPT_N,
    SCRYPT_P,
    SCRYPT_R,
    AlreadySetUp,
    WrongPassword,
    hash_password,
    new_token,
    scrypt,
    token_digest,
    validate_credentials,
    verify_password,
)
from gateway.auth.throttle import LoginThrottle, current_attempt
from gateway.clock import Clock
from gateway.log import register_secret
from gateway.store import Store

_API_TOKEN = "api_token"
_LINK_KEY = "link_signing_key"
_CSRF_KEY = "csrf_key"


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
        validate_credentials(username, password)
        password_hash = hash_password(password)  # slow: keep it out of the lock
        token = new_token()
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
        attempt = current_attempt()
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
            scrypt(password, DUMMY_SALT, SCRYPT_N, SCRYPT_R, SCRYPT_P)
            return False
        return verify_password(password, str(rows[0][0]))

    def change_password(self, current: str, new: str) -> None:
        """Replace the user's password after checking the current one.

        Raises ``WrongPassword`` for a wrong current password (or no user yet) and
        ``AuthInputError`` when the new one is too short or too long. Sessions stay.
        """
        username = self.username()
        if username is None or not self.check_password(username, current):
            raise WrongPassword("the current password is wrong")
        validate_credentials(username, new)
        password_hash = hash_password(new)  # slow: keep it out of the lock
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
        token = new_token()
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
            conn.execute("INSERT OR IGNORE INTO secrets (name, value) VALUES (?, ?)", (name, new_token()))
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
        token = new_token()
        now = self._clock.now()  # wall clock: expiry must survive a restart
        with self._store.transaction() as conn:
            conn.execute("DELETE FROM sessions WHERE expires <= ?", (now,))  # keeps the table bounded
            conn.execute("INSERT INTO sessions (token_hash, kind, subject, expires) VALUES (?, ?, ?, ?)",
                         (token_digest(token), kind, subject, now + self._ttl))
        return token

    def check_session(self, kind: str, token: str) -> str | None:
        """The session's subject, or None when unknown, of another kind, or expired."""
        if not isinstance(token, str) or not token:
            return None
        key = token_digest(token)
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
                conn.execute("DELETE FROM sessions WHERE token_hash = ?", (token_digest(token),))

    def _extend(self, key: str, expires: float, now: float) -> None:
        # Sessions in use stay alive (as qBit's do), but only once half the TTL
        # is gone, so the *arrs' frequent polls do not each cost a write.
        if expires - now < self._ttl / 2:
            with self._store.transaction() as conn:
                conn.execute("UPDATE sessions SET expires = ? WHERE token_hash = ?", (now + self._ttl, key))


def _put_secret(conn: sqlite3.Connection, name: str, value: str) -> None:
    conn.execute("INSERT OR REPLACE INTO secrets (name, value) VALUES (?, ?)", (name, value))


def _restrict_permissions(path: str) -> None:
    # The API token is stored readable; so is everything in the WAL beside it.
    for candidate in (path, path + "-wal", path + "-shm"):
        if os.path.exists(candidate):
            os.chmod(candidate, 0o600)
