"""The web UI: server-rendered page shells (Bottle templates) over the JSON API.

Every page is a GET route returning HTML; its data comes from the JSON API,
fetched by a little plain JavaScript with the session cookie. Assets are served
from ``api/static`` under ``url_base``; nothing comes from elsewhere. Output is
escaped: templates use ``{{ }}``, the scripts set ``textContent`` only, and the
Content-Security-Policy allows no inline script at all.

The guard (``api.auth.Guard``) lets ``/``, ``/setup``, ``/login`` and the static
files through; a browser without a session on any other page is sent to
``/login?next=...``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from typing import Any

import bottle

from api.auth import UI_COOKIE, read_json, script_prefix
from api.config_schema import provider_names, settings_schema
from api.web import api_errors
from gateway import __version__
from gateway.auth import Auth
from gateway.config import DOWNLOAD_ACTIONS, Config

HERE = os.path.dirname(os.path.abspath(__file__))
TEMPLATES = [os.path.join(HERE, "templates")]
STATIC = os.path.join(HERE, "static")
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; media-src 'self'; "
       "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'")
NAV = (("dashboard", "Dashboard"), ("add", "Add"), ("browse", "Browse"), ("repair", "Repair"),
       ("stats", "Stats"), ("logs", "Logs"), ("settings", "Settings"))

def _data_json(obj: Any) -> str:
    """JSON safe inside an HTML element (a <script type="application/json"> data block)."""
    return json.dumps(obj).replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def render(name: str, title: str, **values: Any) -> bottle.HTTPResponse:
    """One page through the base template, with the headers every page carries."""
    prefix = script_prefix(bottle.request)
    values.setdefault("user", "")
    values.setdefault("active", name)
    values.setdefault("nav", True)
    values.setdefault("csrf", "")   # the session's CSRF token (<meta name="csrf-token">), sent by app.js
    body = bottle.template(name, template_lookup=TEMPLATES, title=title, prefix=prefix, version=__version__,
                           nav_items=NAV, **values)
    return bottle.HTTPResponse(body, status=200, headers={
        "Content-Type": "text/html; charset=utf-8", "Content-Security-Policy": CSP,
        "X-Content-Type-Options": "nosniff", "X-Frame-Options": "DENY", "Referrer-Policy": "same-origin",
        "Cache-Control": "no-store"})


def _redirect(path: str) -> bottle.HTTPResponse:
    return bottle.HTTPResponse(status=302, headers={"Location": script_prefix(bottle.request) + path})


def _session_user(auth: Auth) -> str | None:
    token = bottle.request.get_cookie(UI_COOKIE) or ""
    return auth.check_session("ui", token) if token else None


def _csrf(auth: Auth) -> str:
    """The CSRF token of this request's UI session; '' without a (valid) session."""
    token = bottle.request.get_cookie(UI_COOKIE) or ""
    return auth.csrf_token(token) if token and auth.check_session("ui", token) else ""


def _safe_next(raw: str, prefix: str) -> str:
    """Only a path on this site: no scheme, no host, no protocol-relative '//'."""
    if raw.startswith("/") and not raw.startswith(("//", "/\\")) and all(c.isprintable() for c in raw):
        return raw
    return prefix + "/dashboard"


def login_page(auth: Auth, use_auth: bool) -> bottle.HTTPResponse:
    """``GET /login`` for a browser (api.auth keeps the JSON answer for other clients)."""
    prefix = script_prefix(bottle.request)
    if not auth.has_user():
        return _redirect("/setup")
    target = _safe_next(bottle.request.query.getunicode("next", "") or "", prefix)
    if not use_auth or _session_user(auth):
        return bottle.HTTPResponse(status=302, headers={"Location": target})
    return render("login", "Log in", next_url=target, nav=False)


def make_ui_app(config: Config, auth: Auth, check_debrid: Callable[[dict[str, Any]], dict[str, Any]],
                check_usenet: Callable[[dict[str, Any]], dict[str, Any]] | None = None) -> bottle.Bottle:
    app = bottle.Bottle()

    def user() -> str:
        return _session_user(auth) or auth.username() or ""

    def root() -> Any:
        if not auth.has_user():
            return _redirect("/setup")
        if config.use_auth and not _session_user(auth):
            return _redirect("/login?next=" + script_prefix(bottle.request) + "/dashboard")
        return _redirect("/dashboard")

    def setup() -> Any:
        if auth.has_user() and config.use_auth and not _session_user(auth):
            return _redirect("/login?next=" + script_prefix(bottle.request) + "/setup")
        return render("setup", "Setup", user=user(), csrf=_csrf(auth), needs_setup=not auth.has_user(), providers=provider_names(),
                      download_folder=config.download_folder, mount_path=config.mount.mount_path,
                      nav=auth.has_user(), usenet_schema=_data_json(settings_schema()["usenet"]),
                      configured=[(d.name, d.provider) for d in config.debrids])

    def page(name: str, title: str, **values: Any) -> Callable[[], Any]:
        def handler() -> Any:
            return render(name, title, user=user(), csrf=_csrf(auth), **values)
        return handler

    def debrid_check() -> Any:
        body = read_json(bottle.request)
        if str(body.get("provider", "")) not in provider_names():
            return {"ok": False, "error": f"provider must be one of {', '.join(provider_names())}"}
        if not str(body.get("api_key", "")).strip():
            return {"ok": False, "error": "enter the account's API key"}
        return check_debrid(body)

    def usenet_check() -> Any:
        """A live NNTP login with the given server (the setup and settings pages' "Check")."""
        body = read_json(bottle.request)
        if not str(body.get("host", "")).strip():
            return {"ok": False, "error": "enter the server's host"}
        if check_usenet is None:
            return {"ok": False, "error": "usenet checks are not available"}
        return check_usenet(body)

    def static(name: str) -> Any:
        answer = bottle.static_file(name, root=STATIC)
        answer.set_header("Cache-Control", "no-cache")
        answer.set_header("X-Content-Type-Options", "nosniff")
        return answer

    app.route("/", "GET", root)
    app.route("/setup", "GET", setup)
    app.route("/dashboard", "GET", page("dashboard", "Dashboard", categories=list(config.categories)))
    app.route("/add", "GET", page("add", "Add", categories=list(config.categories),
                                  debrids=[d.name for d in config.debrids], actions=DOWNLOAD_ACTIONS,
                                  default_action=config.default_download_action))
    app.route("/browse", "GET", page("browse", "Browse", webdav=not config.disable_webdav,
                                     webdav_auth=config.use_auth or config.enable_webdav_auth))
    app.route("/repair", "GET", page("repair", "Repair", arrs=[a.name for a in config.arrs]))
    app.route("/settings", "GET", page("settings", "Settings", schema=_data_json(settings_schema()),
                                       usenet_schema=_data_json(settings_schema()["usenet"])))   # usenet-servers.js
    app.route("/stats", "GET", page("stats", "Stats"))
    app.route("/logs", "GET", page("logs", "Logs"))
    app.route("/static/<name:path>", "GET", static)   # Bottle answers HEAD from GET routes
    app.route("/api/setup/debrid-check", "POST", api_errors(debrid_check))
    app.route("/api/setup/usenet-check", "POST", api_errors(usenet_check))
    return app
