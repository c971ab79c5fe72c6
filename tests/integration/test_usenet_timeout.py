"""``processing_timeout`` (contract §2, §8): it bounds the import's own work once the servers
answer; time a job spends held because the servers cannot answer never counts against it."""

from __future__ import annotations

import time

import requests

from emulators.usenet.release import build_release
from tests.integration.test_usenet import PART, Usenet, addfile, browse, finished, media, sab, usenet
from tests.support import wait_until

__all__ = ["usenet"]   # the fixture, imported for pytest


def test_an_import_slower_than_processing_timeout_fails_with_the_reason(usenet: Usenet) -> None:
    title = "Show.S07E07.720p.HDTV-SLOW"
    release = build_release([(f"{title}.mkv", media(title, 600_000))], name=title, part_size=PART,
                            store=usenet.store)
    gateway = usenet.start_gateway(usenet={
        "providers": [usenet.primary()],
        "processing_timeout": "300ms"})
    usenet.server.set_latency(0.4)   # every answer: the first article alone outlasts the timeout
    done = finished(gateway, addfile(gateway, title, release.nzb))
    assert done["status"] == "Failed", done
    assert "processing_timeout" in done["fail_message"], done
    # the import stopped at the deadline: it did not go on to read and STAT the rest of the release
    assert usenet.server.stats().articles_served <= 2
    assert usenet.server.stats().commands.get("STAT", 0) == 0


def test_time_held_by_a_refused_login_does_not_count(usenet: Usenet) -> None:
    title = "Show.S08E08.720p.HDTV-WAIT"
    video = media(title, 500_000)
    release = build_release([(f"{title}.mkv", video)], name=title, part_size=PART, store=usenet.store)
    gateway = usenet.start_gateway(usenet={
        "providers": [usenet.primary()],
        "processing_timeout": "1s"})
    usenet.server.set_fail_login(True)
    added = time.monotonic()
    nzo = addfile(gateway, title, release.nzb)

    def held() -> bool:
        slots = sab(gateway, mode="queue", start="0", limit="0", category="tv")["queue"]["slots"]
        return any(s["nzo_id"] == nzo and s["labels"] for s in slots)
    wait_until(held, 30, "the job to be held")
    usenet.server.set_fail_login(False)
    done = finished(gateway, nzo, timeout=60)
    assert done["status"] == "Completed", done
    assert time.monotonic() - added > 1.0   # held longer than the timeout, and still completed
    assert browse(gateway, title, f"{title}.mkv").content == video
    listed = requests.get(f"http://127.0.0.1:{gateway.port}/api/torrents", timeout=10).json()
    assert not any(t["error"] for t in listed)
