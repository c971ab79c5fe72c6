"""Real-HTTP tests of the Premiumize emulator (``/api/...``): envelope, state machine, cloud, CDN."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest
import requests

from emulators import Emulator, file_bytes
from emulators.pm_state import PmState
from emulators.sample import sample_library
from emulators.world import World
from gateway.imports.torrentmeta import make_torrent_file
from tests.support import frozen

TOKEN = "pm-token"
MIB = 1024 * 1024
HASH_MULTI = "a" * 40
HASH_ONE = "b" * 40
HASH_SLOW = "c" * 40

NZB = b"""<?xml version="1.0" encoding="utf-8"?>
<nzb xmlns="http://www.newzbin.com/DTD/2003/nzb">
 <head><meta type="name">Some Show S01E01</meta></head>
 <file poster="x" date="1" subject="Some Show [1/2] - &quot;show.s01e01.mkv&quot; yEnc (1/2)">
  <groups><group>alt.binaries.test</group></groups>
  <segments><segment bytes="700000" number="1">a@b</segment><segment bytes="300000" number="2">c@d</segment></segments>
 </file>
 <file poster="x" date="1" subject="Some Show [2/2] - &quot;show.s01e01.nfo&quot; yEnc (1/1)">
  <segments><segment bytes="1234" number="1">e@f</segment></segments>
 </file>
</nzb>"""


@pytest.fixture
def emu(server: Emulator) -> Emulator:
    frozen(server, TOKEN, "pm")
    w = server.world
    w.add_catalog(HASH_MULTI, "The Show S01", [
        {"path": "Season 1/E01.mkv", "size": 3 * MIB + 17},
        {"path": "Season 1/E02.mkv", "size": 2 * MIB},
        {"path": "info.nfo", "size": 1000},
    ], cached=True, provider="pm")
    w.add_catalog(HASH_ONE, "Movie.mkv", [{"path": "Movie.mkv", "size": MIB}], cached=True, provider="pm")
    w.add_catalog(HASH_SLOW, "Slow", [{"path": "a.mkv", "size": 20 * MIB}, {"path": "b.mkv", "size": 10 * MIB}])
    return server


@pytest.fixture
def world(emu: Emulator) -> World:
    return emu.world


@pytest.fixture
def pm(emu: Emulator) -> requests.Session:
    s = requests.Session()
    s.headers["Authorization"] = f"Bearer {TOKEN}"
    return s


def state(world: World) -> PmState:
    st = world.states["pm"]
    assert isinstance(st, PmState)
    return st


def url(emu: Emulator, path: str) -> str:
    return emu.api_url("premiumize") + path


def call(pm: requests.Session, emu: Emulator, path: str, method: str = "GET", **kw: Any) -> dict[str, Any]:
    r = pm.request(method, url(emu, path), **kw)
    assert r.status_code == 200, r.text
    return r.json()


def ok(pm: requests.Session, emu: Emulator, path: str, method: str = "GET", **kw: Any) -> dict[str, Any]:
    body = call(pm, emu, path, method, **kw)
    assert body["status"] == "success", body
    return body


def create(pm: requests.Session, emu: Emulator, src: str) -> dict[str, Any]:
    return ok(pm, emu, "/transfer/create", "POST", data={"src": src})


def transfer(pm: requests.Session, emu: Emulator, tid: str, method: str = "GET") -> dict[str, Any]:
    return next(t for t in ok(pm, emu, "/transfer/list", method)["transfers"] if t["id"] == tid)


def test_auth_bearer_apikey_and_errors_are_200(emu: Emulator, pm: requests.Session) -> None:
    info = ok(pm, emu, "/account/info")
    assert {"customer_id", "premium_until", "limit_used", "space_used"} <= set(info)
    assert info["limit_used"] == 0
    legacy = requests.get(url(emu, "/account/info"), params={"apikey": TOKEN}).json()
    assert legacy["status"] == "success"
    for headers in ({}, {"Authorization": "Bearer wrong"}):
        r = requests.get(url(emu, "/transfer/list"), headers=headers)
        assert r.status_code == 200 and r.json() == {"status": "error", "message": "Not logged in."}
    emu.world.add_account("expired", provider="pm", premium_days=-1)
    r = requests.post(url(emu, "/transfer/create"), headers={"Authorization": "Bearer expired"},
                      data={"src": f"magnet:?xt=urn:btih:{HASH_ONE}"})
    assert r.json() == {"status": "error", "message": "Account not premium."}


def test_debridlink_prefix_is_not_taken(emu: Emulator, pm: requests.Session) -> None:
    r = pm.get(emu.origin + "/api/v2/account/infos")
    assert r.json().get("status") != "success"   # Debrid-Link's front answers, never PM's


def test_cached_multi_file_transfer_is_a_folder_with_links(emu: Emulator, pm: requests.Session) -> None:
    made = create(pm, emu, f"magnet:?xt=urn:btih:{HASH_MULTI.upper()}")
    assert made["name"] == "The Show S01" and made["type"] == "torrent"
    t = transfer(pm, emu, made["id"], "POST")
    assert t["status"] == "finished" and t["progress"] == 1 and t["folder_id"] and t["file_id"] is None
    top = ok(pm, emu, "/folder/list", params={"id": t["folder_id"]})
    assert top["name"] == "The Show S01"
    kinds = {e["name"]: e["type"] for e in top["content"]}
    assert kinds == {"Season 1": "folder", "info.nfo": "file"}
    season = next(e for e in top["content"] if e["type"] == "folder")
    inner = ok(pm, emu, "/folder/list", params={"id": season["id"]})
    assert inner["parent_id"] == t["folder_id"]
    e01 = next(e for e in inner["content"] if e["name"] == "E01.mkv")
    assert e01["size"] == 3 * MIB + 17 and e01["mime_type"] == "video/x-matroska" and e01["stream_link"]
    got = requests.get(e01["link"], headers={"Range": "bytes=100-1099"})
    assert got.status_code == 206
    assert got.content == file_bytes(f"{HASH_MULTI}/Season 1/E01.mkv", 100, 1000)
    root = ok(pm, emu, "/folder/list")
    assert [e["name"] for e in root["content"]] == ["The Show S01"] and root["parent_id"] is None
    details = ok(pm, emu, "/item/details", params={"id": e01["id"]})
    assert details["link"] == e01["link"] and details["folder_id"] == season["id"]   # permanent
    paths = {f["path"] for f in ok(pm, emu, "/item/listall")["files"]}
    assert "The Show S01/Season 1/E01.mkv" in paths
    assert ok(pm, emu, "/account/info")["space_used"] == 5 * MIB + 1017


def test_single_file_transfer_has_file_id(emu: Emulator, pm: requests.Session) -> None:
    t = transfer(pm, emu, create(pm, emu, HASH_ONE)["id"])
    assert t["status"] == "finished" and t["file_id"] and t["folder_id"] is None
    assert HASH_ONE in t["src"]
    item = ok(pm, emu, "/item/details", params={"id": t["file_id"]})
    assert item["name"] == "Movie.mkv" and item["size"] == MIB
    assert requests.head(item["link"]).status_code == 200


def test_uncached_goes_queued_running_finished_and_costs_fair_use(emu: Emulator, pm: requests.Session,
                                                                  world: World) -> None:
    world.set_knobs(pm_fair_use_bytes=60 * MIB, pm_queued_status="waiting")
    tid = create(pm, emu, f"magnet:?xt=urn:btih:{HASH_SLOW}")["id"]
    t = transfer(pm, emu, tid)
    assert t["status"] == "waiting" and t["progress"] == 0 and t["folder_id"] is None
    world.clock.advance(2)   # queue_delay 1 s, then 1 s at 10 MiB/s of 30 MiB
    t = transfer(pm, emu, tid)
    assert t["status"] == "running" and 0.3 < t["progress"] < 0.4 and t["message"].startswith("Downloading at")
    world.clock.advance(5)
    t = transfer(pm, emu, tid)
    assert t["status"] == "finished" and t["progress"] == 1 and t["folder_id"]
    assert ok(pm, emu, "/account/info")["limit_used"] == 0.5
    create(pm, emu, HASH_SLOW)   # now cached: free and finished at once
    assert ok(pm, emu, "/account/info")["limit_used"] == 0.5
    state(world).set_limit_used(TOKEN, 1.0)
    body = call(pm, emu, "/transfer/create", "POST", data={"src": HASH_ONE})
    assert body == {"status": "error", "message": "Fair use limit reached!"}


def test_flags_unknown_hashes_and_bad_sources(emu: Emulator, pm: requests.Session, world: World) -> None:
    world.add_catalog("d" * 40, "Dead", [{"path": "x.mkv", "size": 5}], flags=["dead"])
    world.add_catalog("e" * 40, "Banned", [{"path": "x.mkv", "size": 5}], flags=["infringing"], cached=True,
                      provider="pm")
    dead, banned, unknown = (create(pm, emu, h * 40)["id"] for h in "def")
    world.clock.advance(2)
    assert transfer(pm, emu, dead)["status"] == "timeout"
    t = transfer(pm, emu, banned)
    assert t["status"] == "banned" and t["message"]
    t = transfer(pm, emu, unknown)
    assert t["status"] == "running" and t["progress"] == 0
    world.clock.advance(600)
    assert transfer(pm, emu, unknown)["status"] == "timeout"
    for src in ("nonsense", "magnet:?dn=nohash"):
        assert call(pm, emu, "/transfer/create", "POST", data={"src": src})["status"] == "error"
    assert call(pm, emu, "/transfer/create", "POST")["status"] == "error"


def test_26th_active_transfer_is_refused(emu: Emulator, pm: requests.Session, world: World) -> None:
    world.set_knobs(pm_max_active=3)
    for i in range(3):
        create(pm, emu, hashlib.sha1(f"u{i}".encode()).hexdigest())
    body = call(pm, emu, "/transfer/create", "POST", data={"src": hashlib.sha1(b"u9").hexdigest()})
    assert body == {"status": "error", "message": "You already have a maximum of 3 active downloads in progress!"}
    create(pm, emu, HASH_ONE)   # cached: takes no slot
    world.set_knobs(pm_max_active=25)
    for i in range(22):
        create(pm, emu, hashlib.sha1(f"v{i}".encode()).hexdigest())
    body = call(pm, emu, "/transfer/create", "POST", data={"src": hashlib.sha1(b"w").hexdigest()})
    assert body["message"] == "You already have a maximum of 25 active downloads in progress!"


def test_torrent_upload_as_file_or_src_field(emu: Emulator, pm: requests.Session, world: World) -> None:
    data = make_torrent_file("Up Load", [("a.mkv", 1234), ("b.srt", 55)], seed="x")
    for field in ("file", "src"):
        made = ok(pm, emu, "/transfer/create", "POST", files={field: ("x.torrent", data)})
        t = transfer(pm, emu, made["id"])
        assert t["src"].startswith("magnet:?xt=urn:btih:") and made["type"] == "torrent"
    bad = call(pm, emu, "/transfer/create", "POST", files={"file": ("x.torrent", b"garbage")})
    assert bad["status"] == "error"


def test_nzb_upload_url_and_missing_articles(emu: Emulator, pm: requests.Session, world: World) -> None:
    world.set_cached([hashlib.md5(NZB).hexdigest()], provider="pm")
    made = ok(pm, emu, "/transfer/create", "POST", files={"file": ("job.nzb", NZB)})
    assert made["name"] == "Some Show S01E01" and made["type"] == "nzb"
    t = transfer(pm, emu, made["id"])
    assert t["status"] == "finished"
    content = ok(pm, emu, "/folder/list", params={"id": t["folder_id"]})["content"]
    sizes = {e["name"]: e["size"] for e in content}
    assert sizes == {"show.s01e01.mkv": 1_000_000, "show.s01e01.nfo": 1234}
    mkv = next(e for e in content if e["name"] == "show.s01e01.mkv")
    md5 = hashlib.md5(NZB).hexdigest()
    assert requests.get(mkv["link"]).content == file_bytes(f"{md5}/show.s01e01.mkv", 0, 1_000_000)

    nzb_url = "https://indexer.example/get/Other%20Job.nzb"
    by_url = create(pm, emu, nzb_url)
    assert by_url["name"] == "Other Job" and by_url["type"] == "nzb"
    world.clock.advance(10)
    t = transfer(pm, emu, by_url["id"])
    assert t["status"] == "finished" and t["file_id"]
    assert ok(pm, emu, "/item/details", params={"id": t["file_id"]})["name"] == "Other Job.mkv"

    failing = NZB.replace(b"Some Show S01E01", b"Broken Job")
    state(world).failing_nzbs.add(hashlib.md5(failing).hexdigest())
    tid = ok(pm, emu, "/transfer/create", "POST", files={"file": ("b.nzb", failing)})["id"]
    world.clock.advance(2)
    t = transfer(pm, emu, tid)
    assert (t["status"], t["message"]) == ("error", "Missing articles")


def test_cache_check_is_parallel_arrays(emu: Emulator, pm: requests.Session) -> None:
    items = [f"magnet:?xt=urn:btih:{HASH_MULTI}", HASH_SLOW, HASH_ONE.upper()]
    for method, kw in (("GET", {"params": {"items[]": items}}), ("POST", {"data": {"items[]": items}})):
        body = ok(pm, emu, "/cache/check", method, **kw)
        assert body["response"] == [True, False, True]
        assert body["filename"] == ["The Show S01", None, "Movie.mkv"]
        assert body["filesize"][0] == str(5 * MIB + 1017) and len(body["transcoded"]) == 3
    assert ok(pm, emu, "/account/info")["limit_used"] == 0


def test_delete_removes_transfer_and_folder(emu: Emulator, pm: requests.Session) -> None:
    t = transfer(pm, emu, create(pm, emu, HASH_MULTI)["id"])
    inner = ok(pm, emu, "/folder/list", params={"id": t["folder_id"]})["content"]
    nfo = next(e for e in inner if e["name"] == "info.nfo")
    ok(pm, emu, "/transfer/delete", "POST", data={"id": t["id"]})
    assert ok(pm, emu, "/transfer/list")["transfers"] == []
    assert call(pm, emu, "/folder/list", params={"id": t["folder_id"]})["status"] == "error"
    assert requests.get(nfo["link"]).status_code == 404
    assert call(pm, emu, "/transfer/delete", "POST", data={"id": t["id"]})["status"] == "error"


def test_purge_expiry_and_late_links(emu: Emulator, pm: requests.Session, world: World) -> None:
    t = transfer(pm, emu, create(pm, emu, HASH_MULTI)["id"])
    season = next(e for e in ok(pm, emu, "/folder/list", params={"id": t["folder_id"]})["content"]
                  if e["type"] == "folder")
    listing = ok(pm, emu, "/folder/list", params={"id": season["id"]})["content"]
    e01 = next(e for e in listing if e["name"] == "E01.mkv")
    assert world.expire_links("pm", all=True) >= 1
    assert requests.get(e01["link"]).status_code == 404
    fresh = ok(pm, emu, "/item/details", params={"id": e01["id"]})["link"]
    assert fresh != e01["link"] and requests.head(fresh).status_code == 200
    assert world.purge(item_id=t["id"], file="Season 1/E01.mkv", provider="pm") == 1
    names = [e["name"] for e in ok(pm, emu, "/folder/list", params={"id": season["id"]})["content"]]
    assert names == ["E02.mkv"]
    assert requests.get(fresh).status_code == 404
    assert call(pm, emu, "/item/details", params={"id": e01["id"]})["message"] == "Item not found."

    world.set_knobs(pm_links_late_seconds=30)
    late = transfer(pm, emu, create(pm, emu, HASH_ONE)["id"])
    assert ok(pm, emu, "/item/details", params={"id": late["file_id"]})["link"] == ""
    world.clock.advance(31)
    assert ok(pm, emu, "/item/details", params={"id": late["file_id"]})["link"]


def test_traffic_exhausted_refuses_details_and_cdn(emu: Emulator, pm: requests.Session, world: World) -> None:
    t = transfer(pm, emu, create(pm, emu, HASH_ONE)["id"])
    link = ok(pm, emu, "/item/details", params={"id": t["file_id"]})["link"]
    world.set_traffic(TOKEN, used=1, limit=1)
    assert call(pm, emu, "/item/details", params={"id": t["file_id"]})["message"] == "Fair use limit reached!"
    assert requests.get(link).status_code == 503


def test_seed_library_and_purge_by_index(emu: Emulator, pm: requests.Session, world: World) -> None:
    ids = world.seed_library(TOKEN, sample_library())
    transfers = ok(pm, emu, "/transfer/list")["transfers"]
    assert {t["id"] for t in transfers} == set(ids) and all(t["status"] == "finished" for t in transfers)
    assert world.state()["items"][TOKEN] == len(ids)
    tiny = next(t for t in transfers if t["name"] == "Tiny Single File.mkv")
    assert tiny["file_id"]
    assert world.purge(infohash=sample_library()[4]["hash"], file=0, provider="pm") == 1
    assert call(pm, emu, "/item/details", params={"id": tiny["file_id"]})["status"] == "error"


def test_faults_and_unknown_routes_keep_the_envelope(emu: Emulator, pm: requests.Session, world: World) -> None:
    world.add_fault({"provider": "pm", "path_regex": "^/api/account/info", "times": 1, "status": 200,
                     "provider_error": {"message": "Account not premium."}})
    assert call(pm, emu, "/account/info") == {"status": "error", "message": "Account not premium."}
    world.add_fault({"provider": "pm", "path_regex": "^/api/transfer/list", "times": 1, "status": 521, "body": ""})
    assert pm.get(url(emu, "/transfer/list")).status_code == 521
    r = pm.get(url(emu, "/no/such"))
    assert r.json()["status"] == "error"


def test_rate_limit_answers_429_in_pm_shape() -> None:
    with Emulator(knobs={"rates": {"pm": [[2, 60.0]]}}) as emu:
        emu.world.add_account(TOKEN, provider="pm")
        s = requests.Session()
        s.headers["Authorization"] = f"Bearer {TOKEN}"
        codes = [s.get(url(emu, "/account/info")) for _ in range(3)]
        assert [r.status_code for r in codes] == [200, 200, 429]
        assert codes[2].json() == {"status": "error", "message": "Too many requests"}
        assert int(codes[2].headers["Retry-After"]) >= 1
