"""ChunkWriter: aligned chunks go past the page cache (O_DIRECT), everything else through it."""

from __future__ import annotations

import errno
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from fs.chunkwrite import ALIGN, ChunkWriter

CHUNK = 64 * ALIGN


def resident_bytes(path: Path) -> int:
    """Bytes of ``path`` in the page cache (util-linux ``fincore``)."""
    out = subprocess.run(["fincore", "--bytes", "--noheadings", "--output", "RES", str(path)],
                         capture_output=True, text=True, check=True).stdout
    return int(out.split()[0])


def data_file(tmp_path: Path, size: int) -> tuple[Path, int]:
    path = tmp_path / "x.data"
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    os.ftruncate(fd, size)
    return path, fd


def test_an_aligned_chunk_is_written_past_the_page_cache(tmp_path: Path) -> None:
    writer = ChunkWriter(CHUNK, durable=False)
    path, fd = data_file(tmp_path, 3 * CHUNK)
    direct_fd = writer.open_direct(str(path))
    if direct_fd < 0:
        pytest.skip(f"the filesystem of {tmp_path} refuses O_DIRECT, so there is nothing to show here")
    try:
        chunk = os.urandom(CHUNK)
        writer.write(fd, direct_fd, memoryview(chunk), CHUNK)
        assert writer.direct
        assert resident_bytes(path) == 0          # nothing went through memory
        assert os.pread(fd, CHUNK, CHUNK) == chunk
    finally:
        os.close(direct_fd)
        os.close(fd)
        writer.close()


def test_an_unaligned_piece_goes_through_the_page_cache(tmp_path: Path) -> None:
    writer = ChunkWriter(CHUNK, durable=True)
    path, fd = data_file(tmp_path, CHUNK + 777)
    direct_fd = writer.open_direct(str(path))
    try:
        tail = os.urandom(777)                     # the last chunk of a file
        writer.write(fd, direct_fd, memoryview(tail), CHUNK)
        assert resident_bytes(path) > 0
        assert os.pread(fd, 777, CHUNK) == tail
        assert writer.direct or direct_fd < 0      # an unaligned piece does not turn O_DIRECT off
    finally:
        if direct_fd >= 0:
            os.close(direct_fd)
        os.close(fd)


def test_a_filesystem_that_refuses_o_direct_gets_buffered_writes(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    real_open = os.open

    def refusing_open(path: Any, flags: int, *args: Any) -> int:
        if flags & os.O_DIRECT:   # as tmpfs on old kernels and some FUSE filesystems answer
            raise OSError(errno.EINVAL, "Invalid argument")
        return real_open(path, flags, *args)

    monkeypatch.setattr(os, "open", refusing_open)
    writer = ChunkWriter(CHUNK, durable=False)
    path, fd = data_file(tmp_path, 2 * CHUNK)
    try:
        assert writer.open_direct(str(path)) == -1
        assert not writer.direct and not writer.wants_direct(0, CHUNK)   # not tried again
        chunk = os.urandom(CHUNK)
        writer.write(fd, -1, memoryview(chunk), 0)
        assert os.pread(fd, CHUNK, 0) == chunk
    finally:
        os.close(fd)


def test_a_chunk_size_that_is_not_aligned_never_tries_o_direct() -> None:
    assert not ChunkWriter(CHUNK + 512, durable=False).wants_direct(0, CHUNK + 512)
    assert not ChunkWriter(CHUNK, durable=False).wants_direct(100, CHUNK)
    assert ChunkWriter(CHUNK, durable=False).wants_direct(CHUNK, CHUNK) == hasattr(os, "O_DIRECT")


def test_a_direct_write_that_fails_is_written_through_the_page_cache(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """A filesystem that takes the O_DIRECT open but fails the write (with any errno): the chunk
    is still cached, and O_DIRECT is not tried again."""
    writer = ChunkWriter(CHUNK, durable=False)
    path, fd = data_file(tmp_path, 2 * CHUNK)
    direct_fd = writer.open_direct(str(path))
    if direct_fd < 0:
        pytest.skip(f"the filesystem of {tmp_path} refuses O_DIRECT at open, so the write is never tried")
    real_pwrite = os.pwrite

    def failing_pwrite(target: int, data: Any, offset: int) -> int:
        if target == direct_fd:
            raise OSError(errno.EOPNOTSUPP, "Operation not supported")
        return real_pwrite(target, data, offset)

    monkeypatch.setattr(os, "pwrite", failing_pwrite)
    try:
        chunk = os.urandom(CHUNK)
        writer.write(fd, direct_fd, memoryview(chunk), 0)
        assert os.pread(fd, CHUNK, 0) == chunk
        assert not writer.direct
    finally:
        os.close(direct_fd)
        os.close(fd)
        writer.close()
