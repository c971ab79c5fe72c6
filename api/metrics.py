"""``GET /metrics`` (stub: built by the metrics work)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import bottle


def make_metrics_app(figures: Callable[[], dict[str, Any]]) -> bottle.Bottle:
    return bottle.Bottle()


def instrument(app: Any) -> Any:
    return app
