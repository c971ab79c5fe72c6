"""The real Debrid-Link client against the emulator over HTTP: listing, adds, links, errors."""

from __future__ import annotations

import threading
from typing import Any

import pytest
import requests

from emulators import Emulator, file_bytes
from gateway import errors
from gateway.config import parse_config
from gateway.imports.torrentmeta import make_torrent_file
from gateway.models import TorrentStatus
from gateway.providers import Provider, build_provider
from tests.support import FakeClock, frozen, infohash

TOKEN = "dl-main"
OTHER = "dl-other"
MIB = 1024 * 1024


class AutoClock(FakeClock):
    """A fake clock whose waits pass at once (and move time): a budget pause never blocks."""

    def wait(self, event: threading.Event, timeout: float) -> bool:
        if not event.is_set():
            self.advance(min(timeout, 60.0))
        return event.is_set()


def client(emu: Emulator, token: str = TOKEN, clock: FakeClock | None = None, **extra: Any) -> Provider:
    raw = {"name": "x", "provider": "debridlink", "api_key": token,
           "api_url": emu.api_url("debridlink"), "rate_limit": "off", **extra}
    return build_provider(parse_config({"debrids": [raw]}, "/tmp/c").debrids[0], clock or FakeClock())


@pytest.fixture
def emu(server: Emulator) -> Emulator:
    frozen(server, TOKEN, "dl")
    return server


def show(emu: Emulator, label: str = "show", cached: bool = True, flags: tuple[str, ...] = ()) -> str:
    h = infohash(label)
    emu.world.add_catalog(h, "The Show", [
        {"path": "Season 1/E01.mkv", "size": 3 * MIB + 5},
        {"path": "Season 1/E02.mkv", "size": 1000},
    ], flags=flags, cached=cached, provider="dl")
    return h


def test_list_pages_until_next_ends_and_carries_files(emu: Emulator) -> None:
    dl = client(emu)
    assert dl.list_torrents() == []
    emu.world.seed_library(TOKEN, [{"hash": infohash(str(i)), "name": f"T{i}", "added": 1_700_000_000 + i,
                                    "files": [{"path": f"d/f{i}.mkv", "size": i + 1}]} for i in range(230)])
    mark = emu.world.log_mark()
    listed = dl.list_torrents()
    assert len(listed) == 230 and len({t.id for t in listed}) == 230
    assert emu.world.log_count("/api/v2/seedbox/list", since=mark) == 3
    t = listed[0]
    assert t.name == "T229" and t.status == TorrentStatus.DOWNLOADED and t.status_detail == "100"
    assert t.files[0].path == "d/f229.mkv" and t.files[0].link.startswith(emu.origin)
    assert t.added == 1_700_000_229 and t.infohash == infohash("229")


def test_account_and_active_count(emu: Emulator) -> None:
    dl = client(emu)
    account = dl.account()
    assert account.premium and account.premium_seconds_left > 0
    show(emu, cached=False)
    dl.add_magnet(f"magnet:?xt=urn:btih:{infohash('show')}")
    assert dl.active_count().active == 1 and dl.active_count().limit == 25


def test_cached_magnet_unrestrict_and_ranged_read(emu: Emulator) -> None:
    h = show(emu)
    dl = client(emu)
    tid = dl.add_magnet(f"magnet:?xt=urn:btih:{h}&dn=The+Show")
    t = dl.get_torrent(tid)
    assert t.status == TorrentStatus.DOWNLOADED and t.progress == 1.0 and t.infohash == h
    assert [f.path for f in t.files] == ["Season 1/E01.mkv", "Season 1/E02.mkv"]
    assert [f.id for f in t.files] == [0, 1] and t.size == 3 * MIB + 1005
    mark = emu.world.log_mark()
    link = dl.unrestrict(t, t.files[0])
    assert emu.world.log_count("/api/v2", since=mark) == 1
    assert link.size == 3 * MIB + 5 and link.filename == "E01.mkv" and link.key == 0
    r = requests.get(link.url, headers={"Range": "bytes=2000000-2000999"})
    assert r.status_code == 206 and r.content == file_bytes(f"{h}/Season 1/E01.mkv", 2_000_000, 1000)


def test_torrent_file_uncached_becomes_downloaded_after_the_clock_moves(emu: Emulator) -> None:
    emu.world.set_knobs(download_speed=MIB)
    dl = client(emu)
    tid = dl.add_torrent_file(make_torrent_file("Pack", [("Sub/a.mkv", 2 * MIB), ("b.nfo", 10)]))
    t = dl.get_torrent(tid)
    assert t.status == TorrentStatus.METADATA and t.files[0].path == "Sub/a.mkv"
    with pytest.raises(errors.Unavailable):
        dl.unrestrict(t, t.files[0])           # not complete yet: no link handed out
    emu.world.clock.advance(3.5)
    t = dl.get_torrent(tid)
    assert t.status == TorrentStatus.DOWNLOADING and 0.2 < t.progress < 0.3 and t.speed == MIB
    emu.world.clock.advance(3)
    t = dl.get_torrent(tid)
    assert t.status == TorrentStatus.DOWNLOADED and t.status_detail == "6"
    link = dl.unrestrict(t, t.files[0])
    assert requests.get(link.url, headers={"Range": "bytes=0-99"}).content == \
        file_bytes(f"{t.infohash}/Sub/a.mkv", 0, 100)


def test_root_prefixed_names_are_stripped(emu: Emulator) -> None:
    show(emu)
    emu.world.set_knobs(dl_names_with_root=True)
    dl = client(emu)
    t = dl.get_torrent(dl.add_magnet(infohash("show")))
    assert [f.path for f in t.files] == ["Season 1/E01.mkv", "Season 1/E02.mkv"]


def test_flagged_torrent_is_error_with_its_error_string(emu: Emulator) -> None:
    show(emu, cached=False, flags=("virus",))
    dl = client(emu)
    tid = dl.add_magnet(infohash("show"))
    emu.world.clock.advance(10)
    t = dl.get_torrent(tid)
    assert t.status == TorrentStatus.ERROR and t.status_detail == "Virus detected"


def test_delete_then_not_found(emu: Emulator) -> None:
    show(emu)
    dl = client(emu)
    tid = dl.add_magnet(infohash("show"))
    dl.delete(tid)
    with pytest.raises(errors.NotFound):
        dl.get_torrent(tid)
    with pytest.raises(errors.NotFound):
        dl.delete(tid)


def test_purged_file_is_file_gone(emu: Emulator) -> None:
    show(emu)
    dl = client(emu)
    t = dl.get_torrent(dl.add_magnet(infohash("show")))
    emu.world.purge(item_id=t.id, file=0, provider="dl")
    with pytest.raises(errors.FileGone):
        dl.unrestrict(t, t.files[0])
    assert dl.unrestrict(t, t.files[1]).size == 1000     # matched by path, not by the shifted index
    emu.world.purge(item_id=t.id, provider="dl")
    assert dl.get_torrent(t.id).status == TorrentStatus.DEAD


def test_expired_link_second_unrestrict_gives_a_working_url(emu: Emulator) -> None:
    show(emu)
    dl = client(emu)
    t = dl.get_torrent(dl.add_magnet(infohash("show")))
    first = dl.unrestrict(t, t.files[0])
    emu.world.expire_links("dl", all=True)
    assert requests.get(first.url).status_code == 410
    second = dl.unrestrict(t, t.files[0])
    assert second.url != first.url and requests.get(second.url, headers={"Range": "bytes=0-0"}).status_code == 206


def test_slots_full_and_blocked_adds(emu: Emulator) -> None:
    emu.world.accounts[TOKEN].slots_limit = 1
    show(emu, cached=False)
    show(emu, "bad", flags=("infringing",))
    dl = client(emu)
    dl.add_magnet(infohash("show"))
    with pytest.raises(errors.SlotsFull) as slots:
        dl.add_magnet(infohash("show"))
    assert slots.value.code == "maxTorrent"
    with pytest.raises(errors.Blocked):
        dl.add_magnet(infohash("bad"))
    with pytest.raises(errors.BadRequest):
        dl.add_magnet("magnet:?dn=nohash")


def test_429_with_retry_after_waits_that_long(emu: Emulator) -> None:
    clock = AutoClock()
    emu.world.add_fault({"path_regex": "/account/infos", "provider": "dl", "times": 1, "status": 429,
                         "provider_error": {"code": "floodDetected"}, "headers": {"Retry-After": "30"}})
    t0 = clock.monotonic()
    assert client(emu, clock=clock).account().premium
    assert clock.monotonic() - t0 >= 30


def test_429_without_retry_after_backs_off(emu: Emulator) -> None:
    clock = AutoClock()
    emu.world.set_knobs(send_retry_after=False)
    emu.world.add_fault({"path_regex": "/account/infos", "provider": "dl", "times": 1, "status": 429,
                         "provider_error": {"code": "floodDetected"}})
    t0 = clock.monotonic()
    mark = emu.world.log_mark()
    assert client(emu, clock=clock).account().premium
    assert clock.monotonic() > t0 and emu.world.log_count("/api/v2/account", since=mark) == 2


def test_flood_detected_in_a_200_envelope_is_rate_limited_too(emu: Emulator) -> None:
    emu.world.add_fault({"path_regex": "/seedbox/list", "provider": "dl", "status": 200,
                         "body": {"success": False, "error": "floodDetected"}})
    with pytest.raises(errors.RateLimited):
        client(emu).list_torrents()


def test_bad_token(emu: Emulator) -> None:
    with pytest.raises(errors.AuthError) as exc:
        client(emu, token="wrong").account()
    assert exc.value.code == "badToken"


def test_outage_is_retried_then_reported(emu: Emulator) -> None:
    clock = FakeClock()
    emu.world.add_fault({"path_regex": "/account/infos", "provider": "dl", "times": 2, "status": 503})
    assert client(emu, clock=clock).account().premium and clock.slept == [0.5, 1.0]
    emu.world.add_fault({"path_regex": "/seedbox/list", "provider": "dl", "times": 10, "status": 503})
    with pytest.raises(errors.Unavailable):
        client(emu).list_torrents()


def test_garbage_and_unknown_shapes(emu: Emulator) -> None:
    dl = client(emu)
    emu.world.add_fault({"path_regex": "/account/infos", "provider": "dl", "times": 5, "status": 200,
                         "body": "not json"})   # retried like an outage, then reported
    with pytest.raises(errors.Unavailable) as exc:
        dl.account()
    assert exc.value.code == "bad_json"
    for body in ([1, 2], {"success": True, "value": {"not": "a list"}}, {"success": True, "value": [3]}):
        emu.world.add_fault({"path_regex": "/seedbox/list", "provider": "dl", "times": 1, "status": 200,
                             "body": body})
        with pytest.raises(errors.Unavailable) as exc:
            dl.list_torrents()
        assert exc.value.code == "bad_shape"


def test_error_codes_map_to_the_vocabulary(emu: Emulator) -> None:
    dl = client(emu)
    # hidedToken last: an auth error disables the account (providers/health.py), so no call follows it
    cases = {"maxData": errors.QuotaExceeded, "fileNotFound": errors.FileGone, "badId": errors.NotFound,
             "serverNotAllowed": errors.Blocked, "badArguments": errors.BadRequest, "hidedToken": errors.AuthError}
    for code, cls in cases.items():
        emu.world.add_fault({"path_regex": "/account/infos", "provider": "dl", "times": 1,
                             "provider_error": {"code": code}})
        with pytest.raises(cls) as exc:
            dl.account()
        assert exc.value.code == code


def test_not_offered(emu: Emulator) -> None:
    dl = client(emu)
    with pytest.raises(errors.BadRequest):
        dl.add_nzb(b"x", "x.nzb")
    with pytest.raises(errors.BadRequest):
        dl.check_cached([infohash("x")])
    assert not dl.capabilities.cache_check and not dl.capabilities.select_files


def test_download_keys_cannot_serve_another_accounts_torrent(emu: Emulator) -> None:
    """DL links belong to the account holding the torrent, so the ring cannot really rotate:
    with the main key refused, the other key does not hold the torrent → every key exhausted."""
    emu.world.add_account(OTHER, provider="dl")
    show(emu)
    dl = client(emu, download_api_keys=[OTHER])
    t = dl.get_torrent(dl.add_magnet(infohash("show")))
    # Traffic is only seen at the CDN: the main key still hands out its URL, which answers 503.
    emu.world.set_traffic(TOKEN, used=1, limit=1)
    link = dl.unrestrict(t, t.files[0])
    assert link.key == 0 and requests.get(link.url).status_code == 503
    emu.world.revoke(TOKEN)
    mark = emu.world.log_mark()
    with pytest.raises(errors.QuotaExceeded) as exc:
        dl.unrestrict(t, t.files[0])
    assert exc.value.code == "keys_exhausted"
    assert [e["token"] for e in emu.world.log(since=mark)] == [TOKEN, OTHER]
