"""Credentials: user input checks, scrypt password hashes, session tokens and their
digests, and the errors a bad one raises."""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets

from gateway.errors import GatewayError

SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1
_SALT_BYTES = 16
_HASH_BYTES = 32
_SCRYPT_MAXMEM = 64 * 1024 * 1024
# A check for an unknown user still runs scrypt once, against this, so the
# answer takes as long as for a real user.
DUMMY_SALT = b"decypharr-dummy!"
MIN_PASSWORD, MAX_PASSWORD = 8, 1024
MAX_USERNAME = 64


class AlreadySetUp(GatewayError):
    """First-run setup was attempted after a user exists (answered 409)."""


class AuthInputError(GatewayError, ValueError):
    """Setup input is invalid; the message says what to fix (answered 400)."""


class WrongPassword(GatewayError):
    """A password change gave the wrong current password (answered 401)."""


def validate_credentials(username: str, password: str) -> None:
    if not isinstance(username, str) or not 1 <= len(username) <= MAX_USERNAME:
        raise AuthInputError(f"username must be 1 to {MAX_USERNAME} characters")
    if not username.isprintable() or username != username.strip():
        raise AuthInputError("username must be printable, without leading or trailing spaces")
    if ":" in username:
        # HTTP Basic (WebDAV auth) splits user:password at the first colon.
        raise AuthInputError("username must not contain ':'")
    if not isinstance(password, str) or not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        raise AuthInputError(f"password must be {MIN_PASSWORD} to {MAX_PASSWORD} characters")


def new_token() -> str:
    return secrets.token_urlsafe(32)


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def scrypt(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    # A fixed memory cap: parameters read back from a corrupt row fail (ValueError)
    # instead of allocating without bound.
    return hashlib.scrypt(password.encode(), salt=salt, n=n, r=r, p=p, dklen=_HASH_BYTES, maxmem=_SCRYPT_MAXMEM)


def hash_password(password: str) -> str:
    salt = os.urandom(_SALT_BYTES)
    digest = scrypt(password, salt, SCRYPT_N, SCRYPT_R, SCRYPT_P)
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${salt.hex()}${digest.hex()}"


def verify_password(password: str, stored: str) -> bool:
    """Check against "scrypt$n$r$p$salthex$hashhex", using the parameters stored with it."""
    try:
        scheme, n, r, p, salt, expected = stored.split("$")
        if scheme != "scrypt":
            return False
        digest = scrypt(password, bytes.fromhex(salt), int(n), int(r), int(p))
        return hmac.compare_digest(digest, bytes.fromhex(expected))
    except ValueError:  # a corrupt row never logs anyone in
        return False
