"""Season packs (contract §6): a multi-season torrent Sonarr grabbed lands per season at content_path.

Sonarr imports a completed torrent from its ``content_path`` (``save_path/<root folder>``, as
qBittorrent reports a multi-file torrent) and walks it recursively, parsing each file's name and
its season folder. So the action must keep the torrent's relative layout (``Season 01/...``),
not flatten it, and ``torrents/files`` must show the same nested names. Real HTTP in the qBit
sequence of the replay, the ``symlink`` action into the gateway's own WebDAV tree mounted with
rclone, every linked file read back through the mount.
"""

from __future__ import annotations

import os
from typing import Any
from urllib.parse import quote

from gateway.imports.records import AddRequest
from gateway.imports.torrentmeta import make_torrent_file, parse_torrent_file
from tests.integration.test_imports import magnet, settle
from tests.integration.test_sonarr_replay import SONARR, Arr, check_connection, replay_gateway, wait_complete
from tests.support import expected, infohash, start_gateway

__all__ = ["replay_gateway"]   # the fixture, used by name

PACK = "Series.Title.S01-S03.1080p.WEB-DL.x264-GRP"
SEASONS = (1, 2, 3)


def pack_files() -> list[dict[str, Any]]:
    files = [{"path": f"Season {s:02d}/Series.Title.S{s:02d}E{e:02d}.1080p.WEB-DL.x264-GRP.mkv",
              "size": 400_000 + 1000 * s + e} for s in SEASONS for e in (1, 2)]
    files.append({"path": "Season 01/Series.Title.S01E01.1080p.WEB-DL.x264-GRP.en.srt", "size": 1_500})
    files.append({"path": "Season 02/Sample/series.title.s02e01.sample.mkv", "size": 30_000})   # not selected
    return files


def test_a_three_season_pack_lands_per_season(replay_gateway, emulator) -> None:
    arr = Arr(replay_gateway, SONARR)
    check_connection(arr)
    files = pack_files()
    data = make_torrent_file(PACK, [(f"{f['path']}", f["size"]) for f in files], seed="pack")
    h = parse_torrent_file(data).infohash
    emulator.world.add_catalog(h, PACK, files, cached=True)
    arr.call("GET", "app/webapiVersion")
    parts = {"torrents": (f"{PACK}.torrent", data, "application/octet-stream"),
             "category": (None, SONARR.category), "paused": (None, "False")}
    assert arr.call("POST", "torrents/add", files=parts).text != "Fails."

    item = wait_complete(arr, emulator, [h])[h]
    root = item["content_path"]
    assert root == f"{item['save_path']}/{PACK}" and item["name"] == PACK
    # What Sonarr walks at content_path: one folder per season, each holding its episodes.
    assert sorted(os.listdir(root)) == ["Season 01", "Season 02", "Season 03"]
    wanted = [f for f in files if "/Sample/" not in f["path"]]
    found = sorted(os.path.relpath(os.path.join(d, n), root) for d, _, names in os.walk(root) for n in names)
    assert found == sorted(f["path"] for f in wanted)
    entry = {"hash": h, "files": files}
    for f in wanted:   # each link reads its own episode through the mount, not a neighbour's
        link = os.path.join(root, *f["path"].split("/"))
        assert os.path.islink(link) and f"/__all__/{PACK}/{f['path']}" in os.readlink(link)
        with open(link, "rb") as handle:
            assert handle.read() == expected(entry, f["path"])
    # torrents/files: the nested names under the root folder, '/'-separated, as qBit lists them.
    listed = {f["name"] for f in arr.call("GET", "torrents/files", params={"hash": h}).json()}
    assert {f"{PACK}/{f['path']}" for f in wanted} <= listed
    # The tree shows the pack as one folder with its season folders (WebDAV, FUSE and browse alike).
    tree = replay_gateway.vfs
    assert [e.name for e in tree.listdir(f"/__all__/{PACK}")][:3] == ["Season 01", "Season 02", "Season 03"]
    assert sorted(e.name for e in tree.listdir(f"/__all__/{PACK}/Season 03")) == [
        "Series.Title.S03E01.1080p.WEB-DL.x264-GRP.mkv", "Series.Title.S03E02.1080p.WEB-DL.x264-GRP.mkv"]
    # Sonarr removes the pack after importing it: every season's links go with it.
    arr.call("POST", "torrents/delete", data={"hashes": h, "deleteFiles": "true"})
    assert not os.path.exists(root)


def test_strm_files_of_a_pack_keep_the_season_folders(emulator, tmp_path) -> None:
    gw = start_gateway(emulator, str(tmp_path / "c"), refresh_interval="100ms", default_download_action="strm",
                       download_folder=str(tmp_path / "downloads"))
    gw.imports.start()
    try:
        files = pack_files()
        h = infohash("strm pack")
        emulator.world.add_catalog(h, PACK, files, cached=True)
        gw.imports.add(AddRequest(magnet=magnet(h, PACK), category="sonarr"))
        record = settle(gw, emulator, h)
        root = record.content_path
        media = sorted(f["path"] + ".strm" for f in files if f["path"].endswith(".mkv") and "/Sample/" not in f["path"])
        found = sorted(os.path.relpath(os.path.join(d, n), root) for d, _, names in os.walk(root) for n in names)
        assert found == media
        with open(os.path.join(root, "Season 03", "Series.Title.S03E02.1080p.WEB-DL.x264-GRP.mkv.strm")) as handle:
            assert handle.read().rstrip().endswith(quote("Season 03/Series.Title.S03E02.1080p.WEB-DL.x264-GRP.mkv"))
    finally:
        gw.stop()
