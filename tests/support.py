"""Test helpers: a fake clock, polling with a deadline, a gateway against the emulator."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import requests

from emulators.content import file_bytes
from gateway.app import Gateway, build
from gateway.config import parse_config

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


POLL_INTERVAL = 0.02
_NEVER = threading.Event()   # never set: waiting on it is the pause between two polls


def wait_until(predicate: Callable[[], Any], timeout: float = 10.0, what: str = "condition") -> Any:
    """Poll ``predicate`` until it returns something truthy, or fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        _NEVER.wait(POLL_INTERVAL)


class RepairApi:
    """The /api/repair calls a repair test makes against its gateway (a scene subclasses this)."""

    gateway: Gateway
    process_timeout = 60.0   # seconds a job's processing may take before the test fails

    def api(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        return requests.request(method, f"http://127.0.0.1:{self.gateway.port}{path}", timeout=30, **kwargs)

    def job(self, job_id: str) -> dict[str, Any]:
        return next(j for j in self.api("GET", "/api/repair/jobs").json() if j["id"] == job_id)

    def scan(self, **body: Any) -> dict[str, Any]:
        answer = self.api("POST", "/api/repair", json=body)
        assert answer.status_code == 202, answer.text
        job_id = answer.json()["job_id"]
        return wait_until(lambda: (j := self.job(job_id))["status"] != "running" and j, 60, "the scan")

    def process(self, job_id: str) -> dict[str, Any]:
        answer = self.api("POST", f"/api/repair/jobs/{job_id}/process")
        assert answer.status_code == 202, answer.text
        return wait_until(lambda: (j := self.job(job_id))["status"] in ("completed", "failed") and j,
                          self.process_timeout, "the processing")


class WatchedClock(FakeClock):
    """Counts each thread's waits, so a test can tell that a waiter has looked at the budget again."""

    def __init__(self) -> None:
        super().__init__()
        self.waits: Counter[int] = Counter()

    def wait(self, event: threading.Event, timeout: float) -> bool:
        self.waits[threading.get_ident()] += 1
        return super().wait(event, timeout)


def settle(clock: WatchedClock, threads: Sequence[threading.Thread]) -> None:
    """Return once each thread still waiting has looked at the budget after this call.

    A thread's second wait since now follows a look that began after now (the
    first may follow a look taken just before).
    """
    before = {t.ident: clock.waits[t.ident] for t in threads}
    wait_until(lambda: all(clock.waits[t.ident] >= before[t.ident] + 2 or not t.is_alive() for t in threads),
               what="the waiters to look again")


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


HAVE_RCLONE_MOUNT = shutil.which("rclone") is not None and os.path.exists("/dev/fuse")
NO_RCLONE_MOUNT = "needs rclone and /dev/fuse (scripts/test installs rclone and fuse3 when root)"


def rclone_env(url: str) -> dict[str, str]:
    """rclone configured for the gateway's WebDAV tree as remote ``gw:``, no config file."""
    return {**os.environ, "RCLONE_CONFIG_GW_TYPE": "webdav", "RCLONE_CONFIG_GW_URL": url,
            "RCLONE_CONFIG_GW_VENDOR": "other", "RCLONE_CONFIG": "/dev/null"}


@contextlib.contextmanager
def rclone_mount(webdav_url: str, mountpoint: str) -> Iterator[str]:
    """``rclone mount`` of a WebDAV tree (no VFS cache), unmounted on exit."""
    os.makedirs(mountpoint, exist_ok=True)
    proc = subprocess.Popen(["rclone", "mount", "gw:", mountpoint, "--vfs-cache-mode", "off",
                             "--dir-cache-time", "1s", "--poll-interval", "0", "--read-only"],
                            env=rclone_env(webdav_url), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_until(lambda: os.path.ismount(mountpoint), 20, "the rclone mount")
        yield mountpoint
    finally:
        subprocess.run(["fusermount3" if shutil.which("fusermount3") else "fusermount", "-u", mountpoint],
                       capture_output=True)
        proc.terminate()
        proc.wait(10)


class VirtualClock:
    """The emulator's clock, frozen: gateway and provider share one time, moved by the test.

    A request is stamped by the provider at the same virtual time the
    gateway's budget saw, so rate windows can be checked exactly; ``wait``
    and ``sleep`` block (in short real pauses) until the test moves time on.
    """

    def __init__(self, emulator_clock: Any) -> None:
        self._emu = emulator_clock
        self._emu.set_speed(0)

    def now(self) -> float:
        return float(self._emu.now())

    def monotonic(self) -> float:
        return float(self._emu.now())

    def advance(self, seconds: float) -> None:
        self._emu.advance(seconds)

    def wait(self, event: threading.Event, timeout: float) -> bool:
        deadline = self.now() + timeout
        while not event.is_set() and self.now() < deadline:
            event.wait(0.002)
        return event.is_set()

    def sleep(self, seconds: float) -> None:
        deadline = self.now() + seconds
        while self.now() < deadline:
            _NEVER.wait(0.002)


class TickClock(FakeClock):
    """A fake clock whose waits move fake time on by the timeout: budget pauses and
    windows pass at once, so a test can drive many calls without real waiting."""

    def wait(self, event: threading.Event, timeout: float) -> bool:
        if event.is_set():
            return True
        self.advance(max(timeout, 0.001))
        return event.is_set()


def frozen(server: Any, token: str, provider: str) -> Any:
    """A module's shared emulator, reset, its clock stopped (time moves only when a test
    advances it), with one account of ``provider`` ("rd", "ad", "tb", "dl", "pm")."""
    server.world.reset()
    server.world.clock.set_speed(0)
    server.world.add_account(token, provider=provider)
    return server


class Receiver:
    """A local HTTP endpoint: records every POST; answers from ``plan`` (then 200/204), or hangs."""

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        self.plan: list[tuple[int, dict[str, str]]] = []
        self.hang = threading.Event()   # cleared: requests wait until it is set
        self.hang.set()
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with receiver.lock:
                    receiver.received.append({"path": self.path, "body": json.loads(body),
                                              "type": self.headers.get("Content-Type")})
                    status, headers = receiver.plan.pop(0) if receiver.plan else (204, {})
                receiver.hang.wait(10)
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05},
                                       daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def bodies(self, path: str) -> list[dict[str, Any]]:
        with self.lock:
            return [r["body"] for r in self.received if r["path"] == path]
