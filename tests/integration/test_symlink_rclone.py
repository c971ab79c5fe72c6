"""The symlink action end to end: the gateway's WebDAV tree mounted with rclone at mount_path;
a grab reaches pausedUP only when every link resolves, and the bytes through the links are right."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.integration.test_imports import check_symlink_import
from tests.integration.test_tree import base
from tests.support import HAVE_RCLONE_MOUNT, NO_RCLONE_MOUNT, rclone_mount, start_gateway

pytestmark = pytest.mark.skipif(not HAVE_RCLONE_MOUNT, reason=NO_RCLONE_MOUNT)


def test_symlinks_into_rclone_mount(emulator, tmp_path: Path) -> None:
    mnt = str(tmp_path / "mnt")
    gw = start_gateway(emulator, str(tmp_path / "c"), refresh_interval="100ms", default_download_action="symlink",
                       mount={"type": "none", "mount_path": mnt})
    try:
        with rclone_mount(f"{base(gw)}/webdav", mnt):
            gw.imports.start()
            check_symlink_import(gw, emulator, mnt, "Show S02")
    finally:
        gw.stop()
