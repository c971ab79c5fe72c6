"""The read path stays lean: a FUSE read served from the chunk cache takes at most three locks.

Every ``threading.Lock`` the gateway creates is a counting one here (the factory is replaced
before the gateway is built), and only the acquisitions made by the reading thread during
one ``read`` are counted, so a lock added anywhere on the way (FUSE adapter, VFS handle,
active-streams registry, reader, cache, flights, events) shows up, and background threads
(the mount, the server) do not.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

import pytest

from fs.fuse import GatewayFuse
from tests.integration.test_fuse import MANY, library_files, mount_cfg, needs_fuse, unmount_leftover
from tests.support import TOKEN, expected, start_gateway

MAX_LOCKS_PER_HIT = 3


class Counting:
    """Counts acquisitions of every counting lock by one thread while ``armed``."""

    def __init__(self) -> None:
        self.thread: int | None = None
        self.count = 0


class CountingLock:
    def __init__(self, counter: Counting, real: Any) -> None:
        self._counter = counter
        self._real = real

    def acquire(self, blocking: bool = True, timeout: float = -1) -> bool:
        if self._counter.thread == threading.get_ident():
            self._counter.count += 1
        return bool(self._real.acquire(blocking, timeout))

    def release(self) -> None:
        self._real.release()

    def locked(self) -> bool:
        return bool(self._real.locked())

    def __enter__(self) -> bool:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


@needs_fuse
def test_a_cache_hit_takes_at_most_three_locks(emulator: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    counter = Counting()
    real_lock = threading.Lock
    monkeypatch.setattr(threading, "Lock", lambda: CountingLock(counter, real_lock()))
    emulator.world.seed_library(TOKEN, [MANY])
    mnt = tmp_path / "mnt"
    gw = start_gateway(emulator, str(tmp_path / "config"), mount=mount_cfg(mnt))
    try:
        ops = GatewayFuse(gw.vfs, uid=0, gid=0, umask=0o022)
        path, entry, spec = next(f for f in library_files(gw, [MANY]) if f[2]["size"] == MANY["files"][0]["size"])
        fh = ops.open("/" + path, os.O_RDONLY)
        offsets = [7 * (1 << 20) + 12345, 3 * (1 << 20), 9 * (1 << 20) + 1]   # random reads (jumps)
        for offset in offsets:   # the misses: fetched and cached
            assert ops.read("/" + path, 65536, offset, fh) == expected(entry, spec["path"], offset, 65536)
        assert gw.files is not None
        hits = gw.files.stats()["hits"]
        counts = []
        for offset in offsets:
            counter.count, counter.thread = 0, threading.get_ident()
            data = ops.read("/" + path, 65536, offset, fh)
            counter.thread = None
            counts.append(counter.count)
            assert data == expected(entry, spec["path"], offset, 65536)
        assert gw.files.stats()["hits"] == hits + len(offsets)   # served from disk, counted once each
        assert counts and max(counts) <= MAX_LOCKS_PER_HIT, counts
        assert min(counts) >= 1   # the counting sees the path's locks at all
        ops.release("/" + path, fh)
    finally:
        gw.stop()
        unmount_leftover(mnt)
