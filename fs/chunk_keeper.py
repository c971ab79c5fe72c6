"""Read-through files: the chunks a reader's own upstream bytes complete go into the cache as they are.

A read-through reader (``CachedReader`` of a usenet file) reads straight from one upstream
request. ``ChunkKeeper`` collects what it read, chunk by chunk: a chunk the reader read from
its first byte to its last is written to the cache from those very bytes (no second fetch);
a chunk it read only part of (it started or stopped inside it) is handed to ``fill``, which
fetches the chunk in the background while the articles it needs are still in memory.
"""

from __future__ import annotations

from collections.abc import Callable


class ChunkKeeper:
    """Not thread-safe: the reader calls it under its own lock."""

    def __init__(self, size: int, chunk_size: int, store: Callable[[int, bytes | bytearray], None],
                 fill: Callable[[int], None]) -> None:
        self._size = size
        self._cs = chunk_size
        self._store = store      # (chunk, its whole bytes) -> into the cache
        self._fill = fill        # (chunk) -> fetch it into the cache in the background
        self._chunk = -1
        self._start = 0          # the file offset of the buffer's first byte
        self._buf = bytearray()

    def add(self, offset: int, data: bytes) -> None:
        """The reader read ``data`` at ``offset`` from upstream."""
        view = memoryview(data)
        while view:
            chunk = offset // self._cs
            if chunk != self._chunk or offset != self._start + len(self._buf):
                self.leave()
                self._chunk, self._start = chunk, offset
            chunk_end = min(self._size, (chunk + 1) * self._cs)
            take = min(len(view), chunk_end - offset)
            self._buf += view[:take]
            offset += take
            view = view[take:]
            if offset == chunk_end:
                if self._start == chunk * self._cs:
                    self._store(chunk, self._buf)   # _reset() gives the keeper a new buffer: no copy
                else:
                    self._fill(chunk)
                self._reset()

    def leave(self) -> None:
        """The reader went elsewhere or closed: a chunk it read part of is filled in the background."""
        if self._buf:
            self._fill(self._chunk)
        self._reset()

    def _reset(self) -> None:
        self._chunk = -1
        self._buf = bytearray()
