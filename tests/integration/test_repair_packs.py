"""Repair of one episode of a season pack: the pack is neither deleted nor added again while it plays.

Stand-in Sonarr and the Real-Debrid emulator with two accounts, over real HTTP; the mount path is
only a path (the scan reads the library for the symlinks' targets, as with a real mount).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest

from emulators.server import Emulator
from tests.fakes.arr import FakeArr
from tests.integration.test_repair import Scene, _link
from tests.support import TOKEN, infohash, start_gateway, wait_until

OTHER = "second-token"
RD = "/rest/1.0"
PACK = {"hash": infohash("three season pack"), "name": "Series.Title.S01-S03.1080p.WEB-DL.x264-GRP",
        "files": [{"path": f"Season {s:02d}/Series.Title.S{s:02d}E{e:02d}.mkv", "size": 200_000 + 100 * s + e}
                  for s in (1, 2, 3) for e in (1, 2)],
        "added": "2024-03-01T10:00:00.000Z"}
FIRST = PACK["files"][0]["path"]   # Season 01/...S01E01.mkv: the file the scan probes first


def _debrid(name: str, token: str, emulator: Emulator) -> dict[str, Any]:
    return {"name": name, "provider": "realdebrid", "api_key": token, "api_url": emulator.rd_api_url,
            "rate_limit": "off", "torrents_refresh_interval": "1h"}


@pytest.fixture()
def scene(emulator: Emulator, tmp_path: Any) -> Iterator[Scene]:
    emulator.world.add_account(OTHER)
    emulator.world.seed_library(TOKEN, [PACK])
    mount, media = str(tmp_path / "mnt"), str(tmp_path / "media")
    with FakeArr("sonarr") as sonarr:
        show = f"{media}/tv/Series Title"
        sonarr.add_series(1, "Series Title", show)
        for number, f in enumerate(PACK["files"]):
            season, episode = int(f["path"][7:9]), int(f["path"][-6:-4])
            link = _link(f"{show}/Season {season}/Series Title - S{season:02d}E{episode:02d}.mkv",
                         f"{mount}/__all__/{PACK['name']}/{f['path']}")
            ids = sonarr.add_episode_file(1, 100 + number, link, season, [episode])
            sonarr.add_grab(PACK["hash"], episode_ids=ids)
        gateway = start_gateway(emulator, str(tmp_path / "c"), mount={"type": "none", "mount_path": mount},
                                debrids=[_debrid("first", TOKEN, emulator), _debrid("second", OTHER, emulator)],
                                repair={"enabled": False},
                                arrs=[{"name": "sonarr", "host": sonarr.url, "token": "arr-key"}])
        gateway.repair.start()
        try:
            yield Scene(gateway, emulator, sonarr, None, media, mount)
        finally:
            gateway.stop()


def _provider_changes(scene: Scene, since: int) -> list[str]:
    """Deletes and adds the gateway sent to the provider since ``since``."""
    return [e["path"] for e in scene.emulator.world.log(since, f"{RD}/torrents/")
            if "/delete/" in e["path"] or "/addMagnet" in e["path"] or "/addTorrent" in e["path"]]


def test_one_lost_episode_is_relinked_to_the_pack_at_the_other_account(scene: Scene) -> None:
    scene.emulator.world.purge(infohash=PACK["hash"], file=FIRST, uncache=False)   # one episode lost at first
    job = scene.scan()
    # One probe per torrent, then each file of the pack that failed: only the lost episode is broken.
    assert [i["title"] for i in job["broken_items"]] == ["Series Title S01E01"], job
    assert job["counts"]["healthy"] == len(PACK["files"]) - 1

    scene.emulator.world.seed_library(OTHER, [PACK])   # the pack turns up, healthy, at the second account
    scene.gateway.refresh_now()
    wait_until(lambda: len(scene.gateway.library.snapshot().placements.get(PACK["hash"], ())) == 2, 10,
               "the second placement")
    mark = scene.emulator.world.log_mark()
    done = scene.process(job["id"])
    assert done["status"] == "completed", done["error"]
    item = done["broken_items"][0]
    assert item["outcome"] == "repaired" and "a healthy copy at second" in item["done"][0]
    assert _provider_changes(scene, mark) == []                  # the pack: not deleted, not added again
    assert scene.sonarr.deleted == [] and scene.sonarr.failed == []
    link = scene.sonarr.episode_files[100]["path"]
    assert os.readlink(link) == f"{scene.mount}/__all__/{PACK['name']}/{FIRST}"   # the same episode, not a neighbour
    assert any(c["name"] == "RescanSeries" for c in scene.sonarr.commands)


def test_an_episode_the_playing_pack_cannot_serve_is_replaced_alone(scene: Scene) -> None:
    # Sonarr holds S01E03 linked into the pack at a path the pack does not have (an older release's).
    show = scene.sonarr.series[1]["path"]
    link = _link(f"{show}/Season 1/Series Title - S01E03.mkv",
                 f"{scene.mount}/__all__/{PACK['name']}/Season 01/Series.Title.S01E03.mkv")
    ids = scene.sonarr.add_episode_file(1, 200, link, 1, [3])
    scene.sonarr.add_grab(PACK["hash"], episode_ids=ids)
    job = scene.scan()
    assert [i["title"] for i in job["broken_items"]] == ["Series Title S01E03"]
    assert job["broken_items"][0]["torrent_hash"] == PACK["hash"]

    mark = scene.emulator.world.log_mark()
    done = scene.process(job["id"])
    assert done["status"] == "completed", done["error"]
    item = done["broken_items"][0]
    assert item["outcome"] == "replaced" and "the pack is kept" in item["done"][0]
    assert _provider_changes(scene, mark) == []                  # the pack stays where it plays
    assert scene.sonarr.deleted == [200]                          # only that episode's file
    assert scene.sonarr.failed == []                              # no blocklist of the pack (and its re-search)
    assert [c for c in scene.sonarr.commands if c["name"] == "EpisodeSearch"] == [
        {"name": "EpisodeSearch", "episodeIds": list(ids)}]
    for number, f in enumerate(PACK["files"]):                    # every other episode untouched
        assert os.readlink(scene.sonarr.episode_files[100 + number]["path"]).endswith(f["path"])
