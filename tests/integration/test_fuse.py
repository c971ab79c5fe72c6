"""The FUSE mount, for real: tree, bytes, ffprobe, link trouble, the cache, stats and shutdown.

Every test mounts in a temporary directory through a gateway against the
emulator (chunk_size 1 MiB, so multi-chunk paths are exercised). The adapter
test at the top needs no mount.
"""

from __future__ import annotations

import errno
import json
import os
import random
import shutil
import signal
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import requests

from emulators.world import parse_time
from fs import fuse as fs_fuse
from fs.fuse import FuseOSError, GatewayFuse, errno_of, fuse_mounts
from gateway import errors
from gateway.app import Gateway
from tests.integration.test_tree import base, folder
from tests.support import SAMPLE, TOKEN, expected, infohash, start_gateway, wait_until

ROOT = Path(__file__).resolve().parents[2]
FUSERMOUNT = shutil.which("fusermount3") or shutil.which("fusermount")
MB = 1 << 20
BIG = 12_000_000
MANY = {"hash": infohash("many"), "name": "Many Files 2024", "added": "2024-04-01T00:00:00.000Z",
        "files": [{"path": "disc/big feature.mkv", "size": BIG}]
        + [{"path": f"disc/part {i:02d}.bin", "size": size}
           for i, size in enumerate(random.Random(5).choices(range(1, 2_600_000), k=16))]}


def _why_no_fuse() -> str:
    if not os.path.exists("/dev/fuse"):
        return "/dev/fuse is missing: this kernel or container offers no FUSE"
    if FUSERMOUNT is None:
        return "fusermount3 is not installed (apt-get install fuse3; scripts/test does it as root)"
    if fs_fuse._fuse is None:
        return "no FUSE binding can load libfuse (pip install mfusepy; apt-get install fuse3)"
    if not os.access("/dev/fuse", os.R_OK | os.W_OK):
        return "/dev/fuse is not readable and writable by this user"
    return ""


needs_fuse = pytest.mark.skipif(bool(_why_no_fuse()), reason=_why_no_fuse() or "FUSE available")


def mount_cfg(mnt: Path, **extra: Any) -> dict[str, Any]:
    return {"type": "fuse", "mount_path": str(mnt), "chunk_size": "1MB", "read_ahead_size": "4MB", **extra}


def unmount_leftover(mnt: Path) -> None:
    """Never leave a mount behind a failed test."""
    if str(mnt) in fuse_mounts() and FUSERMOUNT:
        subprocess.run([FUSERMOUNT, "-uz", str(mnt)], check=False, capture_output=True)


def library_files(gw: Gateway, entries: list[dict[str, Any]]) -> list[tuple[str, dict[str, Any], dict[str, Any]]]:
    """(path in the tree, SAMPLE-style entry, file spec) of every file of ``entries``."""
    return [(f"__all__/{folder(gw, e)}/{f['path']}", e, f) for e in entries for f in e["files"]]


@pytest.fixture
def mounted(emulator, tmp_path: Path) -> Iterator[tuple[Gateway, Path]]:
    emulator.world.seed_library(TOKEN, [MANY])
    mnt = tmp_path / "mnt"
    gw = start_gateway(emulator, str(tmp_path / "config"), mount=mount_cfg(mnt))
    try:
        yield gw, mnt
    finally:
        gw.stop()
        unmount_leftover(mnt)


# ------------------------------------------------------------ the adapter alone

def test_adapter_maps_every_error_through_one_table(gateway, emulator) -> None:
    ops = GatewayFuse(gateway.vfs, uid=1234, gid=4321, umask=0o027)
    entry = SAMPLE[0]
    torrent = f"/__all__/{folder(gateway, entry)}"
    file = f"{torrent}/{entry['files'][0]['path']}"
    cases = [(lambda: ops.getattr("/nope"), errno.ENOENT), (lambda: ops.readdir(file, 0), errno.ENOTDIR),
             (lambda: ops.open(torrent, os.O_RDONLY), errno.EISDIR), (lambda: ops.open(file, os.O_RDWR), errno.EROFS),
             (lambda: ops.unlink(file), errno.EACCES), (lambda: ops.rmdir("/__all__"), errno.EACCES),
             (lambda: ops.mkdir("/__all__/new", 0o755), errno.EROFS), (lambda: ops.write(file, b"x", 0, 1), errno.EROFS),
             (lambda: ops.read(file, 10, 0, 999), errno.EBADF)]
    for call, code in cases:
        with pytest.raises(FuseOSError) as caught:
            call()
        assert caught.value.errno == code
    assert ops.getattr(torrent)["st_mode"] == stat.S_IFDIR | 0o750
    attrs = ops.getattr(file)
    assert (attrs["st_mode"], attrs["st_uid"], attrs["st_gid"]) == (stat.S_IFREG | 0o640, 1234, 4321)
    assert attrs["st_size"] == entry["files"][0]["size"]
    fh = ops.open(file, os.O_RDONLY)
    assert ops.read(file, 1000, 5, fh) == expected(entry, entry["files"][0]["path"], 5, 1000)
    ops.release(file, fh)
    assert [errno_of(e) for e in (errors.FileGone("x"), errors.Unavailable("x"), RuntimeError())] == [errno.EIO] * 3
    ops.rmdir(torrent)   # deletes the torrent, as WebDAV DELETE does
    assert torrent.rsplit("/", 1)[1] not in [e.name for e in gateway.vfs.listdir("/__all__")]


# --------------------------------------------------------------- a real mount

@needs_fuse
def test_listing_attributes_and_refusals(mounted) -> None:
    gw, mnt = mounted
    assert sorted(os.listdir(mnt)) == sorted(e.name for e in gw.vfs.listdir("/"))
    assert sorted(os.listdir(mnt / "__all__")) == sorted(e.name for e in gw.vfs.listdir("/__all__"))
    for path, entry, spec in library_files(gw, [*SAMPLE, MANY]):
        info = os.stat(mnt / path)
        assert stat.S_ISREG(info.st_mode) and info.st_size == spec["size"]
        assert info.st_mtime == parse_time(entry["added"])
    assert stat.S_ISDIR(os.stat(mnt / "__all__" / folder(gw, SAMPLE[0])).st_mode)
    target = mnt / library_files(gw, [SAMPLE[0]])[0][0]
    refusals = [(lambda: os.open(target, os.O_RDWR), errno.EROFS), (lambda: os.mkdir(mnt / "__all__" / "x"), errno.EROFS),
                (lambda: os.unlink(target), errno.EACCES),
                (lambda: (mnt / "__all__" / "y").write_bytes(b""), errno.EROFS)]
    for action, code in refusals:
        with pytest.raises(OSError) as caught:
            action()
        assert caught.value.errno == code
    assert os.statvfs(mnt).f_blocks > 0
    doomed = folder(gw, SAMPLE[3])
    os.rmdir(mnt / "__all__" / doomed)
    assert doomed not in os.listdir(mnt / "__all__")
    assert all(t.infohash != SAMPLE[3]["hash"] for t in gw.library.snapshot().torrents.values())


@needs_fuse
def test_reads_from_many_threads_match_the_emulator(mounted) -> None:
    gw, mnt = mounted
    files = library_files(gw, [*SAMPLE, MANY])

    def check(index: int) -> None:
        path, entry, spec = files[index % len(files)]
        rng = random.Random(index)
        whole = lambda: (mnt / path).read_bytes() == expected(entry, spec["path"])  # noqa: E731
        if index % 2:
            assert whole()
        fd = os.open(mnt / path, os.O_RDONLY)
        try:
            for _ in range(6):
                offset, length = rng.randrange(spec["size"]), rng.randrange(1, 300_000)
                assert os.pread(fd, length, offset) == expected(entry, spec["path"], offset, length)
        finally:
            os.close(fd)
        if not index % 2:
            assert whole()

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(check, range(2 * len(files))))   # every file twice, from two threads
    assert gw.files is not None and gw.files.stats()["hits"] > 0


@needs_fuse
def test_expired_link_and_dropped_connection_are_invisible(mounted, emulator) -> None:
    gw, mnt = mounted
    (path, entry, spec), *_ = library_files(gw, [MANY])
    fd = os.open(mnt / path, os.O_RDONLY)
    try:
        assert os.pread(fd, 100_000, 0) == expected(entry, spec["path"], 0, 100_000)
        mark = emulator.world.log_mark()
        assert emulator.world.expire_links(all=True) > 0
        assert os.pread(fd, 500_000, 6_000_000) == expected(entry, spec["path"], 6_000_000, 500_000)
        assert emulator.world.log_count("/rest/1.0/unrestrict/link", since=mark) == 1
        assert [e["status"] for e in emulator.world.log(since=mark, path_prefix="/cdn/")][:2] == [404, 206]
        mark = emulator.world.log_mark()
        emulator.world.add_fault({"path_regex": "^/cdn/", "times": 2, "drop_connection_after_bytes": 300_000})
        assert os.pread(fd, 1_500_000, 9_000_000) == expected(entry, spec["path"], 9_000_000, 1_500_000)
        assert emulator.world.log_count("/cdn/", since=mark) >= 3   # two broken streams, then a good one
    finally:
        os.close(fd)


@needs_fuse
def test_purged_file_is_eio_and_marked_bad_while_the_mount_serves_on(mounted, emulator) -> None:
    gw, mnt = mounted
    (big, entry, spec), (small, _, _), *_ = library_files(gw, [MANY])
    fd, never_read = os.open(mnt / big, os.O_RDONLY), os.open(mnt / small, os.O_RDONLY)
    try:
        assert os.pread(fd, 1000, 0) == expected(entry, spec["path"], 0, 1000)   # its link is cached now
        emulator.world.purge(infohash=MANY["hash"])
        started = time.monotonic()
        for target in (lambda: os.pread(fd, 1000, 5_500_000), lambda: os.pread(never_read, 1000, 0)):
            with pytest.raises(OSError) as caught:
                target()
            assert caught.value.errno == errno.EIO
        assert time.monotonic() - started < 10
    finally:
        os.close(fd)
        os.close(never_read)
    other, other_entry, other_spec = library_files(gw, [SAMPLE[1]])[0]
    assert (mnt / other).read_bytes() == expected(other_entry, other_spec["path"])
    assert folder(gw, MANY) in os.listdir(mnt / "__bad__")


@needs_fuse
def test_webdav_and_browse_read_the_same_cache(mounted, emulator) -> None:
    gw, mnt = mounted
    path, entry, spec = library_files(gw, [MANY])[0]
    assert (mnt / path).read_bytes() == expected(entry, spec["path"])
    mark = emulator.world.log_mark()
    url = f"{base(gw)}/webdav/{path}"
    assert requests.get(url, timeout=30).content == expected(entry, spec["path"])
    ranged = requests.get(url, headers={"Range": "bytes=5000000-5099999"}, timeout=30)
    assert ranged.status_code == 206 and ranged.content == expected(entry, spec["path"], 5_000_000, 100_000)
    browse = requests.get(f"{base(gw)}/api/browse/download/{path.split('/', 1)[1]}", timeout=30)
    assert browse.content == expected(entry, spec["path"])
    assert emulator.world.log_count("/cdn/", since=mark) == 0


# ---------------------------------------------------------------- ffprobe

@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    if not (shutil.which("ffmpeg") and shutil.which("ffprobe")):
        pytest.skip("ffmpeg is not installed (apt-get install ffmpeg; scripts/test does it as root)")
    folder_ = tmp_path_factory.mktemp("media")
    mkv, mp4 = folder_ / "clip.mkv", folder_ / "clip.mp4"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc=duration=5:size=320x240:rate=25",
                    "-f", "lavfi", "-i", "sine=duration=5", "-vf", "noise=alls=40:allf=t", "-c:v", "mpeg4",
                    "-q:v", "4", "-c:a", "aac", "-shortest", str(mkv)], check=True, timeout=120)
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(mkv), "-c", "copy", str(mp4)], check=True, timeout=60)
    return [mkv, mp4]


def ffprobe(path: Path) -> dict[str, Any]:
    result = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "format=duration:stream=codec_type",
                             "-of", "json", str(path)], capture_output=True, text=True, timeout=60)
    return json.loads(result.stdout or "{}") if result.returncode == 0 else {}


@needs_fuse
def test_ffprobe_through_the_mount_and_a_second_pass_costs_nothing(mounted, emulator, media) -> None:
    gw, mnt = mounted
    clips = [{"hash": infohash(f"clip {p.suffix}"), "name": f"Test Clip 2024 {p.suffix[1:]}",
              "files": [{"path": f"Test Clip 2024{p.suffix}", "source_path": str(p)}]} for p in media]
    emulator.world.seed_library(TOKEN, clips)
    gw.refresh_now()
    for path, _, _ in library_files(gw, clips):
        mark = emulator.world.log_mark()
        probed = ffprobe(mnt / path)
        assert abs(float(probed["format"]["duration"]) - 5.0) < 0.2
        assert sorted(s["codec_type"] for s in probed["streams"]) == ["audio", "video"]
        assert emulator.world.log_count("/cdn/", since=mark) <= 3
    everything = [mnt / p for p, _, _ in library_files(gw, [*SAMPLE, MANY, *clips])]
    for path in everything:
        ffprobe(path)   # most are not media: what counts is what ffprobe reads
    mark = emulator.world.log_mark()
    for path in everything:
        ffprobe(path)
    assert emulator.world.log_count("/cdn/", since=mark) == 0


# ----------------------------------------------------------- cache on disk

@needs_fuse
def test_warm_cache_after_a_restart_needs_no_upstream(emulator, tmp_path: Path) -> None:
    emulator.world.seed_library(TOKEN, [MANY])
    mnt = tmp_path / "mnt"
    reads = [(0, BIG), (100_000, 500_000)]

    def read_all(gw: Gateway) -> None:
        for (path, entry, spec), (offset, length) in zip(library_files(gw, [MANY]), reads, strict=False):
            with open(mnt / path, "rb") as fh:
                fh.seek(offset)
                assert fh.read(length) == expected(entry, spec["path"], offset, length)

    for round_ in range(2):
        gw = start_gateway(emulator, str(tmp_path / "config"), mount=mount_cfg(mnt))
        try:
            mark = emulator.world.log_mark()
            read_all(gw)
            assert (emulator.world.log_count("/cdn/", since=mark) == 0) == (round_ == 1)
        finally:
            gw.stop()
            unmount_leftover(mnt)


@needs_fuse
def test_cache_never_grows_past_its_budget(emulator, tmp_path: Path) -> None:
    emulator.world.seed_library(TOKEN, [MANY])
    mnt = tmp_path / "mnt"
    budget = 3 * MB
    gw = start_gateway(emulator, str(tmp_path / "config"), mount=mount_cfg(mnt, disk_cache_size="3MB"))
    peak = [0]
    done = threading.Event()

    def watch() -> None:
        while not done.wait(0.005):
            peak[0] = max(peak[0], gw.files.stats()["bytes_on_disk"])

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        files = library_files(gw, [*SAMPLE, MANY])
        with ThreadPoolExecutor(4) as pool:
            results = list(pool.map(lambda f: (mnt / f[0]).read_bytes() == expected(f[1], f[2]["path"]), files))
        assert all(results)
    finally:
        done.set()
        watcher.join(5)
        gw.stop()
        unmount_leftover(mnt)
    cache_dir = tmp_path / "config" / "cache"
    assert 0 < peak[0] <= budget
    assert sum(p.stat().st_blocks * 512 for p in cache_dir.rglob("*.data")) <= budget


# ------------------------------------------------------------------ stats

@needs_fuse
def test_stats_need_auth_and_show_the_streams(emulator, tmp_path: Path) -> None:
    mnt = tmp_path / "mnt"
    gw = start_gateway(emulator, str(tmp_path / "config"), use_auth=True, mount=mount_cfg(mnt))
    try:
        token = gw.auth.setup("admin", "correct horse battery")
        url = f"{base(gw)}/api/stats"
        assert requests.get(url, timeout=10).status_code == 401
        path, entry, spec = library_files(gw, [SAMPLE[0]])[0]
        with open(mnt / path, "rb") as fh:
            assert fh.read(100_000) == expected(entry, spec["path"], 0, 100_000)
            stats = requests.get(url, headers={"Authorization": f"Bearer {token}"}, timeout=10).json()
        streams = [s for s in stats["streams"] if s["reader"] == "fuse"]
        assert streams and streams[0]["file"] == "/" + path and streams[0]["position"] >= 100_000
        assert stats["upstream"]["requests"] >= 1 and stats["upstream"]["bytes"] >= 100_000
        assert stats["cache"]["misses"] >= 1 and stats["cache"]["bytes_on_disk"] > 0
        assert stats["served_bytes"] >= 100_000 and stats["mount"]["mounted"] is True
    finally:
        gw.stop()
        unmount_leftover(mnt)


# --------------------------------------------------------------- shutdown

def _run_gateway(config_dir: Path) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "gateway", "--config", str(config_dir)], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def _serving(mnt: Path) -> bool:
    try:
        return bool(os.listdir(mnt / "__all__"))
    except OSError:
        return False


@needs_fuse
def test_sigterm_unmounts_and_a_crashed_mount_is_cleared(emulator, tmp_path: Path) -> None:
    mnt = tmp_path / "mnt"
    config = {"bind_address": "127.0.0.1", "port": 0, "use_auth": False, "mount": mount_cfg(mnt),
              "debrids": [{"name": "realdebrid", "api_key": TOKEN, "api_url": emulator.rd_api_url,
                           "rate_limit": "off", "torrents_refresh_interval": "1h"}]}
    (tmp_path / "config.json").write_text(json.dumps(config))
    crashed = _run_gateway(tmp_path)
    second: subprocess.Popen[str] | None = None
    try:
        wait_until(lambda: _serving(mnt), 30, "the first mount")
        crashed.kill()
        crashed.wait(10)
        with pytest.raises(OSError) as caught:
            os.listdir(mnt)
        assert caught.value.errno == errno.ENOTCONN and str(mnt) in fuse_mounts()   # what a crash leaves
        second = _run_gateway(tmp_path)
        wait_until(lambda: _serving(mnt) or second.poll() is not None, 30, "the second mount")
        second.send_signal(signal.SIGTERM)
        _, err = second.communicate(timeout=30)
        assert second.returncode == 0 and "Traceback" not in err, err
        assert str(mnt) not in fuse_mounts()
    finally:
        for proc in (crashed, second):
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.wait(10)
        unmount_leftover(mnt)


@needs_fuse
def test_symlink_import_into_the_fuse_mount(emulator, tmp_path: Path) -> None:
    """Grab → pausedUP with the symlink action against this mount; the files read through the links."""
    from tests.integration.test_imports import check_symlink_import

    mnt = tmp_path / "mnt"
    gw = start_gateway(emulator, str(tmp_path / "config"), mount=mount_cfg(mnt), refresh_interval="100ms",
                       default_download_action="symlink")
    try:
        gw.imports.start()
        check_symlink_import(gw, emulator, str(mnt), "Show S03")
    finally:
        gw.stop()
        unmount_leftover(mnt)
