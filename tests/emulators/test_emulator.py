"""Real-HTTP tests of the Real-Debrid + CDN emulator (virtual clock, no sleeps)."""

from __future__ import annotations

import hashlib
import re
import threading
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from emulators import Emulator, SlidingWindow, busiest_window, file_bytes
from emulators.sample import sample_library
from emulators.world import World
from gateway.imports.torrentmeta import bencode
from tests.support import wait_until

TOKEN = "tok-main"
HASH_A = "a" * 40
HASH_B = "b" * 40
MIB = 1024 * 1024


@pytest.fixture(scope="module")
def server() -> Iterator[Emulator]:
    with Emulator() as emu:
        yield emu


@pytest.fixture
def emu(server: Emulator) -> Emulator:
    server.world.reset()
    server.world.clock.set_speed(0)  # time moves only when a test advances it
    server.world.add_account(TOKEN)
    return server


@pytest.fixture
def world(emu: Emulator) -> World:
    return emu.world


@pytest.fixture
def rd(emu: Emulator) -> requests.Session:
    s = requests.Session()
    s.headers["Authorization"] = f"Bearer {TOKEN}"
    return s


def api(emu: Emulator, path: str) -> str:
    return emu.rd_api_url + path


def add_two_file_entry(world: World, infohash: str = HASH_A, cached: bool = True,
                       flags: tuple[str, ...] = ()) -> None:
    world.add_catalog(infohash, "Show S01", [
        {"path": "Season 1/Episode 1.mkv", "size": 3 * MIB + 17},
        {"path": "Season 1/notes.nfo", "size": 1000},
        {"path": "Season 1/Episode 2.mkv", "size": 2 * MIB},
    ], flags=flags, cached=cached)


def add_magnet(emu: Emulator, rd: requests.Session, infohash: str = HASH_A) -> str:
    r = rd.post(api(emu, "/torrents/addMagnet"), data={"magnet": f"magnet:?xt=urn:btih:{infohash}"})
    assert r.status_code == 201, r.text
    body = r.json()
    assert re.fullmatch(r"[A-Z0-9]{13}", body["id"])
    assert body["uri"].endswith(f"/torrents/info/{body['id']}")
    return body["id"]


def info(emu: Emulator, rd: requests.Session, tid: str) -> dict[str, Any]:
    r = rd.get(api(emu, f"/torrents/info/{tid}"))
    assert r.status_code == 200, r.text
    return r.json()


def seeded_download(emu: Emulator, rd: requests.Session) -> tuple[dict[str, Any], dict[str, Any]]:
    """Seed the sample library; unrestrict the first file of the first torrent."""
    emu.world.seed_library(TOKEN, sample_library())
    tid = rd.get(api(emu, "/torrents")).json()[-1]["id"]  # oldest = the show
    t = info(emu, rd, tid)
    r = rd.post(api(emu, "/unrestrict/link/"), data={"link": t["links"][0]})
    assert r.status_code == 200, r.text
    return t, r.json()


def seed_of(t: dict[str, Any], file_index: int = 0) -> str:
    return f"{t['hash']}/{t['files'][file_index]['path'].lstrip('/')}"


# ------------------------------------------------------------------------ auth


def test_auth_errors(emu: Emulator, rd: requests.Session) -> None:
    r = requests.get(api(emu, "/user"))
    assert (r.status_code, r.json()) == (401, {"error": "bad_token", "error_code": 8})
    r = requests.get(api(emu, "/user"), headers={"Authorization": "Bearer nope"})
    assert r.status_code == 401
    r = requests.get(api(emu, "/user"), params={"auth_token": TOKEN})
    assert r.status_code == 200 and r.json()["type"] == "premium"
    assert r.json()["expiration"].endswith("Z")

    emu.world.add_account("expired", premium_days=-1)
    r = requests.get(api(emu, "/torrents"), headers={"Authorization": "Bearer expired"})
    assert (r.status_code, r.json()["error_code"]) == (403, 9)
    r = requests.get(api(emu, "/user"), headers={"Authorization": "Bearer expired"})
    assert r.json()["type"] == "free" and r.json()["premium"] == 0

    emu.world.revoke(TOKEN)
    assert rd.get(api(emu, "/user")).status_code == 401


# ------------------------------------------------------------- state machine


def test_cached_magnet_flow(emu: Emulator, rd: requests.Session) -> None:
    add_two_file_entry(emu.world)
    tid = add_magnet(emu, rd)
    t = info(emu, rd, tid)
    assert t["status"] == "magnet_conversion" and t["files"] == []
    emu.world.clock.advance(0.6)
    t = info(emu, rd, tid)
    assert t["status"] == "waiting_files_selection"
    assert [f["id"] for f in t["files"]] == [1, 2, 3]
    assert t["files"][0]["path"] == "/Season 1/Episode 1.mkv"
    assert {f["selected"] for f in t["files"]} == {0} and "ended" not in t

    assert rd.post(api(emu, f"/torrents/selectFiles/{tid}"), data={"files": "1,3"}).status_code == 204
    t = info(emu, rd, tid)
    assert t["status"] == "downloaded" and t["progress"] == 100
    assert t["bytes"] == 5 * MIB + 17 and t["original_bytes"] == 5 * MIB + 1017
    assert len(t["links"]) == 2 and all("/rd-link/d/" in x for x in t["links"])
    assert t["ended"].endswith("Z") and re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", t["added"])
    again = rd.post(api(emu, f"/torrents/selectFiles/{tid}"), data={"files": "all"})
    assert again.status_code == 202


def test_uncached_download_and_slots(emu: Emulator, rd: requests.Session) -> None:
    emu.world.set_knobs(download_speed=MIB, queue_delay=1.0)
    emu.world.accounts[TOKEN].slots_limit = 1
    add_two_file_entry(emu.world, cached=False)
    add_two_file_entry(emu.world, HASH_B, cached=False)
    tid, other = add_magnet(emu, rd), add_magnet(emu, rd, HASH_B)
    emu.world.clock.advance(4.9)
    assert info(emu, rd, tid)["status"] == "magnet_conversion"  # uncached: 5 s
    emu.world.clock.advance(0.2)
    assert rd.post(api(emu, f"/torrents/selectFiles/{tid}"), data={"files": "all"}).status_code == 204
    assert info(emu, rd, tid)["status"] == "queued"
    assert rd.get(api(emu, "/torrents/activeCount")).json() == {"nb": 1, "limit": 1}

    full = rd.post(api(emu, f"/torrents/selectFiles/{other}"), data={"files": "all"})
    assert (full.status_code, full.json()["error_code"]) == (509, 21)
    assert info(emu, rd, other)["status"] == "waiting_files_selection"

    emu.world.clock.advance(2.0)
    t = info(emu, rd, tid)
    assert t["status"] == "downloading" and 0 < t["progress"] < 100
    assert t["speed"] == MIB and "seeders" in t and t["links"] == []
    emu.world.clock.advance(10)
    t = info(emu, rd, tid)
    assert t["status"] == "downloaded" and len(t["links"]) == 3 and "speed" not in t
    assert emu.world.is_cached(HASH_A)  # finished downloads become cached


def test_error_states_and_filters(emu: Emulator, rd: requests.Session) -> None:
    add_two_file_entry(emu.world, HASH_A, flags=("infringing",))
    r = rd.post(api(emu, "/torrents/addMagnet"), data={"magnet": f"magnet:?xt=urn:btih:{HASH_A}"})
    assert (r.status_code, r.json()) == (451, {"error": "infringing_file", "error_code": 35})
    add_two_file_entry(emu.world, HASH_B, flags=("virus",))
    virus = add_magnet(emu, rd, HASH_B)
    unknown = add_magnet(emu, rd, "c" * 40)
    emu.world.clock.advance(6)
    assert info(emu, rd, virus)["status"] == "virus"
    assert info(emu, rd, unknown)["status"] == "magnet_error"

    bad = rd.post(api(emu, "/torrents/addMagnet"), data={"magnet": "magnet:?xt=urn:btih:zz"})
    assert bad.status_code == 400
    r = rd.get(api(emu, f"/torrents/instantAvailability/{HASH_A}"))
    assert (r.status_code, r.json()["error_code"]) == (403, 37)
    assert rd.get(api(emu, "/torrents/info/NOPE")).json() == {"error": "unknown_ressource", "error_code": 7}
    assert rd.delete(api(emu, f"/torrents/delete/{virus}")).status_code == 204
    assert rd.delete(api(emu, f"/torrents/delete/{virus}")).status_code == 404


def test_base32_magnet_and_add_torrent(emu: Emulator, rd: requests.Session) -> None:
    import base64

    b32 = base64.b32encode(bytes.fromhex(HASH_A)).decode()
    add_two_file_entry(emu.world)
    tid = add_magnet(emu, rd, b32)
    assert info(emu, rd, tid)["hash"] == HASH_A

    info_dict = {"name": "Pack", "piece length": 16384, "pieces": b"\x01" * 20,
                 "files": [{"path": ["Disc 1", "a.mkv"], "length": 1234},
                           {"path": ["b.srt"], "length": 99}]}
    raw = bencode({"announce": "http://tracker.invalid/a", "info": info_dict})
    expected = hashlib.sha1(bencode(info_dict)).hexdigest()
    r = rd.put(api(emu, "/torrents/addTorrent"), data=raw,
               headers={"Content-Type": "application/x-bittorrent"})
    assert r.status_code == 201, r.text
    emu.world.clock.advance(6)
    t = info(emu, rd, r.json()["id"])
    assert t["hash"] == expected and t["status"] == "waiting_files_selection"
    assert [f["path"] for f in t["files"]] == ["/Disc 1/a.mkv", "/b.srt"]
    assert rd.put(api(emu, "/torrents/addTorrent"), data=b"garbage").status_code == 400


# ------------------------------------------------------------------ CDN bytes


def test_unrestrict_and_range_reads(emu: Emulator, rd: requests.Session) -> None:
    t, u = seeded_download(emu, rd)
    size, seed = t["files"][0]["bytes"], seed_of(t)
    assert u["filesize"] == size and u["streamable"] == 1 and u["mimeType"] == "video/x-matroska"
    assert u["filename"] == "Episode 1.mkv" and u["host"] == "real-debrid.com"
    url = u["download"]
    assert url.startswith(emu.origin + "/cdn/rd/")

    cases = {"bytes=0-99": (0, 100), "bytes=65530-131080": (65530, 65551),
             f"bytes={size - 10}-": (size - 10, 10), "bytes=-4096": (size - 4096, 4096),
             f"bytes=5-{size + 100}": (5, size - 5)}
    for header, (start, length) in cases.items():
        r = requests.get(url, headers={"Range": header})
        assert r.status_code == 206, header
        assert r.headers["Content-Range"] == f"bytes {start}-{start + length - 1}/{size}"
        assert r.content == file_bytes(seed, start, length), header

    head = requests.head(url)
    assert head.status_code == 200 and head.content == b""
    assert head.headers["Content-Length"] == str(size) and head.headers["Accept-Ranges"] == "bytes"
    assert head.headers["Content-Disposition"].startswith("attachment;") and head.headers["ETag"]
    bad = requests.get(url, headers={"Range": f"bytes={size}-"})
    assert bad.status_code == 416 and bad.headers["Content-Range"] == f"bytes */{size}"
    assert requests.get(url).content == file_bytes(seed, 0, size)
    assert emu.world.accounts[TOKEN].traffic_used_today >= size


def test_file_bytes_blocks_are_consistent() -> None:
    whole = file_bytes("s", 0, 300_000)
    assert len(whole) == 300_000 and whole != file_bytes("t", 0, 300_000)
    for a, b in [(0, 1), (65535, 65537), (1000, 200_000), (131072, 131073)]:
        assert file_bytes("s", a, b - a) == whole[a:b]


def test_unrestrict_reuses_entry_and_downloads_listing(emu: Emulator, rd: requests.Session) -> None:
    assert rd.get(api(emu, "/downloads")).status_code == 204
    t, u = seeded_download(emu, rd)
    again = rd.post(api(emu, "/unrestrict/link"), data={"link": t["links"][0]}).json()
    assert again["id"] == u["id"]
    r = rd.get(api(emu, "/downloads"))
    assert r.headers["X-Total-Count"] == "1" and r.json()[0]["generated"].endswith("Z")
    assert rd.delete(api(emu, f"/downloads/delete/{u['id']}")).status_code == 204
    assert rd.get(api(emu, "/downloads")).status_code == 204
    check = requests.post(api(emu, "/unrestrict/check"), data={"link": t["links"][0]})
    assert check.status_code == 200 and check.json()["filesize"] == t["files"][0]["bytes"]


def test_paging(emu: Emulator, rd: requests.Session) -> None:
    r = rd.get(api(emu, "/torrents"))
    assert r.status_code == 204 and r.headers["X-Total-Count"] == "0"
    entries = [{"hash": f"{i:040x}", "name": f"T{i}", "added": 1_700_000_000 + i,
                "files": [{"path": f"f{i}.mkv", "size": 1000}]} for i in range(250)]
    emu.world.seed_library(TOKEN, entries)
    pages = [rd.get(api(emu, "/torrents"), params={"page": p, "limit": 100}) for p in (1, 2, 3, 4)]
    assert [p.status_code for p in pages] == [200, 200, 200, 204]
    assert all(p.headers["X-Total-Count"] == "250" for p in pages)
    names = [x["filename"] for p in pages[:3] for x in p.json()]
    assert names[0] == "T249" and names[-1] == "T0" and len(set(names)) == 250
    assert "files" not in pages[0].json()[0]
    r = rd.get(api(emu, "/torrents"), params={"offset": 240, "limit": 5000})
    assert len(r.json()) == 10
    assert len(rd.get(api(emu, "/torrents")).json()) == 100  # default limit


# ------------------------------------------------------------ expiry, purge


def test_link_expiry(emu: Emulator, rd: requests.Session) -> None:
    emu.world.set_knobs(rd_link_ttl=3600)
    t, u = seeded_download(emu, rd)
    assert requests.head(u["download"]).status_code == 200
    emu.world.clock.advance(3601)
    assert requests.get(u["download"], headers={"Range": "bytes=0-0"}).status_code == 404
    fresh = rd.post(api(emu, "/unrestrict/link"), data={"link": t["links"][0]}).json()
    assert fresh["download"] != u["download"]
    assert requests.head(fresh["download"]).status_code == 200
    r = requests.post(emu.origin + "/__emu/expire-links", json={"provider": "rd", "link": fresh["download"]})
    assert r.json() == {"expired": 1}
    assert requests.head(fresh["download"]).status_code == 404


def test_purge(emu: Emulator, rd: requests.Session) -> None:
    t, u = seeded_download(emu, rd)
    r = requests.post(emu.origin + "/__emu/purge", json={"provider": "rd", "infohash": t["hash"], "file": 1})
    assert r.json() == {"purged_files": 1}
    assert requests.get(u["download"]).status_code == 404
    again = rd.post(api(emu, "/unrestrict/link"), data={"link": t["links"][0]})
    assert (again.status_code, again.json()) == (503, {"error": "hoster_unavailable", "error_code": 19})
    assert info(emu, rd, t["id"])["status"] == "dead"
    assert requests.post(api(emu, "/unrestrict/check"), data={"link": t["links"][0]}).status_code == 404
    other = rd.post(api(emu, "/unrestrict/link"), data={"link": t["links"][1]})
    assert other.status_code == 200  # only file 1 was purged


def test_traffic_exhausted(emu: Emulator, rd: requests.Session) -> None:
    t, u = seeded_download(emu, rd)
    emu.world.set_traffic(TOKEN, used=10, limit=10)
    assert requests.get(u["download"]).status_code == 503
    r = rd.post(api(emu, "/unrestrict/link"), data={"link": t["links"][1]})
    assert (r.status_code, r.json()["error"]) == (503, "fair_usage_limit")
    emu.world.clock.advance(86400)  # the daily quota resets at midnight UTC
    assert requests.head(u["download"]).status_code == 200


# ------------------------------------------------------ faults, rate limits


def test_fault_429_with_retry_after(emu: Emulator, rd: requests.Session) -> None:
    emu.world.add_fault({"path_regex": r"^/rest/1\.0/user$", "times": 1, "status": 429,
                         "provider_error": {"code": 34}, "headers": {"Retry-After": "7"}})
    r = rd.get(api(emu, "/user"))
    assert (r.status_code, r.headers["Retry-After"]) == (429, "7")
    assert r.json() == {"error": "too_many_requests", "error_code": 34}
    assert rd.get(api(emu, "/user")).status_code == 200
    statuses = [e["status"] for e in emu.world.log(path_prefix="/rest/1.0/user")]
    assert statuses == [429, 200]


def test_fault_drops_cdn_connection(emu: Emulator, rd: requests.Session) -> None:
    t, u = seeded_download(emu, rd)
    emu.world.add_fault({"path_regex": r"^/cdn/rd/", "method": "GET", "times": 1,
                         "drop_connection_after_bytes": 1000})
    got = bytearray()
    with requests.get(u["download"], stream=True) as r:
        assert r.headers["Content-Length"] == str(t["files"][0]["bytes"])
        with pytest.raises(requests.exceptions.RequestException):
            for chunk in r.iter_content(4096):
                got.extend(chunk)
    assert bytes(got) == file_bytes(seed_of(t), 0, len(got)) and len(got) <= 1000
    ok = requests.get(u["download"], headers={"Range": "bytes=1000-1999"})
    assert ok.content == file_bytes(seed_of(t), 1000, 1000)


def test_rate_limit(emu: Emulator, rd: requests.Session) -> None:
    emu.world.set_knobs(rate_limit=5)
    assert [rd.get(api(emu, "/user")).status_code for _ in range(5)] == [200] * 5
    refused = rd.get(api(emu, "/user"))
    assert (refused.status_code, refused.json()["error_code"]) == (429, 34)
    assert int(refused.headers["Retry-After"]) >= 1
    emu.world.clock.advance(12)  # the five calls at t=0 still fill the window
    assert rd.get(api(emu, "/user")).status_code == 429
    emu.world.clock.advance(60)
    assert rd.get(api(emu, "/user")).status_code == 200
    emu.world.set_knobs(rate_limit=None)
    assert all(rd.get(api(emu, "/user")).status_code == 200 for _ in range(10))


# --------------------------------------------------------------- control plane


def test_control_plane(emu: Emulator) -> None:
    base = emu.origin + "/__emu"
    assert requests.post(base + "/reset").json() == {"ok": True}
    requests.post(base + "/accounts", json={"token": "ctl", "slots_limit": 2})
    lib = {"token": "ctl", "torrents": [{"hash": HASH_A, "name": "Amélie (2001)",
                                         "files": [{"path": "Amélie.mkv", "size": 5000}]}]}
    ids = requests.post(base + "/library", json=lib).json()["ids"]
    h = {"Authorization": "Bearer ctl"}
    mark = emu.world.log_mark()
    listed = requests.get(api(emu, "/torrents"), headers=h).json()
    assert [x["id"] for x in listed] == ids and listed[0]["filename"] == "Amélie (2001)"
    assert emu.world.log_count("/rest/1.0/torrents", since=mark) == 1
    log = requests.get(base + "/log", params={"since": mark, "path_prefix": "/rest"}).json()
    assert [e["token"] for e in log["entries"]] == ["ctl"]
    now = requests.get(base + "/clock").json()["now"]
    assert requests.post(base + "/clock", json={"advance_s": 100}).json()["now"] >= now + 100
    requests.post(base + "/cached", json={"provider": "rd", "hashes": [HASH_B]})
    assert emu.world.is_cached(HASH_B)
    state = requests.get(base + "/state").json()
    assert state["torrents"] == {"ctl": 1} and state["accounts"][0]["slots_limit"] == 2
    assert requests.post(base + "/knobs", json={"nope": 1}).status_code == 400
    requests.post(base + "/revoke", json={"token": "ctl"})
    assert requests.get(api(emu, "/user"), headers=h).status_code == 401


# ------------------------------------------------------- sliding-window limits

T0 = 1_700_000_000.0  # a whole epoch second: integer advances stay exact in floats


def takes(w: SlidingWindow, times: list[float]) -> list[float | None]:
    return [w.take(t) for t in times]


def test_sliding_window_no_burst_at_start() -> None:
    w = SlidingWindow(5, 60)
    answers = takes(w, [0, 0, 0, 0, 0, 0, 12, 24, 36, 48, 59.5])
    assert answers[:5] == [None] * 5  # a token bucket would also admit 12, 24, 36, 48
    assert all(a is not None for a in answers[5:])


def test_sliding_window_admits_exactly_count_per_window() -> None:
    w, t, accepted = SlidingWindow(5, 10), 0.0, []
    while t < 100:  # a polite client: waits the Retry-After it is given
        retry = w.take(t)
        if retry is None:
            accepted.append(t)
            t += 0.25
        else:
            t += retry
    assert busiest_window(accepted, 10) == 5
    assert len(accepted) == 50  # never fewer: the full budget is usable every window


def test_sliding_window_refused_calls_count() -> None:
    w = SlidingWindow(2, 10)
    assert takes(w, [0, 1]) == [None, None]
    assert w.take(5) == 6  # the oldest stamp (t=1) leaves at 11
    # Only one accepted call (t=1) is in (0, 10], but the refusal at 5 counts too.
    assert w.take(10) == 5
    assert w.take(15) is None


def test_sliding_window_retry_after_is_exact() -> None:
    def filled() -> SlidingWindow:
        w = SlidingWindow(3, 60)
        assert takes(w, [0, 10, 20]) == [None] * 3
        assert w.take(30) == 40  # window now 10, 20, 30 → passes once 10 has left
        return w

    assert filled().take(69.5) is not None
    assert filled().take(70) is None  # half-open: a stamp exactly 60 s old is out


def test_sliding_window_memory_is_bounded() -> None:
    w = SlidingWindow(5, 60)
    answers = takes(w, [i * 0.001 for i in range(10_000)])
    assert answers.count(None) == 5 and len(w) == 5
    assert w.take(10_000) is None and len(w) == 1  # idle stamps expire


def test_sliding_window_survives_clock_going_backwards() -> None:
    w = SlidingWindow(1, 10)
    assert w.take(100) is None
    assert w.take(50) == 10  # treated as no time passing since t=100
    assert w.take(110) is None


def test_sliding_window_rejects_bad_parameters() -> None:
    with pytest.raises(ValueError):
        SlidingWindow(0, 60)
    with pytest.raises(ValueError):
        SlidingWindow(5, 0)


def test_busiest_window() -> None:
    assert busiest_window([], 60) == 0
    assert busiest_window([5], 60) == 1
    assert busiest_window([0, 59.9, 60], 60) == 2  # half-open: 0 and 60 never share one
    assert busiest_window([100, 0, 30, 1, 2, 130], 60) == 4  # unsorted input; 0, 1, 2, 30
    assert busiest_window([1, 1, 1], 0.001) == 3
    assert busiest_window(iter([3.0, 1.0, 2.0]), 1) == 1
    with pytest.raises(ValueError):
        busiest_window([1], 0)


def test_rate_limit_sliding_window_http(emu: Emulator, rd: requests.Session) -> None:
    emu.world.clock.set(T0)
    emu.world.set_knobs(rate_limit=5)
    assert [rd.get(api(emu, "/user")).status_code for _ in range(5)] == [200] * 5
    refused = rd.get(api(emu, "/user"))
    assert (refused.status_code, refused.headers["Retry-After"]) == (429, "60")
    emu.world.clock.advance(59)
    late = rd.get(api(emu, "/user"))
    assert (late.status_code, late.headers["Retry-After"]) == (429, "1")
    emu.world.clock.advance(1)  # the t=0 calls leave; the refusal at t=59 still counts
    assert [rd.get(api(emu, "/user")).status_code for _ in range(5)] == [200] * 4 + [429]

    assert emu.world.count_status(429) == 3 and emu.world.count_status(200) == 9
    assert emu.world.busiest_window(TOKEN) == 7  # 6 calls at t=0 + the refusal at t=59
    assert emu.world.busiest_window(TOKEN, period=1) == 6
    assert emu.world.busiest_window("someone-else") == 0


def test_rate_limit_is_per_token(emu: Emulator, rd: requests.Session) -> None:
    emu.world.set_knobs(rate_limit=2)
    emu.world.add_account("other")
    assert [rd.get(api(emu, "/user")).status_code for _ in range(3)] == [200, 200, 429]
    other = {"Authorization": "Bearer other"}
    assert requests.get(api(emu, "/user"), headers=other).status_code == 200
    assert emu.world.busiest_window() == 4 and emu.world.busiest_window("other") == 1


def test_rate_window_knobs(world: World) -> None:
    world.clock.set(T0)
    world.set_knobs(rate_limit=5, rate_window="bucket")
    admitted = 0
    for t in [0] * 5 + [12, 24, 36, 48]:
        world.clock.set(T0 + t)
        admitted += world.rate_check("rd", TOKEN) is None
    assert admitted == 9  # legacy bucket: starts full and refills, so 9 pass in one minute

    world.set_knobs(rate_window="sliding", rate_limit=1, rate_period=10)  # resets limiters
    assert world.rate_check("rd", TOKEN) is None
    assert world.rate_check("rd", TOKEN) == 10
    world.set_knobs(rate_period=10)  # any rate knob resets the counts
    assert world.rate_check("rd", TOKEN) is None
    world.set_knobs(rate_limit=None)
    assert all(world.rate_check("rd", TOKEN) is None for _ in range(10))

    for bad in ({"rate_window": "leaky"}, {"rate_period": 0}, {"rate_period": "60"},
                {"rate_limit": -1}, {"rate_limit": "250"}):
        with pytest.raises(ValueError):
            world.set_knobs(**bad)
    assert world.knobs["rate_window"] == "sliding" and world.knobs["rate_period"] == 10


def test_rate_knobs_over_control_plane(emu: Emulator, rd: requests.Session) -> None:
    base = emu.origin + "/__emu"
    assert requests.post(base + "/knobs", json={"rate_window": "leaky"}).status_code == 400
    assert requests.post(base + "/knobs", json={"rate_period": -1}).status_code == 400
    r = requests.post(base + "/knobs", json={"rate_limit": 1, "rate_period": 30,
                                              "rate_window": "bucket"})
    assert r.status_code == 200 and (r.json()["rate_period"], r.json()["rate_window"]) == (30, "bucket")
    assert [rd.get(api(emu, "/user")).status_code for _ in range(2)] == [200, 429]
    state = requests.get(base + "/state").json()
    assert state["knobs"]["rate_window"] == "bucket" and state["knobs"]["rate_limit"] == 1


def test_a_held_add_is_made_only_once_released(emu: Emulator, rd: requests.Session) -> None:
    """``hold``: the add waits at the provider; what it makes appears only after the release."""
    add_two_file_entry(emu.world)
    requests.post(emu.origin + "/__emu/faults", json={"path_regex": r"/torrents/addMagnet$", "method": "POST",
                                                      "hold": True, "times": 1}, timeout=5).raise_for_status()
    answers: list[int] = []
    caller = threading.Thread(target=lambda: answers.append(
        rd.post(api(emu, "/torrents/addMagnet"), data={"magnet": f"magnet:?xt=urn:btih:{HASH_A}"}).status_code))
    caller.start()
    wait_until(lambda: emu.world.held() == 1, 10, "the add to be held")
    assert emu.world.list_torrents(TOKEN) == [] and answers == []
    released = requests.post(emu.origin + "/__emu/release", timeout=5).json()
    caller.join(10)
    assert released == {"released": 1} and answers == [201]
    assert [t.hash for t in emu.world.list_torrents(TOKEN)] == [HASH_A]
