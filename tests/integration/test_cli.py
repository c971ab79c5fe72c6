"""The command line as a user runs it: bad config, demo mode, clean shutdown on SIGTERM."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import requests

from tests.support import wait_until

ROOT = Path(__file__).resolve().parents[2]


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "gateway", *args], capture_output=True, text=True, timeout=60,
                          cwd=ROOT, env={**os.environ, **(env or {})})


def test_bad_config_is_one_clear_message(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text(json.dumps({"debrids": [{"name": "realdebrid", "api_key": "k",
                                                                   "torrents_refresh_interval": "soon"}]}))
    result = run_cli("--config", str(tmp_path))
    assert result.returncode == 2
    assert "debrids[0].torrents_refresh_interval" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    (tmp_path / "config.json").write_text("{broken")
    result = run_cli("--config", str(tmp_path))
    assert result.returncode == 2 and "config.json" in result.stderr and "Traceback" not in result.stderr


def test_bad_env_override_is_a_message(tmp_path: Path) -> None:
    result = run_cli("--config", str(tmp_path), env={"DECYPHARR_PORT": "eighty"})
    assert result.returncode == 2 and "port" in result.stderr and "Traceback" not in result.stderr


def test_demo_serves_and_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    proc = subprocess.Popen([sys.executable, "-m", "gateway", "--demo", "--port", "0", "--config", str(tmp_path)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        line = wait_until(lambda: proc.stdout.readline(), 30, "the serving line")
        url = re.search(r"http://\S+?/", line).group(0)
        groups = wait_until(lambda: requests.get(url + "api/browse/__all__", timeout=5).json()["total"], 30,
                            "the demo library")
        assert groups >= 3
        propfind = requests.request("PROPFIND", url + "webdav/__all__/", headers={"Depth": "1"}, timeout=10)
        assert propfind.status_code == 207
        # the demo's usenet server: its sample NZB, added as a newcomer would, completes and plays
        nzb = next(tmp_path.glob("*.nzb"))
        added = requests.post(url + "api/add", files={"file": (nzb.name, nzb.read_bytes())},
                              data={"category": "radarr"}, timeout=20)
        assert added.status_code == 200, added.text

        def ready() -> dict[str, object] | None:
            jobs = requests.get(url + "api/torrents", timeout=5).json()
            return next((j for j in jobs if j["state"] == "pausedUP"), None)
        wait_until(ready, 30, "the sample NZB to complete")
        video = f"{nzb.stem}.mkv"
        head = requests.get(f"{url}api/browse/download/{nzb.stem}/{video}", headers={"Range": "bytes=0-99"},
                            timeout=20)
        assert head.status_code == 206 and len(head.content) == 100
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert "Traceback" not in err


def test_demo_with_all_five_providers(tmp_path: Path) -> None:
    proc = subprocess.Popen([sys.executable, "-m", "gateway", "--demo", "--demo-providers", "all", "--port", "0",
                             "--config", str(tmp_path)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        line = wait_until(lambda: proc.stdout.readline(), 30, "the serving line")
        url = re.search(r"http://\S+?/", line).group(0)
        def listed() -> list[str] | None:
            page = requests.get(url + "api/browse/__all__?limit=100", timeout=5).json()
            return [t["name"] for t in page["torrents"]] if page["total"] >= 11 else None

        names = wait_until(listed, 60, "every demo account's torrents")
        exclusive = sorted(n for n in names if n.startswith("Demo "))
        assert len(exclusive) == 5                 # one of each provider's own
        assert len(names) == len(set(names)) == 11  # the shared sample is one folder per torrent
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert "Traceback" not in err


def test_an_unknown_demo_provider_is_a_message(tmp_path: Path) -> None:
    result = run_cli("--demo", "--demo-providers", "realdebrid,nosuch", "--config", str(tmp_path))
    assert result.returncode == 2 and "nosuch" in result.stderr and "Traceback" not in result.stderr
