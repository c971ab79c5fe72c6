"""A short memory of each account's request budget, for the stats page's last-hour chart."""

from __future__ import annotations

import threading
from collections import deque
from typing import Any

from gateway.clock import Clock
from gateway.providers.base import Provider

SAMPLES = 60   # one a minute: the last hour


class BudgetHistory:
    def __init__(self, providers: dict[str, Provider], clock: Clock) -> None:
        self._providers = providers
        self._clock = clock
        self._lock = threading.Lock()
        self._samples: dict[str, deque[dict[str, Any]]] = {name: deque(maxlen=SAMPLES) for name in providers}
        self._last: dict[str, dict[str, Any]] = {}

    def sample(self) -> None:
        """Record, per account, the calls and 429s since the last sample and the window's use now."""
        now = self._clock.now()
        for name, provider in self._providers.items():
            stats = provider.budget.stats()
            before = self._last.get(name, {"calls": stats["calls"], "rate_limited": stats["rate_limited"]})
            point = {"t": round(now), "calls": stats["calls"] - before["calls"],
                     "rate_limited": stats["rate_limited"] - before["rate_limited"],
                     "used": stats["used"], "limit": stats["limit"], "paused_for": stats["paused_for"],
                     "waiting": sum(stats["waiting"].values())}
            self._last[name] = stats
            with self._lock:
                self._samples[name].append(point)

    def history(self) -> dict[str, Any]:
        with self._lock:
            return {"interval_seconds": 60, "accounts": {n: list(s) for n, s in self._samples.items()}}
