"""SIGKILL after a usenet import completes, then a restart (issue 17, contract §8 "Reading"):
the job's files are readable at once from the stored layout, without re-reading the import's
articles, without the STAT sample and without a second import.

The gateway runs as its own process (``python -m gateway``) and is killed with SIGKILL right
after SAB history says ``Completed``: the layout must already be committed by then. The NNTP
emulator runs in the test and counts every command and every article it serves.
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from emulators.archives import write_rar
from emulators.usenet import ArticleStore, NNTPServer
from emulators.usenet.release import build_release
from tests.integration.test_usenet import PART, PASSWORD, USER, media
from tests.support import wait_until

ROOT = Path(__file__).resolve().parents[2]


def _start(config_dir: Path) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen([sys.executable, "-m", "gateway", "--config", str(config_dir), "--port", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, cwd=ROOT)
    assert proc.stdout is not None
    line = wait_until(lambda: proc.stdout.readline(), 30, "the serving line")
    found = re.search(r"http://\S+?/", line)
    assert found, line
    return proc, found.group(0)


def _sab(url: str, method: str = "GET", files: Any = None, **params: Any) -> Any:
    answer = requests.request(method, url + "sabnzbd/api", params={**params, "output": "json"}, files=files,
                              timeout=20)
    assert answer.status_code == 200, answer.text
    return answer.json()


def _history(url: str) -> dict[str, dict[str, Any]]:
    slots = _sab(url, mode="history", start="0", limit="60", category="tv")["history"]["slots"]
    return {s["nzo_id"]: s for s in slots}


def _range(url: str, folder: str, path: str, start: int, end: int) -> requests.Response:
    return requests.get(f"{url}api/browse/download/{folder}/{path}", headers={"Range": f"bytes={start}-{end}"},
                        timeout=30)


@pytest.fixture()
def server() -> Iterator[NNTPServer]:
    nntp = NNTPServer(ArticleStore(), username=USER, password=PASSWORD, max_connections=12).start()
    try:
        yield nntp
    finally:
        nntp.stop()


def test_sigkill_after_completion_reads_at_once_without_the_import_articles(server: NNTPServer,
                                                                            tmp_path: Path) -> None:
    plain, rar = "Show.S07E01.1080p.WEB-KILL", "Show.S07E02.1080p.WEB-KILLRAR"
    video, rar_video = media(plain, 1_050_000), media(rar, 1_400_000)
    plain_release = build_release([(f"{plain}.mkv", video), (f"{plain}.nfo", b"nfo")], name=plain,
                                  part_size=PART, store=server.store)
    volumes = write_rar([(f"{rar}.mkv", rar_video)], version=4, base=rar, volume_data=500_000)
    rar_release = build_release(volumes, name=rar, part_size=PART, store=server.store)
    config_dir = tmp_path / "c"
    config_dir.mkdir()
    (config_dir / "config.json").write_text(json.dumps({
        "bind_address": "127.0.0.1", "use_auth": False, "refresh_interval": "200ms",
        "default_download_action": "none", "download_folder": str(tmp_path / "downloads"),
        "usenet": {"providers": [{"name": "primary", "host": "127.0.0.1", "port": server.port,
                                  "username": USER, "password": PASSWORD, "max_connections": 10}],
                   "import_availability_sample_percent": 30}}))
    proc, url = _start(config_dir)
    try:
        ids = {}
        for title, release in ((plain, plain_release), (rar, rar_release)):
            added = _sab(url, "POST", files={"name": (f"{title}.nzb", release.nzb, "application/x-nzb")},
                         mode="addfile", cat="tv")
            ids[title] = added["nzo_ids"][0]
        done = wait_until(lambda: (h := _history(url)) and all(i in h for i in ids.values()) and h, 60,
                          "both imports to finish")
        assert {done[i]["status"] for i in ids.values()} == {"Completed"}, done
    finally:
        proc.send_signal(signal.SIGKILL)   # at once: no graceful shutdown, no flush on the way out
        proc.wait(10)
    imported = server.stats()
    import_articles = set(imported.served_by_id)
    assert imported.commands.get("STAT", 0) > 0 and import_articles   # the import did read and STAT
    server.reset_stats()

    proc, url = _start(config_dir)
    try:
        plain_ids = plain_release.file(f"{plain}.mkv").message_ids
        start, end = 5 * PART + 10, 6 * PART + 10                 # articles 6 and 7 of the plain file
        got = _range(url, plain, f"{plain}.mkv", start, end)      # at once: no wait for anything
        assert got.status_code == 206 and got.content == video[start:end + 1]
        wanted = {plain_ids[5], plain_ids[6]}
        wait_until(lambda: set(server.stats().served_by_id) >= wanted, 5, "the emulator to count the articles")
        assert set(server.stats().served_by_id) == wanted           # only what the range needs

        inner = 650_000                                            # inside the second volume, off its edges
        got = _range(url, rar, f"{rar}.mkv", inner, inner + 50_000)
        assert got.status_code == 206 and got.content == rar_video[inner:inner + 50_001]
        after = server.stats()
        assert after.commands.get("STAT", 0) == 0                  # no availability sample again
        assert not set(after.served_by_id) & import_articles        # no header article read again
        assert len(after.served_by_id) <= len(wanted) + 2           # one or two articles for 50 kB

        history = _history(url)                                     # no second import, still Completed
        assert {history[i]["status"] for i in ids.values()} == {"Completed"}
        assert _sab(url, mode="queue", start="0", limit="0", category="tv")["queue"]["slots"] == []
        assert requests.get(f"{url}api/browse/download/{plain}/{plain}.mkv", timeout=30).content == video
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
