"""Debrid-Link client (stub: built by the debridlink work)."""

from __future__ import annotations

from gateway.clock import Clock
from gateway.config import DebridConfig
from gateway.errors import ConfigError
from gateway.providers.base import Provider
from gateway.providers.budget import Budget, Limit

DEFAULT_URL = "https://debrid-link.com/api/v2"
SUBLIMITS: dict[str, Limit] = {}


def build(cfg: DebridConfig, clock: Clock, budget: Budget) -> Provider:
    raise ConfigError(f"debrids.{cfg.name}.provider", "debridlink is not supported yet")
