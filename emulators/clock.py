"""Virtual time for the emulators: ``EmuClock`` plus timestamp helpers.

Every time-dependent decision in the emulator reads an ``EmuClock`` rather than
the wall clock, so tests can jump ahead with ``advance`` instead of sleeping.
The helpers format and parse the timestamps the emulated APIs exchange.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime
from typing import Any


def iso(ts: float) -> str:
    """JavaScript ``toJSON`` style: ``2024-01-02T03:04:05.000Z``."""
    dt = datetime.fromtimestamp(ts, tz=UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


def parse_time(value: Any) -> float:
    """Epoch seconds from a number or an ISO-8601 string."""
    if isinstance(value, (int, float)):
        return float(value)
    text = str(value).replace("Z", "+00:00")
    dt = datetime.fromisoformat(text)
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.timestamp()


def utc_day(ts: float) -> str:
    return datetime.fromtimestamp(ts, tz=UTC).strftime("%Y-%m-%d")


class EmuClock:
    """Virtual time = real monotonic × speed + offset, in epoch seconds."""

    def __init__(self, start: float | None = None, speed: float = 1.0) -> None:
        self._lock = threading.Lock()
        self._speed = float(speed)
        self._anchor_real = time.monotonic()
        self._anchor_virtual = time.time() if start is None else float(start)

    def _now(self) -> float:
        return self._anchor_virtual + (time.monotonic() - self._anchor_real) * self._speed

    def _rebase(self) -> None:
        # Re-anchor so a speed change never makes time jump.
        self._anchor_virtual = self._now()
        self._anchor_real = time.monotonic()

    def now(self) -> float:
        with self._lock:
            return self._now()

    def advance(self, seconds: float) -> float:
        with self._lock:
            self._rebase()
            self._anchor_virtual += float(seconds)
            return self._anchor_virtual

    def set(self, epoch: float) -> None:
        with self._lock:
            self._anchor_real = time.monotonic()
            self._anchor_virtual = float(epoch)

    def set_speed(self, speed: float) -> None:
        with self._lock:
            self._rebase()
            self._speed = float(speed)

    @property
    def speed(self) -> float:
        return self._speed
