"""Real-Debrid (api.real-debrid.com/rest/1.0): calls plus ``_parse_*`` mapping.

Errors come as 4xx/5xx with ``{"error": "<snake_case>", "error_code": N}``;
``_parse_error`` turns them into the gateway's vocabulary before the HTTP
layer decides whether to retry (docs/providers.md §2.5).
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
from gateway.providers.common import AccountClient, bad_shape, json_body, parse_iso_time, provider_error, verdict_code
from gateway.providers.http import ProviderHTTP
from gateway.providers.keys import KeyRing
from gateway.providers.wiring import account_http, download_keys

log = logging.getLogger(__name__)

DEFAULT_URL = "https://api.real-debrid.com/rest/1.0"
PAGE_LIMIT = 1000
SUBLIMITS: dict[str, Limit] = {}

_STATUS = {
    "magnet_conversion": TorrentStatus.METADATA,
    "waiting_files_selection": TorrentStatus.WAITING_SELECTION,
    "queued": TorrentStatus.QUEUED,
    "downloading": TorrentStatus.DOWNLOADING,
    "compressing": TorrentStatus.DOWNLOADING,
    "uploading": TorrentStatus.DOWNLOADING,
    "downloaded": TorrentStatus.DOWNLOADED,
    "magnet_error": TorrentStatus.ERROR,
    "error": TorrentStatus.ERROR,
    "virus": TorrentStatus.ERROR,
    "dead": TorrentStatus.DEAD,
}
# error_code → error class (docs/providers.md §2.5, "recommended classification").
_CODES: dict[int, type[errors.ProviderError]] = {
    5: errors.RateLimited, 34: errors.RateLimited,
    8: errors.AuthError, 9: errors.AuthError, 14: errors.AuthError, 15: errors.AuthError,
    7: errors.NotFound,
    19: errors.FileGone, 24: errors.FileGone,
    35: errors.Blocked, 28: errors.Blocked,
    23: errors.QuotaExceeded, 36: errors.QuotaExceeded,
    21: errors.SlotsFull,
    1: errors.BadRequest, 2: errors.BadRequest, 16: errors.BadRequest, 26: errors.BadRequest,
    27: errors.BadRequest, 29: errors.BadRequest, 30: errors.BadRequest,
    25: errors.Unavailable, 17: errors.Unavailable, -1: errors.Unavailable,
}
_STATUS_CLASSES: dict[int, type[errors.ProviderError]] = {
    401: errors.AuthError, 403: errors.AuthError, 404: errors.NotFound, 429: errors.RateLimited,
    451: errors.Blocked, 509: errors.SlotsFull,
}


def _parse_error(response: requests.Response) -> errors.ProviderError:
    """Classify by the body's error_code first, then by the HTTP status."""
    try:
        body = response.json()
    except ValueError:
        body = None
    code = body.get("error_code") if isinstance(body, dict) else None
    name = str(body.get("error", "")) if isinstance(body, dict) else ""
    status = response.status_code
    cls = _CODES.get(code) if isinstance(code, int) else None
    if cls is None:
        cls = _STATUS_CLASSES.get(status)
    if cls is None:
        cls = errors.Unavailable if status >= 500 else errors.BadRequest
    message = f"real-debrid: {name or 'HTTP ' + str(status)}"
    if cls is errors.RateLimited:
        return provider_error(cls, message, code=name, status=status, response=response)
    # An application code on a 5xx is a verdict, not a transient failure: keep its name.
    return provider_error(cls, message, code=verdict_code(name, status), status=status)




def _parse_files(raw: Any, links: Sequence[str]) -> tuple[RemoteFile, ...]:
    """Map files and links: one link per selected file, in ascending id order.

    A single link for several selected files means RD packed them into one
    archive; those files get no link of their own (docs/providers.md §2.3).
    """
    files = sorted((raw or []), key=lambda f: int(f.get("id", 0)))
    selected = [f for f in files if f.get("selected")]
    by_id = dict(zip((int(f["id"]) for f in selected), links, strict=True)) if len(links) == len(selected) else {}
    return tuple(
        RemoteFile(id=int(f["id"]), path=str(f.get("path", "")).lstrip("/"), size=int(f.get("bytes", 0)),
                   selected=bool(f.get("selected")), link=by_id.get(int(f["id"]), ""))
        for f in files
    )


def _parse_torrent(provider: str, raw: dict[str, Any]) -> Torrent:
    status_word = str(raw.get("status", ""))
    links = tuple(str(link) for link in raw.get("links") or ())
    return Torrent(
        provider=provider,
        id=str(raw["id"]),
        infohash=str(raw.get("hash", "")).lower(),
        name=str(raw.get("filename") or raw.get("original_filename") or raw["id"]),
        original_name=str(raw.get("original_filename") or raw.get("filename") or ""),
        size=int(raw.get("bytes", 0) or 0),
        status=_STATUS.get(status_word, TorrentStatus.ERROR),
        progress=float(raw.get("progress", 0) or 0) / 100.0,
        added=parse_iso_time(raw.get("added")),
        ended=parse_iso_time(raw.get("ended")),
        files=_parse_files(raw.get("files"), links) if "files" in raw else (),
        status_detail=status_word,
        speed=int(raw.get("speed", 0) or 0),
        seeders=int(raw.get("seeders", 0) or 0),
        links=links,
    )


def _json(response: requests.Response, path: str) -> Any:
    return json_body(response, "real-debrid", path)


def _list(response: requests.Response, path: str) -> list[dict[str, Any]]:
    """A listing page: a JSON array of objects, or a clear error (never an empty library)."""
    page = _json(response, path)
    if not isinstance(page, list) or not all(isinstance(item, dict) for item in page):
        raise bad_shape("real-debrid", path, f"a {type(page).__name__}, not a list of torrents")
    return page


def build(cfg: DebridConfig, clock: Clock, budget: Budget) -> RealDebrid:
    http = account_http(cfg, DEFAULT_URL, clock, budget)
    return RealDebrid(cfg.name, http, clock, cfg.auto_expire_links_after,
                      download_keys(cfg, DEFAULT_URL, clock, http))


class RealDebrid(AccountClient):
    """The Real-Debrid client. All HTTP goes through ``ProviderHTTP``."""

    kind = "realdebrid"
    capabilities = Capabilities(select_files=True, cache_check=False, downloads_list=True, recent_first=True)

    def __init__(self, name: str, http: ProviderHTTP, clock: Clock, link_ttl: float,
                 keys: KeyRing | None = None) -> None:
        super().__init__(name, http, clock, link_ttl, keys)

    def _call(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        return self._http.request(method, path, _parse_error, **kwargs)

    def _json(self, method: str, path: str, **kwargs: Any) -> Any:
        return _json(self._call(method, path, **kwargs), path)

    def account(self) -> Account:
        raw = self._json("GET", "user")
        return Account(username=str(raw.get("username", "")), premium=raw.get("type") == "premium",
                       premium_seconds_left=int(raw.get("premium", 0) or 0))

    def list_torrents(self) -> list[Torrent]:
        try:
            return [_parse_torrent(self.name, item) for item in self._paged("torrents")]
        except (KeyError, TypeError, ValueError, AttributeError):
            raise bad_shape("real-debrid", "torrents", "an item with fields missing or of the wrong type") from None

    def list_recent(self, limit: int) -> tuple[list[Torrent], int | None]:
        """RD lists newest first and sends X-Total-Count on every page (204 when empty)."""
        response = self._call("GET", "torrents", params={"offset": 0, "limit": limit})
        total = response.headers.get("X-Total-Count", "")
        count = int(total) if total.isdigit() else None
        if response.status_code == 204 or not response.content:
            return [], count if count is not None else 0
        return [_parse_torrent(self.name, item) for item in _list(response, "torrents")], count

    def _paged(self, path: str) -> list[dict[str, Any]]:
        """Page with offset/limit until X-Total-Count is reached or a 204 ends it."""
        items: list[dict[str, Any]] = []
        while True:
            response = self._call("GET", path, params={"offset": len(items), "limit": PAGE_LIMIT})
            if response.status_code == 204 or not response.content:
                return items
            page = _list(response, path)
            if not page:
                return items
            items.extend(page)
            total = int(response.headers.get("X-Total-Count", len(items)) or len(items))
            if len(items) >= total:
                return items

    def get_torrent(self, torrent_id: str) -> Torrent:
        raw = self._json("GET", f"torrents/info/{torrent_id}")
        try:
            return _parse_torrent(self.name, raw)
        except (KeyError, TypeError, ValueError, AttributeError):
            raise bad_shape("real-debrid", "torrents/info", "fields missing or of the wrong type") from None

    def add_magnet(self, magnet: str) -> str:
        return str(self._json("POST", "torrents/addMagnet", data={"magnet": magnet})["id"])

    def add_torrent_file(self, data: bytes) -> str:
        raw = self._json("PUT", "torrents/addTorrent", data=data,
                         headers={"Content-Type": "application/x-bittorrent"})
        return str(raw["id"])

    def select_files(self, torrent_id: str, file_ids: Sequence[int]) -> None:
        files = ",".join(str(i) for i in file_ids) or "all"
        self._call("POST", f"torrents/selectFiles/{torrent_id}", data={"files": files})

    def delete(self, torrent_id: str) -> None:
        self._call("DELETE", f"torrents/delete/{torrent_id}")

    def active_count(self) -> ActiveCount:
        raw = self._json("GET", "torrents/activeCount")
        return ActiveCount(active=int(raw.get("nb", 0)), limit=int(raw.get("limit", 0)))

    def unrestrict(self, torrent: Torrent, file: RemoteFile) -> DownloadLink:
        if not file.link:
            raise errors.FileGone(f"real-debrid: {torrent.id}: file {file.id} has no link", code="no_link")
        def with_key(http: ProviderHTTP, key: int) -> DownloadLink:
            raw = _json(http.request("POST", "unrestrict/link", _parse_error, data={"link": file.link}),
                        "unrestrict/link")
            return self.download_link(str(raw["download"]), int(raw.get("filesize", file.size) or file.size), key,
                                      download_id=str(raw.get("id", "")), filename=str(raw.get("filename", "")))
        return self.keys.call(with_key)
