"""Reading usenet files: FUSE byte for byte and EIO for an article missing everywhere, and a
backup server that holds what the primary lacks, at import and during reads.

Real sockets and a real mount: the gateway reads from ``emulators.usenet`` servers; the test
reads through the kernel (os.pread on the mount) and over HTTP.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from emulators.archives import write_rar
from emulators.usenet.release import build_release
from gateway.app import Gateway
from tests.integration.test_fuse import mount_cfg, needs_fuse, unmount_leftover
from tests.integration.test_usenet import (
    PART,
    Usenet,
    addfile,
    browse,
    check_reads,
    finished,
    media,
    usenet,
)

__all__ = ["usenet"]   # the fixture, imported for pytest
NZO_PREFIX = "SABnzbd_nzo_"
MB = 1 << 20


def _articles_of(gateway: Gateway, nzo: str, path: str, start: int, end: int) -> list[str]:
    """The message ids holding bytes [start, end) of a file of the job (from its stored layout)."""
    assert gateway.usenet_files is not None
    layout = gateway.usenet_files.layouts.get(nzo.removeprefix(NZO_PREFIX))
    assert layout is not None
    member = next(m for m in layout.members if m.path == path)
    ids, at = [], 0
    for source_index, offset, length in member.extents:
        lo, hi = max(start, at), min(end, at + length)
        if lo < hi:
            source = layout.sources[source_index]
            first = source.article_at(offset + lo - at)
            last = source.article_at(offset + hi - at - 1)
            ids += list(source.ids[first:last + 1])
        at += length
    return ids


def _volume_edges(gateway: Gateway, nzo: str, path: str) -> list[int]:
    assert gateway.usenet_files is not None
    layout = gateway.usenet_files.layouts.get(nzo.removeprefix(NZO_PREFIX))
    assert layout is not None
    member = next(m for m in layout.members if m.path == path)
    edges, at = [], 0
    for _, _, length in member.extents[:-1]:
        at += length
        edges.append(at)
    return edges


@pytest.fixture()
def fuse_usenet(usenet: Usenet, tmp_path: Path) -> Iterator[tuple[Usenet, Path]]:
    mnt = tmp_path / "mnt"
    try:
        yield usenet, mnt
    finally:
        if usenet.gateway is not None:
            usenet.gateway.stop()
            usenet.gateway = None
        unmount_leftover(mnt)


@needs_fuse
def test_fuse_reads_a_rar_member_byte_for_byte_and_a_missing_article_is_eio(
        fuse_usenet: tuple[Usenet, Path]) -> None:
    usenet, mnt = fuse_usenet
    title = "Movie.2025.1080p.FUSE-GRP"
    video = media(title, 3 * MB + 12_345)
    volumes = write_rar([(f"{title}.mkv", video)], version=5, base=title, volume_data=700_000)
    release = build_release(volumes, name=title, part_size=PART, store=usenet.store)
    gateway = usenet.start_gateway(mount=mount_cfg(mnt), usenet={
        "providers": [usenet.primary()],
        "import_availability_sample_percent": 0})
    nzo = addfile(gateway, title, release.nzb, cat="movies")
    assert finished(gateway, nzo, cat="movies")["status"] == "Completed"
    path = mnt / "__all__" / title / f"{title}.mkv"
    assert os.path.getsize(path) == len(video)
    # A hole in the second MiB (its own FUSE chunk), set before anything read it.
    hole_at = MB + 300_000
    usenet.server.set_missing(_articles_of(gateway, nzo, f"{title}.mkv", hole_at, hole_at + 1))
    fd = os.open(path, os.O_RDONLY)
    try:
        with pytest.raises(OSError) as caught:
            os.pread(fd, 4096, hole_at - 100)
        assert caught.value.errno == errno.EIO
        # every other range reads right: article edges, volume edges, the end of the file
        edges = [e for e in _volume_edges(gateway, nzo, f"{title}.mkv") if not MB <= e < 2 * MB]
        assert edges, "the member spans volumes outside the hole's chunk"
        ranges = [(0, 1), (PART - 10, 20), (3 * PART - 1, 2 * PART + 2), (len(video) - 7, 7),
                  (2 * MB + 5, 300_000)] + [(e - 50, 100) for e in edges]
        for start, length in ranges:
            assert os.pread(fd, length, start) == video[start:start + length], (start, length)
        with pytest.raises(OSError) as again:     # still missing: still EIO, never zeros
            os.pread(fd, 10, hole_at)
        assert again.value.errno == errno.EIO
        usenet.server.set_missing([])           # the article is back: the error was not kept
        assert os.pread(fd, 4096, hole_at - 100) == video[hole_at - 100:hole_at - 100 + 4096]
    finally:
        os.close(fd)
    assert path.read_bytes() == video


def test_articles_missing_at_the_primary_come_from_the_backup_at_import_and_reads(usenet: Usenet) -> None:
    with usenet.backup() as (backup, entry):
        title = "Show.S10E01.1080p.WEB-BACKUP"
        video = media(title, 1_050_000)
        release = build_release([(f"{title}.mkv", video)], name=title, part_size=PART, store=usenet.store)
        ids = release.file(f"{title}.mkv").message_ids
        lacking = [ids[0], ids[3], ids[4], ids[-1]]   # the import's header reads and STATs, and reads
        usenet.server.set_missing(lacking)
        gateway = usenet.start_gateway(usenet={
            "providers": [usenet.primary(), entry],
            "import_availability_sample_percent": 100})
        done = finished(gateway, addfile(gateway, title, release.nzb))
        assert done["status"] == "Completed", done
        imported = backup.stats()
        assert imported.served_by_id.keys() <= set(lacking) and imported.served_by_id   # only what it lacked
        assert imported.commands.get("STAT", 0) >= 1
        check_reads(gateway, title, f"{title}.mkv", video)
        read = backup.stats()
        assert set(read.served_by_id) == set(lacking)          # the reads needed ids[3], ids[4] too
        primary = usenet.server.stats()
        assert not set(primary.served_by_id) & set(lacking) and primary.missing >= len(lacking)
        assert browse(gateway, title, f"{title}.mkv", 3 * PART, 5 * PART - 1).content == video[3 * PART:5 * PART]


