"""The stand-in *arr's download queue: ``GET /queue`` (paged), ``DELETE /queue/{id}``, and the
``manualimport`` candidates a ManualImport is built from. Mixed into ``FakeArr``."""

from __future__ import annotations

import itertools
import json
import threading
from typing import Any

import bottle


class QueueMixin:
    """State: ``queue`` (the records, as Sonarr/Radarr show them), ``queue_removed`` (id, flags of each
    DELETE), ``manual_candidates`` (downloadId -> what ``manualimport`` proposes)."""

    kind: str
    _lock: threading.RLock

    def _init_queue(self) -> None:
        self.queue: list[dict[str, Any]] = []
        self.queue_removed: list[tuple[int, dict[str, str]]] = []
        self.manual_candidates: dict[str, list[dict[str, Any]]] = {}
        self._queue_ids = itertools.count(1001)

    def add_queue_item(self, download_id: str, *, client: str = "decypharr", protocol: str = "torrent",
                       status: str = "ok", state: str = "downloading", messages: tuple[str, ...] = (),
                       title: str = "", episode_id: int | None = None, movie_id: int | None = None,
                       output_path: str = "") -> dict[str, Any]:
        """One queue record (Sonarr lists a season pack once per episode: call it per episode)."""
        with self._lock:
            record: dict[str, Any] = {
                "id": next(self._queue_ids), "downloadId": download_id,
                "title": title or download_id, "status": "completed" if state != "downloading" else "downloading",
                "trackedDownloadStatus": status, "trackedDownloadState": state,
                "statusMessages": [{"title": title or download_id, "messages": list(messages)}] if messages else [],
                "errorMessage": "", "downloadClient": client, "protocol": protocol, "outputPath": output_path,
                "size": 1000, "sizeleft": 0}
            if episode_id is not None:
                record.update(episodeId=episode_id, seriesId=1, seasonNumber=1)
            if movie_id is not None:
                record["movieId"] = movie_id
            self.queue.append(record)
            return record

    def set_queue_status(self, download_id: str, status: str, state: str, messages: tuple[str, ...] = ()) -> None:
        with self._lock:
            for record in self.queue:
                if record["downloadId"] == download_id:
                    record.update(trackedDownloadStatus=status, trackedDownloadState=state,
                                  statusMessages=[{"title": record["title"], "messages": list(messages)}])

    def _queue_routes(self, app: bottle.Bottle, prefix: str) -> None:
        app.route(f"{prefix}/queue", "GET", self._queue_page)
        app.route(f"{prefix}/queue/<item:int>", "DELETE", self._queue_delete)
        app.route(f"{prefix}/manualimport", "GET", self._manual_import)

    def _queue_page(self) -> str:
        q = bottle.request.query
        page, size = max(1, int(q.get("page") or 1)), max(1, int(q.get("pageSize") or 10))
        with self._lock:
            rows = [dict(r) for r in self.queue]
        return _json({"page": page, "pageSize": size, "sortKey": "timeleft", "sortDirection": "ascending",
                      "totalRecords": len(rows), "records": rows[(page - 1) * size: page * size]})

    def _queue_delete(self, item: int) -> str:
        flags = dict(bottle.request.query)
        with self._lock:
            record = next((r for r in self.queue if r["id"] == item), None)
            if record is None:
                bottle.response.status = 404
                return _json({"message": "NotFound"})
            self.queue_removed.append((item, flags))
            if flags.get("removeFromClient", "true").lower() == "true":   # the whole download goes
                self.queue = [r for r in self.queue if r["downloadId"] != record["downloadId"]]
            else:
                self.queue.remove(record)
        return _json({})

    def _manual_import(self) -> str:
        with self._lock:
            return _json(list(self.manual_candidates.get(bottle.request.query.get("downloadId", ""), [])))


def _json(obj: Any) -> str:
    bottle.response.content_type = "application/json; charset=utf-8"
    return json.dumps(obj)
