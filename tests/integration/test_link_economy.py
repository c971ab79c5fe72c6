"""Link economy through the whole gateway: a two-hour film read with seeks, one requestdl.

TorBox mints a new CDN URL on every requestdl; the gateway must keep the one it
has while it works. Gateway and emulator share one virtual clock, so two hours
pass in a second.
"""

from __future__ import annotations

import random
from typing import Any

from emulators.server import Emulator
from gateway.app import build
from tests.support import VirtualClock, expected, gateway_config

FILM = {"hash": "ab" * 20, "name": "Long Film (2023) 2160p",
        "files": [{"path": "Long Film (2023) 2160p.mkv", "size": 48 * 1024 * 1024 + 321}]}


def test_a_two_hour_read_of_a_torbox_file_costs_one_requestdl(tmp_path: Any) -> None:
    with Emulator(rate_limit=False) as emu:
        emu.world.add_account("tb-key", provider="tb")
        emu.world.seed_library("tb-key", [FILM])
        clock = VirtualClock(emu.world.clock)
        config = gateway_config(emu, str(tmp_path / "c"), debrids=[{
            "name": "torbox", "provider": "torbox", "api_key": "tb-key", "api_url": emu.api_url("torbox"),
            "rate_limit": "off", "torrents_refresh_interval": "1h"}])
        gateway = build(config, clock).start(serve=False, workers=False)
        try:
            gateway.refresh_now()
            path = f"/__all__/{FILM['name']}/{FILM['files'][0]['path']}"
            size = FILM["files"][0]["size"]
            rng = random.Random(7)
            position = 0
            for _ in range(120):                       # a minute of playback between reads, with seeks
                if rng.random() < 0.2:
                    position = rng.randrange(0, size - 1)
                handle = gateway.vfs.open(path)
                handle.seek(position)
                data = handle.read(256 * 1024)
                handle.close()
                assert data == expected(FILM, FILM["files"][0]["path"], position, 256 * 1024)
                position = min(position + 256 * 1024, size - 1)
                clock.advance(60.0)
            requestdl = emu.world.log(path_prefix="/v1/api/torrents/requestdl")
            assert len(requestdl) == 1
            assert len(emu.world.log(path_prefix="/cdn/tb/")) >= 120   # every read went to the CDN
        finally:
            gateway.stop()
