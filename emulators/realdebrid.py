"""Real-Debrid REST API (``/rest/1.0/...``) over the emulator world.

Shapes follow docs/providers.md §2.3 field for field; status codes follow §2.2/§2.5
(201 on add, 204 on select/delete, 204 + ``X-Total-Count`` for an empty page).
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import bottle

from gateway.torrentid import bdecode_spans
from gateway.torrentid import parse_magnet as parse_btih_magnet

from . import content
from .front import Front, bearer_or_query
from .world import RD, RD_HOST, Account, RdDownload, RdError, RdTorrent, World, iso

PREFIX = "/rest/1.0"
MAX_LIMIT = 5000
DEFAULT_LIMIT = 100

log = logging.getLogger("emulators.realdebrid")


# ------------------------------------------------------------------ helpers


def json_response(obj: Any, status: int = 200, headers: dict[str, str] | None = None,
                  ) -> bottle.HTTPResponse:
    try:
        body = json.dumps(obj, ensure_ascii=False).encode()
    except UnicodeEncodeError:   # a lone surrogate in a name: JSON can still carry it, as \udcxx
        body = json.dumps(obj).encode()
    hdrs = {"Content-Type": "application/json; charset=utf-8"}
    hdrs.update(headers or {})
    return bottle.HTTPResponse(body, status, hdrs)


def error_response(err: RdError) -> bottle.HTTPResponse:
    return json_response(err.body(), err.status, err.headers)


def extract_token(environ: dict[str, Any]) -> str | None:
    """Bearer header first; old clients pass ``?auth_token=``."""
    return bearer_or_query(environ, "auth_token")


def _form(name: str) -> str | None:
    value: str | None = bottle.request.forms.getunicode(name)
    if value is None:
        value = bottle.request.query.getunicode(name)
    return value


def _int_param(name: str) -> int | None:
    raw = bottle.request.query.get(name)
    if raw in (None, ""):
        return None
    try:
        return int(raw)
    except ValueError:
        raise RdError(400, 2) from None


def _page_window(total: int) -> tuple[int, int]:
    limit = _int_param("limit") or DEFAULT_LIMIT
    limit = max(1, min(limit, MAX_LIMIT))
    offset = _int_param("offset")
    page = _int_param("page")
    if offset is None:
        offset = (max(page, 1) - 1) * limit if page is not None else 0
    return max(offset, 0), limit


def _paged(items: list[Any], render: Callable[[Any], dict[str, Any]]) -> bottle.HTTPResponse:
    total = len(items)
    offset, limit = _page_window(total)
    window = items[offset : offset + limit]
    headers = {"X-Total-Count": str(total)}
    if not window:
        return bottle.HTTPResponse(b"", 204, headers)
    return json_response([render(x) for x in window], 200, headers)


def _number(x: float) -> int | float:
    # RD (a JS backend) prints whole numbers without a fraction.
    return int(x) if float(x).is_integer() else round(x, 2)


# ---------------------------------------------------------------- torrents


def parse_torrent(data: bytes) -> tuple[str, str, list[tuple[str, int]]]:
    """(infohash, name, [(path, size)]); the hash is sha1 of the raw ``info`` span.

    Bencode and the hash come from ``gateway.torrentid`` (the BitTorrent spec, not provider
    behaviour); reading name and files stays lenient here, as the providers are.
    """
    root, spans = bdecode_spans(data)
    info = root.get(b"info") if isinstance(root, dict) else None
    if not isinstance(info, dict):
        raise ValueError("no info dictionary")
    infohash = hashlib.sha1(spans[b"info"]).hexdigest()
    name = info.get(b"name", b"").decode("utf-8", "replace")
    if b"files" in info:
        files = [("/".join(p.decode("utf-8", "replace") for p in f[b"path"]), int(f[b"length"]))
                 for f in info[b"files"]]
    else:
        files = [(name, int(info.get(b"length", 0)))]
    return infohash, name, files


def parse_magnet(magnet: str) -> tuple[str, str | None]:
    """(lowercase hex infohash, display name); ValueError if unparsable."""
    parsed = parse_btih_magnet(magnet)
    return parsed.infohash, parsed.name or None


# -------------------------------------------------------------- rendering


class _Render:
    def __init__(self, world: World) -> None:
        self.world = world

    def torrent_item(self, t: RdTorrent) -> dict[str, Any]:
        converting = t.status == "magnet_conversion"
        out: dict[str, Any] = {
            "id": t.id,
            "filename": t.filename,
            "hash": t.hash,
            "bytes": 0 if converting else (t.selected_bytes() or t.original_bytes()),
            "host": RD_HOST,
            "split": 2000,
            "progress": _number(t.progress),
            "status": t.status,
            "added": t.added_iso,
            "links": [self.world.rd_link_url(x) for x in t.link_ids],
        }
        if t.ended is not None and t.status == "downloaded":
            out["ended"] = iso(t.ended)
        if t.status == "downloading":
            out["speed"] = t.speed or 0
            out["seeders"] = 12
        elif converting:
            out["seeders"] = 0
        return out

    def torrent_info(self, t: RdTorrent) -> dict[str, Any]:
        out = self.torrent_item(t)
        converting = t.status == "magnet_conversion"
        out["original_filename"] = t.filename
        out["original_bytes"] = 0 if converting else t.original_bytes()
        out["files"] = [] if converting else [
            {"id": f.id, "path": f.path, "bytes": f.bytes, "selected": f.selected}
            for f in t.files
        ]
        return out

    def unrestrict(self, d: RdDownload) -> dict[str, Any]:
        return {
            "id": d.id,
            "filename": d.filename,
            "mimeType": content.mime_type(d.filename),
            "filesize": d.file.bytes,
            "link": d.link,
            "host": RD_HOST,
            "chunks": 32,
            "crc": 1,
            "download": self.world.cdn_url(d),
            "streamable": 1 if content.is_video(d.filename) else 0,
        }

    def download_item(self, d: RdDownload) -> dict[str, Any]:
        out = self.unrestrict(d)
        del out["crc"]
        out["host_icon"] = f"{self.world.origin}/static/hosters/realdebrid.png"
        out["generated"] = iso(d.generated)
        return out


# -------------------------------------------------------------------- API


class RealDebridApi:
    """Route handlers; each returns an ``HTTPResponse`` (errors included)."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.render = _Render(world)

    def mount(self, app: bottle.Bottle) -> None:
        routes: list[tuple[str, str, Callable[..., Any], bool]] = [
            ("GET", "/user", self.user, False),
            ("POST", "/torrents/addMagnet", self.add_magnet, True),
            ("PUT", "/torrents/addTorrent", self.add_torrent, True),
            ("GET", "/torrents/info/<tid>", self.info, True),
            ("POST", "/torrents/selectFiles/<tid>", self.select_files, True),
            ("GET", "/torrents", self.list_torrents, True),
            ("DELETE", "/torrents/delete/<tid>", self.delete_torrent, True),
            ("GET", "/torrents/activeCount", self.active_count, True),
            ("GET", "/torrents/availableHosts", self.available_hosts, True),
            ("GET", "/torrents/instantAvailability<rest:re:.*>", self.instant, True),
            ("POST", "/unrestrict/link", self.unrestrict, True),
            ("GET", "/downloads", self.list_downloads, True),
            ("DELETE", "/downloads/delete/<did>", self.delete_download, True),
            ("GET", "/traffic", self.traffic, True),
            ("GET", "/traffic/details", self.traffic_details, True),
        ]
        for method, path, handler, premium in routes:
            app.route(PREFIX + path, method, self._authed(handler, premium))
        app.route(PREFIX + "/unrestrict/check", "POST", self._guard(self.check))
        app.route(PREFIX + "/time", "GET", self.time_plain)
        app.route(PREFIX + "/time/iso", "GET", self.time_iso)

    # -- plumbing

    def _guard(self, fn: Callable[..., bottle.HTTPResponse]) -> Callable[..., bottle.HTTPResponse]:
        def wrapper(**kw: Any) -> bottle.HTTPResponse:
            try:
                return fn(**kw)
            except RdError as err:
                return error_response(err)
        return wrapper

    def _authed(self, fn: Callable[..., bottle.HTTPResponse],
                premium: bool) -> Callable[..., bottle.HTTPResponse]:
        def wrapper(**kw: Any) -> bottle.HTTPResponse:
            try:
                acc = self._account(premium)
                return fn(acc, **kw)
            except RdError as err:
                return error_response(err)
        return wrapper

    def _account(self, premium: bool) -> Account:
        acc = self.world.account_for(extract_token(bottle.request.environ))
        if acc is None:
            raise RdError(401, 8)
        if premium and acc.premium_until <= self.world.now():
            raise RdError(403, 9)  # expired premium: management calls refused
        return acc

    # -- account

    def user(self, acc: Account) -> bottle.HTTPResponse:
        left = max(0, int(acc.premium_until - self.world.now()))
        return json_response({
            "id": acc.user_id,
            "username": f"emu{acc.user_id}",
            "email": f"emu{acc.user_id}@example.invalid",
            "points": 1000,
            "locale": "en",
            "avatar": f"{self.world.origin}/static/avatar.png",
            "type": "premium" if left > 0 else "free",
            "premium": left,
            "expiration": iso(acc.premium_until),
        })

    def traffic(self, acc: Account) -> bottle.HTTPResponse:
        self.world.traffic_exhausted(acc)  # rolls the daily counter
        limit = acc.traffic_limit_bytes_per_day
        return json_response({RD_HOST: {
            "left": (limit - acc.traffic_used_today) if limit is not None else -1,
            "bytes": acc.traffic_used_today, "links": 0, "limit": limit or 0,
            "type": "bytes", "extra": 0, "reset": "daily",
        }})

    def traffic_details(self, acc: Account) -> bottle.HTTPResponse:
        self.world.traffic_exhausted(acc)
        with self.world.lock:
            hist = dict(acc.history)
        return json_response({
            day: {"host": {RD_HOST: n}, "bytes": n} for day, n in sorted(hist.items())
        })

    # -- torrents

    def add_magnet(self, acc: Account) -> bottle.HTTPResponse:
        magnet = _form("magnet")
        if not magnet:
            raise RdError(400, 1)
        try:
            infohash, dn = parse_magnet(magnet)
        except (ValueError, TypeError):
            raise RdError(400, 2) from None
        t = self.world.add_magnet(acc.token, infohash, dn)
        return self._created(t)

    def add_torrent(self, acc: Account) -> bottle.HTTPResponse:
        data = bottle.request.body.read()
        try:
            infohash, name, files = parse_torrent(data)
        except (ValueError, IndexError, KeyError, TypeError, AttributeError):
            raise RdError(400, 30) from None
        t = self.world.add_torrent_file(acc.token, infohash, name, files)
        return self._created(t)

    def _created(self, t: RdTorrent) -> bottle.HTTPResponse:
        uri = f"{self.world.origin}{PREFIX}/torrents/info/{t.id}"
        return json_response({"id": t.id, "uri": uri}, 201)

    def info(self, acc: Account, tid: str) -> bottle.HTTPResponse:
        with self.world.lock:
            t = self.world.get_torrent(acc.token, tid)
            return json_response(self.render.torrent_info(t))

    def select_files(self, acc: Account, tid: str) -> bottle.HTTPResponse:
        if not self.world.select_files(acc.token, tid, _form("files") or ""):
            return json_response(RdError(202, 31).body(), 202)
        return bottle.HTTPResponse(b"", 204)

    def list_torrents(self, acc: Account) -> bottle.HTTPResponse:
        active_first = bottle.request.query.get("filter") == "active"
        items = self.world.list_torrents(acc.token, active_first)
        with self.world.lock:
            return _paged(items, self.render.torrent_item)

    def delete_torrent(self, acc: Account, tid: str) -> bottle.HTTPResponse:
        self.world.delete_torrent(acc.token, tid)
        return bottle.HTTPResponse(b"", 204)

    def active_count(self, acc: Account) -> bottle.HTTPResponse:
        nb = self.world.active_count(acc.token)
        return json_response({"nb": nb, "limit": acc.slots_limit})

    def available_hosts(self, acc: Account) -> bottle.HTTPResponse:
        return json_response([{"host": RD_HOST, "max_file_size": 2000}])

    def instant(self, acc: Account, rest: str) -> bottle.HTTPResponse:
        if not self.world.knobs["rd_legacy_instant_availability"]:
            raise RdError(403, 37)
        out: dict[str, Any] = {}
        for h in (x.lower() for x in rest.split("/") if x):
            entry = self.world.catalog.get(h)
            if entry is None or not self.world.is_cached(h):
                out[h] = []
                continue
            variant = {str(i): {"filename": f.path.rsplit("/", 1)[-1], "filesize": f.size}
                       for i, f in enumerate(entry.files, start=1)}
            out[h] = {"rd": [variant]}
        return json_response(out)

    # -- links

    def unrestrict(self, acc: Account) -> bottle.HTTPResponse:
        link = _form("link")
        if not link:
            raise RdError(400, 1)
        d = self.world.unrestrict(acc, link)
        return json_response(self.render.unrestrict(d))

    def check(self) -> bottle.HTTPResponse:
        link = _form("link")
        if not link:
            raise RdError(400, 1)
        rd_link, f = self.world.check_link(link)
        return json_response({
            "host": RD_HOST, "link": rd_link, "filename": f.path.rsplit("/", 1)[-1],
            "filesize": f.bytes, "supported": 1,
        })

    def list_downloads(self, acc: Account) -> bottle.HTTPResponse:
        items = self.world.list_downloads(acc.token)
        return _paged(items, self.render.download_item)

    def delete_download(self, acc: Account, did: str) -> bottle.HTTPResponse:
        self.world.delete_download(acc.token, did)
        return bottle.HTTPResponse(b"", 204)

    # -- time (no auth)

    def time_plain(self) -> bottle.HTTPResponse:
        dt = datetime.fromtimestamp(self.world.now(), tz=UTC)
        return bottle.HTTPResponse(dt.strftime("%Y-%m-%d %H:%M:%S"), 200,
                                   {"Content-Type": "text/plain; charset=utf-8"})

    def time_iso(self) -> bottle.HTTPResponse:
        dt = datetime.fromtimestamp(self.world.now(), tz=UTC)
        return bottle.HTTPResponse(dt.strftime("%Y-%m-%dT%H:%M:%S+0000"), 200,
                                   {"Content-Type": "text/plain; charset=utf-8"})


def mount_realdebrid(app: bottle.Bottle, world: World) -> RealDebridApi:
    api = RealDebridApi(world)
    api.mount(app)
    return api


def _error_shape(world: World, status: int, code: Any, message: str) -> tuple[int, Any]:
    """RD: the HTTP status RD pairs with the code, body ``{"error", "error_code"}``."""
    if status == 429 and code is None:
        code = 34
    err = RdError(status or 400, int(code) if isinstance(code, int) else -1, message or None)
    if not status:
        from .model import _RD_ERROR_STATUS
        err.status = _RD_ERROR_STATUS.get(err.code, 400)
    return err.status, err.body()


FRONT = Front(key=RD, prefixes=(PREFIX,), mount=mount_realdebrid, extract_token=extract_token,
              error=_error_shape)
