"""The real TorBox client against the emulator over HTTP: listing, adds, usenet, links, errors."""

from __future__ import annotations

import hashlib
import threading
from typing import Any

import pytest
import requests

from emulators.content import file_bytes
from emulators.server import Emulator
from emulators.tb_state import TbState
from gateway import errors
from gateway.config import parse_config
from gateway.imports.torrentmeta import make_torrent_file
from gateway.models import TorrentStatus
from gateway.providers import build_provider
from gateway.providers.torbox import TorBox
from tests.support import SAMPLE, FakeClock, frozen, infohash, wait_until

TOKEN = "tb-token"
MIB = 1024 * 1024


def client(emu: Emulator, token: str = TOKEN, clock: FakeClock | None = None, **extra: Any) -> TorBox:
    cfg = parse_config({"debrids": [{"name": "x", "provider": "torbox", "api_key": token,
                                     "api_url": emu.api_url("torbox"), "rate_limit": "off", **extra}]}, "/tmp/c")
    tb = build_provider(cfg.debrids[0], clock or FakeClock())
    assert isinstance(tb, TorBox)
    return tb


@pytest.fixture
def emu(server: Emulator) -> Emulator:
    frozen(server, TOKEN, "tb")
    return server


def nzb(*files: tuple[str, int]) -> bytes:
    body = "".join(f'<file subject="&quot;{n}&quot; yEnc (1/1)"><segments><segment bytes="{b}" number="1">'
                   f"{n}@x</segment></segments></file>" for n, b in files)
    return f'<?xml version="1.0"?><nzb xmlns="http://www.newzbin.com/DTD/2003/nzb">{body}</nzb>'.encode()


def read(url: str, start: int, end: int) -> bytes:
    r = requests.get(url, headers={"Range": f"bytes={start}-{end}"})
    assert r.status_code == 206, r.status_code
    return r.content


# ------------------------------------------------------------------ listing and details


def test_list_strips_the_root_and_pages(emu: Emulator) -> None:
    tb = client(emu)
    assert tb.list_torrents() == []
    emu.world.seed_library(TOKEN, SAMPLE)
    listed = {t.name: t for t in tb.list_torrents()}
    show = listed["The Show S01 1080p"]
    assert show.status == TorrentStatus.DOWNLOADED and show.infohash == SAMPLE[0]["hash"]
    assert [f.path for f in show.files] == ["Season 1/The Show S01E01.mkv", "Season 1/The Show S01E02.mkv",
                                            "Season 1/Subs/English.srt"]
    assert [f.id for f in show.files] == [0, 1, 2] and show.size == 5_512_468
    assert [f.path for f in listed["Tiny Movie 2020"].files] == ["Tiny Movie 2020.mkv"]
    assert tb.get_torrent(show.id) == show
    emu.world.seed_library(TOKEN, [{"hash": infohash(str(i)), "name": f"T{i}", "files": [{"path": "f.mkv", "size": 1}]}
                                   for i in range(1200)])
    mark = emu.world.log_mark()
    assert len(tb.list_torrents()) == 1204
    assert emu.world.log_count("/v1/api/torrents/mylist", since=mark) == 2   # pages of 1000
    recent, total = tb.list_recent(3)
    assert len(recent) == 3 and total is None


def test_account_and_active_count(emu: Emulator) -> None:
    emu.world.add_account("big", provider="tb", slots_limit=12)
    tb = client(emu, "big")
    assert tb.account().premium
    assert tb.active_count().limit == 12   # pro 10 + 2 additional
    emu.world.add_catalog(infohash("slow"), "Slow", [{"path": "a.mkv", "size": 100 * MIB}])
    tb.add_magnet(f"magnet:?xt=urn:btih:{infohash('slow')}")
    assert tb.active_count().active == 1


# ------------------------------------------------------------------ adds


def test_cached_magnet_is_downloaded_at_once(emu: Emulator) -> None:
    h = infohash("cached")
    emu.world.add_catalog(h, "Cached Movie", [{"path": "movie.mkv", "size": 1000}, {"path": "x/info.nfo", "size": 10}],
                          cached=True, provider="tb")
    tb = client(emu)
    tid = tb.add_magnet(f"magnet:?xt=urn:btih:{h.upper()}&dn=Cached")
    t = tb.get_torrent(tid)
    assert t.status == TorrentStatus.DOWNLOADED and t.progress == 1.0 and t.status_detail == "cached"
    assert [f.path for f in t.files] == ["movie.mkv", "x/info.nfo"]
    assert tb.add_magnet(f"magnet:?xt=urn:btih:{h}") == tid        # DUPLICATE_ITEM → the existing id
    emu.world.set_knobs(tb_duplicate_behaviour="existing")
    assert tb.add_magnet(f"magnet:?xt=urn:btih:{h}") == tid


def test_torrent_file_uncached_progress(emu: Emulator) -> None:
    tb = client(emu)
    data = make_torrent_file("Uncached Pack", [("a.mkv", 30 * MIB), ("b.mkv", 10 * MIB)])
    tid = tb.add_torrent_file(data)
    assert tb.get_torrent(tid).status == TorrentStatus.METADATA
    emu.world.clock.advance(6)
    t = tb.get_torrent(tid)
    assert t.status == TorrentStatus.DOWNLOADING and 0 < t.progress < 1 and t.speed > 0
    assert [f.path for f in t.files] == ["a.mkv", "b.mkv"]
    emu.world.clock.advance(4)
    assert tb.get_torrent(tid).status == TorrentStatus.DOWNLOADING   # "completed" is not finished
    emu.world.clock.advance(2)
    done = tb.get_torrent(tid)
    assert done.status == TorrentStatus.DOWNLOADED and done.status_detail == "uploading"
    assert tb.add_torrent_file(data) == tid   # duplicate by the .torrent's own infohash
    with pytest.raises(errors.BadRequest) as bad:
        tb.add_torrent_file(b"not a torrent")
    assert bad.value.code == "BOZO_TORRENT"


def test_add_errors_map(emu: Emulator) -> None:
    tb = client(emu)
    h = infohash("banned")
    emu.world.add_catalog(h, "Banned", [{"path": "a.mkv", "size": 5}], flags=["infringing"])
    with pytest.raises(errors.Blocked):
        tb.add_magnet(f"magnet:?xt=urn:btih:{h}")
    emu.world.add_account("one", provider="tb", slots_limit=1)
    small = client(emu, "one")
    for label in ("s1", "s2"):
        emu.world.add_catalog(infohash(label), label, [{"path": "a.mkv", "size": 100 * MIB}])
    small.add_magnet(f"magnet:?xt=urn:btih:{infohash('s1')}")
    with pytest.raises(errors.SlotsFull) as full:
        small.add_magnet(f"magnet:?xt=urn:btih:{infohash('s2')}")
    assert full.value.code == "ACTIVE_LIMIT"
    emu.world.add_fault({"provider": "tb", "path_regex": "createtorrent", "times": 1, "status": 409,
                         "body": {"success": False, "error": "DOWNLOAD_NOT_CACHED", "detail": "no", "data": None}})
    with pytest.raises(errors.BadRequest) as miss:
        tb.add_magnet(f"magnet:?xt=urn:btih:{infohash('s2')}")
    assert miss.value.code == "not_cached"
    emu.world.add_fault({"provider": "tb", "path_regex": "createtorrent", "times": 1, "status": 200,
                         "body": {"success": False, "error": "MONTHLY_LIMIT", "detail": "used up", "data": None}})
    with pytest.raises(errors.QuotaExceeded):   # a failure inside HTTP 200 is still a failure
        tb.add_magnet(f"magnet:?xt=urn:btih:{infohash('s2')}")


def test_create_calls_use_the_create_scope(emu: Emulator) -> None:
    tb = client(emu)
    emu.world.add_catalog(infohash("c"), "C", [{"path": "a.mkv", "size": 5}], cached=True, provider="tb")
    calls: list[str] = []
    real = tb._http.budget.call

    def spy(scope: str = "") -> Any:
        calls.append(scope)
        return real(scope)

    tb._http.budget.call = spy
    tb.add_magnet(f"magnet:?xt=urn:btih:{infohash('c')}")
    tb.add_nzb(nzb(("a.mkv", 5)), "A")
    tb.account()
    assert calls == ["create", "create", ""]


# ------------------------------------------------------------------ links


def cached_show(emu: Emulator, tb: TorBox) -> Any:
    h = infohash("show-links")
    emu.world.add_catalog(h, "Show", [{"path": "S1/E01.mkv", "size": 3 * MIB + 5}, {"path": "S1/E02.mkv", "size": 999}],
                          cached=True, provider="tb")
    return h, tb.get_torrent(tb.add_magnet(f"magnet:?xt=urn:btih:{h}"))


def test_unrestrict_reads_byte_for_byte(emu: Emulator) -> None:
    clock = FakeClock()
    tb = client(emu, clock=clock)
    h, t = cached_show(emu, tb)
    link = tb.unrestrict(t, t.files[0])
    assert link.size == 3 * MIB + 5 and link.filename == "E01.mkv" and link.key == 0
    assert link.expires_at == clock.monotonic() + 86400.0
    seed = f"{h}/S1/E01.mkv"
    assert read(link.url, 0, 99) == file_bytes(seed, 0, 100)
    assert read(link.url, 3 * MIB, 3 * MIB + 4) == file_bytes(seed, 3 * MIB, 5)
    [entry] = [e for e in emu.world.log(path_prefix="/v1/api/torrents/requestdl")]
    assert f"token={TOKEN}" in entry["query"] and "redirect" not in entry["query"]   # JSON answer, no 302


def test_one_requestdl_serves_for_hours(emu: Emulator) -> None:
    tb = client(emu)
    h, t = cached_show(emu, tb)
    mark = emu.world.log_mark()
    link = tb.unrestrict(t, t.files[0])
    seed = f"{h}/S1/E01.mkv"
    for i in range(8):   # every 15 virtual minutes for 2 hours, well past nothing but the first open
        start = i * 100_000
        assert read(link.url, start, start + 999) == file_bytes(seed, start, 1000)
        emu.world.clock.advance(900)
    assert read(link.url, 0, 9) == file_bytes(seed, 0, 10)   # and past the 3 h open window too
    emu.world.clock.advance(3 * 3600)
    assert read(link.url, 10, 19) == file_bytes(seed, 10, 10)
    assert emu.world.log_count("/v1/api/torrents/requestdl", since=mark) == 1


def test_expired_link_gets_a_fresh_url(emu: Emulator) -> None:
    tb = client(emu)
    h, t = cached_show(emu, tb)
    old = tb.unrestrict(t, t.files[1])
    emu.world.expire_links("tb", all=True)
    assert requests.get(old.url).status_code == 403
    new = tb.unrestrict(t, t.files[1])
    assert new.url != old.url and read(new.url, 0, 9) == file_bytes(f"{h}/S1/E02.mkv", 0, 10)
    # never opened within the 3 h window: refused, and a re-unrestrict works again
    idle = tb.unrestrict(t, t.files[1])
    emu.world.clock.advance(3 * 3600 + 1)
    assert requests.get(idle.url).status_code == 403
    assert read(tb.unrestrict(t, t.files[1]).url, 0, 0) == file_bytes(f"{h}/S1/E02.mkv", 0, 1)


def test_purge_is_file_gone(emu: Emulator) -> None:
    tb = client(emu)
    h, t = cached_show(emu, tb)
    link = tb.unrestrict(t, t.files[0])
    emu.world.purge(infohash=h, provider="tb")
    assert requests.get(link.url).status_code == 404
    with pytest.raises(errors.FileGone):
        tb.unrestrict(t, t.files[0])      # the stale (downloaded) record: ITEM_NOT_FOUND → FileGone
    gone = tb.get_torrent(t.id)
    assert gone.status == TorrentStatus.DEAD and gone.status_detail == "not present"
    mark = emu.world.log_mark()
    with pytest.raises(errors.FileGone):
        tb.unrestrict(gone, gone.files[0])
    assert emu.world.log_count("/v1/api", since=mark) == 0


def test_traffic_exhausted_is_quota(emu: Emulator) -> None:
    tb = client(emu)
    _, t = cached_show(emu, tb)
    emu.world.set_traffic(TOKEN, used=1, limit=1)
    with pytest.raises(errors.QuotaExceeded):
        tb.unrestrict(t, t.files[0])


def test_download_keys_are_not_rotated(emu: Emulator) -> None:
    """TorBox items belong to the adding account; another key would get ITEM_NOT_FOUND."""
    emu.world.add_account("second", provider="tb")
    tb = client(emu, download_api_keys=["second"])
    assert len(tb.keys) == 1
    h, t = cached_show(emu, tb)
    link = tb.unrestrict(t, t.files[0])
    assert link.key == 0 and read(link.url, 0, 9) == file_bytes(f"{h}/S1/E01.mkv", 0, 10)


def test_delete_torrent_and_usenet(emu: Emulator) -> None:
    tb = client(emu)
    _, t = cached_show(emu, tb)
    tb.delete(t.id)
    with pytest.raises(errors.NotFound):
        tb.get_torrent(t.id)
    with pytest.raises(errors.NotFound):
        tb.delete(t.id)
    uid = tb.add_nzb(nzb(("a.mkv", 10)), "A")
    tb.delete(uid)
    with pytest.raises(errors.NotFound):
        tb.get_torrent(uid)
    with pytest.raises(errors.NotFound):
        tb.get_torrent("garbage")


# ------------------------------------------------------------------ usenet


def test_usenet_jobs(emu: Emulator) -> None:
    tb = client(emu)
    data = nzb(("Movie.2020.mkv", 2 * MIB), ("Movie.2020.nfo", 50))
    md5 = hashlib.md5(data).hexdigest()
    uid = tb.add_nzb(data, "Movie 2020")
    assert uid.startswith("usenet-")
    job = tb.get_torrent(uid)
    assert job.status == TorrentStatus.QUEUED and job.infohash == md5
    emu.world.clock.advance(1.1)
    assert tb.get_torrent(uid).status == TorrentStatus.DOWNLOADING    # downloading / verifying ...
    emu.world.clock.advance(5)
    job = tb.get_torrent(uid)
    assert job.status == TorrentStatus.DOWNLOADED
    assert [(f.id, f.path) for f in job.files] == [(0, "Movie.2020.mkv"), (1, "Movie.2020.nfo")]
    link = tb.unrestrict(job, job.files[0])
    assert read(link.url, 5, 14) == file_bytes(f"{md5}/Movie.2020.mkv", 5, 10)
    assert uid in {t.id for t in tb.list_torrents()}
    # a link: TorBox fetches it (the emulator reads it from nzb_links)
    state = emu.world.states["tb"]
    assert isinstance(state, TbState)
    state.nzb_links["https://idx.example/1.nzb"] = nzb(("Ep.mkv", 100))
    other = tb.add_nzb_url("https://idx.example/1.nzb", "Ep")
    assert tb.get_torrent(other).infohash == hashlib.md5(b"https://idx.example/1.nzb").hexdigest()
    # missing articles → error
    bad = nzb(("Broken.mkv", 100), ("Broken.par2", 10))
    state.failing_nzbs.add(hashlib.md5(bad).hexdigest())
    failing = tb.add_nzb(bad, "Broken")
    emu.world.clock.advance(10)
    failed = tb.get_torrent(failing)
    assert failed.status == TorrentStatus.ERROR and failed.status_detail == "missing"
    with pytest.raises(errors.BadRequest) as bozo:
        tb.add_nzb(b"<nzb/>", "x")
    assert bozo.value.code == "BOZO_NZB"


# ------------------------------------------------------------------ cache check


def test_check_cached_batches_and_shapes(emu: Emulator) -> None:
    tb = client(emu)
    hashes = [infohash(f"h{i}") for i in range(150)]
    emu.world.set_cached(hashes[:3] + hashes[120:121], provider="tb")
    mark = emu.world.log_mark()
    result = tb.check_cached(hashes)
    assert emu.world.log_count("/v1/api/torrents/checkcached", since=mark) == 2
    assert {h for h, ok in result.items() if ok} == set(hashes[:3] + hashes[120:121]) and len(result) == 150
    assert tb.check_cached([infohash("none")]) == {infohash("none"): False}   # data: null
    emu.world.add_fault({"provider": "tb", "path_regex": "checkcached", "times": 1, "status": 200,
                         "body": {"success": True, "error": None, "detail": "",
                                  "data": [{"hash": hashes[5].upper(), "name": "x", "size": 1}]}})
    assert tb.check_cached(hashes[4:6]) == {hashes[4]: False, hashes[5]: True}   # a list, not an object


# ------------------------------------------------------------------ transport errors


def test_bad_token_is_auth_error(emu: Emulator) -> None:
    with pytest.raises(errors.AuthError) as exc:
        client(emu, "wrong").account()
    assert exc.value.code == "BAD_TOKEN"


@pytest.mark.parametrize("send_retry_after", [True, False])
def test_429_pauses_then_retries(emu: Emulator, send_retry_after: bool) -> None:
    headers = {"Retry-After": "7"} if send_retry_after else {}
    emu.world.add_fault({"provider": "tb", "path_regex": "/user/me", "times": 1, "status": 429, "headers": headers,
                         "provider_error": {"code": "TOO_MANY_REQUESTS"}})
    clock = FakeClock()
    tb = client(emu, clock=clock)
    mark = emu.world.log_mark()
    result: list[Any] = []
    caller = threading.Thread(target=lambda: result.append(tb.account()), daemon=True)
    caller.start()
    wait_until(lambda: tb.budget.stats()["paused_for"] > 0, what="the account to pause")
    paused = tb.budget.stats()["paused_for"]
    assert paused == pytest.approx(7.0 if send_retry_after else 1.0, abs=0.01)   # Retry-After, else backoff
    clock.advance(paused + 0.1)
    caller.join(5)
    assert result and result[0].premium
    assert [e["status"] for e in emu.world.log(since=mark)] == [429, 200]


def test_outage_is_retried_then_given_up(emu: Emulator) -> None:
    clock = FakeClock()
    tb = client(emu, clock=clock)
    emu.world.add_fault({"provider": "tb", "path_regex": "/user/me", "times": 3, "status": 503, "body": ""})
    assert tb.account().premium and clock.slept == [0.5, 1.0, 2.0]
    emu.world.add_fault({"provider": "tb", "path_regex": "/user/me", "times": 20, "status": 503,
                         "provider_error": {"code": "DATABASE_ERROR"}})
    with pytest.raises(errors.Unavailable) as exc:
        tb.account()
    assert exc.value.code == "DATABASE_ERROR"


def test_garbage_and_unknown_shapes(emu: Emulator) -> None:
    tb = client(emu)
    emu.world.add_fault({"provider": "tb", "path_regex": "/user/me", "times": 5, "status": 200, "body": "not json"})
    with pytest.raises(errors.Unavailable) as garbage:
        tb.account()
    assert garbage.value.code == "bad_json"
    shapes: list[Any] = [[1, 2], {"success": True, "data": {"no": "list"}}, {"success": True, "data": [{"x": 1}]}]
    for body in shapes:
        emu.world.add_fault({"provider": "tb", "path_regex": "/torrents/mylist", "times": 1, "status": 200,
                             "body": body})
        with pytest.raises(errors.Unavailable) as shape:
            tb.list_torrents()
        assert shape.value.code == "bad_shape"
    emu.world.add_fault({"provider": "tb", "path_regex": "/torrents/requestdl", "times": 1, "status": 200,
                         "body": {"success": True, "data": {"url": "x"}}})
    _, t = cached_show(emu, tb)
    with pytest.raises(errors.Unavailable):
        tb.unrestrict(t, t.files[0])
