"""Repair of usenet files against the stand-in Sonarr and the NNTP emulator, over real sockets.

A usenet file is checked by a STAT sample of its articles: missing on every server is broken,
a server that cannot answer is unknown (never processed). A broken usenet file cannot be
re-added anywhere, so processing does what the *arr does after a failed download: delete the
file, mark the grab (its SABnzbd nzo_id) failed, search again.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from emulators.usenet.release import Release, build_release
from gateway.app import Gateway
from tests.fakes.arr import FakeArr
from tests.integration.test_usenet import PART, Usenet, addfile, finished, media, usenet
from tests.support import RepairApi

__all__ = ["usenet"]   # the fixture, imported for pytest
NZO_PREFIX = "SABnzbd_nzo_"


@dataclass
class Scene(RepairApi):
    gateway: Gateway
    sonarr: FakeArr
    releases: dict[str, Release]
    nzos: dict[str, str]


TITLES = ("The.Show.S01E01.720p.WEB-GOOD", "The.Show.S01E02.720p.WEB-HOLE")


@pytest.fixture()
def scene(usenet: Usenet, tmp_path: Any) -> Iterator[Scene]:
    mount, show = str(tmp_path / "mnt"), str(tmp_path / "media" / "The Show")
    releases = {t: build_release([(f"{t}.mkv", media(t, 600_000))], name=t, part_size=PART, store=usenet.store)
                for t in TITLES}
    with FakeArr("sonarr") as sonarr:
        sonarr.add_series(1, "The Show", show)
        gateway = usenet.start_gateway(
            mount={"type": "none", "mount_path": mount}, repair={"enabled": False},
            arrs=[{"name": "sonarr", "host": sonarr.url, "token": "arr-key"}])
        nzos = {}
        for number, title in enumerate(TITLES, start=1):
            nzos[title] = addfile(gateway, title, releases[title].nzb)
            assert finished(gateway, nzos[title])["status"] == "Completed"
            path = f"{show}/Season 1/The Show - S01E0{number}.mkv"
            os.makedirs(os.path.dirname(path), exist_ok=True)
            os.symlink(f"{mount}/__all__/{title}/{title}.mkv", path)
            episodes = sonarr.add_episode_file(1, 10 + number, path, 1, [number])
            sonarr.add_grab(nzos[title], episode_ids=episodes)
            sonarr.add_grab(f"{NZO_PREFIX}{'0' * 32}", episode_ids=episodes)   # a newer grab of another release
        gateway.repair.start()
        yield Scene(gateway, sonarr, releases, nzos)


def test_an_article_missing_everywhere_is_broken_and_processing_replaces_it(scene: Scene, usenet: Usenet) -> None:
    good, hole = TITLES
    ids = scene.releases[hole].file(f"{hole}.mkv").message_ids
    usenet.server.set_missing(ids[-1:])     # the last article: always in repair's STAT sample
    usenet.server.reset_stats()
    job = scene.scan()
    assert job["status"] == "pending" and job["unknown_items"] == [], job
    assert job["counts"]["files"] == 2 and job["counts"]["healthy"] == 1
    [broken] = job["broken_items"]
    assert broken["title"] == "The Show S01E02" and "missing on every usenet server" in broken["reason"]
    assert broken["torrent_hash"] == scene.nzos[hole].removeprefix(NZO_PREFIX)
    stats = usenet.server.stats()
    assert stats.commands.get("STAT", 0) >= 2 and stats.articles_served == 0   # a STAT sample, no download
    assert scene.sonarr.deleted == []                                          # a scan never deletes

    dry = scene.api("POST", f"/api/repair/jobs/{job['id']}/process", params={"dry_run": "1"})
    assert dry.status_code == 200 and "cannot be re-added" in dry.text   # no re-add is planned
    done = scene.process(job["id"])
    assert done["status"] == "completed", done.get("error")
    [item] = done["broken_items"]
    assert item["outcome"] == "replaced", item
    assert scene.sonarr.deleted == [12]
    real_grab = min(r["id"] for r in scene.sonarr.history
                    if r["eventType"] == "grabbed" and r["downloadId"] == scene.nzos[hole].upper())
    assert scene.sonarr.failed == [real_grab]   # the grab with this nzo_id, not the newest one
    assert any(c["name"] == "EpisodeSearch" and c.get("episodeIds") == [2] for c in scene.sonarr.commands)


@pytest.mark.parametrize("trouble", ["down", "login"])
def test_a_server_that_cannot_answer_makes_usenet_files_unknown(scene: Scene, usenet: Usenet, trouble: str) -> None:
    usenet.server.stop()      # also drops the connections the imports left open
    if trouble == "login":
        usenet.server.set_fail_login(True)
        usenet.server.start()
    job = scene.scan()
    assert job["broken_items"] == [], job
    unknown = {i["title"]: i["reason"] for i in job["unknown_items"]}
    assert set(unknown) == {"The Show S01E01", "The Show S01E02"}
    assert all("usenet check failed" in r for r in unknown.values())
    assert scene.sonarr.deleted == [] and scene.sonarr.failed == []
