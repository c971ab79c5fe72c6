"""After an import completes, the *arr is asked to look now (RefreshMonitoredDownloads)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from typing import Any

import bottle
import pytest
from cheroot import wsgi

from gateway.imports.records import AddRequest
from tests.integration.test_imports import FILES, magnet, settle
from tests.support import infohash, start_gateway, wait_until


class FakeArr:
    """A stand-in Sonarr on loopback that records what it is sent."""

    def __init__(self) -> None:
        self.commands: list[tuple[str, dict[str, Any]]] = []
        app = bottle.Bottle()
        app.route("/api/v3/system/status", "GET", lambda: {"appName": "Sonarr", "version": "4.0.0"})
        app.route("/api/v3/command", "POST", self._command)
        self._server = wsgi.Server(("127.0.0.1", 0), app, numthreads=4)
        self._server.expiration_interval = 0.05
        self._server.prepare()
        self.url = f"http://127.0.0.1:{self._server.bind_addr[1]}"
        threading.Thread(target=self._server.serve, daemon=True).start()

    def _command(self) -> Any:
        self.commands.append((bottle.request.get_header("X-Api-Key", ""), json.load(bottle.request.body)))
        return {"id": len(self.commands)}

    def stop(self) -> None:
        self._server.stop()


@pytest.fixture()
def arr() -> Iterator[FakeArr]:
    fake = FakeArr()
    yield fake
    fake.stop()


def test_completion_refreshes_the_arr(emulator, tmp_path, arr) -> None:
    gw = start_gateway(emulator, str(tmp_path / "c"), refresh_interval="100ms", default_download_action="strm",
                       arrs=[{"name": "sonarr", "host": arr.url, "token": "sonarr-key"}])
    gw.imports.start()
    try:
        h = infohash("notify-me")
        emulator.world.add_catalog(h, "Notify Show", FILES, cached=True)
        gw.imports.add(AddRequest(magnet=magnet(h, "Notify Show"), category="sonarr"))
        settle(gw, emulator, h)
        wait_until(lambda: arr.commands, 10, "the RefreshMonitoredDownloads call")
        assert arr.commands == [("sonarr-key", {"name": "RefreshMonitoredDownloads"})]
        # Another category has no *arr: nothing is sent.
        h2 = infohash("no-arr")
        emulator.world.add_catalog(h2, "Plain Movie", FILES, cached=True)
        gw.imports.add(AddRequest(magnet=magnet(h2, "Plain Movie"), category="radarr"))
        settle(gw, emulator, h2)
        assert len(arr.commands) == 1
    finally:
        gw.stop()
