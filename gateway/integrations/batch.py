"""One batching sender per peer: changes are collected for a few seconds, deduplicated, and
sent by the peer's own thread, with a few retries; whoever adds never waits on the network.

A peer that is down costs its own thread some retries (``ATTEMPTS``, backoff ``BACKOFF``
through the injected clock), then the batch is logged and dropped: a scan is a hint, and the
next change sends a fresh one. A refusal (``Refused``: a 4xx such as a wrong token) is not
retried.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Generic, TypeVar

from gateway.clock import Clock

log = logging.getLogger(__name__)

K = TypeVar("K")
V = TypeVar("V")

WINDOW = 2.0            # seconds changes are collected before one batch goes out
ATTEMPTS = 3
BACKOFF = (1.0, 2.0)    # seconds between attempts
STOP_WAIT = 5.0


class Transient(Exception):
    """The peer could not be reached or failed (5xx): worth another try."""


class Refused(Exception):
    """The peer answered no (4xx): retrying the same request cannot help."""


class Batcher(Generic[K, V]):
    """``add(key, value)``: the latest value per key wins within one batch (a folder deleted
    then created again is sent once, as created). ``send`` may remove what it delivered from
    the batch before failing: a retry sends only the rest."""

    def __init__(self, name: str, send: Callable[[dict[K, V]], None], clock: Clock,
                 window: float = WINDOW) -> None:
        self.name = name
        self._send = send
        self._clock = clock
        self._window = window
        self._pending: dict[K, V] = {}
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.sent = 0
        self.failed = 0

    def add(self, key: K, value: V) -> None:
        with self._cond:
            self._pending.pop(key, None)   # re-inserted last: batches keep the order changes came in
            self._pending[key] = value
            self._cond.notify()

    def start(self) -> Batcher[K, V]:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name=f"notify-{self.name}", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        with self._cond:
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(STOP_WAIT)
            self._thread = None

    def _run(self) -> None:
        while not self._stop.is_set():
            with self._cond:
                while not self._pending and not self._stop.is_set():
                    self._cond.wait()
            if self._stop.is_set() or self._clock.wait(self._stop, self._window):
                return
            with self._cond:
                batch, self._pending = self._pending, {}
            try:
                self._deliver(batch)
            except Exception:   # the sender must outlive any one bad batch
                log.exception("%s: sending a batch failed", self.name)

    def _deliver(self, batch: dict[K, V]) -> None:
        for attempt in range(1, ATTEMPTS + 1):
            try:
                self._send(batch)
            except Refused as exc:
                self.failed += 1
                log.warning("%s refused %d change(s): %s", self.name, len(batch), exc)
                return
            except Transient as exc:
                if attempt == ATTEMPTS or self._stop.is_set():
                    self.failed += 1
                    log.warning("%s: %d change(s) not delivered after %d attempts: %s", self.name, len(batch),
                                attempt, exc)
                    return
                pause = BACKOFF[min(attempt - 1, len(BACKOFF) - 1)]
                log.info("%s: %s; trying again in %.0f s", self.name, exc, pause)
                if self._clock.wait(self._stop, pause):
                    return
                continue
            self.sent += 1
            return
