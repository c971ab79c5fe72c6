#!/usr/bin/env python3
"""Library at scale: 100,000 torrents and 1,000,000 files, no rate limit.

Run from the repository root::

    .venv/bin/python scripts/bench_scale.py                  # 100,000 torrents x 10 files
    .venv/bin/python scripts/bench_scale.py --write-docs     # also write the section in docs/benchmarks.md
    .venv/bin/python scripts/bench_scale.py --torrents 5000  # a quick look

The emulator runs as a subprocess (rate limiting off); the gateway runs in this
process (re-executed with ``MALLOC_ARENA_MAX=2`` as ``scripts/run`` starts it),
so RSS and CPU figures are the gateway's plus this client's. ``rclone serve
webdav`` serves a local tree of sparse files with the same per-folder shape for
the side-by-side one-folder listing. Loopback only; progress on stderr.
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
import os
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
    ROOT,
    EmulatorProcess,
    add_output_flags,
    end_process,
    free_port,
    machine,
    make_note,
    markdown_section,
    new_session,
    publish,
    reexec_with_malloc_arena_max,
    release_cheroot_stats,
    rss_mb,
    shut_down,
    verdict,
)
from scale_cli import compare_folder

sys.path.insert(0, str(ROOT))

from gateway.app import Gateway, build  # noqa: E402
from gateway.config import Config, parse_config  # noqa: E402
from gateway.imports.records import AddRequest  # noqa: E402
from gateway.library.groups import ALL  # noqa: E402
from gateway.library.snapshot import DirNode  # noqa: E402
from gateway.models import Torrent  # noqa: E402
from gateway.server import tune_interpreter  # noqa: E402

SECTION = "## Library at scale (scripts/bench_scale.py)"
TOKEN = "bench"
SEED_BATCH = 1000
HTTP_TIMEOUT = (10.0, 300.0)
SYNC_TIMEOUT = 540.0
ALL_RUNS = 20
FOLDER_RUNS = 200
CHANGES_DURING = 300
SWAP_RUNS = 20
IDLE_SECONDS = 60.0
IMPORT_RECORDS = 10_000
INFO_RUNS = 10
TARGETS = {"rss_mb": 1024.0, "restart_s": 5.0, "all_first_s": 3.0, "all_median_ms": 300.0,
           "folder_ratio": 1.0, "swap_ms": 50.0, "idle_cpu_pct": 5.0}


note = make_note("scale")


def cpu_seconds() -> float:
    """User + system CPU of this process (all threads), from /proc/self/stat."""
    with open("/proc/self/stat", encoding="ascii") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def ms(seconds: float) -> float:
    return round(seconds * 1000.0, 1)


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(0.95 * (len(ordered) - 1))))]


# ------------------------------------------------------------------ emulator

def file_name(j: int) -> str:
    return f"Episode {j + 1:02d} 1080p.mkv"


def make_torrent(i: int, per: int) -> dict[str, Any]:
    name = f"Scale Show {i:06d} S01 1080p WEB-DL"
    files = [{"path": file_name(j), "size": 100_000_000 + 1000 * i + j} for j in range(per)]
    added = dt.datetime(2019, 1, 1, tzinfo=dt.UTC) + dt.timedelta(minutes=i)
    return {"hash": hashlib.sha1(f"scale-{i}".encode()).hexdigest(), "name": name, "files": files,
            "added": added.strftime("%Y-%m-%dT%H:%M:%S.000Z")}


# ------------------------------------------------------------------ rclone

def make_tree(root: Path, folders: int, per: int) -> float:
    """``folders`` dirs of ``per`` sparse files shaped like the gateway's torrent folders; seconds taken."""
    t = time.perf_counter()
    for i in range(folders):
        d = root / make_torrent(i, per)["name"]
        d.mkdir(parents=True)
        for j in range(per):
            with open(d / file_name(j), "wb") as fh:
                os.truncate(fh.fileno(), 100_000_000 + 1000 * i + j)
    return time.perf_counter() - t


class Rclone:
    def __init__(self, root: Path) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen(
            ["rclone", "serve", "webdav", "--addr", f"127.0.0.1:{self.port}", str(root)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)

    def wait_ready(self, session: requests.Session, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with contextlib.suppress(requests.RequestException):
                if session.request("PROPFIND", self.base + "/", headers={"Depth": "0"}, timeout=2).ok:
                    return
            time.sleep(0.1)
        raise RuntimeError("rclone serve webdav not ready")

    def stop(self) -> None:
        end_process(self.proc, 10)


# ------------------------------------------------------------------ gateway

def gateway_config(api_url: str, config_dir: str, mount_path: str = "") -> Config:
    raw: dict[str, Any] = {
        "bind_address": "127.0.0.1", "port": 0, "use_auth": False,
        "debrids": [{"name": "realdebrid", "api_key": TOKEN, "api_url": api_url,
                     "rate_limit": "off", "torrents_refresh_interval": "15s"}]}
    if mount_path:
        raw["mount"] = {"type": "fuse", "mount_path": mount_path}
    return parse_config(raw, config_dir)


def stop_gateway(gw: Gateway) -> None:
    gw.stop()
    release_cheroot_stats()
    gc.collect()


def propfind(session: requests.Session, url: str) -> tuple[float, int]:
    """Seconds for a PROPFIND Depth:1 (body read) and its member count."""
    t = time.perf_counter()
    r = session.request("PROPFIND", url, headers={"Depth": "1"}, timeout=HTTP_TIMEOUT)
    body = r.content
    elapsed = time.perf_counter() - t
    if r.status_code != 207:
        raise RuntimeError(f"PROPFIND {url}: {r.status_code}")
    return elapsed, body.count(b"<D:response>") + body.count(b"<d:response>") - 1


def health(session: requests.Session, base: str) -> dict[str, Any]:
    return dict(session.get(base + "/health", timeout=HTTP_TIMEOUT).json())


def first_sync(gw: Gateway, session: requests.Session, n: int, started: float) -> float:
    """Seconds from build until /health shows every torrent listed, detailed and in the tree."""
    base = f"http://127.0.0.1:{gw.port}"
    deadline = started + SYNC_TIMEOUT
    while time.perf_counter() < deadline:
        h = health(session, base)
        rd = h["providers"]["realdebrid"]
        if rd["listed"] == n and rd["pending"] == 0 and h["torrents"] == n:
            return time.perf_counter() - started
        time.sleep(0.5)
    raise RuntimeError(f"sync not done after {SYNC_TIMEOUT:.0f}s: {health(session, base)}")


def clone(t: Torrent, i: int) -> Torrent:
    """A new torrent shaped like ``t`` (a new key, a new folder)."""
    return dataclasses.replace(t, id=f"BENCH{i:06d}", infohash=hashlib.sha1(f"clone-{i}".encode()).hexdigest(),
                               name=f"Bench Clone {i:06d}", original_name=f"Bench Clone {i:06d}",
                               added=t.added + 1e8 + i)


# ------------------------------------------------------------------ phases

def phase_restart_process(config: Config, session: requests.Session, n: int, res: dict[str, Any]) -> None:
    """What a user's restart costs: a new ``python -m gateway`` on the warm store, from spawn
    until a PROPFIND of ``__all__`` answers with every member."""
    port = free_port()
    raw = {"bind_address": "127.0.0.1", "port": port, "use_auth": False,
           "debrids": [{"name": "realdebrid", "api_key": TOKEN, "api_url": config.debrids[0].api_url,
                        "rate_limit": "off", "torrents_refresh_interval": "15s"}]}
    Path(config.config_dir, "config.json").write_text(json.dumps(raw))
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "gateway", "--config", config.config_dir],
                            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env={**os.environ, "MALLOC_ARENA_MAX": "2"})
    try:
        while True:   # serving: the first answer, from the whole tree (built before the port opens)
            with contextlib.suppress(requests.ConnectionError):
                if session.get(f"http://127.0.0.1:{port}/health", timeout=HTTP_TIMEOUT).ok:
                    break
            if time.perf_counter() - t0 > 60 or proc.poll() is not None:
                raise RuntimeError("the restarted gateway did not serve")
            time.sleep(0.02)
        res["restart_process_serving_s"] = round(time.perf_counter() - t0, 2)
        elapsed, count = propfind(session, f"http://127.0.0.1:{port}/webdav/{ALL}/")
        res["restart_process_s"] = round(time.perf_counter() - t0, 2)
        res["restart_process_listing_s"] = round(elapsed, 2)
        if count != n:
            raise RuntimeError(f"restart: {count} members in {ALL}, expected {n}")
        note(f"restart in a new process to a {n}-member listing: {res['restart_process_s']} s "
             f"(the listing itself {res['restart_process_listing_s']} s)")
    finally:
        end_process(proc, 30)


def phase_restart(config: Config, session: requests.Session, n: int, res: dict[str, Any]) -> Gateway:
    t0 = time.perf_counter()
    gw = build(config).start()
    t_built = time.perf_counter()
    all_url = f"http://127.0.0.1:{gw.port}/webdav/{ALL}/"
    elapsed, count = propfind(session, all_url)
    res["restart_s"] = round(time.perf_counter() - t0, 2)
    res["restart_build_s"] = round(t_built - t0, 2)
    res["all_first_s"] = round(elapsed, 2)
    if count != n:
        raise RuntimeError(f"restart: {count} members in {ALL}, expected {n}")
    note(f"restart to a {n}-member listing: {res['restart_s']} s (build+start {res['restart_build_s']} s)")
    return gw


def phase_all_listing(gw: Gateway, session: requests.Session, n: int, res: dict[str, Any]) -> None:
    all_url = f"http://127.0.0.1:{gw.port}/webdav/{ALL}/"
    snap = gw.library.snapshot()
    one = next(iter(snap.torrents.values()))
    gw.library.add_or_update(dataclasses.replace(one, ended=one.ended + 1))   # a new generation
    elapsed, count = propfind(session, all_url)
    res["all_after_change_s"] = round(elapsed, 2)
    runs = [propfind(session, all_url)[0] for _ in range(ALL_RUNS)]
    res["all_median_ms"] = ms(statistics.median(runs))
    res["all_p95_ms"] = ms(p95(runs))
    note(f"{ALL}: after a change {res['all_after_change_s']} s, median {res['all_median_ms']} ms")


def folder_of(gw: Gateway) -> str:
    group = gw.library.snapshot().root.children[ALL]
    assert isinstance(group, DirNode)
    return next(name for name in group.children if name.startswith("Scale Show 000001"))


def phase_folder(gw: Gateway, rclone: Rclone, session: requests.Session, res: dict[str, Any]) -> None:
    folder = folder_of(gw)
    gw_url = f"http://127.0.0.1:{gw.port}/webdav/{ALL}/{quote(folder)}/"
    rc_url = f"{rclone.base}/{quote(make_torrent(1, res['files_per_torrent'])['name'])}/"
    res.update(compare_folder(session, gw_url, rc_url, FOLDER_RUNS, propfind))
    busy = folder_while_changing(gw, session, gw_url)
    res.update(busy)
    res["folder_busy_ratio"] = round(res["folder_busy_ms"] / res["folder_rclone_ms"], 2)
    note(f"folder: gateway {res['folder_gw_ms']} ms, rclone {res['folder_rclone_ms']} ms, "
         f"while changing {res['folder_busy_ms']} ms ({res['changes_during']} changes)")


def folder_while_changing(gw: Gateway, session: requests.Session, url: str) -> dict[str, Any]:
    """The one-folder PROPFIND while another thread adds torrents to the library one by one."""
    base = next(iter(gw.library.snapshot().torrents.values()))
    done = threading.Event()
    applied = [0]

    def changer() -> None:
        for i in range(CHANGES_DURING):
            gw.library.add_or_update(clone(base, i))
            applied[0] += 1
        done.set()

    gen0 = gw.library.snapshot().generation
    thread = threading.Thread(target=changer, daemon=True)
    thread.start()
    runs: list[float] = []
    while not done.is_set() or len(runs) < FOLDER_RUNS:
        runs.append(propfind(session, url)[0])
    thread.join()
    return {"folder_busy_ms": ms(statistics.median(runs)), "folder_busy_p95_ms": ms(p95(runs)),
            "folder_busy_runs": len(runs), "changes_during": applied[0],
            "generations_during": gw.library.snapshot().generation - gen0}


def phase_swap(gw: Gateway, res: dict[str, Any]) -> None:
    base = next(iter(gw.library.snapshot().torrents.values()))
    runs = []
    for i in range(SWAP_RUNS):
        t = time.perf_counter()
        gw.library.add_or_update(clone(base, CHANGES_DURING + i))
        runs.append(time.perf_counter() - t)
    res["swap_median_ms"] = ms(statistics.median(runs))
    res["swap_max_ms"] = ms(max(runs))
    res["torrents_at_swap"] = len(gw.library.snapshot().torrents)
    note(f"one change: median {res['swap_median_ms']} ms, max {res['swap_max_ms']} ms")


def phase_idle(res: dict[str, Any]) -> None:
    gc.collect()
    c0, t0 = cpu_seconds(), time.monotonic()
    time.sleep(IDLE_SECONDS)
    used, wall = cpu_seconds() - c0, time.monotonic() - t0
    res["idle_cpu_pct"] = round(100.0 * used / wall, 2)
    res["idle_cpu_s"] = round(used, 2)
    note(f"idle: {res['idle_cpu_pct']} % of a core over {wall:.0f} s")


def fuse_skip_reason() -> str:
    if os.geteuid() != 0:
        return "not root"
    if not os.path.exists("/dev/fuse"):
        return "no /dev/fuse"
    if not shutil.which("fusermount3"):
        return "no fusermount3"
    return ""


def phase_fuse(gw: Gateway, mnt: str, n: int, res: dict[str, Any]) -> None:
    path = os.path.join(mnt, ALL)
    t = time.perf_counter()
    first = os.listdir(path)
    res["fuse_first_s"] = round(time.perf_counter() - t, 2)
    t = time.perf_counter()
    os.listdir(path)
    res["fuse_second_s"] = round(time.perf_counter() - t, 2)
    res["fuse_entries"] = len(first)
    note(f"FUSE readdir of {ALL}: {len(first)} entries, {res['fuse_first_s']} s then {res['fuse_second_s']} s")


def phase_qbit(gw: Gateway, session: requests.Session, res: dict[str, Any]) -> None:
    t = time.perf_counter()
    for i in range(IMPORT_RECORDS):
        h = hashlib.sha1(f"bench-{i}".encode()).hexdigest()
        gw.imports.add(AddRequest(magnet=f"magnet:?xt=urn:btih:{h}&dn=Show.S01E{i:05d}", category="sonarr"))
    res["qbit_fill_s"] = round(time.perf_counter() - t, 1)
    api = f"http://127.0.0.1:{gw.port}/api/v2"
    session.post(f"{api}/auth/login", data={"username": "admin", "password": "x"}, timeout=10)
    runs = []
    for _ in range(INFO_RUNS):
        t = time.perf_counter()
        items = session.get(f"{api}/torrents/info", params={"category": "sonarr"}, timeout=HTTP_TIMEOUT).json()
        runs.append(time.perf_counter() - t)
        if len(items) != IMPORT_RECORDS:
            raise RuntimeError(f"torrents/info listed {len(items)} records, expected {IMPORT_RECORDS}")
    res["qbit_info_median_ms"] = ms(statistics.median(runs))
    res["qbit_info_max_ms"] = ms(max(runs))
    note(f"torrents/info with {IMPORT_RECORDS} records: median {res['qbit_info_median_ms']} ms")


# ------------------------------------------------------------------ the run

def run(args: argparse.Namespace) -> dict[str, Any]:
    n, per = args.torrents, args.files_per_torrent
    res: dict[str, Any] = {"torrents": n, "files_per_torrent": per, "files": n * per}
    emu = EmulatorProcess(TOKEN, "--no-rate-limit", timeout=HTTP_TIMEOUT)
    tmp = tempfile.TemporaryDirectory(prefix="bench-scale-")
    session = new_session()
    gw: Gateway | None = None
    rclone: Rclone | None = None
    try:
        emu.wait_ready()
        t = time.perf_counter()
        emu.seed(n, lambda i: make_torrent(i, per), SEED_BATCH)
        res["seed_s"] = round(time.perf_counter() - t, 1)
        note(f"emulator seeded with {n} x {per} in {res['seed_s']} s")
        tree = Path(tmp.name) / "tree"
        res["rclone_folders"] = min(n, args.rclone_folders)
        res["tree_s"] = round(make_tree(tree, res["rclone_folders"], per), 1)
        note(f"local tree of {res['rclone_folders']} x {per} sparse files in {res['tree_s']} s")
        config = gateway_config(emu.origin + "/rest/1.0", os.path.join(tmp.name, "config"))

        tune_interpreter()   # as the CLI does for the serving process
        started = time.perf_counter()
        gw = build(config).start()
        res["first_sync_s"] = round(first_sync(gw, session, n, started), 1)
        gc.collect()
        res["rss_after_sync_mb"] = rss_mb()
        note(f"first sync {res['first_sync_s']} s, RSS {res['rss_after_sync_mb']} MB")
        stop_gateway(gw)
        gw = None
        res["rss_after_stop_mb"] = rss_mb()

        phase_restart_process(config, session, n, res)
        gw = phase_restart(config, session, n, res)
        res["rss_after_restart_mb"] = rss_mb()
        phase_all_listing(gw, session, n, res)
        rclone = Rclone(tree)
        rclone.wait_ready(session)
        phase_folder(gw, rclone, session, res)
        phase_swap(gw, res)
        phase_idle(res)
        res["rss_end_mb"] = rss_mb()
        stop_gateway(gw)
        gw = None

        reason = fuse_skip_reason()
        mnt = os.path.join(tmp.name, "mnt")
        os.makedirs(mnt)
        gw = build(gateway_config(emu.origin + "/rest/1.0", config.config_dir, mnt if not reason else "")
                   ).start(workers=False)
        if reason:
            res["fuse_skipped"] = reason
            note(f"FUSE readdir skipped: {reason}")
        else:
            phase_fuse(gw, mnt, n, res)
        phase_qbit(gw, session, res)
        return res
    finally:
        if gw is not None:
            with contextlib.suppress(Exception):
                gw.stop()
        if rclone is not None:
            rclone.stop()
        shut_down(session, emu, tmp)


# ------------------------------------------------------------------ output

def rows(res: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    tg = TARGETS
    n = f"{res['torrents']:,}"
    out = [
        (f"first sync of {n} torrents ({res['files']:,} files), until /health shows all listed and in the tree",
         f"{res['first_sync_s']} s", "", ""),
        ("RSS of the bench process after the sync (gateway + client)", f"{res['rss_after_sync_mb']} MB",
         f"< {tg['rss_mb']:.0f} MB", verdict(res["rss_after_sync_mb"] < tg["rss_mb"])),
        ("  RSS after stopping that gateway / after the restart / at the end",
         f"{res['rss_after_stop_mb']} / {res['rss_after_restart_mb']} / {res['rss_end_mb']} MB", "", ""),
        ("restart to serving (warm store), a new process: spawn until the first answer (/health)",
         f"{res['restart_process_serving_s']} s", f"< {tg['restart_s']:.0f} s",
         verdict(res["restart_process_serving_s"] < tg["restart_s"])),
        (f"  then until a PROPFIND D:1 of {ALL} has answered all {n} members",
         f"{res['restart_process_s']} s (the listing {res['restart_process_listing_s']} s)", "", ""),
        ("  the same in the benchmark process, after stopping the first gateway",
         f"{res['restart_s']} s (build+start {res['restart_build_s']} s)", "", ""),
        (f"PROPFIND D:1 {ALL}, first render (after the restart)", f"{res['all_first_s']} s",
         f"< {tg['all_first_s']:.0f} s", verdict(res["all_first_s"] < tg["all_first_s"])),
        (f"PROPFIND D:1 {ALL}, first render after one change", f"{res['all_after_change_s']} s",
         f"< {tg['all_first_s']:.0f} s", verdict(res["all_after_change_s"] < tg["all_first_s"])),
        (f"PROPFIND D:1 {ALL}, median / p95 of {ALL_RUNS}", f"{res['all_median_ms']} / {res['all_p95_ms']} ms",
         f"< {tg['all_median_ms']:.0f} ms", verdict(res["all_median_ms"] < tg["all_median_ms"])),
        (f"PROPFIND D:1 one torrent folder, median of {res['folder_runs']} (requests): gateway / rclone serve webdav",
         f"{res['folder_gw_ms']} / {res['folder_rclone_ms']} ms", "", ""),
        ("  ratio gateway / rclone", f"{res['folder_ratio']}", f"<= {tg['folder_ratio']}",
         verdict(res["folder_ratio"] <= tg["folder_ratio"])),
        (f"  the same through a lean client (raw socket), median of {res['folder_lean_runs']}: gateway / rclone",
         f"{res['folder_lean_gw_ms']} / {res['folder_lean_rclone_ms']} ms", "", ""),
        ("  ratio gateway / rclone (lean client)", f"{res['folder_lean_ratio']}", f"<= {tg['folder_ratio']}",
         verdict(res["folder_lean_ratio"] <= tg["folder_ratio"])),
        (f"  gateway while {res['changes_during']} torrents are added one by one "
         f"({res['folder_busy_runs']} runs), median / p95",
         f"{res['folder_busy_ms']} / {res['folder_busy_p95_ms']} ms", "", ""),
        ("  ratio gateway (while changing) / rclone", f"{res['folder_busy_ratio']}", f"<= {tg['folder_ratio']}",
         verdict(res["folder_busy_ratio"] <= tg["folder_ratio"])),
        (f"swap in one change (`library.add_or_update`) at {res['torrents_at_swap']:,} torrents, "
         f"median / max of {SWAP_RUNS}", f"{res['swap_median_ms']} / {res['swap_max_ms']} ms",
         f"< {tg['swap_ms']:.0f} ms", verdict(res["swap_median_ms"] < tg["swap_ms"])),
        (f"idle CPU over {IDLE_SECONDS:.0f} s (refresh every 15 s)", f"{res['idle_cpu_pct']} % of a core",
         f"< {tg['idle_cpu_pct']:.0f} %", verdict(res["idle_cpu_pct"] < tg["idle_cpu_pct"])),
    ]
    if "fuse_skipped" in res:
        out.append((f"FUSE readdir of {ALL}", f"skipped: {res['fuse_skipped']}", "", ""))
    else:
        out.append((f"FUSE readdir of {ALL} ({res['fuse_entries']:,} entries), first / second",
                    f"{res['fuse_first_s']} / {res['fuse_second_s']} s", "", ""))
    out.append((f"torrents/info?category= with {IMPORT_RECORDS:,} records, median / max of {INFO_RUNS}",
                f"{res['qbit_info_median_ms']} / {res['qbit_info_max_ms']} ms", "", ""))
    return out


def command(args: argparse.Namespace) -> str:
    extra = "" if args.torrents == 100_000 and args.files_per_torrent == 10 else \
        f" --torrents {args.torrents} --files-per-torrent {args.files_per_torrent}"
    return f".venv/bin/python scripts/bench_scale.py{extra}"


def section(res: dict[str, Any], args: argparse.Namespace) -> str:
    intro = (f"Run on {machine()}. Emulator in a subprocess (rate limiting off) seeded with {res['torrents']:,} "
             f"torrents x {res['files_per_torrent']} files in {res['seed_s']} s; the gateway in the benchmark "
             "process (`MALLOC_ARENA_MAX=2`, `rate_limit` off, `torrents_refresh_interval` 15s). rclone "
             f"serves a local tree of {res['rclone_folders']:,} folders x {res['files_per_torrent']} sparse "
             f"files of the same per-folder shape, created in {res['tree_s']} s. The restart row starts the "
             "workers too, so the sync's first full listing runs alongside the first PROPFIND.")
    footer = (f"Reproduce with `{command(args)}` (whole run {res['run_s']} s; root, fuse3 and rclone "
              "for every row).")
    return markdown_section(SECTION, intro, rows(res), footer)


def main_console(args: argparse.Namespace) -> int:
    """``--console-script``: the ``decypharr`` entry point in its own process (scripts/scale_cli.py)."""
    from scale_cli import run_console
    res = run_console(args.torrents, args.files_per_torrent, args.rclone_folders, args.code, FOLDER_RUNS,
                      args.sync_timeout, make_torrent, make_tree, propfind, Rclone, note)
    res["machine"] = machine()
    print(json.dumps(res, indent=2))
    return 0


def main(argv: list[str] | None = None) -> int:
    if "--console-script" not in (sys.argv[1:] if argv is None else argv):
        reexec_with_malloc_arena_max()   # measure the gateway as scripts/run starts it
    p = argparse.ArgumentParser(description="The library at 100,000 torrents and 1,000,000 files.")
    p.add_argument("--torrents", type=int, default=100_000)
    p.add_argument("--files-per-torrent", type=int, default=10)
    p.add_argument("--rclone-folders", type=int, default=100_000,
                   help="folders in rclone's local tree (default 100000, capped at --torrents)")
    p.add_argument("--console-script", action="store_true",
                   help="start the gateway through the venv's decypharr script, without MALLOC_ARENA_MAX, "
                        "and report its RSS after the first sync and the one-folder PROPFIND (JSON)")
    p.add_argument("--sync-timeout", type=float, default=SYNC_TIMEOUT,
                   help="seconds the first sync may take (a shared machine may need more)")
    p.add_argument("--code", default="", help="with --console-script: a source tree put first on its PYTHONPATH")
    add_output_flags(p)
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    if args.console_script:
        return main_console(args)
    started = time.perf_counter()
    res = run(args)
    res["run_s"] = round(time.perf_counter() - started, 1)
    return publish(res, rows(res), command(args), args, SECTION, lambda: section(res, args), note)


if __name__ == "__main__":
    raise SystemExit(main())
