"""What the usenet client raises to the rest of the gateway (the gateway's error vocabulary)."""

from __future__ import annotations

from gateway.errors import NotFound, Unavailable


class ArticleMissing(NotFound):
    """Every server that could be asked said the article is missing (430/423) or damaged (bad CRC)."""

    def __init__(self, message: str, *, message_id: str = "") -> None:
        super().__init__(message, code="article_missing")
        self.message_id = message_id


class UsenetUnavailable(Unavailable):
    """No server could answer (down, login refused, resting after failures, closed); the message says why."""

    def __init__(self, message: str, *, code: str = "usenet_unavailable") -> None:
        super().__init__(message, code=code)


class Cancelled(Exception):
    """A request that nobody waits for any more (a hedge lost, a seek dropped read-ahead). Internal."""
