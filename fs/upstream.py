"""A read-through reader's own upstream request (``CachedReader`` of a usenet file).

The request stays open while reads follow each other, so a sequential reader costs one
request; a read elsewhere closes it and opens one at the new offset, asking at once for as
much as the reader is expected to want (the caller says how much), so the upstream's own
fetches run ahead of it.
"""

from __future__ import annotations

from collections.abc import Callable

from fs.reader import ByteStream, read_exact

PIECE = 256 * 1024          # upstream read size (CdnStream buffers pieces; small reads keep copies small)

Opener = Callable[[int, int], ByteStream]   # (start, end exclusive) -> a stream of those bytes


class UpstreamCursor:
    """Not thread-safe: its reader calls it one read at a time."""

    def __init__(self, open_stream: Opener, size: int, chunk_size: int, on_jump: Callable[[], None]) -> None:
        self._open = open_stream
        self._size = size
        self._cs = chunk_size
        self._on_jump = on_jump      # the reader leaves the chunk it was reading (ChunkKeeper.leave)
        self._stream: ByteStream | None = None
        self._at = 0                 # the offset the open request is at ...
        self._end = 0                # ... and where it stops

    def in_step(self, offset: int) -> bool:
        """Whether a read at ``offset`` continues the open request."""
        return self._stream is not None and self._at == offset

    def read(self, offset: int, end: int, want: Callable[[int], int]) -> bytes:
        """Bytes ``[offset, end)``: from the open request when in step, else from a new one running
        to ``want(end)`` (rounded up to a chunk boundary, so the chunk fills find their bytes in flight)."""
        parts = []
        while offset < end:
            if not self.in_step(offset):
                self.close()
                self._on_jump()
                stop = min(self._size, ((min(want(end), self._size) - 1) // self._cs + 1) * self._cs)
                self._stream = self._open(offset, stop)
                self._at, self._end = offset, stop
            assert self._stream is not None
            upto = min(end, self._end)
            try:
                parts.append(read_exact(self._stream, upto - offset, PIECE))
            except BaseException:
                self.close()
                raise
            offset = self._at = upto
            if upto >= self._end:
                self.close()
        return b"".join(parts)

    def close(self) -> None:
        stream, self._stream = self._stream, None
        if stream is not None:
            stream.close()
