"""A stand-in Sonarr or Radarr (API v3) on loopback, for tests.

Real HTTP (bottle served by cheroot in a thread), in-memory series / episodes /
files / movies / history, and fault controls: ``fail`` (answer a status, or a
raw non-JSON body), ``hang`` (block until ``release``), ``down`` (503 for all).
Everything a client sends is recorded in ``requests``.
"""

from __future__ import annotations

import http
import io
import json
import os
import re
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl

import bottle
from cheroot import wsgi

from emulators.server import stop_server
from tests.fakes.arr_queue import QueueMixin

PREFIX = "/api/v3"
EPOCH = datetime(2024, 1, 1, tzinfo=UTC)
# eventType numbers of the history filter (the same in Sonarr and Radarr for these).
EVENT_NAMES = {1: "grabbed", 3: "downloadFolderImported", 4: "downloadFailed"}

StartResponse = Callable[..., Any]


@dataclass
class _Fault:
    pattern: re.Pattern[str]
    status: int
    times: int
    method: str | None
    body: str | None
    retry_after: int | None


@dataclass
class _Hang:
    pattern: re.Pattern[str]
    method: str | None = None
    event: threading.Event = field(default_factory=threading.Event)


class _QuietServer(wsgi.Server):
    def error_log(self, msg: str = "", level: int = 20, traceback: bool = False) -> None:
        pass


def _status_line(code: int) -> str:
    try:
        return f"{code} {http.HTTPStatus(code).phrase}"
    except ValueError:
        return f"{code} Unknown"


def _iso(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


class FakeArr(QueueMixin):
    """A Sonarr (``kind="sonarr"``) or Radarr (``kind="radarr"``) API v3 stand-in."""

    def __init__(self, kind: str, api_key: str = "arr-key", numthreads: int = 12) -> None:
        if kind not in ("sonarr", "radarr"):
            raise ValueError(f"unknown kind {kind!r}")
        self.kind = kind
        self.api_key = api_key
        self.requests: list[tuple[str, str, dict[str, str], Any]] = []
        self.commands: list[dict[str, Any]] = []
        self.failed: list[int] = []
        self.deleted: list[int] = []
        self.series: dict[int, dict[str, Any]] = {}
        self.episodes: dict[int, dict[str, Any]] = {}
        self.episode_files: dict[int, dict[str, Any]] = {}
        self.movies: dict[int, dict[str, Any]] = {}
        self.movie_files: dict[int, dict[str, Any]] = {}
        self.history: list[dict[str, Any]] = []
        self._lock = threading.RLock()
        self._init_queue()
        self._faults: list[_Fault] = []
        self._hangs: list[_Hang] = []
        self._hanging = 0
        self._down = False
        self._numthreads = numthreads
        self._server: _QuietServer | None = None
        self._thread: threading.Thread | None = None
        self.port = 0
        self.app = self._build_app()

    # -- lifecycle -----------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> FakeArr:
        if self._server is not None:
            return self
        server = _QuietServer(("127.0.0.1", 0), self._wsgi, numthreads=self._numthreads,
                              max=self._numthreads, timeout=10, shutdown_timeout=1)
        server.expiration_interval = 0.05
        server.prepare()
        self.port = int(server.bind_addr[1])
        self._server = server
        self._thread = threading.Thread(target=server.serve, name=f"fake-{self.kind}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.release()
        server, self._server = self._server, None
        if server is None:
            return
        stop_server(server, self._thread)
        self._thread = None

    def __enter__(self) -> FakeArr:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- fault controls ------------------------------------------------------------------------

    def fail(self, path_regex: str, status: int, times: int = 1, method: str | None = None, *,
             body: str | None = None, retry_after: int | None = None) -> None:
        """The next ``times`` requests whose path matches answer ``status``.

        The body is a JSON error unless ``body`` is given (sent raw as text/html,
        e.g. status 200 with an HTML page to test a non-JSON answer).
        """
        with self._lock:
            self._faults.append(_Fault(re.compile(path_regex), status, times,
                                       method.upper() if method else None, body, retry_after))

    def hang(self, path_regex: str, method: str | None = None) -> None:
        """Matching requests (of ``method``, when given) block until ``release()`` (or ``stop()``)."""
        with self._lock:
            self._hangs.append(_Hang(re.compile(path_regex), method.upper() if method else None))

    def release(self) -> None:
        with self._lock:
            hangs, self._hangs = self._hangs, []
        for h in hangs:
            h.event.set()

    @property
    def hanging(self) -> int:
        """How many requests are blocked in a ``hang`` right now."""
        return self._hanging

    def down(self) -> None:
        self._down = True

    def up(self) -> None:
        self._down = False

    # -- data: sonarr ----------------------------------------------------------------------------

    def add_series(self, id: int, title: str, path: str) -> dict[str, Any]:
        with self._lock:
            record = {"id": id, "title": title, "path": path, "monitored": True, "seasonFolder": True,
                      "titleSlug": re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")}
            self.series[id] = record
            return record

    def add_episode_file(self, series_id: int, file_id: int, path: str, season: int,
                         episodes: Sequence[int], size: int = 0) -> list[int]:
        """A file holding ``episodes`` (numbers) of ``season``; returns the episode ids."""
        with self._lock:
            series = self.series[series_id]
            relative = os.path.relpath(path, series["path"]) if path.startswith(series["path"]) else path
            self.episode_files[file_id] = {
                "id": file_id, "seriesId": series_id, "seasonNumber": season, "path": path,
                "relativePath": relative, "size": size, "dateAdded": _iso(EPOCH), "quality": {}}
            return [self._episode(series_id, season, number, file_id) for number in episodes]

    def _episode(self, series_id: int, season: int, number: int, file_id: int) -> int:
        existing = next((e for e in self.episodes.values() if (e["seriesId"], e["seasonNumber"],
                                                               e["episodeNumber"]) == (series_id, season, number)),
                        None)
        if existing is None:
            existing = {"id": max(self.episodes, default=0) + 1, "seriesId": series_id, "seasonNumber": season,
                        "episodeNumber": number, "title": f"Episode {number}", "monitored": True}
            self.episodes[existing["id"]] = existing
        existing.update(episodeFileId=file_id, hasFile=True)
        return int(existing["id"])

    # -- data: radarr ----------------------------------------------------------------------------

    def add_movie(self, id: int, title: str, year: int, path: str, file_id: int | None = None,
                  file_path: str | None = None, size: int = 0) -> dict[str, Any]:
        with self._lock:
            self.movies[id] = {"id": id, "title": title, "year": year, "path": path, "monitored": True,
                               "hasFile": False}
            if file_id is not None:
                file_path = file_path or os.path.join(path, f"{title} ({year}).mkv")
                self.movie_files[file_id] = {
                    "id": file_id, "movieId": id, "path": file_path, "size": size,
                    "relativePath": os.path.relpath(file_path, path) if file_path.startswith(path) else file_path,
                    "dateAdded": _iso(EPOCH), "quality": {}}
            return self.movies[id]

    # -- data: history ---------------------------------------------------------------------------

    def add_grab(self, download_id: str, episode_ids: Sequence[int] = (), movie_id: int | None = None,
                 date: str | None = None) -> int:
        """A "grabbed" record (one per episode, as Sonarr does); returns the (first) history id."""
        return self.add_history("grabbed", download_id, episode_ids, movie_id, date)

    def add_history(self, event_type: str, download_id: str, episode_ids: Sequence[int] = (),
                    movie_id: int | None = None, date: str | None = None) -> int:
        with self._lock:
            if self.kind == "radarr":
                targets: list[dict[str, Any]] = [{"movieId": movie_id or 0}]
            else:
                targets = [{"episodeId": e, "seriesId": self.episodes.get(e, {}).get("seriesId", 0)}
                           for e in episode_ids]
            ids = [self._history_record(event_type, download_id, t, date) for t in targets]
            return ids[0]

    def _history_record(self, event_type: str, download_id: str, target: dict[str, Any], date: str | None) -> int:
        history_id = len(self.history) + 1
        self.history.append({
            "id": history_id, **target, "eventType": event_type, "downloadId": download_id.upper(),
            "date": date or _iso(EPOCH + timedelta(minutes=history_id)),
            "sourceTitle": f"release-{history_id}", "data": {}})
        return history_id

    # -- the WSGI layer: record, down, auth, hang, fail ------------------------------------------

    def _wsgi(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        method = environ["REQUEST_METHOD"].upper()
        path = environ.get("PATH_INFO", "") or "/"
        query = dict(parse_qsl(environ.get("QUERY_STRING", ""), keep_blank_values=True))
        raw = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        environ["wsgi.input"] = io.BytesIO(raw)
        with self._lock:
            self.requests.append((method, path, query, _json_or_none(raw)))
        if self._down:
            return _answer(start_response, 503, {"message": "Service Unavailable"})
        key = environ.get("HTTP_X_API_KEY") or query.get("apikey", "")
        if key != self.api_key:
            return _answer(start_response, 401, {"error": "Unauthorized"})
        self._wait_if_hung(method, path)
        fault = self._take_fault(method, path)
        if fault is not None:
            return _fault_answer(start_response, fault)
        return self.app(environ, start_response)

    def _wait_if_hung(self, method: str, path: str) -> None:
        with self._lock:
            hang = next((h for h in self._hangs if h.pattern.search(path) and h.method in (None, method)), None)
            if hang is None:
                return
            self._hanging += 1
        try:
            hang.event.wait()
        finally:
            with self._lock:
                self._hanging -= 1

    def _take_fault(self, method: str, path: str) -> _Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.pattern.search(path) and fault.method in (None, method):
                    fault.times -= 1
                    if fault.times <= 0:
                        self._faults.remove(fault)
                    return fault
        return None

    # -- the API ---------------------------------------------------------------------------------

    def _build_app(self) -> bottle.Bottle:
        app = bottle.Bottle(catchall=True)
        app.default_error_handler = _error_page
        route = app.route
        route(f"{PREFIX}/system/status", "GET", self._status)
        route(f"{PREFIX}/series", "GET", lambda: self._list(self.series))
        route(f"{PREFIX}/series/<item:int>", "GET", lambda item: self._one(self.series, item))
        route(f"{PREFIX}/episode", "GET", lambda: self._list(self.episodes, "seriesId"))
        route(f"{PREFIX}/episode/<item:int>", "GET", lambda item: self._one(self.episodes, item))
        route(f"{PREFIX}/episodefile", "GET", lambda: self._list(self.episode_files, "seriesId"))
        route(f"{PREFIX}/episodefile/<item:int>", "GET", lambda item: self._one(self.episode_files, item))
        route(f"{PREFIX}/episodefile/<item:int>", "DELETE", self._delete_one)
        route(f"{PREFIX}/episodefile/bulk", "DELETE", lambda: self._delete_bulk("episodeFileIds"))
        route(f"{PREFIX}/movie", "GET", lambda: self._list(self.movies))
        route(f"{PREFIX}/movie/<item:int>", "GET", lambda item: self._one(self.movies, item))
        route(f"{PREFIX}/moviefile", "GET", lambda: self._list(self.movie_files, "movieId"))
        route(f"{PREFIX}/moviefile/<item:int>", "GET", lambda item: self._one(self.movie_files, item))
        route(f"{PREFIX}/moviefile/<item:int>", "DELETE", self._delete_one)
        route(f"{PREFIX}/moviefile/bulk", "DELETE", lambda: self._delete_bulk("movieFileIds"))
        route(f"{PREFIX}/history", "GET", self._history)
        route(f"{PREFIX}/history/failed/<item:int>", "POST", self._mark_failed)
        route(f"{PREFIX}/command", "POST", self._command)
        self._queue_routes(app, PREFIX)
        return app

    def _status(self) -> str:
        return _json({"appName": self.kind.capitalize(), "instanceName": self.kind.capitalize(),
                      "version": "4.0.0.0", "urlBase": ""})

    def _view(self, table: dict[int, dict[str, Any]], record: dict[str, Any]) -> dict[str, Any]:
        if table is self.movies:
            file = next((f for f in self.movie_files.values() if f["movieId"] == record["id"]), None)
            return {**record, "hasFile": file is not None, **({"movieFile": dict(file)} if file else {})}
        return dict(record)

    def _list(self, table: dict[int, dict[str, Any]], filter_key: str | None = None) -> str:
        wanted = bottle.request.query.get(filter_key) if filter_key else None
        with self._lock:
            rows = [self._view(table, r) for _, r in sorted(table.items())
                    if wanted is None or str(r.get(filter_key or "")) == wanted]
        return _json(rows)

    def _one(self, table: dict[int, dict[str, Any]], item: int) -> str:
        with self._lock:
            record = table.get(item)
            if record is None:
                return _not_found()
            return _json(self._view(table, record))

    def _delete_one(self, item: int) -> str:
        with self._lock:
            if not self._remove_file(item):
                return _not_found()
        return _json({})

    def _delete_bulk(self, key: str) -> str:
        body = bottle.request.json or {}
        ids = body.get(key) if isinstance(body, dict) else None
        if not isinstance(ids, list):
            bottle.response.status = 400
            return _json({"message": f"{key} is required"})
        with self._lock:
            for item in ids:
                self._remove_file(int(item))
        return _json({})

    def _remove_file(self, file_id: int) -> bool:
        """Drop the file record, un-flag its episodes / movie, unlink it on disk."""
        files = self.episode_files if self.kind == "sonarr" else self.movie_files
        record = files.pop(file_id, None)
        if record is None:
            return False
        for episode in self.episodes.values():
            if episode.get("episodeFileId") == file_id:
                episode.update(episodeFileId=0, hasFile=False)
        path = record.get("path", "")
        if path and (os.path.lexists(path)):
            os.unlink(path)
        self.deleted.append(file_id)
        return True

    def _history(self) -> str:
        q = bottle.request.query
        page, size = max(1, int(q.get("page") or 1)), max(1, int(q.get("pageSize") or 10))
        with self._lock:
            rows = [dict(r) for r in self.history if _history_match(r, q)]
        rows.sort(key=lambda r: (r["date"], r["id"]), reverse=q.get("sortDirection", "descending") != "ascending")
        return _json({"page": page, "pageSize": size, "sortKey": q.get("sortKey") or "date",
                      "sortDirection": q.get("sortDirection") or "descending", "totalRecords": len(rows),
                      "records": rows[(page - 1) * size: page * size]})

    def _mark_failed(self, item: int) -> str:
        with self._lock:
            record = next((r for r in self.history if r["id"] == item), None)
            if record is None:
                return _not_found()
            self.failed.append(item)
            target = {k: record[k] for k in ("episodeId", "seriesId", "movieId") if k in record}
            self._history_record("downloadFailed", record["downloadId"], target, None)
        return _json({})

    def _command(self) -> str:
        body = bottle.request.json
        if not isinstance(body, dict) or not body.get("name"):
            bottle.response.status = 400
            return _json({"message": "name is required"})
        with self._lock:
            self.commands.append(dict(body))
            command_id = len(self.commands)
        bottle.response.status = 201
        return _json({"id": command_id, "name": body["name"], "status": "queued", "body": body})


def _history_match(record: dict[str, Any], query: Any) -> bool:
    event = query.get("eventType")
    if event:
        name = EVENT_NAMES.get(int(event), "?") if event.isdigit() else event
        if record["eventType"] != name:
            return False
    for key in ("episodeId", "movieId", "seriesId"):
        if query.get(key) and str(record.get(key)) != query.get(key):
            return False
    wanted = query.get("downloadId")
    return not wanted or record["downloadId"].lower() == wanted.lower()


def _json_or_none(raw: bytes) -> Any:
    if not raw:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return None


def _json(obj: Any) -> str:
    bottle.response.content_type = "application/json; charset=utf-8"
    return json.dumps(obj)


def _not_found() -> str:
    bottle.response.status = 404
    return _json({"message": "NotFound"})


def _error_page(err: bottle.HTTPError) -> str:
    bottle.response.content_type = "application/json; charset=utf-8"
    return json.dumps({"message": "NotFound" if err.status_code == 404 else str(err.body or err.status_line)})


def _answer(start_response: StartResponse, status: int, body: Any,
            headers: Sequence[tuple[str, str]] = ()) -> list[bytes]:
    data = json.dumps(body).encode()
    start_response(_status_line(status), [("Content-Type", "application/json; charset=utf-8"),
                                          ("Content-Length", str(len(data))), *headers])
    return [data]


def _fault_answer(start_response: StartResponse, fault: _Fault) -> list[bytes]:
    headers = [("Retry-After", str(fault.retry_after))] if fault.retry_after is not None else []
    if fault.body is None:
        return _answer(start_response, fault.status, {"message": f"injected {fault.status}"}, headers)
    data = fault.body.encode()
    start_response(_status_line(fault.status), [("Content-Type", "text/html; charset=utf-8"),
                                                ("Content-Length", str(len(data))), *headers])
    return [data]
