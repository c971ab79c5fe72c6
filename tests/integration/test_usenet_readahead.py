"""Read-ahead on usenet streams (contract §8 "Reading"), through the gateway's own reader
(``UsenetFiles``, the fetcher seam every front end uses) against the NNTP emulator: a read at
a new offset fetches about one article; read-ahead grows once reads are sequential; a seek
(closing the stream) drops the read-ahead still queued, so the server is not asked for it.
"""

from __future__ import annotations

from typing import Any

import pytest

from emulators.usenet.release import build_release
from gateway.library.snapshot import FileRef
from gateway.usenet import Usenet as UsenetClient
from tests.integration.test_usenet import PART, PASSWORD, USER, Usenet, addfile, finished, media, usenet
from tests.integration.test_usenet_reads import NZO_PREFIX
from tests.support import wait_until

__all__ = ["usenet"]   # the fixture, imported for pytest
ARTICLES = 60


def _quiet(client: UsenetClient) -> bool:
    """No fetch running or waiting: every open connection idle, no waiter."""
    return all(h["connections"] == h["idle"] and h["waiting"] == 0 for h in client.health().values())


# On main (merge of u5) a stream's close cancels only executor futures, which are already running
# client.body() and waiting for a connection: 7 of 8 queued read-ahead articles are still fetched
# after the seek. u6's nzbstream rework cancels the client fetch itself; this passes with it.
@pytest.mark.xfail(strict=False, reason="a seek does not drop queued read-ahead until u6's nzbstream change")
def test_a_seek_costs_one_article_read_ahead_grows_and_a_seek_drops_it(usenet: Usenet) -> None:
    title = "Show.S13E01.1080p.WEB-AHEAD"
    video = media(title, ARTICLES * PART)
    release = build_release([(f"{title}.mkv", video)], name=title, part_size=PART, store=usenet.store)
    ids = release.file(f"{title}.mkv").message_ids
    gateway = usenet.start_gateway(usenet={
        "providers": [{"name": "primary", "host": "127.0.0.1", "port": usenet.server.port, "username": USER,
                       "password": PASSWORD, "max_connections": 2}],
        "max_connections": 8, "import_availability_sample_percent": 0})
    nzo = addfile(gateway, title, release.nzb)
    assert finished(gateway, nzo)["status"] == "Completed"
    files, client = gateway.usenet_files, gateway.usenet
    assert files is not None and client is not None
    ref = FileRef("usenet", nzo.removeprefix(NZO_PREFIX), 0)
    wait_until(lambda: _quiet(client), 10, "the import's fetches to settle")
    usenet.server.reset_stats()
    usenet.server.set_latency(0.2)        # 2 connections, 200 ms an answer: queued work shows

    def served() -> dict[str, Any]:
        return usenet.server.stats().served_by_id

    stream = files.open(ref, 30 * PART + 7)                     # a read at a new offset, no end given
    assert stream.read(10) == video[30 * PART + 7:30 * PART + 17]
    wait_until(lambda: _quiet(client), 10, "the first read's fetches")
    assert set(served()) == {ids[30]}                           # one round trip, one article
    got = b""
    while len(got) < 8 * PART:                                  # sequential: the window grows
        got += stream.read(PART)
    assert got == video[30 * PART + 17:30 * PART + 17 + len(got)]
    last_read = (stream.position - 1) // PART                   # the last article the reader has
    stream.close()                                              # a seek: the read-ahead is not wanted
    wait_until(lambda: _quiet(client), 20, "in-flight fetches to end")
    ahead = {k for k in range(last_read + 1, ARTICLES) if ids[k] in served()}
    assert ahead, "no read-ahead while reading sequentially"
    assert len(ahead) <= 3, f"{sorted(ahead)} fetched after the seek: queued read-ahead was not dropped"

    usenet.server.reset_stats()
    stream = files.open(ref, 5 * PART + 1)                      # the seek's new read: about one article
    try:
        assert stream.read(100) == video[5 * PART + 1:5 * PART + 101]
    finally:
        stream.close()
    wait_until(lambda: _quiet(client), 10, "the seek's fetch")
    assert set(served()) <= {ids[5], ids[6]}
