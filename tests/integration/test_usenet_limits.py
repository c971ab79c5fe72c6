"""The server's connection limit holds for everything the gateway does at once (contract §8):
three readers, an import and a repair scan share one server's ``max_connections``; the
emulator counts every TCP connection open at once (refused ones included) and never sees
more, and never has to refuse one."""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import requests

from emulators.archives import write_rar
from emulators.usenet.release import build_release
from tests.fakes.arr import FakeArr
from tests.integration.test_usenet import PART, Usenet, addfile, browse, finished, media, usenet
from tests.support import wait_until

__all__ = ["usenet"]   # the fixture, imported for pytest
LIMIT = 6


def test_connections_never_exceed_the_limit_with_readers_an_import_and_a_repair_scan(
        usenet: Usenet, tmp_path: Any) -> None:
    usenet.server.set_max_connections(LIMIT)          # beyond it the server answers 502
    mount, show = str(tmp_path / "mnt"), str(tmp_path / "media" / "The Show")
    titles = [f"The.Show.S02E0{n}.1080p.WEB-CAP" for n in (1, 2, 3)]
    videos = {t: media(t, 1_600_000) for t in titles}
    releases = {t: build_release([(f"{t}.mkv", videos[t])], name=t, part_size=PART, store=usenet.store)
                for t in titles}
    late = "The.Show.S02E04.1080p.WEB-CAP"
    late_video = media(late, 1_200_000)
    late_release = build_release(write_rar([(f"{late}.mkv", late_video)], version=4, base=late,
                                           volume_data=300_000), name=late, part_size=PART, store=usenet.store)
    with FakeArr("sonarr") as sonarr:
        sonarr.add_series(1, "The Show", show)
        gateway = usenet.start_gateway(
            mount={"type": "none", "mount_path": mount}, repair={"enabled": False},
            arrs=[{"name": "sonarr", "host": sonarr.url, "token": "arr-key"}],
            usenet={"providers": [usenet.primary() | {"max_connections": LIMIT}],
                    "max_connections": 15, "import_availability_sample_percent": 50,
                    "availability_sample_percent": 100})
        for number, title in enumerate(titles, start=1):
            assert finished(gateway, addfile(gateway, title, releases[title].nzb))["status"] == "Completed"
            path = f"{show}/Season 2/The Show - S02E0{number}.mkv"
            os.makedirs(os.path.dirname(path), exist_ok=True)
            os.symlink(f"{mount}/__all__/{title}/{title}.mkv", path)
            sonarr.add_episode_file(1, 20 + number, path, 2, [number])
        gateway.repair.start()
        usenet.server.reset_stats()
        usenet.server.set_latency(0.02)               # every answer takes a while: work overlaps

        with ThreadPoolExecutor(3) as readers:
            reads = [readers.submit(browse, gateway, t, f"{t}.mkv") for t in titles]
            nzo = addfile(gateway, late, late_release.nzb)
            scan = requests.post(f"http://127.0.0.1:{gateway.port}/api/repair", json={}, timeout=10)
            assert scan.status_code == 202, scan.text
            for title, read in zip(titles, reads, strict=True):
                answer = read.result(timeout=120)
                assert answer.status_code == 200 and answer.content == videos[title]
        assert finished(gateway, nzo, timeout=120)["status"] == "Completed"
        job_id = scan.json()["job_id"]

        def scanned() -> dict[str, Any] | None:
            jobs = requests.get(f"http://127.0.0.1:{gateway.port}/api/repair/jobs", timeout=10).json()
            job = next(j for j in jobs if j["id"] == job_id)
            return job if job["status"] != "running" else None
        job = wait_until(scanned, 120, "the repair scan")
        assert job["counts"]["healthy"] == 3 and job["counts"]["files"] == 3, job
        stats = usenet.server.stats()
        assert stats.commands.get("STAT", 0) >= 3 * 16      # the scan's STAT sample ran (100% of 16 articles)
        assert stats.articles_served >= 3 * 16              # the three whole files were read
        assert stats.connections_peak <= LIMIT, stats
        assert stats.rejected == 0, stats
        assert stats.connections_peak >= 2                  # the work did overlap on several connections
