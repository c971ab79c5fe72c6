"""ChunkCache: correctness, single flight, failures, restart, budget and expiry."""

from __future__ import annotations

import os
import random
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from fs import chunkledger
from fs.chunkcache import ChunkCache

CS = 4096
DEADLINE = 10.0   # seconds any test thread may block before the test counts as failed

_PERIOD = bytes((i * 7 + 3) % 251 for i in range(251))


def pattern(start: int, end: int) -> bytes:
    """The deterministic content of every test file: byte i is (i * 7 + 3) % 251."""
    if end <= start:
        return b""
    skip = start % 251
    reps = (skip + end - start) // 251 + 1
    return (_PERIOD * reps)[skip: skip + end - start]


class FakeClock:
    """Time moves only when told to; ``wait`` really waits and can be observed."""

    def __init__(self, t: float = 1_000_000.0) -> None:
        self.t = t
        self._lock = threading.Lock()
        self._waits = 0
        self._watchers: list[tuple[int, threading.Event]] = []

    def now(self) -> float:
        return self.t

    def monotonic(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.t += seconds

    def advance(self, seconds: float) -> None:
        self.t += seconds

    def when_waiting(self, count: int) -> threading.Event:
        """An Event set once ``wait`` has been entered ``count`` times (counting from now)."""
        event = threading.Event()
        with self._lock:
            self._watchers.append((self._waits + count, event))
        return event

    def wait(self, event: threading.Event, timeout: float) -> bool:
        with self._lock:
            self._waits += 1
            for target, watcher in self._watchers:
                if self._waits >= target:
                    watcher.set()
        return event.wait(timeout)


class Source:
    """A counting fetch over ``pattern``; can block on a gate and fail on demand."""

    def __init__(self, size: int, gate: threading.Event | None = None, error: BaseException | None = None) -> None:
        self.size = size
        self.gate = gate
        self.error = error
        self.entered = threading.Event()
        self.calls: list[tuple[int, int]] = []
        self._lock = threading.Lock()

    def __call__(self, start: int, end: int) -> bytes:
        with self._lock:
            self.calls.append((start, end))
        self.entered.set()
        if self.gate is not None and not self.gate.wait(DEADLINE):
            raise AssertionError("fetch gate never opened")
        if self.error is not None:
            raise self.error
        assert 0 <= start < end <= self.size
        return pattern(start, end)

    def chunk_counts(self) -> Counter[int]:
        with self._lock:
            return Counter(i for start, end in self.calls for i in range(start // CS, (end - 1) // CS + 1))


def never(start: int, end: int) -> bytes:
    raise AssertionError(f"unexpected fetch({start}, {end})")


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def make(tmp_path: Path, clock: FakeClock) -> Iterator[Callable[..., ChunkCache]]:
    caches: list[ChunkCache] = []

    def factory(max_bytes: int = 1 << 30, expiry: float = 3600.0, chunk_size: int = CS,
                durable: bool = False) -> ChunkCache:
        cache = ChunkCache(str(tmp_path / "cache"), chunk_size, max_bytes, expiry, clock, durable=durable)
        caches.append(cache)
        return cache

    yield factory
    for cache in caches:
        cache.close()


def run_threads(count: int, target: Callable[[int], object]) -> list[object]:
    """Run ``target(i)`` in ``count`` threads; returns results (or the exceptions raised)."""
    results: list[object] = [None] * count

    def body(i: int) -> None:
        try:
            results[i] = target(i)
        except BaseException as exc:   # reported to the test through results
            results[i] = exc

    threads = [threading.Thread(target=body, args=(i,), daemon=True) for i in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(DEADLINE)
        assert not t.is_alive(), "reader thread stuck"
    return results


def data_usage(root: Path) -> int:
    return sum(p.stat().st_blocks * 512 for p in root.rglob("*.data"))


# ---------------------------------------------------------------- correctness

def test_random_ranges_match_source_and_clip_at_eof(make: Callable[..., ChunkCache]) -> None:
    cache = make()
    size = 10 * CS + 123
    src = Source(size)
    rng = random.Random(1)
    for _ in range(200):
        offset = rng.randrange(0, size + 50)
        length = rng.randrange(0, 3 * CS)
        assert cache.read("f", size, offset, length, src) == pattern(offset, min(offset + length, size))
    assert cache.read("f", size, size - 10, 1000, src) == pattern(size - 10, size)
    assert cache.read("f", size, size, 10, src) == b""
    assert cache.read("f", size, 5, 0, src) == b""


def test_second_read_is_served_from_disk(make: Callable[..., ChunkCache]) -> None:
    cache = make()
    size = 8 * CS
    src = Source(size)
    assert cache.read("f", size, 100, 3 * CS, src) == pattern(100, 100 + 3 * CS)
    fetched = len(src.calls)
    assert cache.read("f", size, 100, 3 * CS, src) == pattern(100, 100 + 3 * CS)
    assert cache.read("f", size, CS + 7, 10, never) == pattern(CS + 7, CS + 17)
    assert len(src.calls) == fetched == 1
    stats = cache.stats()
    assert stats["misses"] == 4 and stats["hits"] == 5
    assert stats["fetches"] == 1 and stats["fetched_bytes"] == 4 * CS
    assert stats["bytes_on_disk"] == 4 * CS and stats["files"] == 1
    assert cache.has("f", 0, 4 * CS) and not cache.has("f", 0, 4 * CS + 1)


def test_one_fetch_per_contiguous_missing_run(make: Callable[..., ChunkCache]) -> None:
    cache = make()
    size = 7 * CS - 100
    src = Source(size)
    cache.read("f", size, CS, 1, src)
    cache.read("f", size, 4 * CS, 1, src)
    src.calls.clear()
    assert cache.missing_chunks("f", size, 0, size) == [0, 2, 3, 5, 6]
    assert cache.read("f", size, 10, size, src) == pattern(10, size)
    assert src.calls == [(0, CS), (2 * CS, 4 * CS), (5 * CS, size)]
    assert cache.missing_chunks("f", size, 0, size) == []
    assert cache.missing_chunks("f", size + 1, 0, size) == list(range(7))   # another size: nothing cached


def test_prefetch_warms_without_counting(make: Callable[..., ChunkCache]) -> None:
    cache = make()
    size = 6 * CS
    src = Source(size)
    assert cache.read("f", size, 0, 3 * CS, src, prefetch=True) == b""
    assert cache.stats()["hits"] == cache.stats()["misses"] == 0
    assert cache.read("f", size, 0, 3 * CS, never) == pattern(0, 3 * CS)
    assert src.calls == [(0, 3 * CS)]


def test_changed_size_drops_old_chunks(make: Callable[..., ChunkCache]) -> None:
    cache = make()
    cache.read("f", 4 * CS, 0, 4 * CS, Source(4 * CS))
    src = Source(2 * CS)
    assert cache.read("f", 2 * CS, 0, 2 * CS, src) == pattern(0, 2 * CS)
    assert src.calls == [(0, 2 * CS)]
    assert cache.stats()["bytes_on_disk"] == 2 * CS


# ----------------------------------------------------------------- concurrency

def test_concurrent_readers_of_one_region_share_one_fetch(make: Callable[..., ChunkCache], clock: FakeClock) -> None:
    cache = make()
    size = 4 * CS
    gate = threading.Event()
    src = Source(size, gate=gate)
    seven_waiting = clock.when_waiting(7)
    start = threading.Barrier(8)

    def reader(_: int) -> bytes:
        start.wait(DEADLINE)
        return cache.read("f", size, 0, size, src)

    def open_gate_when_all_wait() -> None:
        # the fetch stays blocked until the seven other readers are waiting on it
        assert seven_waiting.wait(DEADLINE)
        gate.set()

    opener = threading.Thread(target=open_gate_when_all_wait, daemon=True)
    opener.start()
    results = run_threads(8, reader)
    opener.join(DEADLINE)
    assert results == [pattern(0, size)] * 8
    assert src.calls == [(0, size)]
    assert cache.stats()["misses"] == 8 * 4


def test_overlapping_concurrent_reads_fetch_each_chunk_once(make: Callable[..., ChunkCache]) -> None:
    cache = make()
    size = 16 * CS + 5
    gate = threading.Event()
    src = Source(size, gate=gate)
    started = threading.Barrier(9)   # 8 readers + the test, which then opens the gate
    ranges = [(i * 2 * CS + 17, 5 * CS) for i in range(8)]

    def reader(i: int) -> bytes:
        started.wait(DEADLINE)
        offset, length = ranges[i]
        return cache.read("f", size, offset, length, src)

    threads_done: list[object] = []
    runner = threading.Thread(target=lambda: threads_done.extend(run_threads(8, reader)), daemon=True)
    runner.start()
    started.wait(DEADLINE)
    gate.set()
    runner.join(DEADLINE)
    assert not runner.is_alive()
    assert threads_done == [pattern(o, min(o + n, size)) for o, n in ranges]
    counts = src.chunk_counts()
    assert set(counts) == set(range(17)) and set(counts.values()) == {1}


def test_failed_fetch_propagates_and_caches_nothing(make: Callable[..., ChunkCache]) -> None:
    cache = make()
    size = 3 * CS
    with pytest.raises(ConnectionError):
        cache.read("f", size, 0, size, Source(size, error=ConnectionError("cdn down")))
    assert not cache.has("f", 0, 1)
    assert cache.stats()["bytes_on_disk"] == 0
    src = Source(size)
    assert cache.read("f", size, 0, size, src) == pattern(0, size)
    assert src.calls == [(0, size)]


def test_waiters_get_the_leaders_error(make: Callable[..., ChunkCache], clock: FakeClock) -> None:
    cache = make()
    size = 2 * CS
    gate = threading.Event()
    leader_src = Source(size, gate=gate, error=ConnectionError("cdn down"))
    follower_src = Source(size)
    waiting = clock.when_waiting(1)
    results: list[object] = []

    def leader(_: int) -> bytes:
        return cache.read("f", size, 0, size, leader_src)

    runner = threading.Thread(target=lambda: results.extend(run_threads(1, leader)), daemon=True)
    runner.start()
    assert leader_src.entered.wait(DEADLINE)

    def follower() -> None:
        assert waiting.wait(DEADLINE)
        gate.set()

    threading.Thread(target=follower, daemon=True).start()
    with pytest.raises(ConnectionError):
        cache.read("f", size, CS, 10, follower_src)
    runner.join(DEADLINE)
    assert isinstance(results[0], ConnectionError)
    assert follower_src.calls == []
    assert cache.stats()["bytes_on_disk"] == 0


def test_waiter_of_an_abandoned_run_fetches_itself(make: Callable[..., ChunkCache], clock: FakeClock) -> None:
    cache = make()
    size = 3 * CS
    cache.read("f", size, CS, 1, Source(size))    # chunk 1 cached: the leader has runs [0] and [2]
    gate = threading.Event()
    leader_src = Source(size, gate=gate, error=ConnectionError("cdn down"))
    waiting = clock.when_waiting(1)
    results: list[object] = []
    runner = threading.Thread(
        target=lambda: results.extend(run_threads(1, lambda _: cache.read("f", size, 0, size, leader_src))),
        daemon=True)
    runner.start()
    assert leader_src.entered.wait(DEADLINE)

    def release() -> None:
        assert waiting.wait(DEADLINE)
        gate.set()

    threading.Thread(target=release, daemon=True).start()
    src = Source(size)
    assert cache.read("f", size, 2 * CS, CS, src) == pattern(2 * CS, 3 * CS)
    runner.join(DEADLINE)
    assert isinstance(results[0], ConnectionError)
    assert src.calls == [(2 * CS, 3 * CS)]
    assert cache.has("f", CS, 2 * CS) and not cache.has("f", 0, 1)


# --------------------------------------------------------------------- restart

@pytest.mark.parametrize("durable", [False, True])
def test_restart_keeps_cached_ranges(make: Callable[..., ChunkCache], durable: bool) -> None:
    size = 9 * CS + 1
    first = make(durable=durable)
    first.read("a", size, 0, 2 * CS, Source(size))
    first.read("b", size, 8 * CS, 2 * CS, Source(size))
    first.close()
    second = make()
    assert second.read("a", size, 5, 2 * CS - 5, never) == pattern(5, 2 * CS)
    assert second.read("b", size, 8 * CS, 2 * CS, never) == pattern(8 * CS, size)
    assert second.stats()["bytes_on_disk"] == 3 * CS + 1 and second.stats()["files"] == 2


def test_restart_forgets_files_whose_data_is_gone(make: Callable[..., ChunkCache], tmp_path: Path) -> None:
    size = 4 * CS
    first = make()
    first.read("a", size, 0, size, Source(size))
    first.read("b", size, 0, size, Source(size))
    first.close()
    sorted((tmp_path / "cache").rglob("*.data"))[0].unlink()
    stray = tmp_path / "cache" / "ab" / ("ab" + "0" * 38 + ".data")
    stray.parent.mkdir(exist_ok=True)
    stray.write_bytes(b"x" * 100)
    second = make()
    assert second.stats()["files"] == 1 and second.stats()["bytes_on_disk"] == size
    assert not stray.exists()
    assert sum(second.has(k, 0, size) for k in ("a", "b")) == 1


def test_changed_chunk_size_starts_empty(make: Callable[..., ChunkCache], tmp_path: Path) -> None:
    size = 4 * CS
    first = make()
    first.read("a", size, 0, size, Source(size))
    first.close()
    second = make(chunk_size=2 * CS)
    assert second.stats()["bytes_on_disk"] == 0 and not second.has("a", 0, 1)
    assert list((tmp_path / "cache").rglob("*.data")) == []


# ---------------------------------------------------------------------- budget

@pytest.mark.parametrize("punch", [True, False], ids=["punch-holes", "no-hole-punching"])
def test_budget_holds_under_random_workload(make: Callable[..., ChunkCache], tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch, punch: bool) -> None:
    if not punch:   # the fallback for systems without fallocate: freed chunks stay allocated until the file goes
        monkeypatch.setattr(chunkledger, "_fallocate", None)
    budget = 10 * CS
    cache = make(max_bytes=budget)
    sizes = {f"file{i}": 8 * CS + i * 1000 for i in range(5)}
    rng = random.Random(7)
    for _ in range(400):
        key = rng.choice(sorted(sizes))
        size = sizes[key]
        offset = rng.randrange(size)
        length = rng.randrange(1, 3 * CS)
        assert cache.read(key, size, offset, length, Source(size)) == pattern(offset, min(offset + length, size))
        assert cache.stats()["bytes_on_disk"] <= budget
        # slack: the partial last block of each file, and extent metadata of fragmented sparse files
        assert data_usage(tmp_path / "cache") <= budget + 2 * CS * len(sizes)
    assert cache.stats()["bytes_on_disk"] > budget // 4   # it does cache


def test_budget_holds_with_concurrent_readers(make: Callable[..., ChunkCache], tmp_path: Path) -> None:
    budget = 12 * CS
    cache = make(max_bytes=budget)
    size = 40 * CS
    src = Source(size)
    start = threading.Barrier(4)

    def worker(seed: int) -> bool:
        rng = random.Random(seed)
        start.wait(DEADLINE)
        for _ in range(100):
            offset, length = rng.randrange(size), rng.randrange(1, 4 * CS)
            assert cache.read("f", size, offset, length, src) == pattern(offset, min(offset + length, size))
            assert cache.stats()["bytes_on_disk"] <= budget
        return True

    assert run_threads(4, worker) == [True] * 4
    assert cache.stats()["bytes_on_disk"] <= budget
    assert data_usage(tmp_path / "cache") <= budget + 2 * CS


def test_read_larger_than_budget_is_served_uncached(make: Callable[..., ChunkCache]) -> None:
    cache = make(max_bytes=3 * CS)
    size = 8 * CS
    assert cache.read("f", size, 0, size, Source(size)) == pattern(0, size)
    assert cache.stats()["bytes_on_disk"] <= 3 * CS


def test_eviction_is_least_recently_used(make: Callable[..., ChunkCache], clock: FakeClock) -> None:
    cache = make(max_bytes=4 * CS)
    size = 2 * CS
    for key in ("a", "b"):
        cache.read(key, size, 0, size, Source(size))
        clock.advance(1)
    cache.read("a", size, 0, size, never)   # a is now the most recent
    clock.advance(1)
    cache.read("c", size, 0, size, Source(size))
    assert cache.has("a", 0, size) and cache.has("c", 0, size) and not cache.has("b", 0, 1)
    assert cache.stats()["files"] == 2   # b lost every chunk, so its file went too


# ---------------------------------------------------------------------- expiry

def test_evict_expired_drops_idle_files(make: Callable[..., ChunkCache], clock: FakeClock, tmp_path: Path) -> None:
    cache = make(expiry=100.0)
    size = 3 * CS + 10
    cache.read("old", size, 0, size, Source(size))
    clock.advance(60)
    cache.read("new", size, 0, CS, Source(size))
    clock.advance(50)   # old idle 110 s, new 50 s
    assert cache.evict_expired() == size
    assert not cache.has("old", 0, 1) and cache.has("new", 0, CS)
    assert cache.stats() | {"hits": 0, "misses": 0} == {
        "hits": 0, "misses": 0, "fetches": 2, "fetched_bytes": size + CS, "bytes_on_disk": CS, "files": 1}
    assert len(list((tmp_path / "cache").rglob("*.data"))) == 1
    clock.advance(40)
    cache.read("new", size, 0, 1, never)   # reading keeps it alive
    clock.advance(90)
    assert cache.evict_expired() == 0
    clock.advance(11)
    assert cache.evict_expired() == CS and cache.stats()["files"] == 0


def test_expiry_survives_restart(make: Callable[..., ChunkCache], clock: FakeClock) -> None:
    size = CS
    first = make(expiry=100.0)
    first.read("a", size, 0, size, Source(size))
    first.close()
    clock.advance(101)
    assert make(expiry=100.0).evict_expired() == size


def test_data_files_are_sparse(make: Callable[..., ChunkCache], tmp_path: Path) -> None:
    cache = make()
    size = 256 * CS
    cache.read("big", size, 100 * CS, 1, Source(size))
    (data,) = list((tmp_path / "cache").rglob("*.data"))
    assert os.path.getsize(data) == size
    assert data_usage(tmp_path / "cache") <= 4 * CS
