"""The import pipeline's records and how a worker's step is saved.

``ImportCore`` holds the published records and the primitives every step uses: save a
worker's copy (the client's category, save path and tags win), apply a client's edit,
fail, or try again later. The steps build on it, one stage a module: ``completion``
(the files are there: publish, run the action), ``usenet_step``, ``submission`` (offer
it to the accounts in turn), ``polling`` (the provider's progress), and ``manager``
(the public API, the workers and the step that picks a stage).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from gateway.clock import Clock
from gateway.config import Config
from gateway.imports import actions
from gateway.imports.records import ImportRecord, ImportRepo, ImportState
from gateway.imports.usenet import UsenetImporter
from gateway.library.library import Library

log = logging.getLogger(__name__)

RETRY_LATER = 30.0          # slots full, provider down: try again after this
MAX_ATTEMPTS_SHOWN = 20
Notifier = Callable[[ImportRecord], None]
EventSink = Callable[[str, dict[str, Any]], None]


class ImportCore:
    def __init__(self, config: Config, library: Library, repo: ImportRepo, clock: Clock, *,
                 notify: Notifier | None = None, events: EventSink | None = None, symlink_timeout: float = 900.0,
                 stream_url: Callable[[str, str], str] | None = None,
                 opener: Callable[[str, str], Any] | None = None, usenet: UsenetImporter | None = None) -> None:
        """``opener(folder, path)`` reads a library file for the ``download`` action; it is
        the VFS's, which lives above this layer, so the composition root passes it in."""
        self._config = config
        self._library = library
        self._repo = repo
        self._clock = clock
        self._notify = notify or (lambda record: None)
        self._events = events or (lambda name, payload: None)
        self._symlink_timeout = symlink_timeout
        self._stream_url = stream_url or (lambda folder, path: "")
        self._opener = opener or _no_opener
        self._usenet = usenet     # NZBs are read from the user's own servers when it is set
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._stop = threading.Event()
        self._records: dict[str, ImportRecord] = {r.hash: r for r in repo.load_all()}
        self._owned: set[str] = set()
        self._threads: list[threading.Thread] = []


    def _save(self, record: ImportRecord, *, settle: str = "") -> ImportRecord:
        """Persist and publish a worker's step, unless the record was deleted meanwhile.

        Workers step from a copy taken earlier; category, save path and tags belong
        to the client (setCategory, addTags, a re-add), so the published ones win.
        """
        with self._wake:
            current = self._records.get(record.hash)
            if current is None:
                return record
            record = record.with_changes(category=current.category, save_path=current.save_path,
                                         tags=current.tags)
            self._records[record.hash] = record
        self._repo.save(record, settle=settle)
        return record

    def _edit(self, infohash: str, change: Callable[[ImportRecord], ImportRecord] | None = None,
              **changes: Any) -> ImportRecord | None:
        """A client's change, applied to the published record (never to a worker's copy)."""
        with self._wake:
            current = self._records.get(infohash.lower())
            if current is None:
                return None
            record = (change(current) if change else current).with_changes(**changes)
            self._records[record.hash] = record
        self._repo.save(record)
        return record

    def _fail(self, record: ImportRecord, reason: str) -> None:
        log.warning("%s: import failed: %s", record.hash, reason)
        failed = self._save(record.with_changes(state=ImportState.ERROR, error=reason, speed=0))
        self._events("download_failed", _event(failed))

    def _later(self, record: ImportRecord, seconds: float, **changes: Any) -> None:
        self._save(record.with_changes(next_try=self._clock.now() + seconds, attempts=record.attempts + 1,
                                       **changes))


def _no_opener(folder: str, path: str) -> Any:
    raise actions.ActionError("the download action has no reader for library files")


def _attempt(record: ImportRecord, name: str, outcome: str) -> tuple[tuple[str, str], ...]:
    return (record.provider_attempts + ((name, outcome),))[-MAX_ATTEMPTS_SHOWN:]


def _event(record: ImportRecord) -> dict[str, Any]:
    """What a notification says about an import (no paths beyond the output, no secrets)."""
    return {"hash": record.hash, "name": record.name, "category": record.category, "kind": record.kind,
            "provider": record.provider, "state": record.state.value, "error": record.error,
            "content_path": record.content_path, "size": record.selected_size,
            "folder": record.folder}   # the torrent's folder in the tree (media servers scan it)
