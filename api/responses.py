"""JSON answers and the one error → HTTP table for the Bottle apps."""

from __future__ import annotations

import json
import logging
from typing import Any

import bottle

from gateway import errors

log = logging.getLogger(__name__)


class ApiError(Exception):
    """Raised by handlers: becomes ``{"error": message, "code": status}``."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


# Exception type → HTTP status; the first match in order wins.
ERROR_TABLE: tuple[tuple[type[BaseException], int], ...] = (
    (ApiError, 0),
    (FileNotFoundError, 404),
    (NotADirectoryError, 404),
    (IsADirectoryError, 400),
    (PermissionError, 403),
    (errors.ConfigError, 400),
    (errors.NotFound, 404),
    (errors.FileGone, 502),
    (errors.AuthError, 502),
    (errors.RateLimited, 503),
    (errors.QuotaExceeded, 503),
    (errors.Unavailable, 503),
    (errors.BadRequest, 400),
    (errors.ProviderError, 502),
)

_MESSAGES = {404: "not found", 400: "bad request", 403: "forbidden"}


def status_for(exc: BaseException) -> tuple[int, str]:
    """(HTTP status, safe message) for an exception; unknown ones are 500."""
    if isinstance(exc, ApiError):
        return exc.status, exc.message
    for cls, status in ERROR_TABLE:
        if isinstance(exc, cls):
            if isinstance(exc, OSError):
                return status, _MESSAGES.get(status, "error")
            return status, str(exc)
    return 500, "internal error"


def json_body(obj: Any, status: int = 200) -> bottle.HTTPResponse:
    """A JSON answer; Bottle's own JSON handling covers dicts only, so lists come here too."""
    body = json.dumps(obj, ensure_ascii=False, separators=(",", ":"))
    return bottle.HTTPResponse(body, status=status, headers={"Content-Type": "application/json"})


def json_error(status: int, message: str) -> bottle.HTTPResponse:
    return json_body({"error": message, "code": status}, status)
