"""CachedReader: probe zones, read-ahead, shared fetches, failures, and the active-streams registry."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from fs import cached_reader
from fs.cached_reader import CachedFiles, CachedReader
from fs.chunkcache import ChunkCache
from fs.streams import ActiveStreams
from gateway import errors
from gateway.clock import SystemClock
from gateway.library.snapshot import FileRef
from tests.support import wait_until
from tests.unit.test_chunkcache import pattern
from tests.unit.test_chunkwrite import resident_bytes

MiB = 1 << 20
CS = 256 * 1024
READ = 128 * 1024          # what FUSE asks for at a time
REF = FileRef("fake", "t1", 1)


class FakeStream:
    def __init__(self, upstream: FakeUpstream, start: int, end: int) -> None:
        self._upstream = upstream
        self.position = start
        self._end = end          # inclusive, like Streamer.open
        self.closed = False

    def read(self, size: int) -> bytes:
        self._upstream.pass_gate()
        if self._upstream.error is not None:
            raise self._upstream.error
        size = min(size, self._end + 1 - self.position)
        data = pattern(self.position, self.position + size)
        self.position += len(data)
        return data

    def close(self) -> None:
        self.closed = True


class FakeUpstream:
    """Stands in for the Streamer: pattern bytes, every open recorded, optional gate and error."""

    def __init__(self) -> None:
        self.opens: list[tuple[int, int]] = []
        self.streams: list[FakeStream] = []
        self.gate: threading.Event | None = None
        self.error: BaseException | None = None
        self._lock = threading.Lock()

    def open(self, ref: FileRef, start: int, end: int) -> FakeStream:
        stream = FakeStream(self, start, end)
        with self._lock:
            self.opens.append((start, end))
            self.streams.append(stream)
        return stream

    def pass_gate(self) -> None:
        if self.gate is not None and not self.gate.wait(10):
            raise AssertionError("gate never opened")

    def open_streams(self) -> int:
        with self._lock:
            return sum(not s.closed for s in self.streams)


@pytest.fixture
def upstream() -> FakeUpstream:
    return FakeUpstream()


@pytest.fixture
def files(tmp_path: Path, upstream: FakeUpstream) -> Iterator[Callable[..., CachedFiles]]:
    made: list[CachedFiles] = []

    def factory(read_ahead: int = 2 * MiB, max_bytes: int = 1 << 30) -> CachedFiles:
        cache = ChunkCache(str(tmp_path / f"cache{len(made)}"), CS, max_bytes, 3600.0, SystemClock())
        engine = CachedFiles(cache, upstream, chunk_size=CS, read_ahead=read_ahead,
                             max_bytes=max_bytes)
        made.append(engine)
        return engine

    yield factory
    for engine in made:
        engine.close()


def read_sequentially(reader: CachedReader, start: int = 0, step: int = READ) -> bytes:
    parts, offset = [], start
    while offset < reader.size:
        parts.append(reader.pread(offset, step))
        offset += step
    return b"".join(parts)


def test_sequential_read_fetches_every_chunk_once_ahead(files: Callable[..., CachedFiles],
                                                       upstream: FakeUpstream) -> None:
    engine = files(read_ahead=2 * MiB)
    size = 24 * MiB + 12345
    reader = engine.open("k", REF, size)
    assert read_sequentially(reader) == pattern(0, size)
    lengths = [end + 1 - start for start, end in upstream.opens]
    assert sum(lengths) == size                       # no byte twice
    assert lengths[0] == cached_reader.PROBE_HEAD     # the head zone at once
    assert sum(n > CS for n in lengths) <= 3          # then chunk by chunk (the tail zone may come in a run or two)
    reader.close()
    assert engine.stats()["bytes_on_disk"] == size


def test_probe_reads_cost_one_request_per_zone(files: Callable[..., CachedFiles], upstream: FakeUpstream) -> None:
    engine = files(read_ahead=8 * MiB)
    size = 40 * MiB
    reader = engine.open("k", REF, size)
    for offset in (0, 32 * 1024, size - 100_000, size - 8192, 100_000, 3 * MiB):
        assert reader.pread(offset, 65536) == pattern(offset, min(size, offset + 65536))
    assert upstream.opens == [(0, cached_reader.PROBE_HEAD - 1), (size - 100_000 - (size - 100_000) % CS, size - 1)]
    reader.close()
    assert engine.stats()["bytes_on_disk"] <= cached_reader.PROBE_HEAD + 100_000 + CS


def test_random_reads_fetch_only_their_chunks(files: Callable[..., CachedFiles], upstream: FakeUpstream) -> None:
    engine = files()
    size = 40 * MiB
    reader = engine.open("k", REF, size)
    for offset in (10 * MiB + 5, 20 * MiB, 30 * MiB - 10):
        assert reader.pread(offset, 65536) == pattern(offset, offset + 65536)
    # One request per read, each for the chunks the read touches (the last straddles two).
    assert [end + 1 - start for start, end in upstream.opens] == [CS, CS, 2 * CS]


def test_a_jump_or_close_stops_read_ahead(files: Callable[..., CachedFiles], upstream: FakeUpstream) -> None:
    engine = files(read_ahead=8 * MiB)
    size = 64 * MiB
    reader = engine.open("k", REF, size)
    offset = 0
    while offset < 6 * MiB:
        reader.pread(offset, READ)
        offset += READ
    assert reader.pread(50 * MiB, READ) == pattern(50 * MiB, 50 * MiB + READ)   # the jump
    reader.close()
    wait_until(lambda: upstream.open_streams() == 0, 10, "fetches finished after the jump and close")
    fetched = sum(end + 1 - start for start, end in upstream.opens)
    # Sequential up to 6 MiB, then the window reaches at most min(streak, read_ahead) further ahead.
    assert fetched <= 6 * MiB + 6 * MiB + cached_reader.READ_AHEAD_STREAMS * CS + CS
    # What was read is kept; a read-ahead the close cut short may keep less than it asked for
    # (how much depends on timing), never more.
    assert 6 * MiB + READ <= engine.stats()["bytes_on_disk"] <= fetched


def test_two_readers_of_one_region_share_the_fetch(files: Callable[..., CachedFiles], upstream: FakeUpstream) -> None:
    engine = files()
    size = 40 * MiB
    upstream.gate = threading.Event()
    readers = [engine.open("k", REF, size) for _ in range(4)]
    results: list[bytes] = [b""] * 4

    def read(i: int) -> None:
        results[i] = readers[i].pread(20 * MiB + i * 1000, 65536)

    threads = [threading.Thread(target=read, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    wait_until(lambda: upstream.opens, 10, "the first fetch")
    upstream.gate.set()
    for thread in threads:
        thread.join(10)
    assert [r == pattern(20 * MiB + i * 1000, 20 * MiB + i * 1000 + 65536) for i, r in enumerate(results)] == [True] * 4
    assert len(upstream.opens) == 1


def test_upstream_failure_reaches_the_reader(files: Callable[..., CachedFiles], upstream: FakeUpstream) -> None:
    engine = files()
    reader = engine.open("k", REF, 10 * MiB)
    upstream.error = errors.FileGone("gone", code="hoster_unavailable")
    with pytest.raises(errors.FileGone):
        reader.pread(0, 100)
    upstream.error = None
    assert reader.pread(0, 100) == pattern(0, 100)   # nothing bad was cached
    reader.close()
    with pytest.raises(ValueError):
        reader.pread(0, 100)


def test_read_ahead_failure_stops_read_ahead_not_the_reader(files: Callable[..., CachedFiles],
                                                            upstream: FakeUpstream) -> None:
    engine = files(read_ahead=4 * MiB)
    size = 32 * MiB
    reader = engine.open("k", REF, size)
    offset = 0
    while offset < 6 * MiB:
        reader.pread(offset, READ)
        offset += READ
    upstream.error = errors.Unavailable("down")
    with pytest.raises(errors.Unavailable):
        for _ in range(200):
            reader.pread(offset, READ)
            offset += READ
    upstream.error = None
    assert reader.pread(offset, READ) == pattern(offset, offset + READ)
    reader.close()


def test_active_streams_follow_reads_and_closes(files: Callable[..., CachedFiles]) -> None:
    streams = ActiveStreams()
    handle = streams.track(files().open("k", REF, 5 * MiB), "/__all__/t/a.mkv", "fuse")
    assert streams.snapshot() == [{"file": "/__all__/t/a.mkv", "reader": "fuse", "size": 5 * MiB,
                                   "position": 0, "served": 0}]
    handle.pread(1000, 500)
    assert streams.snapshot()[0]["position"] == 1500 and streams.served_bytes == 500
    handle.close()
    assert streams.snapshot() == [] and streams.served_bytes == 500


def test_reordered_reads_are_sequential_but_a_skip_is_a_jump(files: Callable[..., CachedFiles],
                                                              upstream: FakeUpstream) -> None:
    engine = files(read_ahead=4 * MiB)
    size = 64 * MiB
    reader = engine.open("k", REF, size)
    for offset in (0, 2 * MiB, 1 * MiB, 4 * MiB, 3 * MiB, 5 * MiB, 6 * MiB):   # as parallel kernel reads arrive
        assert reader.pread(offset, 1 * MiB) == pattern(offset, offset + MiB)
    wait_until(lambda: engine.stats()["bytes_on_disk"] >= 10 * MiB, 10, "read-ahead past 7 MiB")
    reader.close()
    other = engine.open("k2", REF, size)
    for offset in (0, 1 * MiB, 2 * MiB, 9 * MiB):   # the last read skips 6 MiB: random access from there
        other.pread(offset, 1 * MiB)
    other.close()
    assert upstream.opens[-1] == (9 * MiB, 10 * MiB - 1)   # just the chunks read, no read-ahead


def test_the_cache_file_is_opened_once_per_handle(files: Callable[..., CachedFiles], upstream: FakeUpstream,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    engine = files(read_ahead=2 * MiB)
    size = 12 * MiB + 777
    opened: list[str] = []    # the descriptor reads use
    direct: list[str] = []    # the O_DIRECT one chunk writes use (fs/chunkwrite.py), also once per pin
    real_open = os.open

    def counting_open(path: Any, flags: int, *args: Any, **kwargs: Any) -> int:
        if str(path).endswith(".data"):
            (direct if flags & os.O_DIRECT else opened).append(str(path))
        return real_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(os, "open", counting_open)
    reader = engine.open("k", REF, size)
    assert read_sequentially(reader) == pattern(0, size)                 # misses, read-ahead, then hits
    for offset in (5 * MiB, 100, size - 1000, 5 * MiB):                  # hits, in any order
        assert reader.pread(offset, 65536) == pattern(offset, min(size, offset + 65536))
    wait_until(lambda: upstream.open_streams() == 0, 10, "read-ahead finished")
    assert len(opened) == 1
    assert len(direct) == 1   # this test's filesystem (tmp_path) takes O_DIRECT: not one per chunk
    second = engine.open("k", REF, size)                                 # shares the open descriptor
    assert second.pread(MiB, 4096) == pattern(MiB, MiB + 4096)
    second.close()
    reader.close()
    assert len(opened) == 1
    third = engine.open("k", REF, size)                                  # all closed before: opened again, once
    for offset in range(0, size, 3 * MiB):
        assert third.pread(offset, 4096) == pattern(offset, min(size, offset + 4096))
    third.close()
    assert len(opened) == 2
    assert len(direct) == 1   # the third handle only read cached chunks: nothing to write


def test_read_through_answers_from_the_read_offset_and_fills_the_chunks_behind(
        tmp_path: Path, upstream: FakeUpstream) -> None:
    cache = ChunkCache(str(tmp_path / "cache"), CS, 1 << 30, 3600.0, SystemClock())
    engine = CachedFiles(cache, upstream, chunk_size=CS, read_ahead=2 * MiB, max_bytes=1 << 30,
                         read_through=lambda ref: True)   # usenet files: article fetches shared by readers
    try:
        size = 40 * MiB
        reader = engine.open("k", REF, size)
        offset = 10 * MiB + 12345
        assert reader.pread(offset, 65536) == pattern(offset, offset + 65536)
        # the reader's own request starts at its byte, not at its chunk's start ...
        assert upstream.opens[0][0] == offset
        # ... and once the reader moves on, the chunk it touched reaches the cache in the background
        assert reader.pread(20 * MiB, 1024) == pattern(20 * MiB, 20 * MiB + 1024)
        wait_until(lambda: cache.has("k", offset, 65536), 10, "the chunk fill")
        opens = len(upstream.opens)
        assert reader.pread(offset, 65536) == pattern(offset, offset + 65536)
        assert len(upstream.opens) == opens
        reader.close()

        # a caller that names its last byte (an HTTP Range) gets one upstream request for all of it
        ranged = engine.open("k2", REF, size, 30 * MiB + 3 * MiB - 1)
        before = len(upstream.opens)
        got = b"".join(ranged.pread(30 * MiB + i, READ) for i in range(0, 3 * MiB, READ))
        assert got == pattern(30 * MiB, 33 * MiB)
        reads = [o for o in upstream.opens[before:] if o[0] % CS or (o[1] + 1) % CS or o[1] + 1 - o[0] > CS]
        assert reads == [(30 * MiB, 33 * MiB - 1)]   # the rest are the background fills, a chunk each
        # the chunks it read whole were cached from its own bytes: no chunk request for them
        wait_until(lambda: cache.has("k2", 30 * MiB, 3 * MiB), 10, "the chunks written")
        assert not [o for o in upstream.opens[before:] if o[0] >= 30 * MiB and o != (30 * MiB, 33 * MiB - 1)]
        ranged.close()
    finally:
        engine.close()


def test_a_sequential_read_leaves_the_page_cache_alone(files: Callable[..., CachedFiles],
                                                       upstream: FakeUpstream) -> None:
    """Read-ahead chunks are written past the page cache and the reader takes them from memory, so a
    film streamed through the cache does not fill the machine's memory (fs/chunkwrite.py); the
    head zone, which media servers read again, stays in it."""
    engine = files(read_ahead=2 * MiB)
    size = 40 * MiB + 777
    reader = engine.open("k", REF, size)
    assert read_sequentially(reader) == pattern(0, size)
    wait_until(lambda: upstream.open_streams() == 0, 10, "read-ahead finished")
    reader.close()
    # Chunks the reader fetched itself (it caught up with the read-ahead) are written through it too.
    slack = 2 * MiB
    if not engine.cache._state.writer.direct:
        pytest.skip("the test's filesystem refuses O_DIRECT, so every chunk goes through the page cache")
    data = next(Path(engine.cache._ledger.dir).glob("*/*.data"))
    assert engine.stats()["bytes_on_disk"] == size                    # every chunk is cached on disk ...
    assert resident_bytes(data) <= cached_reader.PROBE_HEAD + cached_reader.PROBE_TAIL + slack   # ... not in memory
    again = engine.open("k", REF, size)
    assert again.pread(20 * MiB, 4096) == pattern(20 * MiB, 20 * MiB + 4096)   # a later reader reads the disk
    again.close()
