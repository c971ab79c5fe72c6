"""The root Bottle app: public routes, sub-apps merged in, one guard, one error handler.

Every route of every sub-app is merged into this one app, so the single
``before_request`` guard sees every request and no route can be forgotten.
Errors never carry a traceback: handlers raise, the wrapper maps through
``api.responses.ERROR_TABLE``.
"""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Callable
from typing import Any

import bottle

from api.responses import json_body, json_error, status_for
from gateway import __version__

log = logging.getLogger(__name__)

Guard = Callable[[bottle.BaseRequest], None]
MAX_BODY = 32 << 20   # a .torrent is kilobytes; anything this large is refused unread


Render = Callable[[int, str], bottle.HTTPResponse]


def answer_errors(render: Render) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """A handler decorator: any exception becomes ``render(status, message)`` through
    ``api.responses.ERROR_TABLE``, logged once, here; a traceback only at DEBUG."""
    def decorate(func: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            try:
                return func(*args, **kwargs)
            except bottle.HTTPResponse:
                raise
            except Exception as exc:
                status, message = status_for(exc)
                if status >= 500:
                    log.error("%s %s: %s", bottle.request.method, bottle.request.path, exc,
                              exc_info=log.isEnabledFor(logging.DEBUG))
                return render(status, message)
        return wrapper
    return decorate


api_errors = answer_errors(json_error)   # the JSON {"error", "code"} of every /api route


def _default_error(error: bottle.HTTPError) -> str:
    """Bottle's own errors (404 no route, 405, 413, 500) as JSON, never a traceback page."""
    status = error.status_code
    message = {404: "not found", 405: "method not allowed", 413: "request too large"}.get(
        status, "bad request" if status < 500 else "internal error")
    bottle.response.content_type = "application/json"
    return json.dumps({"error": message, "code": status})


def make_web_app(health: Callable[[], dict[str, Any]], subapps: list[bottle.Bottle],
                 guard: Guard | None = None) -> bottle.Bottle:
    app = bottle.Bottle(catchall=True)
    app.config["json.enable"] = True

    @app.get("/version")
    def version() -> Any:
        return json_body({"version": __version__})

    @app.get("/health")
    def health_route() -> Any:
        return json_body(health())

    for sub in subapps:
        app.merge(sub)
    for status in (400, 401, 403, 404, 405, 413, 416, 500):
        app.error_handler[status] = _default_error
    def before() -> None:
        if (bottle.request.content_length or 0) > MAX_BODY:
            raise bottle.HTTPResponse(json_body({"error": "request too large", "code": 413}).body, status=413,
                                      headers={"Content-Type": "application/json", "Connection": "close"})
        if guard is not None:
            guard(bottle.request)

    app.add_hook("before_request", before)
    return app
