"""``bench_scale.py --console-script``: the gateway as a pip user starts it.

The in-process bench measures the benchmark process (gateway + client, re-executed with
``MALLOC_ARENA_MAX=2``). This mode instead spawns the ``decypharr`` console script of the
venv, with ``MALLOC_ARENA_MAX`` removed from its environment (the process caps its arenas
itself, gateway/server.py ``limit_malloc_arenas``), and measures that process alone:

- the first sync of the seeded library, until ``/health`` shows every torrent listed and in
  the tree, and the RSS of the gateway process then (``/proc/<pid>/status``);
- PROPFIND Depth:1 of one torrent folder, side by side with ``rclone serve webdav`` over a
  local tree of the same per-folder shape (``compare_folder``: through ``requests``, and
  through a lean raw-socket client, which shows the servers' own time).

``--code DIR`` puts ``DIR`` first on the spawned process's ``PYTHONPATH``, so one venv's
console script can run this worktree's code or a copy of an older commit (before/after runs).
Imported by bench_scale.py; nothing here imports the gateway.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

import requests
from benchkit import EmulatorProcess, LeanClient, end_process, free_port, new_session, rss_mb, shut_down, side_by_side

ALL = "__all__"
LEAN_RUNS = 1000
Propfind = Callable[[requests.Session, str], tuple[float, int]]


def console_script() -> str:
    """The ``decypharr`` entry point installed beside this interpreter (else the one on PATH)."""
    beside = Path(sys.executable).with_name("decypharr")
    found = str(beside) if beside.exists() else shutil.which("decypharr")
    if not found:
        raise RuntimeError("no decypharr console script: pip install the project first")
    return found


def spawn(config_dir: str, api_url: str, code: str, log_path: str) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    raw = {"bind_address": "127.0.0.1", "port": port, "use_auth": False,
           "debrids": [{"name": "realdebrid", "api_key": "bench", "api_url": api_url,
                        "rate_limit": "off", "torrents_refresh_interval": "15s"}]}
    os.makedirs(config_dir, exist_ok=True)
    Path(config_dir, "config.json").write_text(json.dumps(raw))
    env = {k: v for k, v in os.environ.items() if k != "MALLOC_ARENA_MAX"}
    if code:
        env["PYTHONPATH"] = os.pathsep.join([code, *filter(None, [env.get("PYTHONPATH")])])
    with open(log_path, "wb") as log:
        proc = subprocess.Popen([console_script(), "--config", config_dir], stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, env=env, cwd=tempfile.gettempdir())
    return proc, port


def first_sync(proc: subprocess.Popen[bytes], session: requests.Session, base: str, n: int,
               timeout: float) -> float:
    started = time.perf_counter()
    while time.perf_counter() - started < timeout:
        if proc.poll() is not None:
            raise RuntimeError(f"decypharr exited with {proc.returncode}")
        with contextlib.suppress(requests.RequestException):
            h = session.get(base + "/health", timeout=(2.0, 60.0)).json()
            rd = h["providers"]["realdebrid"]
            if rd["listed"] == n and rd["pending"] == 0 and h["torrents"] == n:
                return time.perf_counter() - started
        time.sleep(0.5)
    raise RuntimeError(f"sync not done after {timeout:.0f}s")


def run_console(n: int, per: int, rclone_folders: int, code: str, folder_runs: int, sync_timeout: float,
                make_torrent: Callable[[int, int], dict[str, Any]],
                make_tree: Callable[[Path, int, int], float],
                propfind: Propfind,
                rclone_cls: Any, note: Callable[[str], None]) -> dict[str, Any]:
    res: dict[str, Any] = {"mode": "console-script", "torrents": n, "files_per_torrent": per, "files": n * per,
                           "code": code or "(installed)", "console_script": console_script()}
    emu = EmulatorProcess("bench", "--no-rate-limit", timeout=(10.0, 300.0))
    tmp = tempfile.TemporaryDirectory(prefix="bench-scale-cli-")
    session = new_session()
    proc: subprocess.Popen[bytes] | None = None
    rclone = None
    try:
        emu.wait_ready()
        emu.seed(n, lambda i: make_torrent(i, per), 1000)
        tree = Path(tmp.name) / "tree"
        res["rclone_folders"] = min(n, rclone_folders)
        make_tree(tree, res["rclone_folders"], per)
        note(f"emulator seeded, rclone tree of {res['rclone_folders']} folders made")
        proc, port = spawn(os.path.join(tmp.name, "config"), emu.origin + "/rest/1.0", code,
                           os.path.join(tmp.name, "gateway.log"))
        base = f"http://127.0.0.1:{port}"
        res["first_sync_s"] = round(first_sync(proc, session, base, n, sync_timeout), 1)
        res["rss_after_sync_mb"] = rss_mb(proc.pid)
        note(f"console script: first sync {res['first_sync_s']} s, RSS {res['rss_after_sync_mb']} MB")
        rclone = rclone_cls(tree)
        rclone.wait_ready(session)
        name = quote(make_torrent(1, per)["name"])
        gw_url, rc_url = f"{base}/webdav/{ALL}/{name}/", f"{rclone.base}/{name}/"
        res.update(compare_folder(session, gw_url, rc_url, folder_runs, propfind))
        res["rss_end_mb"] = rss_mb(proc.pid)
        note(f"folder: gateway {res['folder_gw_ms']} ms, rclone {res['folder_rclone_ms']} ms; lean client "
             f"{res['folder_lean_gw_ms']} / {res['folder_lean_rclone_ms']} ms")
        return res
    finally:
        if proc is not None:
            end_process(proc, 30)
        if rclone is not None:
            rclone.stop()
        shut_down(session, emu, tmp)


def compare_folder(session: requests.Session, gw_url: str, rc_url: str, runs: int,
                   propfind: Propfind) -> dict[str, Any]:
    """A one-folder PROPFIND D:1 on the gateway and on rclone, interleaved (``side_by_side``):
    ``runs`` through ``requests``, as this bench always measured, and ``LEAN_RUNS`` through a
    lean client, where the client's own ~0.6 ms no longer hides the servers' difference."""
    if propfind(session, gw_url)[1] != propfind(session, rc_url)[1]:
        raise RuntimeError("the gateway's folder and rclone's differ in member count")
    timed = side_by_side({"gw": lambda: propfind(session, gw_url)[0], "rc": lambda: propfind(session, rc_url)[0]},
                         runs)
    clients = {"gw": LeanClient(gw_url), "rc": LeanClient(rc_url)}
    try:
        lean = side_by_side({name: lambda c=client: _lean_propfind(c) for name, client in clients.items()},
                            LEAN_RUNS)
    finally:
        for client in clients.values():
            client.close()
    out: dict[str, Any] = {}
    for prefix, got in (("folder", timed), ("folder_lean", lean)):
        gw, rc = statistics.median(got["gw"]), statistics.median(got["rc"])
        out.update({f"{prefix}_gw_ms": round(gw * 1000, 3), f"{prefix}_rclone_ms": round(rc * 1000, 3),
                    f"{prefix}_ratio": round(gw / rc, 2)})
    out["folder_runs"], out["folder_lean_runs"] = len(timed["gw"]), len(lean["gw"])
    return out


def _lean_propfind(client: LeanClient) -> float:
    seconds, status, _ = client.request("PROPFIND", {"Depth": "1"})
    if status != 207:
        raise RuntimeError(f"PROPFIND answered {status}")
    return seconds
