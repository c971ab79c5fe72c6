"""What the composition root (gateway/app/__init__.py) assembles: the running parts, and
the order they start and stop in."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from fs.cached_reader import CachedFiles
from fs.fuse import FuseMount
from fs.vfs import VFS
from gateway.app.wiring import expiry_interval
from gateway.arr.registry import ArrRegistry
from gateway.auth import Auth
from gateway.clock import Clock
from gateway.config import Config
from gateway.events import Events
from gateway.history import BudgetHistory
from gateway.imports.manager import ImportManager
from gateway.integrations.queuecleanup import INTERVAL as QUEUE_CLEANUP_INTERVAL
from gateway.integrations.queuecleanup import QueueCleanup
from gateway.integrations.wiring import Integrations
from gateway.library.library import Library
from gateway.library.links import LinkResolver
from gateway.library.nzbstream import UsenetFiles
from gateway.library.streaming import Streamer
from gateway.library.unpack import LayoutLearner
from gateway.notify import Notifier
from gateway.providers.base import Provider
from gateway.providers.cdn import CdnClient
from gateway.repair.onread import ReadRepairs
from gateway.repair.service import RepairService
from gateway.server import ServerThread, make_server
from gateway.store import Store
from gateway.usenet import Usenet
from gateway.workers.runner import PeriodicWorker


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
            expiry = PeriodicWorker("cache-expiry", expiry_interval(self.config.mount.cache_expiry),
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
