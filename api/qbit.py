"""qBittorrent Web API v2, as qBittorrent 4.6.7 (API 2.9.3) answers it.

The *arrs and ``qbittorrent-api`` are the clients (arr-protocol.md §1): plain
text where qBit answers text (``Ok.``, ``Fails.``, versions), JSON elsewhere,
403 from the guard on a missing session (api/auth.py), never a 500 page or a
traceback. Every endpoint reads query-string and form parameters alike,
because the arrs send GET queries and qbittorrent-api sends POST forms.
"""

from __future__ import annotations

import functools
import logging
import math
import os
import re
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

import bottle

from api import qbit_model as model
from api.auth import QBIT_COOKIE
from api.responses import ApiError, json_body
from api.web import answer_errors
from gateway.arr.registry import ArrRegistry
from gateway.auth import Auth
from gateway.clock import Clock
from gateway.config import Config
from gateway.imports.fetch import fetch_torrent_url
from gateway.imports.manager import ImportManager
from gateway.imports.records import AddRequest, ImportRecord, ImportState
from gateway.imports.torrentmeta import TorrentMetaError, parse_torrent_file
from gateway.log import safe_url

log = logging.getLogger(__name__)

APP_VERSION = "v4.6.7"
API_VERSION = "2.9.3"
BUILD_INFO = {"qt": "6.4.2", "libtorrent": "2.0.10.0", "boost": "1.83.0", "openssl": "3.1.4",
              "zlib": "1.3", "bitness": 64}
READ = ["GET", "POST"]
WRITE = ["POST"]
TRUE = ("true", "1", "yes", "on")
_HEX40 = re.compile(r"^[0-9a-fA-F]{40}$")
_BASE32 = re.compile(r"^[A-Za-z2-7]{32}$")
# Accepted and answered 200: debrid torrents have no queue, peers or pieces to act on.
NO_OPS = (
    "pause", "resume", "stop", "start", "topPrio", "bottomPrio", "increasePrio", "decreasePrio",
    "setForceStart", "recheck", "reannounce", "setSuperSeeding", "toggleSequentialDownload",
    "toggleFirstLastPiecePrio", "setFirstLastPiecePrio", "setAutoManagement", "setDownloadLimit",
    "setUploadLimit", "setLocation", "setSavePath", "setDownloadPath", "rename", "filePrio",
    "renameFile", "renameFolder", "addTrackers", "editTracker", "removeTrackers", "addPeers",
)


class QbitError(ApiError):
    """Raised by handlers: answered as plain text with this status."""


def text(body: str, status: int = 200) -> bottle.HTTPResponse:
    return bottle.HTTPResponse(body, status=status, headers={"Content-Type": "text/plain; charset=UTF-8"})


_plain_errors = answer_errors(lambda status, message: text(message, status))


def qbit_errors(func: Callable[..., Any]) -> Callable[..., Any]:
    """Like ``api_errors`` but qBit-style: plain text, and a 500 never says more than that."""
    guarded = _plain_errors(func)

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return guarded(*args, **kwargs)
        except bottle.MultipartError:   # an HTTPError, but a body the client broke: say so in text
            return text("Bad Request: unreadable multipart body", 400)
    return wrapper


# -------------------------------------------------------------- parameters

def param(name: str, default: str = "") -> str:
    """A form field, else a query parameter (qbittorrent-api posts forms, the arrs query)."""
    value = _param_or_none(name)
    return default if value is None else value


def _param_or_none(name: str) -> str | None:
    request = bottle.request
    # forms.getunicode honours Bottle's per-encoding recoding; params (merged) would
    # decode multipart values twice and lose non-ASCII names.
    value: str | None = request.forms.getunicode(name)
    if value is None:
        value = request.query.getunicode(name)
    return value


def bool_param(name: str, default: bool = False) -> bool:
    value = _param_or_none(name)
    return default if value is None or value == "" else value.strip().lower() in TRUE


def float_param(name: str, default: float) -> float:
    try:
        value = float(param(name) or default)
    except ValueError:
        value = math.nan
    # NaN or infinity would reach the arrs as invalid JSON and break every poll.
    if not math.isfinite(value):
        raise QbitError(400, f"'{name}' must be a number")
    return value


def int_param(name: str, default: int) -> int:
    return int(float_param(name, default))


def split_list(raw: str, separator: str) -> list[str]:
    return [item.strip() for item in raw.split(separator) if item.strip()]


def valid_category(name: str) -> bool:
    """qBit's rule (no '\\', no empty '/' segment) plus no '.'/'..': the name becomes a folder."""
    if not name or "\\" in name or not name.isprintable():
        return False
    return all(part and part not in (".", "..") for part in name.split("/"))


def _is_url(value: str) -> bool:
    return value.lower().startswith(("http://", "https://"))


class QbitApi:
    """The handlers, over the import manager; share limits and empty tags live here."""

    def __init__(self, config: Config, imports: ImportManager, auth: Auth, arrs: ArrRegistry,
                 clock: Clock | None) -> None:
        self._config = config
        self._imports = imports
        self._auth = auth
        self._arrs = arrs
        self._clock = clock
        self._lock = threading.Lock()
        # Advisory only (a debrid torrent never seeds), so memory is enough: after
        # a restart the defaults, which let the arr clean up, apply again.
        self._limits: dict[str, model.ShareLimits] = {}
        self._renderer = model.InfoRenderer()
        self._tags: set[str] = set()
        self._rid = 0

    def now(self) -> float:
        return self._clock.now() if self._clock is not None else time.time()

    # ------------------------------------------------------------ auth

    def login(self) -> bottle.HTTPResponse:
        subject = self._authenticate(param("username"), param("password"))
        if subject is None:
            return text("Fails.")
        answer = text("Ok.")
        answer.set_cookie(QBIT_COOKIE, self._auth.create_session("qbit", subject), httponly=True, path="/")
        return answer

    def _authenticate(self, username: str, password: str) -> str | None:
        """The session subject for these credentials (an *arr's host, or the user), or None."""
        use_auth = self._config.use_auth
        if _is_url(username) and password and self._arrs.login(username, password, use_auth):
            return username.rstrip("/")
        if not use_auth:
            return username or "anonymous"
        if self._auth.check_api_token(password) or self._auth.check_password(username, password):
            return username or "api"
        return None

    def logout(self) -> bottle.HTTPResponse:
        self._auth.drop_session(bottle.request.get_cookie(QBIT_COOKIE) or "")
        answer = text("")
        answer.delete_cookie(QBIT_COOKIE, path="/")
        return answer

    def _arr_host(self) -> str:
        """The *arr behind this request's session, if it logged in with its URL and key."""
        sid = bottle.request.get_cookie(QBIT_COOKIE) or ""
        subject = self._auth.check_session("qbit", sid) if sid else None
        return subject if subject and _is_url(subject) else ""

    # ------------------------------------------------------------ app

    def preferences(self) -> bottle.HTTPResponse:
        return json_body(model.preferences(self._config))

    def transfer_info(self) -> bottle.HTTPResponse:
        speed = sum(r.speed for r in self._imports.list(kind="torrent") if r.state == ImportState.DOWNLOADING)
        return json_body({"dl_info_speed": speed, "dl_info_data": 0, "up_info_speed": 0, "up_info_data": 0,
                          "dl_rate_limit": 0, "up_rate_limit": 0, "dht_nodes": 0,
                          "connection_status": "connected"})

    def maindata(self) -> bottle.HTTPResponse:
        # Always a full update: correct for any rid the client sends, and small.
        with self._lock:
            self._rid += 1
            rid = self._rid
        now = self.now()
        torrents = {r.hash: model.torrent_info(r, now, self._limits.get(r.hash)) for r in self._imports.list(kind="torrent")}
        return json_body({
            "rid": rid, "full_update": True, "torrents": torrents, "torrents_removed": [],
            "categories": model.categories(self._imports.categories()), "categories_removed": [],
            "tags": self.all_tags(), "tags_removed": [], "trackers": {},
            "server_state": {"dl_info_speed": 0, "dl_info_data": 0, "up_info_speed": 0, "up_info_data": 0,
                             "dl_rate_limit": 0, "up_rate_limit": 0, "dht_nodes": 0,
                             "connection_status": "connected", "queueing": True,
                             "use_alt_speed_limits": False, "refresh_interval": 1500,
                             "free_space_on_disk": 0}})

    # ------------------------------------------------------- torrents: read

    def _hashes(self, required: bool = True) -> list[str] | None:
        """``hashes`` split on '|', lower-cased; None for ``all`` (or absent when optional)."""
        raw = param("hashes").strip()
        if raw.lower() == "all" or (not raw and not required):
            return None
        if not raw:
            raise QbitError(400, "Missing required parameter: hashes")
        return [h.lower() for h in split_list(raw, "|")]

    def _targets(self) -> list[str]:
        hashes = self._hashes()
        return [r.hash for r in self._imports.list(kind="torrent")] if hashes is None else hashes

    def _record(self) -> ImportRecord:
        infohash = param("hash").strip()
        if not infohash:
            raise QbitError(400, "Missing required parameter: hash")
        record = self._imports.get(infohash)
        if record is None:
            raise QbitError(404, "Not Found")
        return record

    def info(self) -> bottle.HTTPResponse:
        hashes = self._hashes(required=False)
        records = self._imports.list(kind="torrent", category=_param_or_none("category"),
                                     hashes=set(hashes) if hashes is not None else None)
        tag = _param_or_none("tag")
        if tag is not None:
            records = [r for r in records if (tag in r.tags if tag else not r.tags)]
        wanted = param("filter").strip()
        records = [r for r in records if model.matches_filter(r, wanted)]
        now = self.now()
        sort, reverse = param("sort").strip(), bool_param("reverse")
        limit, offset = int_param("limit", 0), int_param("offset", 0)
        if not (sort or reverse or limit or offset):   # what the *arrs send: the fast, cached path
            body = self._renderer.render(records, now, self._limits.get)
            return bottle.HTTPResponse(body, headers={"Content-Type": "application/json"})
        items = [model.torrent_info(r, now, self._limits.get(r.hash)) for r in records]
        return json_body(model.sort_and_page(items, sort, reverse, limit, offset))

    def properties(self) -> bottle.HTTPResponse:
        record = self._record()
        return json_body(model.torrent_properties(record, self.now(), self._limits.get(record.hash)))

    def files(self) -> bottle.HTTPResponse:
        return json_body(model.torrent_files(self._record()))

    def trackers(self) -> bottle.HTTPResponse:
        record = self._record()
        pseudo = [{"url": f"** [{name}] **", "status": 2, "tier": -1, "num_peers": 0, "num_seeds": 0,
                   "num_leeches": 0, "num_downloaded": 0, "msg": ""} for name in ("DHT", "PeX", "LSD")]
        real = [{"url": url, "status": 1, "tier": i, "num_peers": 0, "num_seeds": 0, "num_leeches": 0,
                 "num_downloaded": 0, "msg": ""} for i, url in enumerate(model.trackers(record))]
        return json_body(pseudo + real)

    def empty_list(self) -> bottle.HTTPResponse:
        """webseeds, pieceStates, pieceHashes: known hash → [] (no pieces are kept here)."""
        self._record()
        return json_body([])

    # ------------------------------------------------------- torrents: add

    def add(self) -> bottle.HTTPResponse:
        files = _torrent_parts()            # 415 before anything is added, as one unit
        urls = split_list(param("urls").replace("\r", "\n"), "\n")
        category = param("category").strip()
        if category and not valid_category(category):
            return text("Fails.")
        tags = tuple(split_list(param("tags"), ","))
        requests = [AddRequest(torrent_file=data, category=category, tags=tags) for data in files]
        requests += [r for r in (_url_request(u, category, tags) for u in urls) if r is not None]
        added = [record for record in (self._add_one(r) for r in requests) if record is not None]
        if not added:
            return text("Fails.")
        self._after_add(added, category, tags)
        return text("Ok.")

    def _add_one(self, request: AddRequest) -> ImportRecord | None:
        try:
            return self._imports.add(request)
        except TorrentMetaError as exc:
            log.info("qbit add refused: %s", exc)
            return None

    def _after_add(self, added: list[ImportRecord], category: str, tags: tuple[str, ...]) -> None:
        limits = model.ShareLimits(
            ratio_limit=float_param("ratioLimit", model.USE_GLOBAL),
            seeding_time_limit=int_param("seedingTimeLimit", model.USE_GLOBAL),
            inactive_seeding_time_limit=int_param("inactiveSeedingTimeLimit", model.USE_GLOBAL))
        with self._lock:
            self._tags.update(tags)
            if limits != model.ShareLimits():
                self._limits.update((r.hash, limits) for r in added)
        if tags:
            self._imports.set_tags([r.hash for r in added], list(tags), add=True)
        host = self._arr_host()
        if host and category:
            self._arrs.bind_category(host, category)

    # ---------------------------------------------------- torrents: change

    def delete(self) -> bottle.HTTPResponse:
        self._imports.delete(self._targets(), delete_files=bool_param("deleteFiles"))
        with self._lock:
            known = {r.hash for r in self._imports.list(kind="torrent")}
            self._limits = {h: v for h, v in self._limits.items() if h in known}
        return text("")

    def set_share_limits(self) -> bottle.HTTPResponse:
        limits = model.ShareLimits(
            ratio_limit=float_param("ratioLimit", model.USE_GLOBAL),
            seeding_time_limit=int_param("seedingTimeLimit", model.USE_GLOBAL),
            inactive_seeding_time_limit=int_param("inactiveSeedingTimeLimit", model.USE_GLOBAL))
        targets = [h for h in self._targets() if self._imports.get(h) is not None]
        with self._lock:
            self._limits.update((h, limits) for h in targets)
        return text("")

    def no_op(self) -> bottle.HTTPResponse:
        return text("")

    # ------------------------------------------------------------ categories

    def categories(self) -> bottle.HTTPResponse:
        return json_body(model.categories(self._imports.categories()))

    def _save_path(self) -> str:
        # qBit reads a relative savePath under the default save path; never under our cwd.
        path = param("savePath").strip()
        return os.path.normpath(os.path.join(self._config.download_folder, path)) if path else ""

    def create_category(self) -> bottle.HTTPResponse:
        name = param("category").strip()
        if not name:
            raise QbitError(400, "Category cannot be empty")
        if not valid_category(name):
            raise QbitError(409, "Incorrect category name")
        if name in self._imports.categories():
            raise QbitError(409, "Unable to create category")
        self._imports.create_category(name, self._save_path())
        return text("")

    def edit_category(self) -> bottle.HTTPResponse:
        name = param("category").strip()
        if not name:
            raise QbitError(400, "Category cannot be empty")
        if name not in self._imports.categories():
            raise QbitError(409, "Unable to edit category")
        self._imports.create_category(name, self._save_path())
        return text("")

    def remove_categories(self) -> bottle.HTTPResponse:
        names = split_list(param("categories").replace("\r", "\n"), "\n")
        self._imports.remove_categories(names)
        orphans = [r.hash for name in names for r in self._imports.list(kind="torrent", category=name)]
        if orphans:   # qBit leaves the torrents of a removed category uncategorised
            self._imports.set_category(orphans, "")
        return text("")

    def set_category(self) -> bottle.HTTPResponse:
        category = param("category").strip()
        if category and not valid_category(category):
            raise QbitError(409, "Incorrect category name")
        if category and category not in self._imports.categories():
            self._imports.create_category(category)   # friendlier than qBit's 409 (§1.4)
        self._imports.set_category(self._targets(), category)
        return text("")

    # ------------------------------------------------------------------ tags

    def all_tags(self) -> list[str]:
        with self._lock:
            known = set(self._tags)
        return sorted(known.union(*(r.tags for r in self._imports.list(kind="torrent"))))

    def tags(self) -> bottle.HTTPResponse:
        return json_body(self.all_tags())

    def create_tags(self) -> bottle.HTTPResponse:
        with self._lock:
            self._tags.update(split_list(param("tags"), ","))
        return text("")

    def delete_tags(self) -> bottle.HTTPResponse:
        names = split_list(param("tags"), ",")
        with self._lock:
            self._tags.difference_update(names)
        self._imports.set_tags([r.hash for r in self._imports.list(kind="torrent")], names, add=False)
        return text("")

    def add_tags(self) -> bottle.HTTPResponse:
        names = split_list(param("tags"), ",")
        with self._lock:
            self._tags.update(names)
        self._imports.set_tags(self._targets(), names, add=True)
        return text("")

    def remove_tags(self) -> bottle.HTTPResponse:
        names = split_list(param("tags"), ",")
        targets = self._targets()
        if not names:   # qBit: no tags given removes them all
            names = sorted({t for h in targets if (r := self._imports.get(h)) for t in r.tags})
        self._imports.set_tags(targets, names, add=False)
        return text("")


# ------------------------------------------------------------- add helpers

def _torrent_parts() -> list[bytes]:
    """Every uploaded file part (qbittorrent-api names them freely, the arrs ``torrents``)."""
    out = []
    for _, item in bottle.request.POST.allitems():
        if not isinstance(item, bottle.FileUpload) or not item.raw_filename:
            continue
        data = item.file.read()
        try:
            parse_torrent_file(data)
        except TorrentMetaError:
            name = item.raw_filename[:200]
            raise QbitError(415, f"Error: '{name}' is not a valid torrent file.") from None
        out.append(data)
    return out


def _url_request(url: str, category: str, tags: tuple[str, ...]) -> AddRequest | None:
    """A magnet, a bare infohash, or an http(s) link to a .torrent; None (logged) otherwise."""
    if _HEX40.match(url) or _BASE32.match(url):
        url = f"magnet:?xt=urn:btih:{url}"
    if url.lower().startswith("magnet:"):
        return AddRequest(magnet=url, category=category, tags=tags)
    if _is_url(url):
        try:
            return AddRequest(torrent_file=fetch_torrent_url(url), category=category, tags=tags)
        except TorrentMetaError as exc:
            log.info("qbit add: %s: %s", safe_url(url), exc)
            return None
    log.info("qbit add: not a magnet, infohash or http(s) link: %s", safe_url(url) or "(unreadable)")
    return None


# ----------------------------------------------------------------- routes

def _routes(api: QbitApi, config: Config) -> Iterable[tuple[str, list[str], Callable[[], Any]]]:
    constant = {"version": APP_VERSION, "webapiVersion": API_VERSION}
    yield "auth/login", WRITE, api.login
    yield "auth/login", ["GET"], lambda: text("Method Not Allowed", 405)   # credentials never in a URL
    yield "auth/logout", WRITE, api.logout
    for name, value in constant.items():
        def answer(value: str = value) -> bottle.HTTPResponse:
            return text(value)
        yield f"app/{name}", READ, answer
    yield "app/buildInfo", READ, lambda: json_body(BUILD_INFO)
    yield "app/preferences", READ, api.preferences
    yield "app/setPreferences", WRITE, api.no_op
    yield "app/defaultSavePath", READ, lambda: text(config.download_folder)
    yield "transfer/info", READ, api.transfer_info
    yield "transfer/speedLimitsMode", READ, lambda: text("0")
    for name in ("downloadLimit", "uploadLimit"):
        yield f"transfer/{name}", READ, lambda: text("0")
    for name in ("toggleSpeedLimitsMode", "setDownloadLimit", "setUploadLimit", "setSpeedLimitsMode"):
        yield f"transfer/{name}", WRITE, api.no_op
    yield "sync/maindata", READ, api.maindata
    yield "sync/torrentPeers", READ, lambda: json_body({"rid": 1, "full_update": True, "peers": {}})
    yield from _torrent_routes(api)


def _torrent_routes(api: QbitApi) -> Iterable[tuple[str, list[str], Callable[[], Any]]]:
    reads = {"info": api.info, "properties": api.properties, "files": api.files, "trackers": api.trackers,
             "webseeds": api.empty_list, "pieceStates": api.empty_list, "pieceHashes": api.empty_list,
             "categories": api.categories, "tags": api.tags}
    writes = {"add": api.add, "delete": api.delete, "setCategory": api.set_category,
              "createCategory": api.create_category, "editCategory": api.edit_category,
              "removeCategories": api.remove_categories, "createTags": api.create_tags,
              "deleteTags": api.delete_tags, "addTags": api.add_tags, "removeTags": api.remove_tags,
              "setShareLimits": api.set_share_limits}
    writes.update({name: api.no_op for name in NO_OPS})
    for name, handler in reads.items():
        yield f"torrents/{name}", READ, handler
    for name, handler in writes.items():
        yield f"torrents/{name}", WRITE, handler


def make_qbit_app(*, config: Config, imports: ImportManager, auth: Auth, arrs: ArrRegistry,
                  clock: Clock | None = None) -> bottle.Bottle:
    app = bottle.Bottle()
    api = QbitApi(config, imports, auth, arrs, clock)
    for path, methods, handler in _routes(api, config):
        app.route(f"/api/v2/{path}", methods, qbit_errors(handler))
    return app
