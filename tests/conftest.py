from __future__ import annotations

from collections.abc import Iterator

import pytest

from gateway.emulators.server import Emulator
from tests.support import SAMPLE, TOKEN, start_gateway


@pytest.fixture()
def emulator() -> Iterator[Emulator]:
    """A fresh emulated Real-Debrid with the sample library in the test account."""
    emu = Emulator(rate_limit=False).start()
    emu.world.add_account(TOKEN)
    emu.world.seed_library(TOKEN, SAMPLE)
    try:
        yield emu
    finally:
        emu.stop()


@pytest.fixture()
def gateway(emulator, tmp_path):  # type: ignore[no-untyped-def]
    gw = start_gateway(emulator, str(tmp_path / "config"))
    try:
        yield gw
    finally:
        gw.stop()
