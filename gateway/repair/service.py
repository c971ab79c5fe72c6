"""The repair service: one scan at a time, processing runs, the schedule, resuming after a crash.

Scans and processing run on their own threads; the HTTP routes only start them
and read the jobs back from the store. A scan never deletes anything. A job
left ``processing`` by a stop or a crash is taken up again at the next start;
a scan cut short is marked failed (it changed nothing, and the next scan looks
again).
"""

from __future__ import annotations

import functools
import logging
import secrets
import threading
from collections.abc import Callable, Sequence
from typing import Any

from gateway.arr.client import ArrClient, ArrTarget
from gateway.clock import Clock
from gateway.config import Config
from gateway.library.library import Library
from gateway.library.links import LinkResolver
from gateway.providers.cdn import CdnClient
from gateway.repair.jobs import Job, JobRepo, JobStatus, Step
from gateway.repair.process import ItemProcessor, Paused
from gateway.repair.scan import Probe, Scanner
from gateway.store import Store
from gateway.workers.runner import PeriodicWorker

log = logging.getLogger(__name__)

EventSink = Callable[[str, dict[str, Any]], None]


class RepairError(Exception):
    """A request the repair service refuses; ``status`` is the HTTP answer (400, 404, 409)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class RepairService:
    def __init__(self, config: Config, library: Library, links: LinkResolver, cdn: CdnClient, arr: ArrClient,
                 store: Store, clock: Clock, stream_url: Callable[[str, str], str],
                 events: EventSink | None = None, probes: dict[str, Probe] | None = None) -> None:
        """``probes``: provider name → a check of files that have no CDN link (usenet: a STAT sample)."""
        self._config = config
        self._clock = clock
        self._repo = JobRepo(store)
        self._arr = arr
        self._scanner = Scanner(config, library, links, cdn, arr, probes)
        self._items = ItemProcessor(config, library, arr, clock, stream_url)
        self._events = events or _log_event
        self._lock = threading.Lock()
        self._scanning: str | None = None
        self._processing: set[str] = set()
        self._threads: list[threading.Thread] = []
        self._worker: PeriodicWorker | None = None
        self._stop = threading.Event()

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> None:
        for job in self._repo.with_status(JobStatus.RUNNING):
            self._repo.save(job.with_changes(status=JobStatus.FAILED, finished_at=self._clock.now(),
                                             error="the scan was interrupted by a restart; nothing was changed"))
        for job in self._repo.with_status(JobStatus.PROCESSING):
            log.info("repair: job %s resumes where it stopped", job.id)
            with self._lock:
                self._processing.add(job.id)
            self._spawn(f"repair-process-{job.id}", functools.partial(self._process, job.id), job.id)
        repair = self._config.repair
        if repair.enabled:
            self._worker = PeriodicWorker("repair-schedule", repair.interval, self.scheduled_scan, self._clock,
                                          run_first=False).start()

    def stop(self) -> None:
        self._stop.set()
        if self._worker is not None:
            self._worker.stop()
        for thread in list(self._threads):
            thread.join(10)

    def scheduled_scan(self) -> None:
        try:
            self.start_scan()
        except RepairError as exc:
            log.info("repair: scheduled scan skipped: %s", exc)

    # ---------------------------------------------------------------------- reading

    def jobs(self) -> list[Job]:
        return self._repo.all()

    # ------------------------------------------------------------------------ scans

    def start_scan(self, arr: str = "", media_ids: Sequence[int] = (), auto_process: bool | None = None) -> Job:
        targets = self._targets(arr)
        job = Job(id=secrets.token_hex(6), status=JobStatus.RUNNING, created_at=self._clock.now(),
                  arrs=tuple(t.name for t in targets),
                  auto_process=self._config.repair.auto_process if auto_process is None else auto_process)
        with self._lock:
            if self._scanning is not None:
                raise RepairError(409, f"scan {self._scanning} is still running")
            self._scanning = job.id
        self._repo.save(job)
        self._spawn(f"repair-scan-{job.id}", lambda: self._scan(job, targets, tuple(media_ids)))
        return job

    def _targets(self, name: str) -> list[ArrTarget]:
        usable = [a for a in self._config.arrs if a.host and a.token]
        if name:
            match = [a for a in usable if a.name == name]
            if not match:
                raise RepairError(400, f"no arrs[] entry named {name!r} with a host and token")
            return [ArrTarget(a.name, a.host, a.token) for a in match]
        chosen = [ArrTarget(a.name, a.host, a.token) for a in usable if not a.skip_repair]
        if not chosen:
            raise RepairError(400, "no arrs[] entry to scan: add one with host and token (and skip_repair off)")
        return chosen

    def _scan(self, job: Job, targets: list[ArrTarget], media_ids: tuple[int, ...]) -> None:
        try:
            result = self._scanner.scan(targets, media_ids)
            status = JobStatus.PENDING if result.broken else JobStatus.COMPLETED
            job = job.with_changes(status=status, broken=tuple(result.broken), unknown=tuple(result.unknown),
                                   counts=result.counts,
                                   finished_at=0.0 if result.broken else self._clock.now())
            log.info("repair: scan %s: %s", job.id, result.counts)
        except Exception as exc:   # a scan must end in a recorded state, whatever went wrong
            log.exception("repair: scan %s failed", job.id)
            job = job.with_changes(status=JobStatus.FAILED, error=f"scan failed: {exc}",
                                   finished_at=self._clock.now())
        finally:
            with self._lock:
                self._scanning = None
        self._repo.save(job)
        if job.status == JobStatus.PENDING and job.auto_process:
            self._claim(job.id)
            self._process(job.id)

    # --------------------------------------------------------------------- process

    def process(self, job_id: str, dry_run: bool = False) -> dict[str, Any]:
        job = self._repo.get(job_id)
        if job is None:
            raise RepairError(404, f"no repair job {job_id!r}")
        if dry_run:
            return {"job_id": job.id, "dry_run": True,
                    "actions": [{**i.public(), "action": self._items.plan(i)} for i in job.broken]}
        if job.status not in (JobStatus.PENDING, JobStatus.FAILED) or not job.broken:
            raise RepairError(409, f"job {job.id} is {job.status.value}, not waiting for processing")
        self._claim(job.id)
        self._spawn(f"repair-process-{job.id}", lambda: self._process(job.id), job.id)
        return {"job_id": job.id, "status": JobStatus.PROCESSING.value}

    def _claim(self, job_id: str) -> None:
        with self._lock:
            if job_id in self._processing:
                raise RepairError(409, f"job {job_id} is already being processed")
            self._processing.add(job_id)
        job = self._repo.get(job_id)
        if job is not None:
            self._repo.save(job.with_changes(status=JobStatus.PROCESSING, error=""))

    def _process(self, job_id: str) -> None:
        try:
            job = self._repo.get(job_id)
            if job is not None:
                self._run(job)
        except Exception as exc:   # recorded, never lost: the job can be processed again
            log.exception("repair: processing %s failed", job_id)
            job = self._repo.get(job_id)
            if job is not None:
                self._finish(job, JobStatus.FAILED, f"processing failed: {exc}")
        finally:
            with self._lock:
                self._processing.discard(job_id)

    def _run(self, job: Job) -> None:
        targets = {a.name: ArrTarget(a.name, a.host, a.token) for a in self._config.arrs}
        for name in {i.arr for i in job.broken if i.step != Step.DONE}:
            try:
                self._arr.status(targets[name])
            except Exception as exc:
                self._finish(job, JobStatus.FAILED, f"{name} does not answer ({exc}); nothing was changed")
                return
        items = list(job.broken)
        for index, item in enumerate(items):
            while item.step != Step.DONE:
                if self._stop.is_set():
                    return   # stays "processing": resumed at the next start
                try:
                    item = self._items.step(item, targets[item.arr])
                except Paused as exc:
                    job = job.with_changes(broken=tuple(items))
                    self._finish(job, JobStatus.FAILED, str(exc))
                    return
                items[index] = item
                job = job.with_changes(broken=tuple(items))
                self._repo.save(job)
        self._finish(job, JobStatus.COMPLETED, "")

    def _finish(self, job: Job, status: JobStatus, error: str) -> None:
        job = job.with_changes(status=status, error=error, finished_at=self._clock.now())
        self._repo.save(job)
        event = "repair_complete" if status == JobStatus.COMPLETED else "repair_failed"
        self._events(event, job.public())

    # ---------------------------------------------------------------------- threads

    def _spawn(self, name: str, target: Callable[[], None], job_id: str | None = None) -> None:
        thread = threading.Thread(target=target, name=name, daemon=True)
        self._threads = [t for t in self._threads if t.is_alive()] + [thread]
        thread.start()


def _log_event(name: str, job: dict[str, Any]) -> None:
    log.info("repair event %s: job %s (%s)", name, job["id"], job.get("error") or "ok")
