"""Building a provider account's HTTP clients from its config (shared by every module)."""

from __future__ import annotations

from gateway.clock import Clock
from gateway.config import DebridConfig
from gateway.providers.budget import Budget, Limit
from gateway.providers.http import ProviderHTTP, make_session
from gateway.providers.keys import KeyRing


def account_http(cfg: DebridConfig, default_url: str, clock: Clock, budget: Budget, *,
                 key: str | None = None, headers: dict[str, str] | None = None) -> ProviderHTTP:
    """The client for one key of the account (the main ``api_key`` unless ``key``)."""
    secret = cfg.api_key if key is None else key
    auth = {"Authorization": f"Bearer {secret}", **(headers or {})}
    return ProviderHTTP(cfg.api_url or default_url, auth, clock, budget=budget,
                        session=make_session(cfg.user_agent, cfg.proxy), key=secret,
                        health=budget.health if key is None else None)


def download_keys(cfg: DebridConfig, default_url: str, clock: Clock, main: ProviderHTTP, *,
                  sublimits: dict[str, Limit] | None = None,
                  headers: dict[str, str] | None = None) -> KeyRing:
    """The main key's client first, then one per extra ``download_api_keys`` entry.

    Each extra key is its own provider account, so it gets its own budget.
    """
    extras = [k for k in dict.fromkeys(cfg.download_api_keys) if k and k != cfg.api_key]
    limit = Limit(*cfg.rate_limit) if cfg.rate_limit else None
    clients = [main] + [
        account_http(cfg, default_url, clock, Budget(f"{cfg.name}/key{i + 1}", limit, clock, sublimits=sublimits),
                     key=k, headers=headers)
        for i, k in enumerate(extras)]
    return KeyRing(cfg.name, clients, clock)
