"""The composition root's helpers: config keys applied live, the setup pages' key and login
checks, the usenet parts, the chunk cache, repair's usenet probes, .strm URLs."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any
from urllib.parse import quote, unquote

from fs.cached_reader import CachedFiles
from fs.chunkcache import ChunkCache
from gateway.auth import Auth
from gateway.clock import Clock
from gateway.config import USENET, Config, MountConfig, UsenetConfig, parse_config
from gateway.errors import ConfigError, ProviderError
from gateway.imports.usenet import UsenetImporter
from gateway.library.library import Library
from gateway.library.nzblayout import LayoutStore
from gateway.library.nzbstream import UsenetFiles
from gateway.library.snapshot import FileRef
from gateway.library.streaming import Streamer
from gateway.log import level_number, register_secrets
from gateway.notify import Notifier
from gateway.providers import build_provider
from gateway.providers.base import Provider
from gateway.repair.scan import Probe, State
from gateway.store import Store
from gateway.usenet import Usenet, UsenetServerConfig


def apply_live(fresh: Config, keys: set[str], notifier: Notifier, providers: dict[str, Provider]) -> None:
    """The config keys that take effect without a restart (the settings page says which)."""
    if "log_level" in keys:
        logging.getLogger().setLevel(level_number(fresh.log_level) or logging.INFO)
    if "notifications" in keys:
        notifier.reconfigure(fresh.notifications)
    if "debrids" in keys:
        register_secrets(fresh)
        for debrid in fresh.debrids:   # a new API key for a running account: used and probed at once
            provider = providers.get(debrid.name)
            if provider is not None and provider.health.key != debrid.api_key:
                provider.health.rekey(debrid.api_key)


def check_debrid(body: dict[str, Any], config: Config, clock: Clock) -> dict[str, Any]:
    """A live key check for the setup page: one account call with the given key."""
    raw = {"name": "check", "provider": str(body.get("provider", "")), "api_key": str(body.get("api_key", "")),
           "rate_limit": "off"}
    if body.get("api_url"):
        raw["api_url"] = str(body["api_url"])
    try:
        debrid = parse_config({"debrids": [raw]}, config.config_dir).debrids[0]
        provider = build_provider(debrid, clock)
    except ConfigError as exc:
        return {"ok": False, "error": str(exc)}
    try:
        account = provider.account()
    except ProviderError as exc:
        return {"ok": False, "error": str(exc)}
    finally:
        provider.close()
    return {"ok": True, "username": account.username, "premium": account.premium}


def usenet_servers(config: UsenetConfig) -> list[UsenetServerConfig]:
    """The configured servers in the client's terms; priority defaults to config order."""
    return [UsenetServerConfig(name=p.name, host=p.host, port=p.port, username=p.username, password=p.password,
                               ssl=p.ssl, max_connections=p.max_connections,
                               priority=i if p.priority is None else p.priority, backup=p.backup,
                               backbone=p.backbone)
            for i, p in enumerate(config.providers)]


def usenet_parts(config: Config, store: Store, streamer: Streamer, library: Library,
            clock: Clock) -> tuple[Usenet | None, UsenetFiles | None, UsenetImporter | None]:
    """One ``Usenet`` (every pool) for reads, imports and repair, when servers are configured."""
    if not config.usenet.enabled:
        return None, None, None
    usenet = Usenet(usenet_servers(config.usenet), clock, stream_connections=config.usenet.max_connections)
    layouts = LayoutStore(store)
    # A stream never asks more articles at once than the largest pool can read at once: the extra
    # requests would only wait for a connection, and every connection given back wakes each waiter
    # (measured with scripts/bench_usenet.py: FUSE sequential 0.84 of raw with 15 asked on a pool of 9, 0.9+ with 9).
    widest = max(pool.limit for pool in usenet.pools)
    files = UsenetFiles(layouts, usenet, read_ahead=config.usenet.read_ahead,
                        zero_fill=config.usenet.zero_fill_missing,
                        stream_connections=min(config.usenet.max_connections, widest))
    streamer.local[USENET] = files.open
    library.local[USENET] = files.forget
    return usenet, files, UsenetImporter(config, usenet, layouts, clock)


def repair_probes(config: Config, files: UsenetFiles | None) -> dict[str, Probe]:
    """Usenet files have no CDN link: repair checks them by a STAT sample of their articles."""
    if files is None:
        return {}
    percent = config.usenet.availability_sample_percent

    def probe(ref: FileRef) -> tuple[State, str]:
        state, reason = files.check(ref, percent)
        return ("broken" if state == "broken" else "unknown" if state == "unknown" else "healthy"), reason
    return {USENET: probe}


def check_usenet(body: dict[str, Any], config: Config, clock: Clock) -> dict[str, Any]:
    """A live login check for the setup and settings pages: connect, log in, quit."""
    fields = ("name", "host", "port", "username", "password", "ssl")
    raw = {k: body[k] for k in fields if body.get(k) not in (None, "")}
    stored = next((p for p in config.usenet.providers if p.name == raw.get("name", raw.get("host"))), None)
    if str(raw.get("password", "")).startswith("****") and stored is not None:
        raw["password"] = stored.password   # the page shows the stored one masked
    try:
        server = usenet_servers(parse_config({"usenet": {"providers": [raw]}}, config.config_dir).usenet)[0]
    except ConfigError as exc:
        return {"ok": False, "error": str(exc)}
    client = Usenet([server], clock)
    try:
        client.check_login(server)
    except ProviderError as exc:
        return {"ok": False, "error": str(exc)}
    finally:
        client.close()
    return {"ok": True, "server": server.name}


def expiry_interval(expiry: float) -> float:
    """How often idle cached files are looked for: a quarter of the expiry, 1 min to 1 h."""
    return min(3600.0, max(60.0, expiry / 4))


def cached_files(mount: MountConfig, streamer: Streamer, clock: Clock) -> CachedFiles | None:
    """The chunk cache comes with the FUSE mount; WebDAV and browse then read through it too."""
    if mount.type != "fuse" or mount.disk_cache_size <= 0:
        return None
    cache = ChunkCache(mount.cache_dir, mount.chunk_size, mount.disk_cache_size, mount.cache_expiry, clock)
    return CachedFiles(cache, streamer, chunk_size=mount.chunk_size, read_ahead=mount.read_ahead_size,
                       max_bytes=mount.disk_cache_size, read_through=lambda ref: ref.provider == USENET)


def stream_url(config: Config, port: Callable[[], int], auth: Auth) -> Callable[[str, str], str]:
    """The gateway's own streaming URL for a library file (what .strm files hold).

    With auth on the URL is signed, since a media player cannot send a token.
    """
    host = "127.0.0.1" if config.bind_address in ("0.0.0.0", "::", "") else config.bind_address

    def url(folder: str, path: str) -> str:
        route = f"/api/browse/download/{quote(folder, safe='')}/{quote(path)}"
        signed = f"?sig={auth.sign(unquote(route))}" if config.use_auth else ""
        return f"http://{host}:{port()}{config.prefix}{route}{signed}"
    return url
