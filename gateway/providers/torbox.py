"""TorBox (api.torbox.app/v1/api): torrents and usenet jobs behind one ``Provider``.

Every answer is the envelope ``{success, error, detail, data}``, and TorBox
sometimes reports a failure with HTTP 200, so ``_data`` checks ``success`` on
every response and raises the mapped error itself (docs/providers.md §4.1, §4.5).

Ids: a torrent is ``str(id)``; a usenet job is ``"usenet-<id>"`` so
``get_torrent``, ``delete`` and ``unrestrict`` know which family to ask.
Completion is ``download_finished`` and ``download_present`` (§4.4); a
finished item that is no longer present is DEAD ("not present").

Download keys: TorBox items belong to the account that added them; another
account's key gets ``ITEM_NOT_FOUND`` for them, so rotating keys for links
cannot work. The client uses the main key only and says so when
``download_api_keys`` are configured.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterable, Sequence
from typing import Any

import requests

from gateway import errors
from gateway.clock import Clock
from gateway.config import DebridConfig
from gateway.models import Account, ActiveCount, DownloadLink, RemoteFile, Torrent, TorrentStatus
from gateway.providers.base import Capabilities
from gateway.providers.budget import Budget, Limit
from gateway.providers.common import (
    AccountClient,
    bad_shape,
    error_fields,
    json_body,
    parse_iso_time,
    provider_error,
    verdict_code,
)
from gateway.providers.http import ProviderHTTP
from gateway.providers.keys import KeyRing
from gateway.providers.wiring import account_http, download_keys
from gateway.torrentid import TorrentMetaError, info_hash, parse_magnet

log = logging.getLogger(__name__)

DEFAULT_URL = "https://api.torbox.app/v1/api"
# TorBox allows 60 create calls per hour per token, besides the general window.
SUBLIMITS: dict[str, Limit] = {"create": Limit(60, 3600.0)}
PAGE_LIMIT = 1000
CHECK_BATCH = 100          # checkcached takes about 100 hashes per call
USENET = "usenet-"
LINK_TTL_CAP = 86400.0     # a started CDN download keeps going; a refused one is re-requested
PLAN_SLOTS = {1: 3, 3: 5, 2: 10}   # essential, standard, pro

_CODES: dict[str, type[errors.ProviderError]] = {
    "NO_AUTH": errors.AuthError, "BAD_TOKEN": errors.AuthError, "AUTH_ERROR": errors.AuthError,
    "OAUTH_VERIFICATION_ERROR": errors.AuthError, "INVALID_DEVICE": errors.AuthError,
    "PLAN_RESTRICTED_FEATURE": errors.AuthError,
    "TOO_MANY_REQUESTS": errors.RateLimited, "RATE_LIMIT": errors.RateLimited,
    "ACTIVE_LIMIT": errors.SlotsFull, "SEEDING_LIMIT": errors.SlotsFull,
    "MONTHLY_LIMIT": errors.QuotaExceeded, "COOLDOWN_LIMIT": errors.QuotaExceeded,
    "TOO_MUCH_DATA": errors.QuotaExceeded, "DOWNLOAD_TOO_LARGE": errors.QuotaExceeded,
    "BANNED_CONTENT_DETECTED": errors.Blocked, "BREACH_OF_TOS": errors.Blocked,
    "ITEM_NOT_FOUND": errors.NotFound, "ENDPOINT_NOT_FOUND": errors.BadRequest,
    "LINK_OFFLINE": errors.FileGone,
    "BOZO_TORRENT": errors.BadRequest, "BOZO_NZB": errors.BadRequest, "BOZO_RSS_FEED": errors.BadRequest,
    "INVALID_OPTION": errors.BadRequest, "MISSING_REQUIRED_OPTION": errors.BadRequest,
    "TOO_MANY_OPTIONS": errors.BadRequest, "DUPLICATE_ITEM": errors.BadRequest,
    "DIFF_ISSUE": errors.Unavailable, "VENDOR_DISABLED": errors.Unavailable,
}
_STATUS_CLASSES: dict[int, type[errors.ProviderError]] = {
    401: errors.AuthError, 403: errors.AuthError, 404: errors.NotFound, 429: errors.RateLimited,
}
# An add_only_if_cached miss: HTTP 409, or a 200 with success:false and one of these codes.
_NOT_CACHED = frozenset({"DOWNLOAD_NOT_CACHED", "NOT_CACHED", "ITEM_NOT_CACHED"})

# download_state words (the part before any "(...)") that mean the item is still moving.
_IN_PROGRESS = frozenset({
    "downloading", "stalled", "paused", "pausedup", "pauseddl", "checkingresumedata", "checking",
    "checkingdl", "checkingup", "forceddl", "forcedup", "allocating", "moving", "verifying", "repairing",
    "repair", "extracting", "direct unpack", "waiting", "processing", "completed", "uploading",
    "cached", "downloaded", "incomplete", "stalleddl",
})


def _error(code: str, detail: str, status: int, response: requests.Response | None) -> errors.ProviderError:
    message = f"torbox: {code or 'HTTP ' + str(status)}" + (f": {detail}" if detail else "")
    if status == 409 or code in _NOT_CACHED:
        return errors.BadRequest(message, code="not_cached", status=status)
    cls = _CODES.get(code)
    if cls is None and code.endswith("ERROR"):
        cls = errors.Unavailable          # TorBox: a code ending in ERROR is the server's fault
    if cls is None:
        cls = _STATUS_CLASSES.get(status) or (errors.Unavailable if status >= 500 else errors.BadRequest)
    if cls is errors.RateLimited:
        return provider_error(cls, message, code=code or "429", status=status, response=response)
    return provider_error(cls, message, code=verdict_code(code, status), status=status)


def _parse_error(response: requests.Response) -> errors.ProviderError:
    """A >= 400 answer: classify by the envelope's ``error`` code first, then by status."""
    code, detail = error_fields(response, "error", "detail")
    return _error(code, detail, response.status_code, response)


def _data(response: requests.Response, path: str) -> Any:
    """The envelope's ``data``; a ``success: false`` answer raises even with HTTP 200."""
    body = json_body(response, "torbox", path)
    if not isinstance(body, dict) or "success" not in body:
        raise bad_shape("torbox", path, type(body).__name__)
    if body.get("success") is not True:
        raise _error(str(body.get("error") or ""), str(body.get("detail") or ""), response.status_code, response)
    return body.get("data")


def _status(raw: dict[str, Any]) -> tuple[TorrentStatus, str]:
    state = str(raw.get("download_state") or "")
    if raw.get("download_finished"):
        if raw.get("download_present"):
            return TorrentStatus.DOWNLOADED, state
        return TorrentStatus.DEAD, "not present"
    word = state.split("(", 1)[0].strip().lower()
    if word == "metadl":
        return TorrentStatus.METADATA, state
    if word.startswith("queued"):
        return TorrentStatus.QUEUED, state
    if word in ("error", "missing") or word.startswith("failed"):
        return TorrentStatus.ERROR, state
    if word not in _IN_PROGRESS:
        log.debug("torbox: unknown download_state %r, taken as in progress", state)
    return TorrentStatus.DOWNLOADING, state


def _parse_files(raw: Any, root: str) -> tuple[RemoteFile, ...]:
    """Files with the torrent's own folder stripped (TorBox names include it)."""
    if not isinstance(raw, list):
        raise TypeError("files is not a list")
    names = [str(f.get("name") or f.get("short_name") or "") for f in raw]
    prefix = root + "/"
    strip = bool(root) and bool(names) and all(n.startswith(prefix) for n in names)
    return tuple(
        RemoteFile(id=int(f["id"]), path=(n[len(prefix):] if strip else n).lstrip("/"),
                   size=int(f.get("size") or 0), selected=True, link="")
        for f, n in zip(raw, names, strict=True))


def _parse_item(provider: str, raw: Any, usenet: bool) -> Torrent:
    if not isinstance(raw, dict) or "id" not in raw:
        raise TypeError("item is not an object with an id")
    item_id = f"{USENET}{int(raw['id'])}" if usenet else str(int(raw["id"]))
    name = str(raw.get("name") or item_id)
    status, detail = _status(raw)
    finished = bool(raw.get("download_finished"))
    return Torrent(
        provider=provider, id=item_id, infohash=str(raw.get("hash") or "").lower(), name=name,
        original_name=name, size=int(raw.get("size") or 0), status=status,
        progress=1.0 if finished else min(1.0, max(0.0, float(raw.get("progress") or 0))),
        added=parse_iso_time(raw.get("created_at")),
        ended=parse_iso_time(raw.get("updated_at")) if finished else 0.0,
        files=_parse_files(raw.get("files") or [], name),
        status_detail=detail, speed=int(raw.get("download_speed") or 0), seeders=int(raw.get("seeds") or 0),
    )


def _parse_items(provider: str, raw: Any, usenet: bool, path: str) -> list[Torrent]:
    if not isinstance(raw, list):
        raise bad_shape("torbox", path, f"{type(raw).__name__} instead of a list")
    try:
        return [_parse_item(provider, item, usenet) for item in raw]
    except (TypeError, ValueError, KeyError, AttributeError) as exc:
        raise bad_shape("torbox", path, str(exc)) from None


def _magnet_hash(magnet: str) -> str:
    try:
        return parse_magnet(magnet).infohash
    except TorrentMetaError:
        return ""


def _torrent_hash(data: bytes) -> str:
    """sha1 of the raw ``info`` dictionary, or "" when the file cannot be read."""
    try:
        return info_hash(data)
    except TorrentMetaError:
        return ""


def build(cfg: DebridConfig, clock: Clock, budget: Budget) -> TorBox:
    http = account_http(cfg, DEFAULT_URL, clock, budget)
    if cfg.download_api_keys:
        # TorBox ties items to the account that added them: another key cannot make their links.
        log.warning("%s: torbox ignores download_api_keys (items belong to the main key's account)", cfg.name)
    main_only = dataclasses.replace(cfg, download_api_keys=())
    keys = download_keys(main_only, DEFAULT_URL, clock, http, sublimits=SUBLIMITS)
    return TorBox(cfg.name, http, clock, cfg.auto_expire_links_after, keys)


class TorBox(AccountClient):
    """The TorBox client. All HTTP goes through ``ProviderHTTP``."""

    kind = "torbox"
    capabilities = Capabilities(cache_check=True, usenet=True)

    def __init__(self, name: str, http: ProviderHTTP, clock: Clock, link_ttl: float, keys: KeyRing) -> None:
        super().__init__(name, http, clock, min(link_ttl, LINK_TTL_CAP), keys)

    # -- plumbing

    def _get(self, path: str, http: ProviderHTTP | None = None, **kwargs: Any) -> Any:
        return (http or self._http).request_read("GET", path, _parse_error, _data, **kwargs)

    def _post(self, path: str, **kwargs: Any) -> Any:
        return self._http.request_read("POST", path, _parse_error, _data, **kwargs)

    @staticmethod
    def _split(item_id: str) -> tuple[bool, int]:
        usenet = item_id.startswith(USENET)
        num = item_id[len(USENET):] if usenet else item_id
        if not num.isdigit():
            raise errors.NotFound(f"torbox: no such item {item_id!r}", code="ITEM_NOT_FOUND")
        return usenet, int(num)

    # -- account

    def _me(self) -> dict[str, Any]:
        raw = self._get("user/me")
        if not isinstance(raw, dict):
            raise bad_shape("torbox", "user/me", type(raw).__name__)
        return raw

    def account(self) -> Account:
        raw = self._me()
        left = max(0, int(parse_iso_time(raw.get("premium_expires_at")) - self._clock.now()))
        premium = bool(raw.get("is_subscribed")) or (int(raw.get("plan") or 0) > 0 and left > 0)
        return Account(username=str(raw.get("email") or raw.get("id") or ""), premium=premium,
                       premium_seconds_left=left if premium else 0,
                       extra={"plan": str(raw.get("plan", "")), "auth_id": str(raw.get("auth_id", ""))})

    def active_count(self) -> ActiveCount:
        raw = self._me()
        try:
            limit = PLAN_SLOTS.get(int(raw.get("plan") or 0), 0) + int(raw.get("additional_concurrent_slots") or 0)
        except (TypeError, ValueError):
            raise bad_shape("torbox", "user/me", "plan is not a number") from None
        active = sum(1 for kind in ("torrents", "usenet") for item in self._pages(kind) if item.get("active"))
        return ActiveCount(active=active, limit=limit)

    # -- listing

    def _pages(self, kind: str) -> list[dict[str, Any]]:
        """Every raw item of ``torrents`` or ``usenet``, paged with offset/limit."""
        path = f"{kind}/mylist"
        items: list[dict[str, Any]] = []
        while True:
            page = self._get(path, params={"offset": len(items), "limit": PAGE_LIMIT, "bypass_cache": "true"})
            if page is None:
                return items
            if not isinstance(page, list) or not all(isinstance(x, dict) for x in page):
                raise bad_shape("torbox", path, "not a list of objects")
            items.extend(page)
            if len(page) < PAGE_LIMIT:
                return items

    def list_torrents(self) -> list[Torrent]:
        out = _parse_items(self.name, self._pages("torrents"), False, "torrents/mylist")
        return out + _parse_items(self.name, self._pages("usenet"), True, "usenet/mylist")

    def list_recent(self, limit: int) -> tuple[list[Torrent], int | None]:
        """Not cheap at TorBox (two families, no total): the newest of both first pages."""
        found: list[Torrent] = []
        for kind, usenet in (("torrents", False), ("usenet", True)):
            page = self._get(f"{kind}/mylist", params={"offset": 0, "limit": limit, "bypass_cache": "true"})
            found += _parse_items(self.name, page or [], usenet, f"{kind}/mylist")
        found.sort(key=lambda t: t.added, reverse=True)
        return found[:limit], None

    def get_torrent(self, torrent_id: str) -> Torrent:
        usenet, num = self._split(torrent_id)
        path = "usenet/mylist" if usenet else "torrents/mylist"
        raw = self._get(path, params={"id": num, "bypass_cache": "true"})
        if isinstance(raw, list):   # an id= answer is documented as one object; accept [object] too
            raw = next((x for x in raw if isinstance(x, dict) and str(x.get("id")) == str(num)), None)
            if raw is None:
                raise errors.NotFound(f"torbox: no such item {torrent_id!r}", code="ITEM_NOT_FOUND")
        try:
            return _parse_item(self.name, raw, usenet)
        except (TypeError, ValueError, KeyError, AttributeError) as exc:
            raise bad_shape("torbox", path, str(exc)) from None

    # -- adding

    def _created(self, raw: Any, path: str, id_field: str) -> int:
        if not isinstance(raw, dict):
            raise bad_shape("torbox", path, type(raw).__name__)
        if raw.get(id_field) is None and raw.get("queued_id") is not None:
            # Never asked for (no as_queued): TorBox queued it because the slots are full.
            raise errors.SlotsFull(f"torbox: {path}: queued as {raw['queued_id']}", code="queued")
        try:
            return int(raw[id_field])
        except (KeyError, TypeError, ValueError):
            raise bad_shape("torbox", path, f"no {id_field}") from None

    def _create_torrent(self, infohash: str, **kwargs: Any) -> str:
        path = "torrents/createtorrent"
        try:
            return str(self._created(self._post(path, scope="create", **kwargs), path, "torrent_id"))
        except errors.BadRequest as exc:
            if exc.code != "DUPLICATE_ITEM" or not infohash:
                raise
            existing = next((t.id for t in _parse_items(self.name, self._pages("torrents"), False, path)
                             if t.infohash == infohash), "")
            if not existing:
                raise
            return existing

    def add_magnet(self, magnet: str) -> str:
        return self._create_torrent(_magnet_hash(magnet), data={"magnet": magnet})

    def add_torrent_file(self, data: bytes) -> str:
        files = {"file": ("upload.torrent", data, "application/x-bittorrent")}
        return self._create_torrent(_torrent_hash(data), files=files)

    def _create_usenet(self, name: str, **kwargs: Any) -> str:
        path = "usenet/createusenetdownload"
        fields = {"name": name} if name else {}
        fields.update(kwargs.pop("data", {}))
        raw = self._post(path, scope="create", data=fields, **kwargs)
        return f"{USENET}{self._created(raw, path, 'usenetdownload_id')}"

    def add_nzb(self, data: bytes, name: str) -> str:
        return self._create_usenet(name, files={"file": (f"{name or 'upload'}.nzb", data, "application/x-nzb")})

    def add_nzb_url(self, url: str, name: str) -> str:
        return self._create_usenet(name, data={"link": url})

    def delete(self, torrent_id: str) -> None:
        usenet, num = self._split(torrent_id)
        if usenet:
            self._post("usenet/controlusenetdownload", json={"usenet_id": num, "operation": "delete"})
        else:
            self._post("torrents/controltorrent", json={"torrent_id": num, "operation": "delete"})

    # -- links

    def unrestrict(self, torrent: Torrent, file: RemoteFile) -> DownloadLink:
        """One requestdl (no redirect): every call mints a fresh CDN URL, so a re-unrestrict
        after the CDN refused the old one always gets a working link."""
        if torrent.status == TorrentStatus.DEAD:
            raise errors.FileGone(f"torbox: {torrent.id}: not present any more", code="not_present")
        usenet, num = self._split(torrent.id)
        path = "usenet/requestdl" if usenet else "torrents/requestdl"
        id_field = "usenet_id" if usenet else "torrent_id"

        def with_key(http: ProviderHTTP, index: int) -> DownloadLink:
            params = {id_field: num, "file_id": file.id, "token": http.key}   # the key this client sends (a changed one too)
            try:
                url = self._get(path, http, params=params)
            except errors.NotFound as exc:   # the item or file is gone from the account's storage
                raise errors.FileGone(f"torbox: {torrent.id}/{file.id}: {exc}", code=exc.code,
                                      status=exc.status) from None
            if not isinstance(url, str) or not url.startswith(("http://", "https://")):
                raise bad_shape("torbox", path, "data is not a URL")
            return self.download_link(url, file.size, index, filename=file.path.rsplit("/", 1)[-1])
        return self.keys.call(with_key)

    # -- cache

    def check_cached(self, infohashes: Sequence[str]) -> dict[str, bool]:
        found: set[str] = set()
        wanted = list(dict.fromkeys(h.lower() for h in infohashes if h))
        for start in range(0, len(wanted), CHECK_BATCH):
            batch = wanted[start:start + CHECK_BATCH]
            raw = self._get("torrents/checkcached", params={"hash": ",".join(batch), "format": "object"})
            found.update(_cached_hashes(raw))
        return {h: h.lower() in found for h in infohashes}


def _cached_hashes(raw: Any) -> Iterable[str]:
    """The hashes a checkcached answer names: an object map, a list, or null (none cached)."""
    if raw is None:
        return ()
    if isinstance(raw, dict):
        return [str(k).lower() for k, v in raw.items() if v]
    if isinstance(raw, list):
        if not all(isinstance(x, dict) and x.get("hash") for x in raw):
            raise bad_shape("torbox", "torrents/checkcached", "list entries without hash")
        return [str(x["hash"]).lower() for x in raw]
    raise bad_shape("torbox", "torrents/checkcached", type(raw).__name__)
