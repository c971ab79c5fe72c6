"""SIGKILL at random moments during 100 imports and 20 streams through the FUSE mount.

After each kill the gateway is started again on the same config directory.
At the end: every import is there exactly once (at the gateway and at the
provider), the database passes ``PRAGMA integrity_check``, every byte read
through the mount (so through the chunk cache, which survives the kills) is
right, and the mount is back. ``DECYPHARR_SOAK=1`` kills ten times instead of three.
"""

from __future__ import annotations

import json
import os
import random
import re
import signal
import sqlite3
import subprocess
import sys
import threading
from collections import Counter
from pathlib import Path
from typing import Any

import requests

from emulators.server import Emulator
from tests.integration.test_fuse import mount_cfg, needs_fuse, unmount_leftover
from tests.support import SAMPLE, TOKEN, expected, infohash, wait_until

ROOT = Path(__file__).resolve().parents[2]
SOAK = os.environ.get("DECYPHARR_SOAK") == "1"
KILLS = 10 if SOAK else 3
IMPORTS = 100
STREAMS = 20


def _start(config_dir: Path) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen([sys.executable, "-m", "gateway", "--config", str(config_dir), "--port", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, cwd=ROOT)
    line = wait_until(lambda: proc.stdout.readline(), 30, "the serving line")
    return proc, re.search(r"http://\S+?/", line).group(0)


def _stream(mnt: Path, entry: dict[str, Any], spec: dict[str, Any], seed: int, wrong: list[str]) -> None:
    """Read random ranges through the mount; an error is fine (the gateway may be dead), wrong bytes never."""
    rng = random.Random(seed)
    path = mnt / "__all__" / entry["name"] / spec["path"]
    for _ in range(8):
        start = rng.randrange(0, spec["size"])
        try:
            with open(path, "rb") as handle:
                handle.seek(start)
                data = handle.read(rng.randrange(1, 300_000))
        except OSError:
            continue
        if data != expected(entry, spec["path"], start, len(data)):
            wrong.append(f"{spec['path']}@{start}")


@needs_fuse
def test_kills_during_imports_and_streams_lose_and_double_nothing(emulator: Emulator, tmp_path: Path) -> None:
    rng = random.Random(11)
    hashes = [infohash(f"kill-{i}") for i in range(IMPORTS)]
    for i, h in enumerate(hashes):
        emulator.world.add_catalog(h, f"Kill Film {i:03d}", [{"path": f"film{i}.mkv", "size": 5000 + i}],
                                   cached=True)
    mnt, config_dir = tmp_path / "mnt", tmp_path / "c"
    config_dir.mkdir()
    (config_dir / "config.json").write_text(json.dumps({
        "bind_address": "127.0.0.1", "use_auth": False, "refresh_interval": "200ms",
        "default_download_action": "none", "max_active_downloads": 6,
        "mount": mount_cfg(mnt, cache_dir=str(tmp_path / "cache")),
        "debrids": [{"name": "realdebrid", "api_key": TOKEN, "api_url": emulator.rd_api_url,
                     "rate_limit": "off", "torrents_refresh_interval": "2s"}]}))
    files = [(e, f) for e in SAMPLE for f in e["files"]]
    wrong: list[str] = []
    sent = 0
    proc, url = _start(config_dir)
    try:
        for kill in range(KILLS + 1):
            wait_until(lambda: os.path.isdir(mnt / "__all__"), 30, "the mount")
            readers = [threading.Thread(target=_stream, args=(mnt, *files[(kill * STREAMS + i) % len(files)],
                                                              rng.randrange(1 << 30), wrong), daemon=True)
                       for i in range(STREAMS)]
            for reader in readers:
                reader.start()
            batch = IMPORTS // (KILLS + 1) + (IMPORTS % (KILLS + 1) if kill == KILLS else 0)
            for h in hashes[sent:sent + batch]:
                added = requests.post(url + "api/add", json={"url": f"magnet:?xt=urn:btih:{h}"}, timeout=10)
                assert added.status_code == 200
            sent += batch
            if kill == KILLS:
                for reader in readers:
                    reader.join(60)
                break
            threading.Event().wait(rng.uniform(0.05, 0.6))   # a random moment in the middle of it all
            proc.send_signal(signal.SIGKILL)
            proc.wait(10)
            for reader in readers:
                reader.join(60)
            proc, url = _start(config_dir)
        done = wait_until(lambda: (t := requests.get(url + "api/torrents", timeout=10).json())
                          and all(r["state"] == "pausedUP" for r in t) and len(t) == IMPORTS and t, 120,
                          "every import to complete")
        assert sorted(r["hash"] for r in done) == sorted(hashes)               # none lost at the gateway
        at_provider = Counter(t.hash for t in emulator.world.list_torrents(TOKEN) if t.hash in set(hashes))
        assert sorted(at_provider) == sorted(hashes) and set(at_provider.values()) == {1}   # none doubled
        assert sorted(os.listdir(mnt / "__all__")) == sorted({e["name"] for e in SAMPLE} | {
            f"Kill Film {i:03d}" for i in range(IMPORTS)})                       # the mount is back, complete
        for entry, spec in files:                                               # cached chunks: right bytes
            assert (mnt / "__all__" / entry["name"] / spec["path"]).read_bytes() == expected(entry, spec["path"])
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
        unmount_leftover(mnt)
    assert wrong == []
    with sqlite3.connect(config_dir / "decypharr.db") as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
