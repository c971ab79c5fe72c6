"""PeriodicWorker: the one loop implementation (a thread, an interval, a stop event)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from gateway.clock import Clock

log = logging.getLogger(__name__)


class PeriodicWorker:
    """Runs ``job`` every ``interval`` seconds. A job that returns a float says
    itself how long to wait before its next run (0: at once), which is how an
    account's sync keeps fetching details between its listings."""

    def __init__(self, name: str, interval: float, job: Callable[[], object], clock: Clock,
                 *, run_first: bool = True) -> None:
        self.name = name
        self._interval = interval
        self._job = job
        self._clock = clock
        self._run_first = run_first
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)

    def start(self) -> PeriodicWorker:
        self._thread.start()
        return self

    def trigger(self) -> None:
        """Run the job now instead of waiting for the interval (a changed key is probed at once)."""
        self._wake.set()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def _loop(self) -> None:
        if not self._run_first:
            self._clock.wait(self._wake, self._interval)
            self._wake.clear()
        while not self._stop.is_set():
            delay = self._interval
            try:
                result = self._job()
                if isinstance(result, float):
                    delay = result
            except Exception:   # a worker must survive any one bad run; logged once here
                log.exception("%s: run failed", self.name)
            if delay > 0:
                self._clock.wait(self._wake, delay)
                self._wake.clear()
