"""A CDN that ignores ``Range`` (issue 15, item 3): every read still gets exactly its bytes.

Some hosters and proxies answer a ranged GET with ``200`` and the whole file.
The emulator's CDN does so with the ``cdn_ignore_range`` knob. Everything here
reads over real HTTP from that CDN through the gateway's own read path: the
``Streamer`` (``CdnStream`` under ``ResilientStream``), the uncached
``RangeReader``, the chunk cache's ``CachedReader``, and the three frontends
(browse, WebDAV, a real FUSE mount with and without the chunk cache).
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from emulators.server import Emulator
from fs.cached_reader import CachedFiles
from fs.chunkcache import ChunkCache
from gateway import errors
from gateway.app import Gateway
from gateway.clock import SystemClock
from gateway.library.snapshot import FileRef
from gateway.providers.cdn import CdnClient
from tests.integration.test_fuse import mount_cfg, needs_fuse, unmount_leftover
from tests.support import TOKEN, expected, infohash, start_gateway

MB = 1 << 20
# Chunks that are not a multiple of the CDN's 256 KiB socket pieces (a user may set any
# chunk_size), so chunk fetches start at offsets that do not line up with them.
CHUNK = 1_000_000
# Sizes around the CDN's 256 KiB socket pieces, the 64 KiB skip steps and the 1 MiB chunks.
SIZES = [1, 2, 65_536, 65_537, 262_144, 262_145, 1_048_577, 3_000_001, 6_291_459]
PROBE = {"hash": infohash("range-probe"), "name": "Range Probe 2024", "added": "2024-05-01T00:00:00.000Z",
         "files": [{"path": f"probe {size}.bin", "size": size} for size in SIZES]}
BIG = f"probe {SIZES[-1]}.bin"


def _tree_path(name: str) -> str:
    return f"/__all__/{PROBE['name']}/{name}"


def _ref(gw: Gateway, name: str) -> FileRef:
    node = gw.library.snapshot().resolve(["__all__", PROBE["name"], name])
    assert node is not None
    return node.ref


def _drain(stream: Any, chunk: int) -> bytes:
    parts = []
    while data := stream.read(chunk):
        assert len(data) <= chunk, "a stream returned more than it was asked for"
        parts.append(data)
    return b"".join(parts)


@pytest.fixture(scope="module")
def probe(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Emulator, Gateway, CachedFiles]]:
    emu = Emulator(rate_limit=False).start()
    emu.world.add_account(TOKEN)
    emu.world.seed_library(TOKEN, [PROBE])
    tmp = tmp_path_factory.mktemp("cdn-range")
    gw = start_gateway(emu, str(tmp / "config"))
    # The chunk cache as the FUSE mount builds it, over the gateway's own streamer.
    files = CachedFiles(ChunkCache(str(tmp / "cache"), CHUNK, 64 * MB, 3600.0, SystemClock()), gw.streamer,
                        chunk_size=CHUNK, read_ahead=4 * MB, max_bytes=64 * MB)
    try:
        yield emu, gw, files
    finally:
        files.close()
        gw.stop()
        emu.stop()


@pytest.fixture
def ignoring(emulator: Emulator) -> Emulator:
    """The conftest emulator with the PROBE torrent, its CDN ignoring Range."""
    emulator.world.seed_library(TOKEN, [PROBE])
    emulator.world.set_knobs(cdn_ignore_range=True)
    return emulator


_keys = itertools.count()


@settings(max_examples=120, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(data=st.data())
def test_every_read_is_exact_whether_the_cdn_honours_range_or_not(probe, data) -> None:
    emu, gw, files = probe
    size = data.draw(st.sampled_from(SIZES), label="size")
    offset = data.draw(st.integers(0, size - 1), label="offset")
    room = size - offset
    length = data.draw(st.one_of(st.integers(1, min(room, 16)), st.integers(1, min(room, 65_536)),
                                 st.integers(1, min(room, 400_000))), label="length")
    gap = data.draw(st.integers(0, 70_000), label="gap to a second read")
    honours = data.draw(st.booleans(), label="cdn honours Range")
    emu.world.set_knobs(cdn_ignore_range=not honours)
    name = f"probe {size}.bin"
    want = expected(PROBE, name, offset, length)
    ref = _ref(gw, name)

    # The streamer every reader sits on, bounded as a chunk fetch or an HTTP range asks.
    stream = gw.streamer.open(ref, offset, offset + length - 1)
    try:
        assert _drain(stream, data.draw(st.sampled_from([1, 7, 4096, 65_536, 1 << 20]), label="piece")) == want
    finally:
        stream.close()

    # The uncached handle: with an HTTP client's end hint, and unbounded as FUSE opens it;
    # then a second read a little further on, through the skip window of the open stream.
    second = offset + length + gap
    for end in (offset + length - 1, None):
        _two_reads(gw.vfs.open(_tree_path(name), "test", end), name, offset, length, second, size)

    # The chunk cache's handle (a fresh key, so every example fetches upstream).
    _two_reads(files.open(f"probe-{next(_keys)}", ref, size), name, offset, length, second, size)


def _two_reads(handle: Any, name: str, offset: int, length: int, second: int, size: int) -> None:
    """``length`` bytes at ``offset``, then at ``second`` when the file reaches it; closes ``handle``."""
    try:
        assert handle.pread(offset, length) == expected(PROBE, name, offset, length)
        if second < size:
            assert handle.pread(second, length) == expected(PROBE, name, second, length)
    finally:
        handle.close()


def test_the_emulator_knob_answers_200_with_the_whole_file(ignoring, gateway) -> None:
    url = gateway.links.resolve(_ref(gateway, BIG)).url
    answer = requests.get(url, headers={"Range": "bytes=3000000-3000009"}, timeout=10)
    assert answer.status_code == 200 and "Content-Range" not in answer.headers
    assert answer.content == expected(PROBE, BIG)


@pytest.mark.parametrize(("content_range", "body", "want"), [
    ("bytes 0-9/10", "0123456789", b"5678"),   # starts early: the extra bytes are dropped
    ("bytes 5-9/10", "56789", b"5678"),        # as asked, cut where the range ends
    (None, "56789", b"5678"),                  # no Content-Range: taken as starting where asked
])
def test_a_206_is_read_from_where_its_content_range_starts(emulator, content_range, body, want) -> None:
    headers = {} if content_range is None else {"Content-Range": content_range}
    emulator.world.add_fault({"path_regex": "^/cdn/", "status": 206, "body": body, "headers": headers})
    start = 5
    cdn = CdnClient()
    try:
        stream = cdn.open(f"{emulator.origin}/cdn/rd/any/file.bin", start, start + 3)
        assert _drain(stream, 2) == want
        stream.close()
    finally:
        cdn.close()


def test_a_206_that_starts_late_is_refused(emulator) -> None:
    emulator.world.add_fault({"path_regex": "^/cdn/", "status": 206, "body": "789",
                              "headers": {"Content-Range": "bytes 7-9/10"}})
    cdn = CdnClient()
    try:
        with pytest.raises(errors.Unavailable) as caught:
            cdn.open(f"{emulator.origin}/cdn/rd/any/file.bin", 5, 9)
        assert caught.value.code == "bad_range"
    finally:
        cdn.close()


def _base(gw: Gateway) -> str:
    return f"http://127.0.0.1:{gw.port}"


READS = [(3_000_000, 1), (3_000_000, 10), (3_145_728, 65_536), (4_000_001, 200_000), (SIZES[-1] - 5, 5)]


def test_browse_download_serves_short_ranges_from_a_200(ignoring, gateway) -> None:
    url = f"{_base(gateway)}/api/browse/download/{quote(PROBE['name'])}/{quote(BIG)}"
    for offset, length in READS:
        answer = requests.get(url, headers={"Range": f"bytes={offset}-{offset + length - 1}"}, timeout=30)
        assert answer.status_code == 206, (offset, length, answer.status_code, answer.content[:200])
        assert answer.headers["Content-Range"] == f"bytes {offset}-{offset + length - 1}/{SIZES[-1]}"
        assert answer.content == expected(PROBE, BIG, offset, length)
    whole = requests.get(url, timeout=30)
    assert whole.status_code == 200 and whole.content == expected(PROBE, BIG)


def test_webdav_get_serves_short_ranges_from_a_200(ignoring, gateway) -> None:
    url = f"{_base(gateway)}/webdav/__all__/{quote(PROBE['name'])}/{quote(BIG)}"
    for offset, length in READS:
        answer = requests.get(url, headers={"Range": f"bytes={offset}-{offset + length - 1}"}, timeout=30)
        assert answer.status_code == 206, (offset, length, answer.status_code, answer.content[:200])
        assert answer.content == expected(PROBE, BIG, offset, length)
    tail = requests.get(url, headers={"Range": "bytes=-7"}, timeout=30)
    assert tail.status_code == 206 and tail.content == expected(PROBE, BIG, SIZES[-1] - 7, 7)


def test_a_dropped_200_resumes_at_the_same_byte(ignoring, gateway) -> None:
    # Twice the connection drops, once inside the skipped prefix, once inside the wanted bytes.
    ignoring.world.add_fault({"path_regex": "^/cdn/", "times": 1, "drop_connection_after_bytes": 1_000_000})
    ignoring.world.add_fault({"path_regex": "^/cdn/", "times": 1, "drop_connection_after_bytes": 3_050_000})
    mark = ignoring.world.log_mark()
    handle = gateway.vfs.open(_tree_path(BIG), "test")
    try:
        assert handle.pread(3_000_000, 100_000) == expected(PROBE, BIG, 3_000_000, 100_000)
        # The open stream serves the next read after a skip inside its window.
        assert handle.pread(3_200_000, 12) == expected(PROBE, BIG, 3_200_000, 12)
    finally:
        handle.close()
    statuses = [e["status"] for e in ignoring.world.log(since=mark) if e["path"].startswith("/cdn/")]
    assert statuses == [200, 200, 200]


def test_read_ahead_over_a_200_fills_the_cache_with_the_right_bytes(ignoring, gateway, tmp_path) -> None:
    files = CachedFiles(ChunkCache(str(tmp_path / "cache"), CHUNK, 64 * MB, 3600.0, SystemClock()),
                        gateway.streamer, chunk_size=CHUNK, read_ahead=4 * MB, max_bytes=64 * MB)
    try:
        reader = files.open("seq", _ref(gateway, BIG), SIZES[-1])
        got = b"".join(reader.pread(pos, 131_072) for pos in range(0, SIZES[-1], 131_072))
        assert got == expected(PROBE, BIG)
        reader.close()
        again = files.open("seq", _ref(gateway, BIG), SIZES[-1])   # now from the cache alone
        assert again.pread(5_000_000, 1_000) == expected(PROBE, BIG, 5_000_000, 1_000)
        again.close()
    finally:
        files.close()


def test_a_short_upstream_body_is_a_502_not_a_500(emulator, gateway) -> None:
    """The CDN answers 200 with fewer bytes than the file has: an upstream failure."""
    emulator.world.seed_library(TOKEN, [PROBE])
    gateway.refresh_now()
    emulator.world.add_fault({"path_regex": "^/cdn/", "status": 200, "body": "short"})
    download = f"{_base(gateway)}/api/browse/download/{quote(PROBE['name'])}/{quote(BIG)}"
    for headers in ({}, {"Range": "bytes=10-20"}, {"Range": "bytes=3000000-3000009"}):
        answer = requests.get(download, headers=headers, timeout=30)
        assert answer.status_code == 502, (headers, answer.status_code, answer.content[:200])
        assert answer.json()["code"] == 502 and "upstream" in answer.json()["error"]
        dav = requests.get(f"{_base(gateway)}/webdav/__all__/{quote(PROBE['name'])}/{quote(BIG)}",
                           headers=headers, timeout=30)
        assert dav.status_code == 502 and b"Traceback" not in dav.content


def test_a_cdn_that_keeps_dropping_is_a_502_not_a_503(emulator, gateway) -> None:
    """Every attempt at the CDN fails (retries and resumes exhausted): the read failed upstream,
    which is a bad gateway on /api, not a pause for the client to wait out."""
    emulator.world.seed_library(TOKEN, [PROBE])
    gateway.refresh_now()
    emulator.world.add_fault({"path_regex": "^/cdn/", "drop_connection_after_bytes": 0})
    download = f"{_base(gateway)}/api/browse/download/{quote(PROBE['name'])}/{quote(BIG)}"
    answer = requests.get(download, headers={"Range": "bytes=10-20"}, timeout=60)
    assert answer.status_code == 502, (answer.status_code, answer.content[:200])
    assert answer.json()["code"] == 502 and "upstream" in answer.json()["error"]


# ---------------------------------------------------------------- FUSE, for real

@needs_fuse
@pytest.mark.parametrize("cache", ["on", "off"])
def test_fuse_reads_are_exact_when_the_cdn_ignores_range(ignoring, tmp_path: Path, cache: str) -> None:
    mnt = tmp_path / "mnt"
    extra: dict[str, Any] = {"chunk_size": CHUNK} if cache == "on" else {"disk_cache_size": "0"}
    gw = start_gateway(ignoring, str(tmp_path / "config"), mount=mount_cfg(mnt, **extra))
    try:
        assert (gw.files is not None) == (cache == "on")
        fd = os.open(mnt / "__all__" / PROBE["name"] / BIG, os.O_RDONLY)
        try:
            for offset, length in [*READS, (5_000_000, 64 * 1024), (2, 3)]:
                assert os.pread(fd, length, offset) == expected(PROBE, BIG, offset, length), (offset, length)
        finally:
            os.close(fd)
    finally:
        gw.stop()
        unmount_leftover(mnt)
