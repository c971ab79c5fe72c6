"""The web UI (stub: built by the UI work)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import bottle

from gateway.auth import Auth
from gateway.config import Config


def make_ui_app(config: Config, auth: Auth, check_debrid: Callable[[dict[str, Any]], dict[str, Any]]) -> bottle.Bottle:
    return bottle.Bottle()
