"""Builds the configured integrations and hooks them to the event bus and the library."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from gateway.clock import Clock
from gateway.config import Config
from gateway.integrations.batch import WINDOW
from gateway.integrations.mediaservers import MediaServers
from gateway.integrations.rclone import RcloneRc
from gateway.integrations.tree import TreeEvents
from gateway.library.library import Library

Emit = Callable[[str, dict[str, Any]], None]
Subscribe = Callable[[Callable[[str, dict[str, Any]], None]], None]


class Integrations:
    """Off unless ``media_servers`` or ``rclone_rc.url`` is set: then nothing listens and no thread runs."""

    def __init__(self, config: Config, library: Library, emit: Emit, subscribe: Subscribe, clock: Clock,
                 window: float = WINDOW) -> None:
        self.media: MediaServers | None = None
        self.rclone: RcloneRc | None = None
        self.tree: TreeEvents | None = None
        if config.media_servers:
            self.media = MediaServers(config.media_servers, config.mount.mount_path, config.download_folder,
                                      library.snapshot, clock, window)
            subscribe(self.media.on_event)
        if config.rclone_rc.enabled:
            self.rclone = RcloneRc(config.rclone_rc, clock, window)
            subscribe(self.rclone.on_event)
        if self.media is not None or self.rclone is not None:
            self.tree = TreeEvents(emit)
            library.add_publish_watcher(self.tree.published)

    def start(self) -> None:
        for part in (self.tree, self.media, self.rclone):
            if part is not None:
                part.start()

    def stop(self) -> None:
        for part in (self.tree, self.media, self.rclone):
            if part is not None:
                part.stop()
