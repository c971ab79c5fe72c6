"""Repair jobs and their items, persisted as one JSON row per job.

An item is a media file of an *arr found broken (or unknown) by a scan. A
broken item moves through recorded steps when its job is processed; the step
is saved after each call, so a restart resumes at the step that did not finish
and never repeats one that did (contract §7).
"""

from __future__ import annotations

import enum
import json
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

from gateway.store import Store


class JobStatus(enum.StrEnum):
    RUNNING = "running"          # scanning
    PENDING = "pending"          # broken items wait for processing
    PROCESSING = "processing"
    COMPLETED = "completed"
    FAILED = "failed"            # a scan or a processing run could not finish; ``error`` says why


class Step(enum.StrEnum):
    """What an item does next. Re-adding leads to relink and rescan; when the torrent
    cannot come back: delete in the *arr, mark the grab failed, search again."""

    READD = "readd"
    RELINK = "relink"
    RESCAN = "rescan"
    DELETE = "delete"
    MARK_FAILED = "mark_failed"
    SEARCH = "search"
    DONE = "done"


@dataclass(frozen=True)
class Item:
    arr: str
    media_id: int
    title: str
    file_path: str
    torrent_hash: str
    reason: str
    kind: str = ""                       # sonarr or radarr
    file_id: int = 0                     # the *arr's episodeFile / movieFile id
    episode_ids: tuple[int, ...] = ()
    account: str = ""                    # where the torrent was (first to try for a re-add)
    torrent_id: str = ""
    torrent_file: str = ""               # the file's path inside its torrent
    step: Step = Step.READD
    done: tuple[str, ...] = ()           # steps finished, in order, with what they did
    outcome: str = ""                    # repaired (re-added) or replaced (deleted and searched)

    def public(self) -> dict[str, Any]:
        return {"arr": self.arr, "media_id": self.media_id, "title": self.title, "file_path": self.file_path,
                "torrent_hash": self.torrent_hash, "reason": self.reason, "step": self.step.value,
                "done": list(self.done), "outcome": self.outcome}

    def advanced(self, step: Step, note: str, **changes: Any) -> Item:
        return replace(self, step=step, done=self.done + (note,), **changes)


@dataclass(frozen=True)
class Job:
    id: str
    status: JobStatus
    created_at: float
    arrs: tuple[str, ...] = ()
    broken: tuple[Item, ...] = ()
    unknown: tuple[Item, ...] = ()
    counts: dict[str, int] = field(default_factory=dict)
    finished_at: float = 0.0
    error: str = ""
    auto_process: bool = False

    def public(self) -> dict[str, Any]:
        return {"id": self.id, "status": self.status.value, "created_at": self.created_at,
                "finished_at": self.finished_at or None, "arrs": list(self.arrs), "counts": self.counts,
                "broken_items": [i.public() for i in self.broken],
                "unknown_items": [i.public() for i in self.unknown], "error": self.error}

    def with_changes(self, **changes: Any) -> Job:
        return replace(self, **changes)


def _item(data: dict[str, Any]) -> Item:
    known = {f.name for f in fields(Item)}
    data = {k: v for k, v in data.items() if k in known}
    data["step"] = Step(data.get("step", Step.READD))
    data["episode_ids"] = tuple(data.get("episode_ids", ()))
    data["done"] = tuple(data.get("done", ()))
    return Item(**data)


def _job(text: str) -> Job:
    data = json.loads(text)
    data["status"] = JobStatus(data["status"])
    data["arrs"] = tuple(data.get("arrs", ()))
    data["broken"] = tuple(_item(i) for i in data.get("broken", ()))
    data["unknown"] = tuple(_item(i) for i in data.get("unknown", ()))
    known = {f.name for f in fields(Job)}
    return Job(**{k: v for k, v in data.items() if k in known})


class JobRepo:
    def __init__(self, store: Store) -> None:
        self._store = store

    def save(self, job: Job) -> None:
        data = json.dumps(asdict(job), separators=(",", ":"), ensure_ascii=False)
        with self._store.transaction() as conn:
            conn.execute("INSERT OR REPLACE INTO repair_jobs (id, created_at, status, data) VALUES (?, ?, ?, ?)",
                         (job.id, job.created_at, job.status.value, data))

    def get(self, job_id: str) -> Job | None:
        rows = self._store.query("SELECT data FROM repair_jobs WHERE id = ?", (job_id,))
        return _job(rows[0][0]) if rows else None

    def all(self, limit: int = 100) -> list[Job]:
        rows = self._store.query("SELECT data FROM repair_jobs ORDER BY created_at DESC, id DESC LIMIT ?", (limit,))
        return [_job(r[0]) for r in rows]

    def with_status(self, *statuses: JobStatus) -> list[Job]:
        marks = ",".join("?" for _ in statuses)
        rows = self._store.query(f"SELECT data FROM repair_jobs WHERE status IN ({marks}) ORDER BY created_at",
                                 tuple(s.value for s in statuses))
        return [_job(r[0]) for r in rows]
