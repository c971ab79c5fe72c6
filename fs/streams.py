"""Active streams: which files are open, by which frontend, and where each reader is.

Every handle the VFS hands out is registered here (``track``) and reports its
reads through ``FileHandle.observe``; ``/api/stats`` shows the list and the
total bytes served. A read updates its own stream's figures without a lock: the
handle calls the hook under its own read lock, so one stream is updated by one
thread at a time, and readers of the figures see whole ints. The registry's lock
guards only the set of streams (track, close, snapshot).
"""

from __future__ import annotations

import functools
import itertools
import threading
from dataclasses import asdict, dataclass
from typing import Any

from fs.reader import FileHandle


@dataclass
class _Stream:
    file: str
    reader: str          # the frontend: fuse, webdav, browse, vfs ...
    size: int
    position: int = 0    # end of the latest read
    served: int = 0


def _served(stream: _Stream, offset: int, nbytes: int) -> None:
    """A read's hook: called under the handle's read lock, so never twice at once for one stream."""
    stream.position = offset + nbytes
    stream.served += nbytes


class ActiveStreams:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._streams: dict[int, _Stream] = {}
        self._ids = itertools.count(1)
        self._served = 0

    def track(self, handle: FileHandle, path: str, reader: str) -> FileHandle:
        sid = next(self._ids)
        stream = _Stream(path, reader, handle.size)
        with self._lock:
            self._streams[sid] = stream
        handle.observe(functools.partial(_served, stream), lambda: self._close(sid))
        return handle

    def _close(self, sid: int) -> None:
        with self._lock:
            stream = self._streams.pop(sid, None)
            if stream is not None:
                self._served += stream.served   # closed streams' bytes

    @property
    def served_bytes(self) -> int:
        with self._lock:
            return self._served + sum(s.served for s in self._streams.values())

    def snapshot(self) -> list[dict[str, Any]]:
        with self._lock:
            return [asdict(s) for _, s in sorted(self._streams.items())]
