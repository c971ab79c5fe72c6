"""SIGKILL the gateway with ten imports in flight: after a restart all ten complete, none twice."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
from pathlib import Path

import requests

from tests.support import TOKEN, infohash, wait_until

ROOT = Path(__file__).resolve().parents[2]


def start(config_dir: Path) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen([sys.executable, "-m", "gateway", "--config", str(config_dir), "--port", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, cwd=ROOT)
    line = wait_until(lambda: proc.stdout.readline(), 30, "the serving line")
    return proc, re.search(r"http://\S+?/", line).group(0)


def states(url: str) -> dict[str, str]:
    return {t["hash"]: t["state"] for t in requests.get(url + "api/torrents", timeout=10).json()}


def test_kill_with_ten_imports_in_flight(emulator, tmp_path: Path) -> None:
    config_dir = tmp_path / "c"
    config_dir.mkdir()
    (config_dir / "config.json").write_text(json.dumps({
        "bind_address": "127.0.0.1", "use_auth": False, "refresh_interval": "200ms",
        "default_download_action": "strm", "max_active_downloads": 4,
        "debrids": [{"name": "realdebrid", "api_key": TOKEN, "api_url": emulator.rd_api_url, "rate_limit": "off",
                     "torrents_refresh_interval": "1s"}]}))
    hashes = [infohash(f"crash-{i}") for i in range(10)]
    for i, h in enumerate(hashes):
        emulator.world.add_catalog(h, f"Crash Show {i}", [{"path": f"crash{i}.mkv", "size": 1000 + i}], cached=True)
    emulator.world.clock.set_speed(0)   # freeze the provider: every import stays in flight
    proc, url = start(config_dir)
    try:
        for h in hashes:
            added = requests.post(url + "api/add", json={"url": f"magnet:?xt=urn:btih:{h}", "category": "sonarr"},
                                  timeout=10)
            assert added.status_code == 200
        wait_until(lambda: len({t.hash for t in emulator.world.list_torrents(TOKEN)} & set(hashes)) >= 4, 20,
                   "imports to reach the provider")
        assert set(states(url)) == set(hashes)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    emulator.world.clock.set_speed(1)
    proc, url = start(config_dir)
    try:
        def all_done() -> bool:
            emulator.world.clock.advance(1)
            return set(states(url).values()) == {"pausedUP"}
        wait_until(all_done, 60, "all ten imports to complete after the restart")
        assert sorted(states(url)) == sorted(hashes)
        at_provider = [t.hash for t in emulator.world.list_torrents(TOKEN) if t.hash in hashes]
        assert sorted(at_provider) == sorted(hashes)   # none added twice, none lost
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(20)
