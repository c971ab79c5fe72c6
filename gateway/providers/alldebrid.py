"""AllDebrid (api.alldebrid.com/v4, plus /v4.1 for magnet/status): calls plus ``_parse_*`` mapping.

AllDebrid wraps every answer in ``{"status": "success"|"error", "data" | "error":
{code, message}}`` and sends many application errors with HTTP 200, so every
response's envelope is checked here (docs/providers.md §3.1, §9.3); errors that
do come as 4xx/5xx go through ``_parse_error`` before the HTTP layer decides on
a retry. Every call carries ``agent=decypharr`` (§9.6).

Mapping choices:

- ``magnet/status`` is called under ``/v4.1`` (v4's is discontinued): the
  configured base's trailing ``/v4`` becomes ``/v4.1``; a base not ending in
  ``/v4`` is used as is. ``magnets`` is an object for one id and an array for a
  list, but either form is accepted for either call.
- The ``files`` tree is flattened depth-first into ``RemoteFile`` ids 0..n-1;
  a tree that is one folder node is the torrent's own folder and is dropped
  from the paths. ``link`` is the node's ``l`` (an AllDebrid file link that
  ``link/unlock`` turns into a CDN URL). The older v4 ``links[]`` shape is read
  too (one file per entry, in entry order).
- ``statusCode`` 4 → downloaded, 0 → queued, 1-3 → downloading, 11 (deleted
  on the hoster) → dead, every other code → error; ``status_detail`` is
  ``"<code> <label>"``.
- AllDebrid has no cache check (``magnet/instant`` is gone; an upload's
  ``ready`` is the probe), no file selection (``select_files`` is a no-op) and
  no usenet. ``active_count`` counts ``status=active`` magnets; the slot limit
  is not published, so ``DEFAULT_SLOTS`` stands in for it.
- ``link/unlock`` answering ``delayed`` without a link (hosts that prepare the
  file first) raises ``Unavailable(code="delayed")``: the caller retries later
  rather than polling ``link/delayed`` inside one unrestrict (link economy: one
  provider call per unrestrict).
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

import requests

from gateway import errors
from gateway.clock import Clock
from gateway.config import DebridConfig
from gateway.models import Account, ActiveCount, DownloadLink, RemoteFile, Torrent, TorrentStatus
from gateway.providers.base import Capabilities
from gateway.providers.budget import Budget, Limit
from gateway.providers.common import AccountClient, bad_shape, json_body, provider_error
from gateway.providers.http import ProviderHTTP
from gateway.providers.keys import KeyRing
from gateway.providers.wiring import account_http, download_keys

log = logging.getLogger(__name__)

DEFAULT_URL = "https://api.alldebrid.com/v4"
# AllDebrid allows 12 requests per second on top of the 600 per minute the config sets.
SUBLIMITS: dict[str, Limit] = {"": Limit(12, 1.0)}
AGENT = "decypharr"
# AllDebrid does not publish an account's active-magnet limit; DX assumes 100,
# typical accounts are refused well before that. 30 keeps the importer careful.
DEFAULT_SLOTS = 30
DEAD_CODES = frozenset({11})

# error.code → error class (docs/providers.md §3.4).
_CODES: dict[str, type[errors.ProviderError]] = {
    "GENERIC": errors.Unavailable, "404": errors.NotFound, "MAINTENANCE": errors.Unavailable,
    "RATE_LIMITED": errors.RateLimited, "TOO_MANY_REQUESTS": errors.RateLimited,
    "AUTH_MISSING_APIKEY": errors.AuthError, "AUTH_BAD_APIKEY": errors.AuthError,
    "AUTH_BLOCKED": errors.AuthError, "AUTH_USER_BANNED": errors.AuthError,
    "MUST_BE_PREMIUM": errors.AuthError, "MAGNET_MUST_BE_PREMIUM": errors.AuthError,
    "FREE_TRIAL_LIMIT_REACHED": errors.QuotaExceeded,
    "NO_SERVER": errors.Blocked, "MAGNET_NO_SERVER": errors.Blocked,
    "MAGNET_INVALID_ID": errors.NotFound, "DELAYED_INVALID_ID": errors.NotFound,
    "MAGNET_INVALID_URI": errors.BadRequest, "MAGNET_INVALID_FILE": errors.BadRequest,
    "MAGNET_NO_URI": errors.BadRequest, "MAGNET_TOO_LARGE": errors.BadRequest,
    "MAGNET_MAGNET_TOO_BIG": errors.BadRequest,
    "MAGNET_TOO_MANY_ACTIVE": errors.SlotsFull, "MAGNET_TOO_MANY": errors.SlotsFull,
    "MAGNET_UPLOAD_FAILED": errors.Unavailable, "MAGNET_FILE_UPLOAD_FAILED": errors.Unavailable,
    "MAGNET_INTERNAL_ERROR": errors.Unavailable, "MAGNET_CANT_BOOTSTRAP": errors.Unavailable,
    "MAGNET_TOOK_TOO_LONG": errors.Unavailable, "MAGNET_PROCESSING_FAILED": errors.Unavailable,
    "MAGNET_PROCESSING": errors.Unavailable,
    "MAGNET_LINKS_REMOVED": errors.FileGone, "LINK_DOWN": errors.FileGone,
    "LINK_IS_MISSING": errors.BadRequest, "BAD_LINK": errors.BadRequest,
    "LINK_HOST_NOT_SUPPORTED": errors.BadRequest, "LINK_PASS_PROTECTED": errors.BadRequest,
    "LINK_NOT_SUPPORTED": errors.BadRequest,
    "LINK_HOST_UNAVAILABLE": errors.Unavailable, "LINK_HOST_FULL": errors.Unavailable,
    "LINK_ERROR": errors.Unavailable, "LINK_TEMPORARY_UNAVAILABLE": errors.Unavailable,
    "LINK_TOO_MANY_DOWNLOADS": errors.QuotaExceeded, "LINK_HOST_LIMIT_REACHED": errors.QuotaExceeded,
    "USER_LINK_MISSING": errors.BadRequest, "USER_LINK_INVALID": errors.BadRequest,
}
_STATUS_CLASSES: dict[int, type[errors.ProviderError]] = {
    401: errors.AuthError, 403: errors.AuthError, 404: errors.NotFound, 429: errors.RateLimited,
}


def _error(code: str, message: str, status: int = 200,
           response: requests.Response | None = None) -> errors.ProviderError:
    """One error class from the code first, then the HTTP status."""
    cls = _CODES.get(code) or _STATUS_CLASSES.get(status)
    if cls is None:
        cls = errors.Unavailable if status >= 500 or status < 400 else errors.BadRequest
    text = f"alldebrid: {code or 'HTTP ' + str(status)}" + (f": {message}" if message else "")
    return provider_error(cls, text, code=code, status=status, response=response)


def _error_fields(body: Any) -> tuple[str, str]:
    err = body.get("error") if isinstance(body, dict) else None
    if isinstance(err, dict):
        return str(err.get("code") or ""), str(err.get("message") or "")
    if isinstance(err, str):
        return err, ""
    return "", ""


def _parse_error(response: requests.Response) -> errors.ProviderError:
    """An HTTP >= 400 answer: the envelope's ``error.code`` if there is one."""
    try:
        body = response.json()
    except ValueError:
        body = None
    code, message = _error_fields(body)
    return _error(code, message, response.status_code, response)


def _data(response: requests.Response, path: str) -> dict[str, Any]:
    """The envelope's ``data``; an ``error`` envelope (HTTP 200 included) raises its mapped error."""
    body = json_body(response, "alldebrid", path)
    if not isinstance(body, dict):
        raise bad_shape("alldebrid", path, f"a {type(body).__name__} instead of the envelope")
    if body.get("status") == "error":
        code, message = _error_fields(body)
        raise _error(code or "GENERIC", message, response.status_code, response)
    data = body.get("data")
    if body.get("status") != "success" or not isinstance(data, dict):
        raise bad_shape("alldebrid", path, "no success envelope with data")
    return data


def _int(value: Any, default: int = 0) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


# ------------------------------------------------------------------ parsing


def _status(code: int, label: str) -> TorrentStatus:
    if code == 4:
        return TorrentStatus.DOWNLOADED
    if code == 0:
        return TorrentStatus.QUEUED
    if 1 <= code <= 3:
        return TorrentStatus.DOWNLOADING
    if code in DEAD_CODES or label == "MAGNET_LINKS_REMOVED":
        return TorrentStatus.DEAD
    return TorrentStatus.ERROR


def _flatten(nodes: Any, path: str) -> tuple[RemoteFile, ...]:
    """The ``files`` tree, depth first, without the torrent's own top folder."""
    if not isinstance(nodes, list):
        raise bad_shape("alldebrid", path, "files is not a list")
    if len(nodes) == 1 and isinstance(nodes[0], dict) and "e" in nodes[0]:
        nodes = nodes[0]["e"]   # one folder node: the torrent's root
    out: list[RemoteFile] = []
    stack: list[tuple[Any, str]] = [(nodes, "")]
    while stack:
        level, prefix = stack.pop()
        if not isinstance(level, list):
            raise bad_shape("alldebrid", path, "a folder's e is not a list")
        # Folders are walked where they stand: push what follows them first.
        for i, node in enumerate(level):
            if not isinstance(node, dict) or not isinstance(node.get("n"), str):
                raise bad_shape("alldebrid", path, "a file node without a name")
            if "e" in node:
                stack.append((level[i + 1:], prefix))
                stack.append((node["e"], f"{prefix}{node['n']}/"))
                break
            out.append(RemoteFile(id=len(out), path=prefix + node["n"], size=_int(node.get("s")),
                                  link=str(node.get("l") or "")))
    return tuple(out)


def _leaf_path(nodes: Any) -> str:
    """The path of the first file in a (legacy, per-link) node list; "" when none."""
    parts: list[str] = []
    while isinstance(nodes, list) and nodes and isinstance(nodes[0], dict):
        node = nodes[0]
        parts.append(str(node.get("n", "")))
        if "e" not in node:
            return "/".join(parts)
        nodes = node["e"]
    return ""


def _legacy_files(links: Any, name: str, path: str) -> tuple[RemoteFile, ...]:
    """The older v4 ``links: [{link, filename, size, files}]`` shape, one file per entry."""
    if not isinstance(links, list):
        raise bad_shape("alldebrid", path, "links is not a list")
    out = []
    for i, entry in enumerate(links):
        if not isinstance(entry, dict):
            raise bad_shape("alldebrid", path, "a links entry is not an object")
        rel = _leaf_path(entry.get("files")) or str(entry.get("filename") or "")
        if name and rel.startswith(name + "/"):
            rel = rel[len(name) + 1:]
        out.append(RemoteFile(id=i, path=rel, size=_int(entry.get("size")), link=str(entry.get("link") or "")))
    return tuple(out)


def _parse_magnet(provider: str, raw: Any, path: str) -> Torrent:
    if not isinstance(raw, dict) or "id" not in raw:
        raise bad_shape("alldebrid", path, "a magnet without an id")
    code = _int(raw.get("statusCode"), -1)
    label = str(raw.get("status", ""))
    name = str(raw.get("filename") or raw.get("name") or raw["id"])
    size = _int(raw.get("size"))
    done = code == 4
    downloaded = _int(raw.get("downloaded"))
    if "files" in raw:
        files = _flatten(raw["files"], path)
    elif raw.get("links"):
        files = _legacy_files(raw["links"], name, path)
    else:
        files = ()
    return Torrent(
        provider=provider,
        id=str(raw["id"]),
        infohash=str(raw.get("hash", "")).lower(),
        name=name,
        original_name=name,
        size=size,
        status=_status(code, label),
        progress=1.0 if done else (min(1.0, downloaded / size) if size else 0.0),
        added=float(_int(raw.get("uploadDate"))),
        ended=float(_int(raw.get("completionDate"))) if done else 0.0,
        files=files,
        status_detail=f"{code} {label}".strip(),
        speed=_int(raw.get("downloadSpeed")),
        seeders=_int(raw.get("seeders")),
    )


def _magnet_list(data: dict[str, Any], path: str) -> list[Any]:
    """``magnets`` as a list: an array as is, one object as a list of one."""
    magnets = data.get("magnets")
    if isinstance(magnets, list):
        return magnets
    if isinstance(magnets, dict):
        if "id" in magnets:
            return [magnets]
        if magnets and all(isinstance(v, dict) and "id" in v for v in magnets.values()):
            return list(magnets.values())   # an object keyed by id
    raise bad_shape("alldebrid", path, f"magnets is a {type(magnets).__name__}")


def _status_url(base: str) -> str:
    base = base.rstrip("/")
    return base[: -len("/v4")] + "/v4.1" if base.endswith("/v4") else base


def build(cfg: DebridConfig, clock: Clock, budget: Budget) -> AllDebrid:
    http = account_http(cfg, DEFAULT_URL, clock, budget)
    # Same account, same budget; only magnet/status lives under /v4.1.
    status_cfg = dataclasses.replace(cfg, api_url=_status_url(http.base_url))
    status_http = account_http(status_cfg, DEFAULT_URL, clock, budget)
    keys = download_keys(cfg, DEFAULT_URL, clock, http, sublimits=SUBLIMITS)
    return AllDebrid(cfg.name, http, status_http, clock, cfg.auto_expire_links_after, keys)


class AllDebrid(AccountClient):
    """The AllDebrid client. All HTTP goes through ``ProviderHTTP``."""

    kind = "alldebrid"
    # No paging (list_recent: the whole list), every file downloaded, no NZBs, and
    # magnet/instant is gone (upload and read ``ready`` instead): the defaults of AccountClient.
    capabilities = Capabilities()

    def __init__(self, name: str, http: ProviderHTTP, status_http: ProviderHTTP, clock: Clock,
                 link_ttl: float, keys: KeyRing | None = None) -> None:
        super().__init__(name, http, clock, link_ttl, keys)
        self._status_http = status_http

    # -- plumbing

    @staticmethod
    def _request(http: ProviderHTTP, method: str, path: str, *, params: dict[str, Any] | None = None,
                 **kwargs: Any) -> dict[str, Any]:
        return http.request_read(method, path, _parse_error, _data, params={"agent": AGENT, **(params or {})},
                                 **kwargs)

    def _get(self, path: str, **params: Any) -> dict[str, Any]:
        return self._request(self._http, "GET", path, params=params)

    def _statuses(self, **params: Any) -> list[Any]:
        return _magnet_list(self._request(self._status_http, "GET", "magnet/status", params=params),
                            "magnet/status")

    def close(self) -> None:
        self._status_http.close()
        super().close()

    # -- account

    def account(self) -> Account:
        user = self._get("user").get("user")
        if not isinstance(user, dict):
            raise bad_shape("alldebrid", "user", "no user object")
        until = _int(user.get("premiumUntil"))
        return Account(username=str(user.get("username", "")), premium=bool(user.get("isPremium")),
                       premium_seconds_left=max(0, int(until - self._clock.now())) if until else 0)

    # -- torrents

    def list_torrents(self) -> list[Torrent]:
        return [_parse_magnet(self.name, raw, "magnet/status") for raw in self._statuses()]

    def get_torrent(self, torrent_id: str) -> Torrent:
        items = self._statuses(id=torrent_id)
        if not items:
            raise errors.NotFound(f"alldebrid: magnet {torrent_id} not found", code="MAGNET_INVALID_ID")
        raw = items[0] if len(items) == 1 else next(
            (m for m in items if isinstance(m, dict) and str(m.get("id")) == str(torrent_id)), None)
        if raw is None:
            raise bad_shape("alldebrid", "magnet/status", "several magnets for one id")
        torrent = _parse_magnet(self.name, raw, "magnet/status")
        if torrent.status == TorrentStatus.DOWNLOADED and not torrent.files:
            # A status answer without the tree: magnet/files has it.
            torrent = dataclasses.replace(torrent, files=self._files(torrent_id))
        return torrent

    def _files(self, torrent_id: str) -> tuple[RemoteFile, ...]:
        data = self._get("magnet/files", **{"id[]": torrent_id})
        for item in _magnet_list(data, "magnet/files"):
            if not isinstance(item, dict):
                raise bad_shape("alldebrid", "magnet/files", "an item is not an object")
            if "error" in item:
                code, message = _error_fields(item)
                raise _error(code or "GENERIC", message)
            if str(item.get("id")) == str(torrent_id):
                return _flatten(item.get("files"), "magnet/files")
        raise bad_shape("alldebrid", "magnet/files", "the magnet is missing")

    def add_magnet(self, magnet: str) -> str:
        data = self._request(self._http, "POST", "magnet/upload", data={"magnets[]": [magnet]})
        return self._added(data, "magnets", "magnet/upload")

    def add_torrent_file(self, data: bytes) -> str:
        answer = self._request(self._http, "POST", "magnet/upload/file",
                               files={"files[]": ("upload.torrent", data, "application/x-bittorrent")})
        return self._added(answer, "files", "magnet/upload/file")

    @staticmethod
    def _added(data: dict[str, Any], key: str, path: str) -> str:
        """The id of the one item uploaded; its per-item error raises."""
        items = data.get(key)
        if not isinstance(items, list) or len(items) != 1 or not isinstance(items[0], dict):
            raise bad_shape("alldebrid", path, f"{key} is not a list of one object")
        item = items[0]
        if "error" in item:
            code, message = _error_fields(item)
            raise _error(code or "GENERIC", message)
        if item.get("id") in (None, "", 0):
            raise bad_shape("alldebrid", path, "an item without an id")
        return str(item["id"])

    def delete(self, torrent_id: str) -> None:
        self._request(self._http, "POST", "magnet/delete", data={"id": torrent_id})

    def active_count(self) -> ActiveCount:
        return ActiveCount(active=len(self._statuses(status="active")), limit=DEFAULT_SLOTS)

    # -- links

    def unrestrict(self, torrent: Torrent, file: RemoteFile) -> DownloadLink:
        """``link/unlock`` of the file's AllDebrid link: each call answers a fresh CDN URL."""
        if not file.link:
            raise errors.FileGone(f"alldebrid: {torrent.id}: file {file.id} has no link", code="no_link")

        def with_key(http: ProviderHTTP, key: int) -> DownloadLink:
            raw = self._request(http, "GET", "link/unlock", params={"link": file.link})
            url = raw.get("link")
            if not url and raw.get("delayed"):
                raise errors.Unavailable(f"alldebrid: {torrent.id}: the link is delayed", code="delayed")
            if not isinstance(url, str) or not url:
                raise bad_shape("alldebrid", "link/unlock", "no link")
            return self.download_link(url, _int(raw.get("filesize"), file.size) or file.size, key,
                                      download_id=str(raw.get("id", "")), filename=str(raw.get("filename", "")))
        return self.keys.call(with_key)

