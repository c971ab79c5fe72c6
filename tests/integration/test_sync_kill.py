"""SIGKILL in the middle of a first sync: the restart serves what was persisted and fetches only the rest."""

from __future__ import annotations

import json
import signal
import sqlite3
from pathlib import Path
from urllib.parse import unquote
from xml.etree import ElementTree

import requests

from emulators.server import Emulator
from tests.integration.test_crash import start
from tests.support import TOKEN, infohash, wait_until

RD = "/rest/1.0"
COUNT = 300


def _persisted(config_dir: Path) -> set[str]:
    """Names of the torrents whose details the store holds (read as another process would)."""
    db = sqlite3.connect(config_dir / "decypharr.db")
    try:
        rows = db.execute("SELECT data FROM library_torrents").fetchall()
    finally:
        db.close()
    heads = [json.loads(row[0].partition("\n")[0]) for row in rows]   # the torrent; its files follow
    return {head["name"] for head in heads if head.get("nfiles")}


def _visible(url: str) -> set[str]:
    response = requests.request("PROPFIND", url + "webdav/__all__/", headers={"Depth": "1"}, timeout=5)
    hrefs = [e.text or "" for e in ElementTree.fromstring(response.content).iter("{DAV:}href")]
    return {unquote(h.rstrip("/").rsplit("/", 1)[-1]) for h in hrefs[1:]}


def _info_calls(emulator: Emulator, status: int | None) -> list[str]:
    return [e["path"] for e in emulator.world.log(path_prefix=f"{RD}/torrents/info/") if e["status"] == status]


def test_kill_mid_sync_resumes_without_fetching_twice(emulator: Emulator, tmp_path: Path) -> None:
    emulator.world.seed_library(TOKEN, [
        {"hash": infohash(f"kill-{i}"), "name": f"Kill Film {i:04d}",
         "files": [{"path": f"kill{i}.mkv", "size": 5000 + i}], "added": 1_700_000_000 + 60 * i}
        for i in range(COUNT)])
    config_dir = tmp_path / "c"
    config_dir.mkdir()
    (config_dir / "config.json").write_text(json.dumps({
        "bind_address": "127.0.0.1", "use_auth": False,
        "debrids": [{"name": "realdebrid", "api_key": TOKEN, "api_url": emulator.rd_api_url,
                     "rate_limit": "600/minute", "torrents_refresh_interval": "15s"}]}))
    proc, url = start(config_dir)
    try:
        wait_until(lambda: len(_persisted(config_dir)) >= 40, 60, "forty torrents persisted")
        # Hold every further details answer, then kill once all that were answered are persisted.
        emulator.world.add_fault({"path_regex": "/torrents/info/", "delay_ms": 5000})
        wait_until(lambda: _info_calls(emulator, None), 20, "a details call held in flight")
        wait_until(lambda: len(_persisted(config_dir)) >= len(_info_calls(emulator, 200)), 20,
                   "every answered call persisted")
        unanswered = set(_info_calls(emulator, None))
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    persisted = _persisted(config_dir)
    total = len(emulator.world.list_torrents(TOKEN))   # the fixture's sample library too
    assert 40 <= len(persisted) < total
    emulator.world.clear_faults()
    proc, url = start(config_dir)
    try:
        assert wait_until(lambda: persisted <= _visible(url), 5, "the persisted torrents after the restart")
        wait_until(lambda: len(_visible(url)) == total, 90, "the rest of the sync")
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(20)
    answered = [p for p in _info_calls(emulator, 200)]
    fetched_twice = {p for p in answered if answered.count(p) > 1} - unanswered
    assert not fetched_twice
    assert len(set(answered)) == total
