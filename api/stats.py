"""``GET /api/stats``: streaming and cache counters, behind the guard like every non-public route.

The figures are assembled by the composition root (gateway/app/figures.py) from the
streamer, the chunk cache, the active-streams registry and the mount; this
app only serves them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import bottle

from api.responses import json_body
from api.web import api_errors


def make_stats_app(stats: Callable[[], dict[str, Any]]) -> bottle.Bottle:
    app = bottle.Bottle()
    app.route("/api/stats", "GET", api_errors(lambda: json_body(stats())))
    return app


def make_stats_history_app(history: Callable[[], dict[str, Any]]) -> bottle.Bottle:
    """``GET /api/stats/history``: each account's budget, one sample a minute over the last hour."""
    app = bottle.Bottle()
    app.route("/api/stats/history", "GET", api_errors(lambda: json_body(history())))
    return app
