"""Link expiry, dropped connections, provider failures during sync, restart from the store."""

from __future__ import annotations

import threading

import requests

from gateway.app import build
from gateway.models import TorrentStatus
from tests.integration.test_tree import base, folder, propfind
from tests.support import SAMPLE, TOKEN, FakeClock, expected, gateway_config, start_gateway, wait_until

RD = "/rest/1.0"


def _path(gw, entry, index: int = 0) -> str:
    return f"/__all__/{folder(gw, entry)}/{entry['files'][index]['path']}"


def test_expired_link_mid_read_continues(gateway, emulator) -> None:
    entry = SAMPLE[0]
    path = entry["files"][0]["path"]
    handle = gateway.vfs.open(_path(gateway, entry))
    assert handle.pread(0, 100_000) == expected(entry, path, 0, 100_000)
    mark = emulator.world.log_mark()
    assert emulator.world.expire_links(all=True) > 0
    # A jump past the skip window needs a new CDN request, which the expired link fails.
    assert handle.pread(2_000_000, 500_000) == expected(entry, path, 2_000_000, 500_000)
    assert emulator.world.log_count(f"{RD}/unrestrict/link", since=mark) == 1
    cdn = [e for e in emulator.world.log(since=mark) if e["path"].startswith("/cdn/")]
    assert [e["status"] for e in cdn][:2] == [404, 206]
    handle.close()


def test_dropped_connection_resumes_at_the_same_byte(gateway, emulator) -> None:
    entry = SAMPLE[1]
    path = entry["files"][0]["path"]
    emulator.world.add_fault({"path_regex": "^/cdn/", "times": 2, "drop_connection_after_bytes": 300_000})
    handle = gateway.vfs.open(_path(gateway, entry))
    assert handle.read() == expected(entry, path)
    assert emulator.world.log_count("/cdn/") >= 3   # two broken streams, then a good one


def test_provider_503_during_sync_keeps_serving(emulator, tmp_path) -> None:
    clock = FakeClock()   # the retries back off on this clock, not in real time
    gateway = start_gateway(emulator, str(tmp_path / "c"), clock=clock)
    try:
        before = [e.name for e in gateway.vfs.listdir("/__all__")]
        emulator.world.add_fault({"path_regex": f"^{RD}/torrents/?$", "status": 503})
        assert gateway.library.refresh("realdebrid") is False
        assert clock.slept == [0.5, 1.0, 2.0, 4.0]   # a bare 503 is retried with backoff, then given up
        assert [e.name for e in gateway.vfs.listdir("/__all__")] == before
        assert propfind(f"{base(gateway)}/webdav/__all__/").status_code == 207
        health = requests.get(f"{base(gateway)}/health", timeout=10).json()
        assert health["providers"]["realdebrid"]["error"]
    finally:
        gateway.stop()


def test_429_is_retried_after_retry_after(emulator, tmp_path) -> None:
    clock = FakeClock()
    emulator.world.add_fault({"path_regex": f"^{RD}/torrents/?$", "times": 2, "status": 429,
                              "provider_error": {"code": 34}, "headers": {"Retry-After": "7"}})
    gw = build(gateway_config(emulator, str(tmp_path / "c")), clock)
    gw.start(workers=False)
    try:
        t0 = clock.monotonic()
        refresh = threading.Thread(target=gw.refresh_now, daemon=True)
        refresh.start()
        # Each retry waits in the account's budget until the fake clock passes the pause.
        wait_until(lambda: not refresh.is_alive() or clock.advance(0.5), what="the refresh to get through")
        assert len(gw.vfs.listdir("/__all__")) == len(SAMPLE)
        assert gw.providers["realdebrid"].budget.stats()["rate_limited"] == 2
        assert clock.monotonic() - t0 >= 14.0 and clock.slept == []
    finally:
        gw.stop()


def test_hoster_unavailable_is_not_retried_and_marks_bad(gateway, emulator) -> None:
    entry = SAMPLE[2]
    emulator.world.purge(infohash=entry["hash"])
    mark = emulator.world.log_mark()
    handle = gateway.vfs.open(_path(gateway, entry))
    try:
        handle.read(10)
        raise AssertionError("a purged file must not read")
    except Exception as exc:   # FileGone from the provider layer
        assert "hoster_unavailable" in str(exc) or type(exc).__name__ == "FileGone"
    assert emulator.world.log_count(f"{RD}/unrestrict/link", since=mark) == 1
    # Marking bad is queued for the library's writer, never built on the reader's thread.
    wait_until(lambda: folder(gateway, entry) in [e.name for e in gateway.vfs.listdir("/__bad__")], 5,
               "the torrent in __bad__")
    assert folder(gateway, entry) not in [e.name for e in gateway.vfs.listdir("/__all__")]


def test_restart_serves_from_store_with_provider_down(emulator, tmp_path) -> None:
    config_dir = str(tmp_path / "c")
    first = start_gateway(emulator, config_dir)
    names = [e.name for e in first.vfs.listdir("/__all__")]
    first.stop()
    emulator.stop()
    second = build(gateway_config(emulator, config_dir), FakeClock())
    second.start()   # workers on: their first listing fails against the stopped emulator
    try:
        assert [e.name for e in second.vfs.listdir("/__all__")] == names
        response = propfind(f"{base(second)}/webdav/__all__/")
        assert response.status_code == 207 and response.content.count(b"<D:response>") == len(names) + 1
        stat = second.vfs.stat(_path(second, SAMPLE[0]))
        assert stat.size == SAMPLE[0]["files"][0]["size"]
        assert second.library.snapshot().torrents[next(iter(second.library.snapshot().torrents))].status \
            == TorrentStatus.DOWNLOADED
    finally:
        second.stop()


def test_sync_picks_up_new_and_removed_torrents(gateway, emulator) -> None:
    new = {"hash": "ab" * 20, "name": "Brand New 2024", "files": [{"path": "new.mkv", "size": 1000}]}
    emulator.world.seed_library(TOKEN, [new])
    gone = next(t for t in emulator.world.list_torrents(TOKEN) if t.hash == SAMPLE[3]["hash"])
    emulator.world.delete_torrent(TOKEN, gone.id)
    mark = emulator.world.log_mark()
    assert gateway.library.refresh("realdebrid")
    names = [e.name for e in gateway.vfs.listdir("/__all__")]
    assert "Brand New 2024" in names and folder(gateway, SAMPLE[0]) in names
    assert len(names) == len(SAMPLE)
    # Only the new torrent needed an info call: known ones keep their files.
    assert emulator.world.log_count(f"{RD}/torrents/info/", since=mark) == 1


def test_lost_file_is_a_clean_502_over_http(gateway, emulator) -> None:
    from urllib.parse import quote

    entry = SAMPLE[1]
    name, rel = quote(folder(gateway, entry)), quote(entry["files"][0]["path"])
    emulator.world.purge(infohash=entry["hash"])
    # The first failing read marks the torrent bad: it leaves __all__ for __bad__.
    first = requests.get(f"{base(gateway)}/api/browse/download/{name}/{rel}", timeout=10)
    assert first.status_code == 502 and first.json()["code"] == 502
    assert requests.get(f"{base(gateway)}/api/browse/download/{name}/{rel}", timeout=10).status_code == 404
    response = requests.get(f"{base(gateway)}/webdav/__bad__/{name}/{rel}", timeout=10)
    assert response.status_code == 502 and b"Traceback" not in response.content
