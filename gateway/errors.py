"""The gateway's error vocabulary.

Providers and the library raise only these; each frontend maps them once
(WebDAV status, FUSE errno, JSON error) in its own table.
"""

from __future__ import annotations


class GatewayError(Exception):
    """Base of every error the gateway raises on purpose."""


class ConfigError(GatewayError):
    """Invalid configuration; the message names the offending key."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(f"config: {key}: {message}")
        self.key = key


class ProviderError(GatewayError):
    """A provider call failed; ``code`` is the provider's own error name."""

    def __init__(self, message: str, *, code: str = "", status: int = 0) -> None:
        super().__init__(message)
        self.code = code
        self.status = status


class AuthError(ProviderError):
    """The API key is bad, revoked, or the account lost premium."""


class RateLimited(ProviderError):
    """Throttled by the provider (429 / slow down); ``retry_after`` in seconds."""

    def __init__(self, message: str, *, retry_after: float | None = None, code: str = "", status: int = 0) -> None:
        super().__init__(message, code=code, status=status)
        self.retry_after = retry_after


class Unavailable(ProviderError):
    """The provider or network is down: transient, try again later."""


class NotFound(ProviderError):
    """The item (torrent, link, download) is unknown to the provider."""


class FileGone(ProviderError):
    """The file is gone from provider storage (RD hoster_unavailable): repair it."""


class Blocked(ProviderError):
    """Refused for legal or content reasons (RD infringing_file): never retry."""


class QuotaExceeded(ProviderError):
    """Traffic or fair-usage limit of this account: use another key or wait."""


class SlotsFull(ProviderError):
    """Too many active downloads at the provider: queue and retry later."""


class LinkExpired(ProviderError):
    """A CDN link stopped working (404/410/403): unrestrict again."""


class BadRequest(ProviderError):
    """The provider refused the request as malformed (bad magnet, bad file)."""
