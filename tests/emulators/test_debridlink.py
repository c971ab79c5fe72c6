"""Real-HTTP tests of the Debrid-Link emulator (``/api/v2``) and its CDN links (virtual clock)."""

from __future__ import annotations

from typing import Any

import pytest
import requests

from emulators import Emulator, file_bytes
from emulators.world import World
from gateway.imports.torrentmeta import make_torrent_file
from tests.support import frozen

TOKEN = "dl-token"
HASH_A = "a" * 40
HASH_B = "b" * 40
MIB = 1024 * 1024


@pytest.fixture
def emu(server: Emulator) -> Emulator:
    frozen(server, TOKEN, "dl")
    return server


@pytest.fixture
def world(emu: Emulator) -> World:
    return emu.world


@pytest.fixture
def dl(emu: Emulator) -> requests.Session:
    s = requests.Session()
    s.headers["Authorization"] = f"Bearer {TOKEN}"
    return s


def api(emu: Emulator, path: str) -> str:
    return emu.api_url("debridlink") + path


def catalog(world: World, infohash: str = HASH_A, cached: bool = True, flags: tuple[str, ...] = ()) -> None:
    world.add_catalog(infohash, "Show S01", [
        {"path": "Season 1/Episode 1.mkv", "size": 3 * MIB + 17},
        {"path": "Season 1/notes.nfo", "size": 1000},
    ], flags=flags, cached=cached, provider="dl")


def add(emu: Emulator, dl: requests.Session, url: str, status: int = 200) -> dict[str, Any]:
    r = dl.post(api(emu, "/seedbox/add"), json={"url": url, "wait": False, "async": True})
    assert r.status_code == status, r.text
    return r.json()


def listed(emu: Emulator, dl: requests.Session, **params: Any) -> dict[str, Any]:
    r = dl.get(api(emu, "/seedbox/list"), params=params)
    assert r.status_code == 200, r.text
    return r.json()


def test_auth_errors_are_401_bad_token(emu: Emulator) -> None:
    for headers in ({}, {"Authorization": "Bearer nope"}):
        r = requests.get(api(emu, "/account/infos"), headers=headers)
        assert r.status_code == 401
        assert r.json() == {"success": False, "error": "badToken", "error_description": "Invalid or expired token."}


def test_account_infos(emu: Emulator, dl: requests.Session) -> None:
    body = dl.get(api(emu, "/account/infos")).json()
    assert body["success"] is True
    value = body["value"]
    assert value["accountType"] == 1 and value["premiumLeft"] > 300 * 86400
    assert {"username", "email", "emailVerified", "pts", "trafficshare", "registerDate", "settings"} <= set(value)


def test_expired_premium_refuses_seedbox_calls(emu: Emulator, dl: requests.Session, world: World) -> None:
    world.accounts[TOKEN].premium_until = world.now() - 1
    assert dl.get(api(emu, "/account/infos")).json()["value"]["accountType"] == 0
    r = dl.get(api(emu, "/seedbox/list"))
    assert r.status_code == 403 and r.json()["error"] == "notDebrid"


def test_cached_magnet_is_complete_at_once_with_working_urls(emu: Emulator, dl: requests.Session,
                                                             world: World) -> None:
    catalog(world)
    body = add(emu, dl, f"magnet:?xt=urn:btih:{HASH_A.upper()}&dn=x")
    t = body["value"]
    assert t["id"].isalnum() and t["hashString"] == HASH_A and t["name"] == "Show S01"
    assert (t["status"], t["downloadPercent"], t["downloaded"], t["error"]) == (100, 100, True, 0)
    assert [f["id"] for f in t["files"]] == [f"{t['id']}-0", f"{t['id']}-1"]
    assert [f["name"] for f in t["files"]] == ["Season 1/Episode 1.mkv", "Season 1/notes.nfo"]
    assert all(f["downloaded"] and f["downloadUrl"].startswith(emu.origin + "/cdn/dl/") for f in t["files"])
    r = requests.get(t["files"][0]["downloadUrl"], headers={"Range": "bytes=1000-1999"})
    assert r.status_code == 206
    assert r.content == file_bytes(f"{HASH_A}/Season 1/Episode 1.mkv", 1000, 1000)


def test_add_by_bare_hash_and_bad_url(emu: Emulator, dl: requests.Session, world: World) -> None:
    catalog(world)
    assert add(emu, dl, HASH_A)["value"]["status"] == 100
    bad = add(emu, dl, "http://example.invalid/x.torrent", status=400)
    assert bad["success"] is False and bad["error"] == "badArguments"


def test_torrent_file_upload_runs_the_uncached_state_machine(emu: Emulator, dl: requests.Session,
                                                             world: World) -> None:
    world.set_knobs(download_speed=1 * MIB)
    data = make_torrent_file("Upload", [("a.mkv", 2 * MIB), ("b.srt", 100)])
    r = dl.post(api(emu, "/seedbox/add"), files={"file": ("x.torrent", data, "application/x-bittorrent")})
    t = r.json()["value"]
    assert r.status_code == 200 and t["status"] == 1 and t["downloadPercent"] == 0
    assert [f["name"] for f in t["files"]] == ["a.mkv", "b.srt"]
    url = t["files"][0]["downloadUrl"]
    assert requests.get(url).status_code == 404   # the bytes do not exist yet

    def state() -> tuple[int, float, bool]:
        v = listed(emu, dl, ids=t["id"])["value"][0]
        return v["status"], v["downloadPercent"], v["downloaded"]

    world.clock.advance(2.5)
    assert state() == (3, 0, False)
    world.clock.advance(1.0)          # 0.5 s into the download: 0.5 MiB of 2 MiB + 100
    status, percent, done = state()
    assert status == 4 and 20 < percent < 30 and not done
    world.clock.advance(2.0)
    assert state() == (6, 100, True)
    assert requests.get(url, headers={"Range": "bytes=0-9"}).content == file_bytes(f"{t['hashString']}/a.mkv", 0, 10)
    world.clock.advance(2.0)
    assert state() == (100, 100, True)


def test_bad_torrent_file(emu: Emulator, dl: requests.Session) -> None:
    r = dl.post(api(emu, "/seedbox/add"), files={"file": ("x.torrent", b"garbage", "application/x-bittorrent")})
    assert r.status_code == 400 and r.json()["error"] == "badArguments"


def test_unknown_hash_never_leaves_status_1(emu: Emulator, dl: requests.Session, world: World) -> None:
    t = add(emu, dl, f"magnet:?xt=urn:btih:{HASH_B}&dn=Mystery")["value"]
    world.clock.advance(86400)
    v = listed(emu, dl, ids=t["id"])["value"][0]
    assert (v["status"], v["files"], v["name"], v["error"]) == (1, [], "Mystery", 0)


@pytest.mark.parametrize(("flag", "status"), [("magnet_error", 1), ("virus", 4), ("dead", 4)])
def test_flags_set_error_and_error_string(emu: Emulator, dl: requests.Session, world: World,
                                          flag: str, status: int) -> None:
    catalog(world, cached=False, flags=(flag,))
    t = add(emu, dl, HASH_A)["value"]
    assert t["error"] == 0
    world.clock.advance(10)
    v = listed(emu, dl)["value"][0]
    assert v["status"] == status and v["error"] != 0 and v["errorString"] and not v["downloaded"]


def test_infringing_hash_is_refused_at_add(emu: Emulator, dl: requests.Session, world: World) -> None:
    catalog(world, flags=("infringing",))
    assert add(emu, dl, HASH_A, status=400)["error"] == "notAddTorrent"


def test_slots_limit_gives_max_torrent(emu: Emulator, dl: requests.Session, world: World) -> None:
    world.accounts[TOKEN].slots_limit = 1
    catalog(world, cached=False)
    catalog(world, HASH_B, cached=True)
    add(emu, dl, HASH_A)
    assert add(emu, dl, HASH_A, status=400)["error"] == "maxTorrent"
    assert add(emu, dl, HASH_B)["value"]["status"] == 100   # a cached add takes no slot


def test_list_pages_newest_first_and_clamps_per_page(emu: Emulator, dl: requests.Session, world: World) -> None:
    world.states["dl"].seed_library(TOKEN, [
        {"hash": f"{i:040x}", "name": f"T{i}", "added": 1_700_000_000 + i, "files": [{"path": "f.mkv", "size": 10}]}
        for i in range(45)])
    first = listed(emu, dl, page=0, perPage=5)          # clamped up to 20
    assert len(first["value"]) == 20 and first["value"][0]["name"] == "T44"
    assert first["pagination"] == {"page": 0, "pages": 3, "next": 1, "previous": -1}
    last = listed(emu, dl, page=2, perPage=20)
    assert [t["name"] for t in last["value"]] == ["T4", "T3", "T2", "T1", "T0"]
    assert last["pagination"] == {"page": 2, "pages": 3, "next": -1, "previous": 1}
    assert len(listed(emu, dl, perPage=500)["value"]) == 45   # clamped down to 100
    ids = [first["value"][3]["id"], last["value"][0]["id"]]
    assert [t["name"] for t in listed(emu, dl, ids=",".join(ids))["value"]] == ["T41", "T4"]
    assert listed(emu, dl, ids="nosuchid")["value"] == []
    r = dl.get(api(emu, "/seedbox/list"), params={"page": "x"})
    assert r.status_code == 400 and r.json()["error"] == "badArguments"


def test_remove_torrents(emu: Emulator, dl: requests.Session, world: World) -> None:
    catalog(world)
    catalog(world, HASH_B)
    a = add(emu, dl, HASH_A)["value"]
    b = add(emu, dl, HASH_B)["value"]
    r = dl.delete(api(emu, f"/seedbox/{a['id']},{b['id']}/remove"))
    assert r.json() == {"success": True, "value": [a["id"], b["id"]]}
    assert listed(emu, dl)["value"] == []
    assert requests.get(a["files"][0]["downloadUrl"]).status_code == 410   # storage released
    r = dl.delete(api(emu, f"/seedbox/{a['id']}/remove"))
    assert r.status_code == 400 and r.json()["error"] == "badId"


def test_downloader_list_records_each_link(emu: Emulator, dl: requests.Session, world: World) -> None:
    catalog(world)
    t = add(emu, dl, HASH_A)["value"]
    body = dl.get(api(emu, "/downloader/list")).json()
    entries = body["value"]
    assert body["pagination"]["pages"] == 1 and len(entries) == 2
    urls = {f["downloadUrl"] for f in t["files"]}
    assert {e["downloadUrl"] for e in entries} == urls and not any(e["expired"] for e in entries)
    assert {"id", "name", "url", "size", "host", "created"} <= set(entries[0])
    r = dl.delete(api(emu, f"/downloader/{entries[0]['id']}/remove"))
    assert r.json()["value"] == [entries[0]["id"]]
    assert len(dl.get(api(emu, "/downloader/list")).json()["value"]) == 1
    assert dl.delete(api(emu, "/downloader/nosuch/remove")).json()["error"] == "badId"


def test_expired_link_is_reissued_by_the_listing(emu: Emulator, dl: requests.Session, world: World) -> None:
    catalog(world)
    t = add(emu, dl, HASH_A)["value"]
    old = t["files"][0]["downloadUrl"]
    world.clock.advance(7 * 86400 + 1)          # dl_link_ttl
    assert requests.get(old).status_code == 410
    new = listed(emu, dl)["value"][0]["files"][0]["downloadUrl"]
    assert new != old and requests.get(new, headers={"Range": "bytes=0-0"}).status_code == 206
    entries = dl.get(api(emu, "/downloader/list")).json()["value"]
    assert {e["downloadUrl"]: e["expired"] for e in entries}[old] is True
    assert world.expire_links("dl", all=True) >= 1
    assert requests.get(new).status_code == 410


def test_purged_file_leaves_the_listing_and_the_cdn(emu: Emulator, dl: requests.Session, world: World) -> None:
    catalog(world)
    t = add(emu, dl, HASH_A)["value"]
    assert world.purge(item_id=t["id"], file=0, provider="dl") == 1
    assert requests.get(t["files"][0]["downloadUrl"]).status_code == 404
    assert [f["name"] for f in listed(emu, dl)["value"][0]["files"]] == ["Season 1/notes.nfo"]
    world.set_knobs(dl_purged_files="keep")
    assert len(listed(emu, dl)["value"][0]["files"]) == 2


def test_traffic_exhausted_cdn_503_but_listing_works(emu: Emulator, dl: requests.Session, world: World) -> None:
    catalog(world)
    t = add(emu, dl, HASH_A)["value"]
    world.set_traffic(TOKEN, used=1, limit=1)
    assert requests.get(t["files"][0]["downloadUrl"]).status_code == 503
    assert listed(emu, dl)["value"][0]["id"] == t["id"]


def test_removed_and_unknown_endpoints_are_unknowr(emu: Emulator, dl: requests.Session) -> None:
    for path in ("/seedbox/cached?url=x", "/no/such/thing"):
        r = dl.get(api(emu, path))
        assert r.status_code == 404
        assert r.json() == {"success": False, "error": "unknowR", "error_description": "Endpoint not found."}


def test_names_with_root_knob_and_seeded_library(emu: Emulator, dl: requests.Session, world: World) -> None:
    ids = world.seed_library(TOKEN, [{"hash": HASH_A, "name": "Lib", "added": "2024-01-02T03:04:05Z",
                                      "files": [{"path": "x/y.mkv", "size": 5}]}])
    world.set_knobs(dl_names_with_root=True)
    v = listed(emu, dl)["value"][0]
    assert v["id"] == ids[0] and v["created"] == 1704164645 and v["files"][0]["name"] == "Lib/x/y.mkv"
    assert world.state()["items"][TOKEN] == 1


def test_fault_with_a_dl_code_uses_the_dl_envelope(emu: Emulator, dl: requests.Session, world: World) -> None:
    world.add_fault({"path_regex": "/seedbox/list", "provider": "dl", "times": 1,
                     "provider_error": {"code": "maxData", "message": "Traffic exhausted"}})
    r = dl.get(api(emu, "/seedbox/list"))
    assert r.status_code == 400
    assert r.json() == {"success": False, "error": "maxData", "error_description": "Traffic exhausted"}


def test_rate_limit_answers_flood_detected() -> None:
    with Emulator(knobs={"rates": {"dl": [[3, 60.0]]}}) as emu:
        emu.world.clock.set_speed(0)
        emu.world.add_account(TOKEN, provider="dl")
        s = requests.Session()
        s.headers["Authorization"] = f"Bearer {TOKEN}"
        codes = [s.get(api(emu, "/account/infos")) for _ in range(4)]
        assert [r.status_code for r in codes] == [200, 200, 200, 429]
        assert codes[-1].json()["error"] == "floodDetected" and codes[-1].json()["success"] is False
        assert int(codes[-1].headers["Retry-After"]) > 0
