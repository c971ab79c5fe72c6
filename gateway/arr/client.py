"""A small *arr (v3 API) client: status checks, RefreshMonitoredDownloads, and
what repair needs (media files, grab history, deletes, failed marks, commands).

Every call but ``system_status`` and ``refresh_monitored_downloads`` raises the
gateway's error vocabulary (``gateway.errors``) on failure; the mapping lives
in one place, ``_error_for``. The API key travels in the ``X-Api-Key`` header
only and is never logged.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import requests

from gateway.arr.models import Grab, MediaFile
from gateway.errors import AuthError, BadRequest, NotFound, ProviderError, RateLimited, Unavailable
from gateway.providers.http import redact, retry_after_seconds

log = logging.getLogger(__name__)

TIMEOUT = (5.0, 30.0)
PAGE_SIZE = 100
MAX_PAGES = 20
KINDS = ("sonarr", "radarr")
GRABBED = 1   # eventType "grabbed" in both Sonarr and Radarr


@dataclass(frozen=True)
class ArrTarget:
    name: str
    host: str
    token: str


def _error_for(response: requests.Response, what: str) -> ProviderError:
    """The one mapping of a non-2xx *arr answer to the gateway's errors."""
    status = response.status_code
    message = f"{what}: HTTP {status}"
    if status in (401, 403):
        return AuthError(message, code=str(status), status=status)
    if status == 404:
        return NotFound(message, code="not_found", status=status)
    if status == 429:
        return RateLimited(message, retry_after=retry_after_seconds(response), code="429", status=status)
    if status >= 500:
        return Unavailable(message, code=str(status), status=status)
    return BadRequest(message, code=str(status), status=status)


def _bad_shape(what: str) -> Unavailable:
    return Unavailable(f"{what}: unexpected answer shape", code="bad_shape")


def _int(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise _bad_shape(what)
    return value


def _dicts(value: Any, what: str) -> list[dict[str, Any]]:
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise _bad_shape(what)
    return value


def _episode_tag(episodes: list[dict[str, Any]], season: int) -> str:
    numbers = sorted((int(e.get("seasonNumber", season)), int(e.get("episodeNumber", 0))) for e in episodes)
    if not numbers:
        return f"S{season:02d}"
    return f"S{numbers[0][0]:02d}" + "".join(f"E{n:02d}" for _, n in numbers)


def _movie_title(movie: dict[str, Any]) -> str:
    title, year = str(movie.get("title", "")), movie.get("year")
    return f"{title} ({year})" if year else title


class ArrClient:
    def __init__(self, session: requests.Session | None = None) -> None:
        self._session = session or requests.Session()

    # -- transport -------------------------------------------------------------------------------

    def _call(self, target: ArrTarget, method: str, path: str, **kwargs: Any) -> requests.Response:
        return self._session.request(method, f"{target.host.rstrip('/')}/api/v3/{path}", timeout=TIMEOUT,
                                     headers={"X-Api-Key": target.token}, **kwargs)

    def _request(self, target: ArrTarget, method: str, path: str, **kwargs: Any) -> requests.Response:
        """Send; a 2xx response back, or a ``gateway.errors`` exception."""
        what = f"{target.name}: {method} {redact(path)}"
        try:
            response = self._call(target, method, path, **kwargs)
        except requests.Timeout as exc:
            code = "connect" if isinstance(exc, requests.ConnectTimeout) else "timeout"
            raise Unavailable(f"{what}: {type(exc).__name__}", code=code) from None
        except requests.RequestException as exc:
            raise Unavailable(f"{what}: {type(exc).__name__}", code="connect") from None
        log.debug("%s -> %d", what, response.status_code)
        if not 200 <= response.status_code < 300:
            raise _error_for(response, what)
        return response

    def _json(self, target: ArrTarget, method: str, path: str, **kwargs: Any) -> Any:
        response = self._request(target, method, path, **kwargs)
        try:
            return response.json()
        except ValueError:
            raise Unavailable(f"{target.name}: {method} {redact(path)}: answer is not JSON",
                              code="bad_json") from None

    def _get_dict(self, target: ArrTarget, path: str, **kwargs: Any) -> dict[str, Any]:
        data = self._json(target, "GET", path, **kwargs)
        if not isinstance(data, dict):
            raise _bad_shape(f"{target.name}: GET {path}")
        return data

    def _get_list(self, target: ArrTarget, path: str, **kwargs: Any) -> list[dict[str, Any]]:
        return _dicts(self._json(target, "GET", path, **kwargs), f"{target.name}: GET {path}")

    # -- login check and download refresh (never raise) --------------------------------------------

    def system_status(self, target: ArrTarget) -> dict[str, Any] | None:
        """The *arr's status, or None when it does not answer as an *arr with that key."""
        try:
            response = self._call(target, "GET", "system/status")
            data = response.json() if response.status_code == 200 else None
        except (requests.RequestException, ValueError):
            return None
        return data if isinstance(data, dict) else None

    def refresh_monitored_downloads(self, target: ArrTarget) -> bool:
        """Ask the *arr to look at its download clients now (no wait for its next poll)."""
        try:
            response = self._call(target, "POST", "command", json={"name": "RefreshMonitoredDownloads"})
        except requests.RequestException as exc:
            log.warning("%s: RefreshMonitoredDownloads failed: %s", target.name, type(exc).__name__)
            return False
        if response.status_code >= 400:
            log.warning("%s: RefreshMonitoredDownloads answered %d", target.name, response.status_code)
        return response.status_code < 400

    # -- status --------------------------------------------------------------------------------------

    def status(self, target: ArrTarget) -> dict[str, Any]:
        """``system/status``; raises on any failure."""
        return self._get_dict(target, "system/status")

    def kind_of(self, target: ArrTarget) -> str:
        """"sonarr" or "radarr", from the status' ``appName``."""
        kind = str(self.status(target).get("appName", "")).lower()
        if kind not in KINDS:
            raise BadRequest(f"{target.name}: not a Sonarr or Radarr ({kind or 'no appName'})", code="unsupported")
        return kind

    # -- media files ---------------------------------------------------------------------------------

    def media_files(self, target: ArrTarget, kind: str,
                    media_ids: Sequence[int] | None = None) -> list[MediaFile]:
        """Every file the *arr holds, or only those of the given series / movies (unknown ids skipped)."""
        _check_kind(kind)
        resource = "series" if kind == "sonarr" else "movie"
        items = self._items(target, resource, media_ids)
        if kind == "radarr":
            return [f for movie in items if (f := self._movie_file(target, movie)) is not None]
        return [f for series in items for f in self._series_files(target, series)]

    def _items(self, target: ArrTarget, resource: str, ids: Sequence[int] | None) -> list[dict[str, Any]]:
        if ids is None:
            return self._get_list(target, resource)
        out: list[dict[str, Any]] = []
        for media_id in ids:
            try:
                out.append(self._get_dict(target, f"{resource}/{int(media_id)}"))
            except NotFound:
                log.info("%s: %s %d is unknown; skipped", target.name, resource, media_id)
        return out

    def _series_files(self, target: ArrTarget, series: dict[str, Any]) -> list[MediaFile]:
        series_id = _int(series.get("id"), f"{target.name}: series id")
        files = self._get_list(target, "episodefile", params={"seriesId": series_id})
        episodes = self._get_list(target, "episode", params={"seriesId": series_id})
        by_file: dict[int, list[dict[str, Any]]] = {}
        for episode in episodes:
            by_file.setdefault(int(episode.get("episodeFileId") or 0), []).append(episode)
        return [self._episode_file(target, series, f, by_file.get(_int(f.get("id"), "episodefile id"), []))
                for f in files]

    def _episode_file(self, target: ArrTarget, series: dict[str, Any], record: dict[str, Any],
                      episodes: list[dict[str, Any]]) -> MediaFile:
        tag = _episode_tag(episodes, int(record.get("seasonNumber") or 0))
        return MediaFile(arr=target.name, kind="sonarr", media_id=int(series["id"]),
                         title=f"{series.get('title', '')} {tag}", file_id=int(record["id"]),
                         path=_file_path(series, record), size=int(record.get("size") or 0),
                         episode_ids=tuple(sorted(_int(e.get("id"), "episode id") for e in episodes)))

    def _movie_file(self, target: ArrTarget, movie: dict[str, Any]) -> MediaFile | None:
        record = movie.get("movieFile")
        if not movie.get("hasFile") or not isinstance(record, dict):
            return None
        return MediaFile(arr=target.name, kind="radarr", media_id=_int(movie.get("id"), "movie id"),
                         title=_movie_title(movie), file_id=_int(record.get("id"), "movieFile id"),
                         path=_file_path(movie, record), size=int(record.get("size") or 0))

    def file_exists(self, target: ArrTarget, kind: str, file_id: int) -> bool:
        """Whether the *arr still has that episode / movie file."""
        try:
            self._get_dict(target, f"{_file_resource(kind)}/{int(file_id)}")
        except NotFound:
            return False
        return True

    # -- history ---------------------------------------------------------------------------------

    def grabs(self, target: ArrTarget, file: MediaFile) -> list[Grab]:
        """The "grabbed" history of the file's media (its episodes for Sonarr), newest first."""
        if file.kind == "radarr":
            filters: list[dict[str, int]] = [{"movieId": file.media_id}]
        else:
            filters = [{"episodeId": e} for e in file.episode_ids]
        found: dict[int, Grab] = {}
        for extra in filters:
            for record in self._history(target, extra):
                grab = _grab(record, file)
                if grab is not None:
                    found.setdefault(grab.history_id, grab)
        return sorted(found.values(), key=lambda g: (_when(g.date), g.history_id), reverse=True)

    def _history(self, target: ArrTarget, extra: dict[str, int]) -> Iterable[dict[str, Any]]:
        return self._pages(target, "history", {"sortKey": "date", "sortDirection": "descending",
                                               "eventType": GRABBED, **extra})

    def _pages(self, target: ArrTarget, resource: str, params: dict[str, Any]) -> Iterable[dict[str, Any]]:
        """Every record of a paged resource (history, queue), page by page up to ``MAX_PAGES``."""
        for page in range(1, MAX_PAGES + 1):
            data = self._get_dict(target, resource, params={"page": page, "pageSize": PAGE_SIZE, **params})
            yield from _dicts(data.get("records"), f"{target.name}: {resource} records")
            size = int(data.get("pageSize") or PAGE_SIZE)
            if page * size >= int(data.get("totalRecords") or 0):
                return

    def grabbed_media(self, target: ArrTarget, download_id: str) -> tuple[int, ...]:
        """The series / movies the *arr grabbed this download for (its history by ``downloadId``;
        the *arrs store a torrent hash upper-case and match it exactly)."""
        wanted = download_id.upper() if re.fullmatch(r"[0-9a-fA-F]{40}", download_id) else download_id
        data = self._get_dict(target, "history", params={"page": 1, "pageSize": PAGE_SIZE, "eventType": GRABBED,
                                                          "downloadId": wanted})
        found: dict[int, None] = {}
        for record in _dicts(data.get("records"), f"{target.name}: history records"):
            if str(record.get("downloadId", "")).lower() != download_id.lower():
                continue
            media = record.get("seriesId") or record.get("movieId")
            if isinstance(media, int) and not isinstance(media, bool) and media > 0:
                found[media] = None
        return tuple(found)

    def mark_failed(self, target: ArrTarget, history_id: int) -> None:
        """Mark a grab failed: the *arr blocklists the release (and may search again)."""
        self._request(target, "POST", f"history/failed/{int(history_id)}")

    # -- deletes ---------------------------------------------------------------------------------

    def delete_file(self, target: ArrTarget, kind: str, file_id: int) -> None:
        """Delete one episode / movie file (and the file on disk); already gone is fine."""
        try:
            self._request(target, "DELETE", f"{_file_resource(kind)}/{int(file_id)}")
        except NotFound:
            log.info("%s: %s %d already gone", target.name, _file_resource(kind), file_id)

    def delete_files(self, target: ArrTarget, kind: str, file_ids: Sequence[int]) -> None:
        """Delete several files in one call."""
        key = "episodeFileIds" if kind == "sonarr" else "movieFileIds"
        ids = [int(i) for i in file_ids]
        if ids:
            self._request(target, "DELETE", f"{_file_resource(kind)}/bulk", json={key: ids})

    # -- commands --------------------------------------------------------------------------------

    def command(self, target: ArrTarget, name: str, **body: Any) -> int:
        """Queue a command; returns its id."""
        data = self._json(target, "POST", "command", json={"name": name, **body})
        if not isinstance(data, dict):
            raise _bad_shape(f"{target.name}: command {name}")
        return _int(data.get("id"), f"{target.name}: command {name} id")

    def search(self, target: ArrTarget, file: MediaFile) -> int:
        """Search for the file's episodes / movie again."""
        if file.kind == "sonarr":
            return self.command(target, "EpisodeSearch", episodeIds=list(file.episode_ids))
        return self.command(target, "MoviesSearch", movieIds=[file.media_id])

    def rescan(self, target: ArrTarget, file: MediaFile) -> int:
        """Have the *arr rescan the file's series / movie folder."""
        if file.kind == "sonarr":
            return self.command(target, "RescanSeries", seriesId=file.media_id)
        return self.command(target, "RescanMovie", movieId=file.media_id)

    # -- the download queue (queue cleanup, gateway/integrations/queuecleanup.py) ------------------

    def queue(self, target: ArrTarget, kind: str) -> list[dict[str, Any]]:
        """Every record of the *arr's download queue, unknown items included, page by page."""
        _check_kind(kind)
        unknown = "includeUnknownSeriesItems" if kind == "sonarr" else "includeUnknownMovieItems"
        return list(self._pages(target, "queue", {unknown: "true"}))

    def remove_queued(self, target: ArrTarget, queue_id: int, *, blocklist: bool) -> None:
        """Remove a queue item and its download at the client; with ``blocklist`` the release is
        blocklisted. ``skipRedownload``: the caller decides whether to search again."""
        flags = {"removeFromClient": "true", "blocklist": str(blocklist).lower(), "skipRedownload": "true"}
        self._request(target, "DELETE", f"queue/{int(queue_id)}", params=flags)

    def manual_import(self, target: ArrTarget, kind: str, download_id: str) -> int:
        """Import a download's files as the *arr itself proposes them (``manualimport``), whatever
        blocked the automatic import; returns the ManualImport command's id, 0 when nothing is importable."""
        _check_kind(kind)
        candidates = self._get_list(target, "manualimport", params={"downloadId": download_id,
                                                                     "filterExistingFiles": "true"})
        files = [f for c in candidates if (f := _import_file(c, kind, download_id)) is not None]
        if not files:
            return 0
        return self.command(target, "ManualImport", files=files, importMode="auto")

    def close(self) -> None:
        self._session.close()


def _import_file(candidate: dict[str, Any], kind: str, download_id: str) -> dict[str, Any] | None:
    """A ManualImport file from a ``manualimport`` candidate the *arr matched to media, else None."""
    media = candidate.get("series" if kind == "sonarr" else "movie")
    media_id = media.get("id") if isinstance(media, dict) else None
    episodes = [e.get("id") for e in candidate.get("episodes") or [] if isinstance(e, dict)]
    if not isinstance(media_id, int) or not candidate.get("path") or (kind == "sonarr" and not episodes):
        return None
    out: dict[str, Any] = {key: candidate[key] for key in ("path", "quality", "languages", "releaseGroup", "indexerFlags",
                                           "releaseType") if key in candidate}
    out["downloadId"] = candidate.get("downloadId") or download_id
    if kind == "sonarr":
        return {**out, "seriesId": media_id, "episodeIds": episodes}
    return {**out, "movieId": media_id}


def _check_kind(kind: str) -> None:
    if kind not in KINDS:
        raise BadRequest(f"unknown *arr kind {kind!r}", code="unsupported")


def _file_resource(kind: str) -> str:
    _check_kind(kind)
    return "episodefile" if kind == "sonarr" else "moviefile"


def _file_path(media: dict[str, Any], record: dict[str, Any]) -> str:
    """The file's absolute path; older answers only carry the media folder plus ``relativePath``."""
    path = record.get("path")
    if isinstance(path, str) and path:
        return path
    folder, relative = str(media.get("path") or ""), str(record.get("relativePath") or "")
    return f"{folder.rstrip('/')}/{relative}" if folder and relative else relative


def _when(date: str) -> float:
    """A sort key for the *arr's ISO dates (``...Z`` or with an offset); unreadable dates sort last."""
    try:
        return datetime.fromisoformat(date).timestamp()
    except ValueError:
        return 0.0


def _grab(record: dict[str, Any], file: MediaFile) -> Grab | None:
    download = record.get("downloadId")
    if str(record.get("eventType", "")).lower() != "grabbed" or not isinstance(download, str) or not download:
        return None
    media_id = record.get("movieId") if file.kind == "radarr" else record.get("seriesId")
    return Grab(history_id=_int(record.get("id"), "history id"), download_id=download.lower(),
                date=str(record.get("date", "")), media_id=int(media_id or file.media_id),
                episode_id=int(record.get("episodeId") or 0))
