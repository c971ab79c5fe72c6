"""The last stage of an import: the files are at the provider; publish them in the
library, wait for an archive set's layout, run the download action, report."""

from __future__ import annotations

import logging

from gateway.imports import actions, unpacked
from gateway.imports.core import ImportCore, _event
from gateway.imports.records import ImportRecord, ImportState
from gateway.models import Torrent

log = logging.getLogger(__name__)


class Completion(ImportCore):
    def _complete(self, record: ImportRecord, torrent: Torrent) -> None:
        self._library.add_or_update(torrent)
        archive = unpacked.outcome(self._library.layouts, torrent, self._config)
        if archive.waiting:   # an archive set's layout is being learned: its folder is not there yet
            self._later(record, unpacked.LAYOUT_POLL, state=ImportState.DOWNLOADING, progress=0.99)
            return
        if archive.failure:
            self._fail(record, archive.failure)
            return
        folder = self._library.snapshot().folders.get(torrent.key, "")
        files = archive.files
        record = self._save(record.with_changes(state=ImportState.DOWNLOADING, folder=folder, files=files,
                                                size=sum(f.size for f in files if f.selected),
                                                progress=0.99 if record.action == "download" else record.progress))
        try:
            content_path = self._run_action(record)
        except actions.Interrupted:
            return
        except actions.ActionError as exc:
            self._fail(record, str(exc))
            return
        done = self._save(record.with_changes(state=ImportState.COMPLETE, progress=1.0, speed=0,
                                              content_path=content_path, completed_on=self._clock.now(),
                                              error=archive.note))
        self._library.recategorize()
        log.info("%s: ready at %s", done.hash, content_path)
        self._notify(done)
        self._events("download_complete", _event(done))

    def _run_action(self, record: ImportRecord) -> str:
        context = actions.ActionContext(
            mount_path=self._config.mount.mount_path, clock=self._clock, stop=self._stop,
            symlink_timeout=self._symlink_timeout, stream_url=self._stream_url,
            progress=lambda fraction: self._save(record.with_changes(progress=min(fraction, 0.99))),
            opener=self._opener)
        return actions.run(record, context)
