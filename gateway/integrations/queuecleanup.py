"""*arr queue cleanup (contract §9): stuck queue items of ours are blocklisted, removed or imported.

Each *arr with ``queue_cleanup`` on is read (``GET /api/v3/queue``) once a minute. An item is
*ours* when its ``downloadId`` is the infohash (or SABnzbd nzo_id) of one of this gateway's
imports: nothing else is ever touched, so items of the user's other download clients are left
alone. It is *stuck* when the *arr tracks it with a warning or an error whose status messages
name a reason we know (``reason_of``). A stuck item is acted on only when a second look, at
least ``CONFIRM_AFTER`` seconds after the first, still finds it stuck for the same reason: an
item the *arr imports in between (a slow mount, a rescan) recovers and is forgotten.

Sonarr lists a season pack once per episode, all with the pack's downloadId: the records of one
download are acted on together, once. Every action, and its outcome, is a row of
``queue_cleanup_actions`` and a ``queue_cleanup`` event (notifications listen).
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from gateway.arr.client import ArrClient, ArrTarget
from gateway.clock import Clock
from gateway.config import ArrConfig
from gateway.errors import NotFound, ProviderError
from gateway.imports.nzb import import_key
from gateway.store import Store

log = logging.getLogger(__name__)

INTERVAL = 60.0        # one look a minute
CONFIRM_AFTER = 55.0   # "a minute apart", with room for the worker's own jitter
HISTORY_LIMIT = 500

# (reason, pattern over the lower-cased status messages), first match wins. The phrases are
# Sonarr's and Radarr's own (CompletedDownloadService, the import specifications, SABnzbd's
# unpack failures as the *arr shows them).
REASONS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("password", re.compile(r"password|encrypted")),
    ("wrong_release", re.compile(r"matched to (series|movie) by id|was not found in the grab history"
                                 r"|title mismatch")),
    ("sample", re.compile(r"^sample$|\bsample\b.*\bonly\b")),
    ("archive", re.compile(r"found archive file|might need to be extracted|unpacking failed")),
    ("no_files", re.compile(r"no files found are eligible for import|path does not exist or is not accessible"
                            r"|no video files? (were )?found")),
)
STUCK_STATUSES = ("warning", "error")


def messages_of(item: dict[str, Any]) -> list[str]:
    """Every status message of a queue record (and its errorMessage), as the *arr wrote them."""
    out = [str(m) for group in item.get("statusMessages") or [] if isinstance(group, dict)
           for m in group.get("messages") or []]
    if item.get("errorMessage"):
        out.append(str(item["errorMessage"]))
    return out


def reason_of(item: dict[str, Any]) -> str | None:
    """The known reason a queue record is stuck for, or None (not stuck, or a reason we leave alone)."""
    if str(item.get("trackedDownloadStatus", "")).lower() not in STUCK_STATUSES:
        return None
    for message in (m.strip().lower() for m in messages_of(item)):
        for reason, pattern in REASONS:
            if pattern.search(message):
                return reason
    return None


@dataclass
class _Sighting:
    reason: str
    first_seen: float


@dataclass(frozen=True)
class _Stuck:
    download_id: str
    reason: str
    records: tuple[dict[str, Any], ...]

    @property
    def title(self) -> str:
        return str(self.records[0].get("title") or self.download_id)


class QueueCleanup:
    """One look at every *arr with ``queue_cleanup`` per ``step`` (a PeriodicWorker's job)."""

    def __init__(self, arrs: Sequence[ArrConfig], client: ArrClient, store: Store,
                 is_ours: Callable[[str], bool], clock: Clock,
                 emit: Callable[[str, dict[str, Any]], None] | None = None) -> None:
        self._arrs = [a for a in arrs if a.queue_cleanup and a.host and a.token]
        self._client = client
        self._store = store
        self._is_ours = is_ours
        self._clock = clock
        self._emit = emit
        self._kinds: dict[str, str] = {}
        self._seen: dict[str, dict[str, _Sighting]] = {}   # arr name -> downloadId -> first stuck look

    @property
    def enabled(self) -> bool:
        return bool(self._arrs)

    def step(self) -> None:
        for arr in self._arrs:
            try:
                self._look(arr)
            except ProviderError as exc:   # the *arr is down or refuses: the next look tries again
                log.warning("queue cleanup: %s: %s", arr.name, exc)

    def _look(self, arr: ArrConfig) -> None:
        target = ArrTarget(arr.name, arr.host, arr.token)
        kind = self._kinds.get(arr.name) or self._kinds.setdefault(arr.name, self._client.kind_of(target))
        stuck = self._stuck(self._client.queue(target, kind))
        now, seen = self._clock.monotonic(), self._seen.setdefault(arr.name, {})
        for gone in set(seen) - set(stuck):   # recovered, imported or removed since the last look
            del seen[gone]
        for download_id, item in stuck.items():
            first = seen.get(download_id)
            if first is None or first.reason != item.reason:
                seen[download_id] = _Sighting(item.reason, now)
                log.info("queue cleanup: %s: %s stuck (%s); looking again in a minute",
                         arr.name, item.title, item.reason)
            elif now - first.first_seen >= CONFIRM_AFTER:
                del seen[download_id]
                self._act(arr, target, kind, item)

    def _stuck(self, records: list[dict[str, Any]]) -> dict[str, _Stuck]:
        """Our stuck downloads, each with all its queue records (a pack has one per episode)."""
        groups: dict[str, list[dict[str, Any]]] = {}
        for record in records:
            download_id = str(record.get("downloadId") or "")
            if download_id and self._is_ours(import_key(download_id)):
                groups.setdefault(download_id, []).append(record)
        out: dict[str, _Stuck] = {}
        for download_id, group in groups.items():
            reason = next((r for record in group if (r := reason_of(record)) is not None), None)
            if reason is not None:
                out[download_id] = _Stuck(download_id, reason, tuple(group))
        return out

    # -- acting ----------------------------------------------------------------------------------

    def _act(self, arr: ArrConfig, target: ArrTarget, kind: str, item: _Stuck) -> None:
        action = arr.queue_action(item.reason)
        try:
            result = self._perform(target, kind, item, action)
        except NotFound:
            result = "gone"   # the *arr dropped it between our look and the call
        except ProviderError as exc:
            result = f"failed: {exc}"
        log.info("queue cleanup: %s: %s (%s): %s -> %s", arr.name, item.title, item.reason, action, result)
        self._record(arr.name, item, action, result)

    def _perform(self, target: ArrTarget, kind: str, item: _Stuck, action: str) -> str:
        queue_id = int(item.records[0]["id"])
        if action == "import":
            command = self._client.manual_import(target, kind, item.download_id)
            return f"import queued (command {command})" if command else "failed: nothing importable"
        self._client.remove_queued(target, queue_id, blocklist=action in ("blocklist", "blocklist_search"))
        if action != "blocklist_search":
            return "done"
        return self._search(target, kind, item)

    def _search(self, target: ArrTarget, kind: str, item: _Stuck) -> str:
        if kind == "sonarr":
            episodes = sorted({int(r["episodeId"]) for r in item.records if isinstance(r.get("episodeId"), int)})
            if not episodes:
                return "done; no episodes to search"
            return f"done; search {self._client.command(target, 'EpisodeSearch', episodeIds=episodes)}"
        movie = item.records[0].get("movieId")
        if not isinstance(movie, int):
            return "done; no movie to search"
        return f"done; search {self._client.command(target, 'MoviesSearch', movieIds=[movie])}"

    # -- the record --------------------------------------------------------------------------------

    def _record(self, arr: str, item: _Stuck, action: str, result: str) -> None:
        entry = {"at": self._clock.now(), "arr": arr, "download_id": item.download_id, "title": item.title,
                 "reason": item.reason, "action": action, "result": result,
                 "queue_ids": [r.get("id") for r in item.records], "messages": messages_of(item.records[0])}
        with self._store.transaction() as conn:
            conn.execute("INSERT INTO queue_cleanup_actions (at, arr, download_id, data) VALUES (?, ?, ?, ?)",
                         (entry["at"], arr, item.download_id, json.dumps(entry)))
            conn.execute("DELETE FROM queue_cleanup_actions WHERE seq <= "
                         "(SELECT MAX(seq) FROM queue_cleanup_actions) - ?", (HISTORY_LIMIT,))
        if self._emit is not None:
            self._emit("queue_cleanup", entry)

    def actions(self, limit: int = 100) -> list[dict[str, Any]]:
        """The latest actions, newest first."""
        rows = self._store.query("SELECT data FROM queue_cleanup_actions ORDER BY seq DESC LIMIT ?", (limit,))
        return [json.loads(row[0]) for row in rows]
