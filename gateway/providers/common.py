"""What every provider client shares: its account plumbing and small parsing helpers."""

from __future__ import annotations

import datetime as dt
from typing import Any

from gateway.clock import Clock
from gateway.providers.http import ProviderHTTP
from gateway.providers.keys import KeyRing


def parse_iso_time(value: Any) -> float:
    """Epoch seconds from an ISO-8601 time ('Z' accepted); 0.0 when absent or unreadable."""
    if not value:
        return 0.0
    try:
        return dt.datetime.fromisoformat(str(value).replace("Z", "+00:00")).timestamp()
    except ValueError:
        return 0.0


class AccountClient:
    """One provider account: its main HTTP client, budget, download keys and link lifetime."""

    def __init__(self, name: str, http: ProviderHTTP, clock: Clock, link_ttl: float,
                 keys: KeyRing | None = None) -> None:
        self.name = name
        self._http = http
        self.budget = http.budget
        self.keys = keys or KeyRing(name, [http], [""], clock)
        self._clock = clock
        self._link_ttl = link_ttl

    def close(self) -> None:
        for client in self.keys.clients:
            client.close()
