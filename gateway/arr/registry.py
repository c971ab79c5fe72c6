"""The *arrs the gateway knows: configured ones (``arrs[]``) and ones that
logged in to the qBit API with their URL and API key (``source: auto``)."""

from __future__ import annotations

import hmac
import logging
import threading
from typing import Any

from gateway.arr.client import ArrClient, ArrTarget
from gateway.config import Config, mask_secret
from gateway.imports.records import ImportRepo
from gateway.store import Store

log = logging.getLogger(__name__)


def _same_host(a: str, b: str) -> bool:
    return a.rstrip("/").lower() == b.rstrip("/").lower()


class ArrRegistry:
    def __init__(self, config: Config, repo: ImportRepo, store: Store, client: ArrClient) -> None:
        self._config = config
        self._repo = repo
        self._store = store
        self._client = client
        self._lock = threading.Lock()

    def configured(self, host: str) -> Any:
        return next((a for a in self._config.arrs if a.host and _same_host(a.host, host)), None)

    def login(self, host: str, key: str, use_auth: bool) -> bool:
        """Credentials that are an *arr's URL and API key.

        With auth on they must match a configured ``arrs[]`` entry (constant-time
        key check). With auth off, a new pair is registered after one check
        against the *arr's own ``system/status``, never again per request.
        """
        match = self.configured(host)
        if match is not None:
            return hmac.compare_digest(match.token.encode(), key.encode())
        if use_auth:
            return False
        known = next((a for a in self._repo.arrs() if _same_host(a["host"], host)), None)
        if known is not None and hmac.compare_digest(known["token"].encode(), key.encode()):
            return True
        status = self._client.system_status(ArrTarget(host, host, key))
        if status is None:
            return True   # auth is off: any credentials log in; only registration needs the check
        kind = str(status.get("appName", "arr")).lower()
        self._repo.save_arr(host.rstrip("/"), host.rstrip("/"), key, kind)
        log.info("registered %s at %s", kind, host)
        return True

    def bind_category(self, host: str, category: str) -> None:
        """Remember which registered *arr sends a category (for RefreshMonitoredDownloads)."""
        if category and host:
            self._store.set_meta(f"arr_category:{category}", host.rstrip("/"))

    def target_for(self, category: str) -> ArrTarget | None:
        arr = next((a for a in self._config.arrs if a.name == category and a.host and a.token), None)
        if arr is not None:
            return ArrTarget(arr.name, arr.host, arr.token)
        host = self._store.get_meta(f"arr_category:{category}")
        known = next((a for a in self._repo.arrs() if a["host"] == host), None) if host else None
        return ArrTarget(category, known["host"], known["token"]) if known else None

    def listing(self) -> list[dict[str, str]]:
        out = [{"name": a.name, "host": a.host, "type": _kind(a.name), "source": "config",
                "token": mask_secret(a.token)} for a in self._config.arrs]
        for a in self._repo.arrs():
            if not any(_same_host(a["host"], c.host) for c in self._config.arrs if c.host):
                out.append({"name": a["name"], "host": a["host"], "type": a["type"], "source": "auto",
                            "token": mask_secret(a["token"])})
        return out

    def notify_complete(self, category: str) -> None:
        target = self.target_for(category)
        if target is not None:
            self._client.refresh_monitored_downloads(target)


def _kind(name: str) -> str:
    lowered = name.lower()
    return next((k for k in ("sonarr", "radarr", "lidarr", "readarr", "whisparr", "prowlarr") if k in lowered), "arr")
