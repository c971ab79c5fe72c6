"""AllDebrid client (stub: built by the alldebrid work)."""

from __future__ import annotations

from gateway.clock import Clock
from gateway.config import DebridConfig
from gateway.errors import ConfigError
from gateway.providers.base import Provider
from gateway.providers.budget import Budget, Limit

DEFAULT_URL = "https://api.alldebrid.com/v4"
SUBLIMITS: dict[str, Limit] = {}


def build(cfg: DebridConfig, clock: Clock, budget: Budget) -> Provider:
    raise ConfigError(f"debrids.{cfg.name}.provider", "alldebrid is not supported yet")
