"""The composition root: builds every part from the config and wires them.

``app/`` and ``server.py`` are the only gateway modules that import
``fs/`` and ``api/``; everything else points down the layers. ``build`` is here;
``assembly`` holds what it assembles (``Gateway``: start, stop), ``figures`` what
/health, /api/stats and /metrics report, ``wiring`` the helpers ``build`` uses.
"""

from __future__ import annotations

import os
from typing import Any

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
from fs.fuse import FuseMount
from fs.vfs import VFS
from fs.webdav import BasicAuth, make_dav_app
from gateway.app.assembly import Gateway
from gateway.app.figures import health_figures, metrics_figures, stats_figures
from gateway.app.wiring import (
    apply_live,
    cached_files,
    check_debrid,
    check_usenet,
    repair_probes,
    stream_url,
    usenet_parts,
)
from gateway.arr.client import ArrClient
from gateway.arr.registry import ArrRegistry
from gateway.auth import Auth
from gateway.clock import Clock, SystemClock
from gateway.config import Config
from gateway.events import Events
from gateway.history import BudgetHistory
from gateway.imports.manager import ImportManager
from gateway.imports.records import ImportRecord, ImportRepo
from gateway.integrations.queuecleanup import QueueCleanup
from gateway.integrations.wiring import Integrations
from gateway.library.library import Library
from gateway.library.links import LinkResolver
from gateway.library.streaming import Streamer
from gateway.library.unpack import LayoutLearner
from gateway.log import attach_memory_handler, register_secrets
from gateway.notify import Notifier
from gateway.providers import MetaJournal, build_providers
from gateway.providers.cdn import CdnClient
from gateway.repair.onread import ReadRepairs
from gateway.repair.service import RepairService
from gateway.store import Store

__all__ = ["Gateway", "build"]


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
    files = cached_files(config.mount, streamer, clock)
    vfs = VFS(library, streamer, files)
    usenet, usenet_files, importer = usenet_parts(config, store, streamer, library, clock)
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
    urls = stream_url(config, lambda: ref[0].port, auth)   # .strm contents, for imports and repair alike
    imports = ImportManager(config, library, repo, clock, notify=notify, events=events.emit, stream_url=urls,
                            opener=lambda folder, path: vfs.open(f"/__all__/{folder}/{path}", "download"),
                            usenet=importer)
    repair = RepairService(config, library, links, cdn, arr_client, store, clock,
                           urls, events=events.emit,
                           probes=repair_probes(config, usenet_files))
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
    subapps = [auth_app, make_browse_app(vfs), make_stats_app(lambda: stats_figures(ref)),
               make_rest_app(config, imports, arrs, apply=lambda fresh, keys: apply_live(fresh, keys, notifier, providers)),
               make_qbit_app(config=config, imports=imports, auth=auth, arrs=arrs, clock=clock),
               make_sab_app(config, imports, auth, clock.now), make_repair_app(repair),
               make_queue_cleanup_app(queue_cleanup.actions),
               make_stats_history_app(history.history), make_metrics_app(lambda: metrics_figures(ref)), make_logs_app(),
               make_openapi_app(), make_ui_app(config, auth, lambda body: check_debrid(body, config, clock),
                           lambda body: check_usenet(body, config, clock))]
    web = make_web_app(lambda: health_figures(ref), subapps, Guard(auth, config.use_auth))
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
