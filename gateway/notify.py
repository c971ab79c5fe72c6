"""Notifications (stub: built by the notifications work)."""

from __future__ import annotations

from typing import Any

from gateway.clock import Clock
from gateway.config import NotificationsConfig


class Notifier:
    def __init__(self, config: NotificationsConfig, clock: Clock) -> None:
        self._config = config
        self._clock = clock

    def send(self, event: str, payload: dict[str, Any]) -> None:
        pass

    def start(self) -> None:
        pass

    def stop(self) -> None:
        pass
