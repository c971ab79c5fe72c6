"""The real Premiumize client against the emulator over HTTP: flows, links, errors, keys."""

from __future__ import annotations

import base64
import hashlib
import threading
from typing import Any

import pytest
import requests

from emulators.content import file_bytes
from emulators.pm_state import PmState
from emulators.server import Emulator
from gateway import errors
from gateway.config import parse_config
from gateway.imports.torrentmeta import make_torrent_file
from gateway.models import TorrentStatus
from gateway.providers import build_provider
from gateway.providers.premiumize import Premiumize
from tests.support import FakeClock, frozen, infohash, wait_until

TOKEN = "pm-client"
SECOND = "pm-second"
MIB = 1024 * 1024
SHOW = infohash("pm show")
MOVIE = infohash("pm movie")
SLOW = infohash("pm slow")

NZB = b"""<?xml version="1.0"?>
<nzb xmlns="http://www.newzbin.com/DTD/2003/nzb">
 <file subject="&quot;job.part1.mkv&quot; yEnc (1/2)"><segments>
  <segment bytes="400000" number="1">a</segment><segment bytes="100000" number="2">b</segment></segments></file>
 <file subject="&quot;job.sfv&quot; yEnc (1/1)"><segments><segment bytes="99" number="1">c</segment></segments></file>
</nzb>"""


def client(emu: Emulator, token: str = TOKEN, clock: FakeClock | None = None,
           extra_keys: list[str] | None = None) -> Premiumize:
    raw: dict[str, Any] = {"name": "pm", "provider": "premiumize", "api_key": token,
                           "api_url": emu.api_url("premiumize"), "rate_limit": "off"}
    if extra_keys:
        raw["download_api_keys"] = [token, *extra_keys]
    provider = build_provider(parse_config({"debrids": [raw]}, "/tmp/c").debrids[0], clock or FakeClock())
    assert isinstance(provider, Premiumize)
    return provider


@pytest.fixture
def emu(server: Emulator) -> Emulator:
    w = frozen(server, TOKEN, "pm").world
    w.add_catalog(SHOW, "The Show S01", [
        {"path": "Season 1/The Show S01E02.mkv", "size": 2 * MIB + 5},
        {"path": "Season 1/The Show S01E01.mkv", "size": 3 * MIB},
        {"path": "Season 1/Subs/English.srt", "size": 12_345},
    ], cached=True, provider="pm")
    w.add_catalog(MOVIE, "Movie (2001).mkv", [{"path": "Movie (2001).mkv", "size": MIB + 7}], cached=True,
                  provider="pm")
    w.add_catalog(SLOW, "Slow Job", [{"path": "a.mkv", "size": 20 * MIB}, {"path": "b/c.mkv", "size": 10 * MIB}])
    return server


def pm_state(emu: Emulator) -> PmState:
    st = emu.world.states["pm"]
    assert isinstance(st, PmState)
    return st


def read(url: str, start: int, length: int) -> bytes:
    r = requests.get(url, headers={"Range": f"bytes={start}-{start + length - 1}"})
    assert r.status_code == 206, r.status_code
    return r.content


def test_account_list_and_cached_magnet_flow(emu: Emulator) -> None:
    pm = client(emu)
    account = pm.account()
    assert account.premium and account.extra["limit_used"] == "0.0"
    assert pm.list_torrents() == []
    tid = pm.add_magnet(f"magnet:?xt=urn:btih:{SHOW}&dn=The+Show")
    mark = emu.world.log_mark()
    t = pm.get_torrent(tid)
    # One list, then the transfer folder and its two sub-folders.
    assert emu.world.log_count("/api/", since=mark) == 4
    assert t.status == TorrentStatus.DOWNLOADED and t.infohash == SHOW and t.progress == 1
    assert [(f.id, f.path) for f in t.files] == [
        (0, "Season 1/Subs/English.srt"), (1, "Season 1/The Show S01E01.mkv"), (2, "Season 1/The Show S01E02.mkv")]
    assert t.size == 3 * MIB + 2 * MIB + 5 + 12_345
    listed = pm.list_torrents()
    assert [(x.id, x.status, x.files) for x in listed] == [(tid, TorrentStatus.DOWNLOADED, ())]
    e01 = t.files[1]
    link = pm.unrestrict(t, e01)
    assert link.size == 3 * MIB and link.filename == "The Show S01E01.mkv" and link.key == 0
    assert link.expires_at == FakeClock().monotonic() + 86400.0
    assert read(link.url, 1000, 4096) == file_bytes(f"{SHOW}/Season 1/The Show S01E01.mkv", 1000, 4096)
    assert pm.active_count().limit == 25
    pm.delete(tid)
    with pytest.raises(errors.NotFound):
        pm.get_torrent(tid)
    assert requests.get(link.url).status_code == 404   # the cloud folder went with it


def test_single_file_and_torrent_upload(emu: Emulator) -> None:
    pm = client(emu)
    b32 = base64.b32encode(bytes.fromhex(MOVIE)).decode()
    t = pm.get_torrent(pm.add_magnet(f"magnet:?xt=urn:btih:{b32}"))
    assert t.status == TorrentStatus.DOWNLOADED and [f.path for f in t.files] == ["Movie (2001).mkv"]
    assert t.infohash == MOVIE
    data = make_torrent_file("Upload", [("x.mkv", 4321), ("y.nfo", 12)], seed="pm")
    up = pm.get_torrent(pm.add_torrent_file(data))
    assert up.infohash and up.status == TorrentStatus.QUEUED   # uploaded, uncached
    emu.world.clock.advance(5)
    up = pm.get_torrent(up.id)
    assert up.status == TorrentStatus.DOWNLOADED and [f.path for f in up.files] == ["x.mkv", "y.nfo"]
    got = pm.unrestrict(up, up.files[0])
    assert read(got.url, 0, 4321) == file_bytes(f"{up.infohash}/x.mkv", 0, 4321)


def test_uncached_progress_then_done(emu: Emulator) -> None:
    pm = client(emu)
    tid = pm.add_magnet(f"magnet:?xt=urn:btih:{SLOW}")
    assert pm.get_torrent(tid).status == TorrentStatus.QUEUED
    assert pm.active_count().active == 1
    emu.world.clock.advance(2)
    running = pm.get_torrent(tid)
    assert running.status == TorrentStatus.DOWNLOADING and 0 < running.progress < 1 and not running.files
    emu.world.clock.advance(5)
    done = pm.get_torrent(tid)
    assert done.status == TorrentStatus.DOWNLOADED and [f.path for f in done.files] == ["a.mkv", "b/c.mkv"]
    assert pm.active_count().active == 0


def test_late_links_keep_it_downloading(emu: Emulator) -> None:
    emu.world.set_knobs(pm_links_late_seconds=20)
    pm = client(emu)
    tid = pm.add_magnet(f"magnet:?xt=urn:btih:{SHOW}")
    early = pm.get_torrent(tid)
    assert early.status == TorrentStatus.DOWNLOADING and early.status_detail == "finished"
    assert all(not f.link for f in early.files)
    with pytest.raises(errors.FileGone):
        pm.unrestrict(early, early.files[0])
    emu.world.clock.advance(21)
    assert pm.get_torrent(tid).status == TorrentStatus.DOWNLOADED


def test_errors_and_slots(emu: Emulator) -> None:
    with pytest.raises(errors.AuthError):
        client(emu, token="wrong").account()
    pm = client(emu)
    with pytest.raises(errors.BadRequest):
        pm.add_magnet("magnet:?dn=nohash")
    emu.world.set_knobs(pm_max_active=1)
    pm.add_magnet(f"magnet:?xt=urn:btih:{SLOW}")
    with pytest.raises(errors.SlotsFull):
        pm.add_magnet(f"magnet:?xt=urn:btih:{infohash('other')}")
    pm_state(emu).set_limit_used(TOKEN, 1.0)
    with pytest.raises(errors.QuotaExceeded):
        pm.add_magnet(f"magnet:?xt=urn:btih:{MOVIE}")
    emu.world.add_account("expired", provider="pm", premium_days=-1)
    with pytest.raises(errors.AuthError):
        client(emu, token="expired").add_magnet(f"magnet:?xt=urn:btih:{MOVIE}")
    with pytest.raises(errors.NotFound):
        pm.delete("nosuchtransfer")


def test_error_transfer_carries_the_message(emu: Emulator) -> None:
    emu.world.add_catalog(infohash("dead"), "Dead", [{"path": "d.mkv", "size": 5}], flags=["dead"])
    pm = client(emu)
    tid = pm.add_magnet(f"magnet:?xt=urn:btih:{infohash('dead')}")
    emu.world.clock.advance(2)
    t = pm.get_torrent(tid)
    assert t.status == TorrentStatus.ERROR and t.status_detail.startswith("timeout: ")


def test_usenet_upload_and_url(emu: Emulator) -> None:
    pm = client(emu)
    md5 = hashlib.md5(NZB).hexdigest()
    emu.world.set_cached([md5], provider="pm")
    job = pm.get_torrent(pm.add_nzb(NZB, "My Job"))
    assert job.name == "My Job" and job.infohash == "" and job.status == TorrentStatus.DOWNLOADED
    assert [(f.path, f.size) for f in job.files] == [("job.part1.mkv", 500_000), ("job.sfv", 99)]
    link = pm.unrestrict(job, job.files[0])
    assert read(link.url, 10, 100) == file_bytes(f"{md5}/job.part1.mkv", 10, 100)
    by_url = pm.add_nzb_url("https://idx.example/api/get/Url%20Job.nzb", "Url Job")
    emu.world.clock.advance(10)
    done = pm.get_torrent(by_url)
    assert done.status == TorrentStatus.DOWNLOADED and [f.path for f in done.files] == ["Url Job.mkv"]
    pm_state(emu).failing_nzbs.add(hashlib.md5(NZB + b" ").hexdigest())
    failing = pm.add_nzb(NZB + b" ", "Broken")
    emu.world.clock.advance(2)
    assert pm.get_torrent(failing).status_detail == "error: Missing articles"


def test_check_cached_batches(emu: Emulator) -> None:
    pm = client(emu)
    hashes = [SHOW.upper(), SLOW] + [infohash(f"n{i}") for i in range(150)]
    mark = emu.world.log_mark()
    found = pm.check_cached(hashes)
    assert emu.world.log_count("/api/cache/check", since=mark) == 2
    assert found[SHOW] and not found[SLOW] and len(found) == 152


def test_purge_gives_file_gone_and_dead(emu: Emulator) -> None:
    pm = client(emu)
    t = pm.get_torrent(pm.add_magnet(f"magnet:?xt=urn:btih:{SHOW}"))
    link = pm.unrestrict(t, t.files[1])
    assert emu.world.purge(item_id=t.id, file=1, provider="pm") == 1
    assert requests.get(link.url).status_code == 404
    with pytest.raises(errors.FileGone):
        pm.unrestrict(t, t.files[1])
    assert [f.path for f in pm.get_torrent(t.id).files] == ["Season 1/Subs/English.srt",
                                                            "Season 1/The Show S01E02.mkv"]
    single = pm.get_torrent(pm.add_magnet(f"magnet:?xt=urn:btih:{MOVIE}"))
    emu.world.purge(infohash=MOVIE, provider="pm")
    assert pm.get_torrent(single.id).status == TorrentStatus.DEAD


def test_expired_link_comes_back_fresh(emu: Emulator) -> None:
    pm = client(emu)
    t = pm.get_torrent(pm.add_magnet(f"magnet:?xt=urn:btih:{MOVIE}"))
    first = pm.unrestrict(t, t.files[0])
    emu.world.expire_links("pm", all=True)
    assert requests.get(first.url).status_code == 404
    mark = emu.world.log_mark()
    second = pm.unrestrict(t, t.files[0])
    assert emu.world.log_count("/api/", since=mark) == 1
    assert second.url != first.url and read(second.url, 0, 10) == file_bytes(f"{MOVIE}/Movie (2001).mkv", 0, 10)


@pytest.mark.parametrize("send_retry_after", [True, False])
def test_429_is_waited_out(emu: Emulator, send_retry_after: bool) -> None:
    clock = FakeClock()
    pm = client(emu, clock=clock)
    headers = {"Retry-After": "5"} if send_retry_after else {}
    emu.world.add_fault({"provider": "pm", "path_regex": "^/api/account/info", "times": 1, "status": 429,
                         "body": {"status": "error", "message": "Too many requests"}, "headers": headers})
    result: list[Any] = []
    thread = threading.Thread(target=lambda: result.append(pm.account()), daemon=True)
    thread.start()
    wait_until(lambda: pm.budget.stats()["paused_for"] > 0, what="the budget to pause")
    clock.advance(6)
    thread.join(10)
    assert result and result[0].premium
    assert pm.budget.stats()["rate_limited"] == 1


def test_outage_garbage_and_unknown_shapes(emu: Emulator) -> None:
    clock = FakeClock()
    pm = client(emu, clock=clock)
    emu.world.add_fault({"provider": "pm", "path_regex": "^/api/account/info", "times": 3, "status": 503, "body": ""})
    assert pm.account().premium and clock.slept == [0.5, 1.0, 2.0]
    emu.world.add_fault({"provider": "pm", "path_regex": "^/api/transfer/list", "times": 5, "status": 521,
                         "body": "<html>origin down</html>"})
    with pytest.raises(errors.Unavailable):
        pm.list_torrents()
    emu.world.add_fault({"provider": "pm", "path_regex": "^/api/transfer/list", "times": 5, "status": 200,
                         "body": "not json"})   # retried like an outage, then reported
    with pytest.raises(errors.Unavailable) as garbage:
        pm.list_torrents()
    assert garbage.value.code == "bad_json"
    for body in ([1, 2], {"status": "success", "transfers": "nope"}, {"status": "success", "transfers": [7]},
                 {"weird": True}):
        emu.world.add_fault({"provider": "pm", "path_regex": "^/api/transfer/list", "times": 1, "status": 200,
                             "body": body})
        with pytest.raises(errors.Unavailable) as shape:
            pm.list_torrents()
        assert shape.value.code == "bad_shape"
    emu.world.add_fault({"provider": "pm", "path_regex": "^/api/cache/check", "times": 1, "status": 200,
                         "body": {"status": "success", "response": [True]}})
    with pytest.raises(errors.Unavailable):
        pm.check_cached([SHOW, SLOW])


def test_download_keys(emu: Emulator) -> None:
    """PM items belong to one account: a second key cannot see them, so it is never FileGone."""
    emu.world.add_account(SECOND, provider="pm")
    pm = client(emu, extra_keys=[SECOND])
    t = pm.get_torrent(pm.add_magnet(f"magnet:?xt=urn:btih:{MOVIE}"))
    assert pm.unrestrict(t, t.files[0]).key == 0
    emu.world.set_traffic(TOKEN, used=1, limit=1)
    with pytest.raises(errors.QuotaExceeded) as exhausted:
        pm.unrestrict(t, t.files[0])
    assert exhausted.value.code == "keys_exhausted"
    assert [k["usable"] for k in pm.keys.status()] == [False, False]


def test_a_detail_pass_after_a_listing_lists_transfers_once(emu: Emulator) -> None:
    """PM has no single-transfer call: a fresh listing answers finished transfers' lookups."""
    entries = [{"hash": infohash(f"pm-many-{i}"), "name": f"Many {i}", "files": [{"path": f"m{i}.mkv", "size": 100}]}
               for i in range(30)]
    emu.world.seed_library(TOKEN, entries)
    pm = client(emu)
    mark = emu.world.log_mark()
    listed = pm.list_torrents()
    details = [pm.get_torrent(t.id) for t in listed]
    assert all(t.status == TorrentStatus.DOWNLOADED and t.files for t in details)
    assert emu.world.log_count("/api/transfer/list", since=mark) == 1       # not 31


def test_item_details_without_status_is_the_item_and_status_error_still_fails(emu: Emulator) -> None:
    """providers.md §6.2: item/details answers the bare item object (issue 15, item 2). Every
    read of the account's files goes through it, so demanding ``status`` made them all 502."""
    emu.world.set_knobs(pm_bare_success=True)
    pm = client(emu)
    movie = pm.get_torrent(pm.add_magnet(f"magnet:?xt=urn:btih:{MOVIE}"))   # a single file: item/details
    assert movie.status == TorrentStatus.DOWNLOADED and [f.path for f in movie.files] == ["Movie (2001).mkv"]
    link = pm.unrestrict(movie, movie.files[0])
    assert read(link.url, 100, 1000) == file_bytes(f"{MOVIE}/Movie (2001).mkv", 100, 1000)
    item_id = link.download_id
    # The auth error last: it disables the account (providers/health.py), so no call follows it.
    for body, cls, code in (({"status": "error", "message": "Unknown item"}, errors.FileGone, "Unknown item"),
                            ({}, errors.Unavailable, "bad_shape"),
                            ({"id": "someone-else", "link": link.url}, errors.Unavailable, "bad_shape"),
                            ({"status": "maybe", "id": item_id}, errors.Unavailable, "bad_shape"),
                            ({"status": "error", "message": "Not logged in."}, errors.AuthError, "Not logged in.")):
        if cls is errors.AuthError:
            assert pm.unrestrict(movie, movie.files[0]).url == link.url   # the faults are spent: bare again
        emu.world.add_fault({"provider": "pm", "path_regex": "^/api/item/details", "times": 1, "status": 200,
                             "body": body})
        with pytest.raises(cls) as caught:
            pm.unrestrict(movie, movie.files[0])
        assert caught.value.code == code, body
