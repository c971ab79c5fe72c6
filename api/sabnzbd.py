"""The SABnzbd API (``/sabnzbd/api``): what Sonarr, Radarr, Lidarr, Readarr and Prowlarr call.

Every answer is HTTP 200 JSON, errors included (``{"status": false, "error":
...}``): the *arrs show SABnzbd's own error text only from a 200, and look
for the exact phrases "API Key Required" and "API Key Incorrect"
(arr-protocol §3.1). Shapes and status words follow §3.3 and §3.4 to the
letter: one unknown status or a malformed ``timeleft`` breaks the *arr's
whole poll. NZB jobs are import records of kind "nzb"; the nzo_id is
``SABnzbd_nzo_<md5 of the NZB>``.
"""

from __future__ import annotations

import logging
import urllib.parse
from collections.abc import Callable
from typing import Any

import bottle

from api.responses import json_body
from gateway.auth import Auth
from gateway.config import Config
from gateway.imports.fetch import fetch_torrent_url
from gateway.imports.manager import ImportManager
from gateway.imports.nzb import NzbError, import_key, job_name, nzo_id
from gateway.imports.records import AddRequest, ImportRecord, ImportState
from gateway.imports.torrentmeta import TorrentMetaError

log = logging.getLogger(__name__)

VERSION = "4.5.1"
DEFAULT_CATEGORIES = ("movies", "tv", "audio", "software")   # real SABnzbd's own
MIB = 1 << 20
NO_USENET = "no account takes NZBs: add a torbox or premiumize entry to debrids"


class SabError(Exception):
    """Answered as ``{"status": false, "error": message}`` with HTTP 200."""


def _hashes(value: str) -> list[str]:
    return [import_key(v) for v in value.split(",") if v.strip()]


def _timeleft(seconds: float) -> str:
    """``H:MM:SS`` (``D:H:MM:SS`` past a day); never empty, the *arrs reject that."""
    total = max(0, int(seconds))
    days, rest = divmod(total, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    text = f"{hours}:{minutes:02d}:{secs:02d}"
    return f"{days}:{text}" if days else text


class SabApi:
    def __init__(self, config: Config, manager: ImportManager, auth: Auth, now: Callable[[], float]) -> None:
        self._config = config
        self._manager = manager
        self._auth = auth
        self._now = now
        self._modes: dict[str, Callable[[bottle.FormsDict], Any]] = {
            "version": lambda p: {"version": VERSION},
            "get_config": self.get_config, "get_cats": self.get_cats, "fullstatus": self.fullstatus,
            "addfile": self.addfile, "addurl": self.addurl, "queue": self.queue, "history": self.history,
            "pause": self.ok, "resume": self.ok, "status": self.fullstatus,
        }

    # ------------------------------------------------------------- plumbing

    def handle(self) -> bottle.HTTPResponse:
        params = bottle.request.params   # query and form merged: addfile sends both
        mode = (params.getunicode("mode") or "").lower()
        try:
            if mode != "version":
                self._check_key(params)
            handler = self._modes.get(mode)
            if handler is None:
                raise SabError("not implemented" if mode else "no mode given")
            return json_body(handler(params))
        except SabError as exc:
            return json_body({"status": False, "error": str(exc)})

    def _check_key(self, params: bottle.FormsDict) -> None:
        if not self._config.use_auth:
            return
        key = params.getunicode("apikey") or ""
        user, password = params.getunicode("ma_username") or "", params.getunicode("ma_password") or ""
        if key and self._auth.check_api_token(key):
            return
        if not key and user and self._auth.check_password(user, password):
            return
        raise SabError("API Key Incorrect" if key or user else "API Key Required")

    @staticmethod
    def ok(params: bottle.FormsDict) -> dict[str, Any]:
        return {"status": True}

    # ---------------------------------------------------------------- config

    def _categories(self) -> list[str]:
        names = list(self._manager.categories())
        return names + [c for c in DEFAULT_CATEGORIES if c not in names]

    def get_config(self, params: bottle.FormsDict) -> dict[str, Any]:
        folder = self._config.download_folder
        categories = [{"name": "*", "order": 0, "pp": "3", "script": "None", "dir": "", "newzbin": "",
                       "priority": 0}]
        categories += [{"name": name, "order": i + 1, "pp": "", "script": "Default", "dir": name,
                        "newzbin": "", "priority": -100} for i, name in enumerate(self._categories())]
        misc = {"complete_dir": folder, "download_dir": folder, "pre_check": False,
                "enable_tv_sorting": False, "enable_movie_sorting": False, "enable_date_sorting": False,
                "tv_categories": [], "movie_categories": [], "date_categories": [],
                "history_retention": "0", "history_retention_option": "all", "history_retention_number": 0}
        return {"config": {"misc": misc, "categories": categories, "sorters": [], "servers": []}}

    def get_cats(self, params: bottle.FormsDict) -> dict[str, Any]:
        return {"categories": ["*", *self._categories()]}

    def fullstatus(self, params: bottle.FormsDict) -> dict[str, Any]:
        return {"status": {"completedir": self._config.download_folder, "paused": False, "version": VERSION}}

    # ---------------------------------------------------------------- adding

    def addfile(self, params: bottle.FormsDict) -> dict[str, Any]:
        upload = bottle.request.files.get("name") or bottle.request.files.get("nzbfile")
        if upload is None:
            raise SabError("no NZB file: send it as the multipart part 'name'")
        filename = upload.raw_filename or "upload.nzb"
        return self._add(params, upload.file.read(), filename)

    def addurl(self, params: bottle.FormsDict) -> dict[str, Any]:
        url = params.getunicode("name") or ""
        if not url.startswith(("http://", "https://")):
            raise SabError("addurl needs name=<http(s) link to an NZB>")
        try:
            data = fetch_torrent_url(url)
        except TorrentMetaError as exc:
            raise SabError(f"cannot fetch the NZB: {exc}") from None
        filename = urllib.parse.unquote(urllib.parse.urlsplit(url).path.rsplit("/", 1)[-1]) or "download.nzb"
        return self._add(params, data, filename, url)

    def _add(self, params: bottle.FormsDict, data: bytes, filename: str, url: str = "") -> dict[str, Any]:
        if not self._manager.takes_nzbs():
            raise SabError(NO_USENET)
        request = AddRequest(nzb=data, nzb_name=params.getunicode("nzbname") or "", nzb_file_name=job_name(filename),
                             nzb_url=url, category=params.getunicode("cat") or "")
        try:
            record = self._manager.add(request)
        except NzbError as exc:
            raise SabError(f"invalid NZB: {exc}") from None
        return {"status": True, "nzo_ids": [nzo_id(record.hash)]}

    # ----------------------------------------------------------------- queue

    def queue(self, params: bottle.FormsDict) -> dict[str, Any]:
        action = params.getunicode("name") or ""
        if action == "delete":
            return self._delete(params, queued=True)
        if action in ("pause", "resume"):
            return {"status": True}
        jobs = [r for r in self._jobs(params) if not r.state.finished]
        start, limit = _window(params)
        shown = jobs[start:start + limit] if limit else jobs[start:]
        slots = [self._queue_slot(r, start + i) for i, r in enumerate(shown)]
        speed = sum(r.speed for r in jobs)
        left = sum(_left(r) for r in jobs)
        return {"queue": {
            "status": "Downloading" if jobs else "Idle", "paused": False, "speed": f"{speed / 1024:.0f} K",
            "kbpersec": f"{speed / 1024:.2f}", "noofslots": len(jobs), "noofslots_total": len(jobs),
            "mb": f"{sum(r.selected_size for r in jobs) / MIB:.2f}", "mbleft": f"{left / MIB:.2f}",
            "timeleft": _timeleft(left / speed if speed else 0), "version": VERSION,
            "start": start, "limit": limit, "slots": slots}}

    def _queue_slot(self, record: ImportRecord, index: int) -> dict[str, Any]:
        size, left = record.selected_size, _left(record)
        status = "Downloading" if record.state == ImportState.DOWNLOADING else "Queued"
        return {"nzo_id": nzo_id(record.hash), "filename": record.name, "cat": record.category or "*",
                "status": status, "priority": "Normal", "index": index,
                "mb": f"{size / MIB:.2f}", "mbleft": f"{left / MIB:.2f}",
                "size": f"{size / MIB:.1f} MB", "sizeleft": f"{left / MIB:.1f} MB",
                "percentage": str(int(record.progress * 100)),
                "timeleft": _timeleft(left / record.speed if record.speed else 0),
                "labels": [record.error] if record.error else [], "script": "None", "unpackopts": "3", "password": "", "mbmissing": "0.0",
                "direct_unpack": None, "avg_age": "0d", "time_added": int(record.added_on)}

    # --------------------------------------------------------------- history

    def history(self, params: bottle.FormsDict) -> dict[str, Any]:
        if (params.getunicode("name") or "") == "delete":
            return self._delete(params, queued=False)
        jobs = [r for r in self._jobs(params) if r.state.finished]
        jobs.sort(key=lambda r: (r.completed_on or r.added_on, r.hash), reverse=True)   # newest first
        start, limit = _window(params)
        shown = jobs[start:start + limit] if limit else jobs[start:]
        return {"history": {"noofslots": len(jobs), "ppslots": 0, "version": VERSION,
                            "last_history_update": int(self._now()),
                            "slots": [self._history_slot(r) for r in shown]}}

    def _history_slot(self, record: ImportRecord) -> dict[str, Any]:
        done = record.state == ImportState.COMPLETE
        return {"nzo_id": nzo_id(record.hash), "name": record.name, "nzb_name": record.name + ".nzb",
                "category": record.category or "*", "status": "Completed" if done else "Failed",
                "storage": record.content_path if done else "", "path": record.content_path if done else "",
                "fail_message": "" if done else (record.error or "failed at the provider"),
                "bytes": record.selected_size, "size": f"{record.selected_size / MIB:.1f} MB",
                "download_time": int(max(0.0, (record.completed_on or record.added_on) - record.added_on)),
                "completed": int(record.completed_on or record.added_on), "time_added": int(record.added_on),
                "pp": "D", "script": "None", "url": record.nzb_url, "stage_log": [], "downloaded": 0,
                "completeness": 0, "postproc_time": 0, "archive": False, "retry": 0, "loaded": False}

    # ---------------------------------------------------------------- shared

    def _jobs(self, params: bottle.FormsDict) -> list[ImportRecord]:
        """NZB jobs, filtered by the exact category the *arr sent (case-sensitive)."""
        category = params.getunicode("category") or params.getunicode("cat")
        jobs = self._manager.list(kind="nzb")
        if category and category != "*":
            jobs = [r for r in jobs if r.category == category]
        return jobs

    def _delete(self, params: bottle.FormsDict, *, queued: bool) -> dict[str, Any]:
        value = params.getunicode("value") or ""
        if not value:
            raise SabError("give value=<nzo_id>")
        finished = {r.hash for r in self._manager.list(kind="nzb") if r.state.finished != queued}
        hashes = sorted(finished) if value == "all" else [h for h in _hashes(value) if h in finished]
        self._manager.delete(hashes, delete_files=params.getunicode("del_files") != "0")
        out: dict[str, Any] = {"status": True}
        if queued:
            out["nzo_ids"] = [nzo_id(h) for h in hashes]
        return out


def _left(record: ImportRecord) -> int:
    return int(record.selected_size * (1.0 - min(1.0, record.progress)))


def _window(params: bottle.FormsDict) -> tuple[int, int]:
    def number(name: str) -> int:
        raw = params.getunicode(name) or "0"
        return int(raw) if raw.isdigit() else 0
    return number("start"), number("limit")


def make_sab_app(config: Config, manager: ImportManager, auth: Auth, now: Callable[[], float]) -> bottle.Bottle:
    app = bottle.Bottle()
    api = SabApi(config, manager, auth, now)
    app.route("/sabnzbd/api", ["GET", "POST"], api.handle)
    app.route("/api", ["GET", "POST"], _only_sab(api.handle))
    return app


def _only_sab(handler: Callable[[], bottle.HTTPResponse]) -> Callable[[], bottle.HTTPResponse]:
    """``/api?mode=...`` too, for *arrs pointed at the gateway with an empty URL base."""
    def route() -> bottle.HTTPResponse:
        if "mode" not in bottle.request.query:
            return json_body({"error": "not found", "code": 404}, 404)
        return handler()
    return route
