"""The cached torrents/info rendering says exactly what the plain one says."""

from __future__ import annotations

import json

from api import qbit_model as model
from gateway.imports.records import ImportFile, ImportRecord, ImportState


def records() -> list[ImportRecord]:
    return [
        ImportRecord(hash=f"{i:040x}", name=f"Show «{i}»", category="sonarr", added_on=1_700_000_000 + i,
                     magnet=f"magnet:?xt=urn:btih:{i:040x}&tr=udp%3A%2F%2Ft.example%3A1", tags=("a", "b"),
                     state=ImportState.COMPLETE if i % 2 else ImportState.DOWNLOADING, progress=0.5, speed=100,
                     completed_on=1_700_000_500 if i % 2 else 0, files=(ImportFile("x.mkv", 1000 + i),))
        for i in range(10)
    ]


def test_renderer_matches_torrent_info_and_follows_the_clock() -> None:
    renderer = model.InfoRenderer()
    items = records()
    limits = {items[3].hash: model.ShareLimits(ratio_limit=2.0)}
    for now in (1_700_001_000.0, 1_700_009_999.0):   # second call: cached parts, new clock fields
        rendered = json.loads(renderer.render(items, now, limits.get))
        assert rendered == [model.torrent_info(r, now, limits.get(r.hash)) for r in items]


def test_renderer_notices_a_changed_record() -> None:
    renderer = model.InfoRenderer()
    items = records()
    renderer.render(items, 1_700_001_000.0, lambda h: None)
    items[0] = items[0].with_changes(state=ImportState.ERROR, error="dead")
    rendered = json.loads(renderer.render(items, 1_700_001_000.0, lambda h: None))
    assert rendered[0]["state"] == "error"
