"""Repair against stand-in Sonarr and Radarr servers and the provider emulator, over real HTTP.

The gateway's mount path is only a path here: the symlinks the *arrs hold point
into it, and the scan reads the library for them, as it does with a real mount.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import requests

from emulators.server import Emulator
from gateway.app import Gateway
from tests.fakes.arr import FakeArr
from tests.support import SAMPLE, TOKEN, RepairApi, VirtualClock, expected, start_gateway, wait_until

SHOW, MOVIE = SAMPLE[0], SAMPLE[1]
E01, E02 = SHOW["files"][0]["path"], SHOW["files"][1]["path"]
LOST_HASH = "f" * 40        # what Sonarr grabbed S01E02 with: no provider can bring it back


@dataclass
class Scene(RepairApi):
    gateway: Gateway
    emulator: Emulator
    sonarr: FakeArr
    radarr: FakeArr
    media: str
    mount: str

    process_timeout = 90.0


def _link(path: str, target: str) -> str:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    os.symlink(target, path)
    return path


def _scene(emulator: Emulator, tmp_path: Any, **repair: Any) -> Iterator[Scene]:
    emulator.world.set_knobs(conv_delay=0.1, conv_delay_uncached=0.1)
    emulator.world.add_catalog(LOST_HASH, "Lost Release", [{"path": "lost.mkv", "size": 1000}],
                               flags=["magnet_error"])
    mount, media = str(tmp_path / "mnt"), str(tmp_path / "media")
    with FakeArr("sonarr") as sonarr, FakeArr("radarr") as radarr:
        show_dir, movie_dir = f"{media}/tv/The Show", f"{media}/movies/Amelie (2001)"
        sonarr.add_series(1, "The Show", show_dir)
        e01 = _link(f"{show_dir}/Season 1/The Show - S01E01.mkv", f"{mount}/__all__/{SHOW['name']}/{E01}")
        e02 = _link(f"{show_dir}/Season 1/The Show - S01E02.mkv", f"{mount}/__all__/Gone Release/{E02}")
        sonarr.add_episode_file(1, 11, e01, 1, [1])
        episodes = sonarr.add_episode_file(1, 12, e02, 1, [2])
        sonarr.add_grab(LOST_HASH, episode_ids=episodes)
        radarr.add_movie(7, "Amelie", 2001, movie_dir, file_id=71,
                         file_path=_link(f"{movie_dir}/Amelie (2001).mkv",
                                         f"{mount}/__all__/{MOVIE['name']}/{MOVIE['files'][0]['path']}"))
        gateway = start_gateway(
            emulator, str(tmp_path / "c"), mount={"type": "none", "mount_path": mount},
            repair={"enabled": False, **repair},
            arrs=[{"name": "sonarr", "host": sonarr.url, "token": "arr-key"},
                  {"name": "radarr", "host": radarr.url, "token": "arr-key"}])
        gateway.repair.start()
        try:
            yield Scene(gateway, emulator, sonarr, radarr, media, mount)
        finally:
            gateway.stop()


@pytest.fixture()
def scene(emulator: Emulator, tmp_path: Any) -> Iterator[Scene]:
    yield from _scene(emulator, tmp_path)


def _deletes(arr: FakeArr) -> list[str]:
    return [path for method, path, _, _ in arr.requests if method == "DELETE"]


def test_scan_finds_exactly_the_purged_torrent_and_the_lost_symlink_and_processing_fixes_both(
        scene: Scene) -> None:
    scene.emulator.world.purge(infohash=MOVIE["hash"], uncache=False)   # RD lost the files, still cached
    job = scene.scan()
    assert job["status"] == "pending" and job["counts"]["files"] == 3 and job["unknown_items"] == []
    broken = {i["title"]: i for i in job["broken_items"]}
    assert set(broken) == {"Amelie (2001)", "The Show S01E02"}
    assert broken["Amelie (2001)"]["torrent_hash"] == MOVIE["hash"]
    assert "gone at the provider" in broken["Amelie (2001)"]["reason"]
    assert broken["The Show S01E02"]["torrent_hash"] == LOST_HASH
    assert "no longer in the library" in broken["The Show S01E02"]["reason"]
    assert _deletes(scene.sonarr) == _deletes(scene.radarr) == []          # a scan never deletes
    assert any(t.infohash == MOVIE["hash"] for t in
               (scene.gateway.library.snapshot().torrents.get(k) for k in scene.gateway.library.snapshot().bad) if t)

    mark = scene.emulator.world.log_mark()
    done = scene.process(job["id"])
    assert done["status"] == "completed", done["error"]
    outcome = {i["title"]: i["outcome"] for i in done["broken_items"]}
    assert outcome == {"Amelie (2001)": "repaired", "The Show S01E02": "replaced"}
    adds = [e for e in scene.emulator.world.log(mark, "/rest/1.0/torrents/addMagnet")]
    assert len(adds) == 2                                                  # Amélie, and the lost release's try
    # The re-added film reads right again, through the *arr's own symlink and through WebDAV.
    movie_link = scene.radarr.movie_files[71]["path"]
    target = os.readlink(movie_link)
    assert target.startswith(scene.mount + "/__all__/")
    folder = target[len(scene.mount) + len("/__all__/"):].split("/")[0]
    body = requests.get(f"http://127.0.0.1:{scene.gateway.port}/webdav/__all__/{folder}/"
                        f"{MOVIE['files'][0]['path']}", timeout=30).content
    assert body == expected(MOVIE, MOVIE["files"][0]["path"])
    assert {"name": "RescanMovie", "movieId": 7} in [
        {k: v for k, v in c.items() if k in ("name", "movieId")} for c in scene.radarr.commands]
    # The one that could not come back: deleted once, grab failed, searched.
    assert scene.sonarr.deleted == [12] and _deletes(scene.radarr) == []
    assert len(scene.sonarr.failed) == 1
    assert any(c["name"] == "EpisodeSearch" and c.get("episodeIds") for c in scene.sonarr.commands)
    assert not any(MOVIE["hash"] == t.infohash for t in
                   (scene.gateway.library.snapshot().torrents.get(k) for k in scene.gateway.library.snapshot().bad)
                   if t)                                                   # out of __bad__
    again = scene.api("POST", f"/api/repair/jobs/{job['id']}/process")
    assert again.status_code == 409 and scene.sonarr.deleted == [12]      # processing twice does no harm


def test_dry_run_changes_nothing_and_says_what_it_would_do(scene: Scene) -> None:
    scene.emulator.world.purge(infohash=MOVIE["hash"], uncache=False)
    job = scene.scan()
    mark = scene.emulator.world.log_mark()
    answer = scene.api("POST", f"/api/repair/jobs/{job['id']}/process", json={"dry_run": True})
    assert answer.status_code == 200 and answer.json()["dry_run"] is True
    actions = {a["title"]: a["action"] for a in answer.json()["actions"]}
    assert "re-add" in actions["Amelie (2001)"] and "delete the file in sonarr" in actions["The Show S01E02"]
    assert scene.api("POST", f"/api/repair/jobs/{job['id']}/process?dry_run=true").status_code == 200
    assert scene.emulator.world.log(mark, "/rest/1.0/torrents/addMagnet") == []
    assert _deletes(scene.sonarr) == [] and scene.sonarr.commands == [] and scene.radarr.commands == []
    assert scene.job(job["id"])["status"] == "pending"


def test_unknown_ids_running_scans_and_bad_requests(scene: Scene) -> None:
    assert scene.api("POST", "/api/repair/jobs/nope/process").status_code == 404
    scene.sonarr.hang(r"/api/v3/series")
    first = scene.api("POST", "/api/repair", json={})
    assert first.status_code == 202
    wait_until(lambda: scene.sonarr.hanging, 10, "the scan to reach sonarr")
    job_id = first.json()["job_id"]
    assert scene.job(job_id)["status"] == "running"                       # visible while it runs
    assert scene.api("POST", "/api/repair", json={}).status_code == 409
    assert scene.api("POST", f"/api/repair/jobs/{job_id}/process").status_code == 409
    scene.sonarr.release()
    wait_until(lambda: scene.job(job_id)["status"] != "running", 30, "the scan to end")
    for body in ({"arr": "nosuch"}, {"media_ids": ["x"]}, {"auto_process": "yes"}):
        answer = scene.api("POST", "/api/repair", json=body)
        assert answer.status_code == 400 and answer.json()["error"], body
    assert scene.api("POST", "/api/repair", data="{not json",
                     headers={"Content-Type": "application/json"}).status_code == 400


def test_a_provider_answering_503_and_429_makes_items_unknown_and_deletes_nothing(
        emulator: Emulator, tmp_path: Any) -> None:
    for scene in _scene(emulator, tmp_path, auto_process=True):
        emulator.world.add_fault({"path_regex": r"^/rest/1\.0/unrestrict/link", "status": 503, "times": 1000,
                                  "body": {"error": "service_unavailable", "error_code": 25}})
        first = scene.scan(arr="radarr")
        assert first["broken_items"] == [] and len(first["unknown_items"]) == 1
        assert "provider check failed" in first["unknown_items"][0]["reason"]
        emulator.world.clear_faults()
        emulator.world.add_fault({"path_regex": r"^/rest/1\.0/unrestrict/link", "status": 429, "times": 1000,
                                  "headers": {"Retry-After": "0"}})
        second = scene.scan(arr="radarr")
        assert [i["title"] for i in second["unknown_items"]] == ["Amelie (2001)"]
        assert _deletes(scene.radarr) == [] and scene.radarr.commands == []
        emulator.world.clear_faults()
        third = scene.scan(arr="radarr")                                   # checked again: fine now
        assert third["status"] == "completed" and third["counts"]["healthy"] == 1
        assert third["unknown_items"] == [] and _deletes(scene.radarr) == []


def test_an_unreachable_arr_is_unknown_and_processing_waits_for_it(scene: Scene) -> None:
    scene.sonarr.down()
    job = scene.scan()
    assert [i["arr"] for i in job["unknown_items"]] == ["sonarr"]
    assert all(i["arr"] == "radarr" for i in job["broken_items"])
    scene.sonarr.up()
    job = scene.scan(arr="sonarr")
    scene.sonarr.down()
    stopped = scene.process(job["id"])
    assert stopped["status"] == "failed" and "sonarr" in stopped["error"]
    assert scene.sonarr.deleted == []
    scene.sonarr.up()
    assert scene.process(job["id"])["status"] == "completed" and scene.sonarr.deleted == [12]


def test_a_scan_of_2000_files_over_200_torrents_makes_at_most_200_provider_calls(
        emulator: Emulator, tmp_path: Any) -> None:
    mount, media = str(tmp_path / "mnt"), str(tmp_path / "media")
    torrents = [{"hash": f"{i:040x}", "name": f"Series {i:03d} S01",
                 "files": [{"path": f"E{j:02d}.mkv", "size": 1000 + j} for j in range(10)]} for i in range(1, 201)]
    emulator.world.seed_library(TOKEN, torrents)
    with FakeArr("sonarr") as sonarr:
        for i, t in enumerate(torrents, start=1):
            sonarr.add_series(i, t["name"], f"{media}/{t['name']}")
            for j, f in enumerate(t["files"]):
                path = _link(f"{media}/{t['name']}/{f['path']}", f"{mount}/__all__/{t['name']}/{f['path']}")
                sonarr.add_episode_file(i, i * 100 + j, path, 1, [j + 1])
        gateway = start_gateway(emulator, str(tmp_path / "c"), mount={"type": "none", "mount_path": mount},
                                arrs=[{"name": "sonarr", "host": sonarr.url, "token": "arr-key"}])
        gateway.repair.start()
        try:
            scene = Scene(gateway, emulator, sonarr, sonarr, media, mount)
            mark = emulator.world.log_mark()
            job = scene.scan()
            calls = emulator.world.log(mark, "/rest/1.0/")
        finally:
            gateway.stop()
    assert job["status"] == "completed" and job["counts"] == {"files": 2000, "healthy": 2000, "broken": 0,
                                                              "unknown": 0}
    assert len(calls) <= 200, len(calls)
    assert len({c["path"] for c in calls}) == 1          # links only: one unrestrict per torrent


def test_a_scheduled_scan_fires_on_its_interval_and_auto_processes(emulator: Emulator, tmp_path: Any) -> None:
    emulator.world.set_knobs(conv_delay=0.1, conv_delay_uncached=0.1)
    clock = VirtualClock(emulator.world.clock)
    mount, media = str(tmp_path / "mnt"), str(tmp_path / "media")
    with FakeArr("sonarr") as sonarr:
        sonarr.add_series(1, "The Show", f"{media}/The Show")
        lost = _link(f"{media}/The Show/S01E02.mkv", f"{mount}/__all__/Gone Release/{E02}")
        sonarr.add_episode_file(1, 12, lost, 1, [2])
        gateway = start_gateway(emulator, str(tmp_path / "c"), clock=clock,
                                mount={"type": "none", "mount_path": mount},
                                repair={"enabled": True, "interval": "6h", "auto_process": True},
                                arrs=[{"name": "sonarr", "host": sonarr.url, "token": "arr-key"}])
        gateway.repair.start()
        try:
            clock.advance(6 * 3600 - 60)
            assert gateway.repair.jobs() == []                       # not yet
            clock.advance(61)
            job = wait_until(lambda: [j for j in gateway.repair.jobs() if j.status.value == "completed"], 30,
                             "the scheduled scan and its processing")[0]
            assert [i.outcome for i in job.broken] == ["replaced"]
            assert sonarr.deleted == [12]
            assert any(c["name"] == "EpisodeSearch" for c in sonarr.commands)
        finally:
            gateway.stop()
