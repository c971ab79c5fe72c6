#!/usr/bin/env python3
"""WebDAV benchmark: a large library served by an in-process gateway against the emulator.

Run from the repository root::

    .venv/bin/python scripts/bench_webdav.py            # 10,000 torrents x 10 files
    .venv/bin/python scripts/bench_webdav.py --json     # the same figures as JSON
    .venv/bin/python scripts/bench_webdav.py --torrents 500 --files-per-torrent 4

The emulator runs as a subprocess (``python -m emulators``) so its CPU
and memory stay out of this process; the gateway runs here, so the peak RSS
reported is the gateway's plus this client's. Everything is loopback only and
every loop is bounded. Progress goes to stderr, figures to stdout.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import datetime as dt
import gc
import hashlib
import json
import logging
import math
import os
import random
import resource
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import requests
from bench_scale import Rclone, make_tree
from bench_scale import propfind as scale_propfind
from benchkit import (
    ROOT,
    EmulatorProcess,
    make_note,
    new_session,
    percentile,
    reexec_with_malloc_arena_max,
    release_cheroot_stats,
    rss_mb,
)
from benchkit import table as kit_table
from benchkit import verdict as kit_verdict
from scale_cli import compare_folder

sys.path.insert(0, str(ROOT))

from emulators.content import file_bytes  # noqa: E402
from gateway.app import Gateway, build  # noqa: E402
from gateway.config import Config, parse_config  # noqa: E402
from gateway.library.groups import ALL  # noqa: E402
from gateway.library.snapshot import DirNode, FileNode  # noqa: E402

TOKEN = "bench"
MiB = 1 << 20
STREAM_SIZE = 256 * MiB
STREAM_NAME = "bench stream 256MiB.mkv"
SEED_BATCH = 500
EMU_START_TIMEOUT = 20.0
HTTP_TIMEOUT = (10.0, 120.0)
PROPFIND_RUNS = 20
FOLDER_RUNS = 200
HEAD_RUNS = 50
RANGE_RUNS = 50
STREAM_RUNS = 2
TARGET_PROPFIND_MS = 300.0
TARGET_STREAM_RATIO = 0.8
TARGET_RSS_MB = 300.0

log = logging.getLogger("bench")


note = make_note("bench")


def ms(seconds: float) -> float:
    return round(seconds * 1000.0, 2)


def peak_rss_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0, 1)


# ------------------------------------------------------------------ library

NAMES = [
    "The Expanse S{n:02d} 1080p WEB-DL", "Amélie ({year}) [1080p] #{i}", "千と千尋の神隠し Spirited Away {i}",
    "Ψυχή & Σώμα {year} 2160p", "Брат {year} BDRip", "Ça & Là ({year}) 100% {i}",
    "Blade Runner {year} Final Cut 4K", "Pokémon Movie {n} [Dual Audio]", "Über Alles {year} x265",
    "Documentary {i} {year} 720p", "Björk - Live {year} FLAC", "영화 제목 {year} 1080p",
]
EXTS = [".mkv", ".mkv", ".mkv", ".mp4", ".avi", ".srt", ".nfo", ".m4v"]


def infohash(i: int) -> str:
    return hashlib.sha1(f"bench-torrent-{i}".encode()).hexdigest()


def make_torrent(i: int, files_per_torrent: int, rng: random.Random) -> dict[str, Any]:
    name = rng.choice(NAMES).format(n=i % 12 + 1, year=1950 + i % 75, i=i) + f" {i:05d}"
    nested = i % 250 == 7   # a few torrents carry their own sub-folders
    files = []
    for j in range(files_per_torrent):
        ext = rng.choice(EXTS)
        # log-uniform from 1 MB to ~4 GB
        size = int(math.exp(rng.uniform(math.log(1_000_000), math.log(4_000_000_000))))
        if nested:
            path = f"Season {j % 3 + 1}/Disc {j % 2 + 1}/Episode {j + 1:02d} – é{ext}"
        else:
            path = f"{name} part {j + 1:02d}{ext}"
        files.append({"path": path, "size": size})
    if i == 0:
        files[0] = {"path": STREAM_NAME, "size": STREAM_SIZE}
    added = dt.datetime(2020, 1, 1, tzinfo=dt.UTC) + dt.timedelta(minutes=7 * i)
    return {"hash": infohash(i), "name": name, "files": files,
            "added": added.strftime("%Y-%m-%dT%H:%M:%S.000Z")}


# ------------------------------------------------------------------ emulator

class BenchEmulator(EmulatorProcess):
    def __init__(self) -> None:
        super().__init__(TOKEN, "--no-rate-limit", timeout=HTTP_TIMEOUT)

    @property
    def rd_api_url(self) -> str:
        return self.origin + "/rest/1.0"

    def seed_library(self, torrents: int, files_per_torrent: int) -> None:
        rng = random.Random(20240601)
        self.seed(torrents, lambda i: make_torrent(i, files_per_torrent, rng), SEED_BATCH)

    def traffic(self) -> int:
        state = self.session.get(self.origin + "/__emu/state", timeout=HTTP_TIMEOUT).json()
        return sum(int(a["traffic_used_today"]) for a in state["accounts"] if a["token"] == TOKEN)


# ------------------------------------------------------------------ gateway

def gateway_config(emu: BenchEmulator, config_dir: str) -> Config:
    raw = {
        "bind_address": "127.0.0.1", "port": 0, "use_auth": False,
        # "off", not "": an empty rate_limit means "the provider's default" (250/minute for
        # Real-Debrid), which would stretch a 10,000-torrent sync to 40 minutes.
        "debrids": [{"name": "realdebrid", "api_key": TOKEN, "api_url": emu.rd_api_url,
                     "rate_limit": "off", "torrents_refresh_interval": "1h"}],
    }
    config = parse_config(raw, config_dir)
    if any(d.rate_limit for d in config.debrids):
        raise RuntimeError("the gateway would rate-limit its provider calls; the figures would be meaningless")
    return config


@dataclass
class BenchFile:
    url_path: str        # /<folder>/<rel path>, quoted, below /webdav/__all__
    browse_path: str     # <folder>/<rel path>, quoted, below /api/browse/download/
    size: int
    seed: str            # the emulator's content seed, to check bytes


def folder_files(gw: Gateway, folder: str) -> list[BenchFile]:
    """The files of one torrent folder of ``__all__``, straight from the snapshot (no VFS caches touched)."""
    snap = gw.library.snapshot()
    node = snap.root.children[ALL].children[folder]  # type: ignore[union-attr]
    assert isinstance(node, DirNode)
    q_folder = quote(folder, safe="")
    out: list[BenchFile] = []
    stack: list[tuple[str, DirNode]] = [("", node)]
    while stack:
        rel, d = stack.pop()
        for name, child in d.children.items():
            child_rel = f"{rel}/{quote(name, safe='')}" if rel else quote(name, safe="")
            if isinstance(child, DirNode):
                stack.append((child_rel, child))
                continue
            assert isinstance(child, FileNode)
            found = snap.file(child.ref)
            assert found is not None
            torrent, remote = found
            out.append(BenchFile(f"/{q_folder}/{child_rel}", f"{q_folder}/{child_rel}", child.size,
                                 f"{torrent.infohash}/{remote.path}"))
    return out


class FileSampler:
    """Random files of ``__all__``: a random folder, then a random file in it.

    Keeps only the folder names, so the client side adds little to the RSS figure.
    """

    def __init__(self, gw: Gateway, rng: random.Random) -> None:
        self._gw = gw
        self._rng = rng
        group = gw.library.snapshot().root.children[ALL]
        assert isinstance(group, DirNode)
        self.folders = list(group.children)
        self.total_files = sum(n.files for n in group.children.values() if isinstance(n, DirNode))

    def pick(self, min_size: int = 0) -> BenchFile:
        for _ in range(1000):
            candidates = [f for f in folder_files(self._gw, self._rng.choice(self.folders)) if f.size > min_size]
            if candidates:
                return self._rng.choice(candidates)
        raise RuntimeError(f"no file larger than {min_size} bytes found")


def propfind(session: requests.Session, url: str) -> tuple[float, requests.Response]:
    t = time.perf_counter()
    r = session.request("PROPFIND", url, headers={"Depth": "1"}, timeout=HTTP_TIMEOUT)
    _ = r.content
    return time.perf_counter() - t, r


def members(response: requests.Response) -> int:
    if response.status_code != 207:
        raise RuntimeError(f"PROPFIND answered {response.status_code}")
    return response.content.count(b"<D:response>") - 1   # minus the collection itself


def stream(session: requests.Session, url: str, expect: int) -> tuple[float, bytes]:
    """Seconds to read ``url`` in 1 MiB chunks (discarded), and its first chunk."""
    t = time.perf_counter()
    total, first = 0, bytearray()
    with session.get(url, stream=True, timeout=HTTP_TIMEOUT, headers={"Accept-Encoding": "identity"}) as r:
        r.raise_for_status()
        for chunk in r.iter_content(MiB):
            if len(first) < MiB:
                first += chunk[: MiB - len(first)]
            total += len(chunk)
    elapsed = time.perf_counter() - t
    if total != expect:
        raise RuntimeError(f"{url}: read {total} bytes, expected {expect}")
    return elapsed, bytes(first)


# ------------------------------------------------------------------ the run

def run(args: argparse.Namespace) -> dict[str, Any]:
    n_torrents, per = args.torrents, args.files_per_torrent
    results: dict[str, Any] = {"torrents": n_torrents, "files": n_torrents * per}
    rng = random.Random(7)
    emu = BenchEmulator()
    gw: Gateway | None = None
    tmp = tempfile.TemporaryDirectory(prefix="bench-webdav-")
    try:
        emu.wait_ready()
        t = time.perf_counter()
        emu.seed_library(n_torrents, per)
        note(f"emulator on :{emu.port} seeded with {n_torrents} torrents x {per} files "
             f"in {time.perf_counter() - t:.1f}s")
        results["rss_before_gateway_mb"] = peak_rss_mb()
        config = gateway_config(emu, os.path.join(tmp.name, "config"))

        # 2. initial sync
        stats_before = set(getattr(logging, "statistics", {}))
        gw = build(config)
        gw.start(workers=False)
        t = time.perf_counter()
        gw.refresh_now()
        results["initial_sync_s"] = round(time.perf_counter() - t, 2)
        failed = {name: sync.error for name, sync in gw.library.syncs.items() if sync.error}
        if failed:
            raise RuntimeError(f"refresh failed: {failed}")
        shown = len(gw.library.snapshot().root.children[ALL].children)  # type: ignore[union-attr]
        if shown != n_torrents:
            raise RuntimeError(f"__all__ holds {shown} torrents after the refresh, expected {n_torrents}")
        results["rss_after_sync_mb"] = peak_rss_mb()
        note(f"initial sync: {results['initial_sync_s']}s")
        gw.stop()
        gw = None
        # cheroot registers every server's stats in logging.statistics and never removes them,
        # which keeps a stopped gateway (and its whole library) alive; drop the entry so the
        # figures below measure one gateway, not two.
        released = release_cheroot_stats(stats_before)
        gc.collect()
        phases = results["rss_phases_mb"] = {"sync_gateway_freed": rss_mb(), "released": released}

        # 3. cold start on the warm store
        session = new_session()
        t0 = time.perf_counter()
        gw = build(config)
        gw.start(workers=False)
        t_built = time.perf_counter()
        base = f"http://127.0.0.1:{gw.port}"
        all_url = f"{base}/webdav/{ALL}/"
        cold = new_session()
        _, r = propfind(cold, all_url)
        t_listed = time.perf_counter()
        cold.close()
        count = members(r)
        if count != n_torrents:
            raise RuntimeError(f"PROPFIND listed {count} members, expected {n_torrents}")
        results["cold_first_listing_ms"] = ms(t_listed - t0)
        phases["cold_start_listed"] = rss_mb()
        results["cold_build_start_ms"] = ms(t_built - t0)
        results["cold_first_propfind_ms"] = ms(t_listed - t_built)
        results["propfind_bytes"] = len(r.content)
        results["propfind_members"] = count
        note(f"cold start: first listing after {results['cold_first_listing_ms']} ms")

        # 4. PROPFIND Depth:1 on __all__: first (uncached render), then 20 cached
        one = next(iter(gw.library.snapshot().torrents.values()))
        # A changed torrent gives __all__ a new node, so both the VFS and PROPFIND caches miss.
        gw.library.add_or_update(dataclasses.replace(one, ended=one.ended + 1))
        gc.collect()
        first, r = propfind(session, all_url)
        if members(r) != n_torrents:
            raise RuntimeError("uncached PROPFIND listed the wrong number of members")
        runs = []
        for _ in range(PROPFIND_RUNS):
            elapsed, r = propfind(session, all_url)
            if r.status_code != 207:
                raise RuntimeError(f"PROPFIND answered {r.status_code}")
            runs.append(elapsed)
        results["propfind_first_ms"] = ms(first)
        results["propfind_median_ms"] = ms(statistics.median(runs))
        results["propfind_p95_ms"] = ms(percentile(runs, 95))
        phases["propfind_done"] = rss_mb()
        compare_with_rclone(gw, session, all_url, n_torrents, per, tmp.name, results)

        # 5. HEAD and 1 MiB Range GET on random files
        sampler = FileSampler(gw, rng)
        phases["file_sampler_built"] = rss_mb()
        if sampler.total_files != n_torrents * per:
            raise RuntimeError(f"{sampler.total_files} files in __all__, expected {n_torrents * per}")
        dav = f"{base}/webdav/{ALL}"
        heads = []
        for f in (sampler.pick() for _ in range(HEAD_RUNS)):
            t = time.perf_counter()
            r = session.head(dav + f.url_path, timeout=HTTP_TIMEOUT)
            heads.append(time.perf_counter() - t)
            if r.status_code != 200 or int(r.headers["Content-Length"]) != f.size:
                raise RuntimeError(f"HEAD {f.url_path}: {r.status_code} {r.headers.get('Content-Length')}")
        results["head_median_ms"] = ms(statistics.median(heads))
        results["head_p95_ms"] = ms(percentile(heads, 95))

        traffic0 = emu.traffic()
        ranges = []
        for f in (sampler.pick(min_size=MiB) for _ in range(RANGE_RUNS)):
            offset = rng.randrange(0, f.size - MiB)
            t = time.perf_counter()
            r = session.get(dav + f.url_path, headers={"Range": f"bytes={offset}-{offset + MiB - 1}"},
                            timeout=HTTP_TIMEOUT)
            body = r.content
            ranges.append(time.perf_counter() - t)
            if r.status_code != 206 or body != file_bytes(f.seed, offset, MiB):
                raise RuntimeError(f"Range GET {f.url_path} @{offset}: {r.status_code}, {len(body)} bytes "
                                   "(wrong status or content)")
        time.sleep(0.5)   # let the emulator notice the abandoned streams
        results["range_median_ms"] = ms(statistics.median(ranges))
        results["range_p95_ms"] = ms(percentile(ranges, 95))
        results["range_upstream_mib_per_read"] = round((emu.traffic() - traffic0) / MiB / len(ranges), 2)
        note("HEAD and Range GET done")
        phases["ranges_done"] = rss_mb()

        # 6. sequential throughput: WebDAV versus the CDN directly
        snap = gw.library.snapshot()
        key = next(k for k, t in snap.torrents.items() if t.infohash == infohash(0))
        target = next(f for f in folder_files(gw, snap.folders[key]) if f.size == STREAM_SIZE)
        r = session.get(f"{base}/api/browse/download/{target.browse_path}?redirect=1", allow_redirects=False,
                        timeout=HTTP_TIMEOUT)
        if r.status_code != 302:
            raise RuntimeError(f"redirect lookup answered {r.status_code}")
        cdn_url = r.headers["Location"]
        direct_session = new_session()
        expect_first = file_bytes(target.seed, 0, MiB)
        direct_s, dav_s = [], []
        for _ in range(STREAM_RUNS):
            elapsed, head = stream(direct_session, cdn_url, STREAM_SIZE)
            direct_s.append(elapsed)
            if head != expect_first:
                raise RuntimeError("direct CDN bytes differ from the emulator's content")
            elapsed, head = stream(session, dav + target.url_path, STREAM_SIZE)
            dav_s.append(elapsed)
            if head != expect_first:
                raise RuntimeError("WebDAV bytes differ from the emulator's content")
        direct_session.close()
        mb = STREAM_SIZE / 1e6
        results["stream_direct_mb_s"] = round(mb / min(direct_s), 1)
        results["stream_webdav_mb_s"] = round(mb / min(dav_s), 1)
        results["stream_ratio"] = round(min(direct_s) / min(dav_s), 3)
        results["stream_runs_s"] = {"direct": [round(x, 2) for x in direct_s],
                                    "webdav": [round(x, 2) for x in dav_s]}
        note("streaming done")
        phases["streaming_done"] = rss_mb()
        session.close()

        # 7. memory
        results["rss_current_mb"] = rss_mb()
        results["rss_peak_mb"] = peak_rss_mb()
        return results
    finally:
        if gw is not None:
            with contextlib.suppress(Exception):
                gw.stop()
        emu.stop()
        with contextlib.suppress(Exception):
            tmp.cleanup()


def folder_url(session: requests.Session, gw: Gateway, all_url: str, per: int) -> str:
    """The WebDAV URL of a torrent folder in __all__ with ``per`` members (no sub-folders), as rclone's."""
    names = sorted(gw.library.snapshot().root.children[ALL].children)   # type: ignore[union-attr]
    for name in names[:20]:
        url = f"{all_url}{quote(name, safe='')}/"
        if members(propfind(session, url)[1]) == per:
            return url
    raise RuntimeError(f"no torrent folder with {per} members among the first 20")


def timed(session: requests.Session, url: str, runs: int, expect: int) -> float:
    """Median seconds of ``runs`` PROPFIND Depth:1 of ``url`` (each checked for ``expect`` members)."""
    times = []
    for _ in range(runs):
        elapsed, r = propfind(session, url)
        if members(r) != expect:
            raise RuntimeError(f"PROPFIND {url} listed {members(r)} members, expected {expect}")
        times.append(elapsed)
    return statistics.median(times)


def compare_with_rclone(gw: Gateway, session: requests.Session, all_url: str, n: int, per: int,
                        tmp: str, res: dict[str, Any]) -> None:
    """PROPFIND side by side with ``rclone serve webdav`` over a local tree of the same shape:
    ``n`` folders of ``per`` sparse files (the 10,000-member listing and one folder)."""
    tree = os.path.join(tmp, "rclone-tree")
    make_tree(Path(tree), n, per)
    rclone = Rclone(Path(tree))
    try:
        rclone.wait_ready(session)
        folder = folder_url(session, gw, all_url, per)
        res["all_gw_ms"] = ms(timed(session, all_url, PROPFIND_RUNS, n))
        res["all_rclone_ms"] = ms(timed(session, rclone.base + "/", PROPFIND_RUNS, n))
        rc_folder = next(iter(sorted(os.listdir(tree))))
        res.update(compare_folder(session, folder, f"{rclone.base}/{quote(rc_folder)}/", FOLDER_RUNS,
                                  scale_propfind))
        res["all_ratio"] = round(res["all_gw_ms"] / res["all_rclone_ms"], 2)
        note(f"vs rclone: {n} members {res['all_gw_ms']} / {res['all_rclone_ms']} ms, one folder "
             f"{res['folder_gw_ms']} / {res['folder_rclone_ms']} ms, lean client "
             f"{res['folder_lean_gw_ms']} / {res['folder_lean_rclone_ms']} ms")
    finally:
        rclone.stop()


def verdict(ok: bool) -> str:
    return kit_verdict(ok, missed="NOT met")


def table(res: dict[str, Any]) -> str:
    n = f"{res['torrents']:,}"
    rows = [
        (f"initial sync of {n} torrents ({res['files']:,} files)", f"{res['initial_sync_s']} s", "", ""),
        ("time to first served listing (warm store)", f"{res['cold_first_listing_ms']} ms", "", ""),
        ("  of which build + start", f"{res['cold_build_start_ms']} ms", "", ""),
        ("  of which first PROPFIND", f"{res['cold_first_propfind_ms']} ms", "", ""),
        (f"PROPFIND D:1 {ALL} ({res['propfind_members']:,} members) first, uncached",
         f"{res['propfind_first_ms']} ms", f"< {TARGET_PROPFIND_MS:.0f} ms",
         verdict(res["propfind_first_ms"] < TARGET_PROPFIND_MS)),
        (f"PROPFIND D:1 median of {PROPFIND_RUNS} (cached)", f"{res['propfind_median_ms']} ms",
         f"< {TARGET_PROPFIND_MS:.0f} ms", verdict(res["propfind_median_ms"] < TARGET_PROPFIND_MS)),
        (f"PROPFIND D:1 p95 of {PROPFIND_RUNS} (cached)", f"{res['propfind_p95_ms']} ms",
         f"< {TARGET_PROPFIND_MS:.0f} ms", verdict(res["propfind_p95_ms"] < TARGET_PROPFIND_MS)),
        (f"PROPFIND D:1 {res['torrents']:,} members, median of {PROPFIND_RUNS}: gateway / rclone serve webdav",
         f"{res['all_gw_ms']} / {res['all_rclone_ms']} ms (ratio {res['all_ratio']})", "", ""),
        (f"PROPFIND D:1 one torrent folder, median of {res['folder_runs']}: gateway / rclone serve webdav",
         f"{res['folder_gw_ms']} / {res['folder_rclone_ms']} ms (ratio {res['folder_ratio']})", "", ""),
        (f"  the same through a lean client (raw socket), median of {res['folder_lean_runs']}: gateway / rclone",
         f"{res['folder_lean_gw_ms']} / {res['folder_lean_rclone_ms']} ms (ratio {res['folder_lean_ratio']})",
         "", ""),
        (f"HEAD median / p95 of {HEAD_RUNS}", f"{res['head_median_ms']} / {res['head_p95_ms']} ms", "", ""),
        (f"1 MiB Range GET median / p95 of {RANGE_RUNS}", f"{res['range_median_ms']} / {res['range_p95_ms']} ms",
         "", ""),
        ("  upstream CDN bytes per 1 MiB range read", f"{res['range_upstream_mib_per_read']} MiB", "", ""),
        ("sequential GET 256 MiB, direct CDN (best of 2)", f"{res['stream_direct_mb_s']} MB/s", "", ""),
        ("sequential GET 256 MiB, WebDAV (best of 2)", f"{res['stream_webdav_mb_s']} MB/s", "", ""),
        ("streaming ratio webdav / direct", f"{res['stream_ratio']}", f">= {TARGET_STREAM_RATIO}",
         verdict(res["stream_ratio"] >= TARGET_STREAM_RATIO)),
        ("peak RSS of the bench process (gateway + client)", f"{res['rss_peak_mb']} MB",
         f"< {TARGET_RSS_MB:.0f} MB", verdict(res["rss_peak_mb"] < TARGET_RSS_MB)),
        ("  RSS before the gateway / peak after the sync / at the end",
         f"{res['rss_before_gateway_mb']} / {res['rss_after_sync_mb']} / {res['rss_current_mb']} MB", "", ""),
    ]
    return kit_table(rows)


def main(argv: list[str] | None = None) -> int:
    reexec_with_malloc_arena_max()   # measure the gateway as scripts/run starts it
    p = argparse.ArgumentParser(description="Benchmark the gateway's WebDAV tree against the emulator.")
    p.add_argument("--torrents", type=int, default=10_000, help="torrents in the library (default 10000)")
    p.add_argument("--files-per-torrent", type=int, default=10, help="files per torrent (default 10)")
    p.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = p.parse_args(argv)
    if args.torrents < 1 or args.files_per_torrent < 1:
        p.error("--torrents and --files-per-torrent must be at least 1")
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    started = time.perf_counter()
    results = run(args)
    results["total_s"] = round(time.perf_counter() - started, 1)
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        print(table(results))
        print(f"(total run {results['total_s']} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
