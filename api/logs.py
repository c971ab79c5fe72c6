"""``GET /api/logs`` (stub: built by the logging work)."""

from __future__ import annotations

import bottle


def make_logs_app() -> bottle.Bottle:
    return bottle.Bottle()
