"""Usenet streaming end to end: Sonarr's SABnzbd calls, the gateway, our NNTP client, the emulated server.

Real sockets all the way: the "arr" speaks HTTP to the gateway, the gateway speaks NNTP to
``emulators.usenet`` servers holding releases built by its fixture writers. Nothing of ours
is mocked; the emulator counts what the gateway asked of it.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from emulators.archives import write_rar
from emulators.usenet import ArticleStore, NNTPServer
from emulators.usenet.release import Release, build_release
from emulators.usenet.sevenzip import sevenzip_set
from gateway.app import Gateway, build
from gateway.config import parse_config, write_raw
from tests.integration.test_sab_replay import DECIMAL, STATUSES, TIMELEFT
from tests.support import wait_until

PART = 100_000
USER, PASSWORD = "reader", "s3cret-nntp-pass"


def media(seed: str, size: int) -> bytes:
    """Bytes that differ at every offset (a misplaced article shows)."""
    block = bytes((i * 7 + len(seed)) % 251 for i in range(65_521))
    data = (seed.encode() + block) * (size // (len(block) + len(seed)) + 1)
    return data[:size]


class Usenet:
    """One emulated server (and a backup sharing its store) plus a gateway configured for it."""

    def __init__(self, tmp: str) -> None:
        self.store = ArticleStore()
        self.server = NNTPServer(self.store, username=USER, password=PASSWORD, max_connections=12).start()
        self.tmp = tmp
        self.gateway: Gateway | None = None

    def start_gateway(self, **overrides: Any) -> Gateway:
        raw: dict[str, Any] = {
            "bind_address": "127.0.0.1", "port": 0, "use_auth": False, "default_download_action": "none",
            "download_folder": os.path.join(self.tmp, "downloads"), "refresh_interval": "200ms",
            "usenet": {"providers": [self.primary()], "import_availability_sample_percent": 20},
        }
        raw.update(overrides)
        config_dir = os.path.join(self.tmp, "config")
        write_raw(config_dir, raw)   # as a user's config.json: GET /api/config reads it back
        self.gateway = build(parse_config(raw, config_dir))
        self.gateway.start(workers=False)
        self.gateway.imports.start()
        return self.gateway

    def primary(self) -> dict[str, Any]:
        """The primary server as a ``usenet.providers`` entry."""
        return {"name": "primary", "host": "127.0.0.1", "port": self.server.port, "username": USER,
                "password": PASSWORD, "max_connections": 10}

    @contextlib.contextmanager
    def backup(self) -> Iterator[tuple[NNTPServer, dict[str, Any]]]:
        """A backup server sharing the store and its ``usenet.providers`` entry; stopped on leaving."""
        server = NNTPServer(self.store, name="backup", username=USER, password=PASSWORD).start()
        try:
            yield server, {"name": "backup", "host": "127.0.0.1", "port": server.port, "username": USER,
                           "password": PASSWORD, "max_connections": 4, "backup": True}
        finally:
            server.stop()

    def stop(self) -> None:
        if self.gateway is not None:
            self.gateway.stop()
        self.server.stop()


@pytest.fixture()
def usenet(tmp_path: Any) -> Iterator[Usenet]:
    env = Usenet(str(tmp_path))
    try:
        yield env
    finally:
        env.stop()


def sab(gateway: Gateway, method: str = "GET", files: Any = None, **params: Any) -> Any:
    response = requests.request(method, f"http://127.0.0.1:{gateway.port}/sabnzbd/api",
                                params={**params, "output": "json"}, files=files, timeout=20)
    assert response.status_code == 200, response.text
    return response.json()


def addfile(gateway: Gateway, title: str, nzb: bytes, cat: str = "tv") -> str:
    answer = sab(gateway, "POST", files={"name": (f"{title}.nzb", nzb, "application/x-nzb")},
                 mode="addfile", cat=cat, priority="-100")
    assert answer["status"] is True and len(answer["nzo_ids"]) == 1, answer
    return str(answer["nzo_ids"][0])


def finished(gateway: Gateway, nzo: str, cat: str = "tv", timeout: float = 30) -> dict[str, Any]:
    def slot() -> dict[str, Any] | None:
        slots = sab(gateway, mode="history", start="0", limit="60", category=cat)["history"]["slots"]
        return next((s for s in slots if s["nzo_id"] == nzo), None)
    found: dict[str, Any] = wait_until(slot, timeout, "the job to finish")
    return found


def browse(gateway: Gateway, folder: str, path: str, start: int | None = None, end: int | None = None) \
        -> requests.Response:
    headers = {} if start is None else {"Range": f"bytes={start}-{'' if end is None else end}"}
    return requests.get(f"http://127.0.0.1:{gateway.port}/api/browse/download/{folder}/{path}",
                        headers=headers, timeout=30)


def webdav(gateway: Gateway, path: str, start: int, end: int) -> requests.Response:
    return requests.get(f"http://127.0.0.1:{gateway.port}/webdav/__all__/{path}",
                        headers={"Range": f"bytes={start}-{end}"}, timeout=30)


def check_reads(gateway: Gateway, folder: str, path: str, data: bytes, part: int = PART) -> None:
    """Whole file, and ranges across article boundaries, over browse and WebDAV, byte for byte."""
    whole = browse(gateway, folder, path)
    assert whole.status_code == 200 and whole.content == data
    size = len(data)
    for start, end in [(0, 0), (part - 10, part + 10), (3 * part - 1, 5 * part + 3), (size - 7, size - 1),
                       (size // 2, size // 2 + 2 * part)]:
        end = min(end, size - 1)
        got = browse(gateway, folder, path, start, end)
        assert got.status_code == 206 and got.content == data[start:end + 1], (start, end)
        dav = webdav(gateway, f"{folder}/{path}", start, end)
        assert dav.status_code == 206 and dav.content == data[start:end + 1], (start, end)


def post(release: Release) -> bytes:
    return release.nzb


def test_a_plain_release_completes_and_reads_byte_for_byte(usenet: Usenet) -> None:
    title = "Show.S01E01.1080p.WEB-DL.x264-GRP"
    video = media(title, 1_234_567)
    release = build_release([(f"{title}.mkv", video), (f"{title}.nfo", b"info")], name=title,
                            part_size=PART, store=usenet.store, shuffle_seed=7)
    gateway = usenet.start_gateway()
    nzo = addfile(gateway, title, post(release))
    done = finished(gateway, nzo)
    assert done["status"] == "Completed", done
    assert done["storage"] == os.path.join(gateway.config.download_folder, "tv", title)
    check_reads(gateway, title, f"{title}.mkv", video)
    health = requests.get(f"http://127.0.0.1:{gateway.port}/health", timeout=10).json()
    assert health["usenet"]["primary"]["articles"] > 0


def test_a_redirect_request_for_a_usenet_file_is_served_here(usenet: Usenet) -> None:
    """No provider URL holds a usenet file's bytes: ?redirect=1 answers with them, not a 302 or a 500."""
    title = "Show.S01E02.1080p.WEB-DL.x264-GRP"
    video = media(title, 300_000)
    release = build_release([(f"{title}.mkv", video)], name=title, part_size=PART, store=usenet.store)
    gateway = usenet.start_gateway()
    assert finished(gateway, addfile(gateway, title, release.nzb))["status"] == "Completed"
    answer = requests.get(f"http://127.0.0.1:{gateway.port}/api/browse/download/{title}/{title}.mkv?redirect=1",
                          headers={"Range": "bytes=0-99"}, allow_redirects=False, timeout=30)
    assert answer.status_code == 206 and answer.content == video[:100]


@pytest.mark.parametrize("kind", ["rar4", "rar5", "7z"])
def test_a_stored_multi_volume_archive_reads_across_volumes(usenet: Usenet, kind: str) -> None:
    title = f"Movie.2024.1080p.{kind.upper()}-GRP"
    video = media(title, 1_500_000)
    members = [(f"{title}.mkv", video), (f"{title}.srt", b"1\n00:00:01,000 --> 00:00:02,000\nhi\n")]
    if kind == "7z":
        volumes = sevenzip_set(title, members, volume_size=400_000)
    else:
        volumes = write_rar(members, version=int(kind[-1]), base=title, volume_data=400_000)
    assert len(volumes) >= 3
    release = build_release(volumes, name=title, part_size=PART, store=usenet.store)
    gateway = usenet.start_gateway()
    nzo = addfile(gateway, title, release.nzb, cat="movies")
    done = finished(gateway, nzo, cat="movies")
    assert done["status"] == "Completed", done
    # the import read its first and last article per volume (headers), not the release
    assert usenet.server.stats().articles_served <= 2 * len(volumes) < len(release.message_ids())
    check_reads(gateway, title, f"{title}.mkv", video)


def test_a_compressed_rar_set_fails_with_the_reason(usenet: Usenet) -> None:
    title = "Movie.2024.1080p.PACKED-GRP"
    volumes = write_rar([(f"{title}.mkv", media(title, 600_000))], version=5, base=title,
                        volume_data=300_000, compressed={f"{title}.mkv"})
    release = build_release(volumes, name=title, part_size=PART, store=usenet.store)
    gateway = usenet.start_gateway()
    done = finished(gateway, addfile(gateway, title, release.nzb))
    assert done["status"] == "Failed" and "compress" in done["fail_message"], done


def test_an_obfuscated_release_is_named_from_its_par2_index(usenet: Usenet) -> None:
    title = "Show.S02E02.720p.HDTV-OBF"
    video = media(title, 900_000)
    release = build_release([(f"{title}.mkv", video)], name=title, part_size=PART, store=usenet.store,
                            obfuscate=True)
    assert release.file(f"{title}.mkv").posted_name != f"{title}.mkv"
    gateway = usenet.start_gateway()
    done = finished(gateway, addfile(gateway, title, release.nzb))
    assert done["status"] == "Completed", done
    check_reads(gateway, title, f"{title}.mkv", video)


def test_articles_missing_everywhere_fail_the_job(usenet: Usenet) -> None:
    title = "Show.S03E03.720p.HDTV-GONE"
    release = build_release([(f"{title}.mkv", media(title, 800_000))], name=title, part_size=PART,
                            store=usenet.store)
    usenet.server.set_missing(release.file(f"{title}.mkv").message_ids[-1:])
    gateway = usenet.start_gateway()
    done = finished(gateway, addfile(gateway, title, release.nzb))
    assert done["status"] == "Failed" and "missing on every server" in done["fail_message"], done


@pytest.mark.parametrize("trouble", ["down", "login"])
def test_a_server_down_or_refusing_the_login_holds_the_job_until_it_is_back(usenet: Usenet, trouble: str) -> None:
    title = f"Show.S04E04.720p.HDTV-{trouble.upper()}"
    video = media(title, 500_000)
    release = build_release([(f"{title}.mkv", video)], name=title, part_size=PART, store=usenet.store)
    gateway = usenet.start_gateway()
    if trouble == "down":
        usenet.server.stop()
    else:
        usenet.server.set_fail_login(True)
    nzo = addfile(gateway, title, release.nzb)

    def held() -> dict[str, Any] | None:
        slots = sab(gateway, mode="queue", start="0", limit="0", category="tv")["queue"]["slots"]
        slot = next((s for s in slots if s["nzo_id"] == nzo), None)
        return slot if slot and slot["labels"] else None
    slot = wait_until(held, 30, "the job to be held with a reason")
    assert "unavailable" in slot["labels"][0]
    assert slot["status"] == "Queued" and slot["status"] in STATUSES   # Sonarr: queued, not failed
    assert TIMELEFT.match(slot["timeleft"]) and DECIMAL.match(slot["mb"]) and slot["percentage"].isdigit()
    listed = requests.get(f"http://127.0.0.1:{gateway.port}/api/torrents", timeout=10).json()
    assert any("unavailable" in t["error"] for t in listed)
    assert sab(gateway, mode="history", category="tv")["history"]["slots"] == []
    if trouble == "down":
        usenet.server.start()
    else:
        usenet.server.set_fail_login(False)
    done = finished(gateway, nzo, timeout=60)
    assert done["status"] == "Completed", done
    assert browse(gateway, title, f"{title}.mkv").content == video


def test_an_article_missing_during_playback_is_an_error_before_any_byte(usenet: Usenet) -> None:
    title = "Show.S05E05.720p.HDTV-HOLE"
    video = media(title, 1_000_000)
    release = build_release([(f"{title}.mkv", video)], name=title, part_size=PART, store=usenet.store)
    gateway = usenet.start_gateway(usenet={
        "providers": [{"name": "primary", "host": "127.0.0.1", "port": usenet.server.port, "username": USER,
                       "password": PASSWORD}], "import_availability_sample_percent": 0})
    done = finished(gateway, addfile(gateway, title, release.nzb))
    assert done["status"] == "Completed", done
    hole = release.file(f"{title}.mkv").message_ids[4]   # bytes [400000, 500000): not in the import's sample
    usenet.server.set_missing([hole])
    bad = browse(gateway, title, f"{title}.mkv", 4 * PART + 10, 4 * PART + 20)
    assert bad.status_code == 502 and bad.headers.get("Content-Range") is None
    dav = webdav(gateway, f"{title}/{title}.mkv", 4 * PART + 10, 4 * PART + 20)
    assert dav.status_code == 502
    for start, end in [(0, PART + 5), (5 * PART, 7 * PART + 1), (len(video) - 10, len(video) - 1)]:
        good = browse(gateway, title, f"{title}.mkv", start, end)
        assert good.status_code == 206 and good.content == video[start:end + 1]
    health = requests.get(f"http://127.0.0.1:{gateway.port}/health", timeout=10).json()
    assert health["usenet_reads"]["missing_reads"] >= 1


def test_after_a_restart_files_read_without_reimporting(usenet: Usenet) -> None:
    title = "Show.S06E06.720p.HDTV-AGAIN"
    video = media(title, 700_000)
    release = build_release([(f"{title}.mkv", video)], name=title, part_size=PART, store=usenet.store)
    gateway = usenet.start_gateway()
    assert finished(gateway, addfile(gateway, title, release.nzb))["status"] == "Completed"
    gateway.stop()
    usenet.gateway = None
    usenet.server.reset_stats()
    gateway = usenet.start_gateway()
    assert browse(gateway, title, f"{title}.mkv", 0, 99).content == video[:100]
    stats = usenet.server.stats()
    assert stats.articles_served == 1 and stats.commands.get("STAT", 0) == 0


def test_servers_show_in_metrics_and_config_and_the_login_check_is_live(usenet: Usenet) -> None:
    gateway = usenet.start_gateway()
    base = f"http://127.0.0.1:{gateway.port}"
    config = requests.get(f"{base}/api/config", timeout=10).json()
    shown = config["usenet"]["providers"][0]["password"]
    assert shown.startswith("****") and PASSWORD not in str(config)
    server = {"name": "primary", "host": "127.0.0.1", "port": usenet.server.port, "username": USER}
    good = requests.post(f"{base}/api/setup/usenet-check", json={**server, "password": shown}, timeout=20).json()
    assert good == {"ok": True, "server": "primary"}
    bad = requests.post(f"{base}/api/setup/usenet-check", json={**server, "password": "wrong-one"}, timeout=20).json()
    assert bad["ok"] is False and "login" in bad["error"]
    metrics = requests.get(f"{base}/metrics", timeout=10).text
    assert 'decypharr_usenet_max_connections{server="primary"} 10.0' in metrics
    stats = requests.get(f"{base}/api/stats", timeout=10).json()
    assert stats["usenet"]["primary"]["max_connections"] == 10
