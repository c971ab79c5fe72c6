"""The symlink action end to end: the gateway's WebDAV tree mounted with rclone at mount_path;
a grab reaches pausedUP only when every link resolves, and the bytes through the links are right."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from gateway.imports.records import AddRequest
from tests.integration.test_imports import magnet, settle
from tests.integration.test_tree import base
from tests.support import expected, infohash, start_gateway, wait_until

pytestmark = pytest.mark.skipif(
    shutil.which("rclone") is None or not os.path.exists("/dev/fuse"),
    reason="needs rclone and /dev/fuse (scripts/test installs rclone and fuse3 when root)")


def test_symlinks_into_rclone_mount(emulator, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    gw = start_gateway(emulator, str(tmp_path / "c"), refresh_interval="100ms", default_download_action="symlink",
                       mount={"type": "none", "mount_path": str(mnt)})
    env = {**os.environ, "RCLONE_CONFIG_GW_TYPE": "webdav", "RCLONE_CONFIG_GW_URL": f"{base(gw)}/webdav",
           "RCLONE_CONFIG_GW_VENDOR": "other", "RCLONE_CONFIG": "/dev/null"}
    rclone = subprocess.Popen(["rclone", "mount", "gw:", str(mnt), "--vfs-cache-mode", "off",
                               "--dir-cache-time", "1s", "--poll-interval", "0", "--read-only"],
                              env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_until(lambda: os.path.ismount(mnt), 20, "the rclone mount")
        gw.imports.start()
        h = infohash("symlinked")
        files = [{"path": "Show S02/Show.S02E01.mkv", "size": 700_000},
                 {"path": "Show S02/Show.S02E02.mkv", "size": 650_001}]
        emulator.world.add_catalog(h, "Show S02", files, cached=True)
        gw.imports.add(AddRequest(magnet=magnet(h, "Show S02"), category="sonarr"))
        done = settle(gw, emulator, h, timeout=40)
        content = Path(done.content_path)
        assert content.parent == Path(gw.config.download_folder) / "sonarr"
        links = sorted(p for p in content.rglob("*") if p.is_symlink())
        assert len(links) == 2
        for link, spec in zip(links, files, strict=True):
            assert os.readlink(link).startswith(str(mnt / "__all__"))
            assert link.read_bytes() == expected({"hash": h, "files": files}, spec["path"])
    finally:
        gw.stop()
        subprocess.run(["fusermount3", "-u", str(mnt)], capture_output=True)
        rclone.terminate()
        rclone.wait(10)
