"""rclone_rc (contract §9): a real ``rclone mount`` of our WebDAV with an hour-long
``--dir-cache-time`` and its remote control on loopback (with a user and password) shows a
torrent added through the qBit API within 5 s of it entering the tree, in ``__all__`` and in
its (new) category folder, because the gateway posts ``vfs/forget`` and ``vfs/refresh``."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.integration.test_imports import magnet
from tests.integration.test_tree import base
from tests.support import HAVE_RCLONE_MOUNT, NO_RCLONE_MOUNT, infohash, rclone_env, start_gateway, wait_until

pytestmark = pytest.mark.skipif(not HAVE_RCLONE_MOUNT, reason=NO_RCLONE_MOUNT)

RC_USER, RC_PASS = "rc-user", "rc-secret-password"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def _mount(webdav: str, mnt: str, rc_port: int) -> Iterator[None]:
    os.makedirs(mnt, exist_ok=True)
    proc = subprocess.Popen(
        ["rclone", "mount", "gw:", mnt, "--read-only", "--vfs-cache-mode", "off", "--dir-cache-time", "1h",
         "--poll-interval", "0", "--rc", "--rc-addr", f"127.0.0.1:{rc_port}", "--rc-user", RC_USER,
         "--rc-pass", RC_PASS],
        env=rclone_env(webdav), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_until(lambda: os.path.ismount(mnt), 20, "the rclone mount")
        yield
    finally:
        subprocess.run(["fusermount3" if shutil.which("fusermount3") else "fusermount", "-u", mnt],
                       capture_output=True)
        proc.terminate()
        proc.wait(10)


def test_rclone_mount_sees_a_new_torrent_at_once(emulator, tmp_path: Path) -> None:
    emulator.world.set_knobs(conv_delay=0)
    rc_port, mnt = _free_port(), str(tmp_path / "mnt")
    gw = start_gateway(emulator, str(tmp_path / "c"), refresh_interval="100ms", default_download_action="none",
                       rclone_rc={"url": f"http://127.0.0.1:{rc_port}", "username": RC_USER,
                                  "password": RC_PASS})
    try:
        with _mount(f"{base(gw)}/webdav", mnt, rc_port):
            gw.imports.start()
            before = os.listdir(f"{mnt}/__all__")              # cached by rclone for an hour from here
            assert not os.path.exists(f"{mnt}/tvshows")
            h = infohash("rclone-rc-show")
            emulator.world.add_catalog(h, "Rclone Show S01", [{"path": "Rclone.Show.S01E01.mkv", "size": 4096}],
                                       cached=True)
            answer = requests.post(f"{base(gw)}/api/v2/torrents/add",
                                   data={"urls": magnet(h, "Rclone Show S01"), "category": "tvshows"}, timeout=10)
            assert answer.text == "Ok."

            def in_tree() -> str | None:
                emulator.world.clock.advance(1.0)
                record = gw.imports.get(h)
                return record.folder if record and record.state.value == "pausedUP" else None
            folder = wait_until(in_tree, 30, "the import")
            appeared = time.monotonic()
            assert folder not in before
            wait_until(lambda: folder in os.listdir(f"{mnt}/__all__"), 5, "the folder in the rclone mount")
            wait_until(lambda: os.path.isdir(f"{mnt}/tvshows/{folder}"), 5, "the category folder in the mount")
            assert time.monotonic() - appeared < 5
            assert os.listdir(f"{mnt}/__all__/{folder}") == ["Rclone.Show.S01E01.mkv"]
            assert gw.integrations is not None and gw.integrations.rclone is not None
    finally:
        gw.stop()
