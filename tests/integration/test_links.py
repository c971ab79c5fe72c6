"""The link cache: one unrestrict in flight per file, reused until auto_expire_links_after."""

from __future__ import annotations

import threading

from tests.integration.test_tree import folder
from tests.support import SAMPLE, FakeClock, expected, start_gateway

RD_UNRESTRICT = "/rest/1.0/unrestrict/link"


def test_concurrent_readers_share_one_unrestrict(emulator, tmp_path) -> None:
    gw = start_gateway(emulator, str(tmp_path / "c"))
    try:
        entry = SAMPLE[0]
        path = f"/__all__/{folder(gw, entry)}/{entry['files'][0]['path']}"
        mark = emulator.world.log_mark()
        barrier = threading.Barrier(8)
        results: list[bytes] = []

        def read() -> None:
            handle = gw.vfs.open(path)
            barrier.wait(10)
            results.append(handle.pread(1000, 5000))
            handle.close()
        threads = [threading.Thread(target=read) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        assert results == [expected(entry, entry["files"][0]["path"], 1000, 5000)] * 8
        assert emulator.world.log_count(RD_UNRESTRICT, since=mark) == 1
    finally:
        gw.stop()


def test_links_expire_after_the_configured_ttl(emulator, tmp_path) -> None:
    clock = FakeClock()
    debrid = {"name": "realdebrid", "api_key": "test-token", "api_url": emulator.rd_api_url, "rate_limit": "off",
              "auto_expire_links_after": "1h"}
    gw = start_gateway(emulator, str(tmp_path / "c"), clock=clock, debrids=[debrid])
    try:
        entry = SAMPLE[1]
        path = f"/__all__/{folder(gw, entry)}/{entry['files'][0]['path']}"
        mark = emulator.world.log_mark()
        for _ in range(3):
            handle = gw.vfs.open(path)
            handle.pread(0, 10)
            handle.close()
        assert emulator.world.log_count(RD_UNRESTRICT, since=mark) == 1   # cached
        clock.advance(3601)
        handle = gw.vfs.open(path)
        assert handle.pread(0, 10) == expected(entry, entry["files"][0]["path"], 0, 10)
        handle.close()
        assert emulator.world.log_count(RD_UNRESTRICT, since=mark) == 2   # expired, unrestricted again
    finally:
        gw.stop()


def test_a_link_lives_its_own_accounts_lifetime(emulator, tmp_path) -> None:
    """Another account's shorter auto_expire_links_after does not cut this account's links short
    (the cache once used the minimum over all accounts)."""
    clock = FakeClock()
    emulator.world.add_account("short-token")
    debrids = [{"name": "realdebrid", "api_key": "test-token", "api_url": emulator.rd_api_url, "rate_limit": "off",
                "auto_expire_links_after": "1d"},
               {"name": "short", "provider": "realdebrid", "api_key": "short-token", "api_url": emulator.rd_api_url,
                "rate_limit": "off", "auto_expire_links_after": "1h"}]
    gw = start_gateway(emulator, str(tmp_path / "c"), clock=clock, debrids=debrids)
    try:
        entry = SAMPLE[1]
        path = f"/__all__/{folder(gw, entry)}/{entry['files'][0]['path']}"
        mark = emulator.world.log_mark()

        def read() -> None:
            handle = gw.vfs.open(path)
            assert handle.pread(0, 10) == expected(entry, entry["files"][0]["path"], 0, 10)
            handle.close()
        read()
        clock.advance(3601)   # past the other account's lifetime: this link still lives
        read()
        assert emulator.world.log_count(RD_UNRESTRICT, since=mark) == 1
        clock.advance(86400)   # past its own
        read()
        assert emulator.world.log_count(RD_UNRESTRICT, since=mark) == 2
    finally:
        gw.stop()
