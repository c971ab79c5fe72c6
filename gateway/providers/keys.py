"""Download keys: the account's main key plus ``download_api_keys``, rotated on exhaustion.

Links are generated with the first usable key. A key whose account reports
its traffic or fair-use quota exhausted (or that is refused) rests until the
next UTC midnight, when providers reset daily traffic, or ``cooldown``
seconds, whichever comes first, and is then tried again in its turn: it comes
back by itself once its account recovers (docs/providers.md §9.7: DX never
re-enables one). Adds and listings always use the main key.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from typing import TypeVar

from gateway import errors
from gateway.clock import Clock
from gateway.config import mask_secret
from gateway.providers.http import ProviderHTTP

log = logging.getLogger(__name__)

T = TypeVar("T")
DAY = 86400.0
COOLDOWN = 3600.0


class KeyRing:
    def __init__(self, name: str, clients: Sequence[ProviderHTTP], clock: Clock, cooldown: float = COOLDOWN) -> None:
        assert clients
        self.name = name
        self.clients = tuple(clients)
        self._clock = clock
        self._cooldown = cooldown
        self._lock = threading.Lock()
        self._resting: dict[int, tuple[float, str]] = {}   # index → (wall time it comes back, why)

    def __len__(self) -> int:
        return len(self.clients)

    def usable(self) -> list[int]:
        now = self._clock.now()
        with self._lock:
            for index, (until, _) in list(self._resting.items()):
                if now >= until:
                    del self._resting[index]
                    log.info("%s: download key %s is back", self.name, self._masked(index))
            return [i for i in range(len(self.clients)) if i not in self._resting]

    def exhaust(self, index: int, reason: str) -> None:
        """Rest key ``index`` until the daily reset (at most ``cooldown`` seconds)."""
        now = self._clock.now()
        until = min(now - now % DAY + DAY, now + self._cooldown)
        with self._lock:
            if index not in self._resting:
                log.warning("%s: download key %s rests: %s", self.name, self._masked(index), reason)
            self._resting[index] = (until, reason)

    def call(self, fn: Callable[[ProviderHTTP, int], T]) -> T:
        """``fn(client, index)`` with the first usable key; an exhausted or refused key
        rests and the next one is tried. Raises QuotaExceeded when none is left."""
        if len(self.clients) == 1:
            return fn(self.clients[0], 0)   # nothing to rotate to: never rest the only key
        for index in self.usable():
            try:
                return fn(self.clients[index], index)
            except (errors.QuotaExceeded, errors.AuthError) as exc:
                self.exhaust(index, exc.code or str(exc))
        raise errors.QuotaExceeded(f"{self.name}: every download key is exhausted", code="keys_exhausted")

    def _masked(self, index: int) -> str:
        """The key as shown: each client's current one, so a key changed in the settings shows at once."""
        return mask_secret(self.clients[index].key)

    def status(self) -> list[dict[str, object]]:
        usable = set(self.usable())
        with self._lock:
            return [{"key": self._masked(i), "usable": i in usable,
                     "reason": self._resting.get(i, (0.0, ""))[1]} for i in range(len(self.clients))]
