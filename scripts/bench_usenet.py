#!/usr/bin/env python3
"""Usenet streaming benchmark: the gateway against a raw NNTP reader, on one emulated server.

Run from the repository root (root, with fuse3 and ffmpeg installed)::

    .venv/bin/python scripts/bench_usenet.py                  # figures to stdout
    .venv/bin/python scripts/bench_usenet.py --write-docs     # also docs/benchmarks.md, section "Usenet streaming"

One emulated NNTP server (``emulators.usenet``, in a subprocess: ``scripts/usenet_benchkit.py``)
with a per-connection bandwidth cap, a latency before every answer and a connection cap holds
three releases: a 10 GiB single-file release (generated as it is served), a 50-volume stored
RAR5 set, and 50 small real media files (one ffmpeg clip) for the ffprobe scan. The gateway runs
as a real process (``python -m gateway``) with its FUSE mount and chunk cache; the raw reader
(plain sockets + sabctools, the same number of connections as the gateway's pool) runs in this
process. Measured, in one run:

1. SAB ``addfile`` to ``Completed`` in SAB history for each release, and what the import read;
2. first byte of completed files (cold), and a 4 MiB read at random offsets (cold): WebDAV,
   FUSE and the raw reader;
3. sequential throughput on cold regions of the big file: raw reader, WebDAV (``curl``),
   FUSE (``dd``);
4. RSS of the gateway process added per active stream (four WebDAV streams at once);
5. articles read by two ``ffprobe`` passes over the 50 media files through the mount;
6. the most connections the server saw open at once, and its 502 answers.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

import requests
from benchkit import (
    DOCS,
    ROOT,
    end_process,
    free_port,
    make_note,
    markdown_table,
    new_session,
    rss_mb,
    verdict,
    write_docs,
)
from usenet_benchkit import BIG, PART, PASSWORD, PROBE, RAR, USER, EmulatedUsenet, RawReader, segment_ids

MiB = 1 << 20
SECTION = "## Usenet streaming (scripts/bench_usenet.py)"
LATENCY = 0.020
BANDWIDTH = 4_000_000          # bytes/s per connection
MAX_CONNECTIONS = 10           # the account's limit (the emulator answers 502 beyond it)
RANDOM_READ = 4 * MiB
TARGET_RATIO = 0.9
TARGET_IMPORT_S = 5.0
TARGET_FIRST_BYTE_MS = 300.0
TARGET_SEEK_MS = 300.0
TARGET_RSS_MIB = 100.0
TARGET_ARTICLES_PER_FILE = 5
PEERS = ("Peers (usenet.md §5, real servers, 20 connections, TLS): click to first byte 2.00 / 4.48 / 8.63 s, "
         "sequential 37.6 / 35.5 / 31.9 MB/s against a raw reader's 35.9 (0.89–1.05 of raw), 4 MiB seek 697 / "
         "540 / 1020 ms (raw 450 ms), RSS per stream 308 / 435 / 745 MiB (nzbdav / Decypharr 2.x / AltMount).")

note = make_note("bench-usenet")


# ----------------------------------------------------------------- the gateway process

class GatewayProcess:
    def __init__(self, workdir: Path, nntp_port: int) -> None:
        self.port = free_port()
        self.mnt = workdir / "mnt"
        self.mnt.mkdir()
        config = workdir / "config"
        config.mkdir()
        raw = {"bind_address": "127.0.0.1", "port": self.port, "use_auth": False, "default_download_action": "none",
               "download_folder": str(workdir / "downloads"), "log_level": "info",
               "mount": {"type": "fuse", "mount_path": str(self.mnt), "cache_dir": str(workdir / "cache"),
                         "disk_cache_size": "16GB"},
               "usenet": {"providers": [{"name": "bench", "host": "127.0.0.1", "port": nntp_port, "username": USER,
                                         "password": PASSWORD, "max_connections": MAX_CONNECTIONS}]}}
        (config / "config.json").write_text(json.dumps(raw, indent=2))
        self._log = open(workdir / "gateway.log", "wb")  # noqa: SIM115 -- closed in stop()
        self.proc = subprocess.Popen([sys.executable, "-m", "gateway", "--config", str(config)], cwd=str(ROOT),
                                     stdout=self._log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                     env={**os.environ, "MALLOC_ARENA_MAX": "2"})
        self.base = f"http://127.0.0.1:{self.port}"
        self.session = new_session()

    def wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the gateway exited with {self.proc.returncode}")
            try:
                if self.session.get(self.base + "/health", timeout=1).status_code == 200 and os.path.ismount(self.mnt):
                    return
            except requests.RequestException:
                pass
            time.sleep(0.1)   # polling a process that is starting
        raise RuntimeError("the gateway did not start")

    def rss_mib(self) -> float:
        return rss_mb(self.proc.pid, digits=None)

    def sab(self, method: str = "GET", files: Any = None, **params: Any) -> Any:
        r = self.session.request(method, self.base + "/sabnzbd/api", params={**params, "output": "json"},
                                 files=files, timeout=30)
        r.raise_for_status()
        return r.json()

    def health(self) -> dict[str, Any]:
        return dict(self.session.get(self.base + "/health", timeout=10).json())

    def pools(self) -> dict[str, Any]:
        """Each server's pool in detail (idle, waiting, limit ...): /api/stats, since /health
        carries only the contract's seven figures."""
        return dict(self.session.get(self.base + "/api/stats", timeout=10).json()["usenet"])

    def stop(self) -> None:
        self.session.close()
        end_process(self.proc, 20)
        subprocess.run(["fusermount3", "-uz", str(self.mnt)], capture_output=True, check=False)
        self._log.close()


# ----------------------------------------------------------------- measures

def import_job(gw: GatewayProcess, emu: EmulatedUsenet, name: str, posted: int) -> dict[str, Any]:
    """SAB addfile → Completed; what the server served meanwhile."""
    emu.ask("reset")
    started = time.perf_counter()
    answer = gw.sab("POST", files={"name": (f"{name}.nzb", emu.nzb(name), "application/x-nzb")},
                    mode="addfile", cat="movies")
    nzo = answer["nzo_ids"][0]
    deadline = time.monotonic() + 120
    slot = None
    while time.monotonic() < deadline:
        slots = gw.sab(mode="history", start="0", limit="20", category="movies")["history"]["slots"]
        slot = next((s for s in slots if s["nzo_id"] == nzo and s["status"] in ("Completed", "Failed")), None)
        if slot is not None:
            break
        time.sleep(0.01)   # polling the SAB API as Sonarr does, only faster
    took = time.perf_counter() - started
    if slot is None or slot["status"] != "Completed":
        raise RuntimeError(f"{name}: {slot}")
    stats = emu.stats()
    note(f"import {name}: {took:.2f} s, {stats['articles']} articles, {stats['stat']} STAT")
    return {"seconds": round(took, 3), "articles": stats["articles"], "stat": stats["stat"], "posted": posted,
            "per_file": round(stats["articles"] / posted, 2)}


def tree_file(gw: GatewayProcess, folder: str, suffix: str = ".mkv") -> str:
    names = sorted(n for n in os.listdir(gw.mnt / "__all__" / folder) if n.endswith(suffix))
    return f"__all__/{folder}/{names[0]}"


def settle(gw: GatewayProcess, timeout: float = 20.0) -> None:
    """Wait until the gateway's pool is quiet (every connection idle, nobody waiting): each latency
    probe then starts as a player's seek does once the previous read-ahead is in, not behind it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pool = gw.pools()["bench"]
        if pool["connections"] == pool["idle"] and pool["waiting"] == 0:
            return
        time.sleep(0.02)   # polling the gateway's /health
    raise RuntimeError("the gateway's usenet pool never went quiet")


def first_byte_http(gw: GatewayProcess, rel: str, start: int = 0) -> float:
    gw.session.head(f"{gw.base}/webdav/{quote(rel)}", timeout=30).raise_for_status()   # as a client looks first
    started = time.perf_counter()
    with gw.session.get(f"{gw.base}/webdav/{quote(rel)}", headers={"Range": f"bytes={start}-"}, stream=True,
                        timeout=30) as r:
        r.raise_for_status()
        next(r.iter_content(1))
        return (time.perf_counter() - started) * 1000


def first_byte_fuse(path: Path, start: int = 0) -> float:
    started = time.perf_counter()
    fd = os.open(path, os.O_RDONLY)
    try:
        if not os.pread(fd, 1, start):
            raise RuntimeError(f"{path}: empty")
    finally:
        os.close(fd)
    return (time.perf_counter() - started) * 1000


def range_http(gw: GatewayProcess, rel: str, start: int, length: int) -> float:
    started = time.perf_counter()
    r = gw.session.get(f"{gw.base}/webdav/{quote(rel)}", headers={"Range": f"bytes={start}-{start + length - 1}"},
                       timeout=60)
    if r.status_code != 206 or len(r.content) != length:
        raise RuntimeError(f"range read at {start}: {r.status_code}, {len(r.content)} bytes")
    return (time.perf_counter() - started) * 1000


def range_fuse(path: Path, start: int, length: int) -> float:
    started = time.perf_counter()
    fd = os.open(path, os.O_RDONLY)
    try:
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_RANDOM)
        got = 0
        while got < length:
            piece = os.pread(fd, min(MiB, length - got), start + got)
            if not piece:
                raise RuntimeError(f"{path}: short read at {start + got}")
            got += len(piece)
    finally:
        os.close(fd)
    return (time.perf_counter() - started) * 1000


def raw_range(raw: RawReader, ids: list[str], start: int, length: int) -> float:
    started = time.perf_counter()
    raw.fetch(ids[start // PART:(start + length - 1) // PART + 1])
    return (time.perf_counter() - started) * 1000


def latency(gw: GatewayProcess, raw: RawReader, ids: list[str], size: int, reads: int) -> dict[str, Any]:
    """Cold first bytes and 4 MiB random reads; every offset in a region nobody read before."""
    rng = random.Random(17)
    region = size // 4   # the first quarter; sequential reads use the rest
    slot = (region - 64 * MiB) // reads   # one offset per slot, past the first bytes the first-byte probes read
    offsets = [64 * MiB + slot * i + rng.randrange(max(1, slot - 16 * MiB)) for i in range(reads)]
    rel = tree_file(gw, BIG)
    path = gw.mnt / rel
    rar_rel = tree_file(gw, RAR)
    probe_rels = [f"__all__/{PROBE}/{n}" for n in sorted(os.listdir(gw.mnt / "__all__" / PROBE))[-3:]]
    probes: list[tuple[str, Any]] = [
        ("first_byte_webdav_ms", lambda: first_byte_http(gw, rel)),
        ("first_byte_webdav_ms", lambda: first_byte_http(gw, rar_rel)),
        ("first_byte_webdav_ms", lambda: first_byte_http(gw, probe_rels[0])),
        ("first_byte_fuse_ms", lambda: first_byte_fuse(path, 16 * MiB)),
        ("first_byte_fuse_ms", lambda: first_byte_fuse(gw.mnt / probe_rels[1])),
        ("first_byte_fuse_ms", lambda: first_byte_fuse(gw.mnt / probe_rels[2])),
        ("first_byte_raw_ms", lambda: raw_range(raw, ids, 32 * MiB, 1))]
    out: dict[str, Any] = {key: [] for key in ("first_byte_webdav_ms", "first_byte_fuse_ms", "first_byte_raw_ms",
                                               "seek_webdav_ms", "seek_fuse_ms", "seek_raw_ms")}
    for key, probe in probes:
        settle(gw)
        out[key].append(probe())
    for i, offset in enumerate(offsets):
        settle(gw)
        kind = ("webdav", "fuse", "raw")[i % 3]
        if kind == "webdav":
            out["seek_webdav_ms"].append(range_http(gw, rel, offset, RANDOM_READ))
        elif kind == "fuse":
            out["seek_fuse_ms"].append(range_fuse(path, offset, RANDOM_READ))
        else:
            out["seek_raw_ms"].append(raw_range(raw, ids, offset, RANDOM_READ))
    for key in list(out):
        out[key] = [round(v, 1) for v in out[key]]
        note(f"{key}: {out[key]}")
    return out


def sequential(gw: GatewayProcess, raw: RawReader, ids: list[str], size: int, mib: int, runs: int) -> dict[str, Any]:
    """Cold regions of the big file, ``runs`` rounds of raw reader, WebDAV (curl), FUSE (dd); best of each."""
    length = mib * MiB
    rel = tree_file(gw, BIG)
    seconds: dict[str, list[float]] = {"raw": [], "webdav": [], "fuse": []}
    region = iter(range(size // 4, size, 2 * length))   # every read on bytes nobody read before
    for _ in range(runs):
        first = next(region) // PART + 1
        seconds["raw"].append(_timed(lambda f=first: raw.fetch(ids[f:f + length // PART])))
        s = next(region)
        seconds["webdav"].append(_timed(lambda s=s: subprocess.run(
            ["curl", "-sf", "--noproxy", "*", "-o", "/dev/null", "-r", f"{s}-{s + length - 1}",
             f"{gw.base}/webdav/{quote(rel)}"], check=True, timeout=600)))
        s = next(region)
        seconds["fuse"].append(_timed(lambda s=s: subprocess.run(
            ["dd", f"if={gw.mnt / rel}", "of=/dev/null", "bs=1M", f"skip={s // MiB}", f"count={mib}",
             "status=none"], check=True, timeout=600)))
    length_raw = (length // PART) * PART
    runs_mb_s = {k: [round((length_raw if k == "raw" else length) / 1e6 / t, 1) for t in v] for k, v in seconds.items()}
    mb_s = {k: max(v) for k, v in runs_mb_s.items()}
    note(f"sequential {mib} MiB: {runs_mb_s} MB/s")
    return {"mb_s": mb_s, "runs_mb_s": runs_mb_s, "ratio_webdav": round(mb_s["webdav"] / mb_s["raw"], 3),
            "ratio_fuse": round(mb_s["fuse"] / mb_s["raw"], 3)}


def _timed(job: Any) -> float:
    started = time.perf_counter()
    job()
    return time.perf_counter() - started


def rss_per_stream(gw: GatewayProcess, size: int, streams: int, mib: int) -> dict[str, Any]:
    """Four WebDAV streams at once on cold regions; the gateway's RSS sampled meanwhile."""
    rel = tree_file(gw, BIG)
    base = gw.rss_mib()
    starts = [size * 3 // 4 + i * 2 * mib * MiB for i in range(streams)]   # past the sequential regions
    procs = [subprocess.Popen(["curl", "-sf", "--noproxy", "*", "-o", "/dev/null", "-r", f"{s}-{s + mib * MiB - 1}",
                               f"{gw.base}/webdav/{quote(rel)}"]) for s in starts]
    peak = base
    while any(p.poll() is None for p in procs):
        peak = max(peak, gw.rss_mib())
        time.sleep(0.05)   # sampling RSS while the streams run
    if any(p.returncode for p in procs):
        raise RuntimeError("a stream failed")
    per = (peak - base) / streams
    note(f"RSS {base:.0f} MiB before, peak {peak:.0f} MiB with {streams} streams: {per:.1f} MiB each")
    return {"base_mib": round(base, 1), "peak_mib": round(peak, 1), "streams": streams, "per_stream_mib": round(per, 1)}


def ffprobe_passes(gw: GatewayProcess, emu: EmulatedUsenet) -> dict[str, Any]:
    folder = gw.mnt / "__all__" / PROBE
    paths = sorted(folder / n for n in os.listdir(folder))
    out: dict[str, Any] = {"files": len(paths)}
    for name in ("first", "second"):
        before = emu.stats()["articles"]
        started = time.perf_counter()
        for path in paths:
            probe = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0",
                                    str(path)], capture_output=True, text=True, timeout=60)
            if probe.returncode != 0 or not probe.stdout.strip():
                raise RuntimeError(f"ffprobe {path}: {probe.stdout!r} {probe.stderr!r}")
        out[name] = {"articles": emu.stats()["articles"] - before, "seconds": round(time.perf_counter() - started, 2)}
        note(f"ffprobe {name} pass: {out[name]}")
    return out


# ------------------------------------------------------------------- report

def _ms(values: list[float]) -> str:
    return f"{statistics.median(values):.0f} ms (of {len(values)}: {', '.join(f'{v:.0f}' for v in values)})"


def rows(res: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    imp, lat, seq, rss, probe = res["imports"], res["latency"], res["sequential"], res["rss"], res["ffprobe"]
    out = []
    for key, label in ((BIG, f"10 GiB single file ({imp[BIG]['posted']} posted file)"),
                       (RAR, f"{res['rar_volumes']}-volume RAR5 set"), (PROBE, f"{imp[PROBE]['posted']} media files")):
        r = imp[key]
        ok = r["seconds"] < TARGET_IMPORT_S
        out.append((f"SAB addfile → Completed: {label}", f"{r['seconds']} s", f"< {TARGET_IMPORT_S} s" if key != PROBE else "",
                    verdict(ok) if key != PROBE else ""))
    for key, r in imp.items():
        extra = r["articles"] / r["posted"]
        out.append((f"articles read by the import per posted file ({key.split('.')[1]}), + STAT sample",
                    f"{extra:.2f} + {r['stat']} STAT", f"<= {TARGET_ARTICLES_PER_FILE}",
                    verdict(extra <= TARGET_ARTICLES_PER_FILE)))
    fb = lat["first_byte_webdav_ms"] + lat["first_byte_fuse_ms"]
    out += [
        ("first byte of a completed file, cold: WebDAV (big, RAR, small)", _ms(lat["first_byte_webdav_ms"]), "", ""),
        ("first byte of a completed file, cold: FUSE (big, small, small)", _ms(lat["first_byte_fuse_ms"]), "", ""),
        ("first byte, all six (max)", f"{max(fb):.0f} ms", f"< {TARGET_FIRST_BYTE_MS:.0f} ms",
         verdict(max(fb) < TARGET_FIRST_BYTE_MS)),
        ("first article, raw reader", _ms(lat["first_byte_raw_ms"]), "", ""),
        ("4 MiB read at a random offset, cold: WebDAV, median", _ms(lat["seek_webdav_ms"]),
         f"< {TARGET_SEEK_MS:.0f} ms", verdict(statistics.median(lat["seek_webdav_ms"]) < TARGET_SEEK_MS)),
        ("4 MiB read at a random offset, cold: FUSE, median", _ms(lat["seek_fuse_ms"]),
         f"< {TARGET_SEEK_MS:.0f} ms", verdict(statistics.median(lat["seek_fuse_ms"]) < TARGET_SEEK_MS)),
        ("4 MiB read at a random offset, cold: raw reader, median", _ms(lat["seek_raw_ms"]), "", ""),
        (f"sequential {res['seq_mib']} MiB, cold: raw / WebDAV / FUSE (best of {len(seq['runs_mb_s']['raw'])}; "
         "every run: " + "; ".join(f"{k} {', '.join(map(str, v))}" for k, v in seq["runs_mb_s"].items()) + ")",
         f"{seq['mb_s']['raw']} / {seq['mb_s']['webdav']} / {seq['mb_s']['fuse']} MB/s", "", ""),
        ("ratio WebDAV / raw", str(seq["ratio_webdav"]), f">= {TARGET_RATIO}", verdict(seq["ratio_webdav"] >= TARGET_RATIO)),
        ("ratio FUSE / raw", str(seq["ratio_fuse"]), f">= {TARGET_RATIO}", verdict(seq["ratio_fuse"] >= TARGET_RATIO)),
        (f"gateway RSS added per active stream ({rss['streams']} WebDAV streams at once)",
         f"{rss['per_stream_mib']} MiB (RSS {rss['base_mib']} → {rss['peak_mib']} MiB)", f"< {TARGET_RSS_MIB:.0f} MiB",
         verdict(rss["per_stream_mib"] < TARGET_RSS_MIB)),
        ("most connections open at the server at once / 502 answers", f"{res['peak']} / {res['rejected']}",
         f"<= {MAX_CONNECTIONS} / 0", verdict(res["peak"] <= MAX_CONNECTIONS and res["rejected"] == 0)),
        (f"ffprobe pass 1 over {probe['files']} usenet files: articles", str(probe["first"]["articles"]), "", ""),
        (f"ffprobe pass 2 over {probe['files']} usenet files: articles", str(probe["second"]["articles"]), "0",
         verdict(probe["second"]["articles"] == 0)),
    ]
    return out


def section(res: dict[str, Any], body: list[tuple[str, str, str, str]]) -> str:
    intro = (f"Run {res['when']} on {res['machine']}. One emulated NNTP server (`emulators.usenet`, its own "
             f"process) with {LATENCY * 1000:.0f} ms before every answer, {BANDWIDTH / 1e6:.0f} MB/s per connection "
             f"and a cap of {MAX_CONNECTIONS} connections (502 beyond); articles of {PART} bytes. The gateway is a real "
             "process (`python -m gateway`, FUSE mount and chunk cache on, default `chunk_size` and usenet settings, "
             f"`max_connections: {MAX_CONNECTIONS}` for the server, so its pool holds {res['pool']}); the raw reader "
             f"(plain sockets + sabctools, {res['pool']} connections, no cache) runs in the benchmark process and "
             "reads from a twin server on the same article store with the same knobs, so the gateway's idle "
             "connections and its own never count against each other. Every read is of bytes nobody read before; "
             "each first-byte and seek probe starts when the gateway's pool is quiet (its earlier read-ahead done), "
             "as a player's seek after playback does. The 10 GiB release is generated as it is served; the "
             f"{res['rar_volumes']}-volume RAR5 set holds one {res['rar_mib']} MiB movie; the 50 media files are one "
             "ffmpeg clip (145 KB, one article) posted 50 times, so ffprobe parses them; three of them were read "
             "by the first-byte probes before the ffprobe passes.")
    footer = (f"{PEERS}\n\nReproduce with `.venv/bin/python scripts/bench_usenet.py --write-docs` (root, fuse3, "
              f"ffmpeg and curl; whole run {res['run_s']} s).\n")
    return "\n".join([SECTION, "", intro, "", *markdown_table(body), "", footer])


# --------------------------------------------------------------------- main

def make_clip(workdir: Path) -> Path:
    out = workdir / "clip.mkv"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc=duration=4:size=320x240:rate=25",
                    "-f", "lavfi", "-i", "sine=duration=4", "-c:v", "mpeg4", "-q:v", "6", "-c:a", "aac",
                    "-shortest", str(out)], check=True, timeout=300)
    return out


def run(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    started = time.perf_counter()
    clip = make_clip(workdir)
    emu = EmulatedUsenet(workdir, clip, big_gib=args.big_gib, rar_volumes=args.rar_volumes,
                         rar_volume_mib=args.rar_volume_mib, probe_files=args.probe_files,
                         max_connections=MAX_CONNECTIONS)
    gw: GatewayProcess | None = None
    raw: RawReader | None = None
    try:
        note(f"NNTP emulator on {emu.port}: {emu.info}")
        emu.ask("configure", latency=LATENCY, bandwidth=BANDWIDTH)
        gw = GatewayProcess(workdir, emu.port)
        gw.wait_ready()
        pool = int(gw.pools()["bench"]["limit"])
        posted = emu.info["posted"]
        imports = {name: import_job(gw, emu, name, posted[name]) for name in (BIG, RAR, PROBE)}
        peak, rejected = emu.stats()["peak_ever"], 0
        ids = segment_ids(emu.nzb(BIG))
        size = int(args.big_gib * (1 << 30))
        raw = RawReader(emu.raw_port, pool)
        res: dict[str, Any] = {"imports": imports, "pool": pool, "rar_volumes": emu.info["volumes"],
                               "rar_mib": round(args.rar_volumes * args.rar_volume_mib), "seq_mib": args.seq_mib}
        res["latency"] = latency(gw, raw, ids, size, args.reads)
        res["sequential"] = sequential(gw, raw, ids, size, args.seq_mib, args.runs)
        raw.close()
        raw = None
        res["rss"] = rss_per_stream(gw, size, 4, args.seq_mib // 2)
        res["ffprobe"] = ffprobe_passes(gw, emu)
        stats = emu.stats()
        res["peak"], res["rejected"] = max(peak, stats["peak_ever"]), rejected + stats["rejected"]
        res["gateway_health"] = gw.health().get("usenet")
    except BaseException:
        log = workdir / "gateway.log"
        if log.exists():
            print(log.read_text(errors="replace")[-6000:], file=sys.stderr)
        raise
    finally:
        if os.environ.get("BENCH_KEEP_LOG") and (workdir / "gateway.log").exists():
            shutil.copy(workdir / "gateway.log", os.environ["BENCH_KEEP_LOG"])
        if raw is not None:
            raw.close()
        if gw is not None:
            gw.stop()
        emu.stop()
    res["when"] = time.strftime("%Y-%m-%d")
    res["machine"] = (f"{os.cpu_count()} CPUs, {sys.platform}, Python {sys.version.split()[0]}")
    res["run_s"] = round(time.perf_counter() - started, 1)
    return res


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--big-gib", type=float, default=10.0, help="size of the single-file release")
    p.add_argument("--rar-volumes", type=int, default=50)
    p.add_argument("--rar-volume-mib", type=float, default=2.0)
    p.add_argument("--probe-files", type=int, default=50)
    p.add_argument("--seq-mib", type=int, default=256, help="bytes read by each sequential reader")
    p.add_argument("--runs", type=int, default=2, help="sequential rounds (raw, WebDAV, FUSE each); best of them")
    p.add_argument("--reads", type=int, default=15, help="random 4 MiB reads (a third each: WebDAV, FUSE, raw)")
    p.add_argument("--json", action="store_true")
    p.add_argument("--write-docs", action="store_true", help=f"update the section of {DOCS.relative_to(ROOT)}")
    return p.parse_args()


def main() -> int:
    args = parse_args()
    missing = [t for t in ("ffmpeg", "ffprobe", "dd", "curl", "fusermount3") if not shutil.which(t)]
    if missing or not os.path.exists("/dev/fuse"):
        raise SystemExit(f"bench_usenet: needs /dev/fuse and {', '.join(missing) or 'nothing else'}")
    with tempfile.TemporaryDirectory(prefix="bench-usenet-") as tmp:
        res = run(args, Path(tmp))
    body = rows(res)
    if args.json:
        print(json.dumps(res, indent=2))
    else:
        print("\n".join(markdown_table(body)))
        print(f"\nwhole run {res['run_s']} s")
    if args.write_docs:
        write_docs(SECTION, section(res, body))
        note(f"wrote the section in {DOCS.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    threading.current_thread().name = "bench"
    sys.exit(main())
