"""Events the gateway announces (download_complete, download_failed, repair_complete,
repair_failed, account_error, account_ok, queue_cleanup): one small bus, so imports, repair and the
provider accounts need not know who listens."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)

Listener = Callable[[str, dict[str, Any]], None]
EVENTS = ("download_complete", "download_failed", "repair_complete", "repair_failed", "account_error", "account_ok",
          "queue_cleanup")


class Events:
    def __init__(self) -> None:
        self._listeners: list[Listener] = []
        self._lock = threading.Lock()

    def subscribe(self, listener: Listener) -> None:
        with self._lock:
            self._listeners.append(listener)

    def emit(self, name: str, payload: dict[str, Any]) -> None:
        """Hand the event to every listener; a listener must not block (notifications queue)."""
        with self._lock:
            listeners = list(self._listeners)
        for listener in listeners:
            try:
                listener(name, payload)
            except Exception:   # one broken listener must not stop an import or a repair
                log.exception("event %s: a listener failed", name)
