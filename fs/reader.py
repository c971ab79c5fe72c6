"""Lazy, seekable file handles over a byte source.

``FileHandle`` is the contract every VFS handle keeps: a ``size``, positional
reads (``pread``, which FUSE calls from several threads) and a file position
for stream readers (WsgiDAV seeks into ``get_content()`` for ranges). ``pread``
serialises the reads of one handle (``_serial``, the one lock a handle takes per
read; subclasses need none of their own for ``_pread``) and reports what it
serves to an optional observer (the active-streams registry) under it, so every
kind of handle shows up in ``/api/stats`` alike.

``RangeReader`` is the uncached handle: it opens nothing until the first read,
keeps one sequential stream open while reads follow each other, skips forward
inside a small window instead of reconnecting (rclone's minWindow), and
reopens at the new offset on a real seek. The cached handle lives in
``fs/cached_reader.py``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Protocol

from gateway import errors
from gateway.seekable import PositionalReader

SKIP_WINDOW = 1 << 20


def short_read(missing: int) -> errors.ProviderError:
    """Upstream ended before the bytes the file's size promises: an upstream failure
    (502 on HTTP, EIO on FUSE), never the gateway's own (500)."""
    return errors.ProviderError(f"upstream ended {missing} bytes before the end of the read", code="short_read")


class ByteStream(Protocol):
    position: int

    def read(self, size: int) -> bytes: ...

    def close(self) -> None: ...


def read_exact(stream: ByteStream, length: int, piece: int | None = None) -> bytes:
    """Exactly ``length`` bytes from ``stream``, each read asking for at most ``piece``
    (None: all that is left); a stream ending early is a ``short_read``."""
    parts = []
    while length > 0:
        data = stream.read(length if piece is None else min(length, piece))
        if not data:
            raise short_read(length)
        parts.append(data)
        length -= len(data)
    return b"".join(parts)


def blocks(read: Callable[[int], bytes], length: int, piece: int) -> Iterator[bytes]:
    """Up to ``length`` bytes from ``read``, in pieces of at most ``piece``; ends early at EOF."""
    while length > 0:
        data = read(min(piece, length))
        if not data:
            return
        length -= len(data)
        yield data


BoundedOpener = Callable[[int, "int | None"], ByteStream]   # (start, last byte or None)
ServedHook = Callable[[int, int], None]    # (offset, bytes) after each read
ClosedHook = Callable[[], None]


class FileHandle(PositionalReader):
    """Positional reads plus a file position; subclasses implement ``_pread``."""

    def __init__(self, size: int) -> None:
        super().__init__(size)
        self._on_served: ServedHook | None = None
        self._on_closed: ClosedHook | None = None
        self._serial = threading.Lock()   # one read at a time: FUSE may deliver a handle's reads on several threads

    def observe(self, served: ServedHook, closed: ClosedHook) -> None:
        self._on_served = served
        self._on_closed = closed

    def readall(self) -> bytes:
        return self.read(-1)

    def pread(self, offset: int, size: int) -> bytes:
        """Bytes at ``offset`` without moving the file position (short only at EOF)."""
        if offset < 0:
            raise ValueError("negative offset")
        size = max(0, min(size, self.size - offset))
        if size == 0:
            return b""
        with self._serial:
            data = self._pread(offset, size)
            if self._on_served is not None:
                self._on_served(offset, len(data))
        return data

    def _pread(self, offset: int, size: int) -> bytes:
        """Exactly ``size`` bytes at ``offset`` (already clipped to the file); called under ``_serial``."""
        raise NotImplementedError

    def close(self) -> None:
        with self._serial:
            if not self.closed and self._on_closed is not None:
                self._on_closed()
                self._on_closed = None
        super().close()


class RangeReader(FileHandle):
    """A handle over upstream streams.

    ``end`` is a hint: the last byte the caller expects to need (an HTTP
    client's bounded Range). The first stream asks upstream for no more than
    that, so a short range costs a short transfer and the connection can be
    reused; a read past it opens an unbounded stream.
    """

    def __init__(self, size: int, opener: BoundedOpener, end: int | None = None) -> None:
        super().__init__(size)
        self._opener = opener
        self._end = end
        self._stream: ByteStream | None = None
        self._stream_end: int | None = None

    def _pread(self, offset: int, size: int) -> bytes:
        return read_exact(self._stream_at(offset, offset + size - 1), size)

    def _stream_at(self, offset: int, last: int) -> ByteStream:
        """Needs ``_serial`` held. Reuse the open stream when the offset is just ahead."""
        stream = self._stream
        if stream is not None and self._stream_end is not None and last > self._stream_end:
            stream.close()   # a bounded stream cannot serve this read
            stream = self._stream = None
        if stream is not None:
            gap = offset - stream.position
            if 0 <= gap <= SKIP_WINDOW:
                while gap:
                    skipped = stream.read(min(gap, 1 << 16))
                    if not skipped:
                        break
                    gap -= len(skipped)
                if gap == 0:
                    return stream
            stream.close()
        bounded = self._end is not None and offset <= self._end and last <= self._end
        self._stream_end = self._end if bounded else None
        self._stream = self._opener(offset, self._stream_end)
        return self._stream

    def close(self) -> None:
        with self._serial:
            if self._stream is not None:
                self._stream.close()
                self._stream = None
        super().close()
