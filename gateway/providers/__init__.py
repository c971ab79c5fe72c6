"""Provider registry: one module per debrid service, built from config.

Each configured account gets one request ``Budget`` (``budget.py``), shared
by every caller of that account.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from types import ModuleType

from gateway.clock import Clock
from gateway.config import PROVIDERS, DebridConfig
from gateway.providers.base import Capabilities, Provider
from gateway.providers.budget import Budget, Journal, Lane, Limit, MetaJournal, current_lane, lane
from gateway.providers.common import AccountClient

__all__ = ["Budget", "Capabilities", "Journal", "Lane", "Limit", "MetaJournal", "Provider", "REGISTRY",
           "build_provider", "build_providers", "capabilities_of", "current_lane", "lane"]


# One module per service, named as in ``config.PROVIDERS`` (the one list of providers:
# a new service is its module plus its line there); each has ``build(cfg, clock, budget)``,
# ``DEFAULT_URL`` and ``SUBLIMITS`` (budget windows beyond ``rate_limit``, e.g. TorBox's
# creates per hour).
MODULES: dict[str, ModuleType] = {name: importlib.import_module(f"{__name__}.{name}") for name in PROVIDERS}
REGISTRY: dict[str, Callable[[DebridConfig, Clock, Budget], Provider]] = {
    name: module.build for name, module in MODULES.items()}


def capabilities_of(kind: str) -> Capabilities:
    """What a service offers, from its client class (no account needed: for messages and forms)."""
    for value in vars(MODULES[kind]).values():
        if isinstance(value, type) and issubclass(value, AccountClient) and value.kind == kind:
            return value.capabilities
    raise KeyError(kind)


def _budget(cfg: DebridConfig, clock: Clock, journal: Journal | None) -> Budget:
    # Config fills an unset rate_limit with the provider's documented budget; None is "off".
    limit = Limit(*cfg.rate_limit) if cfg.rate_limit else None
    return Budget(cfg.name, limit, clock, journal=journal, sublimits=MODULES[cfg.provider].SUBLIMITS)


def build_provider(cfg: DebridConfig, clock: Clock, journal: Journal | None = None) -> Provider:
    if cfg.provider not in MODULES:
        from gateway.errors import ConfigError
        raise ConfigError(f"debrids.{cfg.name}.provider", f"{cfg.provider!r} is not supported")
    return REGISTRY[cfg.provider](cfg, clock, _budget(cfg, clock, journal))


def build_providers(debrids: tuple[DebridConfig, ...], clock: Clock,
                    journal_for: Callable[[str], Journal] | None = None) -> dict[str, Provider]:
    """One provider per account; ``journal_for(name)`` keeps that account's budget across restarts."""
    return {cfg.name: build_provider(cfg, clock, journal_for(cfg.name) if journal_for else None)
            for cfg in debrids}
