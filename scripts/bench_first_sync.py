#!/usr/bin/env python3
"""First sync inside the budget: 10,000 torrents, the emulator enforcing 250 calls a minute.

Run from the repository root::

    .venv/bin/python scripts/bench_first_sync.py                 # full run (about 6 minutes)
    .venv/bin/python scripts/bench_first_sync.py --short         # no 300 s point (about 2.5 minutes)
    .venv/bin/python scripts/bench_first_sync.py --write-docs    # also write the section in docs/benchmarks.md

Real time throughout. The emulator (sliding 60 s window, 250 calls per token)
and the gateway (``python -m gateway``, default budget: 250/minute) each run
in their own subprocess. The script counts the torrents visible in
``/webdav/__all__/`` at fixed times, measures the time to first byte of a
stream while the sync uses the whole budget, SIGKILLs the gateway at ~90 s,
restarts it on the same config dir and counts again 5 s later. At the end it
reads the emulator's request log for the busiest 60 s window and the 429s.
Loopback only; progress goes to stderr, figures to stdout.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import hashlib
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import requests
from benchkit import (
    ROOT,
    EmulatorProcess,
    add_output_flags,
    machine,
    make_note,
    markdown_section,
    new_session,
    publish,
    shut_down,
    verdict,
)

SECTION = "## First sync inside the budget (scripts/bench_first_sync.py)"
TOKEN = "bench"
TORRENTS = 10_000
SEED_BATCH = 1000
RATE_LIMIT, RATE_PERIOD = 250, 60.0
API_PREFIX = "/rest/1.0"
POINTS = (15.0, 60.0)
LONG_POINT = 300.0
KILL_AT = 90.0
AFTER_RESTART = 5.0
TTFB_AT = (25.0, 40.0, 55.0, 70.0, 80.0)
TARGET_TTFB_S = 1.0
HTTP_TIMEOUT = (10.0, 60.0)


note = make_note("first-sync")


# ------------------------------------------------------------------ emulator

def make_torrent(i: int) -> dict[str, Any]:
    """1 to 3 small files; distinct added times, one minute apart."""
    name = f"First Sync {i:05d} 1080p"
    files = [{"path": f"{name} part {j + 1}.mkv", "size": 200_000 + 1000 * i + j} for j in range(1 + i % 3)]
    added = dt.datetime(2021, 1, 1, tzinfo=dt.UTC) + dt.timedelta(minutes=i)
    return {"hash": hashlib.sha1(f"first-sync-{i}".encode()).hexdigest(), "name": name, "files": files,
            "added": added.strftime("%Y-%m-%dT%H:%M:%S.000Z")}


def busiest_window(times: list[float], period: float) -> int:
    ordered, best, lo = sorted(times), 0, 0
    for hi, t in enumerate(ordered):
        while t - ordered[lo] >= period:
            lo += 1
        best = max(best, hi - lo + 1)
    return best


# ------------------------------------------------------------------ gateway

def write_config(config_dir: Path, api_url: str) -> None:
    config_dir.mkdir(parents=True, exist_ok=True)
    (config_dir / "config.json").write_text(json.dumps({
        "bind_address": "127.0.0.1", "use_auth": False,
        # rate_limit left unset: the provider's default, 250/minute for Real-Debrid
        "debrids": [{"name": "realdebrid", "api_key": TOKEN, "api_url": api_url,
                     "torrents_refresh_interval": "15s"}]}))


class GatewayProcess:
    def __init__(self, config_dir: Path, stderr_path: Path) -> None:
        self._err = stderr_path.open("ab")
        self.started = time.monotonic()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "gateway", "--config", str(config_dir), "--port", "0"],
            cwd=str(ROOT), stdout=subprocess.PIPE, stderr=self._err, stdin=subprocess.DEVNULL, text=True,
            env={**os.environ, "MALLOC_ARENA_MAX": "2"})
        self.base = self._serving_line()
        self.serving_after = time.monotonic() - self.started
        threading.Thread(target=self._drain, daemon=True).start()

    def _serving_line(self, timeout: float = 30.0) -> str:
        found: list[str] = []

        def read() -> None:
            assert self.proc.stdout is not None
            for line in self.proc.stdout:
                if m := re.search(r"serving on (http://\S+?)/?$", line.strip()):
                    found.append(m.group(1))
                    return
        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        reader.join(timeout)
        if not found:
            raise RuntimeError(f"the gateway printed no serving line within {timeout:.0f}s")
        return found[0]

    def _drain(self) -> None:
        assert self.proc.stdout is not None
        for _ in self.proc.stdout:
            pass

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)
        self._err.close()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        with contextlib.suppress(Exception):
            self._err.close()


HREF = re.compile(r"<D:href>([^<]*)</D:href>")


def hrefs(session: requests.Session, url: str) -> list[str]:
    """Member hrefs of a PROPFIND Depth:1 (the collection itself left out)."""
    r = session.request("PROPFIND", url, headers={"Depth": "1"}, timeout=HTTP_TIMEOUT)
    if r.status_code != 207:
        raise RuntimeError(f"PROPFIND {url}: {r.status_code}")
    return HREF.findall(r.text)[1:]


def visible(session: requests.Session, base: str) -> int:
    return len(hrefs(session, f"{base}/webdav/__all__/"))


def sync_stats(session: requests.Session, base: str) -> dict[str, Any]:
    health = session.get(f"{base}/health", timeout=HTTP_TIMEOUT).json()
    return dict(health.get("providers", {}).get("realdebrid", {}))


def ttfb(session: requests.Session, base: str, k: int) -> float:
    """Seconds from a 64 KiB Range GET on a file never read before to its first byte.

    The k-th measurement reads the first file of the k-th visible torrent, so each
    one needs a fresh unrestrict call, which competes with the sync for the budget.
    """
    folders = hrefs(session, f"{base}/webdav/__all__/")
    if len(folders) <= k:
        raise RuntimeError("not enough torrents visible yet")
    files = [h for h in hrefs(session, base + folders[k]) if not h.endswith("/")]
    url = base + files[0]
    t = time.perf_counter()
    with session.get(url, headers={"Range": "bytes=0-65535"}, stream=True, timeout=HTTP_TIMEOUT) as r:
        first = next(r.iter_content(1), b"")
        elapsed = time.perf_counter() - t
        if r.status_code != 206 or not first:
            raise RuntimeError(f"GET {unquote(url)}: {r.status_code}")
        _ = r.content
    return elapsed


def wait_until_elapsed(gw: GatewayProcess, at: float) -> None:
    time.sleep(max(0.0, at - gw.elapsed()))


# ------------------------------------------------------------------ the run

def first_run(gw: GatewayProcess, session: requests.Session, res: dict[str, Any]) -> None:
    res["serving_after_s"] = round(gw.serving_after, 2)
    res["visible"] = {}
    res["ttfb_s"] = []
    marks = sorted([(p, "count") for p in POINTS] + [(p, "ttfb") for p in TTFB_AT])
    for at, what in marks:
        wait_until_elapsed(gw, at)
        if what == "count":
            res["visible"][int(at)] = visible(session, gw.base)
            note(f"{at:.0f}s: {res['visible'][int(at)]} torrents visible; {sync_stats(session, gw.base)}")
        else:
            res["ttfb_s"].append(round(ttfb(session, gw.base, len(res["ttfb_s"])), 3))
            note(f"{at:.0f}s: time to first byte {res['ttfb_s'][-1]} s")
    wait_until_elapsed(gw, KILL_AT - 1.0)
    res["stats_before_kill"] = sync_stats(session, gw.base)
    res["visible_before_kill"] = visible(session, gw.base)
    res["killed_at_s"] = round(gw.elapsed(), 1)
    gw.kill()
    note(f"SIGKILL at {res['killed_at_s']}s with {res['visible_before_kill']} visible")


def after_restart(gw: GatewayProcess, session: requests.Session, res: dict[str, Any]) -> None:
    res["restart_serving_after_s"] = round(gw.serving_after, 2)
    res["restart_first_count"] = visible(session, gw.base)
    res["restart_first_count_at_s"] = round(gw.elapsed(), 2)
    wait_until_elapsed(gw, AFTER_RESTART)
    res["visible_5s_after_restart"] = visible(session, gw.base)
    note(f"restart: serving after {gw.serving_after:.2f}s, {res['restart_first_count']} visible at once, "
         f"{res['visible_5s_after_restart']} at {AFTER_RESTART:.0f}s")


def run(args: argparse.Namespace) -> dict[str, Any]:
    res: dict[str, Any] = {"torrents": args.torrents}
    emu = EmulatorProcess(TOKEN, timeout=HTTP_TIMEOUT)
    tmp = tempfile.TemporaryDirectory(prefix="bench-first-sync-")
    session = new_session()
    gw: GatewayProcess | None = None
    try:
        emu.wait_ready()
        res["knobs"] = {k: v for k, v in emu.set_knobs(rate_limit=RATE_LIMIT, rate_period=RATE_PERIOD,
                                                        rate_window="sliding").items() if k.startswith("rate_")}
        t = time.perf_counter()
        emu.seed(args.torrents, make_torrent, SEED_BATCH)
        note(f"emulator seeded with {args.torrents} torrents in {time.perf_counter() - t:.1f}s")
        config_dir = Path(tmp.name) / "config"
        write_config(config_dir, emu.origin + API_PREFIX)
        stderr_path = Path(tmp.name) / "gateway.stderr"
        start = time.monotonic()
        gw = GatewayProcess(config_dir, stderr_path)
        first_run(gw, session, res)
        restart_at = time.monotonic()
        gw = GatewayProcess(config_dir, stderr_path)
        after_restart(gw, session, res)
        if not args.short:
            time.sleep(max(0.0, LONG_POINT - (time.monotonic() - start)))
            res["visible"][int(LONG_POINT)] = visible(session, gw.base)
            res["stats_at_300s"] = sync_stats(session, gw.base)
            note(f"{LONG_POINT:.0f}s (restart at {restart_at - start:.0f}s): "
                 f"{res['visible'][int(LONG_POINT)]} visible; {res['stats_at_300s']}")
        entries = emu.log_entries(path_prefix=API_PREFIX)
        res["api_calls"] = len(entries)
        res["busiest_60s"] = busiest_window([float(e["t"]) for e in entries], RATE_PERIOD)
        res["status_429"] = sum(1 for e in entries if e["status"] == 429)
        res["run_s"] = round(time.monotonic() - start, 1)
        return res
    finally:
        if gw is not None:
            gw.stop()
        shut_down(session, emu, tmp)


# ------------------------------------------------------------------ output

def rows(res: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    vis = res["visible"]
    ttfbs = res["ttfb_s"]
    out = [(f"torrents visible in __all__ at {k} s", f"{v:,}", "", "") for k, v in sorted(vis.items())
           if k != int(LONG_POINT)]
    out += [
        (f"time to first byte, 64 KiB Range GET during the sync (median / max of {len(ttfbs)})",
         f"{statistics.median(ttfbs)} / {max(ttfbs)} s", f"< {TARGET_TTFB_S:.0f} s",
         verdict(max(ttfbs) < TARGET_TTFB_S)),
        (f"visible just before SIGKILL (at {res['killed_at_s']} s)", f"{res['visible_before_kill']:,}", "", ""),
        ("restart: serving line after", f"{res['restart_serving_after_s']} s", "", ""),
        ("restart: visible at the first PROPFIND (at)",
         f"{res['restart_first_count']:,} ({res['restart_first_count_at_s']} s)", "", ""),
        (f"restart: visible {AFTER_RESTART:.0f} s after the restart", f"{res['visible_5s_after_restart']:,}",
         ">= visible before the kill",
         verdict(res["visible_5s_after_restart"] >= res["visible_before_kill"])),
    ]
    if int(LONG_POINT) in vis:
        out.append((f"torrents visible at {LONG_POINT:.0f} s (gateway killed and restarted at ~{KILL_AT:.0f} s)",
                    f"{vis[int(LONG_POINT)]:,}", "", ""))
    out += [
        ("API calls seen by the emulator (whole run)", f"{res['api_calls']:,}", "", ""),
        ("busiest 60 s window of API calls", f"{res['busiest_60s']}", f"<= {RATE_LIMIT}",
         verdict(res["busiest_60s"] <= RATE_LIMIT)),
        ("429 answers", f"{res['status_429']}", "0", verdict(res["status_429"] == 0)),
    ]
    return out


def command(args: argparse.Namespace) -> str:
    return ".venv/bin/python scripts/bench_first_sync.py" + (" --short" if args.short else "")


def section(res: dict[str, Any], args: argparse.Namespace) -> str:
    intro = (f"Run on {machine()}. Emulator in a subprocess seeded with {res['torrents']:,} downloaded torrents "
             f"(1-3 small files each, distinct added times) and enforcing {RATE_LIMIT} calls per "
             f"{RATE_PERIOD:.0f} s per token (sliding window); the gateway is `python -m gateway` in its own "
             "subprocess with the default Real-Debrid budget (250/minute) and `torrents_refresh_interval` 15s, "
             f"in real time. Times count from the gateway's start; it is SIGKILLed at ~{KILL_AT:.0f} s and "
             "restarted on the same config dir.")
    footer = f"Reproduce with `{command(args)}` (whole run {res['run_s']} s)."
    return markdown_section(SECTION, intro, rows(res), footer)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="First sync of 10,000 torrents inside a 250/minute budget.")
    p.add_argument("--torrents", type=int, default=TORRENTS)
    p.add_argument("--short", action="store_true", help="skip the 300 s point")
    add_output_flags(p)
    args = p.parse_args(argv)
    res = run(args)
    return publish(res, rows(res), command(args), args, SECTION, lambda: section(res, args), note)


if __name__ == "__main__":
    raise SystemExit(main())
