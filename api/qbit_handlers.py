"""The qBittorrent Web API's handlers over the import manager (routes: api/qbit.py)."""

from __future__ import annotations

import logging
import os
import threading
import time

import bottle

from api import qbit_model as model
from api.auth import QBIT_COOKIE
from api.qbit_request import (
    QbitError,
    bool_param,
    float_param,
    int_param,
    is_url,
    param,
    param_or_none,
    split_list,
    text,
    torrent_parts,
    url_request,
    valid_category,
)
from api.responses import json_body
from gateway.arr.registry import ArrRegistry
from gateway.auth import Auth
from gateway.clock import Clock
from gateway.config import Config
from gateway.imports.manager import ImportManager
from gateway.imports.records import AddRequest, ImportRecord, ImportState
from gateway.imports.torrentmeta import TorrentMetaError

log = logging.getLogger(__name__)


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
        if is_url(username) and password and self._arrs.login(username, password, use_auth):
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
        return subject if subject and is_url(subject) else ""

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
        records = self._imports.list(kind="torrent", category=param_or_none("category"),
                                     hashes=set(hashes) if hashes is not None else None)
        tag = param_or_none("tag")
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
        files = torrent_parts()            # 415 before anything is added, as one unit
        urls = split_list(param("urls").replace("\r", "\n"), "\n")
        category = param("category").strip()
        if category and not valid_category(category):
            return text("Fails.")
        tags = tuple(split_list(param("tags"), ","))
        requests = [AddRequest(torrent_file=data, category=category, tags=tags) for data in files]
        requests += [r for r in (url_request(u, category, tags) for u in urls) if r is not None]
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
