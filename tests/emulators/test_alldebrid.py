"""Real-HTTP tests of the AllDebrid emulator (``/v4`` and ``/v4.1``), virtual clock, no sleeps."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest
import requests

from emulators import Emulator, file_bytes
from emulators.world import World
from gateway.imports.torrentmeta import bencode
from tests.support import frozen

TOKEN = "ad-main"
OTHER = "ad-other"
HASH_A = "a" * 40
HASH_B = "b" * 40
MIB = 1024 * 1024


@pytest.fixture
def emu(server: Emulator) -> Emulator:
    frozen(server, TOKEN, "ad")
    return server


@pytest.fixture
def world(emu: Emulator) -> World:
    return emu.world


@pytest.fixture
def ad(emu: Emulator) -> requests.Session:
    s = requests.Session()
    s.headers["Authorization"] = f"Bearer {TOKEN}"
    return s


def url(emu: Emulator, path: str, version: str = "v4") -> str:
    return f"{emu.origin}/{version}{path}"


def ok(r: requests.Response) -> Any:
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["status"] == "success", body
    return body["data"]


def err(r: requests.Response, status: int = 200) -> str:
    assert r.status_code == status, r.text
    body = r.json()
    assert body["status"] == "error" and set(body["error"]) == {"code", "message"}, body
    return str(body["error"]["code"])


def add_show(world: World, infohash: str = HASH_A, cached: bool = True,
             flags: tuple[str, ...] = ()) -> None:
    world.add_catalog(infohash, "Show S01", [
        {"path": "Season 1/Episode 1.mkv", "size": 3 * MIB + 17},
        {"path": "notes.nfo", "size": 1000},
        {"path": "Season 1/Extras/Episode 2.mkv", "size": 2 * MIB},
    ], flags=flags, cached=cached, provider="ad")


def upload(emu: Emulator, ad: requests.Session, *magnets: str) -> list[dict[str, Any]]:
    data = ok(ad.get(url(emu, "/magnet/upload"), params={"magnets[]": list(magnets), "agent": "test"}))
    return list(data["magnets"])


def status(emu: Emulator, ad: requests.Session, magnet_id: Any = None, **params: Any) -> Any:
    if magnet_id is not None:
        params["id"] = magnet_id
    return ok(ad.get(url(emu, "/magnet/status", "v4.1"), params=params))["magnets"]


# ------------------------------------------------------------------ account


def test_auth_by_bearer_or_apikey_and_both_prefixes(emu: Emulator, ad: requests.Session) -> None:
    for version in ("v4", "v4.1"):
        user = ok(ad.get(url(emu, "/user", version), params={"agent": "test"}))["user"]
        assert user["isPremium"] is True and user["premiumUntil"] > emu.world.now()
        assert set(user) >= {"username", "email", "isSubscribed", "isTrial", "lang", "preferedDomain",
                             "fidelityPoints", "limitedHostersQuotas", "remainingTrialQuota", "notifications"}
    assert ok(requests.get(url(emu, "/user"), params={"apikey": TOKEN}))["user"]
    assert ok(requests.post(url(emu, "/user"), data={"apikey": TOKEN}))["user"]
    assert err(requests.get(url(emu, "/user"))) == "AUTH_MISSING_APIKEY"
    assert err(requests.get(url(emu, "/user"), headers={"Authorization": "Bearer nope"})) == "AUTH_BAD_APIKEY"
    emu.world.set_knobs(ad_errors_http_status="4xx")
    assert err(requests.get(url(emu, "/user"), headers={"Authorization": "Bearer nope"}), 401) == "AUTH_BAD_APIKEY"


def test_expired_premium_refuses_magnet_calls(emu: Emulator, ad: requests.Session) -> None:
    emu.world.add_account(OTHER, provider="ad", premium_days=-1)
    other = {"Authorization": f"Bearer {OTHER}"}
    assert ok(requests.get(url(emu, "/user"), headers=other))["user"]["isPremium"] is False
    assert err(requests.get(url(emu, "/magnet/status", "v4.1"), headers=other)) == "MUST_BE_PREMIUM"


def test_unknown_endpoint_and_removed_instant_are_404(emu: Emulator, ad: requests.Session) -> None:
    assert err(ad.get(url(emu, "/magnet/instant"), params={"magnets[]": HASH_A}), 404) == "404"
    assert "doesn't exist" in ad.get(url(emu, "/magnet/instant")).json()["error"]["message"]
    assert err(ad.get(url(emu, "/no/such/thing", "v4.1")), 404) == "404"


# ------------------------------------------------------------------ magnets


def test_cached_upload_is_ready_with_a_files_tree(emu: Emulator, ad: requests.Session) -> None:
    add_show(emu.world)
    [item] = upload(emu, ad, f"magnet:?xt=urn:btih:{HASH_A.upper()}&dn=x")
    assert item["ready"] is True and item["hash"] == HASH_A and item["name"] == "Show S01"
    assert item["size"] == 5 * MIB + 1017 and isinstance(item["id"], int)
    one = status(emu, ad, item["id"])
    assert isinstance(one, dict) and one["statusCode"] == 4 and one["status"] == "Ready"
    assert one["completionDate"] > 0 and one["nbLinks"] == 3
    [root] = one["files"]
    assert root["n"] == "Show S01"
    season, nfo = root["e"]
    assert season["n"] == "Season 1" and nfo == {"n": "notes.nfo", "s": 1000, "l": nfo["l"]}
    episode, extras = season["e"]
    assert episode["n"] == "Episode 1.mkv" and episode["s"] == 3 * MIB + 17
    assert episode["l"].startswith(f"{emu.origin}/ad-link/f/")
    assert extras["n"] == "Extras" and extras["e"][0]["n"] == "Episode 2.mkv"
    listed = status(emu, ad)
    assert isinstance(listed, list) and listed[0]["id"] == item["id"] and "files" not in listed[0]
    emu.world.set_knobs(ad_list_includes_files=True)
    assert status(emu, ad)[0]["files"] == one["files"]


def test_single_file_torrent_is_a_bare_file_node(emu: Emulator, ad: requests.Session) -> None:
    emu.world.add_catalog(HASH_B, "Movie.mkv", [{"path": "Movie.mkv", "size": 1234}], cached=True, provider="ad")
    [item] = upload(emu, ad, HASH_B)  # a bare hash is accepted as well
    [node] = status(emu, ad, item["id"])["files"]
    assert set(node) == {"n", "s", "l"} and node["n"] == "Movie.mkv" and node["s"] == 1234


def test_uncached_progresses_through_the_status_codes(emu: Emulator, ad: requests.Session) -> None:
    world = emu.world
    world.set_knobs(download_speed=MIB, queue_delay=1.0, ad_stage_seconds=2.0)
    add_show(world, cached=False)
    [item] = upload(emu, ad, f"magnet:?xt=urn:btih:{HASH_A}")
    assert item["ready"] is False
    seen = status(emu, ad, item["id"])
    assert seen["statusCode"] == 0 and seen["status"] == "In Queue" and "files" not in seen
    world.clock.advance(3)
    seen = status(emu, ad, item["id"])
    assert seen["statusCode"] == 1 and seen["downloadSpeed"] == MIB and seen["downloaded"] == 2 * MIB
    assert seen["seeders"] > 0 and "files" not in seen
    world.clock.advance(3.1)   # 5 MiB + 1017 bytes at 1 MiB/s are done at t = 6.001
    assert status(emu, ad, item["id"])["statusCode"] == 2
    world.clock.advance(2)
    assert status(emu, ad, item["id"])["statusCode"] == 3
    world.clock.advance(2)
    done = status(emu, ad, item["id"])
    assert done["statusCode"] == 4 and done["files"] and done["completionDate"] == int(done["uploadDate"] + 10.001)
    assert world.is_cached(HASH_A, "ad")   # cache_on_complete


def test_per_item_errors_inside_a_success(emu: Emulator, ad: requests.Session) -> None:
    add_show(emu.world)
    emu.world.add_catalog(HASH_B, "Banned", [{"path": "x.mkv", "size": 1}], flags=["infringing"], provider="ad")
    good, bad, banned = upload(emu, ad, HASH_A, "magnet:?xt=urn:btih:zz", HASH_B)
    assert good["ready"] is True
    assert bad["magnet"] == "magnet:?xt=urn:btih:zz" and bad["error"]["code"] == "MAGNET_INVALID_URI"
    assert banned["error"]["code"] == "MAGNET_INVALID_URI"
    assert err(ad.post(url(emu, "/magnet/upload"), data={"agent": "x"})) == "MAGNET_NO_URI"


def test_slot_cap_refuses_uncached_uploads(emu: Emulator, ad: requests.Session) -> None:
    emu.world.add_account(OTHER, provider="ad", slots_limit=1)
    other = requests.Session()
    other.headers["Authorization"] = f"Bearer {OTHER}"
    add_show(emu.world, HASH_A, cached=False)
    add_show(emu.world, HASH_B, cached=False)
    assert "error" not in upload(emu, other, HASH_A)[0]
    assert upload(emu, other, HASH_B)[0]["error"]["code"] == "MAGNET_TOO_MANY_ACTIVE"
    emu.world.set_cached([HASH_B], provider="ad")
    assert upload(emu, other, HASH_B)[0]["ready"] is True   # cached: no slot needed


def test_flags_and_unknown_hashes_end_in_error_codes(emu: Emulator, ad: requests.Session) -> None:
    world = emu.world
    codes = {}
    for flag, expected in (("virus", 6), ("dead", 15), ("error", 9), ("magnet_error", 7)):
        h = hashlib.sha1(flag.encode()).hexdigest()
        world.add_catalog(h, flag, [{"path": "f.mkv", "size": 10}], flags=[flag], provider="ad")
        codes[upload(emu, ad, h)[0]["id"]] = expected
    unknown = upload(emu, ad, "c" * 40)[0]
    assert unknown["ready"] is False and unknown["name"] == "c" * 40
    world.clock.advance(world.knobs["conv_delay_uncached"] + 1)
    for magnet_id, expected in codes.items():
        assert status(emu, ad, magnet_id)["statusCode"] == expected
    assert status(emu, ad, unknown["id"])["statusCode"] == 0   # metadata never comes...
    assert len(status(emu, ad, status="error")) == 4 and len(status(emu, ad, status="active")) == 1
    world.clock.advance(world.knobs["ad_stall_seconds"])
    assert status(emu, ad, unknown["id"])["statusCode"] == 7   # ... "Not downloaded in 20 min"
    assert status(emu, ad, status="ready") == [] and status(emu, ad, status="expired") == []


def test_upload_file_parses_the_torrent(emu: Emulator, ad: requests.Session) -> None:
    info = {"name": "Packed", "piece length": 16384, "pieces": b"\0" * 20,
            "files": [{"path": ["a", "one.mkv"], "length": 5000}, {"path": ["two.mkv"], "length": 7}]}
    data = bencode({"announce": "http://t/", "info": info})
    infohash = hashlib.sha1(bencode(info)).hexdigest()
    r = ad.post(url(emu, "/magnet/upload/file"),
                files=[("files[]", ("p.torrent", data)), ("files[]", ("bad.torrent", b"garbage"))])
    good, bad = ok(r)["files"]
    assert good["file"] == "p.torrent" and good["hash"] == infohash and good["name"] == "Packed"
    assert good["size"] == 5007 and good["ready"] is False
    assert bad == {"file": "bad.torrent", "error": bad["error"]} and bad["error"]["code"] == "MAGNET_INVALID_FILE"
    emu.world.clock.advance(60)
    [root] = status(emu, ad, good["id"])["files"]
    assert [n["n"] for n in root["e"]] == ["a", "two.mkv"]


def test_magnet_files_and_delete(emu: Emulator, ad: requests.Session) -> None:
    add_show(emu.world)
    add_show(emu.world, HASH_B, cached=False)
    a, b = (m["id"] for m in upload(emu, ad, HASH_A, HASH_B))
    got = ok(ad.post(url(emu, "/magnet/files"), data={"id[]": [a, b, 999]}))["magnets"]
    assert got[0] == {"id": str(a), "files": status(emu, ad, a)["files"]}
    assert got[1]["error"]["code"] == "MAGNET_PROCESSING" and got[2]["error"]["code"] == "MAGNET_INVALID_ID"
    assert "deleted" in ok(ad.get(url(emu, "/magnet/delete"), params={"id": a}))["message"]
    assert err(ad.get(url(emu, "/magnet/status", "v4.1"), params={"id": a})) == "MAGNET_INVALID_ID"
    assert err(ad.post(url(emu, "/magnet/delete"), data={"id": a})) == "MAGNET_INVALID_ID"
    emu.world.set_knobs(ad_errors_http_status="4xx")
    assert err(ad.get(url(emu, "/magnet/status", "v4.1"), params={"id": a}), 404) == "MAGNET_INVALID_ID"
    assert [m["id"] for m in status(emu, ad)] == [b]


def test_session_counter_answers_a_full_sync(emu: Emulator, ad: requests.Session) -> None:
    add_show(emu.world)
    upload(emu, ad, HASH_A)
    first = ok(ad.get(url(emu, "/magnet/status", "v4.1"), params={"session": "s1", "counter": 0}))
    second = ok(ad.get(url(emu, "/magnet/status", "v4.1"), params={"session": "s1", "counter": 1}))
    assert (first["counter"], second["counter"]) == (1, 2) and first["fullsync"] is True
    assert len(second["magnets"]) == 1


def test_v4_status_legacy_links_shape(emu: Emulator, ad: requests.Session) -> None:
    add_show(emu.world)
    [item] = upload(emu, ad, HASH_A)
    emu.world.set_knobs(ad_v4_status_legacy=True)
    old = ok(ad.get(url(emu, "/magnet/status"), params={"id": item["id"]}))["magnets"]
    assert "files" not in old and [x["filename"] for x in old["links"]] == ["Episode 1.mkv", "Episode 2.mkv",
                                                                            "notes.nfo"]
    assert old["links"][0]["files"] == [{"n": "Season 1", "e": [{"n": "Episode 1.mkv", "s": 3 * MIB + 17}]}]
    assert "files" in status(emu, ad, item["id"])   # /v4.1 keeps the tree


# -------------------------------------------------------------------- links


def _file_link(emu: Emulator, ad: requests.Session, magnet_id: int) -> tuple[str, int]:
    node = status(emu, ad, magnet_id)["files"][0]["e"][0]["e"][0]
    return node["l"], node["s"]


def test_unlock_gives_a_ranged_cdn_url(emu: Emulator, ad: requests.Session) -> None:
    add_show(emu.world)
    [item] = upload(emu, ad, HASH_A)
    link, size = _file_link(emu, ad, item["id"])
    assert requests.get(link).status_code == 404   # a file link must be unlocked first
    data = ok(ad.get(url(emu, "/link/unlock"), params={"link": link, "agent": "t"}))
    assert data["filename"] == "Episode 1.mkv" and data["filesize"] == size and data["host"] == "alldebrid"
    assert data["link"].startswith(f"{emu.origin}/cdn/ad/") and data["id"]
    r = requests.get(data["link"], headers={"Range": "bytes=100-1099"})
    assert r.status_code == 206 and r.content == file_bytes(f"{HASH_A}/Season 1/Episode 1.mkv", 100, 1000)
    again = ok(ad.post(url(emu, "/link/unlock"), data={"link": link}))
    assert again["link"] != data["link"]   # every unlock is a fresh URL
    infos = ok(ad.post(url(emu, "/link/infos"), data={"link[]": [link, "http://x/other"]}))["infos"]
    assert infos[0]["filename"] == "Episode 1.mkv" and infos[0]["size"] == size
    assert infos[1]["error"]["code"] == "LINK_HOST_NOT_SUPPORTED"
    assert err(ad.get(url(emu, "/link/unlock"))) == "LINK_IS_MISSING"


def test_another_account_unlocks_and_pays_the_traffic(emu: Emulator, ad: requests.Session) -> None:
    world = emu.world
    world.add_account(OTHER, provider="ad")
    add_show(world)
    [item] = upload(emu, ad, HASH_A)
    link, size = _file_link(emu, ad, item["id"])
    cdn = ok(requests.get(url(emu, "/link/unlock"), params={"link": link},
                          headers={"Authorization": f"Bearer {OTHER}"}))["link"]
    assert len(requests.get(cdn).content) == size
    assert world.accounts[OTHER].traffic_used_today == size and world.accounts[TOKEN].traffic_used_today == 0
    world.set_traffic(OTHER, used=1, limit=1)
    code = err(requests.get(url(emu, "/link/unlock"), params={"link": link},
                            headers={"Authorization": f"Bearer {OTHER}"}))
    assert code == "LINK_HOST_LIMIT_REACHED"


def test_purged_file_is_link_down_and_the_magnet_turns_11(emu: Emulator, ad: requests.Session) -> None:
    world = emu.world
    add_show(world)
    [item] = upload(emu, ad, HASH_A)
    link, _ = _file_link(emu, ad, item["id"])
    cdn = ok(ad.get(url(emu, "/link/unlock"), params={"link": link}))["link"]
    assert world.purge(item_id=str(item["id"]), file=0, provider="ad") == 1
    assert requests.get(cdn).status_code == 404
    assert err(ad.get(url(emu, "/link/unlock"), params={"link": link})) == "LINK_DOWN"
    assert status(emu, ad, item["id"])["statusCode"] == 11
    world.set_knobs(ad_purged_error="MAGNET_LINKS_REMOVED")
    assert err(ad.get(url(emu, "/link/unlock"), params={"link": link})) == "MAGNET_LINKS_REMOVED"


def test_links_expire_after_the_ttl(emu: Emulator, ad: requests.Session) -> None:
    world = emu.world
    world.set_knobs(ad_link_ttl=60.0)
    add_show(world)
    [item] = upload(emu, ad, HASH_A)
    link, _ = _file_link(emu, ad, item["id"])
    cdn = ok(ad.get(url(emu, "/link/unlock"), params={"link": link}))["link"]
    assert requests.head(cdn).status_code == 200
    world.clock.advance(61)
    assert requests.head(cdn).status_code == 404
    assert requests.head(ok(ad.get(url(emu, "/link/unlock"), params={"link": link}))["link"]).status_code == 200


def test_delayed_mode(emu: Emulator, ad: requests.Session) -> None:
    world = emu.world
    world.set_knobs(ad_delayed_mode=True, ad_delayed_seconds=5.0)
    add_show(world)
    [item] = upload(emu, ad, HASH_A)
    link, _ = _file_link(emu, ad, item["id"])
    data = ok(ad.get(url(emu, "/link/unlock"), params={"link": link}))
    assert data["link"] == "" and data["delayed"]
    first = ok(ad.get(url(emu, "/link/delayed"), params={"id": data["delayed"]}))
    assert first["status"] == 1 and first["time_left"] == 5 and first["link"] == ""
    world.clock.advance(5)
    ready = ok(ad.get(url(emu, "/link/delayed"), params={"id": data["delayed"]}))
    assert ready["status"] == 2 and requests.head(ready["link"]).status_code == 200
    assert err(ad.get(url(emu, "/link/delayed"), params={"id": 1})) == "DELAYED_INVALID_ID"


# ----------------------------------------------------------- control plane


def test_seed_library_purge_and_state(emu: Emulator, ad: requests.Session) -> None:
    world = emu.world
    ids = world.states["ad"].seed_library("fresh", [{"hash": HASH_B, "name": "Seeded", "added": "2024-01-02T03:04:05Z",
                                        "files": [{"path": "Seeded.mkv", "size": 99, "seed": "s"}]}])
    assert world.accounts["fresh"].provider == "ad"   # created by the AllDebrid state
    assert world.seed_library("fresh", []) == []       # the world dispatches by the account's provider
    seeded = ok(requests.get(url(emu, "/magnet/status", "v4.1"), params={"id": ids[0]},
                             headers={"Authorization": "Bearer fresh"}))["magnets"]
    assert seeded["statusCode"] == 4 and seeded["uploadDate"] == 1704164645
    assert seeded["files"][0]["s"] == 99 and world.state()["items"]["fresh"] == 1
    assert world.purge(infohash=HASH_B, provider="ad") == 1 and not world.is_cached(HASH_B, "ad")


def test_rate_limit_answers_429_in_the_envelope() -> None:
    with Emulator() as emu:
        emu.world.clock.set_speed(0)
        emu.world.add_account(TOKEN, provider="ad")
        s = requests.Session()
        s.headers["Authorization"] = f"Bearer {TOKEN}"
        answers = [s.get(url(emu, "/user")) for _ in range(13)]   # 12 per second
        assert [r.status_code for r in answers[:12]] == [200] * 12
        assert answers[12].status_code == 429 and int(answers[12].headers["Retry-After"]) >= 1
        assert answers[12].json()["status"] == "error" and answers[12].json()["error"]["code"]
