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
import platform
import re
import signal
import socket
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

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs" / "benchmarks.md"
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


def note(msg: str) -> None:
    print(f"[first-sync {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def new_session() -> requests.Session:
    session = requests.Session()
    session.trust_env = False   # loopback only
    return session


# ------------------------------------------------------------------ emulator

def make_torrent(i: int) -> dict[str, Any]:
    """1 to 3 small files; distinct added times, one minute apart."""
    name = f"First Sync {i:05d} 1080p"
    files = [{"path": f"{name} part {j + 1}.mkv", "size": 200_000 + 1000 * i + j} for j in range(1 + i % 3)]
    added = dt.datetime(2021, 1, 1, tzinfo=dt.UTC) + dt.timedelta(minutes=i)
    return {"hash": hashlib.sha1(f"first-sync-{i}".encode()).hexdigest(), "name": name, "files": files,
            "added": added.strftime("%Y-%m-%dT%H:%M:%S.000Z")}


class Emulator:
    def __init__(self) -> None:
        self.port = free_port()
        self.origin = f"http://127.0.0.1:{self.port}"
        self._out = tempfile.TemporaryFile()  # noqa: SIM115 -- closed in stop()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "gateway.emulators", "--port", str(self.port), "--token", TOKEN],
            cwd=str(ROOT), stdout=self._out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        self.session = new_session()

    def wait_ready(self, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"emulator exited with {self.proc.returncode}")
            with contextlib.suppress(requests.RequestException):
                if self.session.get(self.origin + "/__emu/state", timeout=1.0).status_code == 200:
                    return
            time.sleep(0.05)
        raise RuntimeError("emulator not ready")

    def set_knobs(self, **knobs: Any) -> dict[str, Any]:
        r = self.session.post(self.origin + "/__emu/knobs", json=knobs, timeout=HTTP_TIMEOUT)
        r.raise_for_status()
        return dict(r.json())

    def seed(self, count: int) -> None:
        for start in range(0, count, SEED_BATCH):
            batch = [make_torrent(i) for i in range(start, min(count, start + SEED_BATCH))]
            r = self.session.post(self.origin + "/__emu/library", json={"token": TOKEN, "torrents": batch},
                                  timeout=HTTP_TIMEOUT)
            r.raise_for_status()

    def api_log(self) -> list[dict[str, Any]]:
        r = self.session.get(self.origin + "/__emu/log", params={"path_prefix": API_PREFIX}, timeout=HTTP_TIMEOUT)
        r.raise_for_status()
        return list(r.json()["entries"])

    def stop(self) -> None:
        self.session.close()
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self._out.close()


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
    emu = Emulator()
    tmp = tempfile.TemporaryDirectory(prefix="bench-first-sync-")
    session = new_session()
    gw: GatewayProcess | None = None
    try:
        emu.wait_ready()
        res["knobs"] = {k: v for k, v in emu.set_knobs(rate_limit=RATE_LIMIT, rate_period=RATE_PERIOD,
                                                        rate_window="sliding").items() if k.startswith("rate_")}
        t = time.perf_counter()
        emu.seed(args.torrents)
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
        entries = emu.api_log()
        res["api_calls"] = len(entries)
        res["busiest_60s"] = busiest_window([float(e["t"]) for e in entries], RATE_PERIOD)
        res["status_429"] = sum(1 for e in entries if e["status"] == 429)
        res["run_s"] = round(time.monotonic() - start, 1)
        return res
    finally:
        if gw is not None:
            gw.stop()
        session.close()
        emu.stop()
        with contextlib.suppress(Exception):
            tmp.cleanup()


# ------------------------------------------------------------------ output

def verdict(ok: bool) -> str:
    return "met" if ok else "MISSED"


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


def table(res: dict[str, Any]) -> str:
    body = rows(res)
    head = ("metric", "value", "target", "")
    widths = [max(len(head[i]), *(len(r[i]) for r in body)) for i in range(4)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(head, widths, strict=True)).rstrip(),
             "  ".join("-" * w for w in widths)]
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in body]
    return "\n".join(lines)


def command(args: argparse.Namespace) -> str:
    return ".venv/bin/python scripts/bench_first_sync.py" + (" --short" if args.short else "")


def section(res: dict[str, Any], args: argparse.Namespace) -> str:
    machine = (f"{os.cpu_count()} CPUs, {platform.system().lower()}, Python {platform.python_version()}, "
               f"{dt.date.today().isoformat()}")
    lines = [SECTION, "",
             f"Run on {machine}. Emulator in a subprocess seeded with {res['torrents']:,} downloaded torrents "
             f"(1-3 small files each, distinct added times) and enforcing {RATE_LIMIT} calls per "
             f"{RATE_PERIOD:.0f} s per token (sliding window); the gateway is `python -m gateway` in its own "
             "subprocess with the default Real-Debrid budget (250/minute) and `torrents_refresh_interval` 15s, "
             f"in real time. Times count from the gateway's start; it is SIGKILLed at ~{KILL_AT:.0f} s and "
             "restarted on the same config dir.", "",
             "| measure | result | target | |", "|---|---|---|---|"]
    lines += [f"| {a} | {b} | {c} | {d} |" for a, b, c, d in rows(res)]
    lines += ["", f"Reproduce with `{command(args)}` (whole run {res['run_s']} s).", ""]
    return "\n".join(lines)


def write_docs(text: str) -> None:
    doc = DOCS.read_text(encoding="utf-8")
    start = doc.find(SECTION)
    if start < 0:
        DOCS.write_text(doc.rstrip("\n") + "\n\n" + text, encoding="utf-8")
        return
    end = doc.find("\n## ", start + len(SECTION))
    tail = doc[end + 1:] if end >= 0 else ""
    DOCS.write_text(doc[:start] + text + ("\n" + tail if tail else ""), encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="First sync of 10,000 torrents inside a 250/minute budget.")
    p.add_argument("--torrents", type=int, default=TORRENTS)
    p.add_argument("--short", action="store_true", help="skip the 300 s point")
    p.add_argument("--json", action="store_true", help="print the figures as JSON")
    p.add_argument("--write-docs", action="store_true", help=f"write the section in {DOCS.relative_to(ROOT)}")
    args = p.parse_args(argv)
    res = run(args)
    if args.json:
        print(json.dumps(res, indent=2))
    else:
        print(table(res))
        print(f"\ncommand: {command(args)}  (whole run {res['run_s']} s)")
    if args.write_docs:
        write_docs(section(res, args))
        note(f"wrote the section in {DOCS}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
