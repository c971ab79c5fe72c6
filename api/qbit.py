"""qBittorrent Web API v2 (stub: replaced by the full implementation)."""

from __future__ import annotations

import bottle


def make_qbit_app(**services: object) -> bottle.Bottle:
    return bottle.Bottle()
