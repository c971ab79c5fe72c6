"""The chunks one cache handle keeps in memory after fetching them (``CacheFile``'s hold).

A sequential reader's read-ahead fetches the chunks it reads next, and those are written past
the page cache (fs/chunkwrite.py), so the reader takes them from here instead of reading them
back from disk. The hold keeps at most ``size`` chunks: the nearest first (when it is full, the
chunks furthest ahead are read from disk later instead), and it lets go of the chunks behind
the reader as the reader passes them.

Threads: the reader looks chunks up without the lock (``dict.get`` is atomic in CPython);
read-ahead tasks add chunks, and the reader drops passed ones, under the lock.
"""

from __future__ import annotations

import threading


class ChunkHold:
    def __init__(self, size: int) -> None:
        self.size = size
        self._chunks: dict[int, memoryview] = {}
        self._lock = threading.Lock()
        self._reading = -1   # the first chunk of the last read served from here (the reader's thread only)

    def __bool__(self) -> bool:
        return bool(self._chunks)

    def pieces(self, wanted: range) -> list[memoryview] | None:
        """The held bytes of every chunk in ``wanted``, or None when one is missing. A read that
        starts in a new chunk lets go of the chunks before it."""
        found = [self._chunks.get(i) for i in wanted]
        pieces = [piece for piece in found if piece is not None]
        if len(pieces) < len(found):
            return None
        if wanted[0] != self._reading:
            self._reading = wanted[0]
            with self._lock:
                for i in [i for i in self._chunks if i < wanted[0]]:
                    del self._chunks[i]
        return pieces

    def keep(self, chunks: list[int], pieces: list[memoryview]) -> None:
        if not self.size:
            return
        with self._lock:
            for i, piece in zip(chunks, pieces, strict=True):
                self._chunks[i] = piece
            while len(self._chunks) > self.size:
                del self._chunks[max(self._chunks)]

    def clear(self) -> None:
        with self._lock:
            self._chunks.clear()
