"""Debrid-Link (debrid-link.com/api/v2): calls plus ``_parse_*`` mapping.

Every answer is an envelope (docs/providers.md §5.1): ``{"success": true, "value":
...}`` or ``{"success": false, "error": "<camelCase>", "error_description"}``.
Errors usually come with a 4xx/5xx status, but the envelope is checked on
every response too, so a ``success: false`` inside a 200 is raised as well.

Model notes:

- No cache check (``seedbox/cached`` was removed), no file selection (we add
  with ``wait: false``), no usenet.
- Files carry their CDN ``downloadUrl`` from the add on. ``RemoteFile.id`` is
  the file's index in the torrent's ``files`` list, ``path`` the file name
  without a leading ``"<torrent name>/"``, ``link`` the ``downloadUrl``.
- ``unrestrict`` re-reads the torrent (``seedbox/list?ids=``, one call): DL
  re-issues a file's URL there once the old one expired, and a caller that
  saw the CDN refuse a URL comes back here for a fresh one. The file is
  matched by path (the index is only a hint: purged files may leave the list).
- Download keys: a DL URL belongs to the account that holds the torrent, and
  torrent ids are per account, so another key cannot re-read it. A key other
  than the main one that does not list the torrent answers ``QuotaExceeded``
  (``not_in_account``), so the ring ends with "every key exhausted" instead of
  a false "gone". Traffic exhaustion is seen only at the CDN (503).
- ``active_count``: torrents not yet complete; the limit comes from
  ``accountType`` (DL documents none: free 0, premium 25, unknown 25).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import requests

from gateway import errors
from gateway.clock import Clock
from gateway.config import DebridConfig
from gateway.models import Account, ActiveCount, DownloadLink, RemoteFile, Torrent, TorrentStatus
from gateway.providers.base import Capabilities
from gateway.providers.budget import Budget, Limit
from gateway.providers.common import AccountClient, bad_shape, error_fields, json_body, provider_error, verdict_code
from gateway.providers.http import ProviderHTTP
from gateway.providers.keys import KeyRing
from gateway.providers.wiring import account_http, download_keys

log = logging.getLogger(__name__)

DEFAULT_URL = "https://debrid-link.com/api/v2"
SUBLIMITS: dict[str, Limit] = {}
PER_PAGE = 100
MAX_PAGES = 10_000          # a runaway "next" must not page for ever
ACCOUNT_TYPE_TTL = 3600.0   # s the accountType read by active_count is reused

_COMPLETE = frozenset({5, 6, 100})
_SLOTS_BY_TYPE = {0: 0, 1: 25, 2: 25}   # accountType → active torrents (not documented)
DEFAULT_SLOTS = 25

# The `error` codes of docs/providers.md §5.4 → the gateway's vocabulary.
_CODES: dict[str, type[errors.ProviderError]] = {
    **dict.fromkeys(("badToken", "badSign", "hidedToken", "expired_token", "invalid_client",
                     "unauthorized_client", "access_denied", "authorization_pending",
                     "accountLocked", "captchaRequired", "notDebrid"), errors.AuthError),
    **dict.fromkeys(("floodDetected", "maxAttempts"), errors.RateLimited),
    **dict.fromkeys(("maxTorrent", "maxTransfer"), errors.SlotsFull),
    **dict.fromkeys(("maxData", "maxDataHost", "maxLink", "maxLinkHost"), errors.QuotaExceeded),
    **dict.fromkeys(("fileNotFound", "fileNotAvailable"), errors.FileGone),
    "badId": errors.NotFound,
    **dict.fromkeys(("badArguments", "invalid_request", "badFileUrl", "badFilePassword",
                     "torrentTooBig", "hostNotValid", "notFreeHost"), errors.BadRequest),
    # An add refused for its content: never retry it.
    **dict.fromkeys(("notAddTorrent", "serverNotAllowed"), errors.Blocked),
    **dict.fromkeys(("server_error", "internalError", "unknowR", "maintenanceHost", "noServerHost",
                     "disabledServerHost", "freeServerOverload"), errors.Unavailable),
}
_STATUS_CLASSES: dict[int, type[errors.ProviderError]] = {
    401: errors.AuthError, 403: errors.AuthError, 404: errors.NotFound, 429: errors.RateLimited,
}


def _error(code: str, description: str, response: requests.Response) -> errors.ProviderError:
    status = response.status_code
    cls = _CODES.get(code) or _STATUS_CLASSES.get(status)
    if cls is None:
        cls = errors.Unavailable if status >= 500 else errors.BadRequest
    message = f"debrid-link: {code or 'HTTP ' + str(status)}" + (f": {description}" if description else "")
    if cls is errors.RateLimited:
        return provider_error(cls, message, code=code, status=status, response=response)
    return provider_error(cls, message, code=verdict_code(code, status), status=status)


def _parse_error(response: requests.Response) -> errors.ProviderError:
    """Classify a >= 400 answer by the envelope's ``error`` first, then by the status."""
    code, description = error_fields(response, "error", "error_description")
    return _error(code, description, response)


def _envelope(response: requests.Response, path: str) -> dict[str, Any]:
    """The checked envelope of a < 400 answer; raises the mapped error for ``success: false``."""
    body = json_body(response, "debrid-link", path)
    if not isinstance(body, dict) or "success" not in body:
        raise bad_shape("debrid-link", path, type(body).__name__)
    if body.get("success") is not True:
        raise _error(str(body.get("error") or ""), str(body.get("error_description") or ""), response)
    return body


def _int(value: Any) -> int:
    try:
        return int(value or 0)
    except (TypeError, ValueError):
        return 0


def _float(value: Any) -> float:
    try:
        return float(value or 0)
    except (TypeError, ValueError):
        return 0.0


def _file_path(torrent_name: str, name: str) -> str:
    """Relative to the torrent root: some answers prefix ``"<torrent name>/"``."""
    path = name.replace("\\", "/").lstrip("/")
    root = torrent_name.strip("/") + "/"
    if torrent_name and path.startswith(root):
        path = path[len(root):]
    return path


def _parse_files(torrent_name: str, raw: Any, path: str) -> tuple[RemoteFile, ...]:
    if not isinstance(raw, list) or not all(isinstance(f, dict) for f in raw):
        raise bad_shape("debrid-link", path, type(raw).__name__)
    return tuple(RemoteFile(id=i, path=_file_path(torrent_name, str(f.get("name") or "")),
                            size=_int(f.get("size")), selected=True, link=str(f.get("downloadUrl") or ""))
                 for i, f in enumerate(raw))


def _status(raw: dict[str, Any], files: Sequence[RemoteFile]) -> tuple[TorrentStatus, str]:
    """docs/providers.md §5.3 "Gateway rule"; the detail is DL's own status number or errorString."""
    code = _int(raw.get("status"))
    complete = (_float(raw.get("downloadPercent")) >= 100 or raw.get("downloaded") is True
                or code in _COMPLETE)
    if complete:
        if not files:
            return TorrentStatus.DEAD, "no_files"        # complete, but storage lost every file
        if all(f.link for f in files):
            return TorrentStatus.DOWNLOADED, str(code)
        return TorrentStatus.DOWNLOADING, str(code)      # links still being issued
    error_string = str(raw.get("errorString") or "")
    if _int(raw.get("error")) or error_string:
        return TorrentStatus.ERROR, error_string or f"error {_int(raw.get('error'))}"
    if code == 1:
        return TorrentStatus.METADATA, str(code)
    if code in (2, 3):
        return TorrentStatus.QUEUED, str(code)
    if code == 4:
        return TorrentStatus.DOWNLOADING, str(code)
    return TorrentStatus.ERROR, str(code)                # "everything else is an error"


def _parse_torrent(provider: str, raw: Any, path: str = "seedbox/list") -> Torrent:
    if not isinstance(raw, dict) or not raw.get("id"):
        raise bad_shape("debrid-link", path, type(raw).__name__)
    name = str(raw.get("name") or "")
    files = _parse_files(name, raw.get("files") or [], path)
    status, detail = _status(raw, files)
    return Torrent(
        provider=provider,
        id=str(raw["id"]),
        infohash=str(raw.get("hashString") or "").lower(),
        name=name or str(raw["id"]),
        original_name=name,
        size=_int(raw.get("totalSize")) or sum(f.size for f in files),
        status=status,
        progress=min(1.0, max(0.0, _float(raw.get("downloadPercent")) / 100.0)),
        added=_float(raw.get("created")),
        files=files,
        status_detail=detail,
        speed=_int(raw.get("downloadSpeed")),
        seeders=_int(raw.get("peersConnected")),
    )


def _find_file(files: Sequence[RemoteFile], wanted: RemoteFile) -> RemoteFile | None:
    """The listed file that ``wanted`` names: its index if the path agrees, else by path."""
    if 0 <= wanted.id < len(files) and files[wanted.id].path == wanted.path:
        return files[wanted.id]
    return next((f for f in files if f.path == wanted.path), None)


def build(cfg: DebridConfig, clock: Clock, budget: Budget) -> DebridLink:
    http = account_http(cfg, DEFAULT_URL, clock, budget)
    keys = download_keys(cfg, DEFAULT_URL, clock, http, sublimits=SUBLIMITS)
    return DebridLink(cfg.name, http, clock, cfg.auto_expire_links_after, keys)


class DebridLink(AccountClient):
    """The Debrid-Link client. All HTTP goes through ``ProviderHTTP``."""

    kind = "debridlink"
    # Torrents are added with ``wait: false`` and download every file; no NZBs; seedbox/cached
    # was removed: the defaults of AccountClient answer those.
    capabilities = Capabilities(select_files=False, cache_check=False, usenet=False,
                                downloads_list=False, recent_first=False)

    def __init__(self, name: str, http: ProviderHTTP, clock: Clock, link_ttl: float,
                 keys: KeyRing | None = None) -> None:
        super().__init__(name, http, clock, link_ttl, keys)
        self._account_type: tuple[float, int] | None = None   # (monotonic read at, accountType)

    # -- plumbing

    def _value(self, method: str, path: str, http: ProviderHTTP | None = None, **kwargs: Any) -> Any:
        return (http or self._http).request_read(method, path, _parse_error, _envelope, **kwargs).get("value")

    def _page(self, page: int, http: ProviderHTTP | None = None, **params: Any) -> tuple[list[Any], int]:
        """One ``seedbox/list`` page: (items, next page or -1)."""
        response = (http or self._http).request("GET", "seedbox/list", _parse_error,
                                                params={"page": page, "perPage": PER_PAGE, **params})
        body = _envelope(response, "seedbox/list")
        value = body.get("value")
        if not isinstance(value, list) or not all(isinstance(i, dict) for i in value):
            raise bad_shape("debrid-link", "seedbox/list", type(value).__name__)
        pagination = body.get("pagination")
        nxt = pagination.get("next") if isinstance(pagination, dict) else None
        return value, nxt if isinstance(nxt, int) and nxt > page else -1

    # -- account

    def account(self) -> Account:
        raw = self._value("GET", "account/infos")
        if not isinstance(raw, dict):
            raise bad_shape("debrid-link", "account/infos", type(raw).__name__)
        kind = _int(raw.get("accountType"))
        self._account_type = (self._clock.monotonic(), kind)
        left = _int(raw.get("premiumLeft"))
        return Account(username=str(raw.get("username") or ""), premium=kind > 0 or left > 0,
                       premium_seconds_left=max(0, left),
                       extra={"accountType": str(kind)})

    def active_count(self) -> ActiveCount:
        active = sum(1 for t in self.list_torrents()
                     if t.status in (TorrentStatus.METADATA, TorrentStatus.QUEUED, TorrentStatus.DOWNLOADING))
        cached = self._account_type
        if cached is None or self._clock.monotonic() - cached[0] > ACCOUNT_TYPE_TTL:
            self.account()
            cached = self._account_type
        kind = cached[1] if cached else -1
        return ActiveCount(active=active, limit=_SLOTS_BY_TYPE.get(kind, DEFAULT_SLOTS))

    # -- torrents

    def list_torrents(self) -> list[Torrent]:
        """Every torrent, with files: page/perPage=100 until ``pagination.next`` ends."""
        out: list[Torrent] = []
        page = 0
        for _ in range(MAX_PAGES):
            items, nxt = self._page(page)
            out.extend(_parse_torrent(self.name, item) for item in items)
            if nxt < 0 or not items:
                return out
            page = nxt
        log.warning("debrid-link: seedbox/list: stopped after %d pages", MAX_PAGES)
        return out

    def list_recent(self, limit: int) -> tuple[list[Torrent], int | None]:
        """The first page (DL lists newest first); the total is not reported exactly."""
        items, _ = self._page(0)
        return [_parse_torrent(self.name, item) for item in items[:limit]], None

    def get_torrent(self, torrent_id: str) -> Torrent:
        return self._read(torrent_id, self._http)

    def _read(self, torrent_id: str, http: ProviderHTTP) -> Torrent:
        items, _ = self._page(0, http, ids=torrent_id)
        match = [i for i in items if str(i.get("id")) == torrent_id]
        if not match:   # an empty list is DL's "no such id"
            raise errors.NotFound(f"debrid-link: torrent {torrent_id} not found", code="badId")
        return _parse_torrent(self.name, match[0])

    def add_magnet(self, magnet: str) -> str:
        return self._added(self._value("POST", "seedbox/add",
                                       json={"url": magnet, "wait": False, "async": True}))

    def add_torrent_file(self, data: bytes) -> str:
        return self._added(self._value("POST", "seedbox/add", data={"wait": "false", "async": "true"},
                                       files={"file": ("upload.torrent", data, "application/x-bittorrent")}))

    @staticmethod
    def _added(value: Any) -> str:
        if not isinstance(value, dict) or not value.get("id"):
            raise bad_shape("debrid-link", "seedbox/add", type(value).__name__)
        return str(value["id"])

    def delete(self, torrent_id: str) -> None:
        self._value("DELETE", f"seedbox/{torrent_id}/remove")

    # -- links

    def unrestrict(self, torrent: Torrent, file: RemoteFile) -> DownloadLink:
        """The file's current ``downloadUrl`` from a fresh ``seedbox/list?ids=`` (one call)."""
        def with_key(http: ProviderHTTP, key: int) -> DownloadLink:
            try:
                fresh = self._read(torrent.id, http)
            except errors.NotFound:
                if key:
                    raise errors.QuotaExceeded(f"debrid-link: key {key} does not hold {torrent.id}",
                                               code="not_in_account") from None
                raise errors.FileGone(f"debrid-link: torrent {torrent.id} is gone", code="torrent_gone") from None
            return self._link(fresh, file, key)
        return self.keys.call(with_key)

    def _link(self, fresh: Torrent, file: RemoteFile, key: int) -> DownloadLink:
        found = _find_file(fresh.files, file)
        if found is None or not found.link:
            raise errors.FileGone(f"debrid-link: {fresh.id}: {file.path!r} is gone", code="fileNotFound")
        if fresh.status != TorrentStatus.DOWNLOADED:
            raise errors.Unavailable(f"debrid-link: {fresh.id} is not complete ({fresh.status_detail})",
                                     code="not_ready")
        return self.download_link(found.link, found.size or file.size, key, filename=found.path.rsplit("/", 1)[-1])
