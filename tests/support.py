"""Test helpers: a fake clock, polling with a deadline, a gateway against the emulator."""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable
from typing import Any

from gateway.app import Gateway, build
from gateway.config import parse_config
from gateway.emulators.content import file_bytes

TOKEN = "test-token"


class FakeClock:
    """A clock tests move by hand; ``sleep`` advances it instead of waiting."""

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self._now = start
        self._mono = 1000.0
        self._lock = threading.Lock()
        self.slept: list[float] = []

    def now(self) -> float:
        return self._now

    def monotonic(self) -> float:
        return self._mono

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._now += seconds
            self._mono += seconds

    def wait(self, event: threading.Event, timeout: float) -> bool:
        return event.wait(min(timeout, 0.05))

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.advance(seconds)


def wait_until(predicate: Callable[[], Any], timeout: float = 10.0, what: str = "condition") -> Any:
    """Poll ``predicate`` until it returns something truthy, or fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def infohash(label: str) -> str:
    return hashlib.sha1(label.encode()).hexdigest()


SAMPLE = [
    {"hash": infohash("show"), "name": "The Show S01 1080p",
     "files": [{"path": "Season 1/The Show S01E01.mkv", "size": 3_000_000},
               {"path": "Season 1/The Show S01E02.mkv", "size": 2_500_123},
               {"path": "Season 1/Subs/English.srt", "size": 12_345}],
     "added": "2024-03-01T10:00:00.000Z"},
    {"hash": infohash("amelie"), "name": "Amélie (2001) [1080p]",
     "files": [{"path": "Amélie (2001).mkv", "size": 4_200_000}], "added": "2024-02-01T10:00:00.000Z"},
    {"hash": infohash("spirited"), "name": "千と千尋の神隠し || Spirited Away",
     "files": [{"path": "千と千尋の神隠し.mp4", "size": 1_048_577},
               {"path": "extras/making of #1 & 100%.mkv", "size": 65_536}],
     "added": "2024-01-15T08:30:00.000Z"},
    {"hash": infohash("tiny"), "name": "Tiny Movie 2020",
     "files": [{"path": "Tiny Movie 2020.mkv", "size": 1}], "added": "2023-12-31T23:59:59.000Z"},
]


def expected(entry: dict[str, Any], path: str, offset: int = 0, length: int | None = None) -> bytes:
    """The emulator's bytes for one file of a SAMPLE entry."""
    spec = next(f for f in entry["files"] if f["path"] == path)
    size = spec["size"]
    length = size - offset if length is None else min(length, size - offset)
    return file_bytes(f"{entry['hash']}/{path}", offset, length)


def gateway_config(emulator: Any, config_dir: str, **overrides: Any) -> Any:
    raw: dict[str, Any] = {
        "bind_address": "127.0.0.1", "port": 0, "use_auth": False,
        "debrids": [{"name": "realdebrid", "api_key": TOKEN, "api_url": emulator.rd_api_url,
                     "rate_limit": "off", "torrents_refresh_interval": "1h"}],
    }
    raw.update(overrides)
    return parse_config(raw, config_dir)


def start_gateway(emulator: Any, config_dir: str, *, clock: Any = None, refresh: bool = True,
                  **overrides: Any) -> Gateway:
    gateway = build(gateway_config(emulator, config_dir, **overrides), clock)
    gateway.start(workers=False)
    if refresh:
        gateway.refresh_now()
    return gateway
