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

from api.config_schema import config_json_schema, provider_names
from gateway import __version__
from gateway.config import QUEUE_CLEANUP_ACTIONS, QUEUE_CLEANUP_REASONS

Schema = dict[str, Any]

JSON = "application/json"
GUARDED: list[dict[str, list[str]]] = [{"bearer": []}, {"session": []}]


# ------------------------------------------------------------------ helpers

def ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def array(items: Schema) -> Schema:
    return {"type": "array", "items": items}


def obj(properties: dict[str, Schema], required: tuple[str, ...] | None = None, **extra: Any) -> Schema:
    """An object schema; every property required unless ``required`` says otherwise."""
    out: Schema = {"type": "object", "properties": properties,
                   "required": list(properties) if required is None else list(required)}
    out.update(extra)
    return out


STR: Schema = {"type": "string"}
INT: Schema = {"type": "integer"}
NUM: Schema = {"type": "number"}
BOOL: Schema = {"type": "boolean"}
ANY_OBJECT: Schema = {"type": "object", "additionalProperties": True}


def nullable(schema: Schema) -> Schema:
    return {"oneOf": [schema, {"type": "null"}]}


def json_response(description: str, schema: Schema) -> Schema:
    return {"description": description, "content": {JSON: {"schema": schema}}}


ERRORS = {
    400: "bad input: the message says what is wrong",
    401: "no valid API token or session (only with use_auth on)",
    404: "not found",
    409: "conflict: the message says why",
    413: "request too large",
    416: "range not satisfiable",
    502: "a provider or an *arr answered an error",
}


def error(status: int) -> Schema:
    return json_response(ERRORS[status], ref("Error"))


def query(name: str, schema: Schema, description: str, required: bool = False) -> Schema:
    return {"name": name, "in": "query", "required": required, "schema": schema, "description": description}


def path_param(name: str, description: str) -> Schema:
    return {"name": name, "in": "path", "required": True, "schema": STR, "description": description}


def json_body(schema: Schema, description: str = "", required: bool = True) -> Schema:
    body: Schema = {"required": required, "content": {JSON: {"schema": schema}}}
    if description:
        body["description"] = description
    return body


def op(summary: str, tag: str, ok: dict[int, Schema], *, errors: tuple[int, ...] = (), public: bool = False,
       params: list[Schema] | None = None, body: Schema | None = None, description: str = "",
       operation_id: str = "") -> Schema:
    """One operation. Guarded operations answer 401 without credentials when use_auth is on."""
    responses: dict[str, Schema] = {str(status): answer for status, answer in ok.items()}
    for status in sorted(set(errors) | (set() if public else {401})):
        responses[str(status)] = error(status)
    out: Schema = {"summary": summary, "tags": [tag], "responses": responses}
    if operation_id:
        out["operationId"] = operation_id
    if description:
        out["description"] = description
    if params:
        out["parameters"] = params
    if body is not None:
        out["requestBody"] = body
    if public:
        out["security"] = []
    return out


# ------------------------------------------------------------------ schemas

SYNC = obj({
    "listed": INT, "with_details": INT, "pending": INT, "eta_seconds": nullable(NUM),
    "last_listing": nullable(NUM), "error": nullable(STR),
    "calls": obj({"listing": INT, "details": INT}),
    "budget": obj({"limit": nullable(INT), "used": INT, "in_flight": INT,
                   "waiting": obj({"interactive": INT, "imports": INT, "background": INT}),
                   "paused_for": NUM, "calls": INT, "rate_limited": INT}, required=(), additionalProperties=True),
    "provider": STR,
    "download_keys": array(obj({"key": STR, "usable": BOOL, "reason": STR}, required=("key", "usable"))),
}, required=("listed", "with_details", "pending"), additionalProperties=True,
    description="One account's library sync: torrents listed, with files known, still waiting; the "
                "estimated seconds left; the calls used in the current rate window")

SCHEMAS: dict[str, Schema] = {
    "Error": obj({"error": STR, "code": INT}, description="Every /api error: the message and the HTTP status"),
    "Version": obj({"version": STR}),
    "Health": obj({"status": {"type": "string", "enum": ["ok"]}, "torrents": INT, "generation": INT,
                   "providers": {"type": "object", "additionalProperties": ref("Sync")}},
                  description="In-memory figures only: answers at once whatever the providers do"),
    "Sync": SYNC,
    "NeedsSetup": obj({"needs_setup": BOOL}),
    "LoginState": obj({"needs_setup": BOOL, "use_auth": BOOL}),
    "Credentials": obj({"username": STR, "password": {"type": "string", "format": "password"}}),
    "ApiToken": obj({"api_token": STR}),
    "AuthInfo": obj({"username": STR, "api_token": STR}),
    "Username": obj({"username": STR}),
    "PasswordChange": obj({"current_password": {"type": "string", "format": "password"},
                           "new_password": {"type": "string", "format": "password"}}),
    "Ok": obj({"ok": {"type": "boolean", "const": True}}),
    "DebridCheckRequest": obj({"provider": {"type": "string", "enum": provider_names()},
                               "api_key": STR, "api_url": {"type": "string", "format": "uri"}},
                              required=("provider", "api_key")),
    "DebridCheckResult": obj({"ok": BOOL, "error": STR, "username": STR, "premium": BOOL}, required=("ok",),
                             description="ok with the account's username and premium status, or an error"),
    "UsenetCheckRequest": obj({"name": STR, "host": STR, "port": INT, "username": STR, "password": STR,
                               "ssl": BOOL}, required=("host",),
                              description='a usenet server as in config.json; a masked password ("****…") '
                                          "means the stored one of the server with that name"),
    "UsenetCheckResult": obj({"ok": BOOL, "error": STR}, required=("ok",),
                             description="ok once the server greeted us and accepted the login, or an error"),
    "Config": config_json_schema(),
    "Attempt": obj({"provider": STR, "outcome": STR},
                   description="One account the add was offered to, and what it answered"),
    "ImportFile": obj({"path": STR, "size": INT, "selected": BOOL}),
    "ImportRecord": obj({
        "hash": {"type": "string", "description": "infohash; for an NZB the MD5 of its bytes"},
        "name": STR, "category": STR,
        "state": {"type": "string", "enum": ["metaDL", "queuedDL", "downloading", "pausedUP", "error"]},
        "progress": NUM, "size": INT, "error": STR, "provider": STR, "provider_id": STR,
        "action": {"type": "string", "enum": ["symlink", "strm", "download", "none", ""]},
        "added_on": INT, "completed_on": INT, "save_path": STR, "content_path": STR,
        "kind": {"type": "string", "enum": ["torrent", "nzb"]},
        "attempts": array(ref("Attempt")), "files": array(ref("ImportFile")),
    }, description="A torrent or NZB job the gateway imports"),
    "AddRequest": obj({
        "url": {"type": "string", "description": "a magnet, or an http(s) link to a .torrent or .nzb"},
        "urls": {"type": "string", "description": "several links, one a line"},
        "category": STR, "arr": {"type": "string", "description": "alias of category"},
        "action": {"type": "string", "enum": ["symlink", "strm", "download", "none"]},
        "debrid": {"type": "string", "description": "the debrids[] name to add at (default: by priority)"},
        "download_uncached": BOOL,
    }, required=()),
    "AddUpload": obj({
        "file": array({"type": "string", "contentMediaType": "application/octet-stream",
                       "description": "a .torrent or .nzb file"}),
        "url": STR, "urls": STR, "category": STR, "arr": STR,
        "action": {"type": "string", "enum": ["symlink", "strm", "download", "none"]},
        "debrid": STR, "download_uncached": STR,
    }, required=()),
    "AddResult": obj({"hash": STR, "name": STR, "state": STR}),
    "Deleted": obj({"deleted": INT}),
    "Arr": obj({"name": STR, "host": STR, "type": STR, "source": {"type": "string", "enum": ["config", "auto"]},
                "token": {"type": "string", "description": "masked"}}),
    "BrowseGroups": obj({"groups": array(obj({"name": STR, "torrents": INT,
                                              "modified": {"type": "string", "format": "date-time"}}))}),
    "BrowseGroup": obj({"group": STR, "total": INT, "page": INT, "limit": INT,
                        "torrents": array(obj({"name": STR, "size": INT, "files": INT,
                                               "modified": {"type": "string", "format": "date-time"}}))}),
    "BrowseTorrent": obj({"group": STR, "torrent": STR, "size": INT,
                          "files": array(obj({"path": STR, "size": INT,
                                              "modified": {"type": "string", "format": "date-time"},
                                              "content_type": STR,
                                              "download": {"type": "string",
                                                           "description": "the download route of the file"}}))}),
    "RepairRequest": obj({"arr": {"type": "string", "description": "one arrs[] name (default: all)"},
                          "media_ids": array({"type": "integer", "minimum": 1}), "auto_process": BOOL},
                         required=()),
    "RepairStarted": obj({"job_id": STR, "status": {"type": "string", "const": "running"}}),
    "RepairProcessing": obj({"job_id": STR, "status": {"type": "string", "const": "processing"}}),
    "RepairItem": obj({
        "arr": STR, "media_id": INT, "title": STR, "file_path": STR, "torrent_hash": STR,
        "reason": STR,
        "step": {"type": "string", "enum": ["readd", "relink", "rescan", "delete", "mark_failed", "search", "done"]},
        "done": array({"type": "string", "description": "a step taken, in words"}),
        "outcome": {"type": "string", "description": "repaired or replaced once done"},
    }),
    "RepairJob": obj({
        "id": STR,
        "status": {"type": "string", "enum": ["running", "pending", "processing", "completed", "failed"]},
        "created_at": NUM, "finished_at": nullable(NUM), "arrs": array(STR),
        "counts": obj({"files": INT, "healthy": INT, "broken": INT, "unknown": INT}, required=()),
        "broken_items": array(ref("RepairItem")), "unknown_items": array(ref("RepairItem")), "error": STR,
    }),
    "RepairDryRun": obj({"job_id": STR, "dry_run": {"type": "boolean", "const": True},
                         "actions": array({"allOf": [ref("RepairItem"),
                                                     obj({"action": STR})]})}),
    "QueueCleanupAction": obj({
        "at": NUM, "arr": STR, "download_id": STR, "title": STR,
        "reason": {"type": "string", "enum": list(QUEUE_CLEANUP_REASONS)},
        "action": {"type": "string", "enum": list(QUEUE_CLEANUP_ACTIONS)},
        "result": {"type": "string", "description": "done, gone, failed: <why>, or what was queued"},
        "queue_ids": array(INT), "messages": array(STR)}),
    "CacheStats": obj({"hits": INT, "misses": INT, "bytes_on_disk": INT, "files": INT, "upstream_fetches": INT,
                       "fetched_bytes": INT, "max_bytes": INT, "chunk_size": INT}),
    "Stats": obj({
        "upstream": obj({"requests": INT, "bytes": INT}),
        "cache": {"oneOf": [ref("CacheStats"), {"type": "null"}],
                  "description": "null without the FUSE mount's chunk cache"},
        "served_bytes": INT,
        "streams": array(obj({"file": STR, "reader": STR, "size": INT, "position": INT, "served": INT},
                             required=("file", "reader"), additionalProperties=True)),
        "mount": obj({"type": {"type": "string", "enum": ["none", "fuse"]}, "path": STR, "mounted": BOOL}),
        "library": {"type": "object", "additionalProperties": ref("Sync")},
    }),
    "StatsHistory": obj({
        "interval_seconds": INT,
        "accounts": {"type": "object", "additionalProperties": array(obj({
            "t": {"type": "integer", "description": "unix time of the sample"},
            "calls": INT, "rate_limited": INT, "used": INT, "limit": nullable(INT), "paused_for": NUM,
            "waiting": INT}))},
    }, description="Each account's request budget, one sample a minute over the last hour"),
    "LogLines": obj({"lines": array(obj({
        "time": {"type": "string", "format": "date-time"},
        "level": {"type": "string", "enum": ["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]},
        "logger": STR, "message": {"type": "string", "description": "already redacted"}}))}),
    "SabAnswer": {"type": "object", "additionalProperties": True,
                  "description": "SABnzbd's own answer shapes; errors are {\"status\": false, \"error\"}"},
}


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
