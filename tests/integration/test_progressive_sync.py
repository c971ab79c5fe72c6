"""A large first sync inside a small request budget, on one virtual clock shared with the provider.

The emulator enforces a sliding window (as Real-Debrid counts) and stamps each
call on the same frozen clock the gateway's budget reads; a driver thread
moves that clock on whenever no call is in flight, so the run takes seconds
while the budget, not the machine, sets the pace.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import unquote
from xml.etree import ElementTree

import pytest
import requests

from emulators.server import Emulator
from gateway.app import Gateway, build
from gateway.library.sync import DETAIL_WORKERS
from tests.support import TOKEN, VirtualClock, gateway_config, infohash, wait_until

RD = "/rest/1.0"
START = 1_750_000_000.0


def _library(count: int) -> list[dict[str, Any]]:
    """``count`` torrents, one to three files each, added one minute apart (index 0 oldest)."""
    return [{"hash": infohash(f"big-{i}"), "name": f"Film {i:05d} 1080p",
             "files": [{"path": f"Film {i:05d}/part{j}.mkv", "size": 1000 + 7 * i + j} for j in range(1 + i % 3)],
             "added": START - 86400 + 60 * i} for i in range(count)]


class Driver(threading.Thread):
    """Moves the shared clock on by ``step`` whenever the account has no call in flight."""

    def __init__(self, clock: VirtualClock, gateway: Gateway, step: float = 1.0) -> None:
        super().__init__(daemon=True)
        self.clock, self.budget, self.step = clock, gateway.providers["realdebrid"].budget, step
        self.running = threading.Event()
        self.running.set()
        self.done = threading.Event()
        self.start()

    def run(self) -> None:
        while not self.done.is_set():
            if self.running.is_set() and self.budget.in_flight == 0:
                self.clock.advance(self.step)
            self.done.wait(0.001)


@pytest.fixture()
def limited() -> Iterator[Emulator]:
    emu = Emulator(rate_limit=True).start()
    emu.world.set_knobs(rate_limit=120, rate_period=60.0, rate_window="sliding")
    emu.world.add_account(TOKEN)
    emu.world.clock.set(START)
    try:
        yield emu
    finally:
        emu.stop()


def _gateway(emulator: Emulator, tmp_path: Any, clock: VirtualClock, rate: str) -> Gateway:
    config = gateway_config(emulator, str(tmp_path / "c"), debrids=[{
        "name": "realdebrid", "api_key": TOKEN, "api_url": emulator.rd_api_url,
        "rate_limit": rate, "torrents_refresh_interval": "15s"}])
    return build(config, clock).start()


def _visible(gateway: Gateway) -> list[str]:
    """The torrent folders a WebDAV client sees in ``__all__``."""
    response = requests.request("PROPFIND", f"http://127.0.0.1:{gateway.port}/webdav/__all__/",
                                headers={"Depth": "1"}, timeout=10)
    assert response.status_code == 207
    hrefs = [e.text or "" for e in ElementTree.fromstring(response.content).iter("{DAV:}href")]
    return [unquote(h.rstrip("/").rsplit("/", 1)[-1]) for h in hrefs[1:]]


def test_visible_torrents_rise_with_the_budget_newest_first(limited: Emulator, tmp_path: Any) -> None:
    entries = _library(2000)
    limited.world.seed_library(TOKEN, entries)
    files = {e["name"]: len(e["files"]) for e in entries}
    newest_first = [e["name"] for e in reversed(entries)]
    clock = VirtualClock(limited.world.clock)
    gateway = _gateway(limited, tmp_path, clock, "120/minute")
    driver = Driver(clock, gateway)
    samples: list[tuple[float, int]] = []
    try:
        def check() -> bool:
            names = _visible(gateway)
            samples.append((clock.now() - START, len(names)))
            for name in names:   # never an empty or partial folder
                subfolders = gateway.vfs.listdir(f"/__all__/{name}")
                assert [len(gateway.vfs.listdir(f"/__all__/{name}/{d.name}")) for d in subfolders] == [files[name]]
            ranks = sorted(newest_first.index(n) for n in names)
            assert not ranks or ranks[-1] < len(names) + DETAIL_WORKERS   # newest first
            return len(names) == len(entries)
        wait_until(check, 120, "every torrent to appear")
        health = requests.get(f"http://127.0.0.1:{gateway.port}/health", timeout=5).json()
        account = health["providers"]["realdebrid"]
        assert account["listed"] == 2000 and account["pending"] == 0 and account["with_details"] == 2000
    finally:
        driver.done.set()
        gateway.stop()
    counts = [n for _, n in samples]
    assert counts == sorted(counts) and counts[-1] == 2000 and len(set(counts)) > 5
    for elapsed, visible in samples:   # never faster than the budget allows
        assert visible <= 120 * (elapsed / 60 + 1)
    assert limited.world.busiest_window(TOKEN, 60.0) <= 120
    assert limited.world.count_status(429) == 0
    infos = [e["path"] for e in limited.world.log(path_prefix=f"{RD}/torrents/info/")]
    assert len(infos) == len(set(infos)) == 2000   # each torrent's details fetched once


def test_a_reader_goes_ahead_of_queued_background_calls(limited: Emulator, tmp_path: Any) -> None:
    entries = _library(300)
    limited.world.seed_library(TOKEN, entries)
    clock = VirtualClock(limited.world.clock)
    gateway = _gateway(limited, tmp_path, clock, "60/minute")
    budget = gateway.providers["realdebrid"].budget
    driver = Driver(clock, gateway)
    try:
        wait_until(lambda: gateway.vfs.listdir("/__all__"), 30, "the first torrents")
        driver.running.clear()   # freeze time with the background lane full and more queued
        wait_until(lambda: budget.in_flight == 0 and budget.stats()["waiting"]["background"] > 0
                   and budget.stats()["used"] >= 48, 30, "the sync to fill its share of the window")
        mark = limited.world.log_mark()
        folder = gateway.vfs.listdir("/__all__")[0].name
        path = f"/__all__/{folder}/{gateway.vfs.listdir(f'/__all__/{folder}')[0].name}"
        path = path if not gateway.vfs.stat(path).is_dir else f"{path}/{gateway.vfs.listdir(path)[0].name}"
        handle = gateway.vfs.open(path)
        assert len(handle.read(100)) == 100   # served while time stands still: the reserve is the reader's
        handle.close()
        driver.running.set()
        wait_until(lambda: len(limited.world.log(mark, RD)) > 3, 30, "the sync to go on")
        calls = [e["path"] for e in limited.world.log(mark, RD)]
        # The reader first; then the sync goes on (details, or a refresh's listing once time moves).
        assert calls[0] == f"{RD}/unrestrict/link" and all(c.startswith(f"{RD}/torrents") for c in calls[1:4])
    finally:
        driver.done.set()
        gateway.stop()
    assert limited.world.count_status(429) == 0


def test_health_answers_at_once_while_the_provider_hangs(emulator: Emulator, tmp_path: Any) -> None:
    emulator.world.add_fault({"path_regex": f"^{RD}/", "delay_ms": 3000})
    gateway = build(gateway_config(emulator, str(tmp_path / "c")), None).start()
    budget = gateway.providers["realdebrid"].budget
    try:
        wait_until(lambda: budget.in_flight, 5, "the sync's listing to hang at the provider")
        began = time.monotonic()
        health = requests.get(f"http://127.0.0.1:{gateway.port}/health", timeout=1).json()
        assert time.monotonic() - began < 1.0
        assert health["providers"]["realdebrid"]["budget"]["in_flight"] == 1
    finally:
        emulator.world.clear_faults()
        gateway.stop()
