#!/usr/bin/env python3
"""Benchmark the qBittorrent API with many import records.

Prints: torrents/info?category= latency (median, p95) with N records in the
category, and the time from torrents/add until the torrent is visible in
torrents/info. The gateway runs in this process against the provider
emulator; import workers are off so the records stay put.

    .venv/bin/python scripts/bench_qbit.py [--records 5000] [--json]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from emulators.server import Emulator  # noqa: E402
from gateway.app import build  # noqa: E402
from gateway.config import parse_config  # noqa: E402
from gateway.imports.records import AddRequest  # noqa: E402


def _hash(i: int) -> str:
    return hashlib.sha1(f"bench-{i}".encode()).hexdigest()


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def run(records: int) -> dict[str, float]:
    with Emulator(rate_limit=False) as emulator, tempfile.TemporaryDirectory() as config_dir:
        emulator.world.add_account("bench")
        config = parse_config({"bind_address": "127.0.0.1", "port": 0, "use_auth": False,
                               "debrids": [{"name": "realdebrid", "api_key": "bench",
                                            "api_url": emulator.rd_api_url, "rate_limit": "off"}]}, config_dir)
        gateway = build(config).start(workers=False)
        try:
            started = time.perf_counter()
            for i in range(records):
                gateway.imports.add(AddRequest(magnet=f"magnet:?xt=urn:btih:{_hash(i)}&dn=Show.S01E{i:04d}",
                                               category="sonarr"))
            fill = time.perf_counter() - started
            return {"records": records, "fill_s": fill, **_measure(f"http://127.0.0.1:{gateway.port}/api/v2", records)}
        finally:
            gateway.stop()


def _measure(base: str, records: int) -> dict[str, float]:
    session = requests.Session()
    session.post(f"{base}/auth/login", data={"username": "admin", "password": "x"}, timeout=10)
    latencies = []
    for _ in range(20):
        started = time.perf_counter()
        items = session.get(f"{base}/torrents/info", params={"category": "sonarr"}, timeout=30).json()
        latencies.append(time.perf_counter() - started)
        assert len(items) == records
    visible = []
    for i in range(20):
        h = _hash(records + i)
        started = time.perf_counter()
        assert session.post(f"{base}/torrents/add", data={"urls": f"magnet:?xt=urn:btih:{h}",
                                                           "category": "radarr"}, timeout=10).text == "Ok."
        found = session.get(f"{base}/torrents/info", params={"hashes": h}, timeout=10).json()
        visible.append(time.perf_counter() - started)
        assert [t["hash"] for t in found] == [h]
    return {"info_median_ms": statistics.median(latencies) * 1000, "info_p95_ms": _percentile(latencies, 0.95) * 1000,
            "add_to_visible_median_ms": statistics.median(visible) * 1000,
            "add_to_visible_p95_ms": _percentile(visible, 0.95) * 1000}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=5000)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    figures = run(args.records)
    if args.json:
        print(json.dumps(figures, indent=2))
        return
    print(f"records in the category          {figures['records']}")
    print(f"filling them (in-process adds)   {figures['fill_s']:.1f} s")
    print(f"torrents/info?category= median   {figures['info_median_ms']:.1f} ms   (target < 150 ms)")
    print(f"torrents/info?category= p95      {figures['info_p95_ms']:.1f} ms")
    print(f"torrents/add → visible median    {figures['add_to_visible_median_ms']:.1f} ms")
    print(f"torrents/add → visible p95       {figures['add_to_visible_p95_ms']:.1f} ms")


if __name__ == "__main__":
    main()
