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


def test_demo_opens_on_the_dashboard_with_its_user_on_the_console(tmp_path: Path) -> None:
    """Issue 15 item 6: the demo opened on a setup page asking for a debrid key it already had."""
    proc = subprocess.Popen([sys.executable, "-m", "gateway", "--demo", "--port", "0", "--config", str(tmp_path)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        lines: list[str] = []

        def banner() -> bool:   # the start-up lines, up to the last one ("qBit:")
            lines.append(proc.stdout.readline())
            return "qBit:" in lines[-1] or not lines[-1]

        wait_until(banner, 30, "the start-up lines")
        url = re.search(r"http://\S+?/", lines[0]).group(0)
        said = re.search(r"UI: .*user '(\w+)', password '([^']+)'", "".join(lines))
        assert said, lines
        user, password = said.groups()
        first = requests.get(url, allow_redirects=False, timeout=5)
        assert first.status_code == 302 and first.headers["Location"].endswith("/dashboard"), first.headers
        assert requests.get(url + "dashboard", timeout=5).status_code == 200   # no login in the demo
        assert requests.post(url + "login", json={"username": user, "password": password}, timeout=5).ok
        setup = requests.get(url + "setup", timeout=5).text   # still reachable: it names the accounts
        assert 'id="setup-configured"' in setup and "<strong>realdebrid</strong>" in setup
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert password not in err   # the console line only, never a log line


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
