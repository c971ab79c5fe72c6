"""Premiumize API over the emulator world (stub: routes come with the premiumize work)."""

from __future__ import annotations

from typing import Any

import bottle

from .front import Front
from .model import PM
from .world import World

PREFIXES = ("/api",)


def extract_token(environ: dict[str, Any]) -> str | None:
    auth = environ.get("HTTP_AUTHORIZATION", "")
    if auth[:7].lower() == "bearer ":
        return auth[7:].strip() or None
    return None


def _error_shape(world: World, status: int, code: Any, message: str) -> tuple[int, Any]:
    """PM: ``{"status": "error", "message": ...}``, always HTTP 200 (Cloudflare 5xx aside)."""
    return status or 200, {"status": "error", "message": message or str(code or "error")}


def mount(app: bottle.Bottle, world: World) -> None:
    pass


FRONT = Front(key=PM, prefixes=PREFIXES, mount=mount, extract_token=extract_token, error=_error_shape)
