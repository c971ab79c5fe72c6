"""``tree_changed`` on the event bus: the torrent folders a published change created,
modified or deleted, as paths relative to the WebDAV root.

The library's writer only queues (previous, next, changes) here; one thread folds what is
queued and computes the difference (``gateway/library/treediff.py``), so a sync batch of
thousands of torrents never slows the writer. Started only when something listens.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from gateway.library.index import Changes
from gateway.library.snapshot import Snapshot
from gateway.library.treediff import TreeChange, diff

log = logging.getLogger(__name__)

EVENT = "tree_changed"
Emit = Callable[[str, dict[str, Any]], None]


class TreeEvents:
    def __init__(self, emit: Emit) -> None:
        self._emit = emit
        self._queue: list[tuple[Snapshot | None, Snapshot, Changes]] = []
        self._cond = threading.Condition()
        self._stopping = False
        self._thread: threading.Thread | None = None

    def published(self, previous: Snapshot | None, snapshot: Snapshot, changes: Changes) -> None:
        """The library's publish watcher: queue and return."""
        with self._cond:
            self._queue.append((previous, snapshot, changes))
            self._cond.notify()

    def start(self) -> None:
        if self._thread is None:
            self._stopping = False
            self._thread = threading.Thread(target=self._run, name="tree-events", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._queue and not self._stopping:
                    self._cond.wait()
                if self._stopping:
                    return
                queued, self._queue = self._queue, []
            change = TreeChange()
            for previous, snapshot, changes in queued:
                try:
                    change.merge(diff(previous, snapshot, changes))
                except Exception:   # one odd snapshot must not end the events
                    log.exception("tree events: comparing snapshots failed")
            if change:
                self._emit(EVENT, change.payload())
