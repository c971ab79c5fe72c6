"""``GET /api/logs?lines=N&level=LEVEL&q=TEXT``: the newest log lines from memory, already redacted."""

from __future__ import annotations

import logging
from typing import Any

import bottle

from api.responses import ApiError, json_body
from api.web import api_errors
from gateway.log import MEMORY_LINES, level_number, recent_lines

DEFAULT_LINES = 200
MAX_QUERY = 200


def _lines(raw: str) -> int:
    if raw == "":
        return DEFAULT_LINES
    try:
        lines = int(raw)
    except ValueError:
        raise ApiError(400, f"lines must be a whole number from 1 to {MEMORY_LINES}") from None
    if lines < 1:
        raise ApiError(400, f"lines must be a whole number from 1 to {MEMORY_LINES}")
    return min(lines, MEMORY_LINES)


def _level(raw: str) -> int:
    if raw == "":
        return logging.NOTSET
    number = level_number(raw)
    if number is None:
        raise ApiError(400, "level must be one of debug, info, warning, error, critical")
    return number


def make_logs_app() -> bottle.Bottle:
    app = bottle.Bottle()

    def logs() -> Any:
        query = bottle.request.query
        lines = _lines(query.getunicode("lines", "") or "")
        level = _level(query.getunicode("level", "") or "")
        text = (query.getunicode("q", "") or "")[:MAX_QUERY]
        return json_body({"lines": recent_lines(lines, level, text)})

    app.route("/api/logs", "GET", api_errors(logs))
    return app
