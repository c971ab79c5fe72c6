#!/usr/bin/env python3
"""rclone flags for a mount of our WebDAV: what each choice costs, measured.

Run from the repository root (needs rclone and /dev/fuse)::

    .venv/bin/python scripts/bench_rclone.py [--mib 64]

For each flag set, a fresh ``rclone mount`` of the gateway's WebDAV (emulator in a
subprocess, gateway here, loopback) and:

1. ``--vfs-read-chunk-size``: a sequential read of a cold ``--mib`` MiB file (MB/s, WebDAV GETs
   rclone sent), then 20 scattered 64 KiB reads of another cold file, as a media scanner
   probes (median ms per read, MiB the gateway fetched upstream for them);
2. ``--vfs-cache-mode``: the same 16 MiB read twice (MiB fetched upstream by both passes);
3. ``--dir-cache-time``: 50 listings of ``__all__`` over 5 s (PROPFINDs rclone sent), and
   whether a torrent added after the first listing shows within 5 s with ``rclone_rc`` set.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from benchkit import ROOT, EmulatorProcess, free_port, make_note

sys.path.insert(0, str(ROOT))

from gateway.app import Gateway, build  # noqa: E402
from gateway.config import parse_config  # noqa: E402

TOKEN = "bench-rclone"
MiB = 1 << 20
note = make_note("bench-rclone")


class Counting:
    """WSGI middleware counting requests by method (what rclone sends us)."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.counts: dict[str, int] = {}

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        method = environ.get("REQUEST_METHOD", "")
        self.counts[method] = self.counts.get(method, 0) + 1
        return self.app(environ, start_response)


def start_gateway(emu: EmulatorProcess, workdir: Path, rc_port: int) -> tuple[Gateway, Counting]:
    raw = {"bind_address": "127.0.0.1", "port": 0, "use_auth": False,
           "debrids": [{"name": "realdebrid", "api_key": TOKEN, "api_url": emu.origin + "/rest/1.0",
                        "rate_limit": "off", "torrents_refresh_interval": "1h"}],
           "rclone_rc": {"url": f"http://127.0.0.1:{rc_port}"}}
    gw = build(parse_config(raw, str(workdir / "config")))
    counting = Counting(gw.apps["/webdav"])
    gw.apps["/webdav"] = counting
    gw.start(workers=False)
    gw.refresh_now()
    return gw, counting


@contextmanager
def mount(url: str, mnt: Path, rc_port: int, *flags: str) -> Iterator[None]:
    mnt.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "RCLONE_CONFIG_GW_TYPE": "webdav", "RCLONE_CONFIG_GW_URL": url,
           "RCLONE_CONFIG_GW_VENDOR": "other", "RCLONE_CONFIG": "/dev/null"}
    cache = tempfile.mkdtemp(prefix="rclone-cache-")
    proc = subprocess.Popen(["rclone", "mount", "gw:", str(mnt), "--read-only", "--poll-interval", "0",
                             "--cache-dir", cache, "--rc", "--rc-addr", f"127.0.0.1:{rc_port}", "--rc-no-auth",
                             *flags], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 20
        while not os.path.ismount(mnt):
            if time.monotonic() > deadline or proc.poll() is not None:
                raise RuntimeError("rclone mount did not come up")
            time.sleep(0.05)   # polling a subprocess that is starting
        yield
    finally:
        subprocess.run(["fusermount3", "-u", str(mnt)], capture_output=True)
        proc.terminate()
        proc.wait(10)
        shutil.rmtree(cache, ignore_errors=True)


def fetched(gw: Gateway) -> int:
    return gw.streamer.counters.upstream_bytes


def chunk_size_run(gw: Gateway, counting: Counting, mnt: Path, size: int, chunk: str) -> dict[str, Any]:
    counting.counts.clear()
    start = time.monotonic()
    with open(mnt / "__all__" / "Bench" / f"seq {chunk}.bin", "rb") as handle:
        while handle.read(4 * MiB):
            pass
    seconds = time.monotonic() - start
    gets = counting.counts.get("GET", 0)
    before = fetched(gw)
    times = []
    with open(mnt / "__all__" / "Bench" / f"probe {chunk}.bin", "rb") as handle:
        for i in range(20):
            at = time.monotonic()
            handle.seek((size - 64 * 1024) * i // 19)
            handle.read(64 * 1024)
            times.append((time.monotonic() - at) * 1000)
    return {"flag": f"--vfs-read-chunk-size {chunk}", "seq_mb_s": round(size / seconds / 1e6, 1), "seq_gets": gets,
            "probe_ms_median": round(statistics.median(times), 1),
            "probe_upstream_mib": round((fetched(gw) - before) / MiB, 1)}


def cache_mode_run(gw: Gateway, mnt: Path, mode: str) -> dict[str, Any]:
    before = fetched(gw)
    for _ in range(2):
        with open(mnt / "__all__" / "Bench" / f"twice {mode}.bin", "rb") as handle:
            while handle.read(4 * MiB):
                pass
    return {"flag": f"--vfs-cache-mode {mode}", "two_passes_upstream_mib": round((fetched(gw) - before) / MiB, 1)}


def dir_cache_run(gw: Gateway, counting: Counting, emu: EmulatorProcess, mnt: Path, ttl: str,
                  label: str) -> dict[str, Any]:
    counting.counts.clear()
    os.listdir(mnt / "__all__")
    end = time.monotonic() + 5
    listings = 0
    while listings < 50 and time.monotonic() < end:
        os.listdir(mnt / "__all__")
        listings += 1
        time.sleep(0.1)   # a scanner's pace: 50 listings over 5 s
    propfinds = counting.counts.get("PROPFIND", 0)
    # A new torrent after the listing was cached: shown through rclone_rc within 5 s?
    emu.seed(1, lambda _: {"hash": f"{hash(label) & (16 ** 40 - 1):040x}", "name": label,
                           "added": "2024-06-01T00:00:00.000Z", "files": [{"path": "a.mkv", "size": 1000}]}, 1)
    added = time.monotonic()
    gw.refresh_now()
    seen = None
    while time.monotonic() - added < 5:
        if label in os.listdir(mnt / "__all__"):
            seen = round(time.monotonic() - added, 2)
            break
        time.sleep(0.05)   # polling the mount, bounded by 5 s
    return {"flag": f"--dir-cache-time {ttl}", "listings": listings + 1, "propfinds": propfinds,
            "new_torrent_seen_after_s": seen}


def run(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    size = args.mib * MiB
    chunks = ("8M", "32M", "128M")
    modes = ("off", "full")
    files = [{"path": f"seq {c}.bin", "size": size} for c in chunks] + \
        [{"path": f"probe {c}.bin", "size": size} for c in chunks] + \
        [{"path": f"twice {m}.bin", "size": 16 * MiB} for m in modes]
    emu = EmulatorProcess(TOKEN, "--no-rate-limit")
    gw: Gateway | None = None
    try:
        emu.wait_ready()
        emu.seed(1, lambda _: {"hash": f"{7:040x}", "name": "Bench", "added": "2024-05-01T00:00:00.000Z",
                               "files": files}, 1)
        rc_port = free_port()
        gw, counting = start_gateway(emu, workdir, rc_port)
        url = f"http://127.0.0.1:{gw.port}/webdav"
        out: dict[str, Any] = {"chunk": [], "cache": [], "dircache": []}
        for chunk in chunks:
            with mount(url, workdir / "mnt", rc_port, "--vfs-cache-mode", "off", "--vfs-read-chunk-size", chunk):
                out["chunk"].append(chunk_size_run(gw, counting, workdir / "mnt", size, chunk))
                note(str(out["chunk"][-1]))
        for mode in modes:
            with mount(url, workdir / "mnt", rc_port, "--vfs-cache-mode", mode, "--vfs-read-chunk-size", "32M"):
                out["cache"].append(cache_mode_run(gw, workdir / "mnt", mode))
                note(str(out["cache"][-1]))
        for ttl in ("1s", "1h"):
            with mount(url, workdir / "mnt", rc_port, "--vfs-cache-mode", "off", "--dir-cache-time", ttl):
                out["dircache"].append(dir_cache_run(gw, counting, emu, workdir / "mnt", ttl, f"New Torrent {ttl}"))
                note(str(out["dircache"][-1]))
        return out
    finally:
        if gw is not None:
            gw.stop()
        emu.stop()


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--mib", type=int, default=64, help="size of each sequential / probed file")
    args = p.parse_args()
    if not shutil.which("rclone") or not os.path.exists("/dev/fuse"):
        raise SystemExit("bench_rclone: needs rclone and /dev/fuse")
    with tempfile.TemporaryDirectory(prefix="bench-rclone-") as tmp:
        result = run(args, Path(tmp))
    for group in result.values():
        for row in group:
            print("  ".join(f"{k}={v}" for k, v in row.items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
