"""AllDebrid API over the emulator world (stub: routes come with the alldebrid work)."""

from __future__ import annotations

from typing import Any

import bottle

from .front import Front
from .model import AD
from .world import World

PREFIXES = ("/v4", "/v4.1")


def extract_token(environ: dict[str, Any]) -> str | None:
    auth = environ.get("HTTP_AUTHORIZATION", "")
    if auth[:7].lower() == "bearer ":
        return auth[7:].strip() or None
    return None


def _error_shape(world: World, status: int, code: Any, message: str) -> tuple[int, Any]:
    """AD: ``{"status": "error", "error": {code, message}}``, HTTP 200 unless told otherwise."""
    if status == 429:
        code = code or "RATE_LIMITED"
    body = {"status": "error", "error": {"code": str(code or "GENERIC"), "message": message or "error"}}
    return status or 200, body


def mount(app: bottle.Bottle, world: World) -> None:
    pass


FRONT = Front(key=AD, prefixes=PREFIXES, mount=mount, extract_token=extract_token, error=_error_shape)
