"""``GET /api/arrs/queue-cleanup``: what *arr queue cleanup did, newest first (contract §9).

The actions are recorded by ``gateway/integrations/queuecleanup.py``; this app only lists them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import bottle

from api.responses import json_body
from api.web import api_errors


def make_queue_cleanup_app(actions: Callable[[], list[dict[str, Any]]]) -> bottle.Bottle:
    app = bottle.Bottle()
    app.route("/api/arrs/queue-cleanup", "GET", api_errors(lambda: json_body({"actions": actions()})))
    return app
