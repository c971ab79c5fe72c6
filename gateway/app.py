"""The composition root: builds every part from the config and wires them.

``app.py`` and ``server.py`` are the only gateway modules that import
``fs/`` and ``api/``; everything else points down the layers.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, unquote

from api.auth import Guard, make_auth_app
from api.browse import make_browse_app
from api.logs import make_logs_app
from api.metrics import instrument, make_metrics_app
from api.openapi import make_openapi_app
from api.qbit import make_qbit_app
from api.queuecleanup import make_queue_cleanup_app
from api.repair import make_repair_app
from api.rest import make_rest_app
from api.sabnzbd import make_sab_app
from api.stats import make_stats_app, make_stats_history_app
from api.ui import login_page, make_ui_app
from api.web import make_web_app
from fs.cached_reader import CachedFiles
from fs.chunkcache import ChunkCache
from fs.fuse import FuseMount
from fs.vfs import VFS
from fs.webdav import BasicAuth, make_dav_app
from gateway.arr.client import ArrClient
from gateway.arr.registry import ArrRegistry
from gateway.auth import Auth
from gateway.clock import Clock, SystemClock
from gateway.config import USENET, Config, MountConfig, UsenetConfig
from gateway.events import Events
from gateway.history import BudgetHistory
from gateway.imports.manager import ImportManager
from gateway.imports.records import ImportRecord, ImportRepo
from gateway.imports.usenet import UsenetImporter
from gateway.integrations.queuecleanup import INTERVAL as QUEUE_CLEANUP_INTERVAL
from gateway.integrations.queuecleanup import QueueCleanup
from gateway.integrations.wiring import Integrations
from gateway.library.library import Library
from gateway.library.links import LinkResolver
from gateway.library.nzblayout import LayoutStore
from gateway.library.nzbstream import UsenetFiles
from gateway.library.snapshot import FileRef
from gateway.library.streaming import Streamer
from gateway.library.unpack import LayoutLearner
from gateway.log import attach_memory_handler, level_number, register_secrets
from gateway.notify import Notifier
from gateway.providers import MetaJournal, build_provider, build_providers
from gateway.providers.base import Provider
from gateway.providers.cdn import CdnClient
from gateway.repair.onread import ReadRepairs
from gateway.repair.scan import Probe, State
from gateway.repair.service import RepairService
from gateway.server import ServerThread, make_server
from gateway.store import Store
from gateway.usenet import Usenet, UsenetServerConfig
from gateway.workers.runner import PeriodicWorker

log = logging.getLogger(__name__)


@dataclass
class Gateway:
    config: Config
    clock: Clock
    store: Store
    providers: dict[str, Provider]
    library: Library
    links: LinkResolver
    streamer: Streamer
    vfs: VFS
    cdn: CdnClient
    auth: Auth
    imports: ImportManager
    arrs: ArrRegistry
    apps: dict[str, Any]
    repair: RepairService
    events: Events
    notifier: Notifier
    history: BudgetHistory
    workers: list[PeriodicWorker] = field(default_factory=list)
    server: ServerThread | None = None
    files: CachedFiles | None = None     # the chunk cache every reader shares (with the FUSE mount)
    mount: FuseMount | None = None
    usenet: Usenet | None = None         # the NNTP servers' pools, when usenet.providers is set
    usenet_files: UsenetFiles | None = None
    integrations: Integrations | None = None   # media servers and rclone, told of tree changes
    read_repairs: ReadRepairs | None = None    # a read of a lost file opens a repair job
    queue_cleanup: QueueCleanup | None = None  # stuck *arr queue items of ours (arrs[].queue_cleanup)
    learner: LayoutLearner | None = None   # archive sets' layouts (unpack_archives)

    @property
    def port(self) -> int:
        return self.server.port if self.server else self.config.port

    def start(self, serve: bool = True, workers: bool = True) -> Gateway:
        if self.mount is not None:   # first: a mount that fails leaves nothing running
            self.mount.start()
        if self.learner is not None:   # part of the tree: an archive set's folder waits for it
            self.learner.start()
            if workers:
                self.workers.append(PeriodicWorker("archive-layouts", 60.0, self.learner.retry, self.clock,
                                                   run_first=False).start())
        if workers and self.files is not None:
            expiry = PeriodicWorker("cache-expiry", _expiry_interval(self.config.mount.cache_expiry),
                                    self.files.evict_expired, self.clock, run_first=False)
            self.workers.append(expiry.start())
        for name, sync in self.library.syncs.items() if workers else ():
            worker = PeriodicWorker(f"sync-{name}", sync.interval, sync.step, self.clock)
            self.providers[name].health.on_probe_due(worker.trigger)   # a changed key is probed at once
            self.workers.append(worker.start())
        if self.integrations is not None:
            self.integrations.start()   # with or without workers: an import in a test is told too
        if self.read_repairs is not None:
            self.read_repairs.start()
        if workers:
            self.notifier.start()
            self.imports.start()
            self.repair.start()
            self.workers.append(PeriodicWorker("budget-history", 60.0, self.history.sample, self.clock).start())
            if self.queue_cleanup is not None and self.queue_cleanup.enabled:
                self.workers.append(PeriodicWorker("queue-cleanup", QUEUE_CLEANUP_INTERVAL, self.queue_cleanup.step,
                                                   self.clock, run_first=False).start())
        if serve:
            server = make_server(self.config.bind_address, self.config.port, self.apps)
            self.server = ServerThread(server).start()
        return self

    def stop(self) -> None:
        """Unmount and stop serving, then the workers, then close the cache and the database."""
        if self.mount is not None:
            self.mount.stop()
        if self.server is not None:
            self.server.stop()
        for provider in self.providers.values():
            provider.budget.close()   # calls waiting for a slot give up, so every worker can stop
        self.imports.stop()
        self.repair.stop()
        self.notifier.stop()
        if self.integrations is not None:
            self.integrations.stop()
        if self.read_repairs is not None:
            self.read_repairs.stop()
        for worker in self.workers:
            worker.stop()
        if self.learner is not None:
            self.learner.stop()
        self.library.close()
        if self.files is not None:
            self.files.close()
        for provider in self.providers.values():
            provider.close()
        if self.usenet_files is not None:
            self.usenet_files.close()
        if self.usenet is not None:
            self.usenet.close()
        self.cdn.close()
        self.store.close()

    def refresh_now(self) -> None:
        for name in self.providers:
            self.library.refresh(name)


USENET_HEALTH_KEYS = ("connections", "max_connections", "articles", "bytes", "missing", "errors", "state")


def _health(gateway_ref: list[Gateway]) -> dict[str, Any]:
    """In-memory figures only (no provider call, no lock held over I/O): answers at once."""
    gateway = gateway_ref[0]
    snapshot = gateway.library.snapshot()
    health = {"status": "ok", "torrents": len(snapshot.torrents), "generation": snapshot.generation,
              "providers": gateway.library.sync_stats(), "accounts": _accounts(gateway)}
    if gateway.usenet is not None:
        # Exactly contract §8's figures per server; /api/stats carries the rest (reason, limit, peak ...).
        health["usenet"] = {name: {key: figures[key] for key in USENET_HEALTH_KEYS}
                            for name, figures in gateway.usenet.health().items()}
    if gateway.usenet_files is not None:
        health["usenet_reads"] = gateway.usenet_files.stats()   # zero-filled and failed article reads
    return health


def _accounts(gateway: Gateway) -> dict[str, Any]:
    """Each account's state: ``ok``, or ``disabled`` with the reason and the time (health.py)."""
    return {name: provider.health.status() for name, provider in gateway.providers.items()}


def _stats(gateway_ref: list[Gateway]) -> dict[str, Any]:
    gateway = gateway_ref[0]
    counters = gateway.streamer.counters
    return {"upstream": {"requests": counters.upstream_requests, "bytes": counters.upstream_bytes},
            "cache": gateway.files.stats() if gateway.files is not None else None,
            "served_bytes": gateway.vfs.streams.served_bytes,
            "streams": gateway.vfs.streams.snapshot(),
            "library": gateway.library.sync_stats(), "accounts": _accounts(gateway),
            "mount": {"type": gateway.config.mount.type, "path": gateway.mount.path if gateway.mount else "",
                      "mounted": gateway.mount.mounted if gateway.mount else False},
            "usenet": gateway.usenet.health() if gateway.usenet is not None else {},
            "usenet_reads": gateway.usenet_files.stats() if gateway.usenet_files is not None else {}}


def _figures(gateway_ref: list[Gateway]) -> dict[str, Any]:
    """Everything /metrics reports, read from memory at scrape time (no provider call)."""
    gateway = gateway_ref[0]
    snapshot = gateway.library.snapshot()
    groups = {name: len(node.children) for name, node in snapshot.root.children.items()
              if hasattr(node, "children")}
    imports: dict[str, int] = {}
    for record in gateway.imports.list():
        imports[record.state.value] = imports.get(record.state.value, 0) + 1
    return {**_stats(gateway_ref), "sync": gateway.library.sync_stats(), "imports": imports,
            "library": {"torrents": len(snapshot.torrents), "groups": groups, "bad": len(snapshot.bad)}}


def _apply_live(fresh: Config, keys: set[str], notifier: Notifier, providers: dict[str, Provider]) -> None:
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


def _check_debrid(body: dict[str, Any], config: Config, clock: Clock) -> dict[str, Any]:
    """A live key check for the setup page: one account call with the given key."""
    from gateway.config import parse_config
    from gateway.errors import ConfigError, ProviderError

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


def _usenet(config: Config, store: Store, streamer: Streamer, library: Library,
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


def _repair_probes(config: Config, files: UsenetFiles | None) -> dict[str, Probe]:
    """Usenet files have no CDN link: repair checks them by a STAT sample of their articles."""
    if files is None:
        return {}
    percent = config.usenet.availability_sample_percent

    def probe(ref: FileRef) -> tuple[State, str]:
        state, reason = files.check(ref, percent)
        return ("broken" if state == "broken" else "unknown" if state == "unknown" else "healthy"), reason
    return {USENET: probe}


def _check_usenet(body: dict[str, Any], config: Config, clock: Clock) -> dict[str, Any]:
    """A live login check for the setup and settings pages: connect, log in, quit."""
    from gateway.config import parse_config
    from gateway.errors import ConfigError, ProviderError

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


def _expiry_interval(expiry: float) -> float:
    """How often idle cached files are looked for: a quarter of the expiry, 1 min to 1 h."""
    return min(3600.0, max(60.0, expiry / 4))


def _cached_files(mount: MountConfig, streamer: Streamer, clock: Clock) -> CachedFiles | None:
    """The chunk cache comes with the FUSE mount; WebDAV and browse then read through it too."""
    if mount.type != "fuse" or mount.disk_cache_size <= 0:
        return None
    cache = ChunkCache(mount.cache_dir, mount.chunk_size, mount.disk_cache_size, mount.cache_expiry, clock)
    return CachedFiles(cache, streamer, chunk_size=mount.chunk_size, read_ahead=mount.read_ahead_size,
                       max_bytes=mount.disk_cache_size, read_through=lambda ref: ref.provider == USENET)


def _stream_url(config: Config, port: Callable[[], int], auth: Auth) -> Callable[[str, str], str]:
    """The gateway's own streaming URL for a library file (what .strm files hold).

    With auth on the URL is signed, since a media player cannot send a token.
    """
    host = "127.0.0.1" if config.bind_address in ("0.0.0.0", "::", "") else config.bind_address

    def url(folder: str, path: str) -> str:
        route = f"/api/browse/download/{quote(folder, safe='')}/{quote(path)}"
        signed = f"?sig={auth.sign(unquote(route))}" if config.use_auth else ""
        return f"http://{host}:{port()}{config.prefix}{route}{signed}"
    return url


def build(config: Config, clock: Clock | None = None) -> Gateway:
    clock = clock or SystemClock()
    os.makedirs(config.config_dir, exist_ok=True)
    register_secrets(config)        # keys and tokens are masked in every log line from here on
    attach_memory_handler()         # the last lines, for GET /api/logs
    store = Store(os.path.join(config.config_dir, "decypharr.db"))
    auth = Auth(store, clock)
    providers = build_providers(config.debrids, clock,
                                lambda name: MetaJournal(store.get_meta, store.set_meta, f"budget:{name}"))
    library = Library(config, providers, store, clock)
    links = LinkResolver(library, clock)
    cdn = CdnClient()
    streamer = Streamer(links, cdn, clock)
    files = _cached_files(config.mount, streamer, clock)
    vfs = VFS(library, streamer, files)
    usenet, usenet_files, importer = _usenet(config, store, streamer, library, clock)
    repo = ImportRepo(store)
    arr_client = ArrClient()
    arrs = ArrRegistry(config, repo, store, arr_client)

    events = Events()
    notifier = Notifier(config.notifications, clock)
    events.subscribe(notifier.send)
    for provider in providers.values():
        provider.health.subscribe(events.emit)   # account_error / account_ok

    def notify(record: ImportRecord) -> None:
        arrs.notify_complete(record.category)

    ref: list[Gateway] = []
    imports = ImportManager(config, library, repo, clock, notify=notify, events=events.emit,
                            stream_url=_stream_url(config, lambda: ref[0].port, auth),
                            opener=lambda folder, path: vfs.open(f"/__all__/{folder}/{path}", "download"),
                            usenet=importer)
    repair = RepairService(config, library, links, cdn, arr_client, store, clock,
                           _stream_url(config, lambda: ref[0].port, auth), events=events.emit,
                           probes=_repair_probes(config, usenet_files))
    read_repairs = ReadRepairs(config, library, repair, arr_client, clock,
                               lambda h: (record.category if (record := imports.get(h)) else ""))
    streamer.on_gone = read_repairs.file_gone
    history = BudgetHistory(providers, clock)
    integrations = Integrations(config, library, events.emit, events.subscribe, clock)
    queue_cleanup = QueueCleanup(config.arrs, arr_client, store, lambda key: imports.get(key) is not None,
                                 clock, events.emit)
    library.set_categories(imports.category_map)
    library.set_listing_watcher(imports.reconcile)
    library.snapshot()   # the first tree, from the store, before anything is served
    auth_app = make_auth_app(auth, config.use_auth, login_page=lambda: login_page(auth, config.use_auth))
    subapps = [auth_app, make_browse_app(vfs), make_stats_app(lambda: _stats(ref)),
               make_rest_app(config, imports, arrs, apply=lambda fresh, keys: _apply_live(fresh, keys, notifier, providers)),
               make_qbit_app(config=config, imports=imports, auth=auth, arrs=arrs, clock=clock),
               make_sab_app(config, imports, auth, clock.now), make_repair_app(repair),
               make_queue_cleanup_app(queue_cleanup.actions),
               make_stats_history_app(history.history), make_metrics_app(lambda: _figures(ref)), make_logs_app(),
               make_openapi_app(), make_ui_app(config, auth, lambda body: _check_debrid(body, config, clock),
                           lambda body: _check_usenet(body, config, clock))]
    web = make_web_app(lambda: _health(ref), subapps, Guard(auth, config.use_auth))
    prefix = config.prefix
    apps: dict[str, Any] = {prefix or "/": instrument(web)}
    if not config.disable_webdav:
        basic = BasicAuth(auth.check_password, reads_too=config.enable_webdav_auth) \
            if config.use_auth or config.enable_webdav_auth else None
        apps[f"{prefix}/webdav"] = instrument(make_dav_app(vfs, f"{prefix}/webdav", basic), route="webdav")
    mount = FuseMount(vfs, config.mount, clock) if config.mount.type == "fuse" else None
    gateway = Gateway(config, clock, store, providers, library, links, streamer, vfs, cdn, auth, imports, arrs,
                      apps, repair, events, notifier, history, files=files, mount=mount, usenet=usenet,
                      usenet_files=usenet_files, integrations=integrations, read_repairs=read_repairs,
                      queue_cleanup=queue_cleanup,
                      learner=LayoutLearner(library, streamer, clock) if config.unpack_archives else None)
    ref.append(gateway)
    return gateway
