"""An NZB read from the user's own usenet servers instead of a debrid account: map it to
a stored layout and publish it (moved out of manager.py as it was)."""

from __future__ import annotations

import logging

from gateway.config import USENET
from gateway.imports.completion import Completion
from gateway.imports.core import _attempt
from gateway.imports.nzb import NzbError
from gateway.imports.records import ImportRecord, ImportState
from gateway.imports.usenet import Held, Refused

log = logging.getLogger(__name__)


class UsenetStep(Completion):
    def _reads_usenet(self, record: ImportRecord) -> bool:
        """An NZB is read from the usenet servers unless it asks for a debrid account."""
        if record.kind != "nzb" or self._usenet is None:
            return False
        return record.provider == USENET or not (record.debrid and record.debrid in self._library.providers)

    def _usenet_step(self, record: ImportRecord) -> None:
        """Map the NZB to a stored layout and publish it; servers that cannot answer hold the
        job in the queue (never failed), a release that cannot be streamed fails it."""
        assert self._usenet is not None
        torrent = self._library.snapshot().torrents.get((USENET, record.hash)) if record.provider_id else None
        if torrent is None:
            try:
                torrent = self._usenet.run(record.hash, record.name, self._repo.torrent_file(record.hash))
            except Held as exc:
                log.info("%s: held: %s", record.hash, exc)
                self._later(record, _held_delay(record.attempts), state=ImportState.QUEUED, error=str(exc))
                return
            except (Refused, NzbError) as exc:
                self._fail(record, str(exc))
                return
            except Exception as exc:   # a parser's bug must not retry forever: the *arr searches again
                log.exception("%s: usenet import failed", record.hash)
                self._fail(record, f"the usenet import failed: {exc}")
                return
        record = self._save(record.with_changes(
            provider=USENET, provider_id=record.hash, error="", submitting=False,
            provider_attempts=_attempt(record, USENET, "read from the usenet servers")))
        self._complete(record, torrent)


def _held_delay(attempts: int) -> float:
    """How long a job the servers could not answer waits: 5 s, growing to 30 s."""
    return min(30.0, 5.0 * (1 + attempts // 5))
