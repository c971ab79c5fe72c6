"""``GET /api/openapi.json`` (stub: built by the OpenAPI work)."""

from __future__ import annotations

import bottle


def make_openapi_app() -> bottle.Bottle:
    return bottle.Bottle()
