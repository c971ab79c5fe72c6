"""Active streams: which files are open, by which frontend, and where each reader is.

Every handle the VFS hands out is registered here (``track``) and reports its
reads through ``FileHandle.observe``; ``/api/stats`` shows the list and the
total bytes served. Updates are a dict lookup under one lock, cheap enough for
every FUSE read.
"""

from __future__ import annotations

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


class ActiveStreams:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._streams: dict[int, _Stream] = {}
        self._ids = itertools.count(1)
        self._served = 0

    def track(self, handle: FileHandle, path: str, reader: str) -> FileHandle:
        sid = next(self._ids)
        with self._lock:
            self._streams[sid] = _Stream(path, reader, handle.size)
        handle.observe(lambda offset, n: self._read(sid, offset, n), lambda: self._close(sid))
        return handle

    def _read(self, sid: int, offset: int, nbytes: int) -> None:
        with self._lock:
            self._served += nbytes
            stream = self._streams.get(sid)
            if stream is not None:
                stream.position = offset + nbytes
                stream.served += nbytes

    def _close(self, sid: int) -> None:
        with self._lock:
            self._streams.pop(sid, None)

    @property
    def served_bytes(self) -> int:
        with self._lock:
            return self._served

    def snapshot(self) -> list[dict[str, Any]]:
        with self._lock:
            return [asdict(s) for _, s in sorted(self._streams.items())]
