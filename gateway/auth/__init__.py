"""The gateway's own credentials: the UI user, the API token, login sessions.

Everything lives in the Store (migration 2). Passwords are scrypt hashes and
session tokens are stored as SHA-256 digests, so a leaked database opens no
session. The API token is the exception: Settings → Auth must show it, so it
is stored as is, and the database file is made readable by its owner only.
Every comparison of a secret is constant-time; no secret is ever logged.
"""

from __future__ import annotations

from gateway.auth.passwords import (
    MAX_PASSWORD,
    MAX_USERNAME,
    MIN_PASSWORD,
    AlreadySetUp,
    AuthInputError,
    WrongPassword,
)
from gateway.auth.service import Auth
from gateway.auth.throttle import (
    BAN_AFTER,
    BAN_SECONDS,
    DELAY_FIRST,
    DELAY_MAX,
    FAILURE_WINDOW,
    MAX_SOURCES,
    MAX_WAITERS,
    SLOW_AFTER,
    USER_BAN_AFTER,
    LoginAttempt,
    LoginThrottle,
    begin_attempt,
)

__all__ = [
    "BAN_AFTER", "BAN_SECONDS", "DELAY_FIRST", "DELAY_MAX", "FAILURE_WINDOW", "MAX_PASSWORD", "MAX_SOURCES",
    "MAX_USERNAME", "MAX_WAITERS", "MIN_PASSWORD", "SLOW_AFTER", "USER_BAN_AFTER", "AlreadySetUp", "Auth",
    "AuthInputError", "LoginAttempt", "LoginThrottle", "WrongPassword", "begin_attempt",
]
