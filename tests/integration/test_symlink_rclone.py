"""The symlink action end to end: the gateway's WebDAV tree mounted with rclone at mount_path;
a grab reaches pausedUP only when every link resolves, and the bytes through the links are right."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from gateway.imports.records import AddRequest
from tests.integration.test_imports import magnet, settle
from tests.integration.test_tree import base
from tests.support import HAVE_RCLONE_MOUNT, NO_RCLONE_MOUNT, expected, infohash, rclone_mount, start_gateway

pytestmark = pytest.mark.skipif(not HAVE_RCLONE_MOUNT, reason=NO_RCLONE_MOUNT)


def test_symlinks_into_rclone_mount(emulator, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    mnt = str(tmp_path / "mnt")
    gw = start_gateway(emulator, str(tmp_path / "c"), refresh_interval="100ms", default_download_action="symlink",
                       mount={"type": "none", "mount_path": mnt})
    try:
        with rclone_mount(f"{base(gw)}/webdav", mnt):
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
                assert os.readlink(link).startswith(os.path.join(mnt, "__all__"))
                assert link.read_bytes() == expected({"hash": h, "files": files}, spec["path"])
    finally:
        gw.stop()
