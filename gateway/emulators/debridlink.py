"""Debrid-Link API over the emulator world (stub: routes come with the debridlink work)."""

from __future__ import annotations

from typing import Any

import bottle

from .front import Front
from .model import DL
from .world import World

PREFIXES = ("/api/v2",)


def extract_token(environ: dict[str, Any]) -> str | None:
    auth = environ.get("HTTP_AUTHORIZATION", "")
    if auth[:7].lower() == "bearer ":
        return auth[7:].strip() or None
    return None


def _error_shape(world: World, status: int, code: Any, message: str) -> tuple[int, Any]:
    """DL: ``{"success": false, "error": code, "error_description": ...}``."""
    if status == 429:
        code = code or "floodDetected"
    body = {"success": False, "error": str(code or "internalError"), "error_description": message or "error"}
    return status or 400, body


def mount(app: bottle.Bottle, world: World) -> None:
    pass


FRONT = Front(key=DL, prefixes=PREFIXES, mount=mount, extract_token=extract_token, error=_error_shape)
