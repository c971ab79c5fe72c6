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
from api.web import api_errors
from gateway import __version__
from gateway.auth import Auth
from gateway.config import DOWNLOAD_ACTIONS, FOLDER_NAMINGS, LOG_LEVELS, PROVIDERS, Config

HERE = os.path.dirname(os.path.abspath(__file__))
TEMPLATES = [os.path.join(HERE, "templates")]
STATIC = os.path.join(HERE, "static")
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; media-src 'self'; "
       "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'")
NAV = (("dashboard", "Dashboard"), ("add", "Add"), ("browse", "Browse"), ("repair", "Repair"),
       ("stats", "Stats"), ("logs", "Logs"), ("settings", "Settings"))

# Settings → one form field per config key. "now": applies at once; the rest need a restart.
# kind: str, int, bool, size, duration, list, choice, json, opt_int, opt_bool; "default" is the
# value posted when the field is emptied (and the placeholder shown).
SETTINGS: list[dict[str, Any]] = [
    {"section": "General", "fields": [
        {"key": "log_level", "kind": "choice", "choices": list(LOG_LEVELS), "default": "info", "now": True},
        {"key": "bind_address", "kind": "str", "default": "0.0.0.0"},
        {"key": "port", "kind": "int", "default": 8282},
        {"key": "url_base", "kind": "str", "default": "/", "help": "the path the gateway is served under"},
        {"key": "use_auth", "kind": "bool", "default": True},
        {"key": "enable_webdav_auth", "kind": "bool", "default": False},
        {"key": "disable_webdav", "kind": "bool", "default": False},
    ]},
    {"section": "Imports", "fields": [
        {"key": "download_folder", "kind": "str", "default": "", "help": "where symlinks, .strm files and downloads go"},
        {"key": "categories", "kind": "list", "default": ["sonarr", "radarr"]},
        {"key": "default_download_action", "kind": "choice", "choices": list(DOWNLOAD_ACTIONS), "default": "symlink"},
        {"key": "refresh_interval", "kind": "duration", "default": "10s"},
        {"key": "max_active_downloads", "kind": "int", "default": 5},
        {"key": "allowed_file_types", "kind": "list", "default": []},
        {"key": "min_file_size", "kind": "size", "default": ""},
        {"key": "max_file_size", "kind": "size", "default": ""},
        {"key": "allow_samples", "kind": "bool", "default": False},
        {"key": "unpack_archives", "kind": "bool", "default": True,
         "help": "show the files inside a torrent's stored RAR/7z set instead of its volumes"},
        {"key": "folder_naming", "kind": "choice", "choices": list(FOLDER_NAMINGS), "default": "filename"},
        {"key": "custom_folders", "kind": "json", "default": {},
         "help": 'JSON: {"name": {"filters": {"include": "..."}}}'},
    ]},
    {"section": "Repair", "fields": [
        {"key": "repair.enabled", "kind": "bool", "default": False},
        {"key": "repair.interval", "kind": "duration", "default": "1d"},
        {"key": "repair.auto_process", "kind": "bool", "default": False},
        {"key": "repair.workers", "kind": "int", "default": 4},
    ]},
    {"section": "Mount", "fields": [
        {"key": "mount.type", "kind": "choice", "choices": ["none", "fuse"], "default": "none"},
        {"key": "mount.mount_path", "kind": "str", "default": ""},
        {"key": "mount.cache_dir", "kind": "str", "default": ""},
        {"key": "mount.chunk_size", "kind": "size", "default": "8MB"},
        {"key": "mount.read_ahead_size", "kind": "size", "default": "64MB"},
        {"key": "mount.disk_cache_size", "kind": "size", "default": "5GB"},
        {"key": "mount.cache_expiry", "kind": "duration", "default": "1d"},
        {"key": "mount.uid", "kind": "int", "default": -1},
        {"key": "mount.gid", "kind": "int", "default": -1},
        {"key": "mount.umask", "kind": "str", "default": "022"},
        {"key": "mount.allow_other", "kind": "bool", "default": False},
    ]},
    {"section": "Notifications", "fields": [
        {"key": "notifications.enabled", "kind": "bool", "default": False, "now": True},
        {"key": "notifications.webhook_url", "kind": "str", "default": "", "now": True},
        {"key": "notifications.callback_url", "kind": "str", "default": "", "now": True},
        {"key": "notifications.events", "kind": "list", "default": [], "now": True},
    ]},
]
DEBRID_FIELDS: list[dict[str, Any]] = [
    {"key": "name", "kind": "str", "default": ""},
    {"key": "provider", "kind": "choice", "choices": list(PROVIDERS), "default": "realdebrid"},
    {"key": "api_key", "kind": "secret", "default": ""},
    {"key": "download_api_keys", "kind": "list", "default": [], "secret": True},
    {"key": "api_url", "kind": "str", "default": ""},
    {"key": "rate_limit", "kind": "str", "default": "", "help": "e.g. 250/minute, or off; empty: the provider's"},
    {"key": "download_uncached", "kind": "bool", "default": False},
    {"key": "torrents_refresh_interval", "kind": "duration", "default": "5m"},
    {"key": "download_links_refresh_interval", "kind": "duration", "default": "10m"},
    {"key": "auto_expire_links_after", "kind": "duration", "default": "1d"},
    {"key": "proxy", "kind": "str", "default": ""},
    {"key": "user_agent", "kind": "str", "default": ""},
    {"key": "priority", "kind": "opt_int", "default": None},
]
ARR_FIELDS: list[dict[str, Any]] = [
    {"key": "name", "kind": "str", "default": ""},
    {"key": "host", "kind": "str", "default": ""},
    {"key": "token", "kind": "secret", "default": ""},
    {"key": "skip_repair", "kind": "bool", "default": False},
    {"key": "download_uncached", "kind": "opt_bool", "default": None},
    {"key": "selected_debrid", "kind": "str", "default": ""},
]


def settings_schema() -> dict[str, Any]:
    return {"sections": SETTINGS, "debrids": DEBRID_FIELDS, "arrs": ARR_FIELDS}


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


def make_ui_app(config: Config, auth: Auth, check_debrid: Callable[[dict[str, Any]], dict[str, Any]]) -> bottle.Bottle:
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
        return render("setup", "Setup", user=user(), csrf=_csrf(auth), needs_setup=not auth.has_user(), providers=PROVIDERS,
                      download_folder=config.download_folder, mount_path=config.mount.mount_path,
                      nav=auth.has_user())

    def page(name: str, title: str, **values: Any) -> Callable[[], Any]:
        def handler() -> Any:
            return render(name, title, user=user(), csrf=_csrf(auth), **values)
        return handler

    def debrid_check() -> Any:
        body = read_json(bottle.request)
        if str(body.get("provider", "")) not in PROVIDERS:
            return {"ok": False, "error": f"provider must be one of {', '.join(PROVIDERS)}"}
        if not str(body.get("api_key", "")).strip():
            return {"ok": False, "error": "enter the account's API key"}
        return check_debrid(body)

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
    app.route("/settings", "GET", page("settings", "Settings", schema=_data_json(settings_schema())))
    app.route("/stats", "GET", page("stats", "Stats"))
    app.route("/logs", "GET", page("logs", "Logs"))
    app.route("/static/<name:path>", "GET", static)   # Bottle answers HEAD from GET routes
    app.route("/api/setup/debrid-check", "POST", api_errors(debrid_check))
    return app
