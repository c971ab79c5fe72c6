"""Time, injected: the one place that reads the system clock.

Everything that depends on time takes a ``Clock`` so tests can drive it
(``FakeClock`` in ``tests/``) instead of sleeping.
"""

from __future__ import annotations

import threading
import time
from typing import Protocol


class Clock(Protocol):
    def now(self) -> float:
        """Wall-clock seconds since the epoch (timestamps, mtimes)."""

    def monotonic(self) -> float:
        """Monotonic seconds (TTLs, intervals, rate limits)."""

    def wait(self, event: threading.Event, timeout: float) -> bool:
        """Block until ``event`` is set or ``timeout`` seconds pass; True if set."""

    def sleep(self, seconds: float) -> None:
        """Pause the calling thread (backoff between retries)."""


class SystemClock:
    """The real clock."""

    def now(self) -> float:
        return time.time()

    def monotonic(self) -> float:
        return time.monotonic()

    def wait(self, event: threading.Event, timeout: float) -> bool:
        return event.wait(timeout)

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds)
