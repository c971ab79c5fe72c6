"""Media servers told of changed folders (contract §9), against stand-in Plex and Jellyfin
servers over real HTTP: one partial refresh per changed folder, with the mapped path, within
seconds of an import; a DELETE is a "Deleted" update; nothing when disabled; a server that is
down does not delay pausedUP."""

from __future__ import annotations

import os
import socket
import time
from collections import Counter
from pathlib import Path
from typing import Any

import requests

from gateway.imports.records import AddRequest
from tests.fakes.mediaserver import FakeJellyfin, FakePlex
from tests.integration.test_imports import magnet, settle
from tests.support import infohash, start_gateway, wait_until

FILES = [{"path": "Show.S01E01.mkv", "size": 300_000}, {"path": "Show.S01E02.mkv", "size": 200_000}]
DEADLINE = 8.0   # "within a few seconds": the batch window is 2 s


def _servers(plex: FakePlex | None, jelly: FakeJellyfin | None, mnt: str, downloads: str) -> list[dict[str, Any]]:
    path_map = {mnt: "/plex/tree", downloads: "/plex/downloads"}
    out = []
    if plex is not None:
        out.append({"type": "plex", "url": plex.url, "token": plex.token, "path_map": path_map})
    if jelly is not None:
        out.append({"type": "jellyfin", "url": jelly.url, "token": jelly.token,
                    "path_map": {mnt: "/jf/tree", downloads: "/jf/downloads"}})
    return out


def _import(gw: Any, emulator: Any, label: str) -> Any:
    h = infohash(label)
    emulator.world.add_catalog(h, label, FILES, cached=True)
    gw.imports.add(AddRequest(magnet=magnet(h, label), category="sonarr"))
    return settle(gw, emulator, h)


def _expected(done: Any, mnt: str, downloads: str, tree: str, dl: str) -> set[str]:
    content = os.path.relpath(done.content_path, downloads)
    return {f"{tree}/__all__/{done.folder}", f"{tree}/sonarr/{done.folder}", f"{dl}/{content}"}


def test_an_import_asks_each_server_to_scan_each_changed_folder_once(emulator, tmp_path: Path) -> None:
    mnt, downloads = str(tmp_path / "mnt"), str(tmp_path / "dl")
    with FakePlex({"1": ["/plex/tree"], "2": ["/plex/downloads"]}) as plex, FakeJellyfin("jf-token") as jelly:
        gw = start_gateway(emulator, str(tmp_path / "c"), refresh_interval="100ms", default_download_action="strm",
                           download_folder=downloads, mount={"type": "none", "mount_path": mnt},
                           media_servers=_servers(plex, jelly, mnt, downloads))
        gw.imports.start()
        try:
            done = _import(gw, emulator, "Media Show S01")
            at = time.monotonic()
            want_plex = _expected(done, mnt, downloads, "/plex/tree", "/plex/downloads")
            want_jf = _expected(done, mnt, downloads, "/jf/tree", "/jf/downloads")
            wait_until(lambda: {p for _, p in plex.refreshes()} >= want_plex, DEADLINE, "Plex's partial refreshes")
            wait_until(lambda: {p for p, _ in jelly.refreshes()} >= want_jf, DEADLINE, "Jellyfin's updates")
            assert time.monotonic() - at < DEADLINE
            sections = {p: s for s, p in plex.refreshes()}
            assert sections[f"/plex/tree/sonarr/{done.folder}"] == "1"
            assert [s for s, p in plex.refreshes() if p.startswith("/plex/downloads/")] == ["2"]
            assert all(kind == "Created" for _, kind in jelly.refreshes())
            assert all(r["headers"].get("X-Plex-Token") == plex.token for r in plex.log())
            # A second import, then a delete: by the time their scans arrive, the first import's
            # folders have still been asked for exactly once (no repeats, no full scans).
            second = _import(gw, emulator, "Other Show S02")
            wait_until(lambda: {p for _, p in plex.refreshes()} >= _expected(
                second, mnt, downloads, "/plex/tree", "/plex/downloads"), DEADLINE, "the second import's refreshes")
            answer = requests.delete(f"http://127.0.0.1:{gw.port}/api/torrents",
                                     params={"hash": second.hash, "remove_from_debrid": "true"}, timeout=30)
            assert answer.status_code == 200 and answer.json()["deleted"] == 1
            gone = {(f"/jf/tree/__all__/{second.folder}", "Deleted"), (f"/jf/tree/sonarr/{second.folder}", "Deleted")}
            wait_until(lambda: set(jelly.refreshes()) >= gone, DEADLINE, "Jellyfin's Deleted updates")
            counts = Counter(p for _, p in plex.refreshes())
            assert all(counts[p] == 1 for p in want_plex), counts
            assert all(Counter(p for p, k in jelly.refreshes() if k == "Created")[p] == 1 for p in want_jf)
            assert not any(r["path"] == "/library/sections/1/refresh" and not r["query"].get("path")
                           for r in plex.log())   # never a whole-library scan
            assert len([r for r in plex.log() if r["path"] == "/library/sections"]) == 1   # sections read once
        finally:
            gw.stop()


def test_no_media_servers_no_requests(emulator, tmp_path: Path) -> None:
    mnt, downloads = str(tmp_path / "mnt"), str(tmp_path / "dl")
    with FakePlex({"1": ["/plex/tree"]}) as plex:
        gw = start_gateway(emulator, str(tmp_path / "c"), refresh_interval="100ms", default_download_action="strm",
                           download_folder=downloads, mount={"type": "none", "mount_path": mnt})
        gw.imports.start()
        try:
            _import(gw, emulator, "Quiet Show S01")
            assert gw.integrations is not None and gw.integrations.media is None and gw.integrations.tree is None
            assert plex.log() == []
        finally:
            gw.stop()


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_a_server_that_is_down_does_not_delay_the_import(emulator, tmp_path: Path) -> None:
    mnt, downloads = str(tmp_path / "mnt"), str(tmp_path / "dl")
    with FakeJellyfin("jf-token") as jelly:
        servers = [{"type": "plex", "name": "down plex", "url": f"http://127.0.0.1:{_closed_port()}",
                    "token": "plex-token"}, *_servers(None, jelly, mnt, downloads)]
        gw = start_gateway(emulator, str(tmp_path / "c"), refresh_interval="100ms", default_download_action="strm",
                           download_folder=downloads, mount={"type": "none", "mount_path": mnt},
                           media_servers=servers)
        gw.imports.start()
        try:
            started = time.monotonic()
            done = _import(gw, emulator, "Down Show S01")
            assert time.monotonic() - started < 10
            # The server that is up is told all the same; the one that is down is tried, then logged.
            want = _expected(done, mnt, downloads, "/jf/tree", "/jf/downloads")
            wait_until(lambda: {p for p, _ in jelly.refreshes()} >= want, DEADLINE, "Jellyfin's updates")
            assert gw.integrations is not None and gw.integrations.media is not None
            down = next(b for c, b in gw.integrations.media.servers if c.name == "down plex")
            wait_until(lambda: down.failed == 1, 15, "the down server to be given up on")
        finally:
            gw.stop()
