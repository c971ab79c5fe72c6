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


class Auth:
    """Users, the API token and sessions, over the shared Store and an injected Clock."""

    def __init__(self, store: Store, clock: Clock, *, session_ttl: float = 30 * 86400) -> None:
        self._store = store
        self._clock = clock
        self._ttl = session_ttl
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
        rows = self._store.query("SELECT value FROM secrets WHERE name = ?", (_LINK_KEY,))
        if rows:
            return str(rows[0][0]).encode()
        with self._store.transaction() as conn:
            conn.execute("INSERT OR IGNORE INTO secrets (name, value) VALUES (?, ?)", (_LINK_KEY, _new_token()))
        return self._link_key()

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
