"""Real-HTTP tests of the TorBox emulator (``/v1/api``): envelope, state machines, links, usenet."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest
import requests

from emulators import Emulator, file_bytes
from emulators.tb_state import TbState
from emulators.world import World
from gateway.imports.torrentmeta import make_torrent_file
from tests.support import frozen

TOKEN = "tb-main"
OTHER = "tb-other"
HASH_A = "a" * 40
HASH_B = "b" * 40
MIB = 1024 * 1024


def nzb(*files: tuple[str, list[int]], title: str | None = None) -> bytes:
    meta = f'<head><meta type="name">{title}</meta></head>' if title else ""
    body = "".join(
        f'<file poster="p" date="1" subject="[{i}/{len(files)}] - &quot;{name}&quot; yEnc (1/{len(segs)})">'
        "<groups><group>alt.binaries.test</group></groups><segments>"
        + "".join(f'<segment bytes="{b}" number="{n}">id{i}-{n}@x</segment>' for n, b in enumerate(segs, 1))
        + "</segments></file>"
        for i, (name, segs) in enumerate(files, 1))
    return (f'<?xml version="1.0" encoding="utf-8"?><nzb xmlns="http://www.newzbin.com/DTD/2003/nzb">'
            f"{meta}{body}</nzb>").encode()


@pytest.fixture
def emu(server: Emulator) -> Emulator:
    frozen(server, TOKEN, "tb")
    server.world.add_account(OTHER, provider="tb")
    return server


@pytest.fixture
def world(emu: Emulator) -> World:
    return emu.world


@pytest.fixture
def tb(emu: Emulator) -> requests.Session:
    s = requests.Session()
    s.headers["Authorization"] = f"Bearer {TOKEN}"
    return s


def url(emu: Emulator, path: str) -> str:
    return emu.api_url("torbox") + path


def state(world: World) -> TbState:
    st = world.states["tb"]
    assert isinstance(st, TbState)
    return st


def add_show(world: World, h: str = HASH_A, cached: bool = True, flags: tuple[str, ...] = ()) -> None:
    world.add_catalog(h, "Show S01", [{"path": "Season 1/E01.mkv", "size": 3 * MIB + 17},
                                      {"path": "Season 1/E02.mkv", "size": 2 * MIB}],
                      flags=flags, cached=cached, provider="tb")


def create(tb: requests.Session, emu: Emulator, h: str = HASH_A, **fields: Any) -> requests.Response:
    return tb.post(url(emu, "/torrents/createtorrent"), data={"magnet": f"magnet:?xt=urn:btih:{h}", **fields})


def item(tb: requests.Session, emu: Emulator, tid: int, kind: str = "torrents") -> dict[str, Any]:
    r = tb.get(url(emu, f"/{kind}/mylist"), params={"id": tid})
    assert r.status_code == 200, r.text
    data = r.json()["data"]
    assert isinstance(data, dict)   # id= answers ONE object
    return data


def envelope_error(r: requests.Response, status: int, code: str) -> None:
    assert r.status_code == status, r.text
    body = r.json()
    assert body["success"] is False and body["error"] == code and body["data"] is None and body["detail"]


# ------------------------------------------------------------------ auth and account


def test_auth_errors(emu: Emulator) -> None:
    envelope_error(requests.get(url(emu, "/user/me")), 403, "NO_AUTH")
    envelope_error(requests.get(url(emu, "/user/me"), headers={"Authorization": "Bearer nope"}), 403, "BAD_TOKEN")
    emu.world.add_account("rd-token")   # an RD account is not a TorBox key
    envelope_error(requests.get(url(emu, "/user/me"), headers={"Authorization": "Bearer rd-token"}), 403, "BAD_TOKEN")
    emu.world.add_account("lapsed", provider="tb", premium_days=-1)
    lapsed = requests.post(url(emu, "/torrents/createtorrent"), headers={"Authorization": "Bearer lapsed"},
                           data={"magnet": f"magnet:?xt=urn:btih:{HASH_A}"})
    envelope_error(lapsed, 400, "PLAN_RESTRICTED_FEATURE")
    emu.world.revoke(TOKEN)
    envelope_error(requests.get(url(emu, "/user/me"), headers={"Authorization": f"Bearer {TOKEN}"}), 403, "BAD_TOKEN")


def test_user_me_plan_and_slots(emu: Emulator, tb: requests.Session) -> None:
    me = tb.get(url(emu, "/user/me"), params={"settings": "true"}).json()
    assert me["success"] is True and me["error"] is None
    data = me["data"]
    assert data["plan"] == 3 and data["additional_concurrent_slots"] == 0 and data["is_subscribed"] is True
    assert "settings" in data and data["auth_id"]
    emu.world.add_account("big", provider="tb", slots_limit=12)
    big = requests.get(url(emu, "/user/me"), headers={"Authorization": "Bearer big"}).json()["data"]
    assert (big["plan"], big["additional_concurrent_slots"]) == (2, 2)


def test_unknown_endpoint_in_envelope(emu: Emulator, tb: requests.Session) -> None:
    envelope_error(tb.get(url(emu, "/torrents/nosuch")), 404, "ENDPOINT_NOT_FOUND")


# ------------------------------------------------------------------ torrents


def test_cached_magnet_is_finished_at_once(emu: Emulator, tb: requests.Session) -> None:
    add_show(emu.world)
    r = create(tb, emu)
    body = r.json()
    assert r.status_code == 200 and body["success"] is True
    tid = body["data"]["torrent_id"]
    assert body["data"]["hash"] == HASH_A and body["data"]["auth_id"]
    t = item(tb, emu, tid)
    assert t["download_state"] == "cached" and t["download_finished"] and t["download_present"]
    assert t["progress"] == 1 and t["size"] == 5 * MIB + 17
    assert [f["id"] for f in t["files"]] == [0, 1]
    assert t["files"][0]["name"] == "Show S01/Season 1/E01.mkv" and t["files"][0]["short_name"] == "E01.mkv"
    assert t["files"][0]["mimetype"].startswith("video/")


def test_single_file_torrent_name_is_the_file(emu: Emulator, tb: requests.Session) -> None:
    emu.world.add_catalog(HASH_B, "Movie.mkv", [{"path": "Movie.mkv", "size": 10}], cached=True, provider="tb")
    tid = create(tb, emu, HASH_B).json()["data"]["torrent_id"]
    assert [f["name"] for f in item(tb, emu, tid)["files"]] == ["Movie.mkv"]


def test_uncached_progresses_on_the_clock(emu: Emulator, tb: requests.Session) -> None:
    add_show(emu.world, cached=False)
    # multipart form (the documented encoding) works like urlencoded
    r = tb.post(url(emu, "/torrents/createtorrent"), files={"magnet": (None, f"magnet:?xt=urn:btih:{HASH_A}")})
    tid = r.json()["data"]["torrent_id"]
    t = item(tb, emu, tid)
    assert t["download_state"] == "metaDL" and t["files"] == [] and not t["download_finished"]
    emu.world.clock.advance(5.1)
    t = item(tb, emu, tid)
    assert t["download_state"] == "downloading" and 0 <= t["progress"] < 1 and t["download_speed"] > 0
    assert len(t["files"]) == 2 and t["seeds"] > 0
    emu.world.clock.advance(1)
    t = item(tb, emu, tid)
    assert t["download_state"] == "completed" and not t["download_finished"]   # "completed" is not done
    emu.world.clock.advance(2)
    t = item(tb, emu, tid)
    assert t["download_state"] == "uploading" and t["download_finished"] and t["download_present"]
    assert emu.world.is_cached(HASH_A, "tb")


def test_unknown_hash_stays_in_metadl(emu: Emulator, tb: requests.Session) -> None:
    tid = create(tb, emu, "c" * 40).json()["data"]["torrent_id"]
    emu.world.clock.advance(86400)
    assert item(tb, emu, tid)["download_state"] == "metaDL"


def test_torrent_file_upload_and_bad_input(emu: Emulator, tb: requests.Session) -> None:
    data = make_torrent_file("Pack", [("a.mkv", 1000), ("sub/b.srt", 10)])
    r = tb.post(url(emu, "/torrents/createtorrent"), files={"file": ("x.torrent", data)})
    tid = r.json()["data"]["torrent_id"]
    emu.world.clock.advance(10)
    t = item(tb, emu, tid)
    assert t["torrent_file"] is True and [f["name"] for f in t["files"]] == ["Pack/a.mkv", "Pack/sub/b.srt"]
    envelope_error(tb.post(url(emu, "/torrents/createtorrent"), files={"file": ("x.torrent", b"junk")}),
                   400, "BOZO_TORRENT")
    envelope_error(create(tb, emu, "zz"), 400, "BOZO_TORRENT")
    envelope_error(tb.post(url(emu, "/torrents/createtorrent"), data={}), 400, "MISSING_REQUIRED_OPTION")


def test_add_only_if_cached_knob(emu: Emulator, tb: requests.Session) -> None:
    add_show(emu.world, cached=False)
    envelope_error(create(tb, emu, add_only_if_cached="true"), 409, "DOWNLOAD_NOT_CACHED")
    emu.world.set_knobs(tb_uncached_only_if_cached=200)
    envelope_error(create(tb, emu, add_only_if_cached="true"), 200, "DOWNLOAD_NOT_CACHED")
    assert tb.get(url(emu, "/torrents/mylist")).json()["data"] == []


def test_duplicate_knob(emu: Emulator, tb: requests.Session) -> None:
    add_show(emu.world)
    first = create(tb, emu).json()["data"]["torrent_id"]
    envelope_error(create(tb, emu), 400, "DUPLICATE_ITEM")
    emu.world.set_knobs(tb_duplicate_behaviour="existing")
    assert create(tb, emu).json()["data"]["torrent_id"] == first


def test_slots_and_as_queued(emu: Emulator, tb: requests.Session) -> None:
    emu.world.add_account("small", provider="tb", slots_limit=1)
    s = requests.Session()
    s.headers["Authorization"] = "Bearer small"
    add_show(emu.world, HASH_A, cached=False)
    add_show(emu.world, HASH_B, cached=False)
    assert create(s, emu, HASH_A).json()["success"]
    envelope_error(create(s, emu, HASH_B), 400, "ACTIVE_LIMIT")
    queued = create(s, emu, HASH_B, as_queued="true").json()["data"]
    assert "queued_id" in queued and "torrent_id" not in queued
    assert s.get(url(emu, "/queued/getqueued")).json()["data"][0]["hash"] == HASH_B


def test_list_newest_first_with_paging(emu: Emulator, tb: requests.Session) -> None:
    for i in range(5):
        h = f"{i:040x}"
        emu.world.add_catalog(h, f"T{i}", [{"path": "f.mkv", "size": 5}], cached=True, provider="tb")
        create(tb, emu, h)
        emu.world.clock.advance(1)
    names = [t["name"] for t in tb.get(url(emu, "/torrents/mylist"), params={"bypass_cache": "true"}).json()["data"]]
    assert names == ["T4", "T3", "T2", "T1", "T0"]
    page = tb.get(url(emu, "/torrents/mylist"), params={"offset": 1, "limit": 2}).json()["data"]
    assert [t["name"] for t in page] == ["T3", "T2"]
    envelope_error(tb.get(url(emu, "/torrents/mylist"), params={"id": 999}), 404, "ITEM_NOT_FOUND")


def test_control_delete_both_forms(emu: Emulator, tb: requests.Session) -> None:
    add_show(emu.world)
    tid = create(tb, emu).json()["data"]["torrent_id"]
    envelope_error(tb.post(url(emu, "/torrents/controltorrent"), json={"torrent_id": tid, "operation": "explode"}),
                   400, "INVALID_OPTION")
    assert tb.post(url(emu, "/torrents/controltorrent"), json={"torrent_id": tid, "operation": "pause"}).json()["success"]
    r = tb.post(url(emu, "/torrents/controltorrent"), json={"torrent_id": tid, "operation": "delete"})
    assert r.json()["success"] is True
    envelope_error(tb.post(url(emu, "/torrents/controltorrent"), json={"torrent_id": tid, "operation": "delete"}),
                   404, "ITEM_NOT_FOUND")
    tid = create(tb, emu).json()["data"]["torrent_id"]
    r = tb.delete(url(emu, f"/torrents/controltorrent/{tid}"), json={"torrent_id": tid, "action": "Delete"})
    assert r.json()["success"] is True and tb.get(url(emu, "/torrents/mylist")).json()["data"] == []


def test_infringing_is_banned(emu: Emulator, tb: requests.Session) -> None:
    add_show(emu.world, flags=("infringing",))
    envelope_error(create(tb, emu), 400, "BANNED_CONTENT_DETECTED")


# ------------------------------------------------------------------ requestdl and the CDN


def test_requestdl_mints_a_fresh_url_each_call(emu: Emulator, tb: requests.Session) -> None:
    add_show(emu.world)
    tid = create(tb, emu).json()["data"]["torrent_id"]
    params = {"torrent_id": tid, "file_id": 0}
    first = tb.get(url(emu, "/torrents/requestdl"), params=params).json()["data"]
    second = tb.get(url(emu, "/torrents/requestdl"), params=params).json()["data"]
    assert first != second and first.startswith(emu.origin + "/cdn/tb/")
    r = requests.get(first, headers={"Range": "bytes=10-19"})
    assert r.status_code == 206 and r.content == file_bytes(f"{HASH_A}/Season 1/E01.mkv", 10, 10)
    # the permalink form: token= in the query, redirect=true → 302 to yet another URL; HEAD alike
    perm = {**params, "token": TOKEN, "redirect": "true"}
    r = requests.get(url(emu, "/torrents/requestdl"), params=perm, allow_redirects=False)
    assert r.status_code == 302 and r.headers["Location"] not in (first, second)
    assert requests.head(url(emu, "/torrents/requestdl"), params=perm, allow_redirects=False).status_code == 302
    assert requests.get(url(emu, "/torrents/requestdl"), params=perm).content[:4] == file_bytes(
        f"{HASH_A}/Season 1/E01.mkv", 0, 4)


def test_requestdl_errors(emu: Emulator, tb: requests.Session) -> None:
    add_show(emu.world)
    tid = create(tb, emu).json()["data"]["torrent_id"]
    envelope_error(tb.get(url(emu, "/torrents/requestdl"), params={"torrent_id": tid}), 400, "MISSING_REQUIRED_OPTION")
    envelope_error(tb.get(url(emu, "/torrents/requestdl"), params={"torrent_id": tid, "file_id": 9}),
                   404, "ITEM_NOT_FOUND")
    envelope_error(tb.get(url(emu, "/torrents/requestdl"), params={"torrent_id": 999, "file_id": 0}),
                   404, "ITEM_NOT_FOUND")
    # items belong to their account: another key does not reach them
    envelope_error(requests.get(url(emu, "/torrents/requestdl"),
                                params={"torrent_id": tid, "file_id": 0, "token": OTHER}), 404, "ITEM_NOT_FOUND")
    envelope_error(requests.get(url(emu, "/torrents/requestdl"), params={"torrent_id": tid, "file_id": 0,
                                                                         "token": "bad"}), 403, "BAD_TOKEN")
    emu.world.set_traffic(TOKEN, used=1, limit=1)
    envelope_error(tb.get(url(emu, "/torrents/requestdl"), params={"torrent_id": tid, "file_id": 0}),
                   400, "MONTHLY_LIMIT")


def test_purge_marks_not_present_and_cdn_404(emu: Emulator, tb: requests.Session) -> None:
    add_show(emu.world)
    tid = create(tb, emu).json()["data"]["torrent_id"]
    link = tb.get(url(emu, "/torrents/requestdl"), params={"torrent_id": tid, "file_id": 0}).json()["data"]
    assert emu.world.purge(item_id=str(tid), provider="tb", file=1) == 1
    assert item(tb, emu, tid)["download_present"] is False   # one file gone: the item is not present
    assert emu.world.purge(infohash=HASH_A, provider="tb") == 2
    t = item(tb, emu, tid)
    assert t["download_finished"] is True and t["download_present"] is False
    assert requests.get(link).status_code == 404
    envelope_error(tb.get(url(emu, "/torrents/requestdl"), params={"torrent_id": tid, "file_id": 0}),
                   404, "ITEM_NOT_FOUND")
    assert not emu.world.is_cached(HASH_A, "tb")


def test_open_window(emu: Emulator, tb: requests.Session) -> None:
    add_show(emu.world)
    tid = create(tb, emu).json()["data"]["torrent_id"]
    params = {"torrent_id": tid, "file_id": 1}
    started = tb.get(url(emu, "/torrents/requestdl"), params=params).json()["data"]
    idle = tb.get(url(emu, "/torrents/requestdl"), params=params).json()["data"]
    assert requests.get(started, headers={"Range": "bytes=0-0"}).status_code == 206
    emu.world.clock.advance(3 * 3600 + 1)
    assert requests.get(started, headers={"Range": "bytes=5-9"}).status_code == 206   # opened in time
    assert requests.get(idle, headers={"Range": "bytes=0-0"}).status_code == 403      # never opened


# ------------------------------------------------------------------ checkcached


def test_checkcached_shapes(emu: Emulator, tb: requests.Session) -> None:
    add_show(emu.world, HASH_A)
    add_show(emu.world, HASH_B)
    missing = "c" * 40
    r = tb.get(url(emu, "/torrents/checkcached"), params={"hash": f"{HASH_A.upper()},{missing}"}).json()
    assert r["success"] and list(r["data"]) == [HASH_A] and "files" not in r["data"][HASH_A]
    r = tb.get(url(emu, "/torrents/checkcached"),
               params=[("hash", HASH_A), ("hash", HASH_B), ("format", "list"), ("list_files", "true")]).json()
    assert [e["hash"] for e in r["data"]] == [HASH_A, HASH_B]
    assert r["data"][0]["files"][0] == {"name": "Show S01/Season 1/E01.mkv", "size": 3 * MIB + 17}
    r = tb.post(url(emu, "/torrents/checkcached"), json={"hashes": [HASH_B, missing]}).json()
    assert list(r["data"]) == [HASH_B] and r["data"][HASH_B]["size"] == 5 * MIB + 17
    assert tb.get(url(emu, "/torrents/checkcached"), params={"hash": missing}).json()["data"] is None


# ------------------------------------------------------------------ usenet


def test_usenet_from_file_runs_its_phases(emu: Emulator, tb: requests.Session) -> None:
    data = nzb(("Movie.2020.mkv", [400_000, 100_000]), ("Movie.2020.nfo", [70]))
    md5 = hashlib.md5(data).hexdigest()
    r = tb.post(url(emu, "/usenet/createusenetdownload"), files={"file": ("m.nzb", data)}, data={"name": "Movie 2020"})
    body = r.json()["data"]
    assert body["hash"] == md5
    uid = body["usenetdownload_id"]
    seen = []
    for step in (0, 1.01, 0.1, 1, 1, 1, 1):
        emu.world.clock.advance(step)
        seen.append(item(tb, emu, uid, "usenet")["download_state"])
    assert seen == ["queued", "downloading", "verifying", "repairing", "extracting", "completed",
                    "completed"]
    job = item(tb, emu, uid, "usenet")
    assert job["download_finished"] and job["download_present"] and "seeds" not in job
    assert [(f["name"], f["size"]) for f in job["files"]] == [("Movie 2020/Movie.2020.mkv", 500_000),
                                                              ("Movie 2020/Movie.2020.nfo", 70)]
    link = tb.get(url(emu, "/usenet/requestdl"), params={"usenet_id": uid, "file_id": 0}).json()["data"]
    assert requests.get(link, headers={"Range": "bytes=0-99"}).content == file_bytes(f"{md5}/Movie.2020.mkv", 0, 100)
    r = tb.get(url(emu, "/usenet/checkcached"), params={"hash": md5}).json()
    assert r["data"][md5]["name"]
    assert tb.post(url(emu, "/usenet/controlusenetdownload"),
                   json={"usenet_id": uid, "operation": "delete"}).json()["success"]
    assert tb.get(url(emu, "/usenet/mylist")).json()["data"] == []


def test_usenet_cached_failing_and_links(emu: Emulator, tb: requests.Session) -> None:
    data = nzb(("Show.S01E01.mkv", [1000]))
    md5 = hashlib.md5(data).hexdigest()
    emu.world.set_cached([md5], provider="tb")
    first = tb.post(url(emu, "/usenet/createusenetdownload"), files={"file": ("a.nzb", data)}).json()["data"]
    job = item(tb, emu, first["usenetdownload_id"], "usenet")
    assert job["download_state"] == "cached" and job["download_present"]
    assert [f["name"] for f in job["files"]] == ["Show.S01E01.mkv"]   # one file: no folder
    # failing NZB: missing articles once verifying looks
    bad = nzb(("Broken.mkv", [1000]), ("Broken.nfo", [10]))
    state(emu.world).failing_nzbs.add(hashlib.md5(bad).hexdigest())
    uid = tb.post(url(emu, "/usenet/createusenetdownload"), files={"file": ("b.nzb", bad)}).json()["data"]["usenetdownload_id"]
    emu.world.clock.advance(10)
    job = item(tb, emu, uid, "usenet")
    assert job["download_state"] == "missing" and not job["download_finished"]
    # a link: md5 of the link string; its bytes come from nzb_links
    link = "https://indexer.example/get/123.nzb"
    state(emu.world).nzb_links[link] = nzb(("Linked.mkv", [10]), ("Linked.srt", [5]), title="Linked Pack")
    r = tb.post(url(emu, "/usenet/createusenetdownload"), data={"link": link}).json()["data"]
    assert r["hash"] == hashlib.md5(link.encode()).hexdigest()
    emu.world.clock.advance(10)
    job = item(tb, emu, r["usenetdownload_id"], "usenet")
    assert job["download_present"] and [f["name"] for f in job["files"]] == ["Linked Pack/Linked.mkv",
                                                                           "Linked Pack/Linked.srt"]
    envelope_error(tb.post(url(emu, "/usenet/createusenetdownload"), data={"link": "https://nowhere/x.nzb"}),
                   400, "BOZO_NZB")
    envelope_error(tb.post(url(emu, "/usenet/createusenetdownload"), files={"file": ("c.nzb", b"<nzb></nzb>")}),
                   400, "BOZO_NZB")
    envelope_error(tb.post(url(emu, "/usenet/createusenetdownload"), data={}), 400, "MISSING_REQUIRED_OPTION")


# ------------------------------------------------------------------ rate limits and faults


def test_rate_limits_in_torbox_shape() -> None:
    with Emulator(knobs={"rates": {"tb": [[300, 60.0]], "tb/create": [[2, 3600.0]]}}) as emu:
        emu.world.clock.set_speed(0)
        emu.world.add_account(TOKEN, provider="tb")
        s = requests.Session()
        s.headers["Authorization"] = f"Bearer {TOKEN}"
        codes = [create(s, emu, f"{i:040x}").status_code for i in range(3)]
        assert codes[:2] == [200, 200] and codes[2] == 429
        r = create(s, emu, "f" * 40)
        envelope_error(r, 429, "TOO_MANY_REQUESTS")
        assert int(r.headers["Retry-After"]) > 0
        assert s.get(url(emu, "/user/me")).status_code == 200   # the general window still has room


def test_fault_codes_get_their_status(emu: Emulator, tb: requests.Session) -> None:
    emu.world.add_fault({"provider": "tb", "path_regex": "/user/me", "times": 1,
                         "provider_error": {"code": "DATABASE_ERROR", "message": "db down"}})
    envelope_error(tb.get(url(emu, "/user/me")), 500, "DATABASE_ERROR")
    emu.world.add_fault({"provider": "tb", "path_regex": "/user/me", "times": 1,
                         "provider_error": {"code": "BAD_TOKEN"}})
    envelope_error(tb.get(url(emu, "/user/me")), 403, "BAD_TOKEN")
