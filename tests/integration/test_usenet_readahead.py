"""A read at a new offset costs one round trip and about one article (contract §8 "Reading"),
through the gateway's own reader (``UsenetFiles``, the fetcher seam every front end uses)
against the NNTP emulator, which counts every article it serves."""

from __future__ import annotations

from typing import Any

from emulators.usenet import NNTPServer
from emulators.usenet.release import build_release
from gateway.library.snapshot import FileRef
from gateway.usenet import Usenet as UsenetClient
from tests.integration.test_usenet import PART, Usenet, addfile, finished, media, usenet
from tests.integration.test_usenet_reads import NZO_PREFIX
from tests.support import wait_until

__all__ = ["usenet"]   # the fixture, imported for pytest
ARTICLES = 60


def _quiet(client: UsenetClient, server: NNTPServer) -> bool:
    """No fetch running or waiting at the gateway (every open connection idle, no waiter), and
    the emulator done counting: every BODY it was sent is answered (served or 430)."""
    stats = server.stats()
    return all(h["connections"] == h["idle"] and h["waiting"] == 0 for h in client.health().values()) and \
        stats.commands.get("BODY", 0) == stats.articles_served + stats.missing


def test_a_read_at_a_new_offset_fetches_about_one_article(usenet: Usenet) -> None:
    title = "Show.S13E01.1080p.WEB-SEEK"
    video = media(title, ARTICLES * PART)
    release = build_release([(f"{title}.mkv", video)], name=title, part_size=PART, store=usenet.store)
    ids = release.file(f"{title}.mkv").message_ids
    gateway = usenet.start_gateway(usenet={
        "providers": [usenet.primary() | {"max_connections": 4}],
        "max_connections": 8, "import_availability_sample_percent": 0})
    nzo = addfile(gateway, title, release.nzb)
    assert finished(gateway, nzo)["status"] == "Completed"
    files, client = gateway.usenet_files, gateway.usenet
    assert files is not None and client is not None
    ref = FileRef("usenet", nzo.removeprefix(NZO_PREFIX), 0)
    wait_until(lambda: _quiet(client, usenet.server), 10, "the import's fetches to settle")

    def served() -> dict[str, Any]:
        return usenet.server.stats().served_by_id

    for offset in (30 * PART + 7, 5 * PART + 1, 52 * PART + PART - 50):   # seeks, forwards and back
        usenet.server.reset_stats()
        stream = files.open(ref, offset)                                    # no end given: a player's read
        try:
            assert stream.read(40) == video[offset:offset + 40]
        finally:
            stream.close()
        wait_until(lambda: _quiet(client, usenet.server), 10, "the read's fetches")
        first = offset // PART
        assert ids[first] in served() and set(served()) <= {ids[first], ids[first + 1]}, sorted(served())
