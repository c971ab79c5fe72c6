"""The real AllDebrid client against the emulator over HTTP: shapes, the add flow, links, errors."""

from __future__ import annotations

import hashlib
import threading
from typing import Any

import pytest
import requests

from emulators.clock import parse_time
from emulators.content import file_bytes
from emulators.server import Emulator
from gateway import errors
from gateway.config import parse_config
from gateway.imports.torrentmeta import bencode
from gateway.models import TorrentStatus
from gateway.providers import build_provider
from gateway.providers.alldebrid import AllDebrid
from tests.support import SAMPLE, FakeClock, frozen, infohash

TOKEN = "ad-token"
SECOND = "ad-second"
STATUS = r"^/v4\.1/magnet/status"


class TickClock(FakeClock):
    """A fake clock whose waits pass fake time: a budget wait (AllDebrid's 12/s, a 429
    pause) ends at once instead of spinning on a clock nobody moves."""

    def __init__(self) -> None:
        super().__init__()
        self.waited = 0.0

    def wait(self, event: threading.Event, timeout: float) -> bool:
        if event.is_set():
            return True
        self.waited += timeout
        self.advance(timeout)
        return False


def client(emu: Emulator, token: str = TOKEN, clock: FakeClock | None = None,
           extra_keys: tuple[str, ...] = ()) -> AllDebrid:
    cfg = parse_config({"debrids": [{"name": "x", "provider": "alldebrid", "api_key": token,
                                     "download_api_keys": list(extra_keys),
                                     "api_url": emu.api_url("alldebrid"), "rate_limit": "off"}]}, "/tmp/c")
    provider = build_provider(cfg.debrids[0], clock or TickClock())
    assert isinstance(provider, AllDebrid)
    return provider


@pytest.fixture()
def emu(server: Emulator) -> Emulator:
    frozen(server, TOKEN, "ad")
    return server


def seed(emu: Emulator) -> list[str]:
    return emu.world.seed_library(TOKEN, SAMPLE)


def show(emu: Emulator, cached: bool = True) -> str:
    h = infohash("ad show")
    emu.world.add_catalog(h, "AD Show", [{"path": "Season 1/E01.mkv", "size": 4 * 1024 * 1024},
                                         {"path": "Season 1/E02.mkv", "size": 2 * 1024 * 1024}],
                          cached=cached, provider="ad")
    return h


# ------------------------------------------------------------------- reading


def test_list_and_get_map_the_files_tree(emu: Emulator) -> None:
    ids = seed(emu)
    ad = client(emu)
    assert ad.account().premium and ad.account().username
    listed = {t.id: t for t in ad.list_torrents()}
    assert set(listed) == set(ids)
    assert all(t.status == TorrentStatus.DOWNLOADED and not t.files for t in listed.values())
    the_show = ad.get_torrent(ids[0])
    assert the_show.infohash == infohash("show") and the_show.name == "The Show S01 1080p"
    assert [(f.id, f.path, f.size) for f in the_show.files] == [
        (0, "Season 1/The Show S01E01.mkv", 3_000_000), (1, "Season 1/The Show S01E02.mkv", 2_500_123),
        (2, "Season 1/Subs/English.srt", 12_345)]
    assert all(f.link.startswith(f"{emu.origin}/ad-link/f/") for f in the_show.files)
    assert the_show.added == parse_time(SAMPLE[0]["added"]) and the_show.ended == the_show.added
    single = ad.get_torrent(ids[1])
    assert [f.path for f in single.files] == ["Amélie (2001).mkv"]
    assert single.status_detail == "4 Ready" and single.progress == 1.0
    recent, total = ad.list_recent(2)
    assert total == 4 and [t.id for t in recent] == [ids[0], ids[1]]
    emu.world.set_knobs(ad_list_includes_files=True)
    assert {t.id: t.files for t in ad.list_torrents()}[ids[0]] == the_show.files
    log = emu.world.log(path_prefix="/v4")
    assert log and all("agent=decypharr" in e["query"] for e in log)
    assert {e["path"] for e in log} >= {"/v4.1/magnet/status", "/v4/user"}


def test_legacy_and_array_status_shapes_are_read(emu: Emulator) -> None:
    ad = client(emu)
    legacy = {"id": 5, "filename": "Old", "size": 30, "hash": "AB" * 20, "status": "Ready", "statusCode": 4,
              "links": [{"link": "http://h/f/1", "filename": "a.mkv", "size": 10,
                         "files": [{"n": "Old", "e": [{"n": "Sub", "e": [{"n": "a.mkv", "s": 10}]}]}]},
                        {"link": "http://h/f/2", "filename": "b.mkv", "size": 20}]}
    emu.world.add_fault({"provider": "ad", "path_regex": STATUS, "times": 1, "status": 200,
                         "body": {"status": "success", "data": {"magnets": [legacy]}}})
    t = ad.get_torrent("5")
    assert t.infohash == "ab" * 20 and t.status == TorrentStatus.DOWNLOADED
    assert [(f.id, f.path, f.size, f.link) for f in t.files] == [(0, "Sub/a.mkv", 10, "http://h/f/1"),
                                                                (1, "b.mkv", 20, "http://h/f/2")]
    keyed = {"7": {**legacy, "id": 7, "statusCode": 11, "status": "Deleted on the hoster website"}}
    emu.world.add_fault({"provider": "ad", "path_regex": STATUS, "times": 1, "status": 200,
                         "body": {"status": "success", "data": {"magnets": keyed}}})
    [dead] = ad.list_torrents()
    assert dead.status == TorrentStatus.DEAD and dead.status_detail.startswith("11 ")


# ------------------------------------------------------------------- adding


def test_cached_magnet_is_downloaded_at_once(emu: Emulator) -> None:
    h = show(emu)
    ad = client(emu)
    tid = ad.add_magnet(f"magnet:?xt=urn:btih:{h}&dn=AD+Show")
    ad.select_files(tid, [0])   # nothing to select at AllDebrid
    t = ad.get_torrent(tid)
    assert t.status == TorrentStatus.DOWNLOADED and [f.path for f in t.files] == ["Season 1/E01.mkv",
                                                                                 "Season 1/E02.mkv"]
    assert ad.active_count().active == 0 and ad.active_count().limit > 0
    ad.delete(tid)
    with pytest.raises(errors.NotFound) as exc:
        ad.get_torrent(tid)
    assert exc.value.code == "MAGNET_INVALID_ID"


def test_uncached_magnet_downloads_on_the_virtual_clock(emu: Emulator) -> None:
    h = show(emu, cached=False)
    emu.world.set_knobs(download_speed=1024 * 1024)
    ad = client(emu)
    tid = ad.add_magnet(f"magnet:?xt=urn:btih:{h}")
    queued = ad.get_torrent(tid)
    assert queued.status == TorrentStatus.QUEUED and queued.files == () and queued.status_detail == "0 In Queue"
    emu.world.clock.advance(4)
    busy = ad.get_torrent(tid)
    assert busy.status == TorrentStatus.DOWNLOADING and 0 < busy.progress < 1 and busy.speed == 1024 * 1024
    assert ad.active_count().active == 1
    emu.world.clock.advance(10)
    done = ad.get_torrent(tid)
    assert done.status == TorrentStatus.DOWNLOADED and len(done.files) == 2 and done.ended > done.added


def test_torrent_file_upload(emu: Emulator) -> None:
    info = {"name": "Packed", "piece length": 16384, "pieces": b"\0" * 20,
            "files": [{"path": ["Disc 1", "a.mkv"], "length": 5000}, {"path": ["b.mkv"], "length": 7}]}
    h = hashlib.sha1(bencode(info)).hexdigest()
    emu.world.set_cached([h], provider="ad")
    ad = client(emu)
    tid = ad.add_torrent_file(bencode({"announce": "http://t/", "info": info}))
    t = ad.get_torrent(tid)
    assert t.infohash == h and [(f.path, f.size) for f in t.files] == [("Disc 1/a.mkv", 5000), ("b.mkv", 7)]
    with pytest.raises(errors.BadRequest) as exc:
        ad.add_torrent_file(b"not a torrent")
    assert exc.value.code == "MAGNET_INVALID_FILE"


def test_add_errors_map_to_the_vocabulary(emu: Emulator) -> None:
    emu.world.add_account(SECOND, provider="ad", slots_limit=1)
    ad = client(emu, SECOND)
    with pytest.raises(errors.BadRequest):
        ad.add_magnet("magnet:?dn=nohash")
    ad.add_magnet(f"magnet:?xt=urn:btih:{infohash('u1')}")   # unknown: stays In Queue, takes the slot
    with pytest.raises(errors.SlotsFull) as exc:
        ad.add_magnet(f"magnet:?xt=urn:btih:{infohash('u2')}")
    assert exc.value.code == "MAGNET_TOO_MANY_ACTIVE"
    with pytest.raises(errors.BadRequest) as no_cache:
        ad.check_cached([infohash("u1")])
    assert no_cache.value.code == "no_cache_check"
    with pytest.raises(errors.BadRequest):
        ad.add_nzb(b"<nzb/>", "x")
    with pytest.raises(errors.BadRequest):
        ad.add_nzb_url("http://x/y.nzb", "x")


# -------------------------------------------------------------------- links


def test_unrestrict_reads_bytes_and_refreshes_expired_links(emu: Emulator) -> None:
    ids = seed(emu)
    ad = client(emu)
    t = ad.get_torrent(ids[0])
    f = t.files[1]
    link = ad.unrestrict(t, f)
    assert link.size == f.size and link.filename == "The Show S01E02.mkv" and link.key == 0
    r = requests.get(link.url, headers={"Range": "bytes=1000-4999"})
    assert r.status_code == 206 and r.content == file_bytes(f"{infohash('show')}/{SAMPLE[0]['files'][1]['path']}",
                                                            1000, 4000)
    assert emu.world.expire_links("ad", all=True) >= 1
    assert requests.head(link.url).status_code == 404
    fresh = ad.unrestrict(t, f)
    assert fresh.url != link.url and requests.head(fresh.url).status_code == 200


def test_purged_file_is_file_gone_and_the_magnet_dead(emu: Emulator) -> None:
    ids = seed(emu)
    ad = client(emu)
    t = ad.get_torrent(ids[0])
    emu.world.purge(item_id=ids[0], file=0, provider="ad")
    with pytest.raises(errors.FileGone) as exc:
        ad.unrestrict(t, t.files[0])
    assert exc.value.code == "LINK_DOWN"
    assert ad.get_torrent(ids[0]).status == TorrentStatus.DEAD
    emu.world.set_knobs(ad_purged_error="MAGNET_LINKS_REMOVED")
    with pytest.raises(errors.FileGone):
        ad.unrestrict(t, t.files[0])
    with pytest.raises(errors.FileGone):
        ad.unrestrict(t, t.files[1]._replace(link=""))


def test_delayed_unlock_is_unavailable(emu: Emulator) -> None:
    ids = seed(emu)
    emu.world.set_knobs(ad_delayed_mode=True)
    ad = client(emu)
    t = ad.get_torrent(ids[1])
    with pytest.raises(errors.Unavailable) as exc:
        ad.unrestrict(t, t.files[0])
    assert exc.value.code == "delayed"


def test_download_key_rotation_on_exhausted_traffic(emu: Emulator) -> None:
    ids = seed(emu)
    emu.world.add_account(SECOND, provider="ad")
    ad = client(emu, extra_keys=(SECOND,))
    t = ad.get_torrent(ids[3])
    emu.world.set_traffic(TOKEN, used=1, limit=1)
    link = ad.unrestrict(t, t.files[0])
    assert link.key == 1 and requests.get(link.url).content == file_bytes(f"{infohash('tiny')}/Tiny Movie 2020.mkv",
                                                                          0, 1)
    assert emu.world.accounts[SECOND].traffic_used_today == 1
    # One key alone: the quota error reaches the caller.
    with pytest.raises(errors.QuotaExceeded) as exc:
        client(emu).unrestrict(t, t.files[0])
    assert exc.value.code == "LINK_HOST_LIMIT_REACHED"


# ------------------------------------------------------------------- errors


def test_bad_token_is_auth_error_in_both_error_modes(emu: Emulator) -> None:
    with pytest.raises(errors.AuthError) as exc:
        client(emu, "wrong").account()
    assert exc.value.code == "AUTH_BAD_APIKEY" and exc.value.status == 200
    emu.world.set_knobs(ad_errors_http_status="4xx")
    with pytest.raises(errors.AuthError) as exc:
        client(emu, "wrong").list_torrents()
    assert exc.value.status == 401
    with pytest.raises(errors.NotFound):
        client(emu).get_torrent("123")


def test_429_with_and_without_retry_after(emu: Emulator) -> None:
    clock = TickClock()
    ad = client(emu, clock=clock)
    emu.world.add_fault({"provider": "ad", "path_regex": "^/v4/user", "times": 1, "status": 429,
                         "provider_error": {"code": "RATE_LIMITED"}, "headers": {"Retry-After": "7"}})
    mark = emu.world.log_mark()
    assert ad.account().premium
    assert 7.0 <= clock.waited < 8.0 and ad.budget.stats()["rate_limited"] == 1
    emu.world.add_fault({"provider": "ad", "path_regex": "^/v4/user", "times": 2, "status": 429, "body": ""})
    before = clock.waited
    assert ad.account().premium
    assert clock.waited - before == pytest.approx(1.0 + 2.0, abs=0.01)   # 1 s, then 2 s of backoff
    assert [e["status"] for e in emu.world.log(since=mark)] == [429, 200, 429, 429, 200]


def test_outage_is_retried_then_unavailable(emu: Emulator) -> None:
    clock = TickClock()
    emu.world.add_fault({"provider": "ad", "path_regex": "^/v4/user", "times": 3, "status": 503, "body": ""})
    assert client(emu, clock=clock).account().premium
    assert clock.slept == [0.5, 1.0, 2.0]
    emu.world.add_fault({"provider": "ad", "path_regex": "^/v4/user", "times": 10, "status": 503, "body": ""})
    with pytest.raises(errors.Unavailable) as exc:
        client(emu).account()
    assert exc.value.status == 503


def test_garbage_and_unknown_shapes_are_unavailable(emu: Emulator) -> None:
    seed(emu)
    ad = client(emu)
    bodies: list[tuple[Any, str]] = [
        ("not json", "bad_json"),
        ([1, 2], "bad_shape"),
        ({"status": "success", "data": {"magnets": "what"}}, "bad_shape"),
        ({"status": "success", "data": {"magnets": [{"id": 1, "statusCode": 4, "files": {"n": "x"}}]}}, "bad_shape"),
        ({"status": "success", "data": {"magnets": [{"id": 1, "statusCode": 4, "files": [{"s": 1}]}]}}, "bad_shape"),
        ({"status": "weird"}, "bad_shape"),
    ]
    for body, code in bodies:
        # Retried like an outage (a proxy may garble one answer), then reported.
        emu.world.add_fault({"provider": "ad", "path_regex": STATUS, "times": 10, "status": 200, "body": body})
        with pytest.raises(errors.Unavailable) as exc:
            ad.list_torrents()
        assert exc.value.code == code, body
        emu.world.clear_faults()
    emu.world.add_fault({"provider": "ad", "path_regex": "^/v4/magnet/upload", "times": 1, "status": 200,
                         "body": {"status": "success", "data": {"magnets": []}}})
    with pytest.raises(errors.Unavailable):
        ad.add_magnet(f"magnet:?xt=urn:btih:{infohash('x')}")
    emu.world.add_fault({"provider": "ad", "path_regex": "^/v4/link/unlock", "times": 10, "status": 200,
                         "provider_error": {"code": "MAINTENANCE", "message": "down"}})
    t = ad.get_torrent(ad.list_torrents()[0].id)
    with pytest.raises(errors.Unavailable) as exc:
        ad.unrestrict(t, t.files[0])
    assert exc.value.code == "MAINTENANCE"


def test_a_rate_limit_inside_an_http_200_pauses_and_retries(emu: Emulator) -> None:
    seed(emu)
    ad = client(emu)
    emu.world.add_fault({"provider": "ad", "path_regex": STATUS, "times": 1, "status": 200,
                         "provider_error": {"code": "RATE_LIMITED", "message": "slow down"}})
    assert len(ad.list_torrents()) > 0
    assert ad.budget.stats()["rate_limited"] == 1
