"""Archives inside debrid torrents (contract §9): a torrent of a stored RAR set shows the files
inside it, read as byte ranges of its volumes, at every provider, over real HTTP to the emulators.

The sets are written by ``emulators/archives.py`` (the independent oracle) and held by the
emulator's catalog as the volumes' own bytes; the gateway reads their headers through the CDN.
"""

from __future__ import annotations

import os
import random
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import pytest
import requests

from emulators.archives import without_volume, write_rar
from emulators.server import KEYS, Emulator
from gateway.app import Gateway, build
from gateway.clock import SystemClock
from gateway.library.snapshot import FileNode, MemberRef
from tests.support import TOKEN, TickClock, gateway_config, infohash, wait_until

PASSWORD = "adminadmin"
KINDS = ["realdebrid", "alldebrid", "torbox", "debridlink", "premiumize"]
CHUNK = 16 * 1024


def member_bytes(label: str, size: int) -> bytes:
    return random.Random(label).randbytes(size)


def rar_set(label: str, *, version: int, volumes: int, naming: str | None = None, member: str = "",
            **options: Any) -> tuple[dict[str, Any], str, bytes]:
    """A catalog entry holding a stored RAR set of one media file; (entry, media name, its bytes)."""
    name = member or f"{label}.mkv"
    data = member_bytes(label, volumes * CHUNK - 1000)   # the last volume is a short one
    written = write_rar([(name, data)], version=version, base=label, volume_data=CHUNK, naming=naming, **options)
    assert len(written) == volumes, len(written)
    entry = {"hash": infohash(label), "name": label,
             "files": [{"path": vname, "data": vbytes} for vname, vbytes in written]}
    return entry, name, data


def boundaries(data: bytes, volumes: int) -> list[int]:
    """Offsets in the member where one volume's piece ends and the next begins (the writer puts
    ``CHUNK`` member bytes in each volume)."""
    return [i * CHUNK for i in range(1, volumes)]


@pytest.fixture(params=KINDS)
def kind(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture()
def emu(kind: str) -> Iterator[Emulator]:
    with Emulator(rate_limit=False) as e:
        e.world.add_account(TOKEN, provider=KEYS[kind])
        yield e


def start(emu: Emulator, kind: str, config_dir: str, clock: Any = None, **overrides: Any) -> Gateway:
    config = gateway_config(emu, config_dir, debrids=[{
        "name": kind, "provider": kind, "api_key": TOKEN, "api_url": emu.api_url(kind),
        "rate_limit": "off", "torrents_refresh_interval": "1h"}], **overrides)
    gateway = build(config, clock or TickClock()).start(workers=False)
    gateway.refresh_now()
    return gateway


def folder_of(gateway: Gateway, label: str) -> str:
    def find() -> str | None:
        snapshot = gateway.library.snapshot()
        return next((name for key, name in snapshot.folders.items()
                     if snapshot.torrents[key].infohash == infohash(label)
                     and snapshot.resolve(["__all__", name]) is not None), None)
    return wait_until(find, timeout=30, what=f"the folder of {label}")


def check_reads(gateway: Gateway, folder: str, name: str, data: bytes, volumes: int) -> None:
    path = f"/__all__/{folder}/{name}"
    base = f"http://127.0.0.1:{gateway.port}"
    urls = [f"{base}/webdav/__all__/{quote(folder)}/{quote(name)}",
            f"{base}/api/browse/download/{quote(folder)}/{quote(name)}"]
    spots = [(0, 5000), (len(data) - 3000, 3000)] + [(b - 700, 1400) for b in boundaries(data, volumes)]
    handle = gateway.vfs.open(path)
    try:
        for offset, length in spots:
            assert handle.pread(offset, length) == data[offset:offset + length], (offset, length)
    finally:
        handle.close()
    for url in urls:
        for offset, length in spots:
            response = requests.get(url, headers={"Range": f"bytes={offset}-{offset + length - 1}"}, timeout=10)
            assert response.status_code == 206, (url, response.status_code)
            assert response.content == data[offset:offset + length], (url, offset)
    whole = requests.get(urls[0], timeout=30)
    assert whole.status_code == 200 and whole.content == data
    # No provider link holds these bytes: a redirect request is served here instead.
    redirected = requests.get(urls[1] + "?redirect=1", headers={"Range": "bytes=0-99"}, allow_redirects=False,
                              timeout=10)
    assert redirected.status_code == 206 and redirected.content == data[:100]


@pytest.mark.parametrize(("version", "volumes", "naming"), [(4, 40, "old"), (5, 12, "new")], ids=["rar4x40", "rar5"])
def test_the_folder_shows_the_media_file_and_reads_are_exact(emu: Emulator, kind: str, tmp_path: Any,
                                                             version: int, volumes: int, naming: str) -> None:
    label = f"Archived Film {version} (2020)"
    entry, name, data = rar_set(label, version=version, volumes=volumes, naming=naming)
    emu.world.seed_library(TOKEN, [entry])
    gateway = start(emu, kind, str(tmp_path / "c"))
    try:
        folder = folder_of(gateway, label)
        listing = gateway.vfs.listdir(f"/__all__/{folder}")
        assert [(e.name, e.size) for e in listing] == [(name, len(data))]
        node = gateway.library.snapshot().resolve(["__all__", folder, name])
        assert isinstance(node, FileNode) and isinstance(node.ref, MemberRef)
        extents = node.ref.extents   # one per volume: the reads below straddle each seam
        assert [e.length for e in extents] == [CHUNK] * (volumes - 1) + [len(data) - (volumes - 1) * CHUNK]
        check_reads(gateway, folder, name, data, volumes)
    finally:
        gateway.stop()


def test_a_compressed_set_stays_as_volumes(emu: Emulator, kind: str, tmp_path: Any) -> None:
    label = "Packed Film (2021)"
    entry, name, _ = rar_set(label, version=5, volumes=3, compressed={f"{label}.mkv"})
    emu.world.seed_library(TOKEN, [entry])
    gateway = start(emu, kind, str(tmp_path / "c"))
    try:
        folder = folder_of(gateway, label)
        names = sorted(e.name for e in gateway.vfs.listdir(f"/__all__/{folder}"))
        assert names == sorted(f["path"] for f in entry["files"])
        torrent = next(t for t in gateway.library.snapshot().torrents.values() if t.infohash == infohash(label))
        layout = gateway.library.layouts.known(torrent)
        assert layout is not None and layout.refused == "compressed RAR"
    finally:
        gateway.stop()


def test_unpack_archives_off_keeps_the_volumes(emu: Emulator, kind: str, tmp_path: Any) -> None:
    label = "Plain Volumes (2022)"
    entry, _, _ = rar_set(label, version=5, volumes=3)
    emu.world.seed_library(TOKEN, [entry])
    gateway = start(emu, kind, str(tmp_path / "c"), unpack_archives=False)
    try:
        folder = folder_of(gateway, label)
        assert sorted(e.name for e in gateway.vfs.listdir(f"/__all__/{folder}")) == \
            sorted(f["path"] for f in entry["files"])
    finally:
        gateway.stop()


def test_a_missing_volume_is_refused_never_a_file_with_a_hole(emu: Emulator, kind: str, tmp_path: Any) -> None:
    label = "Holed Film (2019)"
    entry, name, _ = rar_set(label, version=5, volumes=6)
    kept = without_volume([(f["path"], f["data"]) for f in entry["files"]], 3)
    entry["files"] = [{"path": n, "data": d} for n, d in kept]
    emu.world.seed_library(TOKEN, [entry])
    gateway = start(emu, kind, str(tmp_path / "c"))
    try:
        folder = folder_of(gateway, label)
        names = [e.name for e in gateway.vfs.listdir(f"/__all__/{folder}")]
        assert name not in names
        torrent = next(t for t in gateway.library.snapshot().torrents.values() if t.infohash == infohash(label))
        layout = gateway.library.layouts.known(torrent)
        assert layout is not None and layout.refused == "missing volume 4"
    finally:
        gateway.stop()


def cdn_reads(emu: Emulator, since: int) -> int:
    """Ranged CDN requests since a log mark (API calls carry no Range)."""
    return sum(1 for e in emu.world.log(since) if e["range"])


def unrestricts(emu: Emulator, since: int) -> int:
    return sum(1 for e in emu.world.log(since) if "/unrestrict/" in e["path"])


@pytest.mark.parametrize("kind", ["realdebrid"])
def test_learning_50_volumes_reads_each_head_once_and_a_restart_reads_nothing(emu: Emulator, kind: str,
                                                                              tmp_path: Any) -> None:
    label = "Fifty Volumes (2018)"
    entry, name, data = rar_set(label, version=4, volumes=50, naming="old")
    emu.world.seed_library(TOKEN, [entry])
    mark = emu.world.log_mark()
    gateway = start(emu, kind, str(tmp_path / "c"))
    try:
        folder = folder_of(gateway, label)
        # Each volume: its head window only (the names number RAR4 volumes, the split flags and
        # sizes show the last one is last), never its tail; one link per volume.
        ranged = [e for e in emu.world.log(mark) if e["range"]]
        assert len(ranged) <= 50
        assert len({e["path"] for e in ranged}) == len(ranged)   # one read per volume's link
        assert all(e["range"].startswith("bytes=0-") for e in ranged)
        assert unrestricts(emu, mark) == 50
        handle = gateway.vfs.open(f"/__all__/{folder}/{name}")
        assert handle.read() == data
        handle.close()
        assert unrestricts(emu, mark) == 50   # reading uses the links learning made
    finally:
        gateway.stop()
    mark = emu.world.log_mark()
    again = start(emu, kind, str(tmp_path / "c"))
    try:
        assert [e.name for e in again.vfs.listdir(f"/__all__/{folder}")] == [name]
        assert cdn_reads(emu, mark) == 0 and unrestricts(emu, mark) == 0
        assert again.learner is not None and again.learner.learned == 0
    finally:
        again.stop()


# ------------------------------------------------------------------ imports (qBittorrent API)


def qbit_gateway(emu: Emulator, kind: str, config_dir: str, action: str, **overrides: Any) -> Gateway:
    from tests.integration.test_qbit import start_qbit_gateway
    return start_qbit_gateway(emu, config_dir, password=PASSWORD, categories=[], arrs=[], **overrides,
                              default_download_action=action, debrids=[{
                                  "name": kind, "provider": kind, "api_key": TOKEN, "api_url": emu.api_url(kind),
                                  "rate_limit": "off", "torrents_refresh_interval": "1h"}])


def grab_set(emu: Emulator, kind: str, arr: Any, label: str, **options: Any) -> tuple[str, dict[str, Any], str, bytes]:
    """What Sonarr does for a RAR release: log in, make its category, add the .torrent."""
    from gateway.imports.torrentmeta import make_torrent_file, parse_torrent_file
    entry, name, data = rar_set(label, **options)
    torrent = make_torrent_file(label, [(f["path"], len(f["data"])) for f in entry["files"]], seed=label)
    h = parse_torrent_file(torrent).infohash
    emu.world.add_catalog(h, label, entry["files"], cached=True, provider=KEYS[kind])
    assert arr.login().text == "Ok."
    arr.raw("POST", "torrents/createCategory", data={"category": arr.profile.category})   # 409 once it exists
    parts = {"torrents": (f"{label}.torrent", torrent, "application/octet-stream"),
             "category": (None, arr.profile.category), "paused": (None, "False")}
    assert arr.call("POST", "torrents/add", files=parts).text == "Ok."
    return h, entry, name, data


def finished(emu: Emulator, arr: Any, h: str, state: str = "pausedUP") -> dict[str, Any]:
    def look() -> dict[str, Any] | None:
        emu.world.clock.advance(2)
        items = {i["hash"]: i for i in arr.info(arr.profile.category)}
        item = items.get(h)
        return item if item is not None and item["state"] == state else None
    return wait_until(look, timeout=30, what=state)


def sonarr(gateway: Gateway) -> Any:
    """Sonarr's qBittorrent client, as the replay test speaks it."""
    from tests.integration.test_sonarr_replay import SONARR, Arr
    return Arr(gateway, SONARR)


def imported(emu: Emulator, kind: str, arr: Any, label: str,
             **options: Any) -> tuple[str, str, bytes, dict[str, Any]]:
    """``grab_set``, then its import finished: (hash, media name, its bytes, the qBittorrent item)."""
    h, _, name, data = grab_set(emu, kind, arr, label, **options)
    return h, name, data, finished(emu, arr, h)


def test_sonarr_imports_the_episode_inside_a_rar_release(emu: Emulator, kind: str, tmp_path: Any) -> None:
    gateway = qbit_gateway(emu, kind, str(tmp_path / "config"), "download")
    try:
        arr = sonarr(gateway)
        h, name, data, item = imported(emu, kind, arr, "Series.Title.S01E03.1080p.WEB-DL-GRP", version=4, volumes=8)
        assert item["content_path"] == f"{item['save_path']}/{name}"
        with open(item["content_path"], "rb") as handle:
            assert handle.read() == data
        files = arr.call("GET", "torrents/files", params={"hash": h}).json()
        assert [f["size"] for f in files] == [len(data)]
        assert arr.call("GET", "torrents/info", params={"hashes": h}).json()[0]["size"] == len(data)
    finally:
        gateway.stop()


@pytest.mark.parametrize("kind", ["realdebrid"])
def test_imports_say_why_a_set_stays_archives_or_fails(emu: Emulator, kind: str, tmp_path: Any) -> None:
    from tests.integration.test_sonarr_replay import SONARR, Arr
    gateway = qbit_gateway(emu, kind, str(tmp_path / "config"), "none")
    try:
        arr = Arr(gateway, SONARR)
        h, _, _, _ = grab_set(emu, kind, arr, "Packed.S01E04-GRP", version=5, volumes=3,
                              compressed={"Packed.S01E04-GRP.mkv"})
        finished(emu, arr, h)
        record = gateway.imports.get(h)
        assert record is not None and record.error == "compressed RAR: shown as archives"
        entry, _, _ = rar_set("Holed.S01E05-GRP", version=5, volumes=5)
        kept = without_volume([(f["path"], f["data"]) for f in entry["files"]], 2)
        from gateway.imports.torrentmeta import make_torrent_file, parse_torrent_file
        files = [{"path": n, "data": d} for n, d in kept]
        torrent = make_torrent_file("Holed.S01E05-GRP", [(n, len(d)) for n, d in kept], seed="holed")
        holed = parse_torrent_file(torrent).infohash
        emu.world.add_catalog(holed, "Holed.S01E05-GRP", files, cached=True, provider=KEYS[kind])
        parts = {"torrents": ("h.torrent", torrent, "application/octet-stream"),
                 "category": (None, SONARR.category)}
        assert arr.call("POST", "torrents/add", files=parts).text == "Ok."
        finished(emu, arr, holed, state="error")
        record = gateway.imports.get(holed)
        assert record is not None and record.error == "missing volume 3"
        unwanted, _, _, _ = grab_set(emu, kind, arr, "Tool.v2-GRP", version=5, volumes=2, member="setup.exe")
        finished(emu, arr, unwanted, state="error")
        record = gateway.imports.get(unwanted)
        assert record is not None and record.error.startswith("no file inside the archive matches")
    finally:
        gateway.stop()


@pytest.mark.parametrize("kind", ["realdebrid"])
def test_repair_judges_a_file_inside_volumes_by_every_volume(emu: Emulator, kind: str, tmp_path: Any) -> None:
    label = "Repaired Film (2017)"
    entry, name, _ = rar_set(label, version=5, volumes=6)
    emu.world.seed_library(TOKEN, [entry])
    gateway = start(emu, kind, str(tmp_path / "c"))
    try:
        folder = folder_of(gateway, label)
        node = gateway.library.snapshot().resolve(["__all__", folder, name])
        assert isinstance(node, FileNode) and isinstance(node.ref, MemberRef)
        scanner = gateway.repair._scanner
        assert scanner._probe(node.ref) == ("healthy", "")
        emu.world.purge(infohash=infohash(label), file=4, uncache=False)   # one volume in the middle
        state, reason = scanner._probe(node.ref)
        assert state == "broken", reason
    finally:
        gateway.stop()


def test_fuse_reads_the_file_inside_through_the_chunk_cache(emu: Emulator, kind: str, tmp_path: Any) -> None:
    from tests.integration.test_fuse import _why_no_fuse, mount_cfg, unmount_leftover
    if _why_no_fuse():
        pytest.skip(_why_no_fuse())
    label = "Mounted Film (2016)"
    volumes = 40
    entry, name, data = rar_set(label, version=4, volumes=volumes, naming="old")
    emu.world.seed_library(TOKEN, [entry])
    mnt = tmp_path / "mnt"
    gateway = start(emu, kind, str(tmp_path / "c"), SystemClock(), mount=mount_cfg(mnt, chunk_size="256KB", read_ahead_size="512KB"))
    try:
        folder = folder_of(gateway, label)
        path = mnt / "__all__" / folder / name
        assert sorted(os.listdir(mnt / "__all__" / folder)) == [name]
        assert os.stat(path).st_size == len(data)
        with open(path, "rb") as handle:
            for offset in [0, len(data) - 3000] + boundaries(data, volumes):
                handle.seek(max(0, offset - 700))
                start_at = max(0, offset - 700)
                assert handle.read(1400) == data[start_at:start_at + 1400], offset
            handle.seek(0)
            assert handle.read() == data
    finally:
        gateway.stop()
        unmount_leftover(mnt)


@pytest.mark.parametrize("kind", ["realdebrid"])
def test_the_demo_library_holds_a_film_inside_a_rar_set(emu: Emulator, kind: str, tmp_path: Any) -> None:
    from emulators.content import file_bytes
    from emulators.sample import ARCHIVED, ARCHIVED_MEDIA, sample_library
    emu.world.seed_library(TOKEN, sample_library())
    gateway = start(emu, kind, str(tmp_path / "c"))
    try:
        folder = folder_of(gateway, ARCHIVED)
        name, size = ARCHIVED_MEDIA
        assert [(e.name, e.size) for e in gateway.vfs.listdir(f"/__all__/{folder}")] == [(name, size)]
        handle = gateway.vfs.open(f"/__all__/{folder}/{name}")
        assert handle.pread(size - 100_000, 100_000) == file_bytes(f"{infohash(ARCHIVED)}/{name}", size - 100_000,
                                                                     100_000)
        handle.close()
    finally:
        gateway.stop()


@pytest.mark.parametrize("kind", ["realdebrid"])
def test_the_folder_is_not_shown_until_its_layout_is_learned(emu: Emulator, kind: str, tmp_path: Any) -> None:
    label = "Late Film (2015)"
    entry, name, _ = rar_set(label, version=5, volumes=4)
    emu.world.seed_library(TOKEN, [entry])
    emu.world.add_fault({"path_regex": r"^/cdn/", "status": 503, "times": 10_000})   # the CDN is down
    clock = TickClock()
    gateway = start(emu, kind, str(tmp_path / "c"), clock)
    try:
        assert gateway.learner is not None
        wait_until(lambda: gateway.learner is not None and gateway.learner._failed, timeout=30,
                   what="a failed try")
        snapshot = gateway.library.snapshot()
        key = next(k for k, t in snapshot.torrents.items() if t.infohash == infohash(label))
        assert key not in snapshot.folders and list(gateway.vfs.listdir("/__all__")) == []
        emu.world.clear_faults()
        clock.advance(120)
        gateway.learner.retry()
        folder = folder_of(gateway, label)
        assert [e.name for e in gateway.vfs.listdir(f"/__all__/{folder}")] == [name]
    finally:
        gateway.stop()


@pytest.mark.parametrize("kind", ["realdebrid"])
def test_a_split_7z_copy_archive_shows_its_files(emu: Emulator, kind: str, tmp_path: Any) -> None:
    from emulators.usenet.sevenzip import sevenzip_set
    label = "Seven Film (2014)"
    members = [(f"{label}.mkv", member_bytes(label, 300_000)), (f"{label}.en.srt", member_bytes("srt", 5_000))]
    volumes = sevenzip_set(label, members, volume_size=64 * 1024)
    emu.world.seed_library(TOKEN, [{"hash": infohash(label), "name": label,
                                    "files": [{"path": n, "data": d} for n, d in volumes]}])
    gateway = start(emu, kind, str(tmp_path / "c"))
    try:
        folder = folder_of(gateway, label)
        listing = {e.name: e.size for e in gateway.vfs.listdir(f"/__all__/{folder}")}
        assert listing == {n: len(d) for n, d in members}
        for n, d in members:
            handle = gateway.vfs.open(f"/__all__/{folder}/{n}")
            assert handle.read() == d
            handle.close()
    finally:
        gateway.stop()


@pytest.mark.parametrize("kind", ["realdebrid"])
def test_the_symlink_action_points_at_the_file_inside(emu: Emulator, kind: str, tmp_path: Any) -> None:
    from tests.support import HAVE_RCLONE_MOUNT, NO_RCLONE_MOUNT, rclone_mount
    if not HAVE_RCLONE_MOUNT:
        pytest.skip(NO_RCLONE_MOUNT)
    mnt = str(tmp_path / "mnt")
    gateway = qbit_gateway(emu, kind, str(tmp_path / "config"), "symlink",
                           mount={"type": "none", "mount_path": mnt})
    try:
        with rclone_mount(f"http://127.0.0.1:{gateway.port}/webdav", mnt):
            arr = sonarr(gateway)
            h, name, data, item = imported(emu, kind, arr, "Linked.S02E01.1080p-GRP", version=5, volumes=6)
            link = item["content_path"]
            assert link == f"{item['save_path']}/{name}" and os.path.islink(link)
            assert "/__all__/" in os.readlink(link) and os.readlink(link).endswith(f"/{name}")
            with open(link, "rb") as handle:
                assert handle.read() == data
            arr.call("POST", "torrents/delete", data={"hashes": h, "deleteFiles": "true"})
    finally:
        gateway.stop()


@pytest.mark.parametrize("kind", ["realdebrid"])
def test_the_strm_action_streams_the_file_inside(emu: Emulator, kind: str, tmp_path: Any) -> None:
    gateway = qbit_gateway(emu, kind, str(tmp_path / "config"), "strm")
    try:
        _, name, data, item = imported(emu, kind, sonarr(gateway), "Streamed.S02E02.1080p-GRP", version=4,
                                       volumes=5)
        assert item["content_path"] == f"{item['save_path']}/{name}.strm"
        with open(item["content_path"]) as handle:
            url = handle.read().strip()
        answer = requests.get(url, headers={"Range": "bytes=1000-99999"}, timeout=10)
        assert answer.status_code == 206 and answer.content == data[1000:100000]
    finally:
        gateway.stop()


# ------------------------------------------------------------------ links: renewal and fallbacks


@pytest.mark.parametrize("kind", ["realdebrid"])
def test_expired_links_are_renewed_and_a_spent_account_falls_back_mid_read(emu: Emulator, kind: str,
                                                                          tmp_path: Any) -> None:
    label = "Shared Film (2013)"
    volumes = 10
    entry, name, data = rar_set(label, version=4, volumes=volumes, naming="old")
    emu.world.seed_library(TOKEN, [entry])
    emu.world.add_account("second-token")
    emu.world.seed_library("second-token", [entry])
    debrid = {"provider": "realdebrid", "api_url": emu.rd_api_url, "rate_limit": "off",
              "torrents_refresh_interval": "1h"}
    config = gateway_config(emu, str(tmp_path / "c"), debrids=[{**debrid, "name": "first", "api_key": TOKEN},
                                                               {**debrid, "name": "second", "api_key": "second-token"}])
    gateway = build(config, TickClock()).start(workers=False)
    gateway.refresh_now()
    try:
        folder = folder_of(gateway, label)
        path = f"/__all__/{folder}/{name}"
        assert gateway.vfs.listdir(f"/__all__/{folder}")[0].name == name
        emu.world.expire_links(all=True)                        # every link the learning made is refused now
        handle = gateway.vfs.open(path)
        assert handle.pread(0, 3 * CHUNK) == data[:3 * CHUNK]
        emu.world.set_traffic(TOKEN, used=10, limit=10)         # the first account's traffic is spent
        mark = emu.world.log_mark()
        assert handle.pread(3 * CHUNK, len(data)) == data[3 * CHUNK:]
        handle.close()
        tokens = {e["token"] for e in emu.world.log(mark, "/rest/1.0/unrestrict/link")}
        assert "second-token" in tokens                         # the later volumes came from the second account
    finally:
        gateway.stop()
