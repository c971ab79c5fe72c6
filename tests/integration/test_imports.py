"""The import pipeline against the emulator: cached, uncached, actions, REST endpoints."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import requests

from gateway.imports.records import AddRequest, ImportState
from gateway.imports.torrentmeta import make_torrent_file
from tests.integration.test_tree import base
from tests.support import expected, infohash, start_gateway, wait_until

FILES = [{"path": "Show.S01E01.mkv", "size": 300_000}, {"path": "Show.S01E02.mkv", "size": 200_000},
         {"path": "sample.mkv", "size": 1000}, {"path": "notes.txt", "size": 10}]


def magnet(h: str, name: str = "Show S01") -> str:
    return f"magnet:?xt=urn:btih:{h}&dn={name.replace(' ', '+')}"


def settle(gw, emulator, h: str, state: str = "pausedUP", timeout: float = 20):
    """Advance the emulator's clock while the import moves on; returns the record."""
    def reached():
        emulator.world.clock.advance(1.0)
        record = gw.imports.get(h)
        return record if record and record.state.value == state else None
    return wait_until(reached, timeout, f"{h} to reach {state}")


@pytest.fixture()
def importer(emulator, tmp_path):
    gw = start_gateway(emulator, str(tmp_path / "c"), refresh_interval="100ms", default_download_action="strm")
    gw.imports.start()
    try:
        yield gw
    finally:
        gw.stop()


def test_cached_magnet_completes_with_strm(importer, emulator) -> None:
    h = infohash("cached-show")
    emulator.world.add_catalog(h, "Show S01", FILES, cached=True)
    record = importer.imports.add(AddRequest(magnet=magnet(h), category="sonarr"))
    assert record.state == ImportState.METADATA and importer.imports.get(h) is not None
    done = settle(importer, emulator, h)
    assert [f.path for f in done.files if f.selected] == ["Show.S01E01.mkv", "Show.S01E02.mkv"]
    strm = Path(done.content_path) / "Show.S01E01.mkv.strm"
    url = strm.read_text().strip()
    assert requests.get(url, timeout=10).content == expected({"hash": h, "files": FILES}, "Show.S01E01.mkv")
    # The torrent appears in the tree at once, in its category group too.
    assert done.folder in [e.name for e in importer.vfs.listdir("/sonarr")]


def test_uncached_with_download_uncached_off_errors(importer, emulator) -> None:
    h = infohash("uncached-1")
    emulator.world.add_catalog(h, "Rare Show", FILES, cached=False)
    importer.imports.add(AddRequest(magnet=magnet(h, "Rare Show"), category="sonarr"))
    record = settle(importer, emulator, h, "error")
    assert "not cached" in record.error and "download_uncached" in record.error
    assert all(t.hash != h for t in emulator.world.list_torrents("test-token"))   # deleted at the provider


def test_uncached_download_progresses_then_completes(importer, emulator) -> None:
    h = infohash("uncached-2")
    emulator.world.set_knobs(download_speed=20_000)
    emulator.world.add_catalog(h, "Slow Show", FILES, cached=False)
    importer.imports.add(AddRequest(magnet=magnet(h, "Slow Show"), category="sonarr", download_uncached=True))
    seen: list[float] = []

    def progressing():
        emulator.world.clock.advance(0.2)
        record = importer.imports.get(h)
        if record.state == ImportState.DOWNLOADING and (not seen or record.progress > seen[-1]):
            seen.append(record.progress)
        return record.state == ImportState.COMPLETE
    wait_until(progressing, 30, "the uncached download")
    assert len(seen) >= 3 and seen == sorted(seen) and 0 < seen[0] < seen[-1] < 1


def test_torrent_file_and_duplicates(importer, emulator) -> None:
    data = make_torrent_file("Movie 2020", [("Movie 2020/movie.mkv", 5000), ("Movie 2020/movie.srt", 100)])
    from gateway.imports.torrentmeta import parse_torrent_file
    meta = parse_torrent_file(data)
    emulator.world.add_catalog(meta.infohash, "Movie 2020", [{"path": "movie.mkv", "size": 5000},
                                                            {"path": "movie.srt", "size": 100}], cached=True)
    first = importer.imports.add(AddRequest(torrent_file=data, category="radarr"))
    again = importer.imports.add(AddRequest(magnet=magnet(meta.infohash), category="radarr"))
    assert first.hash == again.hash == meta.infohash
    assert len(importer.imports.list()) == 1
    settle(importer, emulator, meta.infohash)
    assert sum(1 for t in emulator.world.list_torrents("test-token") if t.hash == meta.infohash) == 1


def test_no_wanted_files_is_an_error_with_reason(importer, emulator) -> None:
    h = infohash("only-text")
    emulator.world.add_catalog(h, "Docs", [{"path": "readme.txt", "size": 10}], cached=True)
    importer.imports.add(AddRequest(magnet=magnet(h, "Docs")))
    record = settle(importer, emulator, h, "error")
    assert "allowed_file_types" in record.error


def test_download_action_copies_bytes(emulator, tmp_path) -> None:
    gw = start_gateway(emulator, str(tmp_path / "c"), refresh_interval="100ms", default_download_action="download")
    gw.imports.start()
    try:
        h = infohash("copy-me")
        files = [{"path": "Film.mkv", "size": 1_500_000}]
        emulator.world.add_catalog(h, "Film", files, cached=True)
        gw.imports.add(AddRequest(magnet=magnet(h, "Film"), category="radarr"))
        done = settle(gw, emulator, h)
        assert done.content_path.endswith("Film.mkv") and not os.path.islink(done.content_path)
        assert Path(done.content_path).read_bytes() == expected({"hash": h, "files": files}, "Film.mkv")
    finally:
        gw.stop()


def test_delete_removes_record_and_output_not_library(importer, emulator) -> None:
    h = infohash("to-delete")
    emulator.world.add_catalog(h, "Gone Soon", FILES, cached=True)
    importer.imports.add(AddRequest(magnet=magnet(h, "Gone Soon"), category="sonarr"))
    done = settle(importer, emulator, h)
    assert os.path.isdir(done.content_path)
    assert importer.imports.delete([h]) == 1
    assert importer.imports.get(h) is None and not os.path.exists(done.content_path)
    assert done.folder in [e.name for e in importer.vfs.listdir("/__all__")]


def test_rest_add_torrents_delete(importer, emulator) -> None:
    b = base(importer)
    h = infohash("rest-add")
    emulator.world.add_catalog(h, "Rest Show", FILES, cached=True)
    added = requests.post(f"{b}/api/add", json={"url": magnet(h, "Rest Show"), "category": "sonarr"}, timeout=10)
    assert added.status_code == 200 and added.json()[0]["hash"] == h
    data = make_torrent_file("Up Movie", [("Up Movie/up.mkv", 4000)])
    upload = requests.post(f"{b}/api/add", files={"file": ("up.torrent", data)}, data={"category": "radarr"},
                           timeout=10)
    assert upload.status_code == 200 and upload.json()[0]["name"] == "Up Movie"
    listed = requests.get(f"{b}/api/torrents", params={"category": "sonarr"}, timeout=10).json()
    assert [t["hash"] for t in listed] == [h]
    one = requests.get(f"{b}/api/torrents", params={"hash": h.upper()}, timeout=10).json()
    assert one["hash"] == h and one["state"] in ("metaDL", "queuedDL", "downloading", "pausedUP")
    assert requests.get(f"{b}/api/torrents", params={"hash": "0" * 40}, timeout=10).status_code == 404
    assert requests.delete(f"{b}/api/torrents", timeout=10).status_code == 400
    gone = requests.delete(f"{b}/api/torrents", params={"hash": h, "category": "sonarr"}, timeout=10)
    assert gone.json() == {"deleted": 1}


@pytest.mark.parametrize("kwargs, status", [
    ({"json": {"url": "magnet:?dn=no-hash"}}, 400),
    ({"json": {"url": "ftp://x/y.torrent"}}, 400),
    ({"json": {}}, 400),
    ({"json": {"url": "magnet:?xt=urn:btih:" + "a" * 40, "action": "teleport"}}, 400),
    ({"json": {"url": "magnet:?xt=urn:btih:" + "a" * 40, "debrid": "nope"}}, 400),
    ({"files": {"file": ("x.torrent", b"d4:infoi1e")}}, 400),
    ({"files": {"file": ("x.torrent", b"not bencode at all")}}, 400),
    ({"files": {"file": ("show.nzb", b"<?xml version='1.0'?><nzb></nzb>")}}, 400),
    ({"data": b"{broken", "headers": {"Content-Type": "application/json"}}, 400),
])
def test_rest_add_bad_input(importer, kwargs, status) -> None:
    response = requests.post(f"{base(importer)}/api/add", timeout=10, **kwargs)
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error", "code"} and body["code"] == status
    if "nzb" in str(kwargs):
        assert "torbox" in body["error"].lower()


def test_strm_links_are_signed_when_auth_is_on(emulator, tmp_path) -> None:
    gw = start_gateway(emulator, str(tmp_path / "c"), refresh_interval="100ms", default_download_action="strm",
                       use_auth=True)
    gw.imports.start()
    try:
        h = infohash("signed-strm")
        emulator.world.add_catalog(h, "Signed Show", FILES, cached=True)
        gw.imports.add(AddRequest(magnet=magnet(h, "Signed Show"), category="sonarr"))
        done = settle(gw, emulator, h)
        url = (Path(done.content_path) / "Show.S01E01.mkv.strm").read_text().strip()
        assert "?sig=" in url
        # A player fetches it with no credentials at all.
        assert requests.get(url, timeout=10).content == expected({"hash": h, "files": FILES}, "Show.S01E01.mkv")
        unsigned = url.split("?", 1)[0]
        assert requests.get(unsigned, timeout=10).status_code == 401
        assert requests.get(url[:-1] + ("0" if url[-1] != "0" else "1"), timeout=10).status_code == 401
        other = unsigned.replace("S01E01", "S01E02") + "?" + url.split("?", 1)[1]
        assert requests.get(other, timeout=10).status_code == 401   # a signature is for one file only
    finally:
        gw.stop()


def check_symlink_import(gw, emulator, mount_path: str, label: str) -> None:
    """Grab with the symlink action until pausedUP, then read every file through its link
    (which must point into ``mount_path``) and compare with the emulator."""
    h = infohash(label)
    files = [{"path": f"{label}/{label}.E01.mkv", "size": 2_500_000},
             {"path": f"{label}/{label}.E02.mkv", "size": 1_750_003}]
    emulator.world.add_catalog(h, label, files, cached=True)
    gw.imports.add(AddRequest(magnet=magnet(h, label), category="sonarr"))
    done = settle(gw, emulator, h, timeout=40)
    content = Path(done.content_path)
    assert content.parent == Path(gw.config.download_folder) / "sonarr"
    links = sorted(p for p in content.rglob("*") if p.is_symlink())
    assert len(links) == 2
    for link, spec in zip(links, files, strict=True):
        assert os.readlink(link).startswith(os.path.join(mount_path, "__all__"))
        assert link.read_bytes() == expected({"hash": h, "files": files}, spec["path"])
