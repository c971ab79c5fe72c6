"""A small *arr (v3 API) client: status checks and RefreshMonitoredDownloads."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import requests

log = logging.getLogger(__name__)

TIMEOUT = (5.0, 15.0)


@dataclass(frozen=True)
class ArrTarget:
    name: str
    host: str
    token: str


class ArrClient:
    def __init__(self, session: requests.Session | None = None) -> None:
        self._session = session or requests.Session()

    def _call(self, target: ArrTarget, method: str, path: str, **kwargs: Any) -> requests.Response:
        return self._session.request(method, f"{target.host.rstrip('/')}/api/v3/{path}", timeout=TIMEOUT,
                                     headers={"X-Api-Key": target.token}, **kwargs)

    def system_status(self, target: ArrTarget) -> dict[str, Any] | None:
        """The *arr's status, or None when it does not answer as an *arr with that key."""
        try:
            response = self._call(target, "GET", "system/status")
            data = response.json() if response.status_code == 200 else None
        except (requests.RequestException, ValueError):
            return None
        return data if isinstance(data, dict) else None

    def refresh_monitored_downloads(self, target: ArrTarget) -> bool:
        """Ask the *arr to look at its download clients now (no wait for its next poll)."""
        try:
            response = self._call(target, "POST", "command", json={"name": "RefreshMonitoredDownloads"})
        except requests.RequestException as exc:
            log.warning("%s: RefreshMonitoredDownloads failed: %s", target.name, type(exc).__name__)
            return False
        if response.status_code >= 400:
            log.warning("%s: RefreshMonitoredDownloads answered %d", target.name, response.status_code)
        return response.status_code < 400

    def close(self) -> None:
        self._session.close()
