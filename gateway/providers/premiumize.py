"""Premiumize (www.premiumize.me/api): calls plus ``_parse_*`` mapping.

PM answers errors with HTTP 200 and ``{"status": "error", "message": ...}``,
so every response's envelope is checked and the message text is matched
against ``_CODES`` (docs/providers.md §6.1). A success may come without ``status``
(``item/details`` answers the bare item, §6.2). Of the five providers only PM
documents such shapes: AD, TB and DL document their envelope on every answer
(§3.1, §4.1, §5.1) and RD has none, so their clients keep requiring it. Cloudflare's 5xx pages (521, a 503
without JSON) are bare ``Unavailable`` errors, which the HTTP layer retries.

There is no single-transfer GET: ``get_torrent`` lists every transfer (one
call) and, once finished, walks the transfer's cloud folder (one
``folder/list`` per folder) or reads its single item (``item/details``).
Files are ordered by path; a file's id is its index in that order and its
``link`` is the item's CDN link with ``#pmid=<item id>`` appended, so that
``unrestrict`` can re-read the item in one call (a fragment never reaches the
CDN, so the string stays a working URL).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
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
from gateway.torrentid import TorrentMetaError, parse_magnet

log = logging.getLogger(__name__)

DEFAULT_URL = "https://www.premiumize.me/api"
SUBLIMITS: dict[str, Limit] = {}   # PM publishes no request limit, only fair-use points
MAX_ACTIVE = 25                    # active transfers per account (docs/providers.md §6.3)
CACHE_BATCH = 100
LIST_REUSE = 5.0   # seconds a transfer listing answers single-transfer lookups
ITEM_MARK = "#pmid="

_STATUS = {
    "waiting": TorrentStatus.QUEUED,      # DX maps it to an error; it is only a queue
    "queued": TorrentStatus.QUEUED,
    "running": TorrentStatus.DOWNLOADING,
    "finished": TorrentStatus.DOWNLOADED,
    "seeding": TorrentStatus.DOWNLOADED,
    "error": TorrentStatus.ERROR,
    "timeout": TorrentStatus.ERROR,
    "banned": TorrentStatus.ERROR,
    "deleted": TorrentStatus.ERROR,
}
_ACTIVE = frozenset({"waiting", "queued", "running"})
_DONE = frozenset({"finished", "seeding"})

# Lower-case fragment of the error message → error class; the first match wins.
_CODES: dict[str, type[errors.ProviderError]] = {
    "not logged in": errors.AuthError,
    "account not premium": errors.AuthError,
    "fair use limit": errors.QuotaExceeded,
    "maximum of 25 active downloads": errors.SlotsFull,
    "active downloads in progress": errors.SlotsFull,
    "too many requests": errors.RateLimited,
    "banned": errors.Blocked,
    "not found": errors.NotFound,
    "unknown item": errors.NotFound,
    "unknown transfer": errors.NotFound,
    "invalid id": errors.NotFound,
}
_HEX40 = re.compile(r"[0-9a-fA-F]{40}")


def _classify(message: str) -> type[errors.ProviderError]:
    lowered = message.lower()
    return next((cls for text, cls in _CODES.items() if text in lowered), errors.BadRequest)


def _error(message: str, response: requests.Response) -> errors.ProviderError:
    return provider_error(_classify(message), f"premiumize: {message}", code=message,
                          status=response.status_code, response=response)


def _parse_error(response: requests.Response) -> errors.ProviderError:
    """HTTP >= 400: a 429 is a rate limit, any other 5xx a bare (retryable) outage."""
    status = response.status_code
    if status == 429:
        return provider_error(errors.RateLimited, f"premiumize: HTTP {status}", code="429", status=status,
                              response=response)
    if status >= 500:
        return errors.Unavailable(f"premiumize: HTTP {status}", status=status)
    message = _message(response)
    if message:
        return _error(message, response)
    cls = errors.AuthError if status in (401, 403) else errors.NotFound if status == 404 else errors.BadRequest
    return cls(f"premiumize: HTTP {status}", code=str(status), status=status)


def _message(response: requests.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return ""
    return str(body.get("message") or "") if isinstance(body, dict) else ""


def _envelope(response: requests.Response, path: str) -> dict[str, Any]:
    """The body of a < 400 answer, raising the mapped error for ``status: error``.

    ``status`` may be absent: providers.md §6.2 documents each answer as its bare
    fields (``item/details`` is the item object, and the service answers it so), so
    only an explicit ``error`` is a failure; each caller checks the fields it reads.
    """
    body = json_body(response, "premiumize", path)
    if not isinstance(body, dict):
        raise bad_shape("premiumize", path, type(body).__name__)
    status = body.get("status", "success")
    if status == "error":
        raise _error(str(body.get("message") or "error"), response)
    if status != "success":
        raise bad_shape("premiumize", path, f"status {status!r}")
    return body


def _infohash(src: str) -> str:
    """The btih of a magnet src (hex or base32), or of a bare hash; "" for NZBs and URLs."""
    if _HEX40.fullmatch(src):
        return src.lower()
    if src[:8].lower() != "magnet:?":
        return ""
    try:
        return parse_magnet(src).infohash
    except TorrentMetaError:
        return ""


def _number(raw: Any, path: str, kind: type = float) -> Any:
    if raw is None or raw == "":
        return kind(0)
    if isinstance(raw, bool) or not isinstance(raw, (int, float, str)):
        raise bad_shape("premiumize", path, f"number {raw!r}")
    try:
        return kind(float(raw))
    except ValueError:
        raise bad_shape("premiumize", path, f"number {raw!r}") from None


def _parse_transfer(provider: str, raw: Any, files: tuple[RemoteFile, ...] = (),
                    status: TorrentStatus | None = None) -> Torrent:
    if not isinstance(raw, dict) or not raw.get("id"):
        raise bad_shape("premiumize", "transfer/list", "transfer")
    word = str(raw.get("status") or "")
    message = str(raw.get("message") or "")
    src = str(raw.get("src") or "")
    name = str(raw.get("name") or raw["id"])
    return Torrent(
        provider=provider, id=str(raw["id"]), infohash=_infohash(src), name=name, original_name=name,
        size=sum(f.size for f in files), status=status or _STATUS.get(word, TorrentStatus.ERROR),
        progress=min(1.0, max(0.0, _number(raw.get("progress"), "transfer/list"))),
        added=_number(raw.get("created_at"), "transfer/list"), files=files,
        status_detail=f"{word}: {message}" if message and _STATUS.get(word) == TorrentStatus.ERROR else word,
    )


def _file_link(raw: dict[str, Any]) -> str:
    link = str(raw.get("link") or "")
    return f"{link}{ITEM_MARK}{raw['id']}" if link else ""


def build(cfg: DebridConfig, clock: Clock, budget: Budget) -> Premiumize:
    http = account_http(cfg, DEFAULT_URL, clock, budget)
    keys = download_keys(cfg, DEFAULT_URL, clock, http, sublimits=SUBLIMITS)
    return Premiumize(cfg.name, http, clock, cfg.auto_expire_links_after, keys)


class Premiumize(AccountClient):
    """The Premiumize client. All HTTP goes through ``ProviderHTTP``."""

    kind = "premiumize"
    # No paging (list_recent: the whole list at once) and a transfer downloads whole: the
    # defaults of AccountClient.
    capabilities = Capabilities(cache_check=True, usenet=True)

    def __init__(self, name: str, http: ProviderHTTP, clock: Clock, link_ttl: float,
                 keys: KeyRing | None = None) -> None:
        super().__init__(name, http, clock, link_ttl, keys)
        self._listed: tuple[float, list[Any]] = (float("-inf"), [])   # (monotonic, transfers) of the last listing

    def _json(self, method: str, path: str, http: ProviderHTTP | None = None, **kwargs: Any) -> dict[str, Any]:
        return (http or self._http).request_read(method, path, _parse_error, _envelope, **kwargs)

    # -- account

    def account(self) -> Account:
        raw = self._json("GET", "account/info")
        until = _number(raw.get("premium_until"), "account/info", int)
        left = max(0, int(until - self._clock.now()))
        extra: dict[str, str] = {k: str(raw[k]) for k in ("limit_used", "space_used", "booster_points") if k in raw}
        return Account(username=str(raw.get("customer_id", "")), premium=left > 0,
                       premium_seconds_left=left, extra=extra)

    # -- transfers

    def _transfers(self) -> list[Any]:
        transfers = self._json("GET", "transfer/list").get("transfers")
        if not isinstance(transfers, list):
            raise bad_shape("premiumize", "transfer/list", "transfers")
        self._listed = (self._clock.monotonic(), transfers)
        return transfers

    def _transfer(self, torrent_id: str) -> dict[str, Any] | None:
        """One transfer. PM has no single-transfer call, so a listing only seconds old
        is reused for a finished transfer: the library's detail pass right after a
        full listing would otherwise list every transfer once per torrent. One in
        progress is always read fresh (imports poll it)."""
        at, transfers = self._listed
        if self._clock.monotonic() - at <= LIST_REUSE:
            raw = next((t for t in transfers if isinstance(t, dict) and str(t.get("id")) == torrent_id), None)
            if raw is not None and str(raw.get("status")) in _DONE:   # a finished one no longer changes
                return raw
        return next((t for t in self._transfers() if isinstance(t, dict) and str(t.get("id")) == torrent_id), None)

    def list_torrents(self) -> list[Torrent]:
        """Bare items: the files need a folder walk each, which ``get_torrent`` does."""
        return [_parse_transfer(self.name, raw) for raw in self._transfers()]

    def get_torrent(self, torrent_id: str) -> Torrent:
        raw = self._transfer(torrent_id)
        if raw is None:
            raise errors.NotFound(f"premiumize: transfer {torrent_id} not found", code="not_found")
        if str(raw.get("status")) not in _DONE:
            return _parse_transfer(self.name, raw)
        try:
            found = self._finished_files(raw)
        except errors.NotFound:
            found = []
        if not found:   # finished, but its cloud copy is gone
            return _parse_transfer(self.name, raw, status=TorrentStatus.DEAD)
        files = tuple(RemoteFile(id=i, path=path, size=size, link=link)
                      for i, (path, size, link) in enumerate(sorted(found)))
        ready = all(f.link for f in files)
        return _parse_transfer(self.name, raw, files,
                               None if ready else TorrentStatus.DOWNLOADING)

    def _finished_files(self, raw: dict[str, Any]) -> list[tuple[str, int, str]]:
        """(path relative to the transfer folder, size, link) of every file."""
        if raw.get("folder_id"):
            return self._walk(str(raw["folder_id"]), "")
        if raw.get("file_id"):
            item = self._json("GET", "item/details", params={"id": str(raw["file_id"])})
            return [self._file_row(item, "", "item/details")]
        raise bad_shape("premiumize", "transfer/list", "finished without folder_id or file_id")

    def _walk(self, folder_id: str, prefix: str) -> list[tuple[str, int, str]]:
        listing = self._json("GET", "folder/list", params={"id": folder_id})
        entries = listing.get("content")
        if not isinstance(entries, list):
            raise bad_shape("premiumize", "folder/list", "content")
        out: list[tuple[str, int, str]] = []
        for entry in entries:
            if not isinstance(entry, dict) or not entry.get("id") or not entry.get("name"):
                raise bad_shape("premiumize", "folder/list", "entry")
            if entry.get("type") == "folder":
                out += self._walk(str(entry["id"]), f"{prefix}{entry['name']}/")
            else:
                out.append(self._file_row(entry, prefix, "folder/list"))
        return out

    @staticmethod
    def _file_row(entry: dict[str, Any], prefix: str, path: str) -> tuple[str, int, str]:
        if not isinstance(entry, dict) or not entry.get("id") or not entry.get("name"):
            raise bad_shape("premiumize", path, "item")
        return f"{prefix}{entry['name']}", _number(entry.get("size"), path, int), _file_link(entry)

    def _create(self, **kwargs: Any) -> str:
        raw = self._json("POST", "transfer/create", **kwargs)
        if not raw.get("id"):
            raise bad_shape("premiumize", "transfer/create", "id")
        return str(raw["id"])

    def add_magnet(self, magnet: str) -> str:
        return self._create(data={"src": magnet})

    def add_torrent_file(self, data: bytes) -> str:
        # The docs' multipart field is "file" (DX wrongly sends "src").
        return self._create(files={"file": ("upload.torrent", data, "application/x-bittorrent")})

    def add_nzb(self, data: bytes, name: str) -> str:
        return self._create(files={"file": (f"{name}.nzb", data, "application/x-nzb")})

    def add_nzb_url(self, url: str, name: str) -> str:
        return self._create(data={"src": url})

    def delete(self, torrent_id: str) -> None:
        # PM deletes the transfer's cloud folder with it.
        self._listed = (float("-inf"), [])   # the listing we keep would still show it
        self._json("POST", "transfer/delete", data={"id": torrent_id})

    def active_count(self) -> ActiveCount:
        active = sum(1 for t in self._transfers() if isinstance(t, dict) and t.get("status") in _ACTIVE)
        return ActiveCount(active=active, limit=MAX_ACTIVE)

    def check_cached(self, infohashes: Sequence[str]) -> dict[str, bool]:
        hashes = list(dict.fromkeys(h.lower() for h in infohashes))
        out: dict[str, bool] = {}
        for start in range(0, len(hashes), CACHE_BATCH):
            batch = hashes[start:start + CACHE_BATCH]
            answer = self._json("POST", "cache/check", data={"items[]": batch}).get("response")
            if not isinstance(answer, list) or len(answer) != len(batch):
                raise bad_shape("premiumize", "cache/check", "response")
            out.update((h, bool(v)) for h, v in zip(batch, answer, strict=True))
        return out

    # -- links

    def unrestrict(self, torrent: Torrent, file: RemoteFile) -> DownloadLink:
        """Re-read the item (one call), so an expired link comes back fresh."""
        _, sep, item_id = file.link.rpartition(ITEM_MARK)
        if not sep or not item_id:
            raise errors.FileGone(f"premiumize: {torrent.id}: file {file.id} has no link", code="no_link")

        def with_key(http: ProviderHTTP, key: int) -> DownloadLink:
            try:
                raw = self._json("GET", "item/details", http, params={"id": item_id})
            except errors.NotFound as exc:
                if key:   # another key is another account: it cannot see this cloud
                    raise errors.QuotaExceeded(f"premiumize: item {item_id} is not in this key's account",
                                               code="other_account") from exc
                raise errors.FileGone(f"premiumize: item {item_id} is gone", code=exc.code) from exc
            if str(raw.get("id") or "") != item_id:   # an empty or foreign body is not this item
                raise bad_shape("premiumize", "item/details", "item without its id")
            url = str(raw.get("link") or "")
            if not url:
                raise errors.Unavailable(f"premiumize: item {item_id} has no link yet", code="no_link")
            return self.download_link(url, _number(raw.get("size"), "item/details", int) or file.size, key,
                                      download_id=item_id, filename=str(raw.get("name") or ""))
        return self.keys.call(with_key)
