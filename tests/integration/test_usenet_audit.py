"""Issue 17 items the other usenet tests leave open, against the NNTP emulator over real sockets:
a multi-GiB release is ``Completed`` within seconds reading a handful of articles plus the STAT
sample; solid and encrypted RAR sets fail with the reason; the ``strm``, ``download`` and
``symlink`` actions run on usenet files; SAB ``addurl`` (Prowlarr) takes an NZB link to the usenet servers;
a file posted in uneven parts is mapped from every article header (and refused when they do
not tile it).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
import requests

from emulators.archives import write_rar
from emulators.usenet.media import lazy_media, media_range
from emulators.usenet.release import PostedFile, Segment, build_release, nzb_xml
from emulators.usenet.yenc import encode_part
from tests.integration.test_fuse import mount_cfg, needs_fuse
from tests.integration.test_sab_replay import _NzbServer
from tests.integration.test_usenet import PART, Usenet, addfile, browse, finished, media, sab, usenet
from tests.integration.test_usenet_reads import fuse_usenet

__all__ = ["fuse_usenet", "usenet"]   # the fixtures, imported for pytest
GIB = 1 << 30


def test_a_large_release_completes_within_seconds_reading_a_handful_of_articles(usenet: Usenet) -> None:
    title = "Movie.2026.2160p.UHD-BIG"
    size, part = 3 * GIB + 12_345, 768_000          # about 4,200 articles, built on demand
    release = build_release([lazy_media(f"{title}.mkv", size, seed=title), (f"{title}.nfo", b"nfo")],
                            name=title, part_size=part, store=usenet.store)
    articles = len(release.file(f"{title}.mkv").message_ids)
    gateway = usenet.start_gateway()                 # import_availability_sample_percent: 20 (Usenet's)
    usenet.server.reset_stats()
    began = time.monotonic()
    nzo = addfile(gateway, title, release.nzb)
    done = finished(gateway, nzo, timeout=60)
    took = time.monotonic() - began
    assert done["status"] == "Completed", done
    assert took < 10, f"{took:.1f} s from addfile to Completed"          # contract §8: within 10 s
    stats = usenet.server.stats()
    assert stats.articles_served <= 5 * 2                                   # ≤ 5 per file (two files)
    assert 0.2 * articles <= stats.commands.get("STAT", 0) <= 0.2 * articles + 5   # the sample, not more
    for offset in (0, part - 3, size // 2, size - 100):
        got = browse(gateway, title, f"{title}.mkv", offset, offset + 99)
        assert got.status_code == 206 and got.content == media_range(title, size, offset, 100)[:size - offset]


@pytest.mark.parametrize(("options", "reason"), [({"solid": True}, "solid"), ({"encrypted": "data"}, "encrypted"),
                                                 ({"encrypted": "headers"}, "encrypted")])
def test_solid_and_encrypted_rar_sets_fail_with_the_reason(usenet: Usenet, options: dict[str, object],
                                                           reason: str) -> None:
    title = f"Movie.2024.1080p.{reason.upper()}-GRP"
    volumes = write_rar([(f"{title}.mkv", media(title, 500_000))], version=5, base=title, volume_data=250_000,
                        **options)
    release = build_release(volumes, name=title, part_size=PART, store=usenet.store)
    gateway = usenet.start_gateway()
    done = finished(gateway, addfile(gateway, title, release.nzb))
    assert done["status"] == "Failed" and reason in done["fail_message"], done
    assert browse(gateway, title, f"{title}.mkv").status_code == 404   # nothing half-published


@pytest.mark.parametrize("action", ["strm", "download"])
def test_the_strm_and_download_actions_run_on_usenet_files(usenet: Usenet, action: str) -> None:
    title = f"Show.S12E01.720p.WEB-{action.upper()}"
    video = media(title, 900_000)
    release = build_release([(f"{title}.mkv", video), (f"{title}.nfo", b"nfo")], name=title, part_size=PART,
                            store=usenet.store)
    gateway = usenet.start_gateway(default_download_action=action)
    done = finished(gateway, addfile(gateway, title, release.nzb))
    assert done["status"] == "Completed", done
    storage = os.path.join(gateway.config.download_folder, "tv", title)
    assert done["storage"] == storage
    if action == "download":
        with open(os.path.join(storage, f"{title}.mkv"), "rb") as copied:
            assert copied.read() == video                   # every article read, decoded, in order
    else:
        with open(os.path.join(storage, f"{title}.mkv.strm")) as strm:
            url = strm.read().strip()
        got = requests.get(url, headers={"Range": "bytes=150000-350000"}, timeout=30)
        assert got.status_code == 206 and got.content == video[150_000:350_001]


def test_sab_addurl_sends_an_nzb_link_to_the_usenet_servers(usenet: Usenet) -> None:
    title = "Show.S12E02.720p.WEB-LINK"
    video = media(title, 400_000)
    release = build_release([(f"{title}.mkv", video)], name=title, part_size=PART, store=usenet.store)
    gateway = usenet.start_gateway()
    indexer = _NzbServer(release.nzb)
    try:
        answer = sab(gateway, "POST", mode="addurl", name=indexer.url, cat="tv", priority="-100")
        assert answer["status"] is True
        done = finished(gateway, answer["nzo_ids"][0])
    finally:
        indexer.close()
    assert done["status"] == "Completed" and done["name"] == title, done
    assert usenet.server.stats().articles_served >= 1
    assert browse(gateway, title, f"{title}.mkv").content == video


def _uneven(usenet: Usenet, title: str, video: bytes, sizes: list[int], overlap: int = 0) -> bytes:
    """An NZB of one file posted in parts of the given sizes (a poster's odd splits); with
    ``overlap`` the third part starts that many bytes early (its articles do not tile the file)."""
    segments, begin = [], 0
    for number, length in enumerate(sizes, start=1):
        if number == 3:
            begin -= overlap
        mid = f"{title}.{number}@uneven.invalid"
        body = encode_part(video[begin:begin + length], name=f"{title}.mkv", file_size=len(video), part=number,
                           total=len(sizes), begin=begin)
        usenet.store.add(mid, body, {"Subject": f'"{title}.mkv" yEnc ({number}/{len(sizes)})'})
        segments.append(Segment(number, mid, len(body), begin, length))
        begin += length
    posted = PostedFile(name=f"{title}.mkv", posted_name=f"{title}.mkv", size=len(video),
                        segments=tuple(segments), subject=f'"{title}.mkv" yEnc (1/{len(sizes)})')
    return nzb_xml([posted], {"name": title})


def test_a_file_posted_in_uneven_parts_is_mapped_from_every_header(usenet: Usenet) -> None:
    title = "Show.S12E03.720p.WEB-UNEVEN"
    sizes = [100_000, 80_000, 120_000, 100_000, 33_333, 100_000, 7]
    video = media(title, sum(sizes))
    gateway = usenet.start_gateway()
    done = finished(gateway, addfile(gateway, title, _uneven(usenet, title, video, sizes)))
    assert done["status"] == "Completed", done
    assert usenet.server.stats().articles_served == len(sizes)     # every header, once
    for start, end in [(99_990, 180_010), (300_000, 433_333), (len(video) - 8, len(video) - 1), (0, len(video) - 1)]:
        got = browse(gateway, title, f"{title}.mkv", start, end)
        assert got.status_code == 206 and got.content == video[start:end + 1], (start, end)


def test_parts_that_do_not_tile_the_file_fail_with_the_reason(usenet: Usenet) -> None:
    title = "Show.S12E04.720p.WEB-OVERLAP"
    sizes = [100_000, 80_000, 120_000, 100_000]
    video = media(title, sum(sizes) - 500)
    gateway = usenet.start_gateway()
    done = finished(gateway, addfile(gateway, title, _uneven(usenet, title, video, sizes, overlap=500)))
    assert done["status"] == "Failed" and "end to end" in done["fail_message"], done


@needs_fuse
def test_the_symlink_action_links_into_the_mount_and_the_link_reads(fuse_usenet: tuple[Usenet, Path]) -> None:
    usenet, mnt = fuse_usenet
    title = "Show.S12E05.720p.WEB-LINKED"
    video = media(title, 700_000)
    release = build_release([(f"{title}.mkv", video), (f"{title}.nfo", b"nfo")], name=title, part_size=PART,
                            store=usenet.store)
    gateway = usenet.start_gateway(mount=mount_cfg(mnt), default_download_action="symlink")
    began = time.monotonic()
    done = finished(gateway, addfile(gateway, title, release.nzb))
    assert done["status"] == "Completed" and time.monotonic() - began < 10, done
    link = os.path.join(done["storage"], f"{title}.mkv")
    assert os.path.islink(link) and os.readlink(link) == str(mnt / "__all__" / title / f"{title}.mkv")
    with open(link, "rb") as handle:
        handle.seek(250_000)
        assert handle.read(200_000) == video[250_000:450_000]
