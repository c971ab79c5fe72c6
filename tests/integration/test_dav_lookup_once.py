"""Each WebDAV request walks the tree for its path once (issue 16: a ranged GET walked it four times).

``GatewayDAVApp`` resolves the path before WsgiDAV and hands the lookup along;
the spy below counts real walks of that path in the snapshot, it changes nothing.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import pytest
import requests

from gateway.library.snapshot import Snapshot
from tests.support import SAMPLE, expected


@pytest.fixture()
def walks(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, ...]]:
    seen: list[tuple[str, ...]] = []
    original = Snapshot.resolve

    def counting(self: Snapshot, parts: Any) -> Any:
        seen.append(tuple(parts))
        return original(self, parts)

    monkeypatch.setattr(Snapshot, "resolve", counting)
    return seen


def test_ranged_get_propfind_and_options_resolve_their_path_once(gateway, walks) -> None:
    snapshot = gateway.library.snapshot()
    name = next(n for k, n in snapshot.folders.items() if snapshot.torrents[k].infohash == SAMPLE[0]["hash"])
    file = SAMPLE[0]["files"][0]["path"]
    parts = ("__all__", name, *file.split("/"))
    url = f"http://127.0.0.1:{gateway.port}/webdav/__all__/{quote(name)}/{quote(file)}"

    walks.clear()
    got = requests.get(url, headers={"Range": "bytes=3-12", "If-Range": "\"nope\""}, timeout=10)
    assert got.status_code == 200   # If-Range names another version: the whole file
    walks.clear()
    got = requests.get(url, headers={"Range": "bytes=3-12"}, timeout=10)
    assert got.status_code == 206 and got.content == expected(SAMPLE[0], file, 3, 10)
    assert walks.count(parts) == 1, walks
    for method in ("PROPFIND", "OPTIONS", "HEAD"):
        walks.clear()
        assert requests.request(method, url, headers={"Depth": "0"}, timeout=10).status_code in (200, 207)
        assert walks.count(parts) == 1, (method, walks)
