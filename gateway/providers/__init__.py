"""Provider registry: one module per debrid service, built from config."""

from __future__ import annotations

from collections.abc import Callable

from gateway.clock import Clock
from gateway.config import DebridConfig
from gateway.providers.base import Capabilities, Provider
from gateway.providers.http import ProviderHTTP, RateLimiter, make_session
from gateway.providers.realdebrid import DEFAULT_URL as RD_URL
from gateway.providers.realdebrid import RealDebrid

__all__ = ["Capabilities", "Provider", "REGISTRY", "build_provider", "build_providers"]


def _realdebrid(cfg: DebridConfig, clock: Clock) -> Provider:
    return RealDebrid(cfg.name, _http(cfg, RD_URL, clock), clock, cfg.auto_expire_links_after)


def _http(cfg: DebridConfig, default_url: str, clock: Clock) -> ProviderHTTP:
    limiter = RateLimiter(cfg.rate_limit[0], cfg.rate_limit[1], clock) if cfg.rate_limit else None
    return ProviderHTTP(cfg.api_url or default_url, {"Authorization": f"Bearer {cfg.api_key}"}, clock,
                        limiter=limiter, session=make_session(cfg.user_agent, cfg.proxy))


# Providers not yet implemented are absent; config validation still knows their names.
REGISTRY: dict[str, Callable[[DebridConfig, Clock], Provider]] = {
    "realdebrid": _realdebrid,
}


def build_provider(cfg: DebridConfig, clock: Clock) -> Provider:
    factory = REGISTRY.get(cfg.provider)
    if factory is None:
        from gateway.errors import ConfigError
        raise ConfigError(f"debrids.{cfg.name}.provider", f"{cfg.provider!r} is not supported yet")
    return factory(cfg, clock)


def build_providers(debrids: tuple[DebridConfig, ...], clock: Clock) -> dict[str, Provider]:
    return {cfg.name: build_provider(cfg, clock) for cfg in debrids}
