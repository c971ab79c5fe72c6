"""Chunk writes of the cache: a stream's chunks past the page cache (O_DIRECT) where the filesystem allows it.

Which chunks: those of a sequential reader's read-ahead (``CacheFile.prefetch(streamed=True)``).
A stream through the cache writes gigabytes that nobody reads back from memory soon. The
reader of a chunk just fetched takes its bytes from memory (``CacheFile``'s hold), and a
later reader finds them on disk. Probe zones and random reads are written through the page
cache, because those are read again soon (a second library scan, a player seeking back).

Why not the page cache for a stream: every byte would first take a fresh page of memory. That costs more than the
network read it came from: on this project's VM, fresh page-cache writes run at about
320 MiB/s and 0.8 CPU-seconds per 256 MiB, against 1.4 GB/s and 0.04 CPU-seconds for the
same chunks written with O_DIRECT (scripts/bench_chunkwrite.py, docs/benchmarks.md). It would also push the rest
of the machine's cache out, the media server's database included.

O_DIRECT needs the file offset, the length and the memory aligned to the device's block.
Chunks start on chunk boundaries, so they are aligned when ``chunk_size`` is a multiple of
``ALIGN``. The bytes are copied into a page-aligned bounce buffer, which is reused because
fresh pages are the cost being avoided. Buffered writes take the rest: an unaligned piece
(the last chunk of a file), a chunk size that is not a multiple of ``ALIGN``, and every
write once a filesystem refused O_DIRECT, at open or at a write (tmpfs on old kernels, some
FUSE and network filesystems).
"""

from __future__ import annotations

import errno
import logging
import mmap
import os
import threading

log = logging.getLogger(__name__)

ALIGN = 4096          # covers 512-byte and 4 KiB devices
IDLE_BUFFERS = 2      # bounce buffers kept between writes (each one chunk of memory)


class ChunkWriter:
    """Writes chunk bytes at an offset of a ``.data`` file; thread-safe.

    A pinned file keeps a second descriptor, opened with O_DIRECT at its first aligned write
    (``open_direct``), beside its buffered one; the ledger closes both when the last pin goes.
    """

    def __init__(self, chunk_size: int, *, durable: bool, direct: bool = True) -> None:
        self._size = chunk_size
        self._durable = durable
        self.direct = direct and hasattr(os, "O_DIRECT") and chunk_size % ALIGN == 0
        self._idle: list[mmap.mmap] = []
        self._lock = threading.Lock()

    def wants_direct(self, offset: int, length: int) -> bool:
        return self.direct and offset % ALIGN == 0 and length % ALIGN == 0 and 0 < length <= self._size

    def open_direct(self, path: str) -> int:
        """The file's O_DIRECT write descriptor, or -1 (the filesystem refuses it, or it is gone)."""
        try:
            return os.open(path, os.O_WRONLY | os.O_DIRECT)
        except OSError as exc:
            if exc.errno != errno.ENOENT:   # EINVAL mostly; some filesystems say EOPNOTSUPP or else
                self._refused(path, exc)
            return -1

    def write(self, fd: int, direct_fd: int, data: memoryview, offset: int) -> None:
        """All of ``data`` at ``offset``: through ``direct_fd`` when it is open and the piece is
        aligned, else through the buffered ``fd``. OSError when neither could write it.

        A failed O_DIRECT write is tried again through the page cache: when that works, the
        filesystem is what refused (some answer EINVAL only at the first write, others another
        errno), and O_DIRECT is not tried again; when it fails too, the disk is the problem."""
        if direct_fd >= 0 and self.wants_direct(offset, len(data)):
            try:
                self._write_direct(direct_fd, data, offset)
                return
            except OSError as exc:
                self._write_buffered(fd, data, offset)
                self._refused(f"descriptor {direct_fd}", exc)
                return
        self._write_buffered(fd, data, offset)

    def _write_buffered(self, fd: int, data: memoryview, offset: int) -> None:
        pwrite_full(fd, data, offset)
        if self._durable:
            os.fdatasync(fd)

    def _refused(self, what: str, exc: OSError) -> None:
        if self.direct:
            self.direct = False
            log.info("chunk cache: %s refuses O_DIRECT (%s); writing through the page cache", what, exc)

    def _write_direct(self, fd: int, data: memoryview, offset: int) -> None:
        buffer = self._borrow()
        try:
            with memoryview(buffer) as whole, whole[:len(data)] as view:
                view[:] = data
                pwrite_full(fd, view, offset)
            if self._durable:   # O_DIRECT skips the page cache, not the device's own cache
                os.fdatasync(fd)
        finally:
            self._give_back(buffer)

    def _borrow(self) -> mmap.mmap:
        with self._lock:
            if self._idle:
                return self._idle.pop()
        return mmap.mmap(-1, self._size)   # anonymous mmaps are page-aligned

    def _give_back(self, buffer: mmap.mmap) -> None:
        with self._lock:
            if len(self._idle) < IDLE_BUFFERS:
                self._idle.append(buffer)
                return
        buffer.close()

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for buffer in idle:
            buffer.close()


def pwrite_full(fd: int, data: memoryview, offset: int) -> None:
    while data:
        written = os.pwrite(fd, data, offset)
        data = data[written:]
        offset += written
