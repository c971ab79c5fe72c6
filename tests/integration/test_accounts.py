"""Several accounts, one library: one folder per infohash, reads that fall back, keys that rotate.

Real HTTP against the Real-Debrid emulator with two accounts (two tokens).
"""

from __future__ import annotations

import threading
from typing import Any
from urllib.parse import quote

import pytest
import requests

from emulators.server import Emulator
from gateway.app import Gateway, build
from gateway.imports.records import AddRequest
from tests.integration.test_progressive_sync import START, Driver, _library
from tests.support import SAMPLE, TOKEN, FakeClock, VirtualClock, expected, gateway_config, start_gateway, wait_until

OTHER = "second-token"
RD = "/rest/1.0"
SHOW = SAMPLE[0]
EPISODE = SHOW["files"][0]["path"]


def _debrid(name: str, token: str, emulator: Emulator, **extra: Any) -> dict[str, Any]:
    return {"name": name, "provider": "realdebrid", "api_key": token, "api_url": emulator.rd_api_url,
            "rate_limit": "off", "torrents_refresh_interval": "1h", **extra}


@pytest.fixture()
def two(emulator: Emulator) -> Emulator:
    """The sample library at both accounts."""
    emulator.world.add_account(OTHER)
    emulator.world.seed_library(OTHER, SAMPLE)
    return emulator


def _ranged(gateway: Gateway, folder: str, path: str, start: int, end: int) -> bytes:
    url = f"http://127.0.0.1:{gateway.port}/api/browse/download/{quote(folder, safe='')}/{quote(path)}"
    response = requests.get(url, headers={"Range": f"bytes={start}-{end}"}, timeout=20)
    assert response.status_code == 206, response.text
    return response.content


def _unrestricts(emulator: Emulator, since: int) -> list[str | None]:
    return [e["token"] for e in emulator.world.log(since, f"{RD}/unrestrict/link")]


def test_the_same_torrent_at_two_accounts_is_one_folder(two: Emulator, tmp_path: Any) -> None:
    gateway = start_gateway(two, str(tmp_path / "c"), debrids=[_debrid("first", TOKEN, two),
                                                               _debrid("second", OTHER, two)])
    try:
        names = [e.name for e in gateway.vfs.listdir("/__all__")]
        assert sorted(names) == sorted(e["name"] for e in SAMPLE)     # four folders, not eight
        snapshot = gateway.library.snapshot()
        placements = snapshot.placements[SHOW["hash"]]
        assert [key[0] for key in placements] == ["first", "second"]  # config order decides
        node = snapshot.resolve(["__all__", SHOW["name"], *EPISODE.split("/")])
        assert node is not None and node.ref.provider == "first"
        assert snapshot.folders[placements[1]] == SHOW["name"]        # the fallback knows its folder
    finally:
        gateway.stop()


def test_priority_picks_the_folder_placement(two: Emulator, tmp_path: Any) -> None:
    gateway = start_gateway(two, str(tmp_path / "c"), debrids=[_debrid("first", TOKEN, two, priority=2),
                                                               _debrid("second", OTHER, two, priority=1)])
    try:
        node = gateway.library.snapshot().resolve(["__all__", SHOW["name"], *EPISODE.split("/")])
        assert node is not None and node.ref.provider == "second"
        assert gateway.config.debrid_order == ("second", "first")
    finally:
        gateway.stop()


def test_a_read_moves_to_the_other_account_when_the_first_is_exhausted_mid_stream(
        two: Emulator, tmp_path: Any) -> None:
    gateway = start_gateway(two, str(tmp_path / "c"), debrids=[_debrid("first", TOKEN, two),
                                                               _debrid("second", OTHER, two)])
    try:
        size = SHOW["files"][0]["size"]
        mark = two.world.log_mark()
        assert _ranged(gateway, SHOW["name"], EPISODE, 0, 99_999) == expected(SHOW, EPISODE, 0, 100_000)
        assert _unrestricts(two, mark) == [TOKEN]
        two.world.set_traffic(TOKEN, used=10, limit=10)      # the first account's traffic is spent
        mark = two.world.log_mark()
        tail = _ranged(gateway, SHOW["name"], EPISODE, 100_000, size - 1)
        assert tail == expected(SHOW, EPISODE, 100_000)
        assert _unrestricts(two, mark)[-1] == OTHER          # the same file, from the second account
        assert two.world.accounts[OTHER].traffic_used_today >= size - 100_000
    finally:
        gateway.stop()


def test_download_keys_rotate_mid_stream_and_come_back(emulator: Emulator, tmp_path: Any) -> None:
    emulator.world.add_account(OTHER)     # an account with no torrents: only a download key
    clock = FakeClock()
    gateway = start_gateway(emulator, str(tmp_path / "c"), clock=clock,
                            debrids=[_debrid("realdebrid", TOKEN, emulator, download_api_keys=[OTHER])])
    try:
        size = SHOW["files"][0]["size"]
        assert _ranged(gateway, SHOW["name"], EPISODE, 0, 9_999) == expected(SHOW, EPISODE, 0, 10_000)
        emulator.world.set_traffic(TOKEN, used=10, limit=10)
        mark = emulator.world.log_mark()
        assert _ranged(gateway, SHOW["name"], EPISODE, 10_000, size - 1) == expected(SHOW, EPISODE, 10_000)
        assert _unrestricts(emulator, mark)[-1] == OTHER
        keys = gateway.providers["realdebrid"].download_keys()
        assert [k["usable"] for k in keys] == [False, True] and keys[0]["key"] == "****" + TOKEN[-4:]
        assert TOKEN not in str(keys)
        health = requests.get(f"http://127.0.0.1:{gateway.port}/health", timeout=5).json()
        assert [k["usable"] for k in health["providers"]["realdebrid"]["download_keys"]] == [False, True]
        assert TOKEN not in str(health) and OTHER not in str(health)
        clock.advance(86_400)          # the daily reset (or the cooldown): the first key is tried first again
        assert [k["usable"] for k in gateway.providers["realdebrid"].download_keys()] == [True, True]
    finally:
        gateway.stop()


def test_none_completes_without_a_mount(emulator: Emulator, tmp_path: Any) -> None:
    gateway = start_gateway(emulator, str(tmp_path / "c"), default_download_action="none")
    gateway.imports.start()
    try:
        magnet = f"magnet:?xt=urn:btih:{SAMPLE[1]['hash']}&dn=x"
        record = gateway.imports.add(_request(magnet, "radarr"))
        done = wait_until(lambda: (r := gateway.imports.get(record.hash)) and r.state.finished and r, 20,
                          "the import to finish")
        assert done.state.value == "pausedUP" and done.error == ""
        assert done.content_path.startswith(str(tmp_path / "c" / "downloads" / "radarr"))
        assert not (tmp_path / "c" / "downloads" / "radarr").exists()   # nothing written
        assert done.provider_attempts == (("realdebrid", "added"),)
    finally:
        gateway.stop()


def _request(magnet: str, category: str) -> AddRequest:
    return AddRequest(magnet=magnet, category=category)


def test_a_sync_and_twenty_readers_stay_inside_sixty_a_minute(tmp_path: Any) -> None:
    emu = Emulator(rate_limit=True).start()
    emu.world.set_knobs(rate_limit=60, rate_period=60.0, rate_window="sliding")
    emu.world.add_account(TOKEN)
    emu.world.clock.set(START)
    entries = _library(150)
    emu.world.seed_library(TOKEN, entries)
    clock = VirtualClock(emu.world.clock)
    gateway = build(gateway_config(emu, str(tmp_path / "c"), debrids=[{
        "name": "realdebrid", "api_key": TOKEN, "api_url": emu.rd_api_url, "rate_limit": "60/minute",
        "torrents_refresh_interval": "15s"}]), clock).start()
    driver = Driver(clock, gateway)
    results: dict[int, bool] = {}
    try:
        wait_until(lambda: len(gateway.vfs.listdir("/__all__")) >= 20, 120, "twenty folders")
        folders = [e.name for e in gateway.vfs.listdir("/__all__")][:20]

        def read(i: int) -> None:
            entry = next(e for e in entries if e["name"] == folders[i])
            spec = entry["files"][0]
            handle = gateway.vfs.open(f"/__all__/{folders[i]}/{spec['path']}")
            try:
                results[i] = handle.read(spec["size"]) == expected(entry, spec["path"])
            finally:
                handle.close()

        readers = [threading.Thread(target=read, args=(i,), daemon=True) for i in range(20)]
        for reader in readers:
            reader.start()
        wait_until(lambda: len(results) == 20, 120, "the twenty readers")
        wait_until(lambda: len(gateway.vfs.listdir("/__all__")) == 150, 120, "the whole library")
    finally:
        driver.done.set()
        gateway.stop()
        emu.stop()
    assert all(results.values())
    assert emu.world.busiest_window(TOKEN, 60.0) <= 60
    assert emu.world.count_status(429) == 0
    assert len(emu.world.log(path_prefix=f"{RD}/unrestrict/link")) == 20
