"""Provider registry: one module per debrid service, built from config.

Each configured account gets one request ``Budget`` (``budget.py``), shared
by every caller of that account.
"""

from __future__ import annotations

from collections.abc import Callable

from gateway.clock import Clock
from gateway.config import DebridConfig
from gateway.providers.base import Capabilities, Provider
from gateway.providers.budget import Budget, Journal, Lane, Limit, MetaJournal, current_lane, lane
from gateway.providers.http import ProviderHTTP, make_session
from gateway.providers.realdebrid import DEFAULT_URL as RD_URL
from gateway.providers.realdebrid import RealDebrid

__all__ = ["Budget", "Capabilities", "Journal", "Lane", "Limit", "MetaJournal", "Provider", "REGISTRY",
           "build_provider", "build_providers", "current_lane", "lane"]


def _realdebrid(cfg: DebridConfig, clock: Clock, budget: Budget) -> Provider:
    return RealDebrid(cfg.name, _http(cfg, RD_URL, clock, budget), clock, cfg.auto_expire_links_after)


def _http(cfg: DebridConfig, default_url: str, clock: Clock, budget: Budget) -> ProviderHTTP:
    return ProviderHTTP(cfg.api_url or default_url, {"Authorization": f"Bearer {cfg.api_key}"}, clock,
                        budget=budget, session=make_session(cfg.user_agent, cfg.proxy))


# Providers not yet implemented are absent; config validation still knows their names.
REGISTRY: dict[str, Callable[[DebridConfig, Clock, Budget], Provider]] = {
    "realdebrid": _realdebrid,
}


def _budget(cfg: DebridConfig, clock: Clock, journal: Journal | None) -> Budget:
    # Config fills an unset rate_limit with the provider's documented budget; None is "off".
    limit = Limit(*cfg.rate_limit) if cfg.rate_limit else None
    return Budget(cfg.name, limit, clock, journal=journal)


def build_provider(cfg: DebridConfig, clock: Clock, journal: Journal | None = None) -> Provider:
    factory = REGISTRY.get(cfg.provider)
    if factory is None:
        from gateway.errors import ConfigError
        raise ConfigError(f"debrids.{cfg.name}.provider", f"{cfg.provider!r} is not supported yet")
    return factory(cfg, clock, _budget(cfg, clock, journal))


def build_providers(debrids: tuple[DebridConfig, ...], clock: Clock,
                    journal_for: Callable[[str], Journal] | None = None) -> dict[str, Provider]:
    """One provider per account; ``journal_for(name)`` keeps that account's budget across restarts."""
    return {cfg.name: build_provider(cfg, clock, journal_for(cfg.name) if journal_for else None)
            for cfg in debrids}
