"""Deleting a usenet job (``DELETE /api/torrents``; SAB's history delete is in
test_usenet_sonarr.py) removes its files from the tree and its stored layout, for good."""

from __future__ import annotations

import requests

from emulators.usenet.release import build_release
from tests.integration.test_usenet import PART, Usenet, addfile, finished, media, usenet
from tests.integration.test_usenet_sonarr import NZO_PREFIX, gone_everywhere

__all__ = ["usenet"]   # the fixture, imported for pytest


def test_delete_api_removes_the_job_files_and_layout(usenet: Usenet) -> None:
    title = "Show.S09E03.720p.WEB-DEL"
    video = media(title, 400_000)
    release = build_release([(f"{title}.mkv", video)], name=title, part_size=PART, store=usenet.store)
    gateway = usenet.start_gateway()
    nzo = addfile(gateway, title, release.nzb)
    assert finished(gateway, nzo)["status"] == "Completed"
    assert gateway.usenet_files is not None and nzo.removeprefix(NZO_PREFIX) in gateway.usenet_files.layouts.jobs()
    gone = requests.delete(f"http://127.0.0.1:{gateway.port}/api/torrents",
                           params={"hash": nzo.removeprefix(NZO_PREFIX)}, timeout=10)
    assert gone.status_code == 200 and gone.json() == {"deleted": 1}
    gone_everywhere(gateway, nzo, title, f"{title}.mkv")
    listed = requests.get(f"http://127.0.0.1:{gateway.port}/api/torrents", timeout=10).json()
    assert listed == []
    # and after a restart the job does not come back from the store
    gateway.stop()
    usenet.gateway = None
    gateway = usenet.start_gateway()
    gone_everywhere(gateway, nzo, title, f"{title}.mkv")
