"""The real Real-Debrid client against the emulator over HTTP: paging, errors, the add flow."""

from __future__ import annotations

import threading

import pytest

from emulators.server import Emulator
from gateway import errors
from gateway.config import parse_config
from gateway.models import TorrentStatus
from gateway.providers import build_provider
from tests.support import FakeClock, infohash, wait_until


def client(emu: Emulator, token: str = "tok", clock: FakeClock | None = None, rate: str = "off"):
    cfg = parse_config({"debrids": [{"name": "realdebrid", "api_key": token, "api_url": emu.rd_api_url,
                                     "rate_limit": rate}]}, "/tmp/c")
    return build_provider(cfg.debrids[0], clock or FakeClock())


@pytest.fixture()
def emu():
    with Emulator(rate_limit=False) as e:
        e.world.add_account("tok")
        yield e


def test_paging_reads_every_torrent(emu) -> None:
    rd = client(emu)
    assert rd.list_torrents() == []    # 204 on an empty account
    emu.world.seed_library("tok", [{"hash": infohash(str(i)), "name": f"T{i}",
                                    "files": [{"path": "f.mkv", "size": i + 1}]} for i in range(2345)])
    listed = rd.list_torrents()
    assert len(listed) == 2345 and len({t.id for t in listed}) == 2345
    assert all(t.status == TorrentStatus.DOWNLOADED and not t.files for t in listed)
    assert emu.world.log_count("/rest/1.0/torrents") == 4   # 1 empty + 3 pages of 1000


def test_errors_map_to_the_vocabulary(emu) -> None:
    with pytest.raises(errors.AuthError):
        client(emu, token="wrong").account()
    rd = client(emu)
    with pytest.raises(errors.NotFound):
        rd.get_torrent("NOSUCHTORRENT")
    with pytest.raises(errors.BadRequest):
        rd.add_magnet("magnet:?dn=nohash")
    emu.world.add_fault({"path_regex": "/unrestrict/link", "status": 503, "provider_error": {"code": 19}})
    t = emu.world.seed_library("tok", [{"hash": infohash("x"), "name": "X", "files": [{"path": "a.mkv", "size": 9}]}])
    torrent = rd.get_torrent(t[0])
    mark = emu.world.log_mark()
    with pytest.raises(errors.FileGone):
        rd.unrestrict(torrent, torrent.files[0])
    assert emu.world.log_count("/rest/1.0/unrestrict", since=mark) == 1   # a verdict, not retried


def test_bare_503_is_retried_with_backoff(emu) -> None:
    clock = FakeClock()
    emu.world.add_fault({"path_regex": "^/rest/1.0/user", "status": 503, "times": 2, "body": ""})
    account = client(emu, clock=clock).account()
    assert account.premium and clock.slept == [0.5, 1.0]


def test_budget_spaces_calls(emu) -> None:
    clock = FakeClock()
    rd = client(emu, clock=clock, rate="2/second")
    t0 = clock.monotonic()
    done: list[float] = []

    def six_calls() -> None:
        for _ in range(6):
            rd.account()
            done.append(clock.monotonic() - t0)

    threading.Thread(target=six_calls, daemon=True).start()
    for finished in (2, 4, 6):
        wait_until(lambda n=finished: len(done) == n and (n == 6 or rd.budget.waiting == 1))
        clock.advance(1.0)
    assert done == [0.0, 0.0, 1.0, 1.0, 2.0, 2.0]   # two per second, no burst; nothing sleeps
    assert clock.slept == []


def test_cached_magnet_flow(emu) -> None:
    h = infohash("cached")
    emu.world.add_catalog(h, "Cached Movie", [{"path": "movie.mkv", "size": 1000}, {"path": "info.nfo", "size": 10}],
                          cached=True)
    rd = client(emu)
    tid = rd.add_magnet(f"magnet:?xt=urn:btih:{h}")
    assert rd.get_torrent(tid).status == TorrentStatus.METADATA
    emu.world.clock.advance(1)
    waiting = rd.get_torrent(tid)
    assert waiting.status == TorrentStatus.WAITING_SELECTION and len(waiting.files) == 2
    rd.select_files(tid, [1])
    done = rd.get_torrent(tid)
    assert done.status == TorrentStatus.DOWNLOADED and done.files[0].link and not done.files[1].selected
    link = rd.unrestrict(done, done.files[0])
    assert link.url.startswith(emu.origin) and link.size == 1000
    assert rd.active_count().limit == 5
    rd.delete(tid)
    with pytest.raises(errors.NotFound):
        rd.get_torrent(tid)
