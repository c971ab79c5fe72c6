"""A gateway killed (SIGKILL) between the *arr delete and the history-failed call finishes the
job after a restart, and the *arr sees exactly one delete."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import requests

from emulators.server import Emulator
from tests.fakes.arr import FakeArr
from tests.support import SAMPLE, TOKEN, wait_until

ROOT = Path(__file__).resolve().parents[2]
SHOW = SAMPLE[0]
LOST_HASH = "e" * 40


def _start(config_dir: Path) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen([sys.executable, "-m", "gateway", "--config", str(config_dir), "--port", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    line = wait_until(lambda: proc.stdout.readline(), 30, "the serving line")
    return proc, re.search(r"http://\S+?/", line).group(0).rstrip("/")


def _job(base: str, job_id: str) -> dict[str, Any]:
    return next(j for j in requests.get(f"{base}/api/repair/jobs", timeout=10).json() if j["id"] == job_id)


@pytest.mark.parametrize("killed_at", [
    ("GET", r"/api/v3/history$"),            # after the delete, at the grab lookup right before the failed call
    ("DELETE", r"/api/v3/episodefile/12$"),  # the delete in flight: the *arr gets it, the gateway never hears
])
def test_sigkill_between_delete_and_mark_failed(emulator: Emulator, tmp_path: Path,
                                                killed_at: tuple[str, str]) -> None:
    emulator.world.set_knobs(conv_delay_uncached=0.1)
    emulator.world.add_catalog(LOST_HASH, "Lost", [{"path": "lost.mkv", "size": 10}], flags=["magnet_error"])
    mount, media = tmp_path / "mnt", tmp_path / "media"
    with FakeArr("sonarr") as sonarr:
        sonarr.add_series(1, "The Show", str(media / "The Show"))
        lost = media / "The Show" / "S01E02.mkv"
        lost.parent.mkdir(parents=True)
        os.symlink(f"{mount}/__all__/Gone Release/{SHOW['files'][1]['path']}", lost)
        episodes = sonarr.add_episode_file(1, 12, str(lost), 1, [2])
        sonarr.add_grab(LOST_HASH, episode_ids=episodes)
        config_dir = tmp_path / "c"
        config_dir.mkdir()
        (config_dir / "config.json").write_text(json.dumps({
            "bind_address": "127.0.0.1", "use_auth": False, "mount": {"type": "none", "mount_path": str(mount)},
            "debrids": [{"name": "realdebrid", "api_key": TOKEN, "api_url": emulator.rd_api_url,
                         "rate_limit": "off"}],
            "arrs": [{"name": "sonarr", "host": sonarr.url, "token": "arr-key"}]}))
        proc, base = _start(config_dir)
        try:
            scan = requests.post(f"{base}/api/repair", json={}, timeout=10).json()
            wait_until(lambda: _job(base, scan["job_id"])["status"] == "pending", 60, "the scan")
            sonarr.hang(killed_at[1], method=killed_at[0])
            assert requests.post(f"{base}/api/repair/jobs/{scan['job_id']}/process", timeout=10).status_code == 202
            wait_until(lambda: sonarr.hanging, 60, "processing to reach the hung call")
            assert _job(base, scan["job_id"])["status"] == "processing"
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait(10)
            sonarr.release()
        wait_until(lambda: sonarr.deleted == [12], 10, "the delete the *arr received")
        assert sonarr.failed == []                                   # the failed call never went out
        proc, base = _start(config_dir)                                # resumes by itself
        try:
            done = wait_until(lambda: (j := _job(base, scan["job_id"]))["status"] == "completed" and j, 60,
                              "the job to finish after the restart")
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(30)
    item = done["broken_items"][0]
    assert item["outcome"] == "replaced" and item["step"] == "done"
    assert sonarr.deleted == [12]                                      # exactly one delete
    assert [m for m, p, _, _ in sonarr.requests if m == "DELETE"] == ["DELETE"]
    assert len(sonarr.failed) == 1
    assert any(c["name"] == "EpisodeSearch" for c in sonarr.commands)
