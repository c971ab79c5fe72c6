"""A failed stream starts a repair (contract §9): reading a file the provider purged opens one
repair job for its media item, as POST /api/repair would; 100 more failed reads open no other."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import pytest
import requests

from emulators.server import Emulator
from gateway import errors
from gateway.config import USENET
from gateway.imports.nzb import nzo_id
from gateway.library.snapshot import FileRef
from tests.integration.test_repair import MOVIE, SHOW, Scene, _scene
from tests.support import wait_until


@pytest.fixture()
def scene(emulator: Emulator, tmp_path: Any) -> Iterator[Scene]:
    yield from _scene(emulator, tmp_path)


def _read(scene: Scene, group: str, folder: str, path: str) -> int:
    url = f"http://127.0.0.1:{scene.gateway.port}/webdav/{group}/{quote(folder)}/{quote(path)}"
    return requests.get(url, headers={"Range": "bytes=0-1023"}, timeout=30).status_code


def test_a_read_of_a_purged_file_opens_one_repair_job(scene: Scene) -> None:
    scene.radarr.add_grab(MOVIE["hash"], movie_id=7)                     # what Radarr grabbed the film with
    snapshot = scene.gateway.library.snapshot()
    folder = next(name for key, name in snapshot.folders.items()
                  if snapshot.torrents[key].infohash == MOVIE["hash"])
    path = MOVIE["files"][0]["path"]
    assert _read(scene, "__all__", folder, path) == 206
    assert scene.api("GET", "/api/repair/jobs").json() == []
    scene.emulator.world.purge(infohash=MOVIE["hash"], uncache=False)   # RD lost the files

    assert _read(scene, "__all__", folder, path) >= 500                  # the reader sees the failure
    jobs = wait_until(lambda: (j := scene.api("GET", "/api/repair/jobs").json()) and
                      j[0]["status"] != "running" and j, 30, "the repair job")
    assert len(jobs) == 1
    job = jobs[0]
    assert job["arrs"] == ["radarr"]                                      # the movie's *arr, that movie only
    assert [i["title"] for i in job["broken_items"]] == ["Amelie (2001)"]
    assert job["broken_items"][0]["torrent_hash"] == MOVIE["hash"]

    # However many reads fail after it (the folder now shows in __bad__ too), still one job.
    group = "__all__" if _read(scene, "__all__", folder, path) >= 500 else "__bad__"
    repairs = scene.gateway.read_repairs
    assert repairs is not None
    before = repairs.repeated
    statuses = [_read(scene, group, folder, path) for _ in range(100)]
    assert all(s >= 500 for s in statuses), set(statuses)
    assert repairs.repeated - before == 100 and repairs.reported == 1
    assert len(scene.api("GET", "/api/repair/jobs").json()) == 1
    # A healthy file of another torrent reads on, and opens nothing.
    show = next(name for key, name in snapshot.folders.items() if snapshot.torrents[key].infohash == SHOW["hash"])
    assert _read(scene, "__all__", show, SHOW["files"][0]["path"]) == 206
    assert repairs.reported == 1


def test_a_lost_usenet_job_is_found_under_its_nzo_id(scene: Scene) -> None:
    """The *arr keeps a usenet grab under the job's nzo_id (``SABnzbd_nzo_<key>``), not the bare key."""
    snapshot = scene.gateway.library.snapshot()
    movie = next(t for t in snapshot.torrents.values() if t.infohash == MOVIE["hash"])
    key = "0f" * 20
    job = dataclasses.replace(movie, provider=USENET, id=key, infohash=key)   # the film, as an NZB job
    scene.gateway.library.add_or_update(job)
    scene.radarr.add_grab(nzo_id(key), movie_id=7)
    repairs = scene.gateway.read_repairs
    assert repairs is not None
    repairs.file_gone(FileRef(USENET, key, 0), errors.FileGone("article missing", code="430"))
    jobs = wait_until(lambda: scene.api("GET", "/api/repair/jobs").json(), 30, "the repair job")
    assert jobs[0]["arrs"] == ["radarr"]
