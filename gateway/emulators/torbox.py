"""TorBox API over the emulator world (stub: routes come with the torbox work)."""

from __future__ import annotations

from typing import Any

import bottle

from .front import Front
from .model import TB
from .world import World

PREFIXES = ("/v1/api",)


def extract_token(environ: dict[str, Any]) -> str | None:
    auth = environ.get("HTTP_AUTHORIZATION", "")
    if auth[:7].lower() == "bearer ":
        return auth[7:].strip() or None
    return None


def _error_shape(world: World, status: int, code: Any, message: str) -> tuple[int, Any]:
    """TB: ``{"success": false, "error": CODE, "detail": ..., "data": null}``."""
    if status == 429:
        code = code or "TOO_MANY_REQUESTS"
    body = {"success": False, "error": str(code or "UNKNOWN_ERROR"), "detail": message or "error", "data": None}
    return status or 400, body


def mount(app: bottle.Bottle, world: World) -> None:
    pass


FRONT = Front(key=TB, prefixes=PREFIXES, mount=mount, extract_token=extract_token, error=_error_shape)
