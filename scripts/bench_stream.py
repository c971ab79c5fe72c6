#!/usr/bin/env python3
"""Streaming benchmark: the FUSE mount and WebDAV against the CDN, on one emulator.

Run from the repository root (root, with fuse3 and ffmpeg installed)::

    .venv/bin/python scripts/bench_stream.py                  # figures to stdout
    .venv/bin/python scripts/bench_stream.py --write-docs     # also docs/benchmarks.md, section "Streaming"
    .venv/bin/python scripts/bench_stream.py --json

What it measures, in one run:

1. sequential read throughput of cold files (never read before, so every byte
   comes from the CDN through the gateway): through the FUSE mount (``dd``),
   through ``/webdav/`` and directly from the CDN (``curl``, or requests when
   curl is missing); best of ``--runs``, each run on its own file;
2. random 64 KiB ``pread`` latency through FUSE, cold then warm (the same
   offsets again), median and p99;
3. CDN requests for a full ``ffprobe`` pass over ``--files`` media files
   (one real clip made with ffmpeg, served as many library files), first pass
   and second pass;
4. sequential read through ``/webdav/`` of a file stored inside a RAR5 set
   (``--archive-mib``, 4 MiB volumes; the gateway reads it as ranges of the
   volumes) against the same bytes read as the plain volume files, one after
   the other (``--archive-only`` runs just this).

The emulator runs as a subprocess; the gateway (with the mount, default
chunk_size and read_ahead_size) runs here; the readers are separate processes
except for the latency probe. Loopback only; every loop is bounded.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

import requests
from benchkit import DOCS, ROOT, EmulatorProcess, make_note, markdown_table, new_session, percentile, verdict
from benchkit import write_docs as replace_section

sys.path.insert(0, str(ROOT))

from emulators.archives import write_rar  # noqa: E402
from emulators.content import file_bytes  # noqa: E402
from gateway.app import Gateway, build  # noqa: E402
from gateway.config import parse_config  # noqa: E402

TOKEN = "bench-stream"
MiB = 1 << 20
READ = 64 * 1024
HTTP_TIMEOUT = (10.0, 300.0)
TARGET_RATIO = 0.8
TARGET_WARM_P99_MS = 5.0
TARGET_FIRST_PASS_PER_FILE = 3
FILES_PER_TORRENT = 10
KINDS = ("fuse", "webdav", "direct")
# (label, CDN bandwidth cap in bytes/s): loopback shows the CPU and disk ceiling of this machine; the cap
# stands for a fast real link (800 Mbit/s), where the gateway's overhead is what a user sees.
SCENARIOS = (("loopback, uncapped", None), ("CDN capped at 100 MB/s", 100_000_000))
RANDOM_CHUNKS = 100      # cold random reads, each in a chunk of its own
WARM_READS = 1000
SECTION = "## Streaming (scripts/bench_stream.py)"
ARCHIVE_VOLUME = 4 * MiB
TARGET_ARCHIVE_RATIO = 0.9


note = make_note("bench")


# ----------------------------------------------------------------- emulator

class Emulator(EmulatorProcess):
    def __init__(self, workdir: Path) -> None:
        log = open(workdir / "emulator.log", "wb")  # noqa: SIM115 -- closed in stop()
        super().__init__(TOKEN, "--no-rate-limit", log=log, timeout=HTTP_TIMEOUT)

    def mark(self) -> int:
        return int(self.session.get(self.origin + "/__emu/log", params={"since": 1 << 60}, timeout=HTTP_TIMEOUT).json()["mark"])

    def cap(self, rate: int | None) -> None:
        self.set_knobs(cdn_bandwidth=rate)

    def cdn_requests(self, since: int) -> list[dict[str, Any]]:
        return self.log_entries(since=since, path_prefix="/cdn/")


def stream_name(kind: str, scenario: int, run: int) -> str:
    return f"{kind} {scenario} {run}.bin"


def make_media(workdir: Path) -> Path:
    """A 6 s clip with noise (about 9 MB), so it spans more than one chunk."""
    out = workdir / "clip.mkv"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc=duration=6:size=320x240:rate=25",
                    "-f", "lavfi", "-i", "sine=duration=6", "-vf", "noise=alls=40:allf=t", "-c:v", "mpeg4",
                    "-q:v", "4", "-c:a", "aac", "-shortest", str(out)], check=True, timeout=300)
    return out


def library(stream_mib: int, runs: int, media: Path, files: int, random_mib: int) -> list[dict[str, Any]]:
    streams = [{"path": stream_name(kind, scenario, run), "size": stream_mib * MiB}
               for kind in KINDS for scenario in range(len(SCENARIOS)) for run in range(runs)]
    torrents = [{"hash": f"{1:040x}", "name": "Bench Streams", "added": "2024-05-01T00:00:00.000Z",
                 "files": [*streams, {"path": "random.bin", "size": random_mib * MiB}]}]
    for t in range(math.ceil(files / FILES_PER_TORRENT)):
        count = min(FILES_PER_TORRENT, files - t * FILES_PER_TORRENT)
        torrents.append({"hash": f"{1000 + t:040x}", "name": f"Probe Shelf {t:03d}", "added": "2024-05-02T00:00:00.000Z",
                         "files": [{"path": f"Episode {e:02d}.mkv", "source_path": str(media)} for e in range(count)]})
    return torrents


def archive_library(workdir: Path, mib: int, runs: int) -> list[dict[str, Any]]:
    """Per run, the same volumes twice: as a RAR set (shown as the file inside) and as plain files."""
    data = file_bytes("bench-archive", 0, mib * MiB)
    volumes = write_rar([("feature.mkv", data)], version=5, base="feature", volume_data=ARCHIVE_VOLUME)
    paths = []
    for name, body in volumes:
        path = workdir / name
        path.write_bytes(body)
        paths.append((name, str(path)))
    torrents = []
    for run in range(runs):
        torrents.append({"hash": f"{2000 + run:040x}", "name": f"Bench Archive {run}", "added": "2024-05-03T00:00:00.000Z",
                         "files": [{"path": name, "source_path": path} for name, path in paths]})
        torrents.append({"hash": f"{3000 + run:040x}", "name": f"Bench Volumes {run}", "added": "2024-05-03T00:00:00.000Z",
                         "files": [{"path": f"{name}.bin", "source_path": path} for name, path in paths]})
    return torrents


# ------------------------------------------------------------------ gateway

def start_gateway(emu: Emulator, workdir: Path, mnt: Path, cache_dir: str = "") -> Gateway:
    raw = {"bind_address": "127.0.0.1", "port": 0, "use_auth": False,
           "debrids": [{"name": "realdebrid", "api_key": TOKEN, "api_url": emu.origin + "/rest/1.0",
                        "rate_limit": "off", "torrents_refresh_interval": "1h"}],
           "mount": {"type": "fuse", "mount_path": str(mnt), "disk_cache_size": "8GB", "cache_dir": cache_dir}}
    gw = build(parse_config(raw, str(workdir / "config"))).start(workers=False)
    gw.refresh_now()
    return gw


def file_path(gw: Gateway, folder_name: str, name: str) -> tuple[str, str]:
    """(path below the tree root, the emulator's content seed)."""
    snap = gw.library.snapshot()
    key = next(k for k, v in snap.folders.items() if v == folder_name)
    return f"__all__/{folder_name}/{name}", f"{snap.torrents[key].infohash}/{name}"


# ----------------------------------------------------------------- measures

def timed(command: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, timeout=600)
    return time.perf_counter() - started


def http_read(url: str, size: int) -> float:
    if shutil.which("curl"):
        return timed(["curl", "-sf", "--noproxy", "*", "-o", "/dev/null", url])
    started = time.perf_counter()
    with new_session() as s, s.get(url, stream=True, timeout=HTTP_TIMEOUT) as r:
        got = sum(len(piece) for piece in r.iter_content(1 << 20))
    if got != size:
        raise RuntimeError(f"{url}: {got} of {size} bytes")
    return time.perf_counter() - started


def spot_check(path: Path, seed: str, size: int) -> None:
    rng = random.Random(seed)
    with open(path, "rb") as fh:
        for _ in range(8):
            offset = rng.randrange(size - READ)
            fh.seek(offset)
            if fh.read(READ) != file_bytes(seed, offset, READ):
                raise RuntimeError(f"{path}: wrong bytes at {offset}")


def sequential(gw: Gateway, emu: Emulator, mnt: Path, runs: int, size: int, scenario: int) -> dict[str, Any]:
    """Cold sequential reads through each path, a new file every run; best of ``runs``."""
    label, rate = SCENARIOS[scenario]
    emu.cap(rate)
    base = f"http://127.0.0.1:{gw.port}"
    seconds: dict[str, list[float]] = {kind: [] for kind in KINDS}
    try:
        for run in range(runs):
            for kind in KINDS:
                rel, seed = file_path(gw, "Bench Streams", stream_name(kind, scenario, run))
                if kind == "fuse":
                    took = timed(["dd", f"if={mnt / rel}", "of=/dev/null", "bs=1M", "status=none"])
                    spot_check(mnt / rel, seed, size)
                elif kind == "webdav":
                    took = http_read(f"{base}/webdav/{quote(rel)}", size)
                else:
                    redirect = requests.get(f"{base}/api/browse/download/{quote(rel.split('/', 1)[1])}?redirect=1",
                                            allow_redirects=False, timeout=HTTP_TIMEOUT)
                    took = http_read(redirect.headers["Location"], size)
                seconds[kind].append(took)
                note(f"{label}: {kind} run {run + 1}: {size / MiB / took:.0f} MiB/s")
    finally:
        emu.cap(None)
    best = {kind: size / MiB / min(values) for kind, values in seconds.items()}
    return {"label": label, "mib_s": {k: round(v, 1) for k, v in best.items()},
            "runs_s": {k: [round(x, 3) for x in v] for k, v in seconds.items()},
            "ratio_fuse": round(best["fuse"] / best["direct"], 3),
            "ratio_webdav": round(best["webdav"] / best["direct"], 3)}


def _latencies(fd: int, seed: str, offsets: list[int]) -> dict[str, float]:
    latencies = []
    for offset in offsets:
        started = time.perf_counter()
        data = os.pread(fd, READ, offset)
        latencies.append(time.perf_counter() - started)
        if data != file_bytes(seed, offset, READ):
            raise RuntimeError(f"random read at {offset}: wrong bytes")
    return {"median_ms": round(statistics.median(latencies) * 1000, 3),
            "p99_ms": round(percentile(latencies, 99) * 1000, 3), "reads": len(offsets)}


def random_reads(gw: Gateway, mnt: Path, size: int) -> dict[str, Any]:
    """64 KiB preads with kernel read-ahead off: cold (each in a chunk nobody read), then warm."""
    rel, seed = file_path(gw, "Bench Streams", "random.bin")
    cs = gw.files.chunk_size if gw.files else 8 * MiB
    rng = random.Random(7)
    chunks = rng.sample(range(size // cs), min(RANDOM_CHUNKS, size // cs))
    cold = [c * cs + rng.randrange(cs - READ) for c in chunks]
    warm = [rng.choice(chunks) * cs + rng.randrange(cs - READ) for _ in range(WARM_READS)]
    result: dict[str, Any] = {}
    for phase, offsets in (("cold", cold), ("warm", warm)):
        fd = os.open(mnt / rel, os.O_RDONLY)   # a new open: the kernel's page cache of the file starts empty
        try:
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_RANDOM)   # 64 KiB reach the gateway as 64 KiB
            result[phase] = _latencies(fd, seed, offsets)
        finally:
            os.close(fd)
        note(f"random 64 KiB {phase}: median {result[phase]['median_ms']} ms, p99 {result[phase]['p99_ms']} ms")
    return result


def ffprobe_passes(gw: Gateway, emu: Emulator, mnt: Path, files: int) -> dict[str, Any]:
    paths = [mnt / "__all__" / f"Probe Shelf {t:03d}" / f"Episode {e:02d}.mkv"
             for t in range(math.ceil(files / FILES_PER_TORRENT))
             for e in range(min(FILES_PER_TORRENT, files - t * FILES_PER_TORRENT))]
    out: dict[str, Any] = {"files": len(paths)}
    for name in ("first", "second"):
        mark = emu.mark()
        started = time.perf_counter()
        per_file = []
        for path in paths:
            before = emu.mark()
            probe = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0",
                                    str(path)], capture_output=True, text=True, timeout=60)
            if probe.returncode != 0 or abs(float(probe.stdout.strip() or 0) - 6.0) > 0.2:
                raise RuntimeError(f"ffprobe {path}: {probe.stdout!r} {probe.stderr!r}")
            per_file.append(len(emu.cdn_requests(before)))
        total = len(emu.cdn_requests(mark))
        out[name] = {"cdn_requests": total, "max_per_file": max(per_file),
                     "seconds": round(time.perf_counter() - started, 2)}
        note(f"ffprobe {name} pass: {total} CDN requests over {len(paths)} files")
    return out


# ------------------------------------------------------------------- report

def archive_reads(gw: Gateway, runs: int, mib: int) -> dict[str, Any]:
    """Cold sequential WebDAV reads: the file inside a RAR set, then the same bytes as its volumes."""
    base = f"http://127.0.0.1:{gw.port}/webdav/__all__"
    inside, plain = [], []
    for run in range(runs):
        deadline = time.monotonic() + 120
        while gw.vfs.snapshot.resolve(["__all__", f"Bench Archive {run}"]) is None:   # the layout is being learned
            if time.monotonic() > deadline:
                raise RuntimeError("the archive's layout was never learned")
            time.sleep(0.1)
        member = gw.vfs.stat(f"/__all__/Bench Archive {run}/feature.mkv")
        took = http_read(f"{base}/{quote(f'Bench Archive {run}')}/feature.mkv", member.size)
        inside.append(member.size / MiB / took)
        volumes = gw.vfs.listdir(f"/__all__/Bench Volumes {run}")
        for v in volumes:   # links made before timing, as learning made the set's links
            gw.vfs.link(f"/__all__/Bench Volumes {run}/{v.name}")
        took = sum(http_read(f"{base}/{quote(f'Bench Volumes {run}')}/{quote(v.name)}", v.size) for v in volumes)
        plain.append(sum(v.size for v in volumes) / MiB / took)
        note(f"archive run {run + 1}: inside {inside[-1]:.0f} MiB/s, volumes {plain[-1]:.0f} MiB/s")
    best_inside, best_plain = max(inside), max(plain)
    return {"mib": mib, "inside_mib_s": round(best_inside, 1), "volumes_mib_s": round(best_plain, 1),
            "ratio": round(best_inside / best_plain, 3)}


def _archive_row(arc: dict[str, Any], args: argparse.Namespace) -> tuple[str, str, str, str]:
    return (f"sequential {arc['mib']} MiB via WebDAV, the file inside a RAR5 set (4 MiB volumes) / the same bytes "
            f"as plain volumes (best of {args.runs}): {arc['inside_mib_s']} / {arc['volumes_mib_s']} MiB/s, ratio",
            str(arc["ratio"]), f">= {TARGET_ARCHIVE_RATIO}", verdict(arc["ratio"] >= TARGET_ARCHIVE_RATIO))


def _sequential_rows(seq: dict[str, Any], args: argparse.Namespace) -> list[tuple[str, str, str, str]]:
    label, mib = seq["label"], seq["mib_s"]
    return [
        (f"{label}: sequential {args.stream_mib} MiB, FUSE / WebDAV / CDN directly (best of {args.runs})",
         f"{mib['fuse']} / {mib['webdav']} / {mib['direct']} MiB/s", "", ""),
        (f"{label}: ratio FUSE / direct", str(seq["ratio_fuse"]), f">= {TARGET_RATIO}",
         verdict(seq["ratio_fuse"] >= TARGET_RATIO)),
        (f"{label}: ratio WebDAV / direct", str(seq["ratio_webdav"]), f">= {TARGET_RATIO}",
         verdict(seq["ratio_webdav"] >= TARGET_RATIO)),
    ]


def report(res: dict[str, Any], args: argparse.Namespace) -> str:
    if args.archive_only:
        return "\n".join(markdown_table([_archive_row(res["archive"], args)]))
    rnd, probe = res["random"], res["ffprobe"]
    rows = [row for seq in res["sequential"] for row in _sequential_rows(seq, args)]
    rows += [
        (f"random 64 KiB pread via FUSE, cold ({rnd['cold']['reads']} reads, each in an unread chunk), median / p99",
         f"{rnd['cold']['median_ms']} / {rnd['cold']['p99_ms']} ms", "", ""),
        (f"random 64 KiB pread via FUSE, warm ({rnd['warm']['reads']} reads in cached chunks), median / p99",
         f"{rnd['warm']['median_ms']} / {rnd['warm']['p99_ms']} ms", f"p99 < {TARGET_WARM_P99_MS} ms",
         verdict(rnd["warm"]["p99_ms"] < TARGET_WARM_P99_MS)),
        (f"ffprobe pass 1 over {probe['files']} files: CDN requests (most for one file)",
         f"{probe['first']['cdn_requests']} ({probe['first']['max_per_file']})",
         f"<= {TARGET_FIRST_PASS_PER_FILE} per file",
         verdict(probe["first"]["max_per_file"] <= TARGET_FIRST_PASS_PER_FILE)),
        (f"ffprobe pass 2 over {probe['files']} files: CDN requests", str(probe["second"]["cdn_requests"]), "0",
         verdict(probe["second"]["cdn_requests"] == 0)),
        _archive_row(res["archive"], args),
    ]
    return "\n".join(markdown_table(rows))


def write_docs(table: str, res: dict[str, Any]) -> None:
    """Replace (or add) this script's section of docs/benchmarks.md, leaving every other section alone."""
    body = (f"{SECTION}\n\nRun {res['when']} on {res['machine']}: emulator in a subprocess, gateway with the FUSE "
            "mount in the benchmark process (default `chunk_size` 8 MiB, `read_ahead_size` 64 MiB), readers in "
            "their own processes (`dd`, `curl`, `ffprobe`). Every sequential run reads a file nobody read before, "
            "so each byte comes from the CDN through the gateway and is written to the chunk cache on the way. "
            "Two CDN settings: *loopback, uncapped*, where the emulator, the gateway and the reader share the "
            "machine's CPUs and the cache's disk writes compete with them (the ceiling of this machine, not of a "
            "network), and *capped at 100 MB/s* (the emulator's shared `cdn_bandwidth`), which stands for a fast "
            "real CDN link; the direct reader is one `curl` stream, the gateway fetches three chunks at a time. "
            f"Random reads use `POSIX_FADV_RANDOM`, so each 64 KiB read reaches the gateway.\n\n{table}\n\n"
            f"ffprobe passes took {res['ffprobe']['first']['seconds']} s and {res['ffprobe']['second']['seconds']} s. "
            "Reproduce with `.venv/bin/python scripts/bench_stream.py --write-docs` (root, fuse3 and ffmpeg).\n")
    replace_section(SECTION, body)


# --------------------------------------------------------------------- main

def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--files", type=int, default=200, help="media files for the ffprobe passes")
    p.add_argument("--stream-mib", type=int, default=256, help="size of each sequential file")
    p.add_argument("--runs", type=int, default=2, help="sequential runs per path (each on a new file)")
    p.add_argument("--random-mib", type=int, default=RANDOM_CHUNKS * 8, help="size of the random-read file")
    p.add_argument("--archive-mib", type=int, default=256, help="size of the file inside the RAR set")
    p.add_argument("--archive-only", action="store_true", help="measure only the archive row")
    p.add_argument("--cache-dir", default="", help="chunk cache directory (default: a temporary one)")
    p.add_argument("--json", action="store_true")
    p.add_argument("--write-docs", action="store_true", help=f"update the section of {DOCS.relative_to(ROOT)}")
    return p.parse_args()


def check_tools() -> None:
    missing = [tool for tool in ("ffmpeg", "ffprobe", "dd", "fusermount3") if not shutil.which(tool)]
    if missing or not os.path.exists("/dev/fuse"):
        raise SystemExit(f"bench_stream: needs /dev/fuse and {', '.join(missing) or 'nothing else'} "
                         "(apt-get install fuse3 ffmpeg)")


def run(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    emu = Emulator(workdir)
    gw: Gateway | None = None
    try:
        emu.wait_ready()
        torrents = archive_library(workdir, args.archive_mib, args.runs)
        if not args.archive_only:
            note("making the media clip")
            torrents += library(args.stream_mib, args.runs, make_media(workdir), args.files, args.random_mib)
        emu.seed(len(torrents), torrents.__getitem__, 100)
        mnt = workdir / "mnt"
        gw = start_gateway(emu, workdir, mnt, args.cache_dir)
        note(f"gateway on port {gw.port}, mount at {mnt}")
        size = args.stream_mib * MiB
        if args.archive_only:
            return {"archive": archive_reads(gw, args.runs, args.archive_mib)}
        return {"when": time.strftime("%Y-%m-%d"), "machine": f"{os.cpu_count()} CPUs, {sys.platform}",
                "archive": archive_reads(gw, args.runs, args.archive_mib),
                "sequential": [sequential(gw, emu, mnt, args.runs, size, i) for i in range(len(SCENARIOS))],
                "random": random_reads(gw, mnt, args.random_mib * MiB),
                "ffprobe": ffprobe_passes(gw, emu, mnt, args.files),
                "gateway_stats": {"upstream_requests": gw.streamer.counters.upstream_requests,
                                  "upstream_bytes": gw.streamer.counters.upstream_bytes,
                                  "cache": gw.files.stats() if gw.files else None}}
    finally:
        if gw is not None:
            gw.stop()
        emu.stop()


def main() -> int:
    args = parse_args()
    if args.archive_only and args.write_docs:
        raise SystemExit("bench_stream: --write-docs rewrites the whole section; run without --archive-only")
    check_tools()
    with tempfile.TemporaryDirectory(prefix="bench-stream-") as tmp:
        results = run(args, Path(tmp))
    table = report(results, args)
    print(json.dumps(results, indent=2) if args.json else table)
    if args.write_docs:
        write_docs(table, results)
        note(f"wrote the streaming section of {DOCS.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
