"""``GET /api/openapi.json``: an OpenAPI 3.1 document of the gateway's own HTTP API.

Built from a plain dict (no generator): every ``/api`` route but the
qBittorrent Web API (``/api/v2/*``, documented by qBittorrent) and the
SABnzbd form ``/api?mode=`` (documented by SABnzbd, and here at
``/sabnzbd/api``), plus the few routes outside ``/api`` a script needs
(``/version``, ``/health``, ``/login``, ``/logout``, ``/metrics``,
``/sabnzbd/api``). ``tests/integration/test_openapi.py`` checks that the
``/api`` paths and methods here are exactly the app's routes, both ways.
The route sits behind the guard like every ``/api`` route.
"""


from __future__ import annotations

import copy
import json
from typing import Any

import bottle

from api.openapi_build import (
    ANY_OBJECT,
    BOOL,
    JSON,
    STR,
    Schema,
    array,
    json_body,
    json_response,
    obj,
    op,
    path_param,
    query,
    ref,
)
from api.openapi_schemas import SCHEMAS
from gateway import __version__

GUARDED: list[dict[str, list[str]]] = [{"bearer": []}, {"session": []}]


# ------------------------------------------------------------------- paths

TORRENT_HASH = query("hash", STR, "one infohash (one object, 404 unknown)")
BINARY = {"description": "the file's bytes", "content": {"application/octet-stream": {
    "schema": {"type": "string", "contentMediaType": "application/octet-stream"}}}}

_BROWSE_GROUPS = op("List the tree's groups", "browse", {200: json_response("the groups", ref("BrowseGroups"))})
_BROWSE_GROUP = op("List a group's torrent folders", "browse",
                   {200: json_response("one page of the group", ref("BrowseGroup"))}, errors=(400, 404),
                   params=[path_param("group", "a root folder: __all__, __bad__, a category or a custom folder"),
                           query("page", {"type": "integer", "minimum": 1, "default": 1}, "page number"),
                           query("limit", {"type": "integer", "minimum": 1, "maximum": 1000, "default": 100},
                                 "torrents a page"),
                           query("sort_by", {"type": "string", "enum": ["name", "size", "modified", "files"],
                                             "default": "name"}, "sort key"),
                           query("sort_order", {"type": "string", "enum": ["asc", "desc"], "default": "asc"},
                                 "sort order"),
                           query("search", STR, "case-insensitive part of the name")])
_DOWNLOAD_PARAMS = [
    path_param("torrent", "the torrent folder under __all__"),
    path_param("file", "the file's path inside the folder; its '/' separators are sent as they are"),
    query("redirect", {"type": "string", "enum": ["1", "true"]}, "302 to the provider link instead of the bytes"),
    query("sig", STR, "a signed link (as in .strm files): opens this one file without credentials"),
    {"name": "Range", "in": "header", "required": False, "schema": STR, "description": "RFC 9110 byte range"},
    {"name": "If-None-Match", "in": "header", "required": False, "schema": STR},
    {"name": "If-Modified-Since", "in": "header", "required": False, "schema": STR},
    {"name": "If-Range", "in": "header", "required": False, "schema": STR},
]
_DOWNLOAD_OK: dict[int, Schema] = {200: BINARY, 206: {**BINARY, "description": "the requested range"},
                302: {"description": "redirect=1: the provider link", "headers": {"Location": {"schema": STR}}},
                304: {"description": "not modified (If-None-Match, If-Modified-Since)"}}


def _download(method: str) -> Schema:
    operation = op(f"{method} a library file's bytes", "browse", _DOWNLOAD_OK, errors=(400, 404, 416, 502),
                   params=_DOWNLOAD_PARAMS, operation_id=f"download{method.title()}",
                   description="Serves __all__/{torrent}/{file} with Range, ETag, Last-Modified and conditional "
                               "requests; HEAD answers the headers only.")
    operation["security"] = [*GUARDED, {"signedLink": []}]
    return operation


API_PATHS: dict[str, dict[str, Schema]] = {
    "/api/setup": {
        "get": op("Whether the first-run setup is still needed", "auth",
                  {200: json_response("setup state", ref("NeedsSetup"))}, public=True),
        "post": op("First run: create the user; answers the API token", "auth",
                   {200: json_response("the API token", ref("ApiToken"))}, errors=(400, 409), public=True,
                   body={"required": True, "content": {JSON: {"schema": ref("Credentials")},
                                                       "application/x-www-form-urlencoded": {
                                                           "schema": ref("Credentials")}}},
                   description="409 once a user exists: log in instead."),
    },
    "/api/setup/debrid-check": {
        "post": op("Check a debrid API key with one account call (setup page)", "auth",
                   {200: json_response("the check's outcome (always 200)", ref("DebridCheckResult"))},
                   errors=(400,), body=json_body(ref("DebridCheckRequest"))),
    },
    "/api/setup/usenet-check": {
        "post": op("Check a usenet server's login: connect, log in, quit (setup and settings pages)", "auth",
                   {200: json_response("the check's outcome (always 200)", ref("UsenetCheckResult"))},
                   errors=(400,), body=json_body(ref("UsenetCheckRequest"))),
    },
    "/api/auth": {
        "get": op("The user and the API token", "auth", {200: json_response("who", ref("AuthInfo"))}),
    },
    "/api/auth/password": {
        "post": op("Change the UI user's password", "auth", {200: json_response("changed", ref("Ok"))},
                   errors=(400,), body=json_body(ref("PasswordChange")),
                   description="401 also when current_password is wrong."),
    },
    "/api/refresh-token": {
        "post": op("Replace the API token (the old one fails at once)", "auth",
                   {200: json_response("the new token", ref("ApiToken"))}),
    },
    "/api/config": {
        "get": op("The stored config, secrets masked", "config", {200: json_response("config", ref("Config"))}),
        "post": op("Change the config (partial, deep-merged)", "config",
                   {200: json_response("the merged config, masked", ref("Config"))}, errors=(400, 413),
                   body=json_body(ref("Config"), "partial JSON; masked secrets posted back keep the stored value"),
                   description="Validated and written atomically; 400 and nothing written on bad input; takes "
                               "effect at the next start."),
    },
    "/api/torrents": {
        "get": op("List imports (torrents and NZB jobs)", "torrents",
                  {200: json_response("an array of imports, or one with hash=",
                                      {"oneOf": [array(ref("ImportRecord")), ref("ImportRecord")]})},
                  errors=(404,), params=[query("category", STR, "only this category"), TORRENT_HASH]),
        "delete": op("Delete imports (and their files)", "torrents",
                     {200: json_response("how many were deleted", ref("Deleted"))}, errors=(400,),
                     params=[query("hash", STR, "hashes, ',' or '|' separated", required=True),
                             query("category", STR, "only those in this category"),
                             query("remove_from_debrid", {"type": "string", "enum": ["true", "false"]},
                                   "also delete the torrent at the provider")]),
    },
    "/api/add": {
        "post": op("Add magnets, links, .torrent or .nzb files", "torrents",
                   {200: json_response("one entry per add", array(ref("AddResult")))}, errors=(400, 413),
                   body={"required": True, "content": {
                       JSON: {"schema": ref("AddRequest")},
                       "application/x-www-form-urlencoded": {"schema": ref("AddRequest")},
                       "multipart/form-data": {"schema": ref("AddUpload")}}},
                   description="An unreadable torrent or NZB is a 400 saying why; an NZB without a usenet "
                               "account (torbox, premiumize) configured is a 400 naming what to configure."),
    },
    "/api/arrs": {
        "get": op("The *arr instances (configured and auto-registered)", "arrs",
                  {200: json_response("the *arrs", array(ref("Arr")))}),
    },
    "/api/arrs/queue-cleanup": {
        "get": op("What *arr queue cleanup did, newest first", "arrs",
                  {200: json_response("the latest actions", obj({"actions": array(ref("QueueCleanupAction"))}))}),
    },
    "/api/browse": {"get": {**_BROWSE_GROUPS, "operationId": "browseGroupsNoSlash"}},
    "/api/browse/": {"get": {**_BROWSE_GROUPS, "operationId": "browseGroups"}},
    "/api/browse/{group}": {"get": {**_BROWSE_GROUP, "operationId": "browseGroupNoSlash"}},
    "/api/browse/{group}/": {"get": {**_BROWSE_GROUP, "operationId": "browseGroup"}},
    "/api/browse/{group}/{torrent}": {
        "get": op("A torrent folder's files, with their download links", "browse",
                  {200: json_response("the folder", ref("BrowseTorrent"))}, errors=(400, 404),
                  params=[path_param("group", "a root folder"), path_param("torrent", "the torrent folder")]),
    },
    "/api/browse/download/{torrent}/{file}": {"get": _download("GET"), "head": _download("HEAD")},
    "/api/repair": {
        "post": op("Start a repair scan", "repair", {202: json_response("started", ref("RepairStarted"))},
                   errors=(400, 409), body=json_body(ref("RepairRequest"), required=False),
                   description="409 while another scan runs; 400 on a bad body or when no arrs[] entry has a "
                               "host and token."),
    },
    "/api/repair/jobs": {
        "get": op("Repair jobs, newest first", "repair", {200: json_response("jobs", array(ref("RepairJob")))}),
    },
    "/api/repair/jobs/{job_id}/process": {
        "post": op("Process a pending job (or dry-run it)", "repair",
                   {202: json_response("processing started", ref("RepairProcessing")),
                    200: json_response("dry run: what would be done; nothing changes", ref("RepairDryRun"))},
                   errors=(404, 409),
                   params=[path_param("job_id", "the job's id"),
                           query("dry_run", {"type": "string", "enum": ["true", "false"]}, "same as the body's")],
                   body=json_body(obj({"dry_run": BOOL}, required=()), required=False),
                   description="409 unless the job is pending (or failed, to try again)."),
    },
    "/api/stats": {
        "get": op("Streaming, cache, mount and library counters", "stats",
                  {200: json_response("the figures", ref("Stats"))}),
    },
    "/api/stats/history": {
        "get": op("Each account's request budget over the last hour", "stats",
                  {200: json_response("samples", ref("StatsHistory"))}),
    },
    "/api/logs": {
        "get": op("The newest log lines, from memory, redacted", "logs",
                  {200: json_response("lines, oldest first", ref("LogLines"))}, errors=(400,),
                  params=[query("lines", {"type": "integer", "minimum": 1, "default": 200}, "how many"),
                          query("level", {"type": "string",
                                          "enum": ["debug", "info", "warning", "error", "critical"]},
                                "this level or above"),
                          query("q", STR, "case-insensitive text in the message or logger name")]),
    },
    "/api/openapi.json": {
        "get": op("This document", "meta", {200: json_response("OpenAPI 3.1", ANY_OBJECT)}),
    },
}

_SAB_PARAMS = [query("mode", {"type": "string", "enum": [
    "version", "get_config", "get_cats", "fullstatus", "addfile", "addurl", "queue", "history", "pause",
    "resume"]}, "the SABnzbd command", required=True),
    query("apikey", STR, "the API token (or ma_username/ma_password)"),
    query("output", {"type": "string", "enum": ["json"]}, "answers are always JSON")]

EXTRA_PATHS: dict[str, dict[str, Schema]] = {
    "/version": {"get": op("The gateway's version", "meta", {200: json_response("version", ref("Version"))},
                           public=True)},
    "/health": {"get": op("Liveness and per-account sync figures", "meta",
                          {200: json_response("health", ref("Health"))}, public=True,
                          description="What the container's HEALTHCHECK calls.")},
    "/login": {
        "get": op("Whether setup is needed and auth is on (JSON clients; browsers get the login page)", "auth",
                  {200: json_response("state", ref("LoginState"))}, public=True),
        "post": op("Log in: sets the session cookie", "auth",
                   {200: {**json_response("logged in", ref("Username")),
                          "headers": {"Set-Cookie": {"schema": STR,
                                                     "description": "decypharr_session (HttpOnly, SameSite=Lax)"}}},
                    401: json_response("wrong username or password", ref("Error"))}, public=True,
                   body={"required": True, "content": {JSON: {"schema": ref("Credentials")},
                                                       "application/x-www-form-urlencoded": {
                                                           "schema": ref("Credentials")}}}),
    },
    "/logout": {"post": op("Log out: drops the session", "auth", {302: {"description": "to the login page"}},
                           public=True)},
    "/metrics": {"get": op("Prometheus metrics", "meta", {200: {
        "description": "the Prometheus text exposition format",
        "content": {"text/plain": {"schema": STR}}}})},
    "/sabnzbd/api": {
        method: {**op("SABnzbd API (the *arrs' usenet client)", "sabnzbd",
                      {200: json_response("SABnzbd's answer; errors too are 200", ref("SabAnswer"))}, public=True,
                      params=_SAB_PARAMS, description="Also at /api?mode=... . The key is checked by the SABnzbd "
                                                      "app itself (API Key Required, API Key Incorrect)."),
                 "security": [{"sabApiKey": []}], "operationId": f"sabnzbd{method.title()}"}
        for method in ("get", "post")
    },
}

DESCRIPTION = (
    "The HTTP API of the decypharr gateway. Every route sits under `url_base` (the `servers` entry carries it). "
    "With `use_auth` on, `/api/*` takes `Authorization: Bearer <api token>` or the UI session cookie, else "
    "401 `{\"error\", \"code\"}`. Errors on `/api` are always `{\"error\": message, \"code\": status}`.\n\n"
    "Not described here: the qBittorrent-compatible Web API under `/api/v2/*` (documented upstream by "
    "qBittorrent: https://github.com/qbittorrent/qBittorrent/wiki/WebUI-API-(qBittorrent-4.1); the gateway "
    "advertises qBittorrent v4.6.7, Web API 2.9.3), the SABnzbd form `/api?mode=...` (SABnzbd's API, the same "
    "as `/sabnzbd/api` below), and WebDAV under `/webdav/`."
)


def document() -> dict[str, Any]:
    """The whole document (a fresh copy each call)."""
    paths = {**API_PATHS, **EXTRA_PATHS}
    return copy.deepcopy({
        "openapi": "3.1.0",
        "info": {"title": "decypharr", "version": __version__, "description": DESCRIPTION,
                 "license": {"name": "see the project"}},
        "servers": [{"url": "/"}],
        "security": GUARDED,
        "tags": [{"name": name} for name in ("auth", "config", "torrents", "arrs", "browse", "repair", "stats",
                                              "logs", "meta", "sabnzbd")],
        "paths": paths,
        "components": {
            "schemas": SCHEMAS,
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer",
                           "description": "the API token (POST /api/setup answers it; GET /api/auth shows it)"},
                "session": {"type": "apiKey", "in": "cookie", "name": "decypharr_session",
                            "description": "the UI session cookie set by POST /login"},
                "signedLink": {"type": "apiKey", "in": "query", "name": "sig",
                               "description": "the signature of a download link in a .strm file"},
                "sabApiKey": {"type": "apiKey", "in": "query", "name": "apikey",
                              "description": "SABnzbd's apikey: the API token"},
            },
        },
    })


def make_openapi_app() -> bottle.Bottle:
    app = bottle.Bottle()
    base = document()

    def serve() -> bottle.HTTPResponse:
        doc = dict(base)
        doc["servers"] = [{"url": bottle.request.script_name.rstrip("/") or "/"}]   # url_base, as mounted
        return bottle.HTTPResponse(json.dumps(doc, ensure_ascii=False), status=200,
                                   headers={"Content-Type": "application/json; charset=utf-8"})

    app.route("/api/openapi.json", "GET", serve)
    return app
